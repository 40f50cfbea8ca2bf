"""Pair-operator fits at real-head sizes: dense dual, matrix-free CG, preconditioned GMRES.

Head-like data: S windows of L LayerNorm-like states of dimension D = 64, maps of a
planted bilinear head (W_Q, W_K random D × D, d = 64), all pairs observed, row-softmax
loss, Frobenius norm, λ = 1e-2. N = S·L² scores.

* Exact EDP pair (:math:`k_X(x, x') = \\exp(x\\cdot x'/\\sqrt D)`: infinite-dimensional,
  only the dual applies): ``solver="dense"`` forms the N × N score kernel and factors it
  each Newton step; ``"cg"`` (:func:`rkbs.machines.matrix_free.solve_dual_cg`) keeps only
  the side Grams and runs unpreconditioned Newton–CG; ``"gmres"``
  (:func:`rkbs.machines.matrix_free_gmres.solve_dual_gmres`) adds the row-block
  preconditioner and warm start of :mod:`rkbs.machines.pair_precond`. Dense and CG where
  they fit (N ≤ 4096), GMRES also alone at N ≈ 10⁵.
* Finite pairs with small :math:`D_xD_y` at N ≈ 10⁵, through
  :func:`rkbs.machines.make_pair_machine` with ``solver="auto"`` (which picks the primal
  there): linear features (D = 64 a side) and positive random features (64 a side).

Each configuration runs in its own process, one thread: peak resident memory from
``getrusage`` (includes ≈ 300 MB of Python + torch; the baseline after imports and data is
reported too), load average at the start. Scores of each fit are compared with the
dense fit of the same data (max |ΔH|).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import write_table

_CHILD = r"""
import json, os, resource, sys, time, warnings
import numpy as np
S, L, kind, solver, tol, out = (int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4],
                                float(sys.argv[5]), sys.argv[6])
import torch
from rkbs.attention.compare import comparison_features
from rkbs.kernels import EDPKernel
from rkbs.machines import DualPairOperatorMachine, make_pair_machine
rng = np.random.default_rng(0)
D = 64
X = rng.normal(size=(S, L, D))
X = (X - X.mean(-1, keepdims=True)) / X.std(-1, keepdims=True)
Wq, Wk = rng.normal(size=(2, D, D)) * 2.0 / np.sqrt(D)
H = (X @ Wq.T) @ np.swapaxes(X @ Wk.T, -1, -2) / np.sqrt(D)  # (W_Q x_i) . (W_K x_j) / sqrt(d)
P = np.exp(H - H.max(-1, keepdims=True)); P /= P.sum(-1, keepdims=True)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
load = os.getloadavg()[0]
t0 = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    if kind == "edp":
        m = DualPairOperatorMachine(EDPKernel(dim=D), lam=1e-2, tol=tol, solver=solver,
                                    on_failure="warn").fit(X, X, P)
    else:
        feats = comparison_features(D, taylor_degrees=(), prf_dims=(64,), poly_degree=None,
                                    seed=0)
        m = make_pair_machine(feats[kind], X, X, lam=1e-2, tol=tol, solver="auto",
                              on_failure="warn").fit(X, X, P)
        solver = type(m).__name__
sec = time.perf_counter() - t0
if out != "-":
    np.save(out, m.decision_function(X, X))
print(json.dumps({"S": S, "L": L, "N": S * L * L, "kind": kind, "solver": solver,
                  "seconds": sec, "residual": m.residual_, "status": m.status_,
                  "objective": m.objective_, "newton_steps": m.n_iter_,
                  "products": getattr(m, "n_products_", None),
                  "inner": getattr(m, "n_inner_", None), "load": load,
                  "base_rss_mb": base,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _run(S, L, kind, solver, tol, threads, timeout, scores="-"):
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    root = Path(__file__).resolve().parent.parent
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-c", _CHILD, str(S), str(L), kind, solver, str(tol), scores]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                             check=True)
    except subprocess.TimeoutExpired:
        return {"S": S, "L": L, "N": S * L * L, "kind": kind, "solver": solver,
                "status": f"> {timeout} s"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(out_dir=None, quick: bool = False, verbose: bool = True, *, threads: int = 1,
         big: int = 98) -> list[dict]:
    """Dense / CG / GMRES where all fit (N = 1024 … 4096), then N = big·32² alone."""
    import numpy as np

    tol = 1e-8
    grid = [(4, 16)] if quick else [(4, 16), (4, 24), (4, 32)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for S, L in grid:
            ref = None
            for solver in ("dense", "cg", "gmres"):
                path = os.path.join(tmp, f"{S}_{L}_{solver}.npy")
                r = _run(S, L, "edp", solver, tol, threads, 1800, path)
                if os.path.exists(path):
                    H = np.load(path)
                    if solver == "dense":
                        ref = H
                    elif ref is not None:
                        r["score_diff"] = float(np.abs(H - ref).max())
                        r["score_scale"] = float(np.abs(ref).max())
                rows.append(r)
                if verbose:
                    print(_line(r), flush=True)
        S = 8 if quick else big
        for kind, solver in (("edp", "gmres"), ("linear", "auto"), ("prf64", "auto")):
            r = _run(S, 32, kind, solver, tol, threads, 1800)
            rows.append(r)
            if verbose:
                print(_line(r), flush=True)
    _write(rows, threads, out_dir)
    return rows


def _line(r):
    return (f"  N = {r['N']:>6} {r['kind']:>6} {r['solver']:>20}: "
            f"{r.get('seconds', float('nan')):.1f} s, {r.get('peak_rss_mb', float('nan')):.0f} "
            f"MB, residual {r.get('residual', float('nan')):.1e} ({r['status']}), "
            f"products {r.get('products')}")


def _write(rows, threads, out_dir=None):
    lines = [
        "## Pair-operator fits at real-head sizes: dense dual, matrix-free CG, "
        "preconditioned GMRES (`benchmarks/bench_matrix_free.py`)", "",
        "Head-like data: S windows of L LayerNorm-like states, D = 64, maps of a planted "
        "bilinear head (random W_Q, W_K, d = 64), all pairs observed, row-softmax loss, "
        "λ = 1e-2, target residual 1e-8; N = S·L² scores. *edp*: the exact EDP pair "
        "(infinite-dimensional, dual only) — dense: N × N score kernel + Cholesky per Newton "
        "step; cg: side Grams only, unpreconditioned Newton–CG; gmres: side Grams only, "
        "row-block preconditioned GMRES + row-block warm start. *linear* / *prf64*: finite "
        "features (64 a side, 4096 unknowns in A) through `make_pair_machine(solver=\"auto\")`"
        ", which takes the primal. Residual: representer fixed-point residual (dual) or "
        "relative first-order residual (primal) reached. Newton: Newton steps of the final "
        "stage; products: 𝒦-products (all stages); inner: CG / GMRES iterations. ΔH: max "
        "|score difference| to the dense fit of the same data (score scale in brackets). "
        f"{threads} thread per run on the shared 2-core project machine (load = 1-min load "
        "average at the start of the run); RSS: process peak (baseline after imports and "
        "data in brackets).", "",
        "| N scores | S × L | pair | solver | time (s) | peak RSS (MB) | residual | status | "
        "Newton | products | inner | ΔH to dense | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        def fmt(k, f, r=r):
            return f.format(r[k]) if r.get(k) is not None else "–"
        dh = (f"{r['score_diff']:.1e} ({r['score_scale']:.1f})" if "score_diff" in r else "–")
        rss = (f"{r['peak_rss_mb']:.0f} ({r['base_rss_mb']:.0f})" if "peak_rss_mb" in r
               else "–")
        lines.append(f"| {r['N']} | {r['S']} × {r['L']} | {r['kind']} | {r['solver']} | "
                     f"{fmt('seconds', '{:.1f}')} | {rss} | {fmt('residual', '{:.1e}')} | "
                     f"{r['status']} | {fmt('newton_steps', '{}')} | {fmt('products', '{}')} | "
                     f"{fmt('inner', '{}')} | {dh} | {fmt('load', '{:.1f}')} |")
    write_table(out_dir, "matrix_free.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--big", type=int, default=98, help="S of the largest run (N = S·32²)")
    a = ap.parse_args()
    main(quick=a.quick, threads=a.threads, big=a.big)  # tables into bench-out/
