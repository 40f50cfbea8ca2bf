r"""Claim 6 of the checks (theory §2): random features converge to the kernel as theory says.

Rows (each a :class:`rkbs.CheckResult`):

1. For each estimator with a closed form (positive/FAVOR+, hyperbolic, trigonometric
   EDP features; cos+offset and sin/cos RFF; random Maclaurin), the empirical MSE over
   R independent draws, summed over all pairs, agrees with the closed form:
   :math:`|z| = |\bar T - \sum_{ij}\mathrm{MSE}_{ij}| / \mathrm{SE}(\bar T) \le 4.5`,
   :math:`T_r = \sum_{ij} e_{r,ij}^2`, SE the Monte-Carlo standard error over draws
   (it accounts for the correlation between pairs; 4.5 is a Bonferroni bound for 6
   estimators at family error < 1e-4). Negative control: the same data against the
   positive-feature formula scaled by 1.2 (a formula off by 20 %) is rejected.
2. Error versus D: the pair-averaged MSE falls like 1/D, fitted log-log slope within
   4 standard errors of -1 (the slope's SE propagated from the Monte-Carlo SE at each D,
   see :class:`rkbs.ErrorCurve`). Negative control: features of a mis-scaled EDP kernel
   (queries and keys scaled by 0.8) measured against the true kernel: the MSE floors at
   the squared bias and the slope is far from -1.
3. Orthogonal projections: trigonometric features with orthogonal ω have lower MSE than
   iid ones (Yu et al. 2016, Thm 1) by more than 4 combined standard errors.

Inputs are small (:math:`\lVert q \pm k\rVert^2 \lesssim 0.5`): the k-th moment of the
positive estimator grows like :math:`e^{k^2\lVert q+k\rVert^2/2}`, and beyond that the
sample standard error of an MSE is itself unreliable (heavy tails).
"""

from __future__ import annotations

import numpy as np

import rkbs
from proofs_numeric import save_results

CLAIM = "6 random-feature convergence"
Z_MAX = 4.5


def _pooled_z(pair, X, Y, R, seed, factor=1.0):
    K = pair.kernel(X, Y)
    pair = pair.fit(X, Y)
    g = np.random.default_rng(seed)
    T = np.array([np.sum((pair.redraw(g).gram(X, Y) - K) ** 2) for _ in range(R)])
    pred = factor * rkbs.predicted_mse(pair, X, Y).sum()
    return abs(T.mean() - pred) / (T.std(ddof=1) / np.sqrt(R)), T.mean() / pred


def main(out_dir=None, quick: bool = False, verbose: bool = True) -> list:
    rng = np.random.default_rng(6)
    results = []
    d = 4
    X, Y = rng.normal(size=(5, d)) * 0.2, rng.normal(size=(5, d)) * 0.2
    edp = rkbs.EDPKernel(scale=None)
    rbf = rkbs.RBFKernel(scale=None, sigma=0.8)
    R = 1500 if quick else 8000
    D = 16
    estimators = {
        "positive": rkbs.PositiveRandomFeatures(edp, D),
        "hyperbolic": rkbs.HyperbolicRandomFeatures(edp, D),
        "trigonometric": rkbs.TrigonometricRandomFeatures(edp, D),
        "RFF cos+offset": rkbs.RandomFourierFeatures(rbf, D),
        "RFF sin/cos": rkbs.RandomFourierFeatures(rbf, D, variant="sincos"),
        "random Maclaurin": rkbs.RandomMaclaurinFeatures(edp, D),
    }
    for k, (name, pair) in enumerate(estimators.items()):
        z, ratio = _pooled_z(pair, X, Y, R, seed=100 + k)
        results.append(rkbs.check(
            CLAIM, f"{name}: empirical vs closed-form MSE, D={D}, R={R}", z, Z_MAX,
            note=f"|z| of pooled MSE; measured/closed form = {ratio:.3f}"))
    z, ratio = _pooled_z(estimators["positive"], X, Y, R, seed=100, factor=1.2)
    results.append(rkbs.check(
        CLAIM, "positive features vs closed form x1.2 (wrong formula)", z, Z_MAX,
        negative_control=True, note=f"measured/wrong formula = {ratio:.3f}"))

    # ---- error versus D -----------------------------------------------------------
    Ds = [8, 32, 128, 512] if quick else [8, 32, 128, 512, 2048]
    n_draws = 100 if quick else 400
    for name, pair in (("positive", rkbs.PositiveRandomFeatures(edp, 8)),
                       ("RFF sin/cos", rkbs.RandomFourierFeatures(rbf, 8, variant="sincos"))):
        c = rkbs.error_curve(pair, X, Y, Ds, n_draws=n_draws, seed=7)
        results.append(rkbs.check(
            CLAIM, f"{name}: |slope + 1| of log MSE vs log D, D={Ds}", abs(c.slope + 1),
            4 * c.slope_std_error,
            note=f"slope {c.slope:.3f} ± {c.slope_std_error:.3f} (MC SE); tolerance 4 SE"))
    wrong = rkbs.PositiveRandomFeatures(rkbs.EDPKernel(scale=0.8), 8)
    c = rkbs.error_curve(wrong, X, Y, Ds, n_draws=n_draws, seed=7, target=edp(X, Y))
    results.append(rkbs.check(
        CLAIM, "mis-scaled kernel's features vs true kernel: |slope + 1|", abs(c.slope + 1),
        4 * c.slope_std_error, negative_control=True,
        note=f"slope {c.slope:.3f} ± {c.slope_std_error:.3f}: MSE floors at bias²"))

    # ---- orthogonal vs iid ------------------------------------------------------------
    K = edp(X, Y)
    stats = []
    for orthogonal in (False, True):
        p = rkbs.TrigonometricRandomFeatures(edp, 8, orthogonal=orthogonal).fit(dim=d)
        g = np.random.default_rng(9)
        sq = np.array([np.mean((p.redraw(g).gram(X, Y) - K) ** 2) for _ in range(R)])
        stats.append((sq.mean(), sq.std(ddof=1) / np.sqrt(R)))
    (m_i, s_i), (m_o, s_o) = stats
    results.append(rkbs.check(
        CLAIM, "trigonometric: (MSE_iid - MSE_orth) / SE, d=4, D=8", (m_i - m_o) / np.hypot(
            s_i, s_o), 4.0, relation=">=",
        note=f"MSE iid {m_i:.3g}, orthogonal {m_o:.3g} (Yu et al. 2016, Thm 1)"))

    if verbose:
        print(rkbs.format_table(results, title="Claim 6: random-feature convergence"))
    return save_results(__name__, results, out_dir)


if __name__ == "__main__":
    main(quick=True)
