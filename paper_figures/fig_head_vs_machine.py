r"""A trained attention head against pair-operator kernel machines of growing dimension.

theory §3–4 and §6. A small encoder–decoder is trained on sequence reversal (fixed length
8; it reaches exact match 1.0 in 600 steps, seconds on a CPU) with exact EDP attention.
Encoder layer 0, head 0 is extracted on unseen sequences: its maps
:math:`P = \operatorname{softmax}(\langle W_Q t_i, W_K s_j\rangle/\sqrt d)` and the states
:math:`t_i, s_j` that entered it. The pair-operator machine with the row-softmax loss and
the Frobenius regularizer,

.. math:: \min_A \sum_s \mathrm{CE}\bigl(P_s, \operatorname{softmax}(\Phi_X(T_s) A
          \Phi_Y(S_s)^\top)\bigr) + \lambda\lVert A\rVert_F^2,

is fitted from the states alone for every feature family, in representer coordinates
(:class:`rkbs.DualPairOperatorMachine`, whose cost does not depend on the feature
dimension) wherever :math:`D^2` exceeds the number of scores, by the primal solver
otherwise (``solver="auto"``): linear (the head's own class, D = 32), exact polynomial of degree 2 (561),
Taylor truncations of EDP of degree N = 1…4 (33 to 58,905 features a side, as kernels),
the exact EDP pair (infinite-dimensional) and positive random features of EDP with
D = 16…1024. λ is picked per family from a grid by the KL on validation sequences;
held-out KL, top-1 agreement and the correlation of row-centred logits are measured on
test sequences. With linear features :math:`A^\star` is compared with the head's
:math:`W_Q^\top W_K/\sqrt d` (cosine and singular values on the identifiable part), also
for a nuclear-norm fit, whose rank should be d. Files: ``head_vs_machine.csv`` (one row
per family), ``head_vs_machine.json`` (setup, rows, alignments, spectra).
"""

from __future__ import annotations

import math

from paper_figures._common import figure_dir, save_figure, style, write_csv, write_json
from rkbs.plotting import plot_head_vs_machine

NAME = "head_vs_machine"


def _config(quick: bool) -> dict:
    if quick:
        return {"steps": 150, "d_model": 16, "n_heads": 2, "n_seq": 30, "n_train": 12,
                "n_val": 6, "taylor": (1, 2), "prf": (16, 64), "lams": (1e-3, 1e-1),
                "nuclear_lam": 0.03}
    return {"steps": 600, "d_model": 32, "n_heads": 4, "n_seq": 120, "n_train": 40,
            "n_val": 20, "taylor": (1, 2, 3, 4), "prf": (16, 64, 256, 1024),
            "lams": (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0), "nuclear_lam": 0.03}


#: Families whose smallest λ of the grid is left out. The exact EDP machine at λ = 1e-4
#: cannot be solved in float64 below residual 3e-8: its measured round-off floor there is
#: 5e-8 (score kernel ‖𝒦‖/2λ ≈ 1e7 on the trained states), above the 1e-8 up to which a
#: fit counts as certified. Its validation choice is λ = 1e-2 either way.
_NOT_AT_SMALLEST_LAM = ("edp",)


def lam_grid(cfg: dict, labels) -> dict:
    """λ grid per feature family (:data:`_NOT_AT_SMALLEST_LAM` start one step higher)."""
    lams = tuple(cfg["lams"])
    return {k: lams[1:] if (k in _NOT_AT_SMALLEST_LAM and len(lams) > 2) else lams
            for k in labels}


def trained_head(cfg: dict, seed: int = 0):
    """Train the reversal model; return the maps of encoder layer 0 head 0 on test data."""
    from rkbs.attention.compare import head_maps
    from rkbs.attention.extract import extract_attention
    from rkbs.attention.tasks import encode_batch
    from rkbs.attention.training import TrainConfig, train

    res = train(TrainConfig(task="reversal", kernel="edp", seed=seed, steps=cfg["steps"],
                            lr=5e-3, progress=False, d_model=cfg["d_model"],
                            n_heads=cfg["n_heads"], d_ff=2 * cfg["d_model"],
                            n_enc_layers=1, n_dec_layers=1,
                            task_params={"n_examples": 2000, "min_len": 8, "max_len": 8}))
    pairs = res.task.splits["test"][: cfg["n_seq"]]
    src, tgt_in, _ = encode_batch(pairs, res.task.src_vocab, res.task.tgt_vocab)
    X, Y, P, H, maps = head_maps(extract_attention(res.model, src, tgt_in),
                                 "encoder_self", 0, 0)
    return res, X, Y, P, H, maps


def plot_rows(rows, lams, spectra=None):
    """The figure's panels (:func:`rkbs.plotting.plot_head_vs_machine`; call in ``style()``)."""
    return plot_head_vs_machine(rows, lams, spectra)


def fitting_problems(quick: bool) -> list:
    """The solver problems of :func:`main`'s ``compare_head`` call: every feature family at
    every λ of the grid on the training sequences (``solver="auto"``, residual 1e-10),
    and the nuclear-norm fit of linear features (residual 1e-6); the head is trained
    first (seconds)."""
    from rkbs.attention.compare import comparison_features
    from rkbs.machines import make_pair_machine
    from rkbs.verify import FittingProblem

    cfg = _config(quick)
    _, X, Y, P, _, _ = trained_head(cfg)
    feats = comparison_features(X.shape[-1], taylor_degrees=cfg["taylor"],
                                prf_dims=cfg["prf"], implicit_taylor=True, exact_edp=True,
                                seed=0)
    tr = slice(0, cfg["n_train"])
    Xt, Yt, Pt = X[tr], Y[tr], P[tr]
    out = [FittingProblem(f"{label}, λ={lam:g}",
                          make_pair_machine(pair, Xt, Yt, lam=lam, tol=1e-10, solver="auto"),
                          Xt, Yt, Pt)
           for label, pair in feats.items() for lam in lam_grid(cfg, feats)[label]]
    out.append(FittingProblem(
        f"linear, nuclear λ={cfg['nuclear_lam']:g}",
        make_pair_machine(feats["linear"], Xt, Yt, regularizer="nuclear",
                          lam=cfg["nuclear_lam"], tol=1e-6, max_iter=5000), Xt, Yt, Pt))
    return out


def main(out_dir=None, quick: bool = False, verbose: bool = True) -> dict:
    out_dir = figure_dir(out_dir)
    from rkbs.attention.compare import compare_head, comparison_features

    cfg = _config(quick)
    res, X, Y, P, H, maps = trained_head(cfg)
    feats = comparison_features(X.shape[-1], taylor_degrees=cfg["taylor"],
                                prf_dims=cfg["prf"], implicit_taylor=True, exact_edp=True,
                                seed=0)
    out = compare_head(X, Y, P, H, maps, features=feats, n_train=cfg["n_train"],
                       n_val=cfg["n_val"], lam=lam_grid(cfg, feats), solver="auto", tol=1e-10,
                       nuclear_lam=cfg["nuclear_lam"])
    rows = out["rows"]
    al, al_nuc = out["alignment"], out["alignment_nuclear"]
    nuc = out["machines"]["linear_nuclear"]
    spectra = {"head W_Qᵀ W_K/√d": al["sv_B"],
               f"A*, Frobenius (λ = {rows[0]['lam']:g})": al["sv_A"],
               f"A*, nuclear (λ = {cfg['nuclear_lam']:g})": al_nuc["sv_A"]}
    tex = {"head W_Qᵀ W_K/√d": r"head $W_Q^\top W_K/\sqrt{d}$",
           f"A*, Frobenius (λ = {rows[0]['lam']:g})":
               rf"$A^\star$, Frobenius ($\lambda = {rows[0]['lam']:g}$)",
           f"A*, nuclear (λ = {cfg['nuclear_lam']:g})":
               rf"$A^\star$, nuclear ($\lambda = {cfg['nuclear_lam']:g}$)"}
    for r in rows:
        r["family"] = ("taylor" if r["label"].startswith("taylor") else
                       "prf" if r["label"].startswith("prf") else r["label"])
    with style():
        fig = plot_rows(rows, cfg["lams"], {tex[k]: v for k, v in spectra.items()})
        files = save_figure(fig, out_dir, NAME)
    files.append(write_csv(rows, f"{out_dir}/{NAME}.csv"))
    summary = {
        "setup": (f"reversal (length 8), d_model {cfg['d_model']}, {cfg['n_heads']} heads, "
                  f"1+1 layers, {cfg['steps']} steps, seed 0; encoder layer 0 head 0; "
                  f"{cfg['n_train']} train / {cfg['n_val']} validation / "
                  f"{X.shape[0] - cfg['n_train'] - cfg['n_val']} test sequences of "
                  f"{P.shape[1]}x{P.shape[2]} maps"),
        "task_exact_match": res.metrics["test"]["exact_match"],
        "rows": rows,
        "linear_cosine_identifiable": al["cosine"], "linear_cosine_raw": al["cosine_raw"],
        "head_dim": al["head_dim"], "linear_rank": al["rank_A"],
        "nuclear_lam": cfg["nuclear_lam"], "nuclear_rank": al_nuc["rank_A"],
        "nuclear_cosine_identifiable": al_nuc["cosine"], "nuclear_status": nuc.status_,
        "spectra": {k: list(map(float, v)) for k, v in spectra.items()},
    }
    files.append(write_json(summary, f"{out_dir}/{NAME}.json"))
    best = min(rows, key=lambda r: r["kl"])
    return {"files": files, "best": best["label"], "best_kl": best["kl"],
            "edp_kl": next(r["kl"] for r in rows if r["label"] == "edp"),
            "n_rows": len(rows), "max_seconds": max(r["seconds"] for r in rows),
            "finite": all(math.isfinite(r["kl"]) for r in rows)}
