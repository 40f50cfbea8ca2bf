"""Row-block preconditioned matrix-free dual solver (solver="gmres") against the dense dual."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dual_heads import dual_problem, head_data  # noqa: E402

from rkbs.kernels import EDPKernel  # noqa: E402
from rkbs.machines import DualPairOperatorMachine  # noqa: E402
from rkbs.machines.losses import get_loss, loss_gradient  # noqa: E402
from rkbs.machines.matrix_free_gmres import _gmres_kernel_metric, solve_dual_gmres  # noqa: E402
from rkbs.machines.pair_dual import (  # noqa: E402
    _apply_blocks,
    _gram_blocks,
    side_kernels,
    solve_dual,
)
from rkbs.machines.pair_operator_solvers import (  # noqa: E402
    loss_hessian_root,
    score_kernel_matrix,
)
from rkbs.machines.pair_precond import RowBlockPreconditioner, solve_row_blocks  # noqa: E402


def _head_data(S=3, L=8, D=16, seed=0, causal=True):
    return head_data(S=S, L=L, D=D, seed=seed, causal=causal)


_problem = dual_problem


def _gradient_norm(prob, C):
    r"""‖∇F(A)‖_F at A = Σ Φ_Xᵀ C Φ_Y: :math:`\sqrt{g^\top\mathcal K g}`, g = G + 2λC."""
    H = prob.scores(C)
    g = loss_gradient(prob.loss, prob.Z, H, prob.mask) + 2.0 * prob.lam * C
    return math.sqrt(max(float((g * prob.scores(g)).sum()), 0.0))


def _score_bound(prob, C1, C2):
    r"""Bound on max |h₁ − h₂| from strong convexity (modulus 2λ) of F in A:
    ‖A₁ − A₂‖_F ≤ (‖∇F(A₁)‖ + ‖∇F(A₂)‖)/(2λ), and
    |h₁(x, y) − h₂(x, y)| ≤ ‖A₁ − A₂‖_F ‖Φ_X(x)‖ ‖Φ_Y(y)‖."""
    S, m = prob.GX.shape[:2]
    n = prob.GY.shape[1]
    kxx = prob.GX.reshape(S * m, S * m).diagonal().max()
    kyy = prob.GY.reshape(S * n, S * n).diagonal().max()
    dA = (_gradient_norm(prob, C1) + _gradient_norm(prob, C2)) / (2.0 * prob.lam)
    return dA * math.sqrt(float(kxx * kyy))


@pytest.mark.parametrize("loss", ["softmax", "squared"])
@pytest.mark.parametrize("D", [6, 64])
def test_gmres_matches_dense_dual(loss, D):
    X, P, mask = _head_data(D=D)
    Z = P if loss == "softmax" else np.log(P + 0.1)
    prob = _problem(X, Z, mask, loss)
    dense = solve_dual(prob, tol=1e-11)
    sol = solve_dual_gmres(prob, tol=1e-11)
    assert sol.status in ("optimal", "round_off_floor") and sol.residual <= 1e-7
    H1, H2 = dense.info["scores"], sol.info["scores"]
    bound = _score_bound(prob, dense.solution, sol.solution)
    diff = float((H1 - H2).abs().max())
    assert diff <= bound
    # the bound is informative: well below the score scale
    assert bound <= 1e-4 * float(H1.abs().max())
    assert sol.objective == pytest.approx(dense.objective, rel=1e-10)


def test_preconditioner_reduces_gmres_iterations():
    X, P, mask = _head_data(S=4, L=8, D=64, causal=False)
    prob = _problem(X, P, mask)
    pre = RowBlockPreconditioner(prob.GX, prob.GY)
    C, _ = solve_row_blocks(prob, pre, tol=1e-3)  # a point in the damped phase
    H = prob.scores(C)
    G = loss_gradient("softmax", prob.Z, H, prob.mask)
    g = G + 2 * prob.lam * C
    Kg = prob.scores(g)
    R, Rt = loss_hessian_root("softmax", prob.Z, H, prob.mask)
    out = {}
    cap = 300
    for name, Pinv in [("row", pre.factor(R, Rt, prob.lam)), ("none", None)]:
        d, Kd, it = _gmres_kernel_metric(prob.scores, R, Rt, Pinv, g, Kg, prob.lam, 1e-6, cap)
        rho = Rt(R(prob.scores(d))) + 2 * prob.lam * d + g
        rel = float(prob.scores(rho).norm()) / float(Kg.norm())
        np.testing.assert_allclose(Kd.numpy(), prob.scores(d).numpy(),
                                   atol=1e-10 * float(Kd.abs().max()))
        out[name] = (it, rel)
    # preconditioned: the true inexact-Newton test ‖𝒦ρ‖ ≤ rtol ‖𝒦g‖ is met in a few
    # iterations (slack 1e-6 relative for the round-off of recomputing 𝒦ρ)
    assert out["row"][0] <= 6 and out["row"][1] <= 1e-6 * (1 + 1e-6), out
    # unpreconditioned: 50× the iterations do not reach it (measured: ~2000 needed)
    assert out["none"][0] == cap and out["none"][1] > 1e-6, out


def test_row_block_bound_and_its_negative_control():
    r"""‖𝒦̃^{1/2}P⁻¹M𝒦̃^{-1/2} − I‖₂ ≤ ε = ‖𝒦̃^{-1/2}𝒦𝒦̃^{-1/2} − I‖₂ for the exact W;
    with W's off-diagonal (the softmax coupling) dropped from P the bound fails."""
    X, P, mask = _head_data(S=2, L=5, D=16, causal=False, seed=3)
    prob = _problem(X, P, mask)
    S, m, n = prob.Z.shape
    N = S * m * n
    K = score_kernel_matrix(prob.GX, prob.GY)
    pre = RowBlockPreconditioner(prob.GX, prob.GY)
    Kt = torch.block_diag(*pre.blocks.reshape(S * m, n, n))
    # the row blocks are the rows' own entries of 𝒦
    rows = torch.arange(N) // n
    same = rows[:, None] == rows[None, :]
    np.testing.assert_allclose(Kt.numpy(), torch.where(same, K, 0).numpy(), rtol=1e-14)
    ev, U = torch.linalg.eigh(Kt)
    half, ihalf = (U * ev.sqrt()) @ U.T, (U / ev.sqrt()) @ U.T
    eps = float(torch.linalg.matrix_norm(ihalf @ K @ ihalf - torch.eye(N, dtype=K.dtype), 2))
    H = prob.scores(0.01 * torch.randn(S, m, n, generator=torch.Generator().manual_seed(0),
                                       dtype=K.dtype))
    R, Rt = loss_hessian_root("softmax", prob.Z, H, prob.mask)
    Wm = Rt(R(torch.eye(N, dtype=K.dtype).reshape(N, S, m, n))).reshape(N, N).T
    I = torch.eye(N, dtype=K.dtype)
    lam = prob.lam
    M = Wm @ K + 2 * lam * I

    def gap(Wp):
        Pinv = torch.linalg.inv(Wp @ Kt + 2 * lam * I)
        return float(torch.linalg.matrix_norm(half @ Pinv @ M @ ihalf - I, 2))

    assert eps < 1
    assert gap(Wm) <= eps * (1 + 1e-8)
    assert gap(torch.diag(Wm.diagonal())) > 2 * eps  # negative control
    # the factor() route equals the dense P⁻¹
    V = torch.randn(S, m, n, generator=torch.Generator().manual_seed(1), dtype=K.dtype)
    ref = torch.linalg.solve(Wm @ Kt + 2 * lam * I, V.reshape(N)).reshape(S, m, n)
    np.testing.assert_allclose(pre.factor(R, Rt, lam)(V).numpy(), ref.numpy(),
                               rtol=1e-8, atol=1e-8 * float(ref.abs().max()))


def test_wrong_preconditioner_changes_iterations_not_the_solution():
    X, P, mask = _head_data(S=3, L=8, D=64)
    prob = _problem(X, P, mask)
    good = solve_dual_gmres(prob, tol=1e-11)
    bad = solve_dual_gmres(prob, tol=1e-11, precond_scale=30.0)
    assert bad.status in ("optimal", "round_off_floor")
    assert bad.info["n_gmres"] > good.info["n_gmres"]
    diff = float((good.info["scores"] - bad.info["scores"]).abs().max())
    assert diff <= _score_bound(prob, good.solution, bad.solution)


def test_perturbed_solution_fails_the_residual_check():
    X, P, mask = _head_data(S=3, L=8, D=64)
    prob = _problem(X, P, mask)
    sol = solve_dual_gmres(prob, tol=1e-11)
    assert prob.residual(sol.solution) <= 1e-7
    C = sol.solution.clone()
    C[0, 3, 1] += 1e-6 * float(C.abs().max())
    assert prob.residual(C) > 1e-4


def test_row_block_warm_start_is_exact_for_one_row():
    """With one map of one query, 𝒦 = 𝒦̃: the warm start alone solves the problem; with
    two maps it does not (the cross-map coupling is missing) — the negative control."""
    X, P, mask = _head_data(S=2, L=6, D=16, causal=False, seed=4)
    one = _problem(X[:1], P[:1, :1], mask[:1, :1])
    # one query row: build the (1, 1, 1, 1) query Gram from the first state
    kx, _ = side_kernels(EDPKernel(dim=16))
    Xq = torch.as_tensor(X[:1, :1])
    one.GX = _gram_blocks(kx, Xq, Xq)
    C, _ = solve_row_blocks(one, RowBlockPreconditioner(one.GX, one.GY), tol=1e-12)
    dense = solve_dual(one, tol=1e-12)
    # it stops at its round-off floor (a few 1e-9 here); the scores agree with the dense
    # dual's within the strong-convexity bound
    assert one.residual(C) <= 1e-7
    diff = float((one.scores(C) - dense.info["scores"]).abs().max())
    assert diff <= _score_bound(one, C, dense.solution)
    two = _problem(X, P, mask)
    C2, _ = solve_row_blocks(two, RowBlockPreconditioner(two.GX, two.GY), tol=1e-12)
    assert two.residual(C2) > 1e-4


@pytest.mark.parametrize("loss", ["softmax", "squared", "logistic"])
def test_row_values_sum_to_the_loss(loss):
    rng = np.random.default_rng(5)
    A = torch.as_tensor(rng.normal(size=(2, 4, 5)))
    mask = torch.as_tensor(rng.random((2, 4, 5)) < 0.7)
    mask[0, 1] = False  # an empty row
    if loss == "softmax":
        Z = torch.softmax(torch.as_tensor(rng.normal(size=(2, 4, 5))), -1)
    elif loss == "logistic":
        Z = torch.as_tensor(np.sign(rng.normal(size=(2, 4, 5))))
    else:
        Z = torch.as_tensor(rng.normal(size=(2, 4, 5)))
    L = get_loss(loss)
    rv = L.row_value(Z, A, mask)
    assert rv.shape == (2, 4) and float(rv[0, 1]) == 0.0
    assert float(rv.sum()) == pytest.approx(float(L.value(Z, A, mask)), rel=1e-14)


def test_symmetric_block_product_matches_einsum_route():
    X, P, mask = _head_data(S=3, L=5, D=6)
    prob = _problem(X, P, mask)
    C = torch.as_tensor(np.random.default_rng(6).normal(size=P.shape))
    ref = _apply_blocks(prob.GX, C, prob.GY)
    np.testing.assert_allclose(prob.scores(C).numpy(), ref.numpy(),
                               rtol=1e-12, atol=1e-12 * float(ref.abs().max()))


def test_machine_solver_choices():
    X, P, mask = _head_data(S=2, L=6, D=16)
    k = EDPKernel(dim=16)
    auto = DualPairOperatorMachine(k, tol=1e-10).fit(X, X, P, mask)
    assert auto.n_products_ is None  # N = 72 ≤ 4096: the dense solver
    gm = DualPairOperatorMachine(k, tol=1e-10, solver="gmres").fit(X, X, P, mask)
    assert gm.n_products_ > 0 and gm.status_ in ("optimal", "round_off_floor")
    np.testing.assert_allclose(gm.decision_function(X, X), auto.decision_function(X, X),
                               atol=1e-6 * np.abs(auto.decision_function(X, X)).max())
    with pytest.raises(ValueError, match="solver must be one of"):
        DualPairOperatorMachine(k, solver="krylov")
