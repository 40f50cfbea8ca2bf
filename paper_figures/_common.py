"""Shared helpers of the figure scripts: writing the numbers behind each figure.

The drawing side (palette, style, figure creation, saving, every plot helper) lives in
:mod:`rkbs.plotting` and is re-exported here for the scripts. Figures are built on
:class:`matplotlib.figure.Figure` directly (no pyplot, so no global backend state and no
windows); every figure is saved as PNG (200 dpi) and PDF (vector) beside the numbers
behind it (CSV and/or JSON).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rkbs import _io
from rkbs.plotting import MARKERS, OKABE_ITO, new_figure, save_figure, style

__all__ = ["OKABE_ITO", "MARKERS", "new_figure", "save_figure", "style", "write_csv",
           "write_json", "finished_figure", "mark_figure_finished", "figure_dir"]

#: Output folder of a figure script called with ``out_dir=None``.
DEFAULT_DIR = "figures"


def figure_dir(out_dir=None) -> Path:
    """The figure scripts' output folder: ``out_dir``, or ``figures/`` when None (created)."""
    return _io.check_output_dir(DEFAULT_DIR if out_dir is None else out_dir,
                                what="figure folder")


def _plain(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def write_csv(rows: Sequence[dict], path) -> str:
    """Write a list of flat dicts as CSV (columns from the first row)."""
    rows = list(rows)
    if not rows:
        raise ValueError(f"no rows to write to {path}")
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    for r in rows:
        w.writerow({k: _plain(v) for k, v in r.items()})
    with _io.atomic_write(path, newline="") as fh:
        fh.write(buf.getvalue())
    return str(path)


def write_json(obj, path) -> str:
    """Write a JSON-serializable object (numpy scalars/arrays converted), atomically."""
    return _io.write_json(path, obj)


_MARKERS_DIR = ".rkbs-figures"


def _marker(out_dir, module: str) -> Path:
    return Path(out_dir) / _MARKERS_DIR / f"{module}.json"


def finished_figure(out_dir, module: str, quick: bool) -> dict | None:
    """The stored summary of figure ``module`` if it was completed in this mode, else None.

    A figure counts as finished when its marker (written by :func:`mark_figure_finished`
    after the figure script returned) names the same mode and every file it lists exists.
    """
    p = _marker(out_dir, module)
    if not p.exists():
        return None
    d = _io.read_json(p, what="figure marker", hint="delete it or rerun with --force")
    if d.get("mode") != ("quick" if quick else "full"):
        return None
    files = d.get("summary", {}).get("files", [])
    if not files or not all(Path(f).exists() for f in files):
        return None
    return d["summary"]


def mark_figure_finished(out_dir, module: str, quick: bool, summary: dict) -> None:
    """Record that figure ``module`` finished in this mode (atomically, after its files)."""
    _io.write_json(_marker(out_dir, module), {"module": module,
                                              "mode": "quick" if quick else "full",
                                              "summary": summary})
