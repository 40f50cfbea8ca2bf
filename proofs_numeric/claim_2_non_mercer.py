r"""Paper claim 3 (see the theory page): with W_Q ≠ W_K the attention kernel is non-Mercer.

For random query/key weights (Gaussian, variance 1/d_in, as at initialisation) and one
point set X, the Gram matrix :math:`K_{ij} = \exp(q_i\cdot k_j)` is

* asymmetric: :math:`\lVert K - K^\top\rVert_F/\lVert K\rVert_F` far above the round-off
  level 8·eps of a symmetric Gram matrix, and
* indefinite: the symmetric part :math:`(K+K^\top)/2` has negative eigenvalues below
  :math:`-\tau` (τ = σ_max·n·eps) and a negative mass :math:`\sum|\lambda^-|/\sum|\lambda|`
  above the level :math:`n\tau/\sum|\lambda|` that round-off alone can produce (Weyl).

Control: tied weights (W_Q = W_K) give a symmetric, positive semi-definite Gram matrix
(negative mass within round-off); the non-Mercer criterion applied to them must fail
(negative control). Rows for trained weights are added by the attention side in a
separate module.
"""

from __future__ import annotations

import numpy as np

import rkbs
from proofs_numeric import save_results
from rkbs.diagnostics import mercer_report

CLAIM = "2 non-Mercer"
EPS = float(np.finfo(np.float64).eps)
ASYM_ROUNDOFF = 8 * EPS  # one rounding per entry of K and Kᵀ, slack for the two norms


def main(out_dir=None, quick: bool = False, verbose: bool = True) -> list:
    rng = np.random.default_rng(2)
    n = 60 if quick else 200
    seeds = 3 if quick else 20
    results = []
    for d_in, d in ((4, 4), (16, 8)):
        kernels = {"edp": {}, "rbf": {"sigma": 1.0}, "exp_intersection": {}}
        for name, params in kernels.items():
            if name != "edp" and d_in != 4:
                continue
            asym, ratio, nneg = np.inf, np.inf, np.inf
            t_asym, t_ratio, t_excess = 0.0, 0.0, 0.0
            for _ in range(seeds):
                W_Q = rng.normal(size=(d, d_in)) / np.sqrt(d_in)
                W_K = rng.normal(size=(d, d_in)) / np.sqrt(d_in)
                X = rng.normal(size=(n, d_in))
                rep = mercer_report(rkbs.get_kernel(name, W_Q=W_Q, W_K=W_K, **params), X)
                asym = min(asym, rep.asymmetry)
                ratio = min(ratio, rep.negative_mass / rep.negative_mass_roundoff)
                nneg = min(nneg, rep.n_negative)
                tied = mercer_report(rkbs.get_kernel(name, W_Q=W_Q, W_K=W_Q, **params), X)
                t_asym = max(t_asym, tied.asymmetry)
                t_ratio = max(t_ratio, tied.negative_mass / tied.negative_mass_roundoff)
                t_excess = max(t_excess, float(tied.n_negative))
            setting = f"{name}, W_Q != W_K random, d_in={d_in}, d={d}, n={n}, {seeds} draws"
            results += [
                rkbs.check(CLAIM, f"{setting}: min asymmetry", asym, 1e3 * ASYM_ROUNDOFF,
                           relation=">=", note="||K-K^T||_F/||K||_F; round-off level 8 eps"),
                rkbs.check(CLAIM, f"{setting}: min negative mass / round-off level", ratio, 10.0,
                           relation=">=",
                           note="negative mass of (K+K^T)/2 over n·tol/sum|lambda| (Weyl)"),
                rkbs.check(CLAIM, f"{setting}: min # eigenvalues < -tol", nneg, 1,
                           relation=">=", note="tol = sigma_max·n·eps"),
            ]
            tset = f"{name}, tied W_Q = W_K (control), d_in={d_in}, n={n}"
            results += [
                rkbs.check(CLAIM, f"{tset}: max asymmetry", t_asym, ASYM_ROUNDOFF,
                           note="symmetric up to round-off"),
                rkbs.check(CLAIM, f"{tset}: max negative mass / round-off level", t_ratio, 1.0,
                           note="PSD: negative mass within what round-off can produce"),
                rkbs.check(CLAIM, f"{tset}: non-Mercer criterion (neg. mass / round-off >= 10)",
                           t_ratio, 10.0, relation=">=", negative_control=True,
                           note="the indefiniteness test must not fire on a Mercer kernel"),
            ]
    if verbose:
        print(rkbs.format_table(results, title="Claim 2: non-Mercer kernels (random weights)"))
    return save_results(__name__, results, out_dir)


if __name__ == "__main__":  # pragma: no cover
    main(quick=True)
