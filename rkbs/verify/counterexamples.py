r"""p = 1, where the representer theorem's hypotheses fail (theory §4).

ℓ^1 is neither strictly convex nor smooth. With the exact duplicated pair
:math:`\tilde\Phi = [\Phi, \Phi]/\sqrt2` (which reproduces the same kernel,
:math:`\tilde\Phi_X\tilde\Phi_Y^\top = \Phi_X\Phi_Y^\top`) a one-sided ℓ^1 machine has
many minimizers: moving the mass of any coordinate onto its twin keeps
:math:`\tilde\Phi w` and does not increase :math:`\lVert w\rVert_1`. Only the
subgradient form survives,

.. math:: \theta = \Phi^\top\xi \in \partial\lVert w^*\rVert_1
   \iff \theta_i = \operatorname{sign}(w_i)\ (w_i \ne 0),\ |\theta_i| \le 1\ (w_i = 0),

while the smooth form :math:`\iota(w^*) = \operatorname{sign}(w^*) = \Phi^\top\xi` fails.
"""

from __future__ import annotations

import numpy as np

from rkbs._backend import namespace
from rkbs.features.base import FeaturePair
from rkbs.verify.report import check

__all__ = ["DuplicatedFeatures", "p1_counterexample"]


class DuplicatedFeatures(FeaturePair):
    r"""The pair :math:`[\varphi, \varphi]/\sqrt 2` on both sides: same kernel, 2D features."""

    def __init__(self, base: FeaturePair):
        super().__init__(base.kernel)
        self.base = base
        self.exact = base.exact
        self.auto_fit = base.auto_fit

    def fit(self, X=None, Y=None, *, dim=None):
        self.base.fit(X, Y, dim=dim)
        self.dim_ = self.base.dim_
        self.n_features_ = 2 * self.base.n_features_
        return self

    @property
    def fitted(self) -> bool:
        return self.base.fitted

    @property
    def n_features(self) -> int:
        return 2 * self.base.n_features

    def _ensure_fitted(self, d):
        self.base._ensure_fitted(d)
        self.dim_, self.n_features_ = self.base.dim_, 2 * self.base.n_features_

    def _dup(self, P):
        xp = namespace(P)
        return xp.concat([P, P], axis=-1) / np.sqrt(2.0)

    def map_q(self, Q):
        return self._dup(self.base.map_q(Q))

    def map_k(self, K):
        return self._dup(self.base.map_k(K))

    def reproduced_kernel(self, X, Y):
        return self.base.reproduced_kernel(X, Y)


def p1_counterexample(features: FeaturePair, X, Z, *, lam: float = 0.1,
                      claim: str = "4 representer (p = 1 counter-example)",
                      zero_threshold: float = 1e-4):
    r"""Fit a one-sided ℓ^1 machine on duplicated features and show non-uniqueness.

    Parameters
    ----------
    features : FeaturePair
        Base pair (duplicated internally).
    X : array (m, d), Z : array (m, n)
        Data (squared loss).
    lam : float
        λ of R(t) = t (the ℓ^1 norm itself).
    zero_threshold : float
        :math:`|w_i| \le \text{threshold} \cdot \max |w|` counts as 0 in the subgradient test. An interior-point
        solution has no exact zeros: at gap 1e-8 the off-support entries sit at 1e-9 to
        1e-5 relative (measured), the support entries above 1e-2 relative.

    Returns
    -------
    list[CheckResult], dict
        Rows: the two optimal solutions differ; their objectives agree; the subgradient
        form holds at both; the smooth form fails (negative control).
    """
    from rkbs.machines.binary import BinaryKernelMachine

    dup = DuplicatedFeatures(features)
    mach = BinaryKernelMachine(dup, p=1.0, lam_x=lam, lam_y=None, reg="norm").fit(X, None, Z)
    w1 = mach.w_
    D = w1.size // 2
    w2 = np.concatenate([w1[:D] + w1[D:], np.zeros(D)])  # all mass on the first twin
    F1 = float(mach.problem_.objective(w1, None))
    F2 = float(mach.problem_.objective(w2, None))
    diff = np.linalg.norm(w1 - w2) / np.linalg.norm(w1)
    setting = f"{type(features).__name__}, p=1, one-sided squared, D'={2 * D}"
    rows = [
        check(claim, f"{setting}: two optimal solutions differ ‖w1 − w2‖/‖w1‖", diff, 1e-2,
              relation=">=", note="non-uniqueness: ℓ^1 is not strictly convex"),
        # Clarabel tol 1e-8 on the relative gap: objectives agree to ~1e-8·|F|; 1e-6 margin
        check(claim, f"{setting}: both optimal, |F(w1) − F(w2)|/|F|", abs(F1 - F2) / abs(F1),
              1e-6, note="tol: solver gap 1e-8, ×100"),
    ]
    prob = mach.problem_
    for tag, w in (("w1", w1), ("w2", w2)):
        ga, *_ = prob.score_gradients(w, None)
        theta = prob.Phi_X.T @ (-ga / lam)
        big = np.abs(w) > zero_threshold * np.abs(w).max()
        viol = np.concatenate([np.abs(theta[big] - np.sign(w[big])),
                               np.clip(np.abs(theta[~big]) - 1.0, 0.0, None)])
        rows.append(check(
            claim, f"{setting}: subgradient form Φᵀξ ∈ ∂‖{tag}‖₁, max violation", viol.max(),
            1e-5, note="tol: interior-point accuracy (gap 1e-8) propagated through Φᵀ, ×10^3"))
        smooth = np.where(big, np.sign(w), 0.0)
        rows.append(check(
            claim, f"{setting}: smooth form sign({tag}) = Φᵀξ, relative error",
            np.linalg.norm(smooth - theta) / np.linalg.norm(theta), 1e-5,
            negative_control=True, note="must fail: ℓ^1 is not smooth"))
    return rows, {"w1": w1, "w2": w2, "F1": F1, "F2": F2, "machine": mach}
