r"""Universal approximation (MATH.md §5): sup-error of q(t)·k(s) as width m and rank r grow.

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

from paper_figures._common import (
    MARKERS,
    OKABE_ITO,
    figure_dir,
    new_figure,
    save_figure,
    style,
    write_csv,
    write_json,
)
from rkbs.approximation import approximation_sweep, approximation_targets

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
    with style():
        fig, axes = new_figure(2, width=3.6, height=3.0)
        ax, bx = axes[0]
        for i, (name, target) in enumerate(targets.items()):
            rs = [r for r in rows if r["target"] == name]
            m = [r["width"] for r in rs]
            err = [r["sup_error"] for r in rs]
            slopes[name] = loglog_fit(m, err)
            c = OKABE_ITO[i]
            ax.loglog(m, err, marker=MARKERS[i], color=c, label=f"{target.formula}")
            lb = np.array([r["rank_lower_bound"] for r in rs])
            ax.loglog(m, np.where(lb > 1e-12, lb, np.nan), ls="--", lw=1, color=c)
        ax.plot([], [], ls="--", color="0.3", lw=1, label="rank-r bound (any model)")
        ax.set_xlabel("hidden width m (rank r = m/4)")
        ax.set_ylabel("held-out sup-error max|F − q·k|")
        ax.set_title("(a) q(t)·k(s) approximates F(t, s)")
        ax.set_xticks([s[0] for s in sizes], [f"m={m}\nr={r}" for m, r in sizes])
        ax.minorticks_off()
        ax.legend(loc="lower left")
        for j, (name, label) in enumerate((("log_rbf", "RBF exp(−‖t−s‖²/2)"),
                                           ("distance", "Laplace exp(−‖t−s‖)"))):
            rs = [r for r in rows if r["target"] == name]
            m = [r["width"] for r in rs]
            c = OKABE_ITO[j + 4]
            bx.loglog(m, [r["exp_rel_error"] for r in rs], marker=MARKERS[j + 4], color=c,
                      label=label)
            bx.loglog(m, [r["exp_bound"] for r in rs], ls=":", color=c, lw=1.5)
        bx.plot([], [], ls=":", color="0.3", lw=1.5, label=r"bound $e^\delta - 1$, $\delta$ = sup-error")
        bx.set_xlabel("hidden width m (rank r = m/4)")
        bx.set_ylabel(r"$\max\,|e^F - e^{q\cdot k}|\,/\,e^F$")
        bx.set_title("(b) exp(q·k) approximates kernel exp(F)")
        bx.set_xticks([s[0] for s in sizes], [str(s[0]) for s in sizes])
        bx.minorticks_off()
        bx.legend(loc="lower left")
        files = save_figure(fig, out_dir, NAME)
    files.append(write_csv(rows, f"{out_dir}/{NAME}.csv"))
    summary = {"sizes": sizes, "max_iter": max_iter, "loglog_slope_vs_width": slopes}
    files.append(write_json(summary, f"{out_dir}/{NAME}.json"))
    return {"files": files, **summary}
