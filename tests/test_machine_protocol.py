"""What every machine shares: scikit-learn parameters, names, failure policy, messages."""

from __future__ import annotations

import numpy as np
import pytest

from rkbs.features import TaylorFeatures
from rkbs.kernels import EDPKernel
from rkbs.machines import (
    BinaryKernelMachine,
    DualPairOperatorMachine,
    PairOperatorMachine,
    SolverError,
)

pytest.importorskip("torch")


def _binary_data(seed=0, m=8, n=6, d=2):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, d)), rng.standard_normal((n, d)), rng.standard_normal((m, n))


def _maps(seed=0, S=2, m=6, n=6, d=3):
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((S, m, d)), rng.standard_normal((S, n, d))
    E = np.exp(rng.standard_normal((S, m, n)))
    return X, Y, E / E.sum(-1, keepdims=True)


MACHINES = {
    "binary": lambda: BinaryKernelMachine(TaylorFeatures(degree=2), p=1.5, lam_x=0.3,
                                          solver="torch", tol=1e-11),
    "pair": lambda: PairOperatorMachine(TaylorFeatures(degree=2), lam=0.1, tol=1e-11),
    "dual": lambda: DualPairOperatorMachine(EDPKernel(), lam=0.1, tol=1e-11),
}


def _fit(name, mach):
    if name == "binary":
        X, Y, Z = _binary_data()
    else:
        X, Y, Z = _maps()
    return mach.fit(X, Y, Z)


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_sklearn_clone_get_set_params(name):
    from sklearn.base import clone

    mach = MACHINES[name]()
    params = mach.get_params()
    twin = clone(mach)  # raises if a constructor modified a parameter
    assert type(twin) is type(mach) and sorted(twin.get_params()) == sorted(params)
    assert twin.tol == mach.tol and twin is not mach
    twin.set_params(tol=1e-9)
    assert twin.tol == 1e-9 and mach.tol == 1e-11
    with pytest.raises(ValueError, match="invalid parameter"):
        twin.set_params(nosuch=1)
    with pytest.raises(ValueError, match="tol"):  # validated as by the constructor
        twin.set_params(tol=-1.0)
    src = "source" if name == "dual" else "features"
    if not hasattr(twin.get_params(deep=False)[src], "set_params"):
        with pytest.raises(ValueError, match="has no set_params"):
            twin.set_params(**{f"{src}__degree": 3})
    # a clone fits to the same solution (same problem, deterministic solver)
    a, b = _fit(name, mach), _fit(name, clone(mach))
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=0, atol=1e-12 * np.abs(a.coef_).max())


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_common_fitted_attribute_names(name):
    mach = _fit(name, MACHINES[name]())
    for attr in ("coef_", "solve_time_", "n_features_", "residual_", "status_", "objective_"):
        assert hasattr(mach, attr), attr
    assert mach.status_ == "optimal" and mach.residual_ <= 1e-11
    assert mach.solve_time_ > 0 and len(mach.n_features_) == 2


def test_binary_on_failure_warn_keeps_newton_point():
    X, Y, Z = _binary_data()
    kw = dict(p=1.5, solver="torch", max_iter=1, fallback=None)
    with pytest.raises(SolverError, match="status 'max_iter' with residual"):
        BinaryKernelMachine(TaylorFeatures(degree=2), **kw).fit(X, Y, Z)
    with pytest.warns(RuntimeWarning, match="status 'max_iter' with residual"):
        m = BinaryKernelMachine(TaylorFeatures(degree=2), on_failure="warn", **kw).fit(X, Y, Z)
    assert m.status_ == "max_iter" and m.residual_ > 1e-10
    with pytest.raises(ValueError, match="on_failure must be 'raise' or 'warn', got 'x'"):
        BinaryKernelMachine(TaylorFeatures(degree=2), on_failure="x")


def test_p1_message_names_users_p_and_one_sided():
    F = TaylorFeatures(degree=2)
    with pytest.raises(ValueError, match=r"p=1 is accepted only one-sided \(lam_y=None\)"):
        BinaryKernelMachine(F, p=1)
    with pytest.raises(ValueError, match="needs a cvxpy solver"):
        BinaryKernelMachine(F, p=1, lam_y=None, solver="torch")
    X, _, Z = _binary_data()
    m = BinaryKernelMachine(F, p=1, lam_y=None, reg="norm").fit(X, None, Z)
    assert m.status_ == "optimal"  # the docstring's promise: p = 1 one-sided works


def test_squared_loss_at_scale_1e8_is_rescaled():
    """F(sw, sv; sZ) = s²F(w, v; Z) for the squared loss with R = t²: the fit on 1e8·Z
    must be 1e8 × the fit on Z. Both solves reach residual ≲ 1e-13 on a strictly convex
    problem of condition ≲ 1e3, so 1e-9 relative is ample."""
    X, Y, Z = _binary_data(1)
    F = TaylorFeatures(degree=2)
    a = BinaryKernelMachine(F, p=1.5).fit(X, Y, Z)
    b = BinaryKernelMachine(F, p=1.5).fit(X, Y, 1e8 * Z)
    assert b.solver_info_["target_scale"] == pytest.approx(np.abs(1e8 * Z).max())
    np.testing.assert_allclose(b.w_ / 1e8, a.w_, rtol=0, atol=1e-9 * np.abs(a.w_).max())
    assert b.residual_ <= 1e-10


def test_numerical_failure_names_the_scale():
    """Where rescaling does not apply (R = t³), Clarabel's 'infeasible' on an
    unconstrained problem is reported as a numerical failure naming max|Z|."""
    X, Y, Z = _binary_data(1)
    with pytest.raises(SolverError, match=r"numerical failure.*max\|Z\| = [0-9.]+e\+08") as e:
        BinaryKernelMachine(TaylorFeatures(degree=2), p=1.5, reg=("power", 3.0)).fit(
            X, Y, 1e8 * Z)
    assert e.value.status == "numerical_failure"


def test_choose_pair_solver_and_make_pair_machine():
    from rkbs.machines import choose_pair_solver, make_pair_machine

    X, Y, _ = _maps()  # 2·6·6 = 72 scores
    small = TaylorFeatures(EDPKernel(dim=3), degree=1)  # D = 4
    big = TaylorFeatures(EDPKernel(dim=3), degree=3)    # D = 20
    assert choose_pair_solver(small, X, Y) == "primal"   # D² = 16
    assert choose_pair_solver(big, X, Y) == "primal"     # D² = 400 > 72 scores: still primal
    huge = TaylorFeatures(EDPKernel(dim=64), degree=2)   # D = 2145: D² = 4.6e6 > 2**22
    assert choose_pair_solver(huge, X, Y) == "dual"
    assert choose_pair_solver(big, X, Y, "nuclear") == "primal"
    assert choose_pair_solver(EDPKernel(), X, Y) == "dual"
    assert isinstance(make_pair_machine(EDPKernel(), X, Y), DualPairOperatorMachine)
    with pytest.raises(ValueError, match="Frobenius regularizer only"):
        make_pair_machine(big, X, Y, regularizer="nuclear", solver="dual")
    with pytest.raises(ValueError, match="solver must be one of"):
        make_pair_machine(big, X, Y, solver="fast")


def test_problem_interface_gradient_and_residual():
    """The problems share gradient/residual: the gradient matches central differences of
    the objective (FD error O(h²) + O(eps/h) ≈ 1e-9 relative at h = 1e-5, so 1e-6), and
    the residual is ~0 at a fitted optimum but not at a perturbed point (control)."""
    import torch

    from rkbs.machines.pair_dual import DualPairProblem
    from rkbs.machines.pair_operator_solvers import PairProblem

    X, Y, P = _maps(3)
    F = TaylorFeatures(EDPKernel(dim=3), degree=2)
    mach = PairOperatorMachine(F, lam=0.1, tol=1e-12).fit(X, Y, P)
    t = lambda a: torch.as_tensor(np.asarray(a, float))  # noqa: E731
    PX, PY = (t(F.transform_x(X.reshape(-1, 3))).reshape(2, 6, -1),
              t(F.transform_y(Y.reshape(-1, 3))).reshape(2, 6, -1))
    prob = PairProblem(PX, PY, t(P), torch.ones(P.shape, dtype=torch.bool), "softmax",
                       "frobenius", 0.1)
    A = t(mach.A_)
    assert prob.residual(A) <= 1e-11
    rng = np.random.default_rng(0)
    E = t(rng.standard_normal(A.shape))
    A1 = A + 1e-2 * E
    h = 1e-5
    fd = (prob.objective(A1 + h * E) - prob.objective(A1 - h * E)) / (2 * h)
    g = float((prob.gradient(A1) * E).sum())
    assert abs(fd - g) <= 1e-6 * abs(g) and prob.residual(A1) > 1e-4
    GX = torch.einsum("aik,bjk->aibj", PX, PX)
    GY = torch.einsum("aik,bjk->aibj", PY, PY)
    dprob = DualPairProblem(GX, GY, t(P), torch.ones(P.shape, dtype=torch.bool), "softmax", 0.1)
    dual = DualPairOperatorMachine(F, lam=0.1, tol=1e-12).fit(X, Y, P)
    C = t(dual.coef_)
    assert dprob.residual(C) <= 1e-10
    assert dprob.residual(C + 1e-2 * t(rng.standard_normal(C.shape))) > 1e-4
