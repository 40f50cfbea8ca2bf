r"""Which pair-operator solver fits a problem: the primal/dual choice in one place.

The Frobenius pair-operator problem

.. math:: \min_A \sum_s L\bigl(Z_s, \Phi_X^{(s)} A \Phi_Y^{(s)\top}\bigr) + \lambda\lVert A\rVert_F^2

can be solved over A (:class:`~rkbs.machines.PairOperatorMachine`, cost growing with
:math:`D_x D_y`) or over the representer coefficients C with
:math:`A^\star = \sum_s \Phi_X^{(s)\top} C_s \Phi_Y^{(s)}`
(:class:`~rkbs.machines.DualPairOperatorMachine`, cost growing with the number of scores
N = S·m·n, and the only route for kernels with implicit features).
"""

from __future__ import annotations

from rkbs.features.base import FeaturePair

__all__ = ["PAIR_SOLVERS", "PRIMAL_MAX_UNKNOWNS", "choose_pair_solver", "make_pair_machine"]

#: Choices of :func:`make_pair_machine`'s ``solver``.
PAIR_SOLVERS = ("primal", "dual", "auto")


#: Largest D_x·D_y for which :func:`choose_pair_solver` picks the primal (A and the Newton
#: work arrays are D_x × D_y float64: 32 MB each at this size).
PRIMAL_MAX_UNKNOWNS = 2**22


def choose_pair_solver(features, X, Y, regularizer: str = "frobenius") -> str:
    r"""``"primal"`` or ``"dual"`` for a pair-operator problem on points X, Y.

    Rule: the primal for every non-Frobenius regularizer (the dual exists only for
    :math:`\lVert A\rVert_F^2`) and for explicit features with
    :math:`D_xD_y \le` :data:`PRIMAL_MAX_UNKNOWNS`; the dual for a kernel (no explicit
    features) and for larger feature pairs. Measured on the trained head of the
    head-vs-machine figure (N = 2560 scores, λ = 1e-4 … 10): the primal reached residual
    1e-10 (or its round-off floor, ≈ 1e-9) for positive random features with D = 16 … 1024
    at every λ, while the dual — whose score kernel is singular when D² < N and badly
    scaled for random features — stalled at 1.4e-3 (D = 64, λ = 1e-4) after 545 s.

    Parameters
    ----------
    features : FeaturePair or BinaryKernel
    X : array (S, m, d) or (m, d)
    Y : array (S, n, d) or (n, d)
    regularizer : {"frobenius", "lp", "nuclear"}
    """
    if regularizer != "frobenius":
        return "primal"
    if not isinstance(features, FeaturePair):
        return "dual"
    return "dual" if features.n_features ** 2 > PRIMAL_MAX_UNKNOWNS else "primal"


def make_pair_machine(features, X, Y, *, loss: str = "softmax",
                      regularizer: str = "frobenius", lam: float = 1e-3, tol: float = 1e-8,
                      max_iter: int | None = 200, solver: str = "auto", **kw):
    """An unfitted pair-operator machine for ``features`` on points X, Y.

    ``solver="auto"`` applies :func:`choose_pair_solver`; ``"primal"`` gives a
    :class:`~rkbs.machines.PairOperatorMachine` (torch solver, any regularizer),
    ``"dual"`` a :class:`~rkbs.machines.DualPairOperatorMachine` (Frobenius only;
    ``features`` may be a kernel). Extra keywords go to the machine.
    """
    from rkbs.machines.pair_dual import DualPairOperatorMachine
    from rkbs.machines.pair_operator import PairOperatorMachine

    if solver not in PAIR_SOLVERS:
        raise ValueError(f"solver must be one of {', '.join(map(repr, PAIR_SOLVERS))}, "
                         f"got {solver!r}")
    if solver == "auto":
        solver = choose_pair_solver(features, X, Y, regularizer)
    if solver == "dual":
        if regularizer != "frobenius":
            raise ValueError("the dual solver fits the Frobenius regularizer only, got "
                             f"regularizer={regularizer!r}")
        return DualPairOperatorMachine(features, loss=loss, lam=lam, tol=tol,
                                       max_iter=max_iter or 100, **kw)
    return PairOperatorMachine(features, loss=loss, regularizer=regularizer, lam=lam,
                               solver="torch", tol=tol, max_iter=max_iter, **kw)
