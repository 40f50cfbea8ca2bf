"""``python -m benchmarks``: the same as ``rkbs bench`` (options, defaults, exit codes)."""

import sys

from rkbs.cli import main

sys.exit(main(["bench", *sys.argv[1:]]))
