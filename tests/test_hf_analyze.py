"""`rkbs analyze-model` and the one-call API on tiny models saved to disk (no download)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from rkbs.attention.hf import extract_heads, tiny_model  # noqa: E402
from rkbs.attention.hf.analyze import (  # noqa: E402
    analyze_model,
    heatmap_grid,
    load_model,
    pack_windows,
)
from rkbs.cli import main  # noqa: E402
from rkbs.machines import masked_row_softmax  # noqa: E402

VOCAB = 64


def _save_tiny(path, arch="gpt2", seed=0):
    """Save a tiny model with a word-level tokenizer (w1 … w63), as a user's checkpoint."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    model = tiny_model(arch, seed=seed, vocab=VOCAB)
    model.save_pretrained(path)
    vocab = {"[PAD]": 0, **{f"w{i}": i for i in range(1, VOCAB)}}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="[PAD]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    transformers.PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[PAD]",
                                         pad_token="[PAD]").save_pretrained(path)
    return model


def _texts(path, n_lines=12, seed=0):
    rng = np.random.default_rng(seed)
    lines = [" ".join(f"w{t}" for t in rng.integers(1, VOCAB, 10)) for _ in range(n_lines)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


def test_cli_writes_report_for_saved_model(tmp_path):
    _save_tiny(tmp_path / "model")
    _texts(tmp_path / "texts.txt")
    out = tmp_path / "out"
    rc = main(["analyze-model", str(tmp_path / "model"), "--texts", str(tmp_path / "texts.txt"),
               "--out", str(out), "--quick", "--no-progress", "--detail", "1:0"])
    assert rc == 0
    rep = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert rep["arch"] == "gpt2" and len(rep["heads"]) == 4
    assert rep["exactness"]["passed"] and rep["exactness"]["controls_fail"]
    for name in ("heatmaps.png", "head_L1_H0.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for h in rep["heads"]:
        rg = h["rank_growth"]
        assert all(r <= n for r, n in zip(rg["ranks"], rg["ns"]))
        assert np.all(np.diff(rg["ranks"]) >= 0)
        # untied EDP heads: asymmetric and indefinite beyond round-off
        assert h["mercer"]["asymmetry"] > 1e-3
        assert h["mercer"]["negative_mass"] > h["mercer"]["negative_mass_roundoff"]
        assert set(h["fits"]) == {"linear", "taylor2", "edp", "prf32"}
        for f in h["fits"].values():
            assert f["kl"] >= -1e-12 and 0.0 <= f["top1"] <= 1.0  # KL ≥ 0 up to round-off
            assert f["status"] in ("optimal", "round_off_floor")
        assert -1.0 <= h["alignment"]["cosine"] <= 1.0
    # the heatmaps hold exactly the report's numbers
    layers, heads, grids = heatmap_grid(rep)
    for h in rep["heads"]:
        i, j = layers.index(h["layer"]), heads.index(h["head"])
        assert grids["asymmetry"][i, j] == h["mercer"]["asymmetry"]
        assert grids["top-1, edp"][i, j] == h["fits"]["edp"]["top1"]
        assert grids["log10 KL, linear"][i, j] == math.log10(max(h["fits"]["linear"]["kl"],
                                                                 1e-16))


@pytest.mark.parametrize("arch", ["bert", "llama"])
def test_analyze_model_one_call(arch):
    model = tiny_model(arch, seed=4, n_heads=2)
    ids = np.random.default_rng(1).integers(1, VOCAB, size=(8, 12))
    rep = analyze_model(model, ids, quick=True, layers=[1], heads=[0], taylor=(), prf=())
    (h,) = rep["heads"]
    assert rep["exactness"]["passed"]
    if arch == "llama":
        # a rotary head is not a function of the states alone: its own (state, position)
        # kernel reproduces held-out maps better than the position-blind linear space
        assert h["rotary"] and "head_kernel" in h["fits"]
        assert h["fits"]["head_kernel"]["kl"] < h["fits"]["linear"]["kl"]
    else:
        assert not h["rotary"] and h["affine"]


def test_head_operator_reproduces_maps():
    """Non-rotary heads: softmax over allowed keys of x̃ᵀ (c W̃_Qᵀ W̃_K) ỹ is the model's map."""
    model = tiny_model("gpt2", seed=5)
    ids = np.random.default_rng(2).integers(1, VOCAB, size=(3, 9))
    for rec in extract_heads(model, ids):
        X, Y = rec.points("query"), rec.points("key")
        H = X @ rec.operator() @ np.swapaxes(Y, -1, -2)
        P = masked_row_softmax(H, rec.allowed())
        np.testing.assert_allclose(P, rec.weights, atol=1e-12)  # float64 model: round-off
        # negative control: the transposed operator (W_Q ↔ W_K) does not
        P2 = masked_row_softmax(X @ rec.operator().T @ np.swapaxes(Y, -1, -2), rec.allowed())
        assert np.max(np.abs(P2 - rec.weights)) > 1e-2


def test_model_not_found_names_what_was_looked_for(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = tmp_path / "no-such-model"
    with pytest.raises(FileNotFoundError, match="no-such-model.*hub checkpoint.*offline"):
        load_model(str(missing))
    (tmp_path / "t.txt").write_text("a b c\n", encoding="utf-8")
    rc = main(["analyze-model", str(missing), "--texts", str(tmp_path / "t.txt"),
               "--out", str(tmp_path / "o"), "--quick", "--no-progress"])
    assert rc == 2 and "not found" in capsys.readouterr().err


def test_inputs_rejected_with_clear_errors():
    with pytest.raises(ValueError, match="hold 6 tokens but 2 windows of 4 need 8"):
        pack_windows([[1, 2, 3], [4, 5, 6]], 4, 2)
    np.testing.assert_array_equal(pack_windows([[1, 2, 3], [4, 5]], 2, 2), [[1, 2], [3, 4]])
    model = tiny_model("gpt2", seed=0)
    with pytest.raises(ValueError, match="unknown analysis settings"):
        analyze_model(model, np.ones((8, 12), int), quick=True, bogus=1)
    with pytest.raises(ValueError, match="need 0 < n_train < n_seq"):
        analyze_model(model, np.ones((8, 12), int), quick=True, n_train=8)
