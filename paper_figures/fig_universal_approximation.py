r"""Universal approximation (theory §5): sup-error of q(t)·k(s) as width m and rank r grow.

Left: held-out sup-error :math:`\max|F - q\cdot k|` of two-layer tanh networks for four
continuous targets, against the width m (rank r = m/4 grows with it), with the
Eckart–Young–Mirsky bound that no rank-r model can beat on the test grid (dashed).
Right: the relative error of :math:`\exp(q\cdot k)` against the positive kernels
:math:`\exp F` (RBF and Laplace) with the bound :math:`e^{\delta} - 1` (dotted).
The numbers are in ``universal_approximation.csv``; the fitted log-log slopes of the
sup-error against m are in ``universal_approximation.json``.
"""

from __future__ import annotations

import numpy as np

from paper_figures._common import figure_dir, save_figure, style, write_csv, write_json
from rkbs.approximation import approximation_sweep, approximation_targets
from rkbs.plotting import plot_universal_approximation

NAME = "universal_approximation"


def loglog_fit(x, y) -> float:
    """Least-squares slope of log y against log x."""
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])


def main(out_dir=None, quick: bool = False, verbose: bool = True) -> dict:
    out_dir = figure_dir(out_dir)
    sizes = [(4, 1), (8, 2), (16, 4), (32, 8)] + ([] if quick else [(64, 16)])
    max_iter = 100 if quick else 1000
    targets = approximation_targets()
    rows = []
    for k, target in enumerate(targets.values()):
        rows += approximation_sweep(target, sizes, max_iter=max_iter,
                                    restarts=1 if quick else 3, seed=k)
    slopes = {}
    for name in targets:
        rs = [r for r in rows if r["target"] == name]
        slopes[name] = loglog_fit([r["width"] for r in rs], [r["sup_error"] for r in rs])
    with style():
        fig = plot_universal_approximation(rows, targets, sizes)
        files = save_figure(fig, out_dir, NAME)
    files.append(write_csv(rows, f"{out_dir}/{NAME}.csv"))
    summary = {"sizes": sizes, "max_iter": max_iter, "loglog_slope_vs_width": slopes}
    files.append(write_json(summary, f"{out_dir}/{NAME}.json"))
    return {"files": files, **summary}
