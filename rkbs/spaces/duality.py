r"""ℓ^p norms and duality maps.

For :math:`1 < p < \infty`, :math:`q^* = p/(p-1)` and :math:`w \ne 0`:

.. math::

    \iota(w) = \nabla\lVert w\rVert_p = \frac{\operatorname{sign}(w)|w|^{p-1}}{\lVert w\rVert_p^{p-1}},
    \qquad
    J_p(w) = \nabla\tfrac12\lVert w\rVert_p^2 = \frac{\operatorname{sign}(w)|w|^{p-1}}{\lVert w\rVert_p^{p-2}},

with :math:`\lVert\iota(w)\rVert_{q^*} = 1`, :math:`\langle J_p(w), w\rangle = \lVert w\rVert_p^2`,
:math:`\lVert J_p(w)\rVert_{q^*} = \lVert w\rVert_p`, :math:`J_p^{-1} = J_{q^*}`, and the
semi-inner product :math:`[u, w]_p = \langle J_p(w), u\rangle`. ι(0) := 0, J_p(0) := 0.

All functions act on the last axis of numpy arrays or torch tensors. Norms are
computed as :math:`\max|w| \cdot \lVert w/\max|w|\rVert_p` so that neither large p nor
large entries overflow.
"""

from __future__ import annotations

import math

from rkbs._backend import asarray_like, is_torch_array, namespace
from rkbs._checks import all_finite, check_array, check_exponent

__all__ = [
    "conjugate_exponent",
    "lp_norm",
    "norm_gradient",
    "duality_map",
    "inverse_duality_map",
    "semi_inner_product",
]


def _check_vector(w, name: str = "w"):
    """Coefficients ``(..., D)``: lists/ints become float64; non-empty and finite (the
    finiteness check is skipped on accelerators, where it would synchronize)."""
    if not (is_torch_array(w) and w.is_floating_point()):
        w = check_array(w, name, ndim=None, allow_nonfinite=True)
    if w.ndim < 1 or w.shape[-1] == 0:
        raise ValueError(f"{name} must be a non-empty vector (..., D), got shape {tuple(w.shape)}")
    if (not is_torch_array(w) or w.device.type == "cpu") and not all_finite(w):
        raise ValueError(f"{name} contains NaN or inf values (shape {tuple(w.shape)})")
    return w


def conjugate_exponent(p: float) -> float:
    r"""Hölder conjugate :math:`q^* = p/(p-1)` (1 ↔ ∞)."""
    p = check_exponent(p, allow_one=True, allow_inf=True)
    if p == 1.0:
        return math.inf
    if math.isinf(p):
        return 1.0
    return p / (p - 1.0)


def lp_norm(w, p: float):
    r""":math:`\lVert w\rVert_p = (\sum_i |w_i|^p)^{1/p}` over the last axis (p = 1, ∞ allowed)."""
    p = check_exponent(p, allow_one=True, allow_inf=True)
    w = _check_vector(w)
    xp = namespace(w)
    a = xp.abs(w)
    m = xp.max(a, axis=-1)
    if math.isinf(p):
        return m
    safe = xp.where(m > 0, m, xp.ones_like(m))
    return m * xp.sum((a / safe[..., None]) ** p, axis=-1) ** (1.0 / p)


def _signed_power(w, e: float):
    xp = namespace(w)
    return xp.sign(w) * xp.abs(w) ** e


def norm_gradient(w, p: float):
    r"""Gâteaux derivative of the norm, :math:`\iota(w) = \operatorname{sign}(w)|w|^{p-1}/\lVert w\rVert_p^{p-1}`.

    Requires 1 < p < ∞ (ℓ^1 and ℓ^∞ norms are not Gâteaux differentiable).
    Computed as :math:`\operatorname{sign}(u)|u|^{p-1}` with :math:`u = w/\lVert w\rVert_p`
    for stability. Returns 0 for w = 0.
    """
    p = check_exponent(p)
    w = _check_vector(w)
    xp = namespace(w)
    nrm = lp_norm(w, p)[..., None]
    safe = xp.where(nrm > 0, nrm, xp.ones_like(nrm))
    return _signed_power(w / safe, p - 1.0)


def duality_map(w, p: float):
    r"""Duality mapping :math:`J_p(w) = \operatorname{sign}(w)|w|^{p-1}/\lVert w\rVert_p^{p-2}` (ℓ^p → ℓ^{q*})."""
    p = check_exponent(p)
    return norm_gradient(w, p) * lp_norm(w, p)[..., None]


def inverse_duality_map(u, p: float):
    r"""Inverse duality map :math:`J_p^{-1} = J_{q^*}` (ℓ^{q*} → ℓ^p)."""
    return duality_map(u, conjugate_exponent(check_exponent(p)))


def semi_inner_product(u, w, p: float):
    r"""Semi-inner product :math:`[u, w]_p = \langle J_p(w), u\rangle` (Lumer–Giles)."""
    u, w = _check_vector(u, "u"), _check_vector(w, "w")
    u = asarray_like(u, w)  # numpy and torch coefficients may meet here
    if tuple(u.shape) != tuple(w.shape):
        raise ValueError(f"u and w must have one shape, got {tuple(u.shape)} and {tuple(w.shape)}")
    xp = namespace(u, w)
    return xp.sum(duality_map(w, p) * u, axis=-1)
