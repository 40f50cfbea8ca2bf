r"""Matrix-free Newton–CG for the dual pair-operator problem (scores N in the 10⁵).

The dual problem of :mod:`rkbs.machines.pair_dual`,

.. math::

    \min_C F(C) = L(\mathcal K C) + \lambda\langle C, \mathcal K C\rangle,\qquad
    (\mathcal K C)_a = \sum_b G^X_{ab}\, C_b\, G^{Y\top}_{ab},

needs the (N × N) score kernel :math:`\mathcal K = G^X \otimes G^Y` (blockwise) only
through products :math:`V \mapsto \mathcal K V`, which cost two batched matrix products
with the side Grams — :math:`G^X` (S m × S m) and :math:`G^Y` (S n × S n) — and never form
:math:`\mathcal K` (N = S m n; at S = 98, m = n = 32, N ≈ 10⁵: the side Grams take 80 MB
each where 𝒦 would take 80 GB). The Newton direction of the dense solver,

.. math::

    \delta = -\frac{1}{2\lambda}\bigl(g - R^\top u\bigr),\qquad
    (2\lambda I + R\,\mathcal K R^\top)\,u = R\,\mathcal K g,\qquad g = G + 2\lambda C,

(:func:`~rkbs.machines.pair_dual.solve_dual`; :math:`R^\top R` the loss Hessian in the
scores) is computed here by conjugate gradients on the SPD system in u, one 𝒦-product per
iteration — in the equivalent form :math:`(W\mathcal K + 2\lambda I)\delta = -g`, run
in the 𝒦-inner product in which it is self-adjoint (that is CG on the primal Newton
system in the operator space, :func:`_cg_kernel_metric`) —, to the relative accuracy
:math:`\min(0.5, \sqrt{r})` of an inexact Newton method (r the current residual: the
rate stays superlinear; Dembo, Eisenstat & Steihaug 1982). :math:`\mathcal K\delta` comes
out of the CG recursion for free; the step is Armijo-backtracked on F exactly as in the
dense solver. The stopping test is the same representer fixed-point residual
:math:`\lVert\mathcal K(G + 2\lambda C)\rVert/(\lVert\mathcal K G\rVert +
\lVert 2\lambda H\rVert)`, zero iff the representer form is stationary.
"""

from __future__ import annotations

import math
import time

import numpy as np

from rkbs.machines.losses import loss_gradient, loss_value
from rkbs.machines.pair_dual import (
    DualPairProblem,
    _fixed_point_residual,
    _measured_floor,
    blockwise_scores,
)
from rkbs.machines.pair_operator_solvers import loss_hessian_root
from rkbs.machines.protocol import SolverResult
from rkbs.machines.roundoff import stall_status

__all__ = ["solve_dual_cg"]


def _cg_kernel_metric(kmul, R, Rt, g, Kg, lam: float, rtol: float, max_iter: int):
    r"""CG on :math:`(W\mathcal K + 2\lambda I)\delta = -g` in the 𝒦-inner product.

    :math:`M = W\mathcal K + 2\lambda I` (:math:`W = R^\top R`) is self-adjoint and positive
    definite for :math:`\langle a, b\rangle_{\mathcal K} = a^\top\mathcal K b`
    (:math:`\mathcal K M` is symmetric), so CG runs in that inner product: this is CG on
    the primal Newton system :math:`(J^\top W J + 2\lambda I)\,\delta_A = -\nabla_A`
    written in representer coordinates, and its residual is measured in the operator
    space. Products 𝒦r, 𝒦p, 𝒦δ are carried by the recursion: one 𝒦-product
    (:math:`\mathcal K W\mathcal K p`) per iteration.

    Returns
    -------
    d, Kd, n_iter : the direction, 𝒦 d, and the iterations taken.
    """
    import torch

    d = torch.zeros_like(g)
    Kd = torch.zeros_like(g)
    r, Kr = -g, -Kg
    p, Kp = r.clone(), Kr.clone()
    rr = float((r * Kr).sum())                          # ‖r‖²_𝒦
    stop = rtol ** 2 * rr
    it = 0
    while it < max_iter:
        it += 1
        RKp = R(Kp)
        pMp = float((RKp * RKp).sum()) + 2.0 * lam * float((p * Kp).sum())
        if pMp <= 0 or rr <= 0:  # cannot happen for SPD input; guard against round-off
            break
        alpha = rr / pMp
        WKp = Rt(RKp)
        KWKp = kmul(WKp)
        d, Kd = d + alpha * p, Kd + alpha * Kp
        r = r - alpha * (WKp + 2.0 * lam * p)
        Kr = Kr - alpha * (KWKp + 2.0 * lam * Kp)
        rr_new = float((r * Kr).sum())
        if rr_new <= stop:
            break
        beta = rr_new / rr
        p, Kp = r + beta * p, Kr + beta * Kp
        rr = rr_new
    return d, Kd, it


def solve_dual_cg(prob: DualPairProblem, *, tol: float = 1e-8, max_iter: int = 100,
                  cg_max: int = 500, continuation: int = 3, verbose: bool = False):
    r"""Inexact Newton–CG in C, 𝒦 applied blockwise and never formed (module docstring).

    With ``continuation = k > 0`` the problem is first solved for
    :math:`\lambda_0 = 10^k\lambda, 10^{k-1}\lambda, \dots` to the loose residual 1e-3,
    each solve warm-starting the next (a homotopy in λ: large λ is well conditioned and
    nearly quadratic, so Newton takes full steps; the damped phase of a cold start at
    small λ — tens of Newton steps of hundreds of CG iterations each — is skipped). The
    final solve at λ is to ``tol``; the problem solved is unchanged.

    Parameters
    ----------
    prob : DualPairProblem
        Side Grams GX (S, m, S, m), GY (S, n, S, n), targets, mask, loss, λ.
    tol : float
        Target representer fixed-point residual.
    max_iter : int
        Newton steps (of the final solve).
    cg_max : int
        CG iterations per Newton step.
    continuation : int
        Decades of λ-continuation before the final solve (0: cold start at λ).

    Returns
    -------
    SolverResult
        As :func:`~rkbs.machines.pair_dual.solve_dual`: ``solution`` C (S, m, n),
        ``residual``, ``status`` ("optimal", "round_off_floor", "not_converged"),
        ``objective``, ``n_iter``, ``seconds``, ``history``; ``info`` holds the scores
        H = 𝒦C (S, m, n), ``residual_floor``, ``n_products`` (𝒦-products) and ``n_cg``
        (CG iterations), over all stages.
    """
    import dataclasses

    import torch

    t0 = time.perf_counter()
    count = {"products": 0, "cg": 0}
    C = torch.zeros_like(prob.Z)
    H = torch.zeros_like(prob.Z)
    for k in range(int(continuation), 0, -1):
        stage = dataclasses.replace(prob, lam=prob.lam * 10.0 ** k)
        C, H, _, _, _ = _newton_cg(stage, C, H, 1e-3, max_iter, cg_max, verbose, count)
    C, H, history, floor, stalled = _newton_cg(prob, C, H, tol, max_iter, cg_max, verbose,
                                               count)
    res = history[-1]
    # the measured floor (key side first against query side first) decides
    status, floor = stall_status(res, tol, stalled >= 3,
                                 lambda: _measured_floor(prob, C, H, blockwise_scores(prob)))
    return SolverResult(C, res, status, len(history) - 1, history,
                        objective=prob.objective(C, H), solver="dual-newton-cg",
                        seconds=time.perf_counter() - t0,
                        info={"scores": H, "residual_floor": floor,
                              "n_products": count["products"], "n_cg": count["cg"]})


def _newton_cg(prob, C, H, tol, max_iter, cg_max, verbose, count, direction=None):
    r"""Damped inexact Newton from (C, H = 𝒦C); returns C, H, history, floor, stalled
    (``floor`` is 0 here: the caller measures it, :func:`~rkbs.machines.pair_dual._measured_floor`).

    ``direction(kmul, R, Rt, g, Kg, rtol, max_iter) -> (d, Kd, n_inner)`` solves the Newton
    system :math:`(W\mathcal K + 2\lambda I)d = -g` to relative accuracy ``rtol``
    (default: :func:`_cg_kernel_metric`)."""

    lam = prob.lam
    eps = float(np.finfo(float).eps)

    def kmul(V):
        count["products"] += 1
        return prob.scores(V)

    history = []
    floor, stalled = 0.0, 0
    for it in range(max_iter + 1):
        G = loss_gradient(prob.loss, prob.Z, H, prob.mask)
        KG = kmul(G)
        res = _fixed_point_residual(KG, H, lam)
        history.append(res)
        if res < 1e-6:  # local regime: count steps without a 10 % gain
            best = min(history[:-1], default=math.inf)
            stalled = stalled + 1 if res > 0.9 * best else 0
        if verbose:
            print(f"[pair-operator/cg] λ={lam:.1e} step {it}: residual {res:.3e} "
                  f"({count['products']} products)")
        if res <= tol or stalled >= 3 or it == max_iter:
            break
        g = G + 2.0 * lam * C
        Kg = KG + 2.0 * lam * H
        R, Rt = loss_hessian_root(prob.loss, prob.Z, H, prob.mask)
        rtol = min(0.5, math.sqrt(res))
        if direction is None:
            d, Kd, n_cg = _cg_kernel_metric(kmul, R, Rt, g, Kg, lam, rtol, cg_max)
        else:
            d, Kd, n_cg = direction(kmul, R, Rt, g, Kg, rtol, cg_max)
        count["cg"] += n_cg
        f0 = float(loss_value(prob.loss, prob.Z, H, prob.mask) + lam * (C * H).sum())
        slope = float((Kg * d).sum())
        cH, dH, dKd = float((C * H).sum()), float((d * H).sum()), float((d * Kd).sum())
        step, accepted = 1.0, False
        for _ls in range(40):
            fn = float(loss_value(prob.loss, prob.Z, H + step * Kd, prob.mask)) + lam * (
                cH + 2.0 * step * dH + step * step * dKd)
            if fn <= f0 + 1e-4 * step * slope or fn <= f0 + 8 * eps * abs(f0):
                accepted = True
                break
            step *= 0.5
        if not accepted:
            break
        C = C + step * d
        H = kmul(C)  # recomputed, not accumulated: no drift between H and 𝒦C
    return C, H, history, floor, stalled
