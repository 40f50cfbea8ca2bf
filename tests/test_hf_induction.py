"""The induction-head toy model: data, scores, save/load, attention-only blocks."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from rkbs.attention.hf import check_exactness, extract_heads  # noqa: E402
from rkbs.attention.hf.induction import (  # noqa: E402
    head_scores,
    induction_model,
    load_induction_model,
    repeated_tokens,
    save_induction_model,
    train_induction_model,
)

SMALL = {"vocab": 12, "half": 6, "n_embd": 8, "n_layer": 2, "n_head": 2}


def test_repeated_tokens_structure():
    x = repeated_tokens(5, SMALL, seed=0)
    np.testing.assert_array_equal(x[:, :6], x[:, 6:])
    v = repeated_tokens(50, SMALL, seed=1, variable_offset=True)
    assert v.shape == (50, 12) and v.max() < 12
    # each row ends with a repeated segment of length k in [T/2, T]
    ks = []
    for row in v:
        k = next(k for k in range(6, 2, -1) if np.array_equal(row[12 - k:], row[12 - 2 * k:12 - k]))
        ks.append(k)
    assert min(ks) >= 3 and len(set(ks)) > 1  # the offset varies: no positional shortcut


class _Rec:
    def __init__(self, P, layer=0, head=0):
        self.weights, self.layer, self.head = P, layer, head


def test_head_scores_on_known_maps():
    T, L = 4, 8
    prev = np.zeros((2, L, L))
    prev[:, 0, 0] = 1
    prev[:, np.arange(1, L), np.arange(L - 1)] = 1          # attends to i - 1
    ind = np.tile(np.eye(L), (2, 1, 1))
    j = np.arange(T, L)
    ind[:, j, :] = 0
    ind[:, j, j - T + 1] = 1                                  # the token after the last copy
    s = head_scores([_Rec(prev), _Rec(ind, 1, 0)], T)
    assert s[0]["prev_token"] == 1.0 and s[0]["induction"] == 0.0
    assert s[1]["induction"] == 1.0 and s[1]["prev_token"] < 0.5
    with pytest.raises(ValueError, match="expected 2\\*half = 10"):
        head_scores([_Rec(prev)], 5)


def test_attention_only_model_roundtrip(tmp_path):
    model, hist = train_induction_model(steps=3, batch=4, setup=SMALL, log_every=1, seed=0)
    assert len(hist) == 4 and hist[-1]["step"] == 3
    ids = torch.as_tensor(repeated_tokens(3, SMALL, seed=2))
    # the MLPs add nothing: hidden state after block = input + attention output
    blk = model.transformer.h[0]
    x = torch.randn(1, 5, SMALL["n_embd"])
    assert torch.count_nonzero(blk.mlp(x)) == 0
    path = save_induction_model(model, tmp_path / "m.npz", hist)
    m2, h2 = load_induction_model(path, SMALL)
    assert h2 == hist
    with torch.no_grad():
        # float32 weights stored exactly: identical logits
        torch.testing.assert_close(m2(ids).logits, model(ids).logits, rtol=0, atol=0)
    # the toy model reads like any GPT-2: exact per-head probabilities
    assert check_exactness(extract_heads(m2, ids))["passed"]
    # negative control: a freshly initialized model of another seed has other logits
    other = induction_model(SMALL, seed=1).eval()
    with torch.no_grad():
        assert (other(ids).logits - model(ids).logits).abs().max() > 1e-3
    with pytest.raises(FileNotFoundError, match="no induction-model weights"):
        load_induction_model(tmp_path / "missing.npz")
