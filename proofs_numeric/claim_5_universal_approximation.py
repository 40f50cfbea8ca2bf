r"""Claim 5 (paper claim 6, theory §5): q(t)·k(s) with two-layer networks approximates any
continuous binary function, hence exp(q·k) approximates any positive continuous kernel.

For each target F on a compact cube (a non-separable smooth function, a distance, the log
of an RBF kernel, a function with a discontinuous gradient) two-layer tanh networks q, k
of width m and r outputs are fitted on a training grid and the sup-error
max |F − q·k| is measured on a held-out grid, for (m, r) growing together.

Verdict rows, per target:

- *decrease*: the sup-error at the largest (m, r) is at most ``FRACTION`` of the one at the
  smallest (m, r);
- *trend*: no step of the sweep raises the sup-error by more than ``SLACK`` (relative),
  which allows for non-convex optimization noise without hiding a reversal;
- *reference*: every measured sup-error is at least the Eckart–Young–Mirsky bound that
  no rank-r matrix can beat on the test grid (a check of the measurement by another route).

For the positive kernels exp(F) (the RBF kernel exp(−‖t − s‖²/2) and the Laplace kernel
exp(−‖t − s‖)): the held-out relative error |e^F − e^{q·k}|/e^F is never above the bound
e^δ − 1, δ = sup|F − q·k|; at the largest size it is below ``EXP_TOL`` for the RBF kernel
and below ``FRACTION`` times the smallest size's for the Laplace kernel.

Negative controls (each must fail): a rank-1 model (r = 1, the widest network) on the
non-separable smooth target; networks without a hidden nonlinearity (``activation =
"linear"``: q·k is then an affine-bilinear form); exp(q·k) from the rank-1 fit of the
log-RBF target.
"""

from __future__ import annotations

from proofs_numeric import save_results
from rkbs.approximation import approximation_sweep, approximation_targets
from rkbs.verify import check, format_table

CLAIM = "5 universal approximation"

#: Largest-size sup-error must be at most this fraction of the smallest-size one.
FRACTION = 0.25
#: A step of the sweep may raise the sup-error by at most this relative amount.
SLACK = 0.25
#: Held-out relative error of exp(q·k) against the positive kernel exp(F), largest size.
EXP_TOL = 0.05
#: Sup-error an approximation must reach on the smooth target to count as "fitted"
#: (about 1.5 % of the target's range of ~3); the negative controls must miss it.
EPS_SMOOTH = 0.05


def _sizes(quick: bool) -> list[tuple[int, int]]:
    if quick:
        return [(4, 1), (8, 2), (16, 4), (32, 8)]
    return [(4, 1), (8, 2), (16, 4), (32, 8), (64, 16)]


def run_sweeps(quick: bool = True, seed: int = 0) -> dict[str, list[dict]]:
    """The (m, r) sweeps for every target; rows as in :func:`rkbs.approximation_sweep`."""
    max_iter = 200 if quick else 1000
    restarts = 1 if quick else 3
    return {
        name: approximation_sweep(target, _sizes(quick), max_iter=max_iter,
                                  restarts=restarts, seed=seed + k)
        for k, (name, target) in enumerate(approximation_targets().items())
    }


def main(out_dir=None, quick: bool = False, verbose: bool = True) -> list:
    targets = approximation_targets()
    sweeps = run_sweeps(quick)
    results = []
    for name, rows in sweeps.items():
        first, last = rows[0], rows[-1]
        sizes = f"{name}: (m,r)=({first['width']},{first['rank']})→({last['width']},{last['rank']})"
        results.append(check(
            CLAIM, f"{sizes} sup-error ratio last/first", last["sup_error"] / first["sup_error"],
            FRACTION, note=f"held-out grid; stated fraction {FRACTION}"))
        worst_step = max(b["sup_error"] / a["sup_error"] for a, b in zip(rows, rows[1:]))
        results.append(check(
            CLAIM, f"{name}: worst step ratio err(next)/err(prev)", worst_step, 1.0 + SLACK,
            note=f"monotone up to {SLACK:.0%} optimization slack"))
        results.append(check(
            CLAIM, f"{name}: min sup-error / Eckart–Young bound", min(
                r["sup_error"] / max(r["rank_lower_bound"], 1e-300) for r in rows),
            1.0, relation=">=",
            note="no rank-r matrix beats sqrt(sum_{i>r} σ_i²/N) in max-norm"))

    for name in ("log_rbf", "distance"):
        last = sweeps[name][-1]
        kern = "RBF exp(−‖t−s‖²/2)" if name == "log_rbf" else "Laplace exp(−‖t−s‖)"
        if name == "log_rbf":
            results.append(check(
                CLAIM, f"exp(q·k) vs {kern}, (m,r)=({last['width']},{last['rank']}): rel. error",
                last["exp_rel_error"], EXP_TOL, note="stated tolerance"))
        else:  # the cone singularity of ‖t−s‖ in 2-d converges slowly: a ratio verdict
            results.append(check(
                CLAIM, f"exp(q·k) vs {kern}: rel. error ratio last/first",
                last["exp_rel_error"] / sweeps[name][0]["exp_rel_error"], FRACTION,
                note=f"stated fraction {FRACTION}"))
        worst = max(r["exp_rel_error"] / r["exp_bound"] for r in sweeps[name])
        # |expm1(x)| <= expm1(|x|) exactly; 1e-12 covers the round-off of exp/expm1 on
        # values up to ~e^3 (a few ulps, relative).
        results.append(check(
            CLAIM, f"exp(q·k) vs {kern}: rel. error / (e^δ − 1)", worst, 1.0 + 1e-12,
            note="bound |e^F − e^{q·k}|/e^F ≤ e^δ − 1 from the sup-error δ"))

    # ---- negative controls
    smooth = targets["smooth"]
    wide = _sizes(quick)[-1][0]
    max_iter = 200 if quick else 1000
    r1 = approximation_sweep(smooth, [(wide, 1)], max_iter=max_iter, seed=101)[0]
    results.append(check(
        CLAIM, f"smooth, rank r=1, m={wide}: sup-error ≤ ε", r1["sup_error"], EPS_SMOOTH,
        negative_control=True,
        note=f"non-separable target; rank-1 bound {r1['rank_lower_bound']:.3g} > ε"))
    lin = approximation_sweep(smooth, [(wide, _sizes(quick)[-1][1])], activation="linear",
                              max_iter=max_iter, seed=102)[0]
    results.append(check(
        CLAIM, "smooth, no hidden nonlinearity (linear q, k): sup-error ≤ ε",
        lin["sup_error"], EPS_SMOOTH, negative_control=True,
        note="q·k is then an affine-bilinear form in (t, s)"))
    rbf1 = approximation_sweep(targets["log_rbf"], [(wide, 1)], max_iter=max_iter, seed=103)[0]
    results.append(check(
        CLAIM, "exp(q·k) vs RBF kernel from a rank-1 fit: rel. error ≤ tol",
        rbf1["exp_rel_error"], EXP_TOL, negative_control=True,
        note="rank 1 cannot represent −‖t−s‖²/2 (rank d+2 = 4)"))
    if verbose:
        print(format_table(results, title=f"Claim 5, universal approximation "
                                         f"({'quick' if quick else 'full'})"))
        for name, rows in sweeps.items():
            errs = ", ".join(f"({r['width']},{r['rank']}) {r['sup_error']:.3g}" for r in rows)
            print(f"  {name} [{targets[name].formula}]: sup-error {errs}")
    return save_results(__name__, results, out_dir)


if __name__ == "__main__":  # pragma: no cover
    main(quick=True)
