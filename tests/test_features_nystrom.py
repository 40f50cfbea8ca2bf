"""Asymmetric Nyström features: exact for asymmetric, indefinite kernels (never |K|)."""

from __future__ import annotations

import numpy as np
import pytest

from rkbs.features import NystromFeatures, NystromRankWarning
from rkbs.kernels import EDPKernel, LinearKernel, RBFKernel

EPS = np.finfo(np.float64).eps


def _edp_untied(rng, d=4):
    Wq, Wk = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    return EDPKernel(Wq, Wk)


def test_exact_at_full_landmarks_for_asymmetric_indefinite_edp(rng):
    """Landmarks = all points, EDP with W_Q != W_K: Phi_X Phi_Y^T = K K^+ K = K.

    Tolerance 1e-8 relative (the issue's figure). Round-off bound: the SVD-based product
    has relative error ~ cond(K) * n * eps; cond(K) is printed in the assertion message and
    is ~1e4 here, giving ~1e-11."""
    kern = _edp_untied(rng)
    X, Y = rng.normal(size=(12, 4)), rng.normal(size=(12, 4))
    K = kern(X, Y)
    # the kernel really is non-Mercer on this set: asymmetric and indefinite
    Ks = kern(X, X)
    assert np.linalg.norm(Ks - Ks.T) / np.linalg.norm(Ks) > 0.1
    assert np.linalg.eigvalsh((Ks + Ks.T) / 2).min() < -1e-3 * np.abs(Ks).max()
    ny = NystromFeatures(kern, X, Y)
    G = ny.gram(X, Y)
    cond = np.linalg.cond(K)
    assert ny.rank_ == 12
    assert np.linalg.norm(G - K) / np.linalg.norm(K) <= 1e-8, cond
    # also with X = Y (the symmetric-part case where |K| would differ most)
    ny2 = NystromFeatures(kern, X, X)
    np.testing.assert_allclose(ny2.gram(X, X), Ks, rtol=0, atol=1e-8 * np.abs(Ks).max())


def test_exact_on_landmark_pairs_and_approximate_elsewhere(rng):
    kern = _edp_untied(rng)
    X, Y = rng.normal(size=(40, 4)) * 0.5, rng.normal(size=(30, 4)) * 0.5
    Xl, Yl = X[:10], Y[:8]
    ny = NystromFeatures(kern, Xl, Yl)
    M = kern(Xl, Yl)
    # M M^+ M = M up to ~ cond(M) * eps round-off
    np.testing.assert_allclose(ny.gram(Xl, Yl), M, rtol=0,
                               atol=1e3 * np.linalg.cond(M) * EPS * np.abs(M).max())
    assert ny.n_features == min(10, 8)
    # off the landmarks it is an approximation (not exact, but far better than zero)
    err = np.linalg.norm(ny.gram(X, Y) - kern(X, Y)) / np.linalg.norm(kern(X, Y))
    assert 1e-12 < err < 0.5


def test_sklearn_nystroem_gives_abs_K_ours_gives_K(rng):
    """A symmetric but indefinite kernel: exp(x^T B y) with B = W^T S W, S = diag(+-1).
    scikit-learn's Nystroem (SVD of the basis block taken as eigen-decomposition) returns
    |K| at full rank; ours returns K (both to 1e-8 relative; cond(K) * n * eps ~ 1e-11)."""
    from sklearn.kernel_approximation import Nystroem

    d, n = 4, 10
    W = rng.normal(size=(d, d)) * 0.4
    kern = EDPKernel(W, np.diag([1.0, 1.0, -1.0, -1.0]) @ W)
    X = rng.normal(size=(n, d))
    K = kern(X, X)
    assert np.allclose(K, K.T, rtol=1e-13)
    lam, V = np.linalg.eigh(K)
    assert lam.min() < -1e-2 * lam.max()  # genuinely indefinite
    absK = (V * np.abs(lam)) @ V.T
    sk = Nystroem(kernel="precomputed", n_components=n, random_state=0).fit(K)
    F = sk.transform(K)
    G_sk = F @ F.T
    assert np.linalg.norm(G_sk - absK) / np.linalg.norm(absK) < 1e-8
    gap = np.linalg.norm(absK - K) / np.linalg.norm(K)  # = 2 ||K_-|| / ||K||
    assert gap > 1e-2
    assert np.linalg.norm(G_sk - K) / np.linalg.norm(K) > 0.5 * gap
    G = NystromFeatures(kern, X, X).gram(X, X)
    assert np.linalg.norm(G - K) / np.linalg.norm(K) < 1e-8


def test_singular_cross_block_is_truncated_not_nan(rng):
    """Duplicate landmarks make K(X~, Y~) singular: the truncated pseudo-inverse drops the
    zero singular values (documented), the features stay finite and exact on landmarks."""
    kern = RBFKernel(sigma=1.0)
    Xl = rng.normal(size=(5, 3))
    Xl = np.vstack([Xl, Xl[:2]])  # 7 landmarks, rank 5
    Yl = np.vstack([rng.normal(size=(4, 3)), Xl[:3]])
    ny = NystromFeatures(kern, Xl, Yl)
    X = rng.normal(size=(6, 3))
    with pytest.warns(NystromRankWarning, match=r"numerical rank \d < 7"):
        G = ny.gram(X, Yl)
    assert np.all(np.isfinite(G))
    assert ny.rank_ < 7
    M = kern(Xl, Yl)
    np.testing.assert_allclose(ny.gram(Xl, Yl), M, atol=1e-8)  # ~ cond_retained * eps


def test_bad_inputs(rng):
    with pytest.raises(ValueError, match="is zero"):
        NystromFeatures(LinearKernel(), np.zeros((3, 2)), np.zeros((3, 2))).fit(dim=2)
    with pytest.raises(ValueError, match="mapped landmarks disagree"):
        NystromFeatures(EDPKernel(), np.ones((3, 2)), np.ones((3, 4)))
    ny = NystromFeatures(EDPKernel(scale=None), rng.normal(size=(3, 2)), rng.normal(size=(3, 2)))
    with pytest.raises(ValueError, match="landmarks map to dimension 2"):
        ny.transform_x(np.ones((2, 5)))
    with pytest.raises(ValueError, match="rcond"):
        NystromFeatures(EDPKernel(), np.ones((3, 2)), np.ones((3, 2)), rcond=-1.0)
    with pytest.raises(ValueError, match="NaN or inf"):
        NystromFeatures(EDPKernel(), np.ones((3, 2)), np.full((3, 2), np.nan))


def test_numpy_torch_parity_and_batched(rng, backend):
    kern = _edp_untied(rng)
    Xl, Yl = rng.normal(size=(6, 4)), rng.normal(size=(5, 4))
    X, Y = rng.normal(size=(7, 4)), rng.normal(size=(8, 4))
    ref = NystromFeatures(kern, Xl, Yl).gram(X, Y)
    ny = NystromFeatures(kern, backend(Xl), backend(Yl))
    G = ny.gram(backend(X), backend(Y))
    G = G.numpy() if hasattr(G, "numpy") else G
    # same algorithm, LAPACK SVD in both; differences ~ cond(M) * eps
    np.testing.assert_allclose(G, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())
    Q = kern.queries(backend(X))
    Qb = backend(np.stack([np.asarray(Q), 2 * np.asarray(Q)])[:, None])  # (2, 1, 7, d)
    B = ny.map_q(Qb)
    assert tuple(B.shape) == (2, 1, 7, ny.n_features)
    B1 = ny.map_q(backend(2 * np.asarray(Q)))
    np.testing.assert_allclose(np.asarray(B[1, 0]), np.asarray(B1), rtol=1e-13)
