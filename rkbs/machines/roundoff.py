r"""Measured round-off floors of the solvers' residuals (one mechanism, primal and dual).

A residual computed in float64 is itself rounded. Near an optimum at small λ the loss
gradient G = ∂L/∂H is a difference of O(1) terms (softmax − P) summed over many scores
that cancel, so the computed residual stops falling at a level set by the data, not by
the solver. The solvers measure that level instead of bounding it (worst-case
forward-error bounds, √N ε |·|, were 10²–10⁴ times too large on the project's grids):
they re-evaluate the residual vector along other routes that are exact in real
arithmetic — other product orders, and inputs moved by one unit in the last place at
random (:func:`ulp_jitter`) — and call the floor twice the largest relative difference
(:func:`spread_floor`; a few samples of an error underestimate its scale, hence the
factor 2). :func:`stall_status` turns a stalled solve into ``"round_off_floor"`` only
when its residual is below that floor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

__all__ = ["ulp_jitter", "spread_floor", "stall_status"]


def ulp_jitter(dtype, seed: int = 0) -> Callable:
    r"""``jitter(T)``: T with every entry moved by ±1 unit in the last place, signs drawn
    from a generator seeded with ``seed`` (successive calls draw new signs):
    :math:`T\odot(1 + \epsilon\,\xi)`, ξ uniform on {−1, +1}, ε the machine epsilon of
    ``dtype``."""
    import torch

    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    eps = float(torch.finfo(dtype).eps)

    def jitter(T):
        xi = torch.randint(0, 2, T.shape, generator=gen).to(T) * 2.0 - 1.0
        return T * (1.0 + eps * xi)

    return jitter


def spread_floor(reference, alternatives: Iterable, den: float) -> float:
    r""":math:`2\max_a\lVert a - v\rVert / \text{den}` over the alternative evaluations a
    of the residual vector v (``reference``); 0 when ``den`` is 0."""
    if den == 0.0:
        return 0.0
    return 2.0 * max(float((a - reference).norm()) for a in alternatives) / den


def stall_status(res: float, tol: float, stalled: bool,
                 floor: Callable[[], float]) -> tuple[str, float]:
    """``(status, floor)`` of a finished solve: ``"optimal"`` when ``res <= tol`` (floor 0,
    not measured); else ``"round_off_floor"`` when the solver ``stalled`` and ``res`` is
    at most the measured ``floor()``, otherwise ``"not_converged"``."""
    if res <= tol:
        return "optimal", 0.0
    f = float(floor())
    return ("round_off_floor" if stalled and res <= f else "not_converged"), f
