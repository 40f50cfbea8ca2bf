r"""Gram spectra of the EDP (softmax attention) kernel with tied vs untied W_Q, W_K (theory §1).

On one point set, :math:`K_{ij} = \exp(\langle W_Q x_i, W_K x_j\rangle/\sqrt d)`. With
:math:`W_Q = W_K` the kernel is Mercer: K is symmetric and its eigenvalues are positive.
With independent :math:`W_Q \ne W_K` it is not: K is asymmetric and the symmetric part
:math:`(K + K^\top)/2` has negative eigenvalues well above the round-off tolerance.
Numbers: ``gram_spectra.csv`` (eigenvalues, singular values), ``gram_spectra.json``
(asymmetry, negative mass, number of negative eigenvalues, rank tolerance).
Panels: (a), (b) singular values and eigenvalue magnitudes of each kernel on a log axis;
(c) the signed eigenvalues of both on a symmetric-log axis, where indefiniteness shows as
points below zero.
"""

from __future__ import annotations

import numpy as np

import rkbs
from paper_figures._common import figure_dir, new_figure, save_figure, style, write_csv, write_json
from rkbs.plotting import plot_signed_eigenvalues, plot_spectrum

NAME = "gram_spectra"
_TEX = {"tied (W_Q = W_K)": r"tied, $W_Q = W_K$",
        "untied (W_Q ≠ W_K)": r"untied, $W_Q \neq W_K$"}


def main(out_dir=None, quick: bool = False, verbose: bool = True) -> dict:
    out_dir = figure_dir(out_dir)
    n, d = (60, 8) if quick else (200, 16)
    rng = np.random.default_rng(0)
    W_Q = rng.normal(size=(d, d)) / np.sqrt(d)
    W_K = rng.normal(size=(d, d)) / np.sqrt(d)
    X = rng.normal(size=(n, d))
    kernels = {"tied (W_Q = W_K)": rkbs.EDPKernel(W_Q, W_Q),
               "untied (W_Q ≠ W_K)": rkbs.EDPKernel(W_Q, W_K)}
    reports = {name: rkbs.mercer_report(k, X) for name, k in kernels.items()}
    rows, summary = [], {"n": n, "d": d, "kernels": {}}
    for name, rep in reports.items():
        lam = rep.eigenvalues[np.argsort(-np.abs(rep.eigenvalues))]
        for i, (s, e) in enumerate(zip(rep.singular_values, lam)):
            rows.append({"kernel": name, "index": i + 1, "singular_value": float(s),
                         "eigenvalue_sym_part": float(e)})
        summary["kernels"][name] = {
            "asymmetry": rep.asymmetry, "negative_mass": rep.negative_mass,
            "n_negative": rep.n_negative, "rank_tol": rep.rank_tol, "rank": rep.rank,
            "min_eigenvalue": float(rep.eigenvalues[0])}
    with style():
        fig, axes = new_figure(3, width=3.5, height=3.3)
        ax, bx, cx = axes[0]
        for axis, (name, rep), tag in zip((ax, bx), reports.items(), "ab"):
            plot_spectrum(rep, ax=axis, legend=False)
            s = summary["kernels"][name]
            axis.set_title(f"({tag}) |spectrum|, EDP {_TEX[name]}\n"
                           f"asymmetry {s['asymmetry']:.2g}, {s['n_negative']} of {n} "
                           r"$\lambda_i < 0$")
        plot_signed_eigenvalues({"(c) " + _TEX[k]: r for k, r in reports.items()}, ax=cx,
                                legend=False)
        cx.set_title("(c) signed eigenvalues: only the untied\n"
                     r"kernel has $\lambda_i < 0$ (non-Mercer)")
        handles, labels = bx.get_legend_handles_labels()
        h2, l2 = cx.get_legend_handles_labels()
        fig.legend(handles + h2, labels + l2, loc="outside lower center", ncol=3, fontsize=7)
        files = save_figure(fig, out_dir, NAME)
    files.append(write_csv(rows, f"{out_dir}/{NAME}.csv"))
    files.append(write_json(summary, f"{out_dir}/{NAME}.json"))
    return {"files": files, **summary}
