"""Exact feature maps: polynomial, Taylor (EDP) and linear features (theory §2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import to_numpy
from sklearn.preprocessing import PolynomialFeatures as SkPolynomialFeatures

import rkbs

EPS = np.finfo(np.float64).eps


def _taylor(d, N, rng, **kw):
    W_Q, W_K = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    return rkbs.TaylorFeatures(rkbs.EDPKernel(W_Q, W_K, **kw), degree=N)


@pytest.mark.parametrize("d,m,c", [(2, 3, 0.5), (3, 2, 1.0), (4, 3, 0.0), (3, 0, 2.0), (1, 5, 1.0)])
def test_polynomial_features_reproduce_kernel(d, m, c, rng):
    kern = rkbs.PolynomialKernel(rng.normal(size=(d, d + 1)), rng.normal(size=(d, d + 1)),
                                 degree=m, c=c)
    feats = rkbs.PolynomialFeatures(kern)
    X, Y = rng.normal(size=(7, d + 1)), rng.normal(size=(5, d + 1))
    G, K = feats.gram(X, Y), kern(X, Y)
    expected_D = math.comb(d + m, m) if c > 0 else math.comb(d + m - 1, m)
    assert feats.transform_x(X).shape == (7, expected_D) == (7, feats.n_features)
    # Issue 2: 1e-12 relative. Round-off: D ≤ 35 summed products of ≤ m+1 factors,
    # ~ (D + 2m)·eps·Σ|terms| ≈ 1e-14 relative to max|K| for these O(1) inputs.
    np.testing.assert_allclose(G, K, rtol=1e-12, atol=1e-12 * np.abs(K).max())


def test_taylor_features_reproduce_truncated_series(rng):
    feats = _taylor(3, 5, rng)
    X, Y = rng.normal(size=(8, 3)), rng.normal(size=(6, 3))
    G = feats.gram(X, Y)
    assert feats.n_features == math.comb(3 + 5, 5) == feats.transform_y(Y).shape[1]
    # reference 1: Horner's rule on u = q·k; reference 2: the plain sum Σ u^n/n!
    U = feats.kernel.log(X, Y)
    direct = sum(U**n / math.factorial(n) for n in range(6))
    # Issue 2: 1e-12 relative (round-off ~ (D + 2N)·eps·Σ|terms|, D = 56: ~1e-14).
    np.testing.assert_allclose(G, feats.truncated_kernel(X, Y), rtol=1e-12,
                               atol=1e-12 * np.abs(G).max())
    np.testing.assert_allclose(G, direct, rtol=1e-12, atol=1e-12 * np.abs(G).max())
    assert feats.reproduced_kernel is not None
    np.testing.assert_allclose(feats.reproduced_kernel(X, Y), direct, rtol=1e-12)


def test_taylor_features_match_sklearn_monomials(rng):
    """φ_α(q) = q^α/√α! against scikit-learn's monomials, matched by exponent."""
    d, N = 3, 4
    Q = rng.normal(size=(5, d))
    feats = rkbs.TaylorFeatures(rkbs.EDPKernel(scale=None), degree=N)
    phi = feats.map_q(Q)
    exps = np.concatenate([rkbs.monomial_exponents(d, n) for n in range(N + 1)])
    sk = SkPolynomialFeatures(degree=N).fit(Q)
    cols = {tuple(p): j for j, p in enumerate(sk.powers_)}
    M = sk.transform(Q)
    assert len(cols) == len(exps) == phi.shape[1]
    for i, a in enumerate(exps):
        ref = M[:, cols[tuple(a)]] / math.sqrt(math.prod(math.factorial(t) for t in a))
        # a product of ≤ 4 factors and one weight: ~6 eps relative
        np.testing.assert_allclose(phi[:, i], ref, rtol=1e-14, atol=1e-300)


def _roundoff(feats, X, Y):
    r"""A priori round-off bound on |exp(u) - G|, elementwise.

    G = Σ_α φ_α(q)φ_α(k): each product of two features carries relative error
    ≤ (2N + 10)·eps (N multiplications per monomial, the √α! weight from lgamma/exp,
    the final product); summing D terms adds ≤ D·eps·Σ|terms| (worst-case recursive
    summation), and Σ_α |φ_α(q)φ_α(k)| = Σ_{n≤N} v^n/n! with v = Σ_l |q_l k_l| ≥ |u|.
    exp(u) itself carries eps·e^u plus d·eps·v·e^u from computing u. So
    |E - G| ≤ R_N + c·eps·Σ_n v^n/n! + (1 + d v)·eps·e^u with c = D + 2N + 10.
    """
    Q, K = feats.kernel.queries(X), feats.kernel.keys(Y)
    d, N, D = Q.shape[1], feats.degree, feats.n_features
    V = np.abs(Q) @ np.abs(K).T
    s = sum(V**n / math.factorial(n) for n in range(N + 1))
    U = Q @ K.T
    return (D + 2 * N + 10) * EPS * s + (1 + d * V) * EPS * np.exp(U)


@pytest.mark.parametrize("scale", [1e-6, 1e-2, 0.5, 1.0])
def test_taylor_remainder_bound_holds(scale, rng):
    feats = _taylor(3, 4, rng, scale=scale)
    X, Y = rng.normal(size=(20, 3)), rng.normal(size=(15, 3))
    err = np.abs(feats.kernel(X, Y) - feats.gram(X, Y))
    bound = feats.remainder_bound(X, Y)
    assert np.all(err <= bound + _roundoff(feats, X, Y))
    # The Cauchy–Schwarz form is a weaker (larger) valid bound.
    assert np.all(feats.remainder_bound(X, Y, cauchy_schwarz=True) >= bound)
    if scale == 1e-6:
        # the regime the brief warns about: the bound is below double-precision round-off
        assert bound.max() < EPS


@pytest.mark.parametrize("scale", [0.5, 1.0])
def test_taylor_tighter_wrong_bound_fails(scale, rng):
    """Negative control: the next Taylor term |u|^{N+2}/(N+2)! is NOT a bound."""
    N = 4
    feats = _taylor(3, N, rng, scale=scale)
    X, Y = rng.normal(size=(20, 3)), rng.normal(size=(15, 3))
    err = np.abs(feats.kernel(X, Y) - feats.gram(X, Y))
    U = feats.kernel.log(X, Y)
    wrong = np.abs(U) ** (N + 2) / math.factorial(N + 2)
    violated = err > wrong + _roundoff(feats, X, Y)
    assert violated.any(), "the wrong bound was never violated: the check is vacuous"
    # and the correct bound is tight within e^{max(u,0)}: for u > 0, R_N(u) ≥ u^{N+1}/(N+1)!
    pos = U > 0.3
    lower = U[pos] ** (N + 1) / math.factorial(N + 1)
    assert np.all(err[pos] + _roundoff(feats, X, Y)[pos] >= lower)


def test_taylor_remainder_bound_zero_at_u_zero():
    feats = rkbs.TaylorFeatures(rkbs.EDPKernel(scale=None), degree=3)
    X, Y = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    with np.errstate(all="raise"):  # no log(0) warning
        assert feats.remainder_bound(X, Y)[0, 0] == 0.0


@pytest.mark.parametrize("which", ["taylor", "poly", "poly_c0", "linear"])
def test_feature_maps_numpy_torch_parity(which, rng, backend):
    W_Q, W_K = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    feats = {
        "taylor": lambda: rkbs.TaylorFeatures(rkbs.EDPKernel(W_Q, W_K), degree=4),
        "poly": lambda: rkbs.PolynomialFeatures(rkbs.PolynomialKernel(W_Q, W_K, degree=3)),
        "poly_c0": lambda: rkbs.PolynomialFeatures(
            rkbs.PolynomialKernel(W_Q, W_K, degree=2, c=0.0)),
        "linear": lambda: rkbs.LinearFeatures(rkbs.LinearKernel(W_Q, W_K)),
    }[which]()
    X, Y = rng.normal(size=(6, 4)), rng.normal(size=(5, 4))
    # Issue 2: parity to 1e-12 in float64 (identical formulas; BLAS order ~ D·eps).
    for a, b in [(feats.transform_x(backend(X)), feats.transform_x(X)),
                 (feats.transform_y(backend(Y)), feats.transform_y(Y)),
                 (feats.gram(backend(X), backend(Y)), feats.gram(X, Y))]:
        assert str(a.dtype).endswith("float64")
        np.testing.assert_allclose(to_numpy(a), b, rtol=1e-12, atol=1e-12)


def test_feature_maps_batch_axes(rng):
    Q = rng.normal(size=(2, 3, 5, 4))
    for feats in [rkbs.TaylorFeatures(degree=3),
                  rkbs.PolynomialFeatures(rkbs.PolynomialKernel(degree=2)),
                  rkbs.LinearFeatures()]:
        feats.fit(dim=4)
        out = feats.map_q(Q)
        assert out.shape == (2, 3, 5, feats.n_features)
        np.testing.assert_array_equal(out[1, 0], feats.map_q(Q[1, 0]))


def test_linear_features_and_repr(rng):
    feats = rkbs.LinearFeatures(rkbs.LinearKernel(rng.normal(size=(2, 3)), np.eye(2, 3)))
    X, Y = rng.normal(size=(4, 3)), rng.normal(size=(3, 3))
    np.testing.assert_allclose(feats.gram(X, Y), feats.kernel(X, Y), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(feats.reproduced_kernel(X, Y), feats.kernel(X, Y))
    assert feats.n_features == 2 and "D=2" in repr(feats)


def test_feature_errors(rng):
    with pytest.raises(ValueError, match="Taylor features expand the EDP kernel, got RBFKernel"):
        rkbs.TaylorFeatures(rkbs.RBFKernel())
    with pytest.raises(ValueError, match="needs a PolynomialKernel, got EDPKernel"):
        rkbs.PolynomialFeatures(rkbs.EDPKernel())
    with pytest.raises(ValueError, match="needs a LinearKernel, got EDPKernel"):
        rkbs.LinearFeatures(rkbs.EDPKernel())
    with pytest.raises(ValueError, match="degree must be >= 0, got degree=-2"):
        rkbs.TaylorFeatures(degree=-2)
    with pytest.raises(ValueError, match="kernel must be a BinaryKernel"):
        rkbs.FeaturePair("edp")
    feats = rkbs.TaylorFeatures(degree=2).fit(dim=3)
    with pytest.raises(ValueError, match="fitted for mapped dimension 3, got .* dimension 2"):
        feats.transform_x(rng.normal(size=(4, 2)))
    with pytest.raises(ValueError, match="mapped queries have d=2 but mapped keys d=3"):
        rkbs.TaylorFeatures(
            rkbs.EDPKernel(np.ones((2, 2)), lambda Z: np.hstack([Z, Z[:, :1]]))
        ).fit(np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="fit needs X, Y or dim="):
        rkbs.TaylorFeatures(degree=2).fit()
