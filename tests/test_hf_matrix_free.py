"""Matrix-free Newton–CG dual solver (solver="cg") against the dense dual solver."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dual_heads import dual_problem, head_data  # noqa: E402

from rkbs.kernels import EDPKernel  # noqa: E402
from rkbs.machines import DualPairOperatorMachine, SolverError, loss_gradient  # noqa: E402
from rkbs.machines.matrix_free import _cg_kernel_metric, solve_dual_cg  # noqa: E402
from rkbs.machines.pair_operator_solvers import (  # noqa: E402
    loss_hessian_root,
    score_kernel_matrix,
)


def _head_data(S=3, L=7, D=6, d=4, seed=0):
    return head_data(S=S, L=L, D=D, d=d, seed=seed)


_problem = dual_problem


@pytest.mark.parametrize("loss", ["softmax", "squared"])
def test_cg_matches_dense_solver(loss):
    X, P, mask = _head_data()
    Z = P if loss == "softmax" else np.log(P + 0.1)
    k = EDPKernel(dim=X.shape[-1])
    dense = DualPairOperatorMachine(k, loss=loss, lam=1e-2, tol=1e-11).fit(X, X, Z, mask)
    cg = DualPairOperatorMachine(k, loss=loss, lam=1e-2, tol=1e-11, solver="cg").fit(
        X, X, Z, mask)
    assert cg.status_ in ("optimal", "round_off_floor") and cg.residual_ <= 1e-9
    # both at residual <= 1e-9 of a strongly convex problem (2λ = 0.02): the scores agree
    # to ~residual * ‖𝒦‖ / 2λ; the objective, flat at the optimum, to ~1e-12 relative
    assert cg.objective_ == pytest.approx(dense.objective_, rel=1e-10)
    H1, H2 = dense.decision_function(X, X), cg.decision_function(X, X)
    np.testing.assert_allclose(H2, H1, atol=1e-6 * np.abs(H1).max())


def test_cg_reports_the_fixed_point_residual_of_its_solution():
    X, P, mask = _head_data(seed=1)
    prob = _problem(X, P, mask)
    sol = solve_dual_cg(prob, tol=1e-10)
    C, H, info = sol.solution, sol.info["scores"], {"residual": sol.residual}
    # recompute with the dense score kernel (another route to 𝒦C)
    K = score_kernel_matrix(prob.GX, prob.GY)
    N = K.shape[0]
    H2 = (K @ C.reshape(N)).reshape(C.shape)
    np.testing.assert_allclose(H2.numpy(), H.numpy(), atol=1e-9 * float(H.abs().max()))
    G = loss_gradient("softmax", prob.Z, H2, prob.mask)
    KG = (K @ G.reshape(N)).reshape(C.shape)
    res = float((KG + 2 * prob.lam * H2).norm()) / float(KG.norm() + 2 * prob.lam * H2.norm())
    assert res <= 1e-9 and info["residual"] <= 1e-10
    # the representer fixed point C = -G/(2λ) on the span of 𝒦 (round-off amplified by 1/2λ)
    np.testing.assert_allclose((K @ C.reshape(N)).numpy(),
                               (K @ (-G / (2 * prob.lam)).reshape(N)).numpy(),
                               atol=1e-6 * float(H.abs().max()))


def test_kernel_metric_cg_solves_the_newton_system():
    X, P, mask = _head_data(S=2, L=5, seed=2)
    prob = _problem(X, P, mask)
    K = score_kernel_matrix(prob.GX, prob.GY)
    N = K.shape[0]
    rng = np.random.default_rng(0)
    H = torch.as_tensor(rng.normal(size=P.shape))
    g = torch.as_tensor(rng.normal(size=P.shape)) * prob.mask
    R, Rt = loss_hessian_root("softmax", prob.Z, H, prob.mask)
    kmul = lambda V: (K @ V.reshape(N)).reshape(V.shape)
    d, Kd, n_it = _cg_kernel_metric(kmul, R, Rt, g, kmul(g), prob.lam, 1e-13, 10 * N)
    # reference: (W𝒦 + 2λI) δ = -g in the operator space, i.e. 𝒦(W𝒦 + 2λI)δ = -𝒦g,
    # solved densely through W = RᵀR built column by column
    E = torch.eye(N, dtype=torch.float64).reshape(N, *P.shape)
    W = torch.stack([Rt(R(e)).reshape(N) for e in E], 1)
    M = K @ (W @ K + 2 * prob.lam * torch.eye(N, dtype=torch.float64))
    ref = torch.linalg.lstsq(M, -(K @ g.reshape(N)), rcond=1e-14).solution
    np.testing.assert_allclose((K @ d.reshape(N)).numpy(), (K @ ref).numpy(),
                               atol=1e-7 * float((K @ ref).abs().max()))
    np.testing.assert_allclose(Kd.reshape(N).numpy(), (K @ d.reshape(N)).numpy(),
                               atol=1e-9 * float(Kd.abs().max()))  # carried 𝒦d = 𝒦 d
    # negative control: one CG iteration is far from the solution
    d1, _, _ = _cg_kernel_metric(kmul, R, Rt, g, kmul(g), prob.lam, 1e-13, 1)
    assert float((K @ (d1.reshape(N) - ref)).norm()) > 1e-3 * float((K @ ref).norm())


def test_cg_not_converged_is_reported_and_bad_solver_rejected():
    X, P, mask = _head_data(seed=3)
    # the machines' one failure policy: raise by default, keep the point with on_failure="warn"
    with pytest.raises(SolverError, match="not_converged"):
        DualPairOperatorMachine(EDPKernel(dim=6), lam=1e-2, tol=1e-12, max_iter=1,
                                solver="cg").fit(X, X, P, mask)
    with pytest.warns(RuntimeWarning, match="stopped with status 'not_converged'"):
        m = DualPairOperatorMachine(EDPKernel(dim=6), lam=1e-2, tol=1e-12, max_iter=1,
                                    solver="cg", on_failure="warn").fit(X, X, P, mask)
    assert m.status_ == "not_converged" and m.residual_ > 1e-12
    with pytest.raises(ValueError, match="solver must be one of .*, got 'qr'"):
        DualPairOperatorMachine(EDPKernel(dim=6), solver="qr")
