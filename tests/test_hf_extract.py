"""HuggingFace extraction: the rotary kernel, affine maps, and the exactness check on tiny
GPT-2 / BERT / Llama models built from configs (no download)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from rkbs.attention.hf import (  # noqa: E402
    check_exactness,
    extract_heads,
    generic_layout,
    recompute_weights,
    tiny_model,
)
from rkbs.diagnostics import mercer_report  # noqa: E402
from rkbs.kernels import get_kernel  # noqa: E402
from rkbs.kernels.rotary import RotaryKernel, rope_frequencies  # noqa: E402


def _batch(vocab=64, B=3, L=10, seed=0, pad_row=1, pad_from=7):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (B, L), generator=g)
    am = torch.ones_like(ids)
    am[pad_row, pad_from:] = 0  # right padding in one row
    return ids, am


# --------------------------------------------------------------------- rotary kernel
def _rope_reference(u, p, inv_freq):
    """Rotation by complex multiplication: pair (u_f, u_{f+d/2}) as u_f + i u_{f+d/2}."""
    h = u.shape[-1] // 2
    z = (u[:, :h] + 1j * u[:, h:]) * np.exp(1j * p[:, None] * inv_freq[None, :])
    return np.concatenate([z.real, z.imag], axis=1)


def test_rotary_kernel_matches_complex_rotation(rng):
    d, D, n = 6, 5, 7
    Wq, Wk = rng.normal(size=(d, D)), rng.normal(size=(d, D))
    X = np.c_[rng.normal(size=(n, D)), rng.integers(0, 50, n)]
    Y = np.c_[rng.normal(size=(n + 2, D)), rng.integers(0, 50, n + 2)]
    w = rope_frequencies(d, 500.0)
    kern = get_kernel("rotary", W_Q=Wq, W_K=Wk, inv_freq=w, attention_scaling=1.3)
    q = _rope_reference(X[:, :-1] @ Wq.T, X[:, -1], w) * 1.3 * d ** -0.25
    k = _rope_reference(Y[:, :-1] @ Wk.T, Y[:, -1], w) * 1.3 * d ** -0.25
    # same formula by two routes in float64: agreement to a few ulps of exp(|q.k|)
    np.testing.assert_allclose(kern(X, Y), np.exp(q @ k.T), rtol=1e-12)
    # torch parity (one implementation, array-api namespace)
    Kt = kern(torch.as_tensor(X), torch.as_tensor(Y))
    np.testing.assert_allclose(Kt.numpy(), kern(X, Y), rtol=1e-12)


def test_rotary_kernel_depends_on_relative_position_only(rng):
    d, D = 4, 3
    kern = RotaryKernel(rng.normal(size=(d, D)), rng.normal(size=(d, D)), theta=100.0)
    X = np.c_[rng.normal(size=(5, D)), np.arange(5)]
    Y = np.c_[rng.normal(size=(6, D)), np.arange(6) + 2]
    shift = np.zeros(D + 1)
    shift[-1] = 17.0
    # R_p^T R_p' = R_{p'-p}: a common shift changes nothing (round-off of cos/sin: 1e-12)
    np.testing.assert_allclose(kern(X + shift, Y + shift), kern(X, Y), rtol=1e-12)
    # negative control: shifting one side only does change the kernel
    assert np.max(np.abs(kern(X + shift, Y) / kern(X, Y) - 1)) > 1e-2


def test_rotary_kernel_tied_is_mercer_untied_is_not(rng):
    d, D, n = 4, 3, 30
    W = rng.normal(size=(d, D)) * 0.7
    X = np.c_[rng.normal(size=(n, D)), rng.integers(0, 20, n)]
    tied = RotaryKernel(W, W, theta=50.0)
    rep = mercer_report(tied, X)
    assert tied.positive_definite and rep.n_negative == 0
    assert rep.asymmetry < 1e-12  # symmetric up to round-off of the two rotation routes
    untied = RotaryKernel(W, rng.normal(size=(d, D)) * 0.7, theta=50.0)
    rep2 = mercer_report(untied, X)
    assert not untied.positive_definite and rep2.n_negative > 0 and rep2.asymmetry > 0.1


def test_rotary_kernel_rejects_bad_input(rng):
    with pytest.raises(ValueError, match="head_dim must be an even"):
        rope_frequencies(5)
    with pytest.raises(ValueError, match="inv_freq has 3 frequencies"):
        RotaryKernel(rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), inv_freq=np.ones(3))
    kern = RotaryKernel(rng.normal(size=(4, 3)), rng.normal(size=(4, 3)))
    with pytest.raises(ValueError, match="W_Q has shape"):
        kern(rng.normal(size=(2, 3)), rng.normal(size=(2, 4)))


# ------------------------------------------------------------------------ exactness
@pytest.mark.parametrize("arch", ["gpt2", "bert", "llama"])
def test_exactness_check_per_head(arch):
    model = tiny_model(arch, seed=1)
    ids, am = _batch()
    recs = extract_heads(model, ids, am)
    n_heads = 2
    assert len(recs) == 2 * n_heads
    rep = check_exactness(recs, tol=1e-6)
    # float64 model: gpt2/bert agree to ~1e-16; llama's eager path takes its softmax and
    # its rotary cos/sin in float32 (eps 6e-8), measured 4e-8 -- 1e-6 is the spec's bound
    assert rep["passed"], rep["rows"]
    assert rep["controls_fail"], rep["rows"]
    for r in rep["rows"]:
        assert r["max_abs_err"] <= 1e-6
        # negative controls miss by orders of magnitude more than the tolerance
        assert r["swapped_err"] > 1e-3 and r["other_head_err"] > 1e-3
    rec = recs[0]
    # padded keys get zero weight, rows over allowed keys sum to one
    assert np.all(rec.weights[1][:, 7:][rec.query_mask[1]] == 0)
    np.testing.assert_allclose(rec.weights.sum(-1)[rec.query_mask], 1.0, atol=1e-12)
    assert rec.causal == (arch != "bert")
    if arch != "llama":
        assert rec.affine  # GPT-2 / BERT heads have biases: the constant coordinate matters
        rec_nobias = rec.__class__(**{**rec.__dict__, "b_Q": 0 * rec.b_Q, "b_K": 0 * rec.b_K})
        err = np.max(np.abs(recompute_weights(rec_nobias) - rec.weights)[rec.query_mask])
        assert err > 1e-2  # negative control: dropping the biases breaks exactness


def test_llama_rotary_head_is_position_dependent():
    model = tiny_model("llama", seed=2, n_heads=4)
    ids, am = _batch(pad_row=0, pad_from=10)
    rec = extract_heads(model, ids, am, layers=[1], heads=[3])[0]
    assert rec.rotary is not None and rec.kv_head == 1  # grouped-query: 4 heads, 2 key heads
    assert rec.points().shape[-1] == rec.states.shape[-1] + 2  # (x, 1, p)
    np.testing.assert_allclose(recompute_weights(rec), rec.weights, atol=1e-6, rtol=0)
    # negative control: the same kernel with all positions set to 0 (no rotation) fails
    flat = rec.__class__(**{**rec.__dict__, "positions": 0 * rec.positions})
    assert np.max(np.abs(recompute_weights(flat) - rec.weights)) > 1e-2


def test_generic_layout_reproduces_builtin():
    model = tiny_model("bert", seed=3)
    ids, am = _batch()
    lay = generic_layout(model, query="encoder.layer.{i}.attention.self.query",
                         key="encoder.layer.{i}.attention.self.key", n_layers=2, n_heads=2,
                         causal=False)
    a = extract_heads(model, ids, am)
    b = extract_heads(model, ids, am, layout=lay)
    for ra, rb in zip(a, b):
        np.testing.assert_array_equal(ra.W_Q, rb.W_Q)
        np.testing.assert_array_equal(ra.b_K, rb.b_K)
        np.testing.assert_array_equal(ra.states, rb.states)
    assert check_exactness(b)["passed"]
    # a wrong offset (keys read from the query block) is caught by the exactness check
    bad = generic_layout(model, query="encoder.layer.{i}.attention.self.query",
                         key="encoder.layer.{i}.attention.self.query", n_layers=2, n_heads=2,
                         causal=False)
    assert not check_exactness(extract_heads(model, ids, am, layout=bad))["passed"]


def test_extraction_rejects_bad_input():
    model = tiny_model("gpt2", seed=0)
    ids, am = _batch()
    with pytest.raises(ValueError, match="layer 5 out of range"):
        extract_heads(model, ids, am, layers=[5])
    with pytest.raises(ValueError, match="attention_mask must have shape"):
        extract_heads(model, ids, am[:, :3])
    with pytest.raises(ValueError, match="no module 'nope.0'"):
        generic_layout(model, query="nope.{i}", key="nope.{i}", n_layers=1, n_heads=2,
                       causal=True)
    with pytest.raises(ValueError, match="position_embedding_type"):
        import transformers

        m = transformers.BertModel(transformers.BertConfig(
            num_hidden_layers=1, num_attention_heads=2, hidden_size=8, intermediate_size=8,
            vocab_size=10, position_embedding_type="relative_key"))
        extract_heads(m, ids % 10)


def test_import_rkbs_does_not_import_transformers():
    code = ("import sys, rkbs, rkbs.attention.hf, rkbs.kernels.rotary; "
            "print('transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_missing_transformers_message(monkeypatch):
    import rkbs.attention.hf._deps as deps

    monkeypatch.setitem(sys.modules, "transformers", None)  # import -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'rkbs\[hf\]'"):
        deps.require_transformers()
