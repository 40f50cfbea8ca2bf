r"""Numerical rank of n x n Gram matrices as n grows: finite vs infinite kernels (theory §1).

Finite-dimensional kernels (linear: d, polynomial of degree m with c > 0:
:math:`\binom{d+m}{m}`) saturate at their feature dimension (dotted lines); the
infinite-dimensional EDP, RBF and exponentiated-intersection kernels keep growing with
n until floating point cuts the spectrum off. Untied random W_Q, W_K in dimension d.
Numbers: ``rank_growth.csv`` (kernel, n, rank, feature dimension).
"""

from __future__ import annotations

import math

import numpy as np

import rkbs
from paper_figures._common import figure_dir, new_figure, save_figure, style, write_csv, write_json
from rkbs.plotting import plot_rank_growth

NAME = "rank_growth"


def main(out_dir=None, quick: bool = False, verbose: bool = True) -> dict:
    out_dir = figure_dir(out_dir)
    d = 3
    ns = (5, 10, 20, 40, 80) if quick else (5, 10, 20, 40, 80, 160, 320)
    rng = np.random.default_rng(1)
    W_Q = rng.normal(size=(d, d))
    W_K = rng.normal(size=(d, d))
    X = rng.uniform(-1, 1, size=(ns[-1], d))
    Y = rng.uniform(-1, 1, size=(ns[-1], d))
    kernels = [rkbs.get_kernel("edp", W_Q=W_Q, W_K=W_K),
               rkbs.get_kernel("rbf", W_Q=W_Q, W_K=W_K, sigma=1.0),
               rkbs.get_kernel("exp_intersection", W_Q=W_Q, W_K=W_K),
               rkbs.get_kernel("polynomial", W_Q=W_Q, W_K=W_K, degree=3, c=1.0),
               rkbs.get_kernel("polynomial", W_Q=W_Q, W_K=W_K, degree=2, c=1.0),
               rkbs.get_kernel("linear", W_Q=W_Q, W_K=W_K)]
    growths = [rkbs.rank_growth(k, X, Y, ns) for k in kernels]
    rows = [{"kernel": g.label, "n": int(n), "rank": int(r),
             "feature_dim": g.feature_dim if math.isfinite(g.feature_dim) else "inf"}
            for g in growths for n, r in zip(g.ns, g.ranks)]
    with style():
        fig, axes = new_figure(1, width=6.4, height=3.4)
        ax = axes[0, 0]
        plot_rank_growth(growths, ax=ax)
        ax.set_title(f"numerical rank of $K_n$ vs n, d = {d}; dotted: finite feature dimension")
        files = save_figure(fig, out_dir, NAME)
    files.append(write_csv(rows, f"{out_dir}/{NAME}.csv"))
    summary = {"d": d, "ns": list(ns),
               "final_rank": {g.label: int(g.ranks[-1]) for g in growths},
               "feature_dim": {g.label: g.feature_dim for g in growths}}
    files.append(write_json(summary, f"{out_dir}/{NAME}.json"))
    return {"files": files, **summary}
