r"""The ℓ^p / ℓ^{q*} reproducing kernel Banach space pair over a feature pair.

Given a feature pair :math:`(\Phi_X, \Phi_Y)` with
:math:`\kappa(x,y) = \langle\Phi_X(x), \Phi_Y(y)\rangle` and :math:`1 < p < \infty`
(Wright & Gonzalez 2021, Definition 2 and §4):

.. math::

    B_X = \{ f_w(x) = \langle \Phi_X(x), w\rangle : w \in \ell^p \}, \quad \lVert f_w\rVert = \lVert w\rVert_p,

    B_Y = \{ g_v(y) = \langle v, \Phi_Y(y)\rangle : v \in \ell^{q^*} \}, \quad \lVert g_v\rVert = \lVert v\rVert_{q^*},

with pairing :math:`\langle f_w, g_v\rangle = \langle v, w\rangle`. Then
:math:`\kappa(x,\cdot) = g_{\Phi_X(x)} \in B_Y`, :math:`\kappa(\cdot,y) = f_{\Phi_Y(y)} \in B_X`,
and the reproducing properties :math:`f(x) = \langle f, \kappa(x,\cdot)\rangle`,
:math:`g(y) = \langle \kappa(\cdot,y), g\rangle` hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rkbs._backend import asarray_like, namespace, to_numpy
from rkbs._checks import check_array, check_exponent
from rkbs.features.base import FeaturePair
from rkbs.spaces import duality as D

__all__ = ["RKBSPair", "HypothesesReport", "ReproducingCheck"]


@dataclass(frozen=True)
class HypothesesReport:
    """Whether the representer-theorem hypotheses hold for an ℓ^p pair, and why."""

    p: float
    holds: bool
    reflexive: bool
    strictly_convex: bool
    smooth: bool
    reason: str

    def __bool__(self) -> bool:
        return self.holds


@dataclass(frozen=True)
class ReproducingCheck:
    """Largest relative errors of the three reproducing identities on given points."""

    f_reproducing: float  # max |f_w(x) - <f_w, κ(x,·)>| / scale
    g_reproducing: float  # max |g_v(y) - <κ(·,y), g_v>| / scale
    kernel_pairing: float  # max |κ_pair(x,y) - <κ(·,y), κ(x,·)>| / max|κ|; nan if no closed form
    approximation_error: float  # max |κ(x,y) - <Φ_X(x), Φ_Y(y)>| / max|κ| (0 for exact pairs)

    @property
    def max_error(self) -> float:
        """Largest error among the reproducing identities (approximation excluded)."""
        errs = [self.f_reproducing, self.g_reproducing]
        if not math.isnan(self.kernel_pairing):
            errs.append(self.kernel_pairing)
        return max(errs)


class RKBSPair:
    r"""The RKBS pair :math:`(B_X, B_Y)` = (ℓ^p functions on X, ℓ^{q*} functions on Y).

    Parameters
    ----------
    features : FeaturePair
        Finite feature pair with D features (fitted, or auto-fitting exact pair).
    p : float
        Exponent of the coefficient space of :math:`B_X`; :math:`1 \le p \le \infty`
        is accepted so that p = 1 and p = ∞ can serve as counter-examples, but methods
        that need smoothness (ι, J_p) require 1 < p < ∞.

    Notes
    -----
    Coefficient vectors are 1-d arrays of shape ``(D,)``: ``w`` for
    :math:`f_w \in B_X` and ``v`` for :math:`g_v \in B_Y`.
    """

    def __init__(self, features: FeaturePair, p: float = 2.0):
        if not isinstance(features, FeaturePair):
            raise ValueError(f"features must be a FeaturePair, got {type(features).__name__}")
        self.features = features
        self.p = check_exponent(p, allow_one=True, allow_inf=True)
        self.q_star = D.conjugate_exponent(self.p)

    @property
    def kernel(self):
        return self.features.kernel

    # ------------------------------------------------------------- functions
    def _coef(self, c, name):
        c = check_array(c, name, ndim=1)
        Dn = self.features.n_features
        if c.shape[0] != Dn:
            raise ValueError(f"{name} must have length D={Dn}, got shape {tuple(c.shape)}")
        return c

    def eval_f(self, w, X):
        r""":math:`f_w(x_i) = \langle\Phi_X(x_i), w\rangle` for X (n, d_x) → (n,)."""
        w = self._coef(w, "w")
        Phi = self.features.transform_x(X)
        return Phi @ asarray_like(w, Phi)

    def eval_g(self, v, Y):
        r""":math:`g_v(y_j) = \langle v, \Phi_Y(y_j)\rangle` for Y (m, d_y) → (m,)."""
        v = self._coef(v, "v")
        Phi = self.features.transform_y(Y)
        return Phi @ asarray_like(v, Phi)

    def norm_f(self, w):
        r""":math:`\lVert f_w\rVert_{B_X} = \lVert w\rVert_p`."""
        return D.lp_norm(self._coef(w, "w"), self.p)

    def norm_g(self, v):
        r""":math:`\lVert g_v\rVert_{B_Y} = \lVert v\rVert_{q^*}`."""
        return D.lp_norm(self._coef(v, "v"), self.q_star)

    def pairing(self, w, v):
        r"""Duality pairing :math:`\langle f_w, g_v\rangle = \langle v, w\rangle`."""
        w, v = self._coef(w, "w"), self._coef(v, "v")
        v = asarray_like(v, w)  # numpy and torch coefficients may meet here
        xp = namespace(w, v)
        return xp.sum(w * v)

    def kernel_section_x(self, x):
        r"""Coefficients of :math:`\kappa(x,\cdot) = g_{\Phi_X(x)} \in B_Y`, shape (D,)."""
        x = check_array(x, "x", ndim=1)
        return self.features.transform_x(x[None, :])[0]

    def kernel_section_y(self, y):
        r"""Coefficients of :math:`\kappa(\cdot, y) = f_{\Phi_Y(y)} \in B_X`, shape (D,)."""
        y = check_array(y, "y", ndim=1)
        return self.features.transform_y(y[None, :])[0]

    # ---------------------------------------------------------- duality maps
    def iota_f(self, w):
        r""":math:`\iota(f_w) = \nabla\lVert w\rVert_p \in \ell^{q^*}`: a function on Y (a g-coefficient)."""
        return D.norm_gradient(self._coef(w, "w"), self._smooth_p())

    def iota_g(self, v):
        r""":math:`\iota(g_v) = \nabla\lVert v\rVert_{q^*} \in \ell^{p}`: a function on X (an f-coefficient)."""
        return D.norm_gradient(self._coef(v, "v"), self.q_star if self._smooth_p() else None)

    def duality_map_f(self, w):
        r""":math:`J_p(w) \in \ell^{q^*}`, the duality mapping of :math:`B_X`."""
        return D.duality_map(self._coef(w, "w"), self._smooth_p())

    def duality_map_g(self, v):
        r""":math:`J_{q^*}(v) = J_p^{-1}(v) \in \ell^{p}`, the duality mapping of :math:`B_Y`."""
        self._smooth_p()
        return D.inverse_duality_map(self._coef(v, "v"), self.p)

    def semi_inner_product_f(self, u, w):
        r""":math:`[f_u, f_w] = \langle J_p(w), u\rangle`."""
        return D.semi_inner_product(self._coef(u, "u"), self._coef(w, "w"), self._smooth_p())

    def _smooth_p(self) -> float:
        if not (1.0 < self.p < math.inf):
            raise ValueError(
                f"this needs 1 < p < inf (a smooth, strictly convex space); got p={self.p}: "
                f"{self.representer_hypotheses().reason}"
            )
        return self.p

    # ------------------------------------------------------------ hypotheses
    def representer_hypotheses(self) -> HypothesesReport:
        """Do :math:`B_X, B_Y` satisfy reflexive + strictly convex + smooth?"""
        p = self.p
        if 1.0 < p < math.inf:
            return HypothesesReport(
                p, True, True, True, True,
                f"1 < p={p:g} < inf: ℓ^p and ℓ^{self.q_star:g} are reflexive, uniformly "
                "convex (hence strictly convex) and smooth; the representer theorem applies",
            )
        if p == 1.0:
            return HypothesesReport(
                p, False, False, False, False,
                "p = 1: ℓ^1 is not reflexive (its dual is ℓ^inf), not strictly convex (the unit "
                "sphere contains segments) and not smooth (the norm has kinks where a "
                "coordinate is 0); minimizers can be non-unique and only a subgradient "
                "form of the representer theorem holds",
            )
        return HypothesesReport(
            p, False, False, False, False,
            "p = inf: ℓ^inf is not reflexive, not strictly convex and not smooth; the "
            "hypotheses of the representer theorem fail",
        )

    # ---------------------------------------------------------- reproducing
    def check_reproducing(self, X, Y, w, v) -> ReproducingCheck:
        r"""Check the reproducing properties on points ``X`` (n, d_x), ``Y`` (m, d_y).

        Computes (i) :math:`f_w(x) - \langle f_w, \kappa(x,\cdot)\rangle`,
        (ii) :math:`g_v(y) - \langle\kappa(\cdot,y), g_v\rangle`, each through the
        pairing of coefficient vectors, and (iii) :math:`\kappa(x,y) -
        \langle\kappa(\cdot,y), \kappa(x,\cdot)\rangle` against the kernel the pair
        reproduces, evaluated without features (``features.reproduced_kernel``: the
        kernel itself for exact pairs, the truncated series for Taylor features; nan
        for random pairs). ``approximation_error`` compares with the target kernel.
        Errors are relative to the largest magnitude involved.
        """
        w, v = self._coef(w, "w"), self._coef(v, "v")
        PX, PY = self.features.transform_x(X), self.features.transform_y(Y)
        w, v = asarray_like(w, PX), asarray_like(v, PY)
        xp = namespace(PX)
        fx = self.eval_f(w, X)
        gy = self.eval_g(v, Y)
        fx_pair = xp.stack([self.pairing(w, PX[i]) for i in range(PX.shape[0])])
        gy_pair = xp.stack([self.pairing(PY[j], v) for j in range(PY.shape[0])])
        K_pair = xp.matmul(PX, xp.matrix_transpose(PY))
        try:
            K_repr = self.features.reproduced_kernel(X, Y)
        except NotImplementedError:
            K_repr = None

        def rel(a, b):
            a, b = to_numpy(a), to_numpy(b)
            s = max(float(abs(a).max()), float(abs(b).max()), 1e-300)
            return float(abs(a - b).max()) / s

        return ReproducingCheck(
            rel(fx, fx_pair),
            rel(gy, gy_pair),
            math.nan if K_repr is None else rel(K_repr, K_pair),
            rel(self.kernel(X, Y), K_pair),
        )

    def __repr__(self) -> str:
        return f"RKBSPair(p={self.p:g}, q*={self.q_star:g}, features={self.features!r})"
