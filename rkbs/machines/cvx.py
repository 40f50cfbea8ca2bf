r"""cvxpy formulations of binary kernel machines (DCP; Clarabel by default, SCS selectable).

The problem of theory §3 in the coefficient vectors (w, v):

.. math::

    \min_{w, v}\; L(A(\Phi_X w, \Phi_Y v); Z) + \lambda_X R_X(\lVert w\rVert_p)
    + \lambda_Y R_Y(\lVert v\rVert_{q^*})

with the loss of :func:`rkbs.machines.losses.loss_cvxpy` and the regularizer forms of
:meth:`rkbs.machines.regularizers.Regularizer.cvxpy` (``sum(power(abs(w), p))`` when
R(t) = t^p, the fastest DCP form, theory §7). The product coupling is solved one block
at a time (the other side fixed: a convex problem). After every solve the status is
checked: anything but ``"optimal"`` raises :class:`SolverError` naming the status.
"""

from __future__ import annotations

import math
import time

import numpy as np

from rkbs.machines.losses import loss_cvxpy
from rkbs.machines.problem import BinaryProblem

__all__ = ["SolverError", "solve_cvxpy", "solver_options", "CVX_SOLVERS", "TOL_FLOOR"]

CVX_SOLVERS = ("clarabel", "scs")


class SolverError(RuntimeError):
    """A solver returned anything but an optimal status (the status is in the message)."""

    def __init__(self, message: str, status: str | None = None):
        super().__init__(message)
        self.status = status


#: Tightest tolerance each cvxpy solver is given (theory §7 measurements): Clarabel
#: reports ``optimal_inaccurate`` below ~1e-12 and 1e-10 costs only +20–30 %; SCS's
#: default 1e-5 leaves residuals 1e-3..1e-5, 1e-8 is its measured floor (1e-9 ended
#: ``optimal_inaccurate`` on a softmax map).
TOL_FLOOR = {"clarabel": 1e-10, "scs": 1e-8}


def solver_options(solver: str, tol: float, max_iter: int | None = None,
                   extra: dict | None = None) -> dict:
    """cvxpy ``solve`` keyword arguments for ``solver`` at accuracy ``tol`` (the one
    options function of every machine).

    ``tol`` is clipped at :data:`TOL_FLOOR` (tighter ends ``optimal_inaccurate``).
    Clarabel: ``tol_gap_abs = tol_gap_rel = tol_feas = tol``; SCS: ``eps_abs = eps_rel =
    tol``; ``max_iter`` maps to each solver's iteration cap; ``extra`` overrides.
    """
    if solver not in CVX_SOLVERS:
        raise ValueError(f"unknown cvxpy solver {solver!r}; valid: {', '.join(CVX_SOLVERS)}")
    t = max(float(tol), TOL_FLOOR[solver])
    if solver == "clarabel":
        opts = {"solver": "CLARABEL", "tol_gap_abs": t, "tol_gap_rel": t, "tol_feas": t}
        if max_iter is not None:
            opts["max_iter"] = int(max_iter)
    else:
        opts = {"solver": "SCS", "eps_abs": t, "eps_rel": t}
        if max_iter is not None:
            opts["max_iters"] = int(max_iter)
    opts.update(extra or {})
    return opts


def _reg_expr(side, c):
    import cvxpy as cp

    if math.isinf(side.r):
        n = cp.norm_inf(c)
        rho = side.reg.power(side.r) if side.reg.rho is not None else 1.0
        return side.lam * (n if rho == 1.0 else cp.power(n, rho))
    return side.lam * side.reg.cvxpy(c, side.r)


def solve_cvxpy(prob: BinaryProblem, *, blocks=None, fixed=None, solver: str = "clarabel",
                tol: float = 1e-10, max_iter: int | None = None,
                accept_inaccurate: bool = False):
    r"""Solve ``prob`` (numpy data) over ``blocks`` with cvxpy.

    Parameters
    ----------
    prob : BinaryProblem
        Built on numpy arrays.
    blocks : tuple, optional
        ("x",), ("y",) or ("x", "y") (default: all sides; the product coupling needs a
        single block).
    fixed : dict, optional
        Values of the sides not in ``blocks`` (``{"y": v}``).
    solver, tol, max_iter
        See :func:`solver_options`.
    accept_inaccurate : bool
        Return the point of an ``"optimal_inaccurate"`` status (``info["status"]`` says
        so) instead of raising: for callers that polish it with Newton steps and check
        the polished residual themselves.

    Returns
    -------
    coefs : dict
        ``{"x": w (D,), "y": v (D,) or None}``.
    info : dict
        ``status``, ``objective`` (cvxpy's value), ``solve_time`` (s), ``iterations``.

    Raises
    ------
    SolverError
        When the status is not ``"optimal"`` (including ``"optimal_inaccurate"``) or the
        solver itself fails.
    """
    import cvxpy as cp

    blocks = tuple(prob.sides) if blocks is None else tuple(blocks)
    if prob.coupling == "product" and not prob.one_sided and len(blocks) > 1:
        raise ValueError("the product coupling is biconvex: solve one block at a time")
    fixed = dict(fixed or {})
    Phi = {"x": np.asarray(prob.Phi_X), "y": None if prob.one_sided else np.asarray(prob.Phi_Y)}
    Z = np.asarray(prob.Z)
    m, n = Z.shape
    var = {s: cp.Variable(Phi[s].shape[1], name=f"c_{s}") for s in blocks}
    # score variables a = Φ_X w, b = Φ_Y v tied by equality constraints: the dense
    # features then enter only k_s constraint rows, and the map from the scores to the
    # (m, n) score matrix is sparse (≤ 2 entries a row). Writing Φ w straight into
    # the m·n loss terms makes cvxpy store a dense (m·n × D) coefficient matrix (8 GB
    # at m = n = 500, D = 2000).
    scores, constraints = {}, []
    for s in prob.sides:
        if s in var:
            scores[s] = cp.Variable(Phi[s].shape[0], name=f"score_{s}")
            constraints.append(scores[s] == Phi[s] @ var[s])
        else:
            scores[s] = Phi[s] @ np.asarray(fixed[s])
    onesn, onesm = np.ones((1, n)), np.ones((m, 1))

    def col(e, k):  # (k,) -> (k, 1)
        return cp.reshape(e, (k, 1), order="F") if isinstance(e, cp.Expression) else e[:, None]

    def row(e, k):
        return cp.reshape(e, (1, k), order="F") if isinstance(e, cp.Expression) else e[None, :]

    a = scores["x"]
    if prob.one_sided:
        A = col(a, m) @ onesn
    elif prob.coupling == "additive":
        A = col(a, m) @ onesn + onesm @ row(scores["y"], n)
    else:
        A = col(a, m) @ row(scores["y"], n)
    obj = loss_cvxpy(prob.loss, Z, A, np.asarray(prob.mask))
    for s in blocks:
        obj = obj + _reg_expr(prob.sides[s], var[s])
    problem = cp.Problem(cp.Minimize(obj), constraints)
    opts = solver_options(solver, tol, max_iter)
    t0 = time.perf_counter()
    try:
        problem.solve(**opts)
    except cp.error.SolverError as exc:
        raise SolverError(f"cvxpy/{solver} failed: {exc}", status="solver_error") from exc
    elapsed = time.perf_counter() - t0
    status = problem.status
    ok = (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) if accept_inaccurate else (cp.OPTIMAL,)
    if status not in ok or any(var[s].value is None for s in blocks):
        raise SolverError(
            f"cvxpy/{solver} returned status {status!r} (not 'optimal'); tolerances {tol:g}. "
            "Loosen tol, switch solver, or rescale the problem.", status=status)
    coefs = {s: np.asarray(var[s].value, dtype=float) for s in blocks}
    for s, val in fixed.items():
        coefs.setdefault(s, np.asarray(val))
    coefs.setdefault("y", None)
    stats = problem.solver_stats
    info = {"status": status, "objective": float(problem.value), "solve_time": elapsed,
            "iterations": getattr(stats, "num_iters", None)}
    return coefs, info
