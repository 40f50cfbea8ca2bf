r"""Regularizers :math:`\lambda R(\lVert c\rVert_r)` of binary kernel machines (theory §3).

Every supported R is a power, :math:`R(t) = t^{\rho}` with :math:`\rho \ge 1`:

* ``"square"``: :math:`R(t) = t^2` (the default of theory §3);
* ``("power", rho)``: :math:`R(t) = t^{\rho}`, :math:`\rho \ge 1`;
* ``"norm"``: :math:`R(t) = t` (not strictly convex: a counter-example setting);
* ``"power"`` (string): :math:`R(t) = t^{r}` with r the side's own exponent, i.e.
  :math:`\lambda_X \sum_i |w_i|^p + \lambda_Y \sum_j |v_j|^{q^*}` — separable, the fastest
  cvxpy form (``sum(power(abs(w), p))``, theory §7).

Derivatives used by the first-order conditions (theory §4):
:math:`R'(t) = \rho t^{\rho-1}`, :math:`R''(t) = \rho(\rho-1)t^{\rho-2}`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

__all__ = ["Regularizer", "parse_regularizer"]


@dataclass(frozen=True)
class Regularizer:
    r""":math:`R(t) = t^{\rho}`; ``rho=None`` means "the side's own exponent r".

    Attributes
    ----------
    rho : float or None
        Power :math:`\rho \ge 1` (None: :math:`\rho = r`, the norm's exponent).
    name : str
        The user-facing spelling, for messages.
    """

    rho: float | None
    name: str

    def power(self, r: float) -> float:
        """The power :math:`\\rho` on a side whose norm is :math:`\\lVert\\cdot\\rVert_r`."""
        return float(r) if self.rho is None else float(self.rho)

    def value(self, t, r: float):
        r""":math:`R(t) = t^{\rho}` (t scalar or array, t ≥ 0)."""
        return t ** self.power(r)

    def d1(self, t, r: float):
        r""":math:`R'(t) = \rho t^{\rho - 1}` (:math:`R'(t) = 1` for ρ = 1)."""
        rho = self.power(r)
        return rho * t ** (rho - 1.0) if rho != 1.0 else t * 0.0 + 1.0

    def d2(self, t, r: float):
        r""":math:`R''(t) = \rho(\rho - 1) t^{\rho - 2}` (0 for ρ = 1, 2 for ρ = 2)."""
        rho = self.power(r)
        if rho == 1.0:
            return t * 0.0
        if rho == 2.0:
            return t * 0.0 + 2.0
        return rho * (rho - 1.0) * t ** (rho - 2.0)

    def strictly_convex(self, r: float) -> bool:
        """``R(‖c‖_r)`` strictly convex in c: ρ > 1 and 1 < r < ∞."""
        return self.power(r) > 1.0 and 1.0 < r < math.inf

    def cvxpy(self, c, r: float):
        r"""DCP cvxpy expression of :math:`R(\lVert c\rVert_r)` for a cvxpy variable ``c``.

        ρ = r uses ``sum(power(abs(c), r))`` (theory §7: fastest, tightest); ρ = 1 uses
        ``pnorm(c, r)``; otherwise ``power(pnorm(c, r), ρ)``.
        """
        import cvxpy as cp

        rho = self.power(r)
        if r == 1.0:
            n1 = cp.norm1(c)
            return n1 if rho == 1.0 else cp.power(n1, rho)
        if rho == r:
            return cp.sum(cp.power(cp.abs(c), r))
        if rho == 1.0:
            return cp.pnorm(c, r)
        if rho == 2.0:
            return cp.square(cp.pnorm(c, r))
        return cp.power(cp.pnorm(c, r), rho)


def parse_regularizer(reg) -> Regularizer:
    """Parse ``"square" | "norm" | "power" | ("power", rho)`` into a :class:`Regularizer`.

    Raises
    ------
    ValueError
        On an unknown spelling or ρ < 1.
    """
    if isinstance(reg, Regularizer):
        return reg
    if reg == "square":
        return Regularizer(2.0, "square")
    if reg == "norm":
        return Regularizer(1.0, "norm")
    if reg == "power":
        return Regularizer(None, "power")
    if isinstance(reg, tuple) and len(reg) == 2 and reg[0] == "power":
        rho = reg[1]
        if isinstance(rho, bool) or not isinstance(rho, numbers.Real) or not (
            math.isfinite(float(rho)) and float(rho) >= 1.0
        ):
            raise ValueError(f"reg=('power', rho) needs a finite rho >= 1, got rho={rho!r}")
        return Regularizer(float(rho), f"power({float(rho):g})")
    raise ValueError(
        f"unknown regularizer {reg!r}; valid: 'square', 'norm', 'power', ('power', rho >= 1)"
    )
