r"""Approximation error vs the number of features D for every random-feature estimator,
with the closed-form MSE overlaid (theory §2).

Each unbiased estimator has MSE = C/D (log-log slope −1); markers are measured (±2 Monte
Carlo standard errors over independent draws), lines the closed forms of
:func:`rkbs.predicted_mse`. Left: EDP (softmax) estimators; right: RBF (random Fourier
features) and Nyström (asymmetric, deterministic given the landmarks; no closed form).
Numbers: ``random_feature_errors.csv`` (estimator, D, measured, SE, closed form) and
``random_feature_errors.json`` (fitted slopes and their standard errors).
"""

from __future__ import annotations

import numpy as np

import rkbs
from paper_figures._common import figure_dir, new_figure, save_figure, style, write_csv, write_json
from rkbs.plotting import plot_error_curves

NAME = "random_feature_errors"
_TEX = {"EDP exp(q·k)": r"EDP $\exp(q\cdot k)$",
        "RBF exp(−‖q−k‖²/2)": r"RBF $\exp(-\|q-k\|^2/2)$"}


def main(out_dir=None, quick: bool = False, verbose: bool = True) -> dict:
    out_dir = figure_dir(out_dir)
    d = 8
    Ds = [8, 32, 128] if quick else [8, 32, 128, 512, 2048]
    n_draws = 60 if quick else 300
    rng = np.random.default_rng(2)
    X = 0.2 * rng.normal(size=(20, d))
    Y = 0.2 * rng.normal(size=(20, d))
    edp = rkbs.EDPKernel(scale=None)
    rbf = rkbs.RBFKernel(scale=None, sigma=1.0)
    panels = {
        "EDP exp(q·k)": [
            ("positive (FAVOR+)", rkbs.PositiveRandomFeatures(edp, 8)),
            ("positive, orthogonal", rkbs.PositiveRandomFeatures(edp, 8, orthogonal=True)),
            ("hyperbolic", rkbs.HyperbolicRandomFeatures(edp, 8)),
            ("trigonometric", rkbs.TrigonometricRandomFeatures(edp, 8)),
            ("random Maclaurin", rkbs.RandomMaclaurinFeatures(edp, 8)),
        ],
        "RBF exp(−‖q−k‖²/2)": [
            ("random Fourier (cos + offset)", rkbs.RandomFourierFeatures(rbf, 8)),
            ("random Fourier (sin, cos)", rkbs.RandomFourierFeatures(rbf, 8, variant="sincos")),
        ],
    }
    rows, slopes, curves_by_panel = [], {}, {}
    for k, (panel, ests) in enumerate(panels.items()):
        curves = []
        for j, (label, pair) in enumerate(ests):
            c = rkbs.error_curve(pair, X, Y, Ds, n_draws=n_draws, seed=100 * k + j,
                                 relative=True, label=label)
            curves.append(c)
            slopes[label] = {"slope": c.slope, "slope_std_error": c.slope_std_error}
            for i, D in enumerate(c.n_features):
                rows.append({"panel": panel, "estimator": label, "D": int(D),
                             "measured_rel_mse": float(c.measured[i]),
                             "std_error": float(c.std_error[i]),
                             "closed_form_rel_mse": (float(c.predicted[i])
                                                     if c.predicted is not None else "")})
        curves_by_panel[panel] = curves
    with style():
        fig, axes = new_figure(2, width=3.8, height=3.6)
        for k, (ax, (panel, curves)) in enumerate(zip(axes[0], curves_by_panel.items())):
            plot_error_curves(curves, ax=ax)
            ax.set_title(f"({'ab'[k]}) {_TEX[panel]}: relative MSE vs D\n"
                         "markers: measured ±2 SE; lines: closed form")
            ax.set_ylabel(r"relative MSE $\mathbb{E}[(\hat\kappa - \kappa)^2]/\kappa^2$")
        files = save_figure(fig, out_dir, NAME)
    files.append(write_csv(rows, f"{out_dir}/{NAME}.csv"))
    summary = {"d": d, "D": Ds, "n_draws": n_draws, "slopes": slopes}
    files.append(write_json(summary, f"{out_dir}/{NAME}.json"))
    return {"files": files, **summary}
