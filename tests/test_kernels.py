"""Binary kernels: values by other routes, properties, parity, no symmetrization, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import to_numpy
from sklearn.metrics.pairwise import linear_kernel, polynomial_kernel, rbf_kernel

import rkbs
from rkbs.kernels import functions as F

EPS = np.finfo(np.float64).eps

# (name, params) for every kernel of theory §1.
KERNEL_CASES = [
    ("edp", {}),
    ("softmax", {}),
    ("rbf", {"sigma": 0.8}),
    ("exp_intersection", {}),
    ("polynomial", {"degree": 3, "c": 0.5}),
    ("polynomial", {"degree": 2, "c": 0.0}),
    ("linear", {}),
]


def _brute(name, params, q, k):
    """One kernel value from its theory §1 formula, written with math/loops."""
    u = sum(a * b for a, b in zip(q, k))
    if name in ("edp", "softmax"):
        return math.exp(u)
    if name == "rbf":
        return math.exp(-sum((a - b) ** 2 for a, b in zip(q, k)) / (2 * params["sigma"] ** 2))
    if name == "exp_intersection":
        return math.exp(sum(min(a, b) for a, b in zip(q, k)))
    if name == "polynomial":
        return (u + params["c"]) ** params["degree"]
    if name == "linear":
        return u
    raise AssertionError(name)


@pytest.fixture
def maps(rng):
    d_in, d = 5, 3
    return rng.normal(size=(d, d_in)), rng.normal(size=(d, d_in))


@pytest.mark.parametrize("name,params", KERNEL_CASES)
def test_kernel_matches_brute_force(name, params, maps, rng):
    W_Q, W_K = maps
    X, Y = rng.normal(size=(6, 5)), rng.normal(size=(4, 5))
    kern = rkbs.get_kernel(name, W_Q=W_Q, W_K=W_K, **params)
    s = 3 ** -0.25  # attention scaling d^{-1/4} on each side, d = 3 rows of W
    ref = np.array([[_brute(name, params, s * W_Q @ x, s * W_K @ y) for y in Y] for x in X])
    K = kern(X, Y)
    assert K.shape == (6, 4)
    # Round-off: u = q·k accumulates ~d·eps·|q||k|; exp/powers amplify by |u| or degree.
    # 1e-13 relative to max|K| leaves > 10x margin for these O(1) values.
    np.testing.assert_allclose(K, ref, rtol=1e-13, atol=1e-13 * np.abs(ref).max())


def test_sklearn_reference_identity_maps(rng):
    """With identity maps and no scaling the kernels are scikit-learn's."""
    X, Y = rng.normal(size=(7, 4)), rng.normal(size=(5, 4))
    # Relative 1e-12: both sides evaluate the same formula in float64 in different
    # operation orders (error ~ d·eps ≈ 1e-15 per entry, times exp/power amplification).
    tol = dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        rkbs.RBFKernel(sigma=0.9, scale=None)(X, Y), rbf_kernel(X, Y, gamma=1 / (2 * 0.81)), **tol
    )
    np.testing.assert_allclose(
        rkbs.PolynomialKernel(degree=3, c=0.7, scale=None)(X, Y),
        polynomial_kernel(X, Y, degree=3, gamma=1.0, coef0=0.7), **tol,
    )
    np.testing.assert_allclose(rkbs.LinearKernel(scale=None)(X, Y), linear_kernel(X, Y), **tol)
    np.testing.assert_allclose(rkbs.EDPKernel(scale=None)(X, Y), np.exp(X @ Y.T), **tol)


def test_attention_scaling_is_inverse_sqrt_d(rng):
    d = 16
    W_Q, W_K = rng.normal(size=(d, 8)), rng.normal(size=(d, 8))
    X, Y = rng.normal(size=(3, 8)), rng.normal(size=(2, 8))
    kern = rkbs.EDPKernel(W_Q, W_K)
    # q·k = <W_Q x, W_K y>/sqrt(d) (theory §1); round-off ~ d·eps·|Wx||Wy| << 1e-12.
    np.testing.assert_allclose(kern.log(X, Y), (X @ W_Q.T) @ (Y @ W_K.T).T / math.sqrt(d),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rkbs.EDPKernel(W_Q, W_K, scale=0.5).log(X, Y),
                               0.25 * (X @ W_Q.T) @ (Y @ W_K.T).T, rtol=1e-12, atol=1e-12)


def test_callable_maps(rng):
    W = rng.normal(size=(3, 4))
    kern = rkbs.EDPKernel(lambda Z: np.tanh(Z @ W.T), lambda Z: Z @ W.T, dim=3)
    X, Y = rng.normal(size=(5, 4)), rng.normal(size=(2, 4))
    s = 3 ** -0.25
    ref = np.exp((s * np.tanh(X @ W.T)) @ (s * Y @ W.T).T)
    np.testing.assert_allclose(kern(X, Y), ref, rtol=1e-13)  # same formula, eps-level
    assert not kern.tied and kern.feature_dim == math.inf


@pytest.mark.parametrize("name,params", KERNEL_CASES)
def test_numpy_torch_parity(name, params, maps, rng, backend):
    W_Q, W_K = maps
    X, Y = rng.normal(size=(6, 5)), rng.normal(size=(4, 5))
    kern = rkbs.get_kernel(name, W_Q=W_Q, W_K=W_K, **params)
    ref = kern(X, Y)
    out = kern(backend(X), backend(Y))
    assert type(out) is type(backend(ref))
    # Issue 2: parity to 1e-12 in float64 (BLAS order differences are ~d·eps).
    np.testing.assert_allclose(to_numpy(out), ref, rtol=1e-12, atol=1e-12)
    if kern.nonnegative:
        np.testing.assert_allclose(to_numpy(kern.log(backend(X), backend(Y))), kern.log(X, Y),
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name,params", KERNEL_CASES)
def test_no_silent_symmetrization(name, params, maps, rng):
    """K(X, X) with untied maps is computed entry by entry: it differs from its transpose."""
    W_Q, W_K = maps
    X = rng.normal(size=(6, 5))
    kern = rkbs.get_kernel(name, W_Q=W_Q, W_K=W_K, **params)
    K = kern(X, X)
    Y = X.copy()  # a different object with the same values must give the same matrix
    np.testing.assert_array_equal(K, kern(X, Y))
    asym = np.linalg.norm(K - K.T) / np.linalg.norm(K)
    assert asym > 1e-3, f"{name}: asymmetry {asym} — untied kernel looks symmetrized"
    assert not kern.symmetric and not kern.positive_definite
    # Tied control: symmetric up to round-off (matmul order; 1e-13 >> 8 eps).
    tied = rkbs.get_kernel(name, W_Q=W_Q, W_K=W_Q, **params)
    Kt = tied(X, X)
    assert np.linalg.norm(Kt - Kt.T) <= 1e-13 * np.linalg.norm(Kt)
    assert tied.symmetric and tied.positive_definite


def test_from_qk_batch_axes(rng):
    Q, K = rng.normal(size=(2, 3, 5, 4)), rng.normal(size=(2, 3, 6, 4))
    for kern in [rkbs.EDPKernel(), rkbs.RBFKernel(sigma=1.3), rkbs.ExpIntersectionKernel(),
                 rkbs.PolynomialKernel(degree=2), rkbs.LinearKernel()]:
        out = kern.from_qk(Q, K)
        assert out.shape == (2, 3, 5, 6)
        # batched == per-slice (identical arithmetic up to BLAS blocking: 1e-13 relative)
        np.testing.assert_allclose(out[1, 2], kern.from_qk(Q[1, 2], K[1, 2]), rtol=1e-13)


def test_intersection_chunking_matches_loop(rng, monkeypatch):
    Q, K = rng.normal(size=(9, 3)), rng.normal(size=(7, 3))
    ref = np.array([[np.minimum(q, k).sum() for k in K] for q in Q])
    monkeypatch.setattr(F, "_CHUNK_ELEMENTS", 25)  # forces one row per chunk
    # the sum of 3 minima: exact up to one rounding per addition
    np.testing.assert_allclose(F.intersection_log(Q, K), ref, rtol=1e-15, atol=1e-15)


def test_declared_properties():
    assert rkbs.EDPKernel().feature_dim == math.inf
    assert rkbs.RBFKernel().feature_dim == math.inf
    assert rkbs.ExpIntersectionKernel().feature_dim == math.inf
    assert rkbs.PolynomialKernel(degree=3, c=1.0).feature_dimension(4) == math.comb(7, 3)
    assert rkbs.PolynomialKernel(degree=3, c=0.0).feature_dimension(4) == math.comb(6, 3)
    assert rkbs.LinearKernel(dim=5).feature_dim == 5
    assert rkbs.PolynomialKernel(np.eye(2, 3), np.ones((2, 3)), degree=2).feature_dim == 6
    assert rkbs.EDPKernel().nonnegative and not rkbs.LinearKernel().nonnegative
    assert rkbs.PolynomialKernel(degree=2).nonnegative
    assert not rkbs.PolynomialKernel(degree=3).nonnegative
    assert "feature_dim=inf" in repr(rkbs.EDPKernel())
    with pytest.raises(ValueError, match="depends on the mapped dimension"):
        _ = rkbs.LinearKernel().feature_dim


def test_log_of_sign_changing_kernels_raises(rng):
    X = rng.normal(size=(3, 2))
    with pytest.raises(ValueError, match="odd degree 3"):
        rkbs.PolynomialKernel(degree=3).log(X, X)
    with pytest.raises(ValueError, match="negative values"):
        rkbs.LinearKernel().log(X, X)
    # degree 0: κ ≡ 1, log ≡ 0 even where q·k + c = 0
    Z = np.zeros((2, 2))
    np.testing.assert_array_equal(rkbs.PolynomialKernel(degree=0, c=0.0).log(Z, Z), 0.0)


def test_registry():
    names = rkbs.available_kernels()
    for n in ("edp", "softmax", "rbf", "exp_intersection", "polynomial", "poly", "linear"):
        assert n in names
    assert isinstance(rkbs.get_kernel("Softmax"), rkbs.EDPKernel)
    k = rkbs.EDPKernel()
    assert rkbs.get_kernel(k) is k
    with pytest.raises(ValueError, match=r"unknown kernel 'cosine'; valid names: .*edp.*rbf"):
        rkbs.get_kernel("cosine")
    with pytest.raises(ValueError, match="cannot be combined"):
        rkbs.get_kernel(k, sigma=1.0)


def test_bad_inputs(rng):
    X = rng.normal(size=(4, 3))
    kern = rkbs.EDPKernel(rng.normal(size=(2, 3)), rng.normal(size=(2, 3)))
    with pytest.raises(ValueError, match=r"W_Q has shape \(2, 3\).*4 columns"):
        kern(rng.normal(size=(4, 4)), X)
    with pytest.raises(ValueError, match=r"mapped queries and keys .* \(4, 3\) and k \(4, 2\)"):
        rkbs.EDPKernel(None, np.ones((2, 3)))(X, X)
    bad = X.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN or inf values \(shape \(4, 3\)\)"):
        kern(bad, X)
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="Y contains NaN or inf"):
        kern(X, bad)
    with pytest.raises(ValueError, match="Y is required"):
        kern(X, None)
    with pytest.raises(ValueError, match=r"2-dimensional, got shape \(3,\)"):
        kern(X[0], X)
    with pytest.raises(ValueError, match="sigma must be finite and > 0, got sigma=0"):
        rkbs.RBFKernel(sigma=0)
    with pytest.raises(ValueError, match="sigma must be finite and > 0, got sigma=-1.0"):
        rkbs.get_kernel("rbf", sigma=-1.0)
    with pytest.raises(ValueError, match="degree must be >= 0, got degree=-1"):
        rkbs.PolynomialKernel(degree=-1)
    with pytest.raises(ValueError, match="c must be finite and >= 0"):
        rkbs.PolynomialKernel(c=-0.5)
    with pytest.raises(ValueError, match="W_K has 3 rows but dim=2"):
        rkbs.EDPKernel(np.ones((2, 3)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="scale must be finite and > 0"):
        rkbs.EDPKernel(scale=-1.0)


# (name, params, value at mapped q, k) for the kernels of the attention registry
def _elu1(a):
    return a + 1.0 if a > 0 else math.exp(a)


def _dpfp_brute(q, k, nu):
    """Σ_{j≤ν} Σ_i r_i(q) r_{i-j}(q) r_i(k) r_{i-j}(k), r = ReLU([u, -u]), indices mod 2d."""
    rq = [max(a, 0.0) for a in q] + [max(-a, 0.0) for a in q]
    rk = [max(b, 0.0) for b in k] + [max(-b, 0.0) for b in k]
    n = len(rq)
    return sum(rq[i] * rq[(i - j) % n] * rk[i] * rk[(i - j) % n]
               for j in range(1, nu + 1) for i in range(n))


NEW_KERNEL_CASES = [
    ("elu", {}, lambda q, k: sum(_elu1(a) * _elu1(b) for a, b in zip(q, k))),
    ("taylor_edp", {"degree": 3},
     lambda q, k: sum(sum(a * b for a, b in zip(q, k)) ** n / math.factorial(n)
                      for n in range(4))),
    ("dpfp", {"nu": 2}, lambda q, k: _dpfp_brute(q, k, 2)),
]


@pytest.mark.parametrize("name,params,brute", NEW_KERNEL_CASES)
def test_registry_kernels_match_brute_force(name, params, brute, maps, rng, backend):
    W_Q, W_K = maps
    X, Y = rng.normal(size=(6, 5)), rng.normal(size=(4, 5))
    kern = rkbs.get_kernel(name, W_Q=backend(W_Q), W_K=backend(W_K), **params)
    s = 3 ** -0.25  # attention scaling d^{-1/4} on each side, d = 3 rows of W
    ref = np.array([[brute(s * W_Q @ x, s * W_K @ y) for y in Y] for x in X])
    K = to_numpy(kern(backend(X), backend(Y)))
    # sums of <= 12 O(1) products: a few tens of eps, relative
    np.testing.assert_allclose(K, ref, rtol=1e-13, atol=1e-15)
    assert kern.nonnegative == (name != "taylor_edp")  # odd degree 3
    assert kern.feature_dim == {"elu": 3, "taylor_edp": math.comb(6, 3), "dpfp": 12}[name]
