r"""An attention map beside the kernel-machine coefficient map fitted to it (theory §3–4).

A planted softmax head, :math:`P = \operatorname{softmax}(X A Y^\top)` with
:math:`A = W_Q^\top W_K/\sqrt d` of rank d = 2 (:func:`rkbs.attention.compare.planted_bilinear`),
is fitted from the states alone by the pair-operator machine with the row-softmax loss and
linear features, :math:`h_A(x, y) = x^\top A y`, Frobenius regularization. The
representer theorem gives :math:`A^\star = \Phi_X^\top C \Phi_Y` with the coefficient matrix
:math:`C = (P - \operatorname{softmax}(H^\star))/(2\lambda)`, itself attention-shaped.
Panels: the head's map, the machine's fitted map, and C for one held-in sequence.
Numbers: ``attention_coefficients.json`` (fit quality, representer residual
:math:`\lVert A^\star - \Phi_X^\top C\Phi_Y\rVert/\lVert A^\star\rVert`, cosine between
:math:`A^\star` and the head's A) and ``attention_coefficients.csv`` (the three matrices).
"""

from __future__ import annotations

import numpy as np

from paper_figures._common import figure_dir, new_figure, save_figure, style, write_csv, write_json

NAME = "attention_coefficients"


def fitting_problems(quick: bool) -> list:
    """The figure's one solver problem: the planted head's maps, linear features,
    Frobenius, λ = 1e-3, primal torch solver to residual 1e-10."""
    from rkbs.attention.compare import planted_bilinear
    from rkbs.features import LinearFeatures
    from rkbs.kernels import LinearKernel
    from rkbs.machines import make_pair_machine
    from rkbs.verify import FittingProblem

    n_seq = 12 if quick else 40
    X, Y, P, *_ = planted_bilinear(n_seq=n_seq, m=8, n=8, dim=6, head_dim=2, seed=0)
    feats = LinearFeatures(LinearKernel(scale=None, dim=6))
    mach = make_pair_machine(feats, X, Y, lam=1e-3, tol=1e-10, max_iter=2000, solver="primal")
    return [FittingProblem(f"planted head, linear features, {n_seq} maps", mach, X, Y, P)]


def main(out_dir=None, quick: bool = False, verbose: bool = True) -> dict:
    out_dir = figure_dir(out_dir)
    from rkbs.attention.compare import operator_alignment, planted_bilinear, score_maps
    from rkbs.plotting import plot_coefficients

    n_seq = 12 if quick else 40
    X, Y, P, A, W_Q, W_K = planted_bilinear(n_seq=n_seq, m=8, n=8, dim=6, head_dim=2, seed=0)
    (prob,) = fitting_problems(quick)
    lam = prob.machine.lam
    mach = prob.fit()
    fitted = mach.predict(X, Y)
    A_rep = mach.representer_operator(X, Y)
    rep_err = float(np.linalg.norm(mach.A_ - A_rep) / np.linalg.norm(mach.A_))
    align = operator_alignment(mach.A_, W_Q, W_K, X, Y)
    scores = score_maps(P, fitted)
    with style():
        fig, axes = new_figure(3, width=3.0, height=2.8)
        plot_coefficients(mach, X, Y, P, ax=list(axes[0]), index=0)
        axes[0][0].set_title("(a) attention map P (planted head)")
        axes[0][1].set_title(r"(b) machine's fitted map $\mathrm{softmax}(H^\star)$")
        axes[0][2].set_title("(c) representer coefficients\n"
                             r"$C = (P - \mathrm{softmax}(H^\star))/(2\lambda)$")
        files = save_figure(fig, out_dir, NAME)
    C = mach.coefficients_[0]
    rows = [{"i": i, "j": j, "attention": float(P[0, i, j]), "fitted": float(fitted[0, i, j]),
             "coefficient": float(C[i, j])} for i in range(P.shape[1]) for j in range(P.shape[2])]
    files.append(write_csv(rows, f"{out_dir}/{NAME}.csv"))
    summary = {"n_sequences": n_seq, "lam": lam, "kl": scores["kl"], "top1": scores["top1"],
               "representer_residual": rep_err, "solver_residual": float(mach.residual_),
               "cosine_to_head_operator": align["cosine"]}
    files.append(write_json(summary, f"{out_dir}/{NAME}.json"))
    return {"files": files, **summary}
