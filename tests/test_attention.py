"""Kernelized attention (rkbs.attention.kernel_attention): exactness, probabilities, masks."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rkbs.attention.kernel_attention import (  # noqa: E402
    AttentionSpec,
    EluFeatures,
    attention,
    feature_attention,
    kernel_attention,
    make_attention,
)
from rkbs.features import PolynomialFeatures, TaylorFeatures  # noqa: E402
from rkbs.kernels import EDPKernel, LinearKernel, PolynomialKernel  # noqa: E402

# float64 round-off: softmax and the feature sums are O(L) sums of O(1) terms, so
# agreement to a few hundred ulps (eps = 2.2e-16) is expected; the issue asks for 1e-6
# against SDPA and 1e-10 for exact features, both far above that.
SDPA_TOL = 1e-6
EXACT_TOL = 1e-10
ALL_NAMES = ["edp", "rbf", "exp_intersection", "poly2", "elu", "taylor4", "prf64"]


def _qkv(B=2, H=3, L=12, S=None, d=8, dv=5, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    S = L if S is None else S
    q = torch.randn(B, H, L, d, generator=g, dtype=torch.float64) * scale
    k = torch.randn(B, H, S, d, generator=g, dtype=torch.float64) * scale
    v = torch.randn(B, H, S, dv, generator=g, dtype=torch.float64)
    return q, k, v


@pytest.mark.parametrize("causal,S", [(False, None), (True, None), (False, 7)])
def test_edp_equals_sdpa(causal, S):
    q, k, v = _qkv(S=S)
    d = q.shape[-1]
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
    # the head splits 1/sqrt(d) symmetrically: q/d^{1/4}, k/d^{1/4}
    spec = make_attention("edp", d)
    out, w = attention(q * d**-0.25, k * d**-0.25, v, spec, causal=causal, need_weights=True)
    assert out.shape == ref.shape
    assert (out - ref).abs().max().item() < SDPA_TOL
    # the weights are the softmax of the logits, also against an independent route
    logits = q @ k.transpose(-1, -2) / math.sqrt(d)
    if causal:
        logits = logits.masked_fill(torch.ones_like(logits, dtype=torch.bool).triu(1), -math.inf)
    assert (w - torch.softmax(logits, -1)).abs().max().item() < SDPA_TOL


def test_edp_with_key_padding_equals_sdpa_with_mask():
    q, k, v = _qkv(S=9)
    pad = torch.zeros(2, 9, dtype=torch.bool)
    pad[0, 6:] = True
    pad[1, 8:] = True
    d = q.shape[-1]
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=~pad[:, None, None])
    out = kernel_attention(q * d**-0.25, k * d**-0.25, v, EDPKernel(scale=None))
    out_masked = kernel_attention(q * d**-0.25, k * d**-0.25, v, EDPKernel(scale=None),
                                  key_padding_mask=pad)
    assert (out_masked - ref).abs().max().item() < SDPA_TOL
    # negative control: without the mask the padded keys change the output
    assert (out - ref).abs().max().item() > 1e-3


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("degree,c", [(2, 1.0), (4, 0.5), (2, 0.0)])
def test_polynomial_features_equal_exact_polynomial_attention(causal, degree, c):
    q, k, v = _qkv(L=70)  # > one causal block of 64: the carried prefix state is exercised
    kern = PolynomialKernel(scale=None, degree=degree, c=c)
    exact = kernel_attention(q, k, v, kern, causal=causal)
    feat = feature_attention(q, k, v, PolynomialFeatures(kern), causal=causal)
    assert (exact - feat).abs().max().item() < EXACT_TOL


def test_polynomial_features_with_padding_equal_exact():
    q, k, v = _qkv(S=9)
    pad = torch.zeros(2, 9, dtype=torch.bool)
    pad[1, 5:] = True
    kern = PolynomialKernel(scale=None, degree=2)
    exact = kernel_attention(q, k, v, kern, key_padding_mask=pad)
    feat = feature_attention(q, k, v, PolynomialFeatures(kern), key_padding_mask=pad)
    assert (exact - feat).abs().max().item() < EXACT_TOL


def _taylor_weight_error_bound(q, k, N):
    """Max |Ŵ - W| implied by the Lagrange remainder (theory §2).

    With κ̂ = κ(1 + δ), |δ| ≤ ε for every pair, each weight moves by at most
    w · 2ε/(1 - ε) ≤ 2ε/(1 - ε); ε = max_ij e^{max(u,0)} |u|^{N+1}/(N+1)! / e^{u}.
    """
    pair = TaylorFeatures(EDPKernel(scale=None), degree=N)
    eps = 0.0
    for b in range(q.shape[0]):
        for h in range(q.shape[1]):
            Q, K = q[b, h].numpy(), k[b, h].numpy()
            R = pair.remainder_bound(Q, K)
            eps = max(eps, float(np.max(R / np.exp(Q @ K.T))))
    return 1.0 if eps >= 1 else min(1.0, 2 * eps / (1 - eps))  # weights lie in [0, 1]


@pytest.mark.parametrize("causal", [False, True])
def test_taylor_features_approach_edp(causal):
    q, k, v = _qkv(d=4, scale=0.5)  # |q·k| mostly < 2; d = 4 keeps C(d+N, N) small
    ref, w_ref = kernel_attention(q, k, v, EDPKernel(scale=None), causal=causal,
                                  need_weights=True)
    errs, bounds = [], []
    for N in (2, 4, 6, 8, 10):
        out, w = feature_attention(q, k, v, TaylorFeatures(EDPKernel(scale=None), degree=N),
                                   causal=causal, need_weights=True)
        err = (w - w_ref).abs().max().item()
        bounds.append(_taylor_weight_error_bound(q, k, N))
        errs.append(err)
        assert err <= bounds[-1]
    assert all(b < a for a, b in zip(errs, errs[1:])), errs
    # the remainder bound itself shrinks factorially, so the approach is guaranteed
    assert bounds[-1] < 1e-3 * bounds[1], bounds


@pytest.mark.parametrize("name", ALL_NAMES)
@pytest.mark.parametrize("causal", [False, True])
def test_rows_are_probability_vectors(name, causal):
    q, k, v = _qkv(scale=0.8)
    spec = make_attention(name, q.shape[-1], seed=0)
    _, w = attention(q, k, v, spec, causal=causal, need_weights=True)
    assert w.shape == (2, 3, 12, 12)
    assert (w >= 0).all()
    # row sums: a normalized sum of 12 positive terms, round-off ~12 eps
    assert (w.sum(-1) - 1).abs().max().item() < 1e-12
    if causal:
        assert (w.triu(1) == 0).all()


@pytest.mark.parametrize("name", ALL_NAMES)
def test_causal_masking_leaks_nothing(name):
    q, k, v = _qkv(L=80)  # crosses the 64-position block of the prefix-sum path
    spec = make_attention(name, q.shape[-1], seed=1)
    t = 50
    out = attention(q, k, v, spec, causal=True)
    q2, k2, v2 = q.clone(), k.clone(), v.clone()
    q2[..., t + 1:, :] += 3.0
    k2[..., t + 1:, :] -= 2.0
    v2[..., t + 1:, :] *= -5.0
    out2 = attention(q2, k2, v2, spec, causal=True)
    # positions <= t see identical inputs. Random features shift key log-scales by
    # their max over all keys (a constant factor that cancels): the only trace of the
    # future is round-off, ~1e-15 relative.
    assert (out[..., : t + 1, :] - out2[..., : t + 1, :]).abs().max().item() < 1e-12
    # control: later positions do change
    assert (out[..., t + 1:, :] - out2[..., t + 1:, :]).abs().max().item() > 1e-3


def test_feature_path_backward_matches_exact_gradients():
    q, k, v = _qkv(L=10)
    kern = PolynomialKernel(scale=None, degree=2)
    grads = []
    for fn in (lambda a, b, c: kernel_attention(a, b, c, kern, causal=True),
               lambda a, b, c: feature_attention(a, b, c, PolynomialFeatures(kern), causal=True)):
        a, b, c = (x.clone().requires_grad_(True) for x in (q, k, v))
        fn(a, b, c).square().sum().backward()
        grads.append([a.grad, b.grad, c.grad])
    for g1, g2 in zip(*grads):
        assert (g1 - g2).abs().max().item() < EXACT_TOL * 100  # backprop through sums


def test_elu_features_match_their_kernel():
    q, k, v = _qkv()
    pair = EluFeatures()
    exact = kernel_attention(q, k, v, pair.kernel)
    feat = feature_attention(q, k, v, pair)
    assert (exact - feat).abs().max().item() < EXACT_TOL
    assert pair.kernel.nonnegative


# ----------------------------------------------------------------- bad inputs
def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown attention kernel 'foo'.*edp.*taylor<N>"):
        make_attention("foo", 8)


@pytest.mark.parametrize("name,why", [
    ("linear", "linear kernel takes negative"),
    ("poly3", "degree 3 is odd"),
    ("taylor3", "odd degree 3"),
])
def test_negative_capable_kernels_rejected(name, why):
    with pytest.raises(ValueError, match=why):
        make_attention(name, 8)


def test_negative_capable_kernel_in_functions_rejected():
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="cannot use this kernel as attention weights"):
        kernel_attention(q, k, v, LinearKernel(scale=None))
    with pytest.raises(ValueError, match="odd degree"):
        feature_attention(q, k, v, TaylorFeatures(EDPKernel(scale=None), degree=5))


def test_bad_shapes_rejected():
    q, k, v = _qkv(S=7)
    spec = make_attention("edp", 8)
    with pytest.raises(ValueError, match="causal attention needs as many queries as keys"):
        attention(q, k, v, spec, causal=True)
    with pytest.raises(ValueError, match="same head dimension"):
        attention(q[..., :4], k, v, spec)
    with pytest.raises(ValueError, match="non-empty"):
        attention(q[:0], k[:0], v[:0], spec)


def test_spec_reports_feature_dimension():
    assert make_attention("edp", 8).feature_dim == math.inf
    assert make_attention("taylor2", 8).feature_dim == math.comb(10, 2)
    assert make_attention("poly2", 8).feature_dim == math.comb(10, 2)
    assert make_attention("prf16", 8, seed=0).feature_dim == 16
    assert isinstance(make_attention("elu", 8), AttentionSpec)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("N", [2, 4])
def test_truncated_series_path_equals_taylor_feature_path(causal, N):
    """make_attention("taylorN") has two paths for one function: Horner series and features."""
    q, k, v = _qkv(L=70, scale=0.7)
    exact = attention(q, k, v, make_attention(f"taylor{N}", 8), causal=causal)
    spec_f = make_attention(f"taylor{N}", 8, path="features")
    assert spec_f.linear_time and not make_attention(f"taylor{N}", 8).linear_time
    feat = attention(q, k, v, spec_f, causal=causal)
    assert (exact - feat).abs().max().item() < EXACT_TOL


def test_polynomial_weights_have_finite_gradients_where_kappa_vanishes():
    """Regression: (u + 1)^2 = 0 at u = -1; through log κ the gradient was 0·∞ = NaN,
    which made poly2 training diverge (recall task, step ~220)."""
    q = torch.tensor([[[[1.0, 0.0]]]], dtype=torch.float64, requires_grad=True)  # (1,1,1,2)
    k = torch.tensor([[[[-1.0, 0.0], [0.5, 0.5], [0.2, -0.3]]]], dtype=torch.float64,
                     requires_grad=True)  # first key: u = q·k = -1 exactly
    v = torch.randn(1, 1, 3, 2, dtype=torch.float64)
    out, w = attention(q, k, v, make_attention("poly2", 2), need_weights=True)
    assert w[0, 0, 0, 0].item() == 0.0
    out.sum().backward()
    assert torch.isfinite(q.grad).all() and torch.isfinite(k.grad).all()
