"""The small Transformer (rkbs.attention.model) and attention extraction (extract.py)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rkbs.attention.extract import extract_attention  # noqa: E402
from rkbs.attention.model import TransformerConfig, build_model  # noqa: E402

NAMES = ["edp", "rbf", "exp_intersection", "poly2", "elu", "taylor2", "prf16"]


def _cfg(kernel="edp", **kw):
    return TransformerConfig(src_vocab=11, tgt_vocab=13, d_model=16, n_heads=2, d_ff=32,
                             n_enc_layers=1, n_dec_layers=2, max_len=10, kernel=kernel, **kw)


def _batch(seed=0, B=3, S=7, T=6):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, 11, (B, S), generator=g)
    tgt = torch.randint(4, 13, (B, T), generator=g)
    src[0, 5:] = 0  # padding
    tgt[1, 4:] = 0
    tgt[:, 0] = 1  # BOS
    return src, tgt


@pytest.mark.parametrize("kernel", NAMES)
def test_forward_shapes_and_weights_of_every_head(kernel):
    cfg = _cfg(kernel)
    model = build_model(cfg, seed=0)
    src, tgt = _batch()
    logits, rec = model(src, tgt, return_attention=True)
    assert logits.shape == (3, 6, 13) and torch.isfinite(logits).all()
    assert [r["kind"] for r in rec] == ["encoder_self", "decoder_self", "decoder_cross"] * 1 + [
        "decoder_self", "decoder_cross"]
    for r in rec:
        w = r["weights"]
        assert w.shape[:2] == (3, 2)
        # rows are probability vectors (float32 round-off over <= 7 terms)
        assert (w >= 0).all() and (w.sum(-1) - 1).abs().max() < 1e-5
    heads = extract_attention(model, src, tgt)
    assert len(heads) == 5 * cfg.n_heads


def test_build_is_seeded_and_leaves_global_rng_alone():
    state = torch.get_rng_state()
    a, b, c = (build_model(_cfg(), seed=s) for s in (0, 0, 1))
    assert torch.equal(torch.get_rng_state(), state)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


def test_extracted_edp_heads_are_the_theory_kernel():
    model = build_model(_cfg("edp"), seed=0)
    src, tgt = _batch()
    for rec in extract_attention(model, src, tgt):
        kern = rec.kernel()  # EDPKernel(W_Q, W_K) with the attention scale d^{-1/4}
        assert kern.name == "edp" and rec.W_Q.shape == (8, 16)
        for b in range(3):
            t, s, P = rec.sequence(b)
            logK = kern.log(t, s)
            if rec.causal:
                logK = np.where(np.tri(*logK.shape, dtype=bool), logK, -np.inf)
            ref = np.exp(logK - logK.max(1, keepdims=True))
            ref /= ref.sum(1, keepdims=True)
            # the model runs in float32 (eps 1.2e-7) on O(1) logits
            assert np.abs(P - ref).max() < 1e-5
    # control: a different head's maps do not reproduce the map
    recs = extract_attention(model, src, tgt)
    t, s, P = recs[0].sequence(1)
    logK = recs[1].kernel().log(t, s)
    other = np.exp(logK - logK.max(1, keepdims=True))
    other /= other.sum(1, keepdims=True)
    assert np.abs(P - other).max() > 1e-3


@pytest.mark.parametrize("kernel", ["edp", "prf16", "elu"])
def test_decoder_is_causal(kernel):
    model = build_model(_cfg(kernel), seed=0).eval()
    src, tgt = _batch()
    tgt[1, 4:] = 5  # no padding in this test
    t = 2
    tgt2 = tgt.clone()
    tgt2[:, t + 1:] = 9
    with torch.no_grad():
        a, b = model(src, tgt), model(src, tgt2)
    # identical inputs up to t; float32 round-off of the feature path's key rescaling
    assert (a[:, : t + 1] - b[:, : t + 1]).abs().max() < 1e-5
    assert (a[:, t + 1:] - b[:, t + 1:]).abs().max() > 1e-3  # control: later positions change


def test_greedy_decode():
    model = build_model(_cfg(), seed=0)
    src, _ = _batch()
    out = model.greedy_decode(src, max_len=5)
    assert out.shape[0] == 3 and 1 <= out.shape[1] <= 5 and out.dtype == torch.long


def test_bad_inputs():
    model = build_model(_cfg(), seed=0)
    src, tgt = _batch()
    with pytest.raises(ValueError, match="length 12 > the model's max_len=10"):
        model(torch.ones(2, 12, dtype=torch.long), tgt)
    with pytest.raises(ValueError, match="empty"):
        model(src[:0], tgt[:0])
    with pytest.raises(ValueError, match="unknown attention kernel 'softmaxx'.*valid names"):
        build_model(_cfg("softmaxx"))
    with pytest.raises(ValueError, match="linear kernel takes negative values"):
        build_model(_cfg("linear"))
    with pytest.raises(ValueError, match="divisible"):
        TransformerConfig(src_vocab=5, tgt_vocab=5, d_model=10, n_heads=3)
