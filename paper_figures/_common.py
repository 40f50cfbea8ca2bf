"""Shared helpers of the figure scripts: palette, figure creation, writing files.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot, so no global
backend state and no windows); every figure is saved as PNG (200 dpi) and PDF (vector)
beside the numbers behind it (CSV and/or JSON).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from rkbs import OKABE_ITO, _io

__all__ = ["OKABE_ITO", "MARKERS", "new_figure", "save_figure", "style", "write_csv",
           "write_json", "finished_figure", "mark_figure_finished", "figure_dir"]

#: Output folder of a figure script called with ``out_dir=None``.
DEFAULT_DIR = "figures"


def figure_dir(out_dir=None) -> Path:
    """The figure scripts' output folder: ``out_dir``, or ``figures/`` when None (created)."""
    return _io.check_output_dir(DEFAULT_DIR if out_dir is None else out_dir,
                                what="figure folder")

#: Markers that tell series apart in greyscale print.
MARKERS = ("o", "s", "^", "D", "v", "P", "X")

_RC = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 7.5,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "pdf.fonttype": 42,
}


def style():
    """Context manager with the figures' rc settings; wrap all plotting in it."""
    import matplotlib

    return matplotlib.rc_context(_RC)


def new_figure(ncols: int = 1, nrows: int = 1, *, width: float = 3.4, height: float = 2.8,
               **kw):
    """A :class:`~matplotlib.figure.Figure` with ``nrows x ncols`` axes (inches per panel).

    Call inside :func:`style` so fonts and grids follow the figures' settings.
    """
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def save_figure(fig, out_dir, name: str) -> list[str]:
    """Write ``name.png`` and ``name.pdf`` into ``out_dir``; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext, kw in (("png", {"dpi": 200}), ("pdf", {})):
        p = out / f"{name}.{ext}"
        # no creation date / software stamp: files are byte-stable for fixed seeds
        meta = {"CreationDate": None} if ext == "pdf" else {"Software": None}
        with _io.atomic_write(p, "wb") as fh:  # never a half-written image
            fig.savefig(fh, format=ext, metadata=meta, **kw)
        paths.append(str(p))
    return paths


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
