"""Binary kernel machines: KernelRidge equality, closed forms, solvers agree, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from rkbs.features import PolynomialFeatures, TaylorFeatures
from rkbs.kernels import EDPKernel, PolynomialKernel
from rkbs.machines import (
    BinaryKernelMachine,
    SolverError,
    additive_ridge,
    kernel_ridge_coefficients,
    one_sided_ridge,
)


def make_data(seed=0, m=14, n=10, d=3, loss="squared"):
    """Small EDP problem with Taylor features (D = C(d+3, 3) = 20 > m), asymmetric W_Q ≠ W_K."""
    rng = np.random.default_rng(seed)
    k = EDPKernel(W_Q=rng.standard_normal((d, d)), W_K=rng.standard_normal((d, d)))
    F = TaylorFeatures(k, degree=3)
    X, Y = rng.standard_normal((m, d)), rng.standard_normal((n, d))
    Z = rng.standard_normal((m, n))
    if loss == "logistic":
        Z = np.where(Z >= 0, 1.0, -1.0)
    if loss == "softmax":
        Z = np.exp(Z)
        Z /= Z.sum(1, keepdims=True)
    return F, X, Y, Z, rng.standard_normal((5, d)), rng.standard_normal((4, d))


@pytest.mark.parametrize("solver", ["clarabel", "torch"])
def test_kernel_ridge_equals_sklearn(solver):
    from sklearn.kernel_ridge import KernelRidge

    F, X, _, Z, Xt, _ = make_data()
    lam = 0.3
    m = BinaryKernelMachine(F, p=2, lam_x=lam, lam_y=None, solver=solver).fit(X, None, Z)
    PX = F.transform_x(X)
    # ½Σ_j (a_i − z_ij)² + λ‖w‖² = (n/2)(a_i − z̄_i)² + const: KernelRidge alpha = 2λ/n
    kr = KernelRidge(alpha=2 * lam / Z.shape[1], kernel="precomputed").fit(PX @ PX.T, Z.mean(1))
    ref = kr.predict(F.transform_x(Xt) @ PX.T)
    # 1e-8: the bound; Newton-polished residual ≈ 1e-13 gives ~1e-13 here
    np.testing.assert_allclose(m.predict(Xt), ref, rtol=0, atol=1e-8)
    w, _ = one_sided_ridge(PX, Z, None, lam)
    np.testing.assert_allclose(F.transform_x(Xt) @ w, ref, rtol=0, atol=1e-8)


def test_additive_closed_form_primal_kernel_and_cvxpy_agree():
    F, X, Y, Z, _, _ = make_data()
    mask = np.random.default_rng(3).random(Z.shape) < 0.8
    m = BinaryKernelMachine(F, p=2, lam_x=0.3, lam_y=0.2).fit(X, Y, Z, mask)
    PX, PY = F.transform_x(X), F.transform_y(Y)
    for method in ("primal", "kernel"):
        w, v = additive_ridge(PX, PY, Z, mask, 0.3, 0.2, method=method)
        # solver residual ~1e-13, cond of the 2D system ≲ 1e3: agreement to 1e-9
        np.testing.assert_allclose(w, m.w_, atol=1e-9 * np.abs(w).max())
        np.testing.assert_allclose(v, m.v_, atol=1e-9 * np.abs(v).max())


def test_kernel_ridge_coefficients_rejects_asymmetric():
    K = np.array([[2.0, 1.0], [0.0, 2.0]])
    with pytest.raises(ValueError, match="symmetric"):
        kernel_ridge_coefficients(K, np.ones(2), 1.0)
    S = K + K.T
    c = kernel_ridge_coefficients(S, np.ones(2), 1.0)
    np.testing.assert_allclose((S + np.eye(2)) @ c, np.ones(2), atol=1e-14)


@pytest.mark.parametrize("loss,coupling,p", [
    ("squared", "additive", 1.5), ("squared", "additive", 3.0),
    ("logistic", "additive", 1.5), ("softmax", "additive", 3.0),
    ("squared", "product", 1.5), ("softmax", "product", 3.0),
])
def test_cvxpy_and_torch_agree(loss, coupling, p):
    F, X, Y, Z, Xt, Yt = make_data(loss=loss)
    fits = [BinaryKernelMachine(F, p=p, coupling=coupling, loss=loss, lam_x=0.1, lam_y=0.2,
                                solver=s, seed=1).fit(X, Y, Z) for s in ("clarabel", "torch")]
    for f in fits:
        assert f.status_ == "optimal" and f.residual_ <= 1e-9
    # both at residual ≤ 1e-9 of a strictly convex problem (product: same local optimum
    # from the same seed): objectives agree to ~1e-12 relative, predictions to ~1e-9
    assert abs(fits[0].objective_ - fits[1].objective_) <= 1e-9 * abs(fits[0].objective_)
    A0, A1 = (f.decision_function(Xt, Yt) for f in fits)
    np.testing.assert_allclose(A0, A1, atol=1e-7 * max(1.0, np.abs(A0).max()))


def test_polynomial_exact_features_fit():
    rng = np.random.default_rng(1)
    F = PolynomialFeatures(PolynomialKernel(degree=2, c=1.0))
    X, Y = rng.standard_normal((6, 4)), rng.standard_normal((5, 4))
    m = BinaryKernelMachine(F, p=1.5, lam_x=0.1, lam_y=0.1).fit(X, Y, rng.standard_normal((6, 5)))
    assert m.residual_ <= 1e-10
    assert m.predict(X, Y).shape == (6, 5)


def test_predict_shapes_and_labels():
    F, X, Y, Z, Xt, Yt = make_data(loss="logistic")
    m = BinaryKernelMachine(F, p=2, loss="logistic", lam_x=0.1, lam_y=0.1).fit(X, Y, Z)
    assert set(np.unique(m.predict(Xt, Yt))) <= {-1.0, 1.0}
    F, X, Y, Z, Xt, Yt = make_data(loss="softmax")
    m = BinaryKernelMachine(F, p=2, coupling="product", loss="softmax", seed=0).fit(X, Y, Z)
    P = m.predict(Xt, Yt)
    np.testing.assert_allclose(P.sum(1), 1.0, atol=1e-12)


def test_bad_input():
    F, X, Y, Z, _, _ = make_data()
    mk = BinaryKernelMachine(F)
    with pytest.raises(ValueError, match="Z has shape"):
        mk.fit(X, Y, Z[:-1])
    with pytest.raises(ValueError, match="Y has"):
        mk.fit(X, Y, Z[:, :-1])
    with pytest.raises(ValueError, match="mask shape"):
        mk.fit(X, Y, Z, np.ones((2, 2), bool))
    Zn = Z.copy()
    Zn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        mk.fit(X, Y, Zn)
    with pytest.raises(ValueError, match="lam_x"):
        BinaryKernelMachine(F, lam_x=0.0)
    with pytest.raises(ValueError, match="lam_y"):
        BinaryKernelMachine(F, lam_y=-1.0)
    with pytest.raises(ValueError, match="p"):
        BinaryKernelMachine(F, p=0.5)
    with pytest.raises(ValueError, match="p = 1"):
        BinaryKernelMachine(F, p=1.0, solver="torch")
    P = np.full(Z.shape, 1.0 / Z.shape[1])
    P[0] *= 2
    with pytest.raises(ValueError, match="summing to 1"):
        BinaryKernelMachine(F, loss="softmax").fit(X, Y, P)
    with pytest.raises(ValueError, match="logistic targets"):
        BinaryKernelMachine(F, loss="logistic").fit(X, Y, Z)
    with pytest.raises(ValueError, match="unknown coupling"):
        BinaryKernelMachine(F, coupling="sum")
    with pytest.raises(ValueError, match="rho >= 1"):
        BinaryKernelMachine(F, reg=("power", 0.5))


def test_solver_failure_is_reported():
    F, X, Y, Z, _, _ = make_data()
    # two Clarabel iterations cannot reach optimality: the status must surface
    with pytest.raises(SolverError, match="status"):
        BinaryKernelMachine(F, p=1.5, max_iter=2).fit(X, Y, Z)
    with pytest.raises(SolverError, match="status 'max_iter'"):
        BinaryKernelMachine(F, p=1.5, solver="torch", max_iter=1, fallback=None).fit(X, Y, Z)


def test_torch_fallback_to_clarabel_warns_with_the_residual_reached():
    """One Newton step cannot reach 1e-10: the default fallback (Clarabel + polish)
    finishes the solve and the warning names the residual Newton stopped at."""
    F, X, Y, Z, _, _ = make_data()
    with pytest.warns(RuntimeWarning, match=r"status 'max_iter' with residual [0-9.e-]+ .*"
                                            r"fell back to cvxpy/clarabel"):
        m = BinaryKernelMachine(F, p=1.5, solver="torch", max_iter=1).fit(X, Y, Z)
    assert m.solver_info_["fallback"] == "clarabel"
    # the fallback's point is held to the torch target (1e-10), not cvxpy's own tolerance
    assert m.residual_ <= 1e-10
    ref = BinaryKernelMachine(F, p=1.5, solver="torch").fit(X, Y, Z)
    assert ref.solver_info_["fallback"] is None
    # both residuals ≤ 1e-10 on a strictly convex problem: objectives agree to ~1e-10
    assert abs(m.objective_ - ref.objective_) <= 1e-9 * abs(ref.objective_)
    with pytest.raises(ValueError, match="fallback must be"):
        BinaryKernelMachine(F, fallback="scs")


def test_kernel_ridge_coefficients_matches_sklearn_and_keeps_input():
    from sklearn.kernel_ridge import KernelRidge

    rng = np.random.default_rng(7)
    P = rng.standard_normal((40, 25))
    K = P @ P.T
    K = 0.5 * (K + K.T)
    K0 = K.copy()
    z = rng.standard_normal(40)
    c = kernel_ridge_coefficients(K, z, 0.7)
    ref = KernelRidge(alpha=0.7, kernel="precomputed").fit(K, z).dual_coef_
    # cond(K + 0.7 I) ≲ 1e3: two Cholesky solves agree to ~1e3·eps relative
    np.testing.assert_allclose(c, ref, rtol=0, atol=1e-11 * np.abs(ref).max())
    np.testing.assert_array_equal(K, K0)  # the diagonal shift works on a private copy
    with pytest.raises(ValueError, match="NaN"):
        kernel_ridge_coefficients(K, np.full(40, np.nan), 0.7)


def test_one_sided_ridge_with_mask_matches_primal_normal_equations():
    rng = np.random.default_rng(8)
    P = rng.standard_normal((12, 30))
    Z = rng.standard_normal((12, 6))
    mask = rng.random(Z.shape) < 0.6
    mask[3] = False  # a row without observations gets α = 0
    lam = 0.4
    P0 = P.copy()
    w, alpha = one_sided_ridge(P, Z, mask, lam)
    # primal route: ∇[½Σ M(a_i − z_ij)² + λ‖w‖²] = 0 ⇔ (Φᵀ diag(r) Φ + 2λI) w = Φᵀ s
    r, s = mask.sum(1), (mask * Z).sum(1)
    w_ref = np.linalg.solve(P.T @ (r[:, None] * P) + 2 * lam * np.eye(30), P.T @ s)
    # both well conditioned (cond ≲ 1e3): agreement to ~1e-12 relative
    np.testing.assert_allclose(w, w_ref, rtol=0, atol=1e-11 * np.abs(w_ref).max())
    assert alpha[3] == 0.0
    np.testing.assert_array_equal(P, P0)
