"""The Newton solver: numpy/torch parity, tight residuals, change of variables for r < 2."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rkbs.features import TaylorFeatures  # noqa: E402
from rkbs.machines.problem import BinaryProblem, Side  # noqa: E402
from rkbs.machines.regularizers import parse_regularizer  # noqa: E402
from rkbs.machines.torch_solver import torch_solve  # noqa: E402


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
