r"""Rotary (RoPE) attention as a binary kernel on (state, position) pairs.

A rotary head (Su et al. 2021, "RoFormer", eq. (14)–(16); used by Llama) rotates its
projected query and key by an angle proportional to the token's position before the dot
product. With the *rotate-half* layout of HuggingFace ``transformers``
(``q * cos + rotate_half(q) * sin``), coordinate pairs :math:`(f, f + d/2)` of a
d-dimensional head are rotated by :math:`p\,\omega_f`, :math:`f = 0..d/2-1`:

.. math::

    R_p u = u \odot \cos(p\,\tilde\omega) + \operatorname{rh}(u) \odot \sin(p\,\tilde\omega),
    \qquad \operatorname{rh}(u) = (-u_{d/2:}, u_{:d/2}),\quad
    \tilde\omega = (\omega, \omega),

and the head's kernel is an exponentiated dot product of rotated maps,

.. math::

    \kappa\bigl((x, p), (y, p')\bigr) = \exp\bigl(a^2 s^2
        \langle R_p W_Q x,\ R_{p'} W_K y\rangle\bigr)
    = \exp\bigl(a^2 s^2\, x^\top W_Q^\top R_{p'-p} W_K\, y\bigr),

with :math:`s^2` the attention scaling (:math:`1/\sqrt d` by default) and a the rotary
``attention_scaling`` of the model (1 for the default RoPE). The last equality
(:math:`R_p^\top R_{p'} = R_{p'-p}`) shows the kernel depends on the positions only
through :math:`p' - p`, but it is *not* a kernel on states alone: the toolkit represents a
point as the row :math:`(x, p)` with the position in the **last column**, so every
:class:`~rkbs.kernels.BinaryKernel` tool (Gram matrices, Mercer diagnostics, rank growth,
the dual pair-operator machine) applies unchanged.

Tied maps (:math:`W_Q = W_K`) give a positive semi-definite kernel: it is the exponential
of the inner product of the features :math:`R_p W x`, hence Mercer on (state, position)
pairs; untied maps give an asymmetric, in general indefinite kernel, like EDP.
"""

from __future__ import annotations

import math

import numpy as np

from rkbs._backend import asarray_like, namespace, to_numpy
from rkbs._checks import check_array, check_positive
from rkbs.kernels import functions as F
from rkbs.kernels.base import BinaryKernel, Map, _apply_map

__all__ = ["RotaryKernel", "rope_frequencies"]


def rope_frequencies(head_dim: int, theta: float = 10000.0) -> np.ndarray:
    r"""Default RoPE frequencies :math:`\omega_f = \theta^{-2f/d}`, f = 0..d/2-1, shape (d/2,)."""
    if int(head_dim) != head_dim or head_dim < 2 or head_dim % 2:
        raise ValueError(f"head_dim must be an even integer >= 2, got {head_dim!r}")
    theta = check_positive(theta, "theta")
    return 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)


class RotaryKernel(BinaryKernel):
    r"""EDP kernel of a rotary head on (state, position) rows; see the module docstring.

    Parameters
    ----------
    W_Q, W_K : None, array (d, d_in) or callable
        Query and key maps applied to the state part ``X[:, :-1]`` (affine maps: append a
        constant 1 to the states and the bias as a column of W).
    inv_freq : array (d/2,), optional
        Rotation frequencies :math:`\omega_f` (the model's ``rotary_emb.inv_freq``);
        default :func:`rope_frequencies` (d, theta).
    theta : float
        RoPE base for the default frequencies.
    attention_scaling : float
        The factor a multiplying cos and sin in the model (``rotary_emb.attention_scaling``).
    scale : "attention", float or None
        As in :class:`~rkbs.kernels.BinaryKernel`: :math:`s = d^{-1/4}` per side by default.
    dim : int, optional
        Head dimension d when it cannot be read off ``W_Q``.

    Notes
    -----
    Points are rows :math:`(x, p)` of shape ``(n, d_in + 1)``: the last column is the
    position (any real number; integer token positions in a model).
    """

    name = "rotary"
    exponentiates = True
    infinite = True

    def __init__(self, W_Q: Map = None, W_K: Map = None, *, inv_freq=None,
                 theta: float = 10000.0, attention_scaling: float = 1.0,
                 scale="attention", dim=None):
        super().__init__(W_Q, W_K, scale=scale, dim=dim)
        if inv_freq is None:
            if self.dim is None:
                raise ValueError("RotaryKernel needs inv_freq, matrix maps or dim= to know "
                                 "the head dimension")
            inv_freq = rope_frequencies(self.dim, theta)
        inv_freq = np.asarray(to_numpy(inv_freq), dtype=np.float64).reshape(-1)
        if inv_freq.size == 0 or not np.all(np.isfinite(inv_freq)):
            raise ValueError(f"inv_freq must be a non-empty finite vector, got {inv_freq!r}")
        if self.dim is not None and 2 * inv_freq.size != self.dim:
            raise ValueError(f"inv_freq has {inv_freq.size} frequencies but the head dimension "
                             f"is {self.dim} (needs d/2 = {self.dim // 2})")
        self.inv_freq = inv_freq
        self.dim = 2 * inv_freq.size
        self.theta = float(theta)
        self.attention_scaling = check_positive(attention_scaling, "attention_scaling")

    def _params(self):
        return {"d": self.dim, "attention_scaling": self.attention_scaling}

    def rotate(self, U, positions):
        r""":math:`a R_p u` row-wise: U (n, d), positions (n,) -> (n, d) (rotate-half layout)."""
        xp = namespace(U)
        if U.shape[-1] != self.dim:
            raise ValueError(f"rotary maps produce d = {U.shape[-1]} coordinates but the "
                             f"kernel has {self.dim // 2} frequencies (d = {self.dim})")
        w = asarray_like(self.inv_freq, U)
        ang = positions[:, None] * w[None, :]                       # (n, d/2)
        cos = xp.concat([xp.cos(ang), xp.cos(ang)], axis=-1) * self.attention_scaling
        sin = xp.concat([xp.sin(ang), xp.sin(ang)], axis=-1) * self.attention_scaling
        h = self.dim // 2
        rh = xp.concat([-U[:, h:], U[:, :h]], axis=-1)              # rotate_half(u)
        return U * cos + rh * sin

    def _side(self, X, W, name):
        X = check_array(X, name)
        if X.shape[1] < 2:
            raise ValueError(f"{name} must hold (state, position) rows of at least 2 columns, "
                             f"got shape {tuple(X.shape)}")
        U = _apply_map(W, X[:, :-1], "W_Q" if name == "X" else "W_K")
        return self._scaled(self.rotate(U, X[:, -1]))

    def queries(self, X):
        """Rotated, scaled queries :math:`s\\,a R_p W_Q x`: ``(n, d_x + 1) -> (n, d)``."""
        return self._side(X, self.W_Q, "X")

    def keys(self, Y):
        """Rotated, scaled keys :math:`s\\,a R_{p} W_K y`: ``(m, d_y + 1) -> (m, d)``."""
        return self._side(Y, self.W_K, "Y")

    def log_from_qk(self, Q, K):
        return F.edp_log(Q, K)

    @property
    def positive_definite(self) -> bool:
        return self.tied

    def feature_dimension(self, d: int):
        return math.inf
