r"""The smooth binary kernel machine problem: objective, gradients, scores Hessian.

One implementation for numpy arrays and torch tensors (any device). With feature
matrices :math:`\Phi_X` (m, D), :math:`\Phi_Y` (n, D), coefficient vectors
:math:`w \in \ell^p`, :math:`v \in \ell^{q^*}` and scores
:math:`a = \Phi_X w` (m,), :math:`b = \Phi_Y v` (n,) (theory §3):

.. math::

    F(w, v) = L(A; Z) + \lambda_X R_X(\lVert w\rVert_p) + \lambda_Y R_Y(\lVert v\rVert_{q^*}),
    \qquad A = a\mathbf 1^\top + \mathbf 1 b^\top \;(\text{additive})
    \;\text{ or }\; A = a b^\top \;(\text{product}).

The loss sees f only through a and g only through b, so
:math:`\nabla_w L = \Phi_X^\top \partial L/\partial a` with
:math:`\partial L/\partial a = G\mathbf 1` (additive) or :math:`G b` (product), G the
score gradient of :mod:`rkbs.machines.losses`. The *relative first-order residual*
(theory §7) is

.. math::

    \rho = \frac{\lVert\nabla L + \lambda\nabla R\rVert}{\lVert\nabla L\rVert + \lVert\lambda\nabla R\rVert}

over the active blocks. A *one-sided* problem (``Phi_Y=None``) has no g: A = a 1ᵀ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rkbs._backend import namespace
from rkbs.machines.losses import get_loss
from rkbs.machines.regularizers import Regularizer
from rkbs.spaces.duality import lp_norm, norm_gradient

__all__ = ["Side", "BinaryProblem", "COUPLINGS"]

COUPLINGS = ("additive", "product")


@dataclass
class Side:
    r"""One side of the pair: features Φ (k, D), exponent r, :math:`\lambda R(\lVert c\rVert_r)`."""

    Phi: object
    r: float
    lam: float
    reg: Regularizer

    def norm(self, c):
        return lp_norm(c, self.r)

    def reg_value(self, c):
        return self.lam * self.reg.value(self.norm(c), self.r)

    def reg_scale(self, c):
        r""":math:`\lambda R'(\lVert c\rVert_r)`."""
        return self.lam * self.reg.d1(self.norm(c), self.r)

    def iota(self, c):
        r""":math:`\iota(c) = \nabla\lVert c\rVert_r` (0 at c = 0; r = 1: sign(c))."""
        if self.r == 1.0:
            xp = namespace(c)
            return xp.sign(c)
        return norm_gradient(c, self.r)


class BinaryProblem:
    r"""Data and formulas of one binary kernel machine problem (see module docstring).

    Parameters
    ----------
    Phi_X : array (m, D_X)
    Phi_Y : array (n, D_Y) or None
        None switches the Y side off (one-sided problem, A = a 1ᵀ).
    Z, mask : arrays (m, n)
        Targets and observed pairs (bool).
    loss : str or Loss
        A registered loss name or :class:`~rkbs.machines.losses.Loss`.
    coupling : {"additive", "product"}
    x, y : Side
        Exponent, λ and regularizer of each side (``y`` None when one-sided).
    """

    def __init__(self, Phi_X, Phi_Y, Z, mask, loss, coupling, x: Side, y: Side | None):
        self.Phi_X, self.Phi_Y, self.Z, self.mask = Phi_X, Phi_Y, Z, mask
        self.loss, self.coupling = loss, coupling
        self.loss_obj = get_loss(loss)
        self.sides = {"x": x} if y is None else {"x": x, "y": y}
        self.one_sided = y is None
        self.xp = namespace(Phi_X, Z)

    # ------------------------------------------------------------ scores
    def scores(self, w, v):
        """(a, b, A): a = Φ_X w (m,), b = Φ_Y v (n,) or None, A (m, n)."""
        a = self.Phi_X @ w
        if self.one_sided:
            return a, None, a[:, None] + self.Z * 0.0
        b = self.Phi_Y @ v
        A = a[:, None] + b[None, :] if self.coupling == "additive" else a[:, None] * b[None, :]
        return a, b, A

    def objective(self, w, v):
        """F(w, v) (a 0-d array)."""
        _, _, A = self.scores(w, v)
        val = self.loss_obj.value(self.Z, A, self.mask)
        val = val + self.sides["x"].reg_value(w)
        if not self.one_sided:
            val = val + self.sides["y"].reg_value(v)
        return val

    def score_gradients(self, w, v):
        r"""(∂L/∂a (m,), ∂L/∂b (n,) or None, G (m, n), a, b, A)."""
        a, b, A = self.scores(w, v)
        G = self.loss_obj.gradient(self.Z, A, self.mask)
        xp = self.xp
        if self.one_sided:
            return xp.sum(G, axis=1), None, G, a, b, A
        if self.coupling == "additive":
            return xp.sum(G, axis=1), xp.sum(G, axis=0), G, a, b, A
        return G @ b, G.T @ a, G, a, b, A

    def gradients(self, w, v):
        r"""Per side: (∇_c L, λ∇_c R) in coefficient space, as a dict ``{"x": (.,.), ...}``."""
        ga, gb, *_ = self.score_gradients(w, v)
        out = {"x": (self.Phi_X.T @ ga, self.sides["x"].reg_scale(w) * self.sides["x"].iota(w))}
        if not self.one_sided:
            s = self.sides["y"]
            out["y"] = (self.Phi_Y.T @ gb, s.reg_scale(v) * s.iota(v))
        return out

    def gradient(self, w, v):
        r"""Per side :math:`\nabla_c F = \nabla_c L + \lambda\nabla_c R`, ``{"x": ..., "y": ...}``."""
        return {s: gl + gr for s, (gl, gr) in self.gradients(w, v).items()}

    def residual(self, w, v, blocks=None) -> float:
        r"""Relative first-order residual ρ over ``blocks`` (default: every side)."""
        xp = self.xp
        grads = self.gradients(w, v)
        blocks = tuple(grads) if blocks is None else blocks
        gl = xp.concat([grads[s][0] for s in blocks])
        gr = xp.concat([grads[s][1] for s in blocks])
        num = float(xp.linalg.vector_norm(gl + gr))
        den = float(xp.linalg.vector_norm(gl)) + float(xp.linalg.vector_norm(gr))
        return num / den if den > 0 else (0.0 if num == 0 else math.inf)

    # ---------------------------------------------------------- Hessians
    def score_hessian(self, a, b, A, blocks):
        r"""Hessian of L in the scores of ``blocks`` (("x",), ("y",) or ("x", "y")).

        From the loss's row Hessians :math:`S_i = \operatorname{diag}(h_i) - u_iu_i^\top`
        (:meth:`~rkbs.machines.losses.Loss.hessian_terms`; u = 0 for entrywise losses,
        h = u = π for the row softmax), with :math:`\bar u_i = \sum_j u_{ij}`:
        additive coupling,
        :math:`H_{aa} = \operatorname{diag}(h\mathbf 1 - \bar u^2)`,
        :math:`(H_{ab})_{ij} = h_{ij} - u_{ij}\bar u_i`,
        :math:`H_{bb} = \operatorname{diag}(h^\top\mathbf 1) - u^\top u`; a product block
        with the other side fixed is linear in its scores:
        :math:`(H_{aa})_i = b^\top S_i b`, :math:`H_{bb} = \sum_i a_i^2 S_i`; the joint
        product Hessian adds :math:`(H_{ab})_{ij} = a_i(h_{ij}b_j - u_{ij}(u_i\cdot b)) + G_{ij}`
        (indefinite away from minima).
        """
        xp = self.xp
        h, u = self.loss_obj.hessian_terms(self.Z, A, self.mask)
        add = self.coupling == "additive" or self.one_sided

        def ubar():
            return xp.zeros_like(h[:, 0]) if u is None else xp.sum(u, axis=1)

        def Hbb_add():
            H = xp.diag(xp.sum(h, axis=0))
            return H if u is None else H - u.T @ u

        def Haa_prod():
            out = h @ (b * b)
            return out if u is None else out - (u @ b) ** 2

        def Hbb_prod():
            a2 = a * a
            H = xp.diag(a2 @ h)
            return H if u is None else H - u.T @ (a2[:, None] * u)

        if blocks == ("x", "y"):
            if add:
                ub = ubar()
                Hab = h if u is None else h - u * ub[:, None]
                top = xp.concat([xp.diag(xp.sum(h, axis=1) - ub * ub), Hab], axis=1)
                bot = xp.concat([Hab.T, Hbb_add()], axis=1)
                return xp.concat([top, bot], axis=0)
            G = self.loss_obj.gradient(self.Z, A, self.mask)
            Hab = h * b[None, :]
            if u is not None:
                Hab = Hab - u * (u @ b)[:, None]
            Hab = a[:, None] * Hab + G
            top = xp.concat([xp.diag(Haa_prod()), Hab], axis=1)
            bot = xp.concat([Hab.T, Hbb_prod()], axis=1)
            return xp.concat([top, bot], axis=0)
        if blocks == ("x",):
            if add:
                ub = ubar()
                return xp.diag(xp.sum(h, axis=1) - ub * ub)
            return xp.diag(Haa_prod())
        if blocks == ("y",):
            return Hbb_add() if add else Hbb_prod()
        raise ValueError(f"unknown blocks {blocks!r}")
