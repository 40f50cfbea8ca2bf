"""Shared helpers of the figure scripts: writing the numbers behind each figure.

The drawing side (palette, style, figure creation, saving, every plot helper) lives in
:mod:`rkbs.plotting` and is re-exported here for the scripts. Figures are built on
:class:`matplotlib.figure.Figure` directly (no pyplot, so no global backend state and no
windows); every figure is saved as PNG (200 dpi) and PDF (vector) beside the numbers
behind it (CSV and/or JSON).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rkbs.plotting import MARKERS, OKABE_ITO, new_figure, save_figure, style

__all__ = ["OKABE_ITO", "MARKERS", "new_figure", "save_figure", "style", "write_csv",
           "write_json"]


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
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: _plain(v) for k, v in r.items()})
    return str(path)


def write_json(obj, path) -> str:
    """Write a JSON-serializable object (numpy scalars/arrays converted)."""

    def conv(o):
        if isinstance(o, np.ndarray):
            return [conv(x) for x in o.tolist()]
        if isinstance(o, dict):
            return {str(k): conv(v) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [conv(x) for x in o]
        return _plain(o)

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(conv(obj), fh, indent=2)
    return str(path)
