r"""Heads with known jobs: a previous-token head and an induction head as kernel machines.

A 2-layer attention-only GPT-2 (HuggingFace ``GPT2LMHeadModel`` with zero MLPs, 4 heads
per layer, width 32, vocabulary 32, T = 8) trained on repeated random tokens
(:mod:`rkbs.attention.hf.induction`; weights in ``paper_figures/data/induction_heads.npz``,
seeded, re-trainable in minutes) predicts the repeated half once an induction circuit
forms (Olsson et al. 2022). On fresh sequences of T = 8 random tokens repeated, each
head's standard scores

.. math:: \text{prev} = \operatorname{mean}_i P_{i, i-1},\qquad
          \text{ind} = \operatorname{mean}_{i\ge T} P_{i, i-T+1}

pick the previous-token head and the induction head. The canonical circuit has them in
layers 0 and 1; this model (6000 CPU steps, in-context loss 3.47 → 0.55 nats) reached its
loss with a different split — its top induction score (≈ 0.48) is a layer-0 positional
look-back head, its top previous-token score a layer-1 head — and the JSON records where
they are. Each is then read
as a binary kernel machine (:func:`rkbs.attention.hf.analyze.analyze_heads`): Mercer
report of its EDP kernel on augmented states (asymmetry, negative mass, rank growth),
pair-operator fits of its maps with linear, Taylor-2, positive-random-feature and exact
EDP spaces (held-out KL, top-1), and the linear fit's :math:`A^\star` against
:math:`c\,\tilde W_Q^\top\tilde W_K`. Files: ``induction_heads.json`` (training history,
scores, both heads' reports), ``induction_heads.csv`` (one row per head and space).
"""

from __future__ import annotations

from pathlib import Path

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

NAME = "induction_heads"
WEIGHTS = Path(__file__).resolve().parent / "data" / "induction_heads.npz"


def _config(quick: bool) -> dict:
    if quick:
        return {"n_seq": 6, "n_train": 3, "taylor": (2,), "prf": (64,), "mercer_points": 64,
                "rank_ns": (16, 32, 64)}
    return {"n_seq": 24, "n_train": 16, "taylor": (1, 2, 4), "prf": (64, 256),
            "mercer_points": 256, "rank_ns": (16, 32, 64, 128, 256)}


def trained_model():
    """The stored model (or, without the file, a freshly trained one) and its history."""
    from rkbs.attention.hf.induction import (
        load_induction_model,
        save_induction_model,
        train_induction_model,
    )

    if WEIGHTS.exists():
        return load_induction_model(WEIGHTS)
    model, hist = train_induction_model()
    WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    save_induction_model(model, WEIGHTS, hist)
    return model, hist


def main(out_dir=None, quick: bool = False, verbose: bool = True) -> dict:
    out_dir = figure_dir(out_dir)
    from rkbs.attention.hf import extract_heads
    from rkbs.attention.hf.analyze import AnalysisConfig, analyze_heads
    from rkbs.attention.hf.induction import InductionSetup, head_scores, repeated_tokens

    c = _config(quick)
    model, hist = trained_model()
    T = model.config.n_positions // 2
    setup = {**InductionSetup, "half": T, "vocab": model.config.vocab_size}
    ids = repeated_tokens(c["n_seq"], setup, seed=2022)
    recs = extract_heads(model, ids)
    scores = head_scores(recs, T)
    prev = max(scores, key=lambda s: s["prev_token"])
    ind = max(scores, key=lambda s: s["induction"])
    pick = {"previous-token": prev, "induction": ind}
    cfg = AnalysisConfig(quick, seq_len=2 * T, n_seq=c["n_seq"], n_train=c["n_train"],
                         taylor=c["taylor"], prf=c["prf"], mercer_points=c["mercer_points"],
                         rank_ns=c["rank_ns"])
    chosen = [next(r for r in recs if (r.layer, r.head) == (s["layer"], s["head"]))
              for s in pick.values()]
    rows = analyze_heads(chosen, cfg)
    reports = dict(zip(pick, rows))
    csv_rows = []
    for role, r in reports.items():
        for space, f in r["fits"].items():
            csv_rows.append({"role": role, "layer": r["layer"], "head": r["head"],
                             "space": space, "n_features": f["n_features"], "kl": f["kl"],
                             "top1": f["top1"], "solver": f["solver"],
                             "residual": f["residual"],
                             "asymmetry": r["mercer"]["asymmetry"],
                             "negative_mass": r["mercer"]["negative_mass"],
                             "rank": r["mercer"]["rank"], "n_points": r["mercer"]["n_points"],
                             "cosine": r["alignment"]["cosine"]})
    with style():
        fig, axes = new_figure(3, 2, width=3.5, height=2.8)
        ax = axes[0][0]
        st = [h["step"] for h in hist]
        ax.plot(st, [h["loss_first_half"] for h in hist], color=OKABE_ITO[0],
                label="first half (random)")
        ax.plot(st, [h["loss_repeated_half"] for h in hist], color=OKABE_ITO[1],
                label="repeated half")
        ax.axhline(np.log(InductionSetup["vocab"]), color="k", ls=":", lw=0.8, label="log V")
        ax.set_xlabel("training step")
        ax.set_ylabel("next-token loss")
        ax.set_title("in-context loss drops: induction")
        ax.legend()
        ax = axes[0][1]
        for layer in sorted({s["layer"] for s in scores}):
            ss = [s for s in scores if s["layer"] == layer]
            ax.scatter([s["prev_token"] for s in ss], [s["induction"] for s in ss],
                       marker=MARKERS[layer], color=OKABE_ITO[2 + layer], label=f"layer {layer}")
        for role, s in pick.items():
            ax.annotate(f"{role}\nL{s['layer']}H{s['head']}", (s["prev_token"], s["induction"]),
                        fontsize=6.5)
        ax.set_xlabel("previous-token score")
        ax.set_ylabel("induction score")
        ax.set_title("head scores on repeated random tokens")
        ax.legend()
        for k, (role, rec) in enumerate(zip(pick, chosen)):
            ax = axes[0][2] if k == 0 else axes[1][0]
            ax.imshow(rec.weights[-1], cmap="magma", vmin=0, vmax=1)
            ax.set_title(f"{role} head L{rec.layer}H{rec.head}: map")
            ax.set_xlabel("key position")
            ax.set_ylabel("query position")
            ax.grid(False)
        ax = axes[1][1]
        spaces = list(rows[0]["fits"])
        x = np.arange(len(spaces))
        for k, (role, r) in enumerate(reports.items()):
            ax.bar(x + 0.4 * k - 0.2, [max(r["fits"][s]["kl"], 1e-12) for s in spaces],
                   width=0.4, color=OKABE_ITO[1 + k], label=role)
        ax.set_yscale("log")
        ax.set_xticks(x, spaces)
        ax.set_ylabel("held-out KL(P ‖ P̂)")
        ax.set_title("which kernel spaces reproduce the maps")
        ax.legend()
        ax = axes[1][2]
        al = reports["induction"]["alignment"]
        ax.semilogy(np.maximum(al["sv_B"], 1e-16), marker=MARKERS[0], ms=3,
                    color=OKABE_ITO[0], label="c W̃_Qᵀ W̃_K (head)")
        ax.semilogy(np.maximum(al["sv_A"], 1e-16), marker=MARKERS[1], ms=3,
                    color=OKABE_ITO[1], label="A* (linear fit)")
        ax.set_xlabel("index")
        ax.set_ylabel("singular value")
        ax.set_title(f"induction head: cos(A*, head) = {al['cosine']:.3f}")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2,
                  fontsize=7)  # below the panel: the two spectra fill its width
        files = save_figure(fig, out_dir, NAME)
    files.append(write_csv(csv_rows, f"{out_dir}/{NAME}.csv"))
    summary = {"setup": {**setup, "n_seq": c["n_seq"], "n_train": c["n_train"]},
               "history": hist, "scores": scores,
               "previous_token_head": [prev["layer"], prev["head"]],
               "induction_head": [ind["layer"], ind["head"]],
               "reports": reports, "lam": cfg["lam"]}
    files.append(write_json(summary, f"{out_dir}/{NAME}.json"))
    return {"files": files, "previous_token_head": (prev["layer"], prev["head"]),
            "induction_head": (ind["layer"], ind["head"]), "prev_score": prev["prev_token"],
            "induction_score": ind["induction"],
            "final_repeated_loss": hist[-1]["loss_repeated_half"] if hist else None}
