r"""Matrix-free Newton with row-block preconditioned GMRES: the dual at 10⁵ scores.

Same problem, Newton outer loop, line search, stopping test and round-off floor as
:func:`rkbs.machines.matrix_free.solve_dual_cg` — the dual pair-operator problem

.. math::

    \min_C L(\mathcal K C) + \lambda\langle C, \mathcal K C\rangle,\qquad
    (\mathcal K C)_a = \sum_b G^X_{ab}\,C_b\,G^{Y\top}_{ab},

with 𝒦 applied blockwise and never formed — but the Newton system
:math:`M\delta = -g`, :math:`M = W\mathcal K + 2\lambda I`, is solved by GMRES on the
left-preconditioned operator :math:`P^{-1}M`, with
:math:`P = W\tilde{\mathcal K} + 2\lambda I` the row-block preconditioner of
:mod:`rkbs.machines.pair_precond`. :math:`P^{-1}M` is the identity plus a perturbation of
norm at most :math:`\varepsilon = \lVert\tilde{\mathcal K}^{-1/2}\mathcal K
\tilde{\mathcal K}^{-1/2} - I\rVert_2` (in the :math:`\tilde{\mathcal K}` metric),
independent of the loss curvature W and of λ, which is what makes the unpreconditioned
CG of ``solve_dual_cg`` need hundreds of iterations per Newton step on softmax maps with
probabilities down to 1e-12.

P is not self-adjoint in the 𝒦-inner product (CG's requirement there), so the Krylov
method is GMRES — run in the 𝒦-inner product :math:`\langle u, v\rangle_{\mathcal K} =
u^\top\mathcal K v`, the Frobenius inner product of the operators
:math:`\sum_s\Phi_X^{(s)\top}u_s\Phi_Y^{(s)}`: it minimizes
:math:`\lVert P^{-1}(-g - M\delta)\rVert_{\mathcal K}`, which equals the operator-space
error of the direction up to a factor in :math:`[1 - \varepsilon', 1 + \varepsilon']`.
Each iteration costs one 𝒦-product (the basis is kept with its 𝒦-image, so
:math:`\mathcal K\delta` comes for free), one application of :math:`P^{-1}`
(:math:`O(Nn)`) and O(k N) for the orthogonalization (classical Gram–Schmidt, twice).
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from rkbs.machines.matrix_free import _newton_cg
from rkbs.machines.pair_dual import DualPairProblem, _measured_floor, blockwise_scores
from rkbs.machines.pair_precond import RowBlockPreconditioner, solve_row_blocks
from rkbs.machines.protocol import SolverResult
from rkbs.machines.roundoff import stall_status

__all__ = ["solve_dual_gmres"]


def _gmres_kernel_metric(kmul, R, Rt, Pinv, g, Kg, lam: float, rtol: float,
                         max_iter: int, restart: int = 40):
    r"""GMRES(restart) on :math:`P^{-1}M\delta = -P^{-1}g` in the 𝒦-inner product.

    ``Pinv`` applies :math:`P^{-1}` (identity for ``None``). GMRES minimizes the
    preconditioned residual :math:`z = P^{-1}(-g - M\delta)` in the 𝒦-norm; the stopping
    test is on the *true* Newton residual :math:`\rho = g + M\delta` in the measure of the
    outer fixed-point residual,

    .. math:: \lVert\mathcal K\rho\rVert \le \mathrm{rtol}\,\lVert\mathcal K g\rVert

    (:math:`\mathcal K\rho` is, to first order, 𝒦 times the new gradient — the inexact
    Newton condition of Dembo, Eisenstat & Steihaug 1982). It is checked (one 𝒦-product)
    whenever GMRES's estimate of :math:`\lVert z\rVert_{\mathcal K}` reaches its current
    target — at first ``rtol`` times its start value; when the true test fails, the target
    is lowered by the observed shortfall (the two measures differ by up to the condition
    of P) and the iteration continues. At a restart z is recomputed from δ and 𝒦δ.

    Returns
    -------
    d, Kd, n_iter : the direction (S, m, n), 𝒦 d, and the GMRES iterations taken.
    """
    import torch

    Pinv = (lambda V: V) if Pinv is None else Pinv

    def M(V, KV):
        return Rt(R(KV)) + 2.0 * lam * V

    def knorm(V, KV):
        return math.sqrt(max(float((V * KV).sum()), 0.0))

    d = torch.zeros_like(g)
    Kd = torch.zeros_like(g)
    goal = rtol * float(Kg.norm())
    z = Pinv(-g)
    Kz = kmul(z)
    beta = knorm(z, Kz)
    if beta == 0.0 or goal == 0.0:
        return d, Kd, 0
    target = rtol * beta
    total = 0
    while True:
        V, KV = [z / beta], [Kz / beta]
        Hm = np.zeros((restart + 1, restart))
        rhs = np.zeros(restart + 1)
        rhs[0] = beta
        for j in range(restart):
            w = Pinv(M(V[j], KV[j]))
            Kw = kmul(w)
            total += 1
            for _pass in range(2):  # classical Gram–Schmidt, twice ("twice is enough")
                h = torch.stack([(w * Kv).sum() for Kv in KV]).cpu().numpy()
                for i, hi in enumerate(h):
                    w = w - float(hi) * V[i]
                    Kw = Kw - float(hi) * KV[i]
                Hm[: j + 1, j] += h
            hn = knorm(w, Kw)
            Hm[j + 1, j] = hn
            Hj, rj = Hm[: j + 2, : j + 1], rhs[: j + 2]
            y, *_ = np.linalg.lstsq(Hj, rj, rcond=None)
            est = float(np.linalg.norm(rj - Hj @ y))
            breakdown = hn <= 1e-14 * beta
            last = j == restart - 1 or breakdown or total >= max_iter
            if est <= target or last:
                dj, Kdj = d.clone(), Kd.clone()
                for i, yi in enumerate(y):
                    dj = dj + float(yi) * V[i]
                    Kdj = Kdj + float(yi) * KV[i]
                WKd = Rt(R(Kdj))
                true = float((Kg + kmul(WKd) + 2.0 * lam * Kdj).norm())
                if true <= goal or breakdown or total >= max_iter:
                    return dj, Kdj, total
                if est <= target:  # the estimate is met, the true residual not yet
                    target = est * 0.5 * goal / true
                if j == restart - 1:
                    d, Kd = dj, Kdj
                    z = Pinv(-(g + WKd + 2.0 * lam * dj))
                    Kz = kmul(z)
                    beta = knorm(z, Kz)
                    break
            V.append(w / hn)
            KV.append(Kw / hn)


def solve_dual_gmres(prob: DualPairProblem, *, tol: float = 1e-8, max_iter: int = 100,
                     inner_max: int = 200, restart: int = 40, continuation: int = 0,
                     preconditioner: str | None = "row", precond_scale: float = 1.0,
                     warm_start: bool = True, verbose: bool = False) -> SolverResult:
    r"""Inexact Newton with row-block preconditioned GMRES directions (module docstring).

    Parameters
    ----------
    prob : DualPairProblem
        Side Grams GX (S, m, S, m), GY (S, n, S, n) — symmetric training Grams —,
        targets, mask, loss (row-local), λ.
    tol : float
        Target representer fixed-point residual (as
        :func:`~rkbs.machines.matrix_free.solve_dual_cg`).
    max_iter : int
        Newton steps (per stage).
    inner_max : int
        GMRES iterations (𝒦-products) per Newton step.
    restart : int
        GMRES basis size before a restart (memory: 2·restart score arrays).
    continuation : int
        Decades of λ-continuation before the final solve, as in ``solve_dual_cg``
        (0: cold start at λ).
    preconditioner : {"row", None}
        ``"row"``: :class:`~rkbs.machines.pair_precond.RowBlockPreconditioner`; ``None``:
        unpreconditioned GMRES (for comparison).
    precond_scale : float
        Scales the preconditioner's kernel (1: correct; other values: a wrong
        preconditioner, which must change the iteration count but not the solution).
    warm_start : bool
        Start from the solution of the row-block problem
        (:func:`~rkbs.machines.pair_precond.solve_row_blocks`, no 𝒦-products) instead of
        C = 0 (needs ``preconditioner="row"`` and a loss with ``row_value``). For a loss
        whose Hessian is not row-local, P is only an approximation of the row-block
        Newton matrix: GMRES still stops on the true Newton residual, so the solution is
        unchanged, only the iteration count grows.

    Returns
    -------
    SolverResult
        As ``solve_dual_cg``: ``solution`` C (S, m, n), ``residual`` (representer
        fixed-point residual), ``status`` ("optimal", "round_off_floor",
        "not_converged"), ``objective``, ``n_iter`` (Newton steps of the final stage),
        ``history``; ``info`` holds ``scores`` H = 𝒦C, ``residual_floor``,
        ``n_products`` (𝒦-products, all stages), ``n_gmres`` (GMRES iterations) and
        ``n_warm_start`` (Newton steps of the row-block warm start).
    """
    import torch

    if preconditioner not in ("row", None):
        raise ValueError(f"preconditioner must be 'row' or None, got {preconditioner!r}")
    t0 = time.perf_counter()
    pre = (RowBlockPreconditioner(prob.GX, prob.GY, scale=precond_scale)
           if preconditioner == "row" else None)
    count = {"products": 0, "cg": 0}

    def direction_for(lam):
        def direction(kmul, R, Rt, g, Kg, rtol, cap):
            Pinv = None if pre is None else pre.factor(R, Rt, lam)
            return _gmres_kernel_metric(kmul, R, Rt, Pinv, g, Kg, lam, rtol, cap,
                                        restart=restart)
        return direction

    C = torch.zeros_like(prob.Z)
    H = torch.zeros_like(prob.Z)
    n_warm = 0
    from rkbs.machines.losses import Loss, get_loss

    # a custom loss without per-row values gets no warm start (the solve is unchanged)
    has_rows = type(get_loss(prob.loss)).row_value is not Loss.row_value
    if warm_start and pre is not None and has_rows:
        start = dataclasses.replace(prob, lam=prob.lam * 10.0 ** int(continuation))
        C, n_warm = solve_row_blocks(start, pre, tol=1e-6)  # local regime: enough
        H = prob.scores(C)
        count["products"] += 1
    for k in range(int(continuation), 0, -1):
        stage = dataclasses.replace(prob, lam=prob.lam * 10.0 ** k)
        C, H, _, _, _ = _newton_cg(stage, C, H, 1e-3, max_iter, inner_max, verbose, count,
                                   direction=direction_for(stage.lam))
    C, H, history, floor, stalled = _newton_cg(prob, C, H, tol, max_iter, inner_max,
                                               verbose, count,
                                               direction=direction_for(prob.lam))
    res = history[-1]
    # the measured floor (key side first against query side first) decides
    status, floor = stall_status(res, tol, stalled >= 3,
                                 lambda: _measured_floor(prob, C, H, blockwise_scores(prob)))
    return SolverResult(C, res, status, len(history) - 1, history,
                        objective=prob.objective(C, H), solver="dual-newton-gmres",
                        seconds=time.perf_counter() - t0,
                        info={"scores": H, "residual_floor": floor,
                              "n_products": count["products"], "n_gmres": count["cg"],
                              "n_warm_start": n_warm})
