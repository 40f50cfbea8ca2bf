"""``python -m paper_figures [options]``: the same as ``rkbs figures`` (see its --help)."""

from __future__ import annotations

import sys

from rkbs.cli import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(["figures", *sys.argv[1:]]))
