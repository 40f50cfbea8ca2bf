"""The Newton solver: numpy/torch parity, tight residuals, change of variables for r < 2."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rkbs.features import TaylorFeatures  # noqa: E402
from rkbs.machines.newton import torch_solve  # noqa: E402
from rkbs.machines.problem import BinaryProblem, Side  # noqa: E402
from rkbs.machines.regularizers import parse_regularizer  # noqa: E402


def problem(to, p=1.5, loss="squared", coupling="additive"):
    rng = np.random.default_rng(0)
    F = TaylorFeatures(degree=3)
    X, Y = rng.standard_normal((15, 3)), rng.standard_normal((11, 3))
    PX, PY = F.transform_x(X), F.transform_y(Y)
    Z = rng.standard_normal((15, 11))
    reg = parse_regularizer("square")
    q = p / (p - 1)
    return BinaryProblem(to(PX), to(PY), to(Z), to(np.ones(Z.shape, bool)), loss, coupling,
                         Side(to(PX), p, 0.1, reg), Side(to(PY), q, 0.2, reg))


@pytest.mark.parametrize("p", [1.25, 1.5, 3.0, 4.0])
def test_numpy_torch_parity_and_residual(p):
    rn = torch_solve(problem(np.asarray, p), tol=1e-11, seed=0)
    rt = torch_solve(problem(torch.as_tensor, p), tol=1e-11, seed=0)
    assert rn.status == rt.status == "optimal"
    assert rn.residual <= 1e-11 and rt.residual <= 1e-11
    # same algorithm, same start: iterates agree to round-off amplified by ≲ 1e3
    np.testing.assert_allclose(rt.w.numpy(), rn.w, atol=1e-9 * np.abs(rn.w).max())


def test_stationary_point_is_minimum():
    """No direction decreases F at the returned point (convex additive problem)."""
    prob = problem(np.asarray, 1.5)
    r = torch_solve(prob, tol=1e-12, seed=0)
    F0 = float(prob.objective(r.w, r.v))
    rng = np.random.default_rng(5)
    for _ in range(20):
        dw, dv = rng.standard_normal(r.w.shape), rng.standard_normal(r.v.shape)
        # step 1e-4: the objective rises by O(1e-8) ≫ its round-off (1e-13·|F|)
        assert float(prob.objective(r.w + 1e-4 * dw, r.v + 1e-4 * dv)) > F0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    rc = torch_solve(problem(lambda a: torch.as_tensor(a, device="cuda"), 1.5), tol=1e-11, seed=0)
    rn = torch_solve(problem(np.asarray, 1.5), tol=1e-11, seed=0)
    np.testing.assert_allclose(rc.w.cpu().numpy(), rn.w, atol=1e-9 * np.abs(rn.w).max())


def _direction_inputs(prob, w, v, blocks):
    from rkbs.machines.newton import _dpsi, _to_u

    c = {"x": w, "y": v}
    u = {s: _to_u(c[s], prob.sides[s].r) for s in blocks}
    ga, gb, G, a, b, A = prob.score_gradients(w, v)
    sg = {"x": ga, "y": gb}
    Phis = {"x": prob.Phi_X, "y": prob.Phi_Y}
    iot = {s: prob.sides[s].iota(c[s]) for s in blocks}
    scl = {s: prob.sides[s].reg_scale(c[s]) for s in blocks}
    gc = {s: Phis[s].T @ sg[s] + scl[s] * iot[s] for s in blocks}
    gu = {s: _dpsi(u[s], prob.sides[s].r) * gc[s] for s in blocks}
    return u, c, a, b, A, gu, iot, scl, gc


@pytest.mark.parametrize("p", [1.5, 3.0])
@pytest.mark.parametrize("loss,coupling,blocks", [
    ("squared", "additive", ("x", "y")), ("logistic", "additive", ("x", "y")),
    ("squared", "product", ("x",)), ("squared", "product", ("y",)),
    ("softmax", "additive", ("y",)),
])
def test_woodbury_direction_matches_dense_hessian(p, loss, coupling, blocks):
    """The blockwise Woodbury step equals -H⁻¹g with H from autograd (dense reference).

    H is the autograd Hessian of u ↦ F(ψ(u)) minus the dropped term diag(∇_c F ⊙ ψ''(u))
    (module docstring of rkbs.machines.newton), assembled and solved densely in float64.
    """
    from rkbs.machines.newton import _exponent, _from_u, _newton_direction

    rng = np.random.default_rng(3)
    F = TaylorFeatures(degree=3)
    X, Y = rng.standard_normal((9, 3)), rng.standard_normal((7, 3))
    PX, PY = torch.as_tensor(F.transform_x(X)), torch.as_tensor(F.transform_y(Y))
    if loss == "logistic":
        Z = np.sign(rng.standard_normal((9, 7)))
    elif loss == "softmax":
        Z = rng.dirichlet(np.ones(7), size=9)
    else:
        Z = rng.standard_normal((9, 7))
    Z = torch.as_tensor(Z)
    q = p / (p - 1)
    reg = parse_regularizer("square")
    prob = BinaryProblem(PX, PY, Z, torch.ones(Z.shape, dtype=torch.bool), loss, coupling,
                         Side(PX, p, 0.1, reg), Side(PY, q, 0.2, reg))
    w = torch.as_tensor(rng.standard_normal(PX.shape[1]) * 0.1)
    v = torch.as_tensor(rng.standard_normal(PY.shape[1]) * 0.1)
    u, c, a, b, A, gu, iot, scl, gc = _direction_inputs(prob, w, v, blocks)
    sizes = [u[s].shape[0] for s in blocks]

    def F_of_u(uflat):
        cc = dict(c)
        for s, part in zip(blocks, torch.split(uflat, sizes)):
            cc[s] = _from_u(part, prob.sides[s].r)
        return prob.objective(cc["x"], cc["y"])

    u0 = torch.cat([u[s] for s in blocks])
    H = torch.autograd.functional.hessian(F_of_u, u0)
    dropped = []
    for s in blocks:
        e = _exponent(prob.sides[s].r)
        psi2 = e * (e - 1.0) * u[s].abs() ** (e - 2.0) * torch.sign(u[s]) if e != 1.0 \
            else torch.zeros_like(u[s])
        dropped.append(gc[s] * psi2)
    H = H - torch.diag(torch.cat(dropped))
    ref = -torch.linalg.solve(H, torch.cat([gu[s] for s in blocks]))
    d = _newton_direction(prob, blocks, u, c, a, b, A, gu, iot, scl)
    got = torch.cat([d[s] for s in blocks])
    # both solve the same system in float64; the error is round-off amplified by the
    # condition number of H (≲ 1e6 here, checked below), so 1e-8 relative is ample
    cond = torch.linalg.cond(H).item()
    assert cond < 1e7
    rel = ((got - ref).norm() / ref.norm()).item()
    assert rel <= 1e-8, rel


def test_softmax_additive_from_seeded_start_converges_like_cvxpy():
    """Regression: from the seeded start the Newton direction once failed the line search
    (status 'stalled' after 0 iterations); the steepest-descent safeguard must carry the
    solve to the optimum. Reference: cvxpy/Clarabel + polish on the same problem.
    Tolerance: both residuals ≤ 1e-10 on a strictly convex block, so objectives agree to
    ~1e-10 relative; 1e-9 leaves a factor 10 for round-off."""
    from rkbs import BinaryKernelMachine, PolynomialFeatures, PolynomialKernel

    rng = np.random.default_rng(1)
    d, m, n = 4, 12, 10
    F = PolynomialFeatures(PolynomialKernel(W_Q=rng.standard_normal((d, d)),
                                            W_K=rng.standard_normal((d, d)), degree=2, c=1.0))
    X, Y = rng.standard_normal((m, d)), rng.standard_normal((n, d))
    Z = rng.dirichlet(np.ones(n), size=m)
    kw = dict(p=1.5, coupling="additive", loss="softmax", lam_x=0.1, lam_y=0.1, seed=0)
    t = BinaryKernelMachine(F, solver="torch", **kw).fit(X, Y, Z)
    c = BinaryKernelMachine(F, solver="clarabel", **kw).fit(X, Y, Z)
    assert t.residual_ <= 1e-10
    assert abs(t.objective_ - c.objective_) <= 1e-9 * abs(c.objective_)


def test_representer_grid_p125_logistic_converges():
    """Regression (issue 15): the representer figure's full grid, problem 2 (EDP Taylor
    N = 3, p = 1.25, logistic) stalled at residual 4.6e-4 after 200 iterations: Newton's
    curvature floor froze coordinates whose u was tiny (ψ'(u) ≈ 0). Reference: the same
    problem by cvxpy/Clarabel + polish. Both residuals ≤ 1e-10 on a strictly convex
    problem, so the objectives agree to ~1e-10 relative; 1e-9 leaves a factor 10."""
    import warnings

    from paper_figures.fig_representer_certificates import fitting_problems
    from rkbs import BinaryKernelMachine

    prob = fitting_problems(quick=False)[1]
    assert prob.label == "EDP, p=1.25, logistic"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback allowed
        t = prob.fit()
    assert t.solver_info_["fallback"] is None and t.residual_ <= 1e-10
    c = BinaryKernelMachine(prob.machine.features, p=1.25, loss="logistic", lam_x=0.1,
                            lam_y=0.1, solver="clarabel").fit(prob.X, prob.Y, prob.Z)
    assert abs(t.objective_ - c.objective_) <= 1e-9 * abs(c.objective_)


def test_direction_is_continuous_at_a_zero_coordinate():
    """With the change of variables (r < 2) a coordinate at u_j = 0 has ψ'(0) = 0; its
    Newton step must be the limit of the steps at u_j → 0 (which is nonzero), not 0 as
    a floored curvature made it (that froze the coordinate for good)."""
    from rkbs.machines.newton import _newton_direction

    prob = problem(torch.as_tensor, p=1.5, loss="logistic")
    prob.Z = torch.sign(prob.Z)
    rng = np.random.default_rng(2)
    w = torch.as_tensor(rng.standard_normal(prob.Phi_X.shape[1]) * 0.1)
    v = torch.as_tensor(rng.standard_normal(prob.Phi_Y.shape[1]) * 0.1)

    def step_with(wj):
        w2 = w.clone()
        w2[3] = wj
        u, c, a, b, A, gu, iot, scl, gc = _direction_inputs(prob, w2, v, ("x", "y"))
        return _newton_direction(prob, ("x", "y"), u, c, a, b, A, gu, iot, scl, gc)["x"]

    d0, d1 = step_with(0.0), step_with(1e-18)  # u_j = sign·|c_j|^{1/2} = 1e-9
    assert abs(float(d0[3])) > 1e-3 * float(d0.abs().max())  # it moves
    # the direction is smooth in u_j: a change of 1e-9 in u_j moves it by O(1e-9)
    # relative (times the condition of the Newton system, ≲ 1e3 here)
    assert float((d0 - d1).norm() / d0.norm()) <= 1e-6
