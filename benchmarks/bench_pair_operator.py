"""Pair-operator model, row-softmax loss: the torch solver against cvxpy (issue 4).

One 32 × 32 attention map (P = row-softmax of an asymmetric EDP kernel, W_Q ≠ W_K, d = 8),
D = 64 positive random features per side (FAVOR+, seed 0), so A has 64 × 64 = 4096
unknowns, Frobenius regularization λ = 1e-2 (the case with the closed-form coefficients
of MATH.md §4). Solvers, measured side by side in one run:

* rkbs torch: L-BFGS (strong Wolfe) + Newton–CG in float64, CPU, target residual 1e-10;
* cvxpy + SCS at eps_abs = eps_rel = 1e-9 (SOLVERS.md: 1e-8 took ~12 s here);
* cvxpy + Clarabel at tol 1e-10 (SOLVERS.md: ~100 s here; skipped with ``quick``).

Each row reports wall time (the torch time is the minimum of 3 runs after one warm-up run
that pays torch's one-off import of its optimizer machinery; cvxpy runs once, including
its canonicalization), the objective, the relative first-order residual
‖∇L + λ∇R‖/(‖∇L‖ + ‖λ∇R‖) recomputed from each A in float64, and the speed-up over torch.
The nuclear norm is timed too: torch FISTA (proximal gradient with singular-value
thresholding) against SCS.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def _problem(m=32, n=32, d=8, seed=0):
    from rkbs import get_kernel

    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(m, d)), rng.normal(size=(n, d))
    k = get_kernel("edp", W_Q=rng.normal(size=(d, d)), W_K=rng.normal(size=(d, d)))
    H = k.log(X, Y)
    P = np.exp(H - H.max(1, keepdims=True))
    return X, Y, P / P.sum(1, keepdims=True)


def _features(D):
    from rkbs import PositiveRandomFeatures, get_kernel

    return PositiveRandomFeatures(get_kernel("edp"), D, seed=0)


def _fit(X, Y, P, D, **kw):
    import warnings

    from rkbs.machines import PairOperatorMachine

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mach = PairOperatorMachine(_features(D), **kw).fit(X, Y, P)
    return mach, time.perf_counter() - t0


def main(quick: bool = False) -> list[dict]:
    m = n = 16 if quick else 32
    D = 32 if quick else 64
    X, Y, P = _problem(m, n)
    rows = []
    for reg, lam, cvx in (("frobenius", 1e-2, ("scs",) if quick else ("scs", "clarabel")),
                          ("nuclear", 1e-2, ("scs",))):
        kw = {"loss": "softmax", "regularizer": reg, "lam": lam}
        _fit(X, Y, P, D, **kw)  # warm-up (torch imports its optimizer machinery once)
        runs = [_fit(X, Y, P, D, **kw) for _ in range(1 if reg == "nuclear" else 3)]
        mt, tt = min(runs, key=lambda r: r[1])
        rows.append({"regularizer": reg, "solver": mt.solver_name_, "m": m, "n": n, "D": D,
                     "seconds": tt, "objective": mt.objective_, "residual": mt.residual_,
                     "status": mt.status_, "torch_speedup": 1.0})
        print(f"  {reg} torch: {tt:.3f} s, residual {mt.residual_:.2e}")
        for solver in cvx:
            try:
                mc, tc = _fit(X, Y, P, D, solver=solver, **kw)
            except Exception as exc:  # a solver failure is reported in the table
                rows.append({"regularizer": reg, "solver": f"cvxpy-{solver}", "m": m, "n": n,
                             "D": D, "seconds": float("nan"), "objective": float("nan"),
                             "residual": float("nan"), "status": f"error: {exc}"[:60],
                             "torch_speedup": float("nan")})
                continue
            rows.append({"regularizer": reg, "solver": mc.solver_name_, "m": m, "n": n,
                         "D": D, "seconds": tc, "objective": mc.objective_,
                         "residual": mc.residual_, "status": mc.status_,
                         "torch_speedup": tc / tt,
                         "objective_minus_torch": mc.objective_ - mt.objective_})
            print(f"  {reg} {solver}: {tc:.2f} s, residual {mc.residual_:.2e}")
    _write(rows, quick)
    return rows


def _write(rows, quick):
    RESULTS.mkdir(exist_ok=True)
    lines = [
        "## Pair-operator model, row-softmax loss (torch vs cvxpy)",
        "",
        "One attention map (row-softmax of an asymmetric EDP kernel), positive random "
        "features (FAVOR+) per side, λ = 1e-2. Residual: relative first-order residual "
        "recomputed from each A (nuclear: proximal-gradient residual). Speed-up: solver "
        "time / torch time, one run on the 2-core project machine"
        + (" (quick mode: smaller problem)." if quick else "."),
        "",
        "| regularizer | solver | m × n | D per side | time (s) | objective | F − F_torch "
        "| residual | status | torch speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        diff = r.get("objective_minus_torch")
        lines.append(
            f"| {r['regularizer']} | {r['solver']} | {r['m']} × {r['n']} | {r['D']} | "
            f"{r['seconds']:.3g} | {r['objective']:.12g} | "
            f"{'—' if diff is None else f'{diff:.2e}'} | {r['residual']:.2e} | {r['status']} | "
            f"{r['torch_speedup']:.1f}× |"
        )
    (RESULTS / "pair_operator.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
