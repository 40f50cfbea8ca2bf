"""Each paper figure run once per test session in quick mode, shared by the test modules.

``quick_run(name)`` runs ``paper_figures.<name>.main`` into a scratch folder the first
time it is asked for ``name`` and returns the cached result after: the numeric checks
(tests/test_figures.py) and the layout checks (tests/test_figure_check.py) inspect the
same run instead of computing every figure twice.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

_ROOT = Path(tempfile.mkdtemp(prefix="rkbs-figures-"))
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)


@dataclass(frozen=True)
class QuickRun:
    """One figure's quick run: its output folder, summary and the saved figures."""

    out: Path
    summary: dict
    figures: tuple  # ((name, Figure, layout), ...) as rkbs.plotting.recording() saw them


@functools.cache
def quick_run(name: str) -> QuickRun:
    import paper_figures
    from rkbs.plotting import recording

    out = _ROOT / name
    with recording() as saved:
        summary = paper_figures.run_all(out, quick=True, only=name, progress=False)[name]
    return QuickRun(out, summary, tuple(saved))
