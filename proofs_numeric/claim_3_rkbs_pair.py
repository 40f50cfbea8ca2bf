r"""Paper claim 1 (see the theory page) (the space side): the ℓ^p / ℓ^{q*} RKBS pair is well defined.

Checks (theory §2.3 and §2.4):

1. Reproducing properties :math:`f(x) = \langle f, \kappa(x,\cdot)\rangle`,
   :math:`g(y) = \langle\kappa(\cdot,y), g\rangle` and
   :math:`\kappa(x,y) = \langle\kappa(\cdot,y), \kappa(x,\cdot)\rangle` for polynomial,
   Taylor (EDP) and linear feature pairs over a grid of p; negative control: a
   perturbed kernel section fails.
2. Duality-map identities over the p grid: :math:`\langle J_p(w), w\rangle = \lVert w\rVert_p^2`,
   :math:`\lVert J_p(w)\rVert_{q^*} = \lVert w\rVert_p`, :math:`J_{q^*}(J_p(w)) = w`,
   :math:`\lVert\iota(w)\rVert_{q^*} = 1`.
3. The representer-theorem hypotheses hold for 1 < p < ∞ and not for p = 1, ∞, and the
   failure is exhibited: ℓ^1 and ℓ^∞ unit spheres contain segments (not strictly
   convex), ℓ^p for 1 < p < ∞ do not.
"""

from __future__ import annotations

import math

import numpy as np

import rkbs
from proofs_numeric import save_results

CLAIM = "3 RKBS pair"
EPS = float(np.finfo(np.float64).eps)


def _duality_tol(p: float) -> float:
    """Round-off allowance for chains of powers |u|^a (see tests/test_spaces.py::_tol)."""
    r = max(p, rkbs.conjugate_exponent(p))
    return 10 * r * r * (1 + math.log(1e6 * 64)) * EPS


def main(out_dir=None, quick: bool = False, verbose: bool = True) -> list:
    rng = np.random.default_rng(3)
    p_grid = (1.25, 1.5, 2.0, 3.0, 6.0) if quick else (1.05, 1.1, 1.25, 1.5, 2.0, 3.0, 4.0, 6.0,
                                                       10.0, 20.0)
    results = []

    # ---- 1. reproducing properties --------------------------------------------------
    d_in, d = 4, 3
    W_Q, W_K = rng.normal(size=(d, d_in)), rng.normal(size=(d, d_in))
    pairs = {
        "polynomial m=3": rkbs.PolynomialFeatures(rkbs.PolynomialKernel(W_Q, W_K, degree=3)),
        "Taylor N=4 (EDP)": rkbs.TaylorFeatures(rkbs.EDPKernel(W_Q, W_K), degree=4),
        "linear": rkbs.LinearFeatures(rkbs.LinearKernel(W_Q, W_K)),
    }
    X, Y = rng.normal(size=(12, d_in)), rng.normal(size=(9, d_in))
    for label, feats in pairs.items():
        worst = 0.0
        for p in p_grid:
            pair = rkbs.RKBSPair(feats, p=p)
            Dn = feats.n_features
            chk = pair.check_reproducing(X, Y, rng.normal(size=Dn), rng.normal(size=Dn))
            worst = max(worst, chk.max_error)
        results.append(rkbs.check(
            CLAIM, f"reproducing properties, {label}, p in {p_grid}", worst, 1e-12,
            note="max relative error of the three identities; two evaluations of one D-term "
            "sum differ by <= D·eps·sum|terms|"))
    feats = pairs["polynomial m=3"]
    pair = rkbs.RKBSPair(feats, p=2.0)
    sec = pair.kernel_section_x(X[0])
    bad = sec + 1e-6 * np.abs(sec).max() * rng.normal(size=sec.shape)
    K0 = feats.kernel(X[:1], Y)[0]
    results.append(rkbs.check(
        CLAIM, "perturbed section (1e-6 relative) in place of kappa(x, .)",
        float(np.abs(pair.eval_g(bad, Y) - K0).max() / np.abs(K0).max()), 1e-12,
        negative_control=True, note="the reproducing check must detect a wrong section"))

    # ---- 2. duality-map identities --------------------------------------------------
    n_vec = 20 if quick else 200
    worst_ratio = 0.0
    for p in p_grid:
        q = rkbs.conjugate_exponent(p)
        tol = _duality_tol(p)
        for _ in range(n_vec):
            Dn = int(rng.integers(1, 65))
            w = rng.standard_t(3, size=Dn) * 10.0 ** rng.uniform(-3, 3)
            nw = float(rkbs.lp_norm(w, p))
            J = rkbs.duality_map(w, p)
            errs = [
                abs(float(J @ w) - nw**2) / nw**2,
                abs(float(rkbs.lp_norm(J, q)) - nw) / nw,
                float(np.max(np.abs(rkbs.inverse_duality_map(J, p) - w)) / np.max(np.abs(w))),
                abs(float(rkbs.lp_norm(rkbs.norm_gradient(w, p), q)) - 1.0),
            ]
            worst_ratio = max(worst_ratio, max(errs) / tol)
    results.append(rkbs.check(
        CLAIM, f"duality identities (4 of theory §2), p in {p_grid}, {n_vec} vectors each",
        worst_ratio, 1.0, note="max error / tolerance 10·max(p,q*)^2·(1+log range)·eps "
        "(chained signed powers)"))

    # ---- 3. hypotheses, and why they fail at p = 1, inf ----------------------------
    for p in (*p_grid, 1.0, math.inf):
        hyp = rkbs.RKBSPair(feats, p=p).representer_hypotheses()
        smooth_case = 1.0 < p < math.inf
        results.append(rkbs.check(
            CLAIM, f"representer hypotheses report, p={p:g} (expected {smooth_case})",
            float(hyp.holds == smooth_case), 1.0, relation=">=", note=hyp.reason[:60] + "..."))
    # strict convexity: midpoint of two distinct unit vectors has norm < 1
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    a_inf, b_inf = np.array([1.0, 0.0]), np.array([1.0, 1.0])
    worst_mid = 0.0
    for p in p_grid:
        u, v = a / rkbs.lp_norm(a, p), b / rkbs.lp_norm(b, p)
        worst_mid = max(worst_mid, float(rkbs.lp_norm((u + v) / 2, p)))
    results.append(rkbs.check(
        CLAIM, f"strict convexity: max ||(u+v)/2||_p over unit u != v, p in {p_grid}",
        worst_mid, 1.0 - 1e-3, note="2^(1/p - 1) < 1 for p > 1"))
    for p, (u, v) in ((1.0, (a, b)), (math.inf, (a_inf, b_inf))):
        results.append(rkbs.check(
            CLAIM, f"strict convexity at p={p:g}: ||(u+v)/2|| for unit u != v",
            float(rkbs.lp_norm((u + v) / 2, p)), 1.0 - 1e-3, negative_control=True,
            note="the unit sphere contains a segment: the hypotheses fail"))

    if verbose:
        print(rkbs.format_table(results, title="Claim 3: the RKBS pair is well defined"))
    return save_results(__name__, results, out_dir)


if __name__ == "__main__":  # pragma: no cover
    main(quick=True)
