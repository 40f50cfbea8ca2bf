"""Numerical robustness: huge query/key norms, float32, ill-conditioned and rank-deficient
landmarks. Each case gives a correct answer (log domain) or a warning that says what to do;
each test also shows the naive route failing (negative control)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp

from rkbs import (
    EDPKernel,
    NystromFeatures,
    NystromRankWarning,
    PositiveRandomFeatures,
    RBFKernel,
    TaylorFeatures,
)

torch = pytest.importorskip("torch")


def _softmax_attention_reference(L, V):
    """out_i = sum_j softmax_j(L_ij) v_j, by max subtraction in float64 numpy."""
    W = np.exp(L - L.max(axis=-1, keepdims=True))
    return (W / W.sum(axis=-1, keepdims=True)) @ V


def test_edp_attention_with_huge_norms_is_exact(rng):
    from rkbs.attention.kernel_attention import kernel_attention

    q = rng.normal(size=(5, 4)) * 40.0  # q·k up to ~ 1e4: exp overflows float64
    k = rng.normal(size=(6, 4)) * 40.0
    v = rng.normal(size=(6, 3))
    L = q @ k.T
    with np.errstate(over="ignore"):
        assert np.isinf(np.exp(L)).any()  # the naive route overflows (control)
    out = kernel_attention(*(torch.as_tensor(a) for a in (q, k, v)), EDPKernel(scale=None))
    np.testing.assert_allclose(out.numpy(), _softmax_attention_reference(L, v),
                               rtol=1e-12, atol=1e-12)  # same formula, float64 round-off


def test_edp_attention_float32_huge_norms(rng):
    from rkbs.attention.kernel_attention import kernel_attention

    q, k, v = rng.normal(size=(5, 4)) * 12, rng.normal(size=(6, 4)) * 12, rng.normal(size=(6, 3))
    L = q @ k.T  # |q·k| ~ 1e2 > 88.7: exp overflows float32
    out = kernel_attention(*(torch.as_tensor(a, dtype=torch.float32) for a in (q, k, v)),
                           EDPKernel(scale=None))
    assert out.dtype == torch.float32
    # float32 logits carry |L| * eps32 ~ 1e2 * 6e-8 = 6e-6 absolute error; the softmax
    # turns it into a relative error of the same size in the weights
    np.testing.assert_allclose(out.numpy(), _softmax_attention_reference(L, v), atol=1e-4)


def test_positive_features_with_huge_norms_match_logsumexp(rng):
    """Stabilized PRF attention against log-domain sums over the same draws."""
    from rkbs.attention.kernel_attention import feature_attention

    d, D = 3, 32
    pair = PositiveRandomFeatures(EDPKernel(scale=None), D, seed=0).fit(dim=d)
    q, k = rng.normal(size=(4, d)) * 45.0, rng.normal(size=(5, d)) * 45.0
    v = rng.normal(size=(5, 2))
    W = pair.omega_  # (D, d)
    a = q @ W.T - 0.5 * (q * q).sum(1, keepdims=True)  # log features (n, D), up to -log sqrt D
    b = k @ W.T - 0.5 * (k * k).sum(1, keepdims=True)
    logw = logsumexp(a[:, None, :] + b[None, :, :], axis=-1)  # log of phi(q_i)·phi(k_j)
    ref = _softmax_attention_reference(logw, v)
    with np.errstate(under="ignore", over="ignore", invalid="ignore"):
        naive = pair.map_q(q) @ (pair.map_k(k).T @ v)
        naive = naive / (pair.map_q(q) @ pair.map_k(k).sum(0))[:, None]
    assert not np.all(np.isfinite(naive))  # plain features under/overflow (control)
    out = feature_attention(*(torch.as_tensor(x) for x in (q, k, v)), pair)
    # same sums in another order; terms span e^{±100}: relative round-off ~ 1e-12
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-9, atol=1e-12)


def test_kernel_log_is_exact_where_kernel_overflows(rng):
    X, Y = rng.normal(size=(4, 3)) * 100, rng.normal(size=(5, 3)) * 100
    k = EDPKernel(scale=None)
    with pytest.warns(RuntimeWarning, match="kernel.log"):
        K = k(X, Y)
    assert np.isinf(K).any()
    np.testing.assert_array_equal(k.log(X, Y), X @ Y.T)  # log κ = q·k, computed as written


def test_taylor_features_overflow_warns(rng):
    X = rng.normal(size=(3, 2)) * 1e80  # q^alpha of degree 4: 1e320 > float64 max
    pair = TaylorFeatures(EDPKernel(scale=None), degree=4)
    with pytest.warns(RuntimeWarning, match=r"TaylorFeatures\.transform_x.*rescale the inputs"):
        pair.transform_x(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # moderate inputs: silent (control)
        assert np.all(np.isfinite(pair.transform_x(X * 1e-80)))


def test_float32_edp_kernel_overflow_warns_with_float32_limit(rng):
    X = (rng.normal(size=(3, 4)) * 8).astype(np.float32)
    k = EDPKernel(scale=None)
    with pytest.warns(RuntimeWarning, match=r"88\.7 \(float32\).*kernel\.log"):
        K32 = k(X, X)
    K64 = k(X.astype(np.float64), X.astype(np.float64))
    finite = np.isfinite(K32)
    assert not finite.all()
    # where float32 is finite it agrees with float64 to float32 round-off (|q·k| * eps32)
    np.testing.assert_allclose(K32[finite], K64[finite], rtol=1e-4)


def test_rank_deficient_landmarks_warn_and_stay_exact_on_landmarks(rng):
    Xl = rng.normal(size=(5, 2))
    Xl = np.vstack([Xl, Xl[:2]])  # 7 landmarks, rank 5
    kern = RBFKernel()
    with pytest.warns(NystromRankWarning, match=r"rank 5 < 7.*Remove duplicate"):
        ny = NystromFeatures(kern, Xl, Xl).fit(dim=2)
    M = kern(Xl, Xl)
    # exact on landmark pairs up to the retained block's conditioning (cond * eps)
    tol = ny.condition_number_ * np.finfo(float).eps * 10
    np.testing.assert_allclose(ny.gram(Xl, Xl), M, atol=tol)


def test_ill_conditioned_landmarks_warn_and_rcond_fixes_it(rng):
    # 30 landmarks packed in a small interval: the RBF block has singular values down to
    # round-off, so the default rcond keeps a block of condition ~ 1e14
    L = np.linspace(0, 0.6, 30)[:, None]
    kern = RBFKernel(scale=None)
    with pytest.warns(NystromRankWarning, match=r"condition number .* rcond=1e-8"):
        NystromFeatures(kern, L, L).fit(dim=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NystromRankWarning)  # rank truncation is announced
        ny = NystromFeatures(kern, L, L, rcond=1e-8).fit(dim=1)
    assert ny.condition_number_ <= 1e8
    X = np.linspace(0, 0.6, 17)[:, None]
    # truncating at 1e-8 sigma_1 leaves an approximation error of the dropped tail,
    # about 1e-8 * sigma_1 ~ 1e-7 here
    np.testing.assert_allclose(ny.gram(X, X), kern(X, X), atol=1e-6)
