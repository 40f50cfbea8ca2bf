"""Copy the teaching notebooks into ``docs/notebooks`` in quick mode, for myst-nb to execute.

The ``parameters`` cell of each notebook (``QUICK = False``) is replaced by the same
quick-mode cell the test suite uses (``QUICK = True`` and the Agg backend), so the docs
build runs each notebook in seconds and never opens a window. The sources in
``notebooks/`` are not touched. ``conf.py`` calls :func:`write` on every build.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "notebooks"
TARGET = ROOT / "docs" / "notebooks"
QUICK_CELL = "QUICK = True\nimport matplotlib\nmatplotlib.use('Agg')"


def quick_copy(path: Path) -> nbformat.NotebookNode:
    """The notebook at ``path`` with its ``parameters`` cell switched to quick mode."""
    nb = nbformat.read(path, as_version=4)
    n_params = 0
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            cell.source = QUICK_CELL
            n_params += 1
    if n_params != 1:
        raise ValueError(f"{path.name}: expected one 'parameters' cell, found {n_params}")
    return nb


def write(source: Path = SOURCE, target: Path = TARGET) -> list[Path]:
    """Write the quick copies (only when changed, so Sphinx's cache stays valid)."""
    target.mkdir(parents=True, exist_ok=True)
    out = []
    for path in sorted(source.glob("*.ipynb")):
        dest = target / path.name
        text = nbformat.writes(quick_copy(path))
        if not dest.exists() or dest.read_text(encoding="utf-8") != text:
            dest.write_text(text, encoding="utf-8")
        out.append(dest)
    for stale in target.glob("*.ipynb"):
        if stale not in out:
            stale.unlink()
    return out
