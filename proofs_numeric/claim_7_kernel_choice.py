r"""Claim 7: the kernel choice in Transformers; finite approximations of EDP converge to it.

Wright & Gonzalez (2021), §6 (theory §6): attention with a kernel κ ≥ 0 is
softmax-free kernel smoothing; EDP (softmax) is infinite-dimensional, and its finite
approximations (even Taylor truncations of degree N, positive random features of
dimension D) should approach it as N, D grow. Checked here on the heads of a Transformer
trained in-process (tiny, seconds):

1. the EDP attention path *is* softmax attention (torch SDPA, float64), a different
   kernel (RBF) is not (negative control);
2. the EDP head's feature dimension is infinite, Taylor-N's is C(d+N, N) (control);
3. Taylor-N attention weights approach EDP's within the Lagrange remainder bound, and
   the error falls with N; holding N = 4 to the N = 20 bound fails (negative control);
4. positive-random-feature attention approaches EDP as D grows (the measured slope is
   reported beside the asymptotic Monte-Carlo rate -1/2); a D that does not grow gives no
   decay (negative control);
5. models trained with EDP and with finite kernels all learn the task well above chance
   (the kernel-variant comparison itself is :mod:`rkbs.attention.experiment`; its
   measured table is in the README). With ``quick=False`` the models train longer and
   EDP, elu+1 and Taylor-2 must each learn number words; their difference is reported.
6. recall capacity (:mod:`rkbs.attention.capacity`), read from the stored MQAR capacity run
   ``paper_figures/data/capacity_runs.json``: the hypothesis test of H1 (finite kernels
   below exact EDP for K > D, Holm-corrected) recovers the capacity law
   :math:`a_f(K) = a_{EDP}(K)\min(1, D/K)` planted into the stored EDP seeds (positive
   control) and finds nothing once the kernel labels are shuffled within each K
   (negative control). With ``quick=False`` the H1 test on the stored run itself is
   reported in the planted row's note (Holm p, effect and CI), whichever way it comes out:
   it is the experiment's result, not a pass/fail check.
"""

from __future__ import annotations

import numpy as np
import torch

from proofs_numeric import save_results
from rkbs.attention.extract import extract_attention
from rkbs.attention.kernel_attention import attention, feature_attention, make_attention
from rkbs.attention.tasks import encode_batch
from rkbs.attention.training import TrainConfig, train
from rkbs.features import PositiveRandomFeatures, TaylorFeatures
from rkbs.kernels import EDPKernel
from rkbs.verify import check, format_table

CLAIM = "7 kernel choice"
_EPS = float(np.finfo(np.float64).eps)


def _trained(kernel: str, quick: bool, task: str = "reversal", steps: int | None = None):
    tiny = dict(d_model=32, n_heads=4, d_ff=64, n_enc_layers=1, n_dec_layers=1)
    if steps is None:
        steps = 120 if quick else 600
    params = {"n_examples": 1000} if task == "reversal" else {}
    return train(TrainConfig(task=task, kernel=kernel, seed=0, steps=steps, lr=5e-3,
                             quick=True, progress=False, task_params=params, **tiny))


def _head_qk(res, n_seq=16):
    """Scaled queries/keys (1, H, L, d) of the first encoder layer on test sequences."""
    pairs = [p for p in res.task.splits["test"] if len(p[0]) == 6][:n_seq]
    src, tgt_in, _ = encode_batch(pairs, res.task.src_vocab, res.task.tgt_vocab)
    recs = [r for r in extract_attention(res.model, src, tgt_in)
            if r.kind == "encoder_self" and r.layer == 0]
    d = recs[0].head_dim
    q = np.stack([r.t @ r.W_Q.T for r in recs], 1) * d**-0.25  # (B, H, L, d)
    k = np.stack([r.s @ r.W_K.T for r in recs], 1) * d**-0.25
    return torch.as_tensor(q), torch.as_tensor(k), recs


def main(out_dir=None, quick: bool = False, verbose: bool = True) -> list:
    results = []
    # ------------------------------------------------------------------ 1. SDPA
    g = torch.Generator().manual_seed(7)
    q = torch.randn(2, 4, 24, 16, generator=g, dtype=torch.float64)
    k = torch.randn(2, 4, 24, 16, generator=g, dtype=torch.float64)
    v = torch.randn(2, 4, 24, 16, generator=g, dtype=torch.float64)
    s = 16**-0.25
    for causal in (False, True):
        ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
        out = attention(q * s, k * s, v, make_attention("edp", 16), causal=causal)
        results.append(check(
            CLAIM, f"EDP attention = torch SDPA (float64, causal={causal})",
            (out - ref).abs().max().item(), 1e-12,
            note="softmax of 24 O(1) terms: a few hundred ulps (eps 2.2e-16) at most"))
    rbf = attention(q * s, k * s, v, make_attention("rbf", 16))
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    results.append(check(CLAIM, "RBF attention = torch SDPA (float64)",
                         (rbf - ref).abs().max().item(), 1e-12, negative_control=True,
                         note="another kernel is another attention"))

    # ---------------------------------------------------- trained model (tiny)
    res = _trained("edp", quick)
    qh, kh, recs = _head_qk(res)
    d = recs[0].head_dim
    vh = torch.as_tensor(np.random.default_rng(0).normal(size=(*kh.shape[:-1], 8)))

    # ------------------------------------------------------ 2. feature dimension
    results.append(check(CLAIM, f"feature dim of the trained EDP head (d={d})",
                         make_attention("edp", d).feature_dim, 1e300, relation=">=",
                         note="EDPKernel.feature_dim = inf (Taylor features of every degree)"))
    fd6 = make_attention("taylor6", d).feature_dim
    results.append(check(CLAIM, f"feature dim of Taylor-6 attention (= C({d}+6, 6) = {fd6})",
                         fd6, 1e300, relation=">=", negative_control=True,
                         note="a finite truncation is finite-dimensional"))

    # ------------------------------------------------------------- 3. Taylor -> EDP
    # The truncated series through its exact (Horner) path: the same weights as the
    # Taylor feature path (tests hold them to 1e-10) without C(d+N, N) features.
    _, w_edp = attention(qh, kh, vh, make_attention("edp", d), need_weights=True)
    errs, bounds = {}, {}
    Ns = (2, 4, 8, 12, 16, 20)
    for N in Ns:
        _, w = attention(qh, kh, vh, make_attention(f"taylor{N}", d), need_weights=True)
        errs[N] = (w - w_edp).abs().max().item()
        pair = TaylorFeatures(EDPKernel(scale=None), degree=N)
        eps = max(float(np.max(pair.remainder_bound(qh[b, h].numpy(), kh[b, h].numpy())
                               / np.exp(qh[b, h].numpy() @ kh[b, h].numpy().T)))
                  for b in range(qh.shape[0]) for h in range(qh.shape[1]))
        bounds[N] = 1.0 if eps >= 1 else min(1.0, 2 * eps / (1 - eps))
        if N >= 16:  # below that the bound exceeds 1 on trained states (vacuous)
            results.append(check(
                CLAIM, f"trained head: max |W_TaylorN - W_EDP|, N={N}", errs[N], bounds[N],
                note="Lagrange remainder: κ̂ = κ(1+δ), |δ| ≤ ε ⇒ |Δw| ≤ 2ε/(1-ε)"))
    ratio = max(errs[b] / errs[a] for a, b in zip(Ns, Ns[1:]))
    results.append(check(
        CLAIM, f"Taylor error falls with N = {Ns} (max ratio)", ratio, 1.0,
        note="errors " + ", ".join(f"{errs[N]:.1g}" for N in Ns)))
    results.append(check(CLAIM, "Taylor N=4 error within the N=20 bound (wrong bound)",
                         errs[4], bounds[20], negative_control=True,
                         note="the N=20 remainder does not cover a degree-4 truncation"))

    # ----------------------------------------------------- 4. random features -> EDP
    Ds = (16, 256, 4096)
    n_draw = 6 if quick else 16

    def prf_error(D, seed):
        pair = PositiveRandomFeatures(EDPKernel(scale=None), D, seed=seed).fit(dim=d)
        _, w = feature_attention(qh, kh, vh, pair, need_weights=True)
        return (w - w_edp).pow(2).mean().sqrt().item()

    rms = {D: float(np.mean([prf_error(D, 100 + r) for r in range(n_draw)])) for D in Ds}
    slope = float(np.polyfit(np.log(Ds), np.log(list(rms.values())), 1)[0])
    # The Monte-Carlo rate D^{-1/2} is asymptotic; on trained states (|q + k|^2 up to ~20,
    # per-pair variance ∝ exp(|q + k|^2)/D) the measured decay is slower. The check is
    # the weak, certain statement: 256x more features at least halve the RMS error.
    results.append(check(
        CLAIM, f"PRF attention RMS error ratio D={Ds[-1]} / D={Ds[0]}", rms[Ds[-1]] / rms[Ds[0]],
        0.5, note=f"slope {slope:.2f} (asymptotic MC rate -0.5); rms "
                  + ", ".join(f"{e:.2g}" for e in rms.values())))
    rms16b = float(np.mean([prf_error(16, 300 + r) for r in range(n_draw)]))
    results.append(check(
        CLAIM, "PRF RMS error ratio with D=16 on both sides (new draws)", rms16b / rms[16],
        0.5, negative_control=True, note="no more features, no convergence"))

    # ------------------------------------------------------ 5. trained models
    chance = res.metrics["chance_token_acc"]
    for name in ("edp", "elu", "taylor2"):
        r = res if name == "edp" else _trained(name, quick)
        results.append(check(
            CLAIM, f"reversal, {name} attention: test token accuracy", r.metrics["test"][
                "token_acc"], 3 * chance, relation=">=",
            note=f"3x chance ({chance:.3f}); unseen test sequences, {r.metrics['steps']} steps"))
    if not quick:
        nw = {n: _trained(n, False, task="number-words", steps=800) for n in
              ("edp", "elu", "taylor2")}
        em = {n: r.metrics["test"]["exact_match"] for n, r in nw.items()}
        # Which kernel is *better* is an empirical question (theory §6: report what is
        # measured, whichever way it comes out); one seed cannot settle it, so it is not a
        # pass/fail row. The checked statement is that each kernel learns the translation
        # of unseen numbers (chance exact match ≈ 0); the difference to EDP is reported.
        for n in ("edp", "elu", "taylor2"):
            results.append(check(
                CLAIM, f"number words, {n} attention: test exact match", em[n], 0.5,
                relation=">=", note=f"unseen numbers, one seed; EDP − {n} = "
                                    f"{em['edp'] - em[n]:+.3f}"))
    results.extend(_capacity_rows(quick))
    if verbose:
        print(format_table(results, title="Claim 7: kernel choice in Transformers"))
    return save_results(__name__, results, out_dir)


def _capacity_rows(quick: bool):
    """Section 6: capacity statistics on the stored MQAR run (see the module docstring)."""
    import json
    from pathlib import Path

    from rkbs.attention.capacity_stats import capacity_tests

    path = Path(__file__).resolve().parent.parent / "paper_figures" / "data" / "capacity_runs.json"
    stored = json.loads(path.read_text(encoding="utf-8"))
    cells = stored["cells"]
    edp = [c for c in cells if c["kernel"] == "edp"]
    rng = np.random.default_rng(7)
    # planted: eight pseudo-kernels per stored EDP cell with D = f K < K (f = 0.1 ... 0.8)
    planted = list(edp)
    for c in edp:
        for f in np.arange(1, 9) / 10:
            planted.append({**c, "kernel": f"plant{int(10 * f)}", "feature_dim": f * c["K"],
                            "test_acc": [a * f for a in c["test_acc"]]})
    shuffled = []
    for K in sorted({c["K"] for c in planted}):
        block = [c for c in planted if c["K"] == K]
        pool = rng.permutation(np.concatenate([c["test_acc"] for c in block]))
        n = len(block[0]["test_acc"])
        shuffled += [{**c, "test_acc": pool[i * n:(i + 1) * n].tolist()}
                     for i, c in enumerate(block)]
    nres = 499 if quick else 1999

    def h1(cs):
        v = capacity_tests(cs, n_resamples=nres)["verdicts"].get("H1") if cs else None
        return (float("nan"), "no (finite, K > D) cell") if v is None else (
            v["p_holm"], f"effect {v['effect']:+.3f} [{v['ci'][0]:+.3f}, {v['ci'][1]:+.3f}]")

    src = f"{len(cells)} stored cells, {len(edp)} EDP"
    if not quick:
        # Which way H1 comes out on the real run is the experiment's result, reported here
        # and in the docs' verdict whichever way it goes, not a pass/fail row (an
        # incomplete stored run must not fail `rkbs verify`, nor a decisive one pass it).
        p_real, note_real = h1(cells)
        src += f"; stored run: H1 Holm p = {p_real:.3g}, {note_real}"
    p, note = h1(planted)
    rows = [check(CLAIM, "capacity H1 test: law a·min(1, D/K) planted in stored EDP seeds",
                  p, 0.05, note=f"Holm p; {note}; {src}")]
    p, note = h1(shuffled)
    rows.append(check(CLAIM, "capacity H1 test: planted law, kernel labels shuffled", p, 0.05,
                      negative_control=True, note=f"Holm p; {note}"))
    return rows


if __name__ == "__main__":  # pragma: no cover
    main(quick=True)
