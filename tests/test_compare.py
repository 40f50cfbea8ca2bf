"""Trained/planted attention heads versus pair-operator machines (rkbs.attention.compare)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

torch = pytest.importorskip("torch")

from rkbs.attention.compare import (  # noqa: E402
    compare_head,
    comparison_features,
    head_maps,
    operator_alignment,
    planted_bilinear,
    plot_head_comparison,
    score_maps,
)
from rkbs.attention.extract import extract_attention  # noqa: E402
from rkbs.attention.model import TransformerConfig, build_model  # noqa: E402


@pytest.fixture(scope="module")
def planted():
    return planted_bilinear(n_seq=30, m=8, n=8, dim=6, head_dim=2, seed=0)


def test_planted_bilinear_attention_is_recovered(planted):
    X, Y, P, A, Wq, Wk = planted
    feats = comparison_features(6, taylor_degrees=(), prf_dims=(), poly_degree=None)
    res = compare_head(X, Y, P, X @ A @ np.swapaxes(Y, -1, -2), (Wq, Wk), features=feats,
                       nuclear_lam=0.05)
    row = res["rows"][0]
    # The planted head is exactly h_A with linear features: the only gap is the
    # ridge shrinkage of λ = 1e-3 against O(10) logit gradients, a relative 1e-4 effect.
    assert res["alignment"]["cosine"] > 0.999
    assert row["top1"] > 0.99 and row["kl"] < 1e-4 and row["logit_corr"] > 0.999
    # the nuclear norm recovers the rank of W_Qᵀ W_K (head_dim = 2)
    assert res["alignment_nuclear"]["rank_A"] == 2
    assert res["alignment_nuclear"]["cosine"] > 0.99


def test_shuffled_target_is_not_recovered(planted):
    """Negative control: maps paired with the wrong sequences carry no bilinear structure."""
    X, Y, P, A, Wq, Wk = planted
    perm = np.random.default_rng(1).permutation(len(P))
    assert np.any(perm != np.arange(len(P)))
    feats = comparison_features(6, taylor_degrees=(), prf_dims=(), poly_degree=None)
    res = compare_head(X, Y, P[perm], maps=(Wq, Wk), features=feats)
    assert res["alignment"]["cosine"] < 0.5
    assert res["rows"][0]["top1"] < 0.5


def test_richer_features_fit_the_planted_maps(planted):
    X, Y, P, A, _, _ = planted
    feats = comparison_features(6, taylor_degrees=(2,), prf_dims=(16,), seed=0)
    rows = {r["label"]: r for r in compare_head(X, Y, P, features=feats)["rows"]}
    assert rows["taylor2"]["n_features"] == 28 and rows["prf16"]["n_features"] == 16
    # exact quadratic features contain the bilinear form: held-out KL near the linear fit's
    assert rows["poly2"]["kl"] < 1e-3 and rows["taylor2"]["kl"] < 1e-3


def test_scores_and_alignment_by_hand():
    P = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    s = score_maps(P, P)
    assert s["kl"] == pytest.approx(0.0, abs=1e-15) and s["top1"] == 1.0
    Q = np.array([[0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    kl0 = 0.7 * np.log(0.7 / 0.2) + 0.2 * np.log(0.2 / 0.7)
    assert score_maps(P, Q)["kl"] == pytest.approx(kl0 / 2, rel=1e-12)
    assert score_maps(P, Q)["top1"] == 0.5
    Wq, Wk = np.eye(2, 3), np.eye(2, 3)[::-1]
    al = operator_alignment(Wq.T @ Wk / np.sqrt(2), Wq, Wk)
    assert al["cosine"] == pytest.approx(1.0) and al["rank_A"] == 2
    assert operator_alignment(-Wq.T @ Wk, Wq, Wk)["cosine"] == pytest.approx(-1.0)


def test_model_head_is_recovered_and_plotted(tmp_path):
    """An EDP head of a (random-weight) model is h_A for A = W_Qᵀ W_K/√d, linear features."""
    cfg = TransformerConfig(src_vocab=12, tgt_vocab=12, d_model=8, n_heads=2, d_ff=16,
                            n_enc_layers=1, n_dec_layers=1, max_len=12)
    model = build_model(cfg, seed=0)
    g = torch.Generator().manual_seed(0)
    src = torch.randint(4, 12, (45, 10), generator=g)
    tgt = torch.randint(4, 12, (45, 3), generator=g)
    X, Y, P, H, maps = head_maps(extract_attention(model, src, tgt), "encoder_self", 0, 1)
    assert X.shape == (45, 10, 8) and P.shape == (45, 10, 10)
    feats = comparison_features(8, taylor_degrees=(), prf_dims=(), poly_degree=None)
    res = compare_head(X, Y, P, H, maps, features=feats)
    # float32 maps (eps 1.2e-7) and λ = 1e-3 shrinkage: agreement to ~1e-3
    assert res["alignment"]["cosine"] > 0.99
    assert res["rows"][0]["logit_corr"] > 0.99
    fig, axes = plot_head_comparison(res["machines"]["linear"], X[:30], Y[:30], P[:30],
                                     path=tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 0 and len(axes) == 3


def test_lambda_grid_per_family(planted):
    """A dict gives each family its own λ grid: the λ kept is from that family's grid;
    a family missing from the dict is refused (control)."""
    X, Y, P, *_ = planted
    feats = comparison_features(6, taylor_degrees=(), prf_dims=(), seed=0)  # linear, poly2
    grids = {"linear": (1e-3,), "poly2": (1e-1, 1.0)}
    res = compare_head(X, Y, P, features=feats, n_train=12, n_val=6, lam=grids)
    for label, mach in res["machines"].items():
        assert mach.lam in grids[label], (label, mach.lam)
    with pytest.raises(ValueError, match="no entry for"):
        compare_head(X, Y, P, features=feats, n_train=12, n_val=6, lam={"linear": 1e-3})
