r"""The smooth binary kernel machine problem: objective, gradients, scores Hessian.

One implementation for numpy arrays and torch tensors (any device). With feature
matrices :math:`\Phi_X` (m, D), :math:`\Phi_Y` (n, D), coefficient vectors
:math:`w \in \ell^p`, :math:`v \in \ell^{q^*}` and scores
:math:`a = \Phi_X w` (m,), :math:`b = \Phi_Y v` (n,) (MATH.md §3):

.. math::

    F(w, v) = L(A; Z) + \lambda_X R_X(\lVert w\rVert_p) + \lambda_Y R_Y(\lVert v\rVert_{q^*}),
    \qquad A = a\mathbf 1^\top + \mathbf 1 b^\top \;(\text{additive})
    \;\text{ or }\; A = a b^\top \;(\text{product}).

The loss sees f only through a and g only through b, so
:math:`\nabla_w L = \Phi_X^\top \partial L/\partial a` with
:math:`\partial L/\partial a = G\mathbf 1` (additive) or :math:`G b` (product), G the
score gradient of :mod:`rkbs.machines.losses`. The *relative first-order residual*
(SOLVERS.md) is

.. math::

    \rho = \frac{\lVert\nabla L + \lambda\nabla R\rVert}{\lVert\nabla L\rVert + \lVert\lambda\nabla R\rVert}

over the active blocks. A *one-sided* problem (``Phi_Y=None``) has no g: A = a 1ᵀ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rkbs._backend import namespace
from rkbs.machines.losses import (
    loss_curvature,
    loss_gradient,
    loss_value,
    masked_row_softmax,
)
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
    loss : {"squared", "logistic", "softmax"}
    coupling : {"additive", "product"}
    x, y : Side
        Exponent, λ and regularizer of each side (``y`` None when one-sided).
    """

    def __init__(self, Phi_X, Phi_Y, Z, mask, loss, coupling, x: Side, y: Side | None):
        self.Phi_X, self.Phi_Y, self.Z, self.mask = Phi_X, Phi_Y, Z, mask
        self.loss, self.coupling = loss, coupling
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
        val = loss_value(self.loss, self.Z, A, self.mask)
        val = val + self.sides["x"].reg_value(w)
        if not self.one_sided:
            val = val + self.sides["y"].reg_value(v)
        return val

    def score_gradients(self, w, v):
        r"""(∂L/∂a (m,), ∂L/∂b (n,) or None, G (m, n), a, b, A)."""
        a, b, A = self.scores(w, v)
        G = loss_gradient(self.loss, self.Z, A, self.mask)
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

        Entrywise losses have :math:`h_{ij} = \ell''(z_{ij}, A_{ij})` (squared: 1,
        logistic: σ(1 − σ)); the row-softmax loss has per-row Hessians
        :math:`S_i = \operatorname{diag}(P_i) - P_iP_i^\top`. Additive coupling:
        :math:`H = [[\operatorname{diag}(h\mathbf 1), h], [h^\top, \operatorname{diag}(h^\top\mathbf 1)]]`
        (softmax: :math:`H_{aa} = 0`, :math:`H_{bb} = \sum_i S_i`); a product block with
        the other side fixed is linear in its scores: :math:`H_{aa} = \operatorname{diag}(h b^2)`
        (softmax: :math:`b^\top S_i b`), :math:`H_{bb} = \operatorname{diag}(a^2 h)`
        (softmax: :math:`\sum_i a_i^2 S_i`). Joint product blocks are not supported.
        """
        xp = self.xp
        if self.loss == "softmax":
            P = masked_row_softmax(A, self.mask)
        else:
            h = loss_curvature(self.loss, self.Z, A, self.mask)
        add = self.coupling == "additive" or self.one_sided
        if blocks == ("x", "y"):
            if not add:
                # exact joint Hessian of the product coupling (indefinite away from minima)
                G = loss_gradient(self.loss, self.Z, A, self.mask)
                if self.loss == "softmax":
                    Hab = a[:, None] * (P * b[None, :] - P * (P @ b)[:, None]) + G
                    Haa = P @ (b * b) - (P @ b) ** 2
                    a2 = a * a
                    Hbb = xp.diag(a2 @ P) - P.T @ (a2[:, None] * P)
                else:
                    Hab = h * a[:, None] * b[None, :] + G
                    Haa = h @ (b * b)
                    Hbb = xp.diag((a * a) @ h)
                top = xp.concat([xp.diag(Haa), Hab], axis=1)
                bot = xp.concat([Hab.T, Hbb], axis=1)
                return xp.concat([top, bot], axis=0)
            if self.loss == "softmax":
                m, n = A.shape
                Hbb = xp.diag(xp.sum(P, axis=0)) - P.T @ P
                H = xp.zeros((m + n, m + n), dtype=A.dtype, device=getattr(A, "device", None))
                H[m:, m:] = Hbb
                return H
            top = xp.concat([xp.diag(xp.sum(h, axis=1)), h], axis=1)
            bot = xp.concat([h.T, xp.diag(xp.sum(h, axis=0))], axis=1)
            return xp.concat([top, bot], axis=0)
        if blocks == ("x",):
            if add:
                if self.loss == "softmax":
                    return xp.zeros((A.shape[0], A.shape[0]), dtype=A.dtype,
                                    device=getattr(A, "device", None))
                return xp.diag(xp.sum(h, axis=1))
            if self.loss == "softmax":
                Pb = P @ b
                return xp.diag(P @ (b * b) - Pb * Pb)
            return xp.diag(h @ (b * b))
        if blocks == ("y",):
            if add:
                if self.loss == "softmax":
                    return xp.diag(xp.sum(P, axis=0)) - P.T @ P
                return xp.diag(xp.sum(h, axis=0))
            if self.loss == "softmax":
                a2 = a * a
                return xp.diag(a2 @ P) - P.T @ (a2[:, None] * P)
            return xp.diag((a * a) @ h)
        raise ValueError(f"unknown blocks {blocks!r}")
