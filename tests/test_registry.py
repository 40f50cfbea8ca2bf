"""The one attention-kernel registry (rkbs.features.registry) and the kernels it names.

DPFP against its definition (brute-force loops and the authors' published code),
elu+1 against torch's elu, the Taylor kernel's closed form against the Taylor features'
Gram, and every registered name: builds, numpy/torch parity, declared D = actual width,
attention rows are probabilities, unknown names are refused with the list.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import to_numpy

from rkbs.features import (
    ATTENTION_KERNELS,
    AttentionKernelFamily,
    DPFPFeatures,
    EluFeatures,
    TaylorFeatures,
    attention_kernel_names,
    build_attention_kernel,
    dpfp,
    parse_attention_name,
    register_attention_kernel,
)
from rkbs.kernels import (
    BinaryKernel,
    DPFPKernel,
    EDPKernel,
    EluKernel,
    TruncatedEDPKernel,
    elu_plus_one,
    get_kernel,
    truncated_exp,
)

EPS = np.finfo(np.float64).eps


def _example(fam) -> str:
    """A valid name of a family (``taylor4``, ``prf64``, ``edp``)."""
    return fam.name if fam.param is None else f"{fam.name}{fam.example}"


LISTED = [_example(f) for f in ATTENTION_KERNELS.values() if f.listed]


# --------------------------------------------------------------------------- DPFP
def _dpfp_brute(u, nu):
    """φ_ν(u) from the definition, with Python loops: r = ReLU([u, -u]),
    φ[(j-1)·2d + i] = r_i · r_{(i-j) mod 2d}, i = 0..2d-1, j = 1..ν."""
    d = len(u)
    r = [max(u[i], 0.0) for i in range(d)] + [max(-u[i], 0.0) for i in range(d)]
    out = []
    for j in range(1, nu + 1):
        for i in range(2 * d):
            out.append(r[i] * r[(i - j) % (2 * d)])
    return np.array(out)


def _dpfp_published(x, nu):
    """The authors' published torch code (Schlag et al. 2021), transcribed."""
    import torch

    x = torch.cat([torch.relu(x), torch.relu(-x)], dim=-1)
    rolled = torch.cat([x.roll(shifts=j, dims=-1) for j in range(1, nu + 1)], dim=-1)
    return torch.cat([x] * nu, dim=-1) * rolled


@pytest.mark.parametrize("nu", [1, 2, 3])
def test_dpfp_matches_definition_loop(nu, rng, backend):
    U = rng.normal(size=(5, 4))
    F = to_numpy(dpfp(backend(U), nu))
    assert F.shape == (5, 2 * nu * 4)
    ref = np.stack([_dpfp_brute(u, nu) for u in U])
    # each entry is one product of two floats: exact up to one rounding
    np.testing.assert_allclose(F, ref, rtol=EPS, atol=0)


@pytest.mark.parametrize("nu", [1, 2, 3])
def test_dpfp_matches_published_code(nu, rng):
    torch = pytest.importorskip("torch")
    U = torch.as_tensor(rng.normal(size=(2, 3, 6, 8)))
    # the same products in the same order: bit-identical
    assert torch.equal(dpfp(U, nu), _dpfp_published(U, nu))


@pytest.mark.parametrize("nu", [1, 2, 3])
def test_dpfp_published_dimension(nu):
    """Schlag et al. 2021, §4.2: d_dot = 2ν·d_key; their retrieval setting has d_key = 64."""
    from rkbs.attention.kernel_attention import make_attention

    spec = make_attention(f"dpfp{nu}", 64)
    assert spec.feature_dim == 2 * nu * 64
    assert spec.linear_time  # the feature path by default


def test_dpfp_is_nonnegative_and_sparse_in_the_right_places(rng):
    U = rng.normal(size=(200, 6)) * 3.0
    F = dpfp(U, 3)
    assert (F >= 0).all()
    # control of the property: r(u) has exactly d non-zeros (one of u_i, -u_i is > 0),
    # so with ν = 1 the pair (r_i, r_{i-1}) straddling the halves can be non-zero ...
    assert (F > 0).any()
    # ... but a coordinate never multiplies its own negative half: r_i r_{i-d} = 0
    d = U.shape[1]
    i = np.arange(d, 2 * d)  # shift j = d lies inside ν ≤ 2d − 1: check it explicitly
    Fd = dpfp(U, d)[:, (d - 1) * 2 * d + i]
    assert np.all(Fd == 0.0)


def test_dpfp_kernel_route_equals_feature_gram(rng, backend):
    """DPFPKernel sums the circular autocorrelation of a = r(q)⊙r(k) (no features)."""
    W_Q, W_K = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    X, Y = rng.normal(size=(7, 6)), rng.normal(size=(5, 6))
    for nu in (1, 2, 3):
        kern = get_kernel("dpfp", W_Q=backend(W_Q), W_K=backend(W_K), nu=nu)
        pair = DPFPFeatures(kern)
        K, G = to_numpy(kern(backend(X), backend(Y))), to_numpy(pair.gram(backend(X), backend(Y)))
        # sums of 2νd = 24ν non-negative products: relative round-off ~ 24ν eps
        np.testing.assert_allclose(K, G, rtol=100 * nu * EPS, atol=0)
        assert pair.n_features == kern.feature_dim == 2 * nu * 4


def test_dpfp_negative_controls(rng):
    """A wrong roll direction permutes the features (different map, same kernel); a
    wrong r (no negative half) changes the kernel, and the kernel-route check sees it."""
    U, V = rng.normal(size=(6, 5)), rng.normal(size=(4, 5))
    R = np.concatenate([np.maximum(U, 0), np.maximum(-U, 0)], -1)
    backwards = np.concatenate([R * np.roll(R, -j, -1) for j in (1, 2)], -1)
    F = dpfp(U, 2)
    assert np.abs(backwards - F).max() > 0.1  # the map differs ...
    RV = np.concatenate([np.maximum(V, 0), np.maximum(-V, 0)], -1)
    back_V = np.concatenate([RV * np.roll(RV, -j, -1) for j in (1, 2)], -1)
    K = DPFPKernel(scale=None, nu=2)(U, V)
    np.testing.assert_allclose(backwards @ back_V.T, K, rtol=1e-13)  # ... the kernel not
    # a wrong r: ReLU(u) only (d coordinates), rolled the same way
    Rw, RwV = np.maximum(U, 0), np.maximum(V, 0)
    wrong = sum((Rw * np.roll(Rw, j, -1)) @ (RwV * np.roll(RwV, j, -1)).T for j in (1, 2))
    assert np.abs(wrong - K).max() > 1e-2 * np.abs(K).max()


def test_dpfp_query_seeing_only_vanishing_keys_attends_to_nothing():
    """d = 2, ν = 1: φ(1, 1) = (0, 1, 0, 0) is orthogonal to φ(-1, -1) = (0, 0, 0, 1) and
    to φ(2, -0.5) = (1, 0, 0, 0), so the first row's normalizer is 0; both paths give a zero row and output, finite gradients."""
    torch = pytest.importorskip("torch")
    from rkbs.attention.kernel_attention import attention, make_attention

    q = torch.tensor([[[[1.0, 1.0], [0.5, -1.0]]]], dtype=torch.float64, requires_grad=True)
    k = torch.tensor([[[[-1.0, -1.0], [2.0, -0.5]]]], dtype=torch.float64, requires_grad=True)
    v = torch.randn(1, 1, 2, 3, dtype=torch.float64)
    for path in ("features", "exact"):
        for causal in (False, True):
            out, w = attention(q, k, v, make_attention("dpfp1", 2, path=path), causal=causal,
                               need_weights=True)
            assert torch.equal(w[0, 0, 0], torch.zeros(2, dtype=torch.float64))
            assert torch.equal(out[0, 0, 0], torch.zeros(3, dtype=torch.float64))
            # control: the second query, φ = (0.5, 0, 0, 0), sees the second key,
            # φ = (1, 0, 0, 0) (the first one sees neither)
            assert w[0, 0, 1].sum().item() == pytest.approx(1.0, abs=1e-15)
            q.grad = k.grad = None
            out.sum().backward()
            assert torch.isfinite(q.grad).all() and torch.isfinite(k.grad).all()


def test_dpfp_order_is_checked():
    with pytest.raises(ValueError, match="nu must be >= 1, got nu=0"):
        DPFPKernel(nu=0)
    with pytest.raises(ValueError, match=r"nu must be <= 2d - 1 = 7 for head dimension d=4"):
        DPFPKernel(nu=8, dim=4)
    with pytest.raises(ValueError, match="nu must be <= 2d - 1 = 3"):
        dpfp(np.ones((2, 2)), 4)
    with pytest.raises(ValueError, match="nu=2 disagrees with the kernel's nu=1"):
        DPFPFeatures(DPFPKernel(nu=1), nu=2)
    with pytest.raises(ValueError, match="needs a DPFPKernel"):
        DPFPFeatures(EDPKernel())


# ---------------------------------------------------------------------------- elu
def test_elu_plus_one_matches_torch_elu(rng):
    torch = pytest.importorskip("torch")
    U = rng.normal(size=(50, 3)) * 4.0
    ref = torch.nn.functional.elu(torch.as_tensor(U)) + 1.0
    # torch computes expm1(u) + 1: the "+ 1" rounds at magnitude 1, an absolute error
    # of up to eps/2 (relative error large where e^u is small); we compute e^u directly
    np.testing.assert_allclose(elu_plus_one(U), ref.numpy(), rtol=2 * EPS, atol=EPS)
    # against the definition, entry by entry: one rounding of exp or of u + 1
    defn = np.array([[u + 1.0 if u > 0 else math.exp(u) for u in row] for row in U])
    np.testing.assert_allclose(elu_plus_one(U), defn, rtol=EPS, atol=0)
    assert (elu_plus_one(U) > 0).all()
    # gradient at large positive u (the discarded exp branch must not overflow into NaN)
    t = torch.tensor([800.0, -3.0], dtype=torch.float64, requires_grad=True)
    elu_plus_one(t).sum().backward()
    assert torch.allclose(t.grad, torch.tensor([1.0, math.exp(-3.0)], dtype=torch.float64))


def test_elu_kernel_equals_its_features(rng, backend):
    W_Q, W_K = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    kern = EluKernel(backend(W_Q), backend(W_K))
    X, Y = backend(rng.normal(size=(6, 5))), backend(rng.normal(size=(4, 5)))
    pair = EluFeatures(kern)
    # the same matrix product of the same features
    np.testing.assert_allclose(to_numpy(kern(X, Y)), to_numpy(pair.gram(X, Y)), rtol=1e-15)
    assert pair.n_features == kern.feature_dim == 3


# ------------------------------------------------------------------ Taylor series
@pytest.mark.parametrize("N", [0, 1, 2, 3, 6])
def test_truncated_exp_against_sum_of_terms(N, rng, backend):
    U = rng.normal(size=(4, 5)) * 2.0
    ref = np.array([[sum(u**n / math.factorial(n) for n in range(N + 1)) for u in row]
                    for row in U])
    got = to_numpy(truncated_exp(backend(U), N))
    # Horner on |u| <= ~6: relative round-off of a few eps times the condition number
    # Σ|u|^n/n! / |e_N(u)|, bounded here by e^{|u|}/|e_N(u)|
    cond = np.exp(np.abs(U)) / np.abs(ref)
    assert np.all(np.abs(got - ref) <= 8 * EPS * cond * np.abs(ref))


@pytest.mark.parametrize("N", [1, 2, 3, 4])
def test_taylor_kernel_closed_form_equals_feature_gram(N, rng, backend):
    """κ_N(x, y) = Σ_{n≤N} (q·k)^n/n! equals ⟨φ(q), φ(k)⟩, φ_α = q^α/√α! (multinomial)."""
    W_Q, W_K = rng.normal(size=(3, 4)) * 0.7, rng.normal(size=(3, 4)) * 0.7
    X, Y = rng.normal(size=(6, 4)), rng.normal(size=(5, 4))
    kern = TruncatedEDPKernel(backend(W_Q), backend(W_K), degree=N)
    pair = TaylorFeatures(EDPKernel(backend(W_Q), backend(W_K)), degree=N)
    K, G = to_numpy(kern(backend(X), backend(Y))), to_numpy(pair.gram(backend(X), backend(Y)))
    # C(3+N, N) <= 35 O(1) products summed: a few hundred eps
    np.testing.assert_allclose(K, G, rtol=1e-12, atol=1e-13)
    assert kern.feature_dim == pair.n_features == math.comb(3 + N, N)
    # negative control: the features of degree N + 1 are another kernel
    other = TaylorFeatures(EDPKernel(backend(W_Q), backend(W_K)), degree=N + 1)
    assert np.abs(to_numpy(other.gram(backend(X), backend(Y))) - K).max() > 1e-4


def test_taylor_kernel_sign_and_log():
    X = np.array([[-3.0]])
    assert TruncatedEDPKernel(scale=None, degree=4).nonnegative
    assert not TruncatedEDPKernel(scale=None, degree=3).nonnegative
    assert TruncatedEDPKernel(scale=None, degree=3)(X, X) > 0  # u = 9 > 0
    assert TruncatedEDPKernel(scale=None, degree=3)(X, -X) < 0  # e_3(-9) = -71.5 < 0
    assert TruncatedEDPKernel(scale=None, degree=4)(X, -X) > 0  # e_4(-9) = 201.9 > 0
    with pytest.raises(ValueError, match="odd degree 3 takes negative values"):
        TruncatedEDPKernel(scale=None, degree=3).log(X, X)


# ------------------------------------------------------------- every registered name
@pytest.mark.parametrize("name", LISTED)
def test_every_name_builds_with_declared_dimension_and_backend_parity(name, rng):
    torch = pytest.importorskip("torch")
    d = 4
    built = build_attention_kernel(name, d, seed=0)
    Q, K = rng.normal(size=(2, 6, d)) * 0.5, rng.normal(size=(2, 5, d)) * 0.5
    Qt, Kt = torch.as_tensor(Q), torch.as_tensor(K)
    if built.kernel is not None:
        a, b = built.kernel.from_qk(Q, K), built.kernel.from_qk(Qt, Kt)
        assert a.shape == (2, 6, 5)
        # the same float64 operations on both backends (BLAS order aside)
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-13)
    if built.features is not None:
        f = built.features
        fq, fqt = f.map_q(Q), f.map_q(Qt)
        np.testing.assert_allclose(fq, fqt.numpy(), rtol=1e-13, atol=1e-300)
        assert fq.shape[-1] == built.feature_dim == f.n_features  # declared = actual width
        fk = f.map_k(K)
        if built.kernel is not None and f.exact:  # exact pairs: Gram = kernel
            np.testing.assert_allclose(fq @ np.swapaxes(fk, -1, -2), built.kernel.from_qk(Q, K),
                                       rtol=1e-12)
    else:
        assert built.feature_dim == math.inf


@pytest.mark.parametrize("name", LISTED)
def test_every_name_gives_attention_weights(name):
    torch = pytest.importorskip("torch")
    from rkbs.attention.kernel_attention import attention, make_attention

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 2, 9, 4, generator=g, dtype=torch.float64) * 0.6
               for _ in range(3))
    spec = make_attention(name, 4, seed=0)
    _, w = attention(q, k, v, spec, causal=True, need_weights=True)
    assert (w >= 0).all() and (w.triu(1) == 0).all()
    # a normalized sum of <= 9 positive terms: ~9 eps; DPFP may vanish on a whole row
    # (its features are sparse), which then stays exactly zero
    rows = w.sum(-1)
    vanishing = rows == 0
    assert ((rows - 1).abs()[~vanishing].max().item() < 1e-13)
    assert not vanishing.any() or name.startswith("dpfp")
    if spec.kernel is not None and spec.features is not None:  # both paths, one function
        other = make_attention(name, 4, path="exact" if spec.linear_time else "features")
        _, w2 = attention(q, k, v, other, causal=True, need_weights=True)
        # exact pairs: the two paths agree to round-off of O(D) sums
        assert (w - w2).abs().max().item() < 1e-12


def test_names_parse_with_aliases_and_separators():
    assert parse_attention_name("Taylor-4") == (ATTENTION_KERNELS["taylor"], 4)
    assert parse_attention_name("prf_64")[1] == 64
    assert parse_attention_name("favor16") == (ATTENTION_KERNELS["prf"], 16)
    assert parse_attention_name("poly") == (ATTENTION_KERNELS["poly"], 2)
    assert parse_attention_name("polynomial4") == (ATTENTION_KERNELS["poly"], 4)
    assert parse_attention_name("softmax") == (ATTENTION_KERNELS["edp"], None)
    assert parse_attention_name("elu+1")[0] is ATTENTION_KERNELS["elu"]
    assert "dpfp<nu>" in attention_kernel_names() and "linear" not in attention_kernel_names()


@pytest.mark.parametrize("name,match", [
    ("foo", r"unknown attention kernel 'foo'; valid names: edp, .*taylor<N>.*dpfp<nu>"),
    ("taylor", r"'taylor' needs its number: taylor<N> \(N even\), e.g. taylor4"),
    ("edp2", "'edp' takes no number"),
    ("prf0", "D must be >= 1, got 0"),
    ("taylor3", "odd degree 3 takes negative values; use an even N"),
])
def test_bad_names_are_refused_before_building(name, match):
    with pytest.raises(ValueError, match=match):
        parse_attention_name(name)
    with pytest.raises(TypeError, match="must be a str, got int"):
        parse_attention_name(4)


def test_odd_degrees_parse_outside_attention():
    """Comparison and the machines use odd truncations (not as attention weights)."""
    built = build_attention_kernel("taylor3", 4, attention=False, scale="attention")
    assert isinstance(built.kernel, TruncatedEDPKernel) and built.kernel.degree == 3


def test_registration_refuses_taken_names():
    fam = AttentionKernelFamily("softmax", lambda kernel, p, **kw: (kernel("edp"), None))
    with pytest.raises(ValueError, match="'softmax' is already registered"):
        register_attention_kernel(fam)
    assert "softmax" not in ATTENTION_KERNELS  # nothing half-registered


# ------------------------------------------------- extraction and comparison use it
def _model_and_batch(kernel):
    torch = pytest.importorskip("torch")
    from rkbs.attention.model import TransformerConfig, build_model

    cfg = TransformerConfig(src_vocab=11, tgt_vocab=13, d_model=16, n_heads=2, d_ff=32,
                            n_enc_layers=1, n_dec_layers=1, max_len=10, kernel=kernel)
    g = torch.Generator().manual_seed(0)
    src = torch.randint(4, 11, (3, 7), generator=g)
    tgt = torch.randint(4, 13, (3, 6), generator=g)
    src[0, 5:] = 0  # padding
    tgt[1, 4:] = 0
    tgt[:, 0] = 1  # BOS
    return build_model(cfg, seed=0), src, tgt


def _weights_from(obj, t, s, causal):
    """Attention weights of one sequence from a kernel (log/softmax route where it
    exponentiates, κ/Σκ otherwise) or from a feature pair's Gram."""
    if isinstance(obj, BinaryKernel) and obj.exponentiates:
        logK = obj.log(t, s)
        logK = np.where(np.tri(*logK.shape, dtype=bool), logK, -np.inf) if causal else logK
        W = np.exp(logK - logK.max(1, keepdims=True))
    else:
        W = obj(t, s) if isinstance(obj, BinaryKernel) else obj.gram(t, s)
        W = np.where(np.tri(*W.shape, dtype=bool), W, 0.0) if causal else W
    tot = W.sum(1, keepdims=True)
    return W / np.where(tot > 0, tot, 1.0)


@pytest.mark.parametrize("name", ["edp", "rbf", "poly2", "taylor2", "elu", "dpfp2", "prf16"])
def test_extracted_head_has_its_real_kernel(name):
    from rkbs.attention.extract import extract_attention

    model, src, tgt = _model_and_batch(name)
    recs = extract_attention(model, src, tgt)
    fam, _ = parse_attention_name(name)
    for rec in recs:
        objs = []
        if fam.name == "prf":
            with pytest.raises(ValueError, match=r"'prf16' has no closed form.*features\(\)"):
                rec.kernel()
        else:
            kern = rec.kernel()
            assert kern.name == get_kernel(
                {"poly": "polynomial", "taylor": "taylor_edp"}.get(fam.name, fam.name)).name
            objs.append(kern)
        if rec.spec.features is not None:
            objs.append(rec.features())
        else:
            with pytest.raises(ValueError, match="no finite feature pair"):
                rec.features()
        for obj in objs:
            for b in range(3):
                t, s, P = rec.sequence(b)
                # the model runs in float32 (eps 1.2e-7) on O(1) weights
                assert np.abs(P - _weights_from(obj, t, s, rec.causal)).max() < 1e-5


def test_poly2_head_is_not_silently_an_edp_head():
    """Negative control of the check above: what HeadRecord.kernel() used to return for a
    poly2 head (EDP on its maps) does not reproduce the head's maps."""
    from rkbs.attention.extract import extract_attention

    model, src, tgt = _model_and_batch("poly2")
    rec = extract_attention(model, src, tgt)[0]
    t, s, P = rec.sequence(1)
    assert rec.kernel().name == "polynomial" and rec.kernel().degree == 2
    assert np.abs(P - _weights_from(rec.kernel(), t, s, rec.causal)).max() < 1e-5
    assert np.abs(P - _weights_from(rec.kernel("edp"), t, s, rec.causal)).max() > 1e-3
    # an explicitly named attention kernel on the same maps
    assert rec.kernel("taylor3").degree == 3


def test_head_maps_warns_what_it_dropped():
    from rkbs.attention.compare import head_maps
    from rkbs.attention.extract import extract_attention

    model, src, tgt = _model_and_batch("edp")
    recs = extract_attention(model, src, tgt)  # sequence 0 has 5 real source tokens of 7
    with pytest.warns(UserWarning, match=r"kept 2 of 3 sequences.*\(7, 7\).*dropped 1 "
                                         r"\(1 of shape \(5, 5\)\)"):
        X, Y, P, H, _ = head_maps(recs, "encoder_self", 0, 0)
    assert P.shape == (2, 7, 7)
    # control: one shape, nothing dropped, no warning
    import warnings

    src[0, 5:] = 4
    recs = extract_attention(model, src, tgt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X, Y, P, H, _ = head_maps(recs, "encoder_self", 0, 0)
    assert P.shape == (3, 7, 7)
