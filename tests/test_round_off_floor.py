"""The measured round-off floors of the pair-operator residuals (primal and dual).

A solver that stalls above ``tol`` reports ``status_ = "round_off_floor"`` only when its
residual lies below the floor: twice the spread of the residual over equally exact
float64 evaluation orders. These tests check that the floor is tiny where the residual
is well determined, that it grows where the problem is ill-conditioned, and — the
negative control — that it never excuses a wrong solution.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rkbs.attention.compare import comparison_features, planted_bilinear  # noqa: E402
from rkbs.kernels import EDPKernel  # noqa: E402
from rkbs.machines import DualPairOperatorMachine, PairOperatorMachine  # noqa: E402
from rkbs.machines.pair_dual import _measured_floor  # noqa: E402
from rkbs.machines.pair_operator_solvers import score_kernel_matrix  # noqa: E402


@pytest.fixture(scope="module")
def planted():
    return planted_bilinear(n_seq=12, m=6, n=6, dim=4, seed=0)


def _primal(planted, lam):
    X, Y, P, *_ = planted
    feats = comparison_features(4, taylor_degrees=(), prf_dims=(), seed=0)["linear"]
    mach = PairOperatorMachine(feats, lam=lam, tol=1e-11).fit(X, Y, P)
    prob, _ = mach._problem(X, Y, P, None)
    return mach, prob


def test_primal_floor_grows_with_ill_conditioning_and_sets_the_status(planted):
    """Measured on this problem: floors 1.4e-14, 2.5e-12, 1.9e-10 at λ = 0.1, 1e-3, 1e-5.
    At λ = 1e-5 Newton stalls at 7.9e-11 > tol = 1e-11, below the floor: status
    round_off_floor (counted as converged); at λ = 0.1 the floor is ~60 eps and the
    solve is plainly optimal."""
    floors = {}
    for lam in (1e-1, 1e-3, 1e-5):
        mach, prob = _primal(planted, lam)
        floors[lam] = prob.residual_floor(torch.as_tensor(mach.A_, dtype=torch.float64))
        if lam == 1e-1:
            assert mach.status_ == "optimal" and floors[lam] < 1e-12
        if lam == 1e-5:
            assert mach.status_ == "round_off_floor"
            assert mach.tol < mach.residual_ <= mach.residual_floor_ == pytest.approx(
                floors[lam], rel=1e-12)
    assert floors[1e-1] < floors[1e-3] < floors[1e-5]  # small λ: the optimal G cancels more


def test_primal_floor_does_not_excuse_a_wrong_solution(planted):
    """Negative control: at A perturbed by 1e-6 relative the residual exceeds the floor
    there by orders of magnitude, so such a point could never be reported as at the
    round-off floor."""
    mach, prob = _primal(planted, 1e-3)
    A = torch.as_tensor(mach.A_, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    Ap = A * (1 + 1e-6 * torch.randn(A.shape, generator=g, dtype=torch.float64))
    assert prob.residual(Ap) > 1e3 * prob.residual_floor(Ap)


def test_dual_floor_is_round_off_sized_and_catches_a_wrong_solution(planted):
    X, Y, P, *_ = planted
    mach = DualPairOperatorMachine(EDPKernel(dim=4), lam=1e-3, tol=1e-11).fit(X, Y, P)
    from rkbs.machines.pair_dual import DualPairProblem, _points

    Xb, Yb = _points(X, "X"), _points(Y, "Y")
    GX, GY = mach._grams(Xb, Yb, Xb, Yb)
    prob = DualPairProblem(GX=GX, GY=GY, Z=torch.as_tensor(P, dtype=torch.float64),
                           mask=torch.ones(P.shape, dtype=torch.bool), loss="softmax",
                           lam=1e-3)
    C = mach._C
    K = score_kernel_matrix(prob.GX, prob.GY)

    def dense(V):
        return (K @ V.reshape(-1)).reshape(V.shape)

    H = prob.scores(C)
    floor = _measured_floor(prob, C, H, dense)
    # measured 2.1e-10 (the EDP score kernel on these 4-dim states is ill-conditioned)
    assert 0.0 <= floor < 1e-9
    assert mach.residual_ <= max(mach.tol, floor)
    g = torch.Generator().manual_seed(1)
    Cp = C * (1 + 1e-6 * torch.randn(C.shape, generator=g, dtype=torch.float64))
    from rkbs.machines.losses import loss_gradient
    from rkbs.machines.pair_dual import _fixed_point_residual

    Hp = prob.scores(Cp)
    res_p = _fixed_point_residual(prob.scores(loss_gradient(prob.loss, prob.Z, Hp, prob.mask)),
                                  Hp, prob.lam)
    assert res_p > 1e3 * _measured_floor(prob, Cp, Hp, dense)
    assert np.isfinite(res_p)
