r"""The one line search of the Newton solvers: Armijo backtracking with a round-off rule.

From a point x with objective :math:`f_0`, direction d and slope
:math:`s = \nabla f(x)\cdot d < 0`, try :math:`t = 1, \tfrac12, \tfrac14, \dots` and accept
the first trial :math:`x_t` with

.. math:: f(x_t) \le f_0 + c_1\,t\,s \qquad (\text{Armijo}, c_1 = 10^{-4}),

or, near an optimum where f is flat to round-off, with
:math:`f(x_t) \le f_0 + 10\,\epsilon\,|f_0|` (ε the float64 machine epsilon: f is a sum
whose computed value errs by a few ulps of |f|) and, when the caller gives one, a
second test ``accept_flat(x_t)`` (e.g. the gradient norm decreased). Used by the binary
Newton solver (:mod:`rkbs.machines.newton`) and both pair-operator solvers.
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["ARMIJO_C1", "ROUND_OFF_ULPS", "backtrack"]

#: Sufficient-decrease constant c₁ of the Armijo rule.
ARMIJO_C1 = 1e-4
#: Round-off slack of the flat rule, in ulps of |f₀| (machine epsilons).
ROUND_OFF_ULPS = 10.0
_EPS = 2.220446049250313e-16


def backtrack(objective: Callable, trial: Callable, f0: float, slope: float, *,
              accept_flat: Callable | None = None, max_halvings: int = 40):
    """Backtracking along a direction; returns ``(t, x_t, f(x_t))`` or ``None``.

    Parameters
    ----------
    objective : callable
        ``objective(x) -> float``.
    trial : callable
        ``trial(t) -> x_t``, the point at step t along the direction.
    f0 : float
        Objective at t = 0.
    slope : float
        Directional derivative at t = 0 (negative for a descent direction).
    accept_flat : callable, optional
        Extra condition for a step accepted by the round-off rule only.
    max_halvings : int
        Steps tried: 1, 1/2, ..., 2^{1-max_halvings}.
    """
    flat = ROUND_OFF_ULPS * _EPS * abs(f0)
    t = 1.0
    for _ in range(max_halvings):
        x = trial(t)
        ft = objective(x)
        if math.isfinite(ft):
            if ft <= f0 + ARMIJO_C1 * t * slope:
                return t, x, ft
            if ft <= f0 + flat and (accept_flat is None or accept_flat(x)):
                return t, x, ft
        t *= 0.5
    return None
