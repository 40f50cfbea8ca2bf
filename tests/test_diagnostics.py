"""Mercer diagnostics: asymmetry, indefiniteness, numerical rank and its growth."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest

import rkbs
from rkbs.diagnostics import (
    mercer_report,
    numerical_rank,
    plot_rank_growth,
    plot_spectrum,
    rank_growth,
)

matplotlib.use("Agg")

D = 2  # input dimension: small d makes the polynomial saturation C(d+m, m) visible


@pytest.fixture
def points(rng):
    """Well-spread points on [-1, 1]^2 (moderate |q·k|, so the EDP spectrum is not cut early)."""
    return rng.uniform(-1, 1, size=(160, D)), rng.uniform(-1, 1, size=(160, D))


@pytest.fixture
def maps(rng):
    return rng.normal(size=(D, D)), rng.normal(size=(D, D))


def test_edp_untied_is_non_mercer(points, maps):
    X, _ = points
    W_Q, W_K = maps
    rep = mercer_report(rkbs.EDPKernel(W_Q, W_K), X[:60])
    assert rep.same_points and rep.shape == (60, 60)
    assert rep.asymmetry > 0.1  # far above the 8·eps round-off of a symmetric Gram
    assert rep.symmetric is False and rep.psd is False
    assert rep.n_negative > 0  # eigenvalues of the symmetric part below -tol
    assert rep.negative_mass > 100 * rep.negative_mass_roundoff


def test_edp_tied_is_mercer(points, maps):
    X, _ = points
    W_Q, _ = maps
    rep = mercer_report(rkbs.EDPKernel(W_Q, W_Q), X[:60])
    assert rep.asymmetry <= 8 * np.finfo(float).eps and rep.symmetric
    assert rep.n_negative == 0 and rep.psd
    assert rep.negative_mass <= rep.negative_mass_roundoff


def test_rank_growth_infinite_vs_finite(points, maps):
    X, Y = points
    W_Q, W_K = maps
    ns = [10, 20, 40, 80, 160]
    edp = rank_growth(rkbs.EDPKernel(W_Q, W_K), X, Y, ns)
    assert edp.feature_dim == math.inf
    assert edp.strictly_growing, edp.ranks
    for m in (2, 3, 4):
        poly = rank_growth(rkbs.PolynomialKernel(W_Q, W_K, degree=m), X, Y, ns)
        C = math.comb(D + m, m)
        assert poly.feature_dim == C and poly.saturated
        assert poly.ranks.max() == C and not poly.strictly_growing
        assert edp.ranks[-1] > C
    poly0 = rank_growth(rkbs.PolynomialKernel(W_Q, W_K, degree=3, c=0.0), X, Y, ns)
    assert poly0.ranks[-1] == math.comb(D + 3 - 1, 3)
    lin = rank_growth(rkbs.LinearKernel(W_Q, W_K), X, None, ns)
    assert list(lin.ranks) == [D] * len(ns) and lin.saturated


def test_rank_growth_with_samplers_is_seeded(maps):
    W_Q, W_K = maps

    def sample(n, rng):
        return rng.uniform(-1, 1, size=(n, D))

    kern = rkbs.EDPKernel(W_Q, W_K)
    a = rank_growth(kern, sample, sample, [5, 10, 20], seed=3)
    b = rank_growth(kern, sample, sample, [5, 10, 20], seed=3)
    np.testing.assert_array_equal(a.ranks, b.ranks)
    assert list(a.ranks) == [5, 10, 20]  # below the floating-point cut-off: full rank


def test_report_matches_numpy(rng):
    K = rng.normal(size=(7, 7))
    K[:, 6] = K[:, 0] + K[:, 1]  # rank 6
    rep = mercer_report(K)
    assert rep.rank == np.linalg.matrix_rank(K) == 6 == numerical_rank(K)
    np.testing.assert_allclose(rep.singular_values, np.linalg.svd(K, compute_uv=False))
    assert rep.condition_number > 1e14  # singular: σ_min at round-off level
    np.testing.assert_allclose(rep.eigenvalues, np.linalg.eigvalsh((K + K.T) / 2))
    lam = rep.eigenvalues
    np.testing.assert_allclose(rep.negative_mass, -lam[lam < 0].sum() / np.abs(lam).sum())
    np.testing.assert_allclose(rep.asymmetry, np.linalg.norm(K - K.T) / np.linalg.norm(K))
    S = K[:, :6]  # full column rank: condition number is numpy's 2-norm one
    np.testing.assert_allclose(mercer_report(S).condition_number, np.linalg.cond(S),
                               rtol=1e-12)
    assert mercer_report(K, rank_tol=1e-300).rank_tol_rule == "given"


def test_different_point_sets_have_no_asymmetry(points, maps):
    X, Y = points
    rep = mercer_report(rkbs.EDPKernel(*maps), X[:30], Y[:20])
    assert rep.asymmetry is None and rep.eigenvalues is None and rep.negative_mass is None
    assert rep.shape == (30, 20) and rep.psd is None and rep.symmetric is None
    rep2 = mercer_report(rkbs.EDPKernel(*maps), X[:20], Y[:20])
    assert not rep2.same_points  # square, but different points
    rep3 = mercer_report(rkbs.EDPKernel(*maps), X[:20], X[:20].copy())
    assert rep3.same_points  # equal values count as the same point set
    assert "n/a (different point sets)" in repr(rep)


def test_repr_is_readable(points, maps):
    rep = mercer_report(rkbs.EDPKernel(*maps), points[0][:20])
    text = repr(rep)
    for s in ("asymmetry", "negative mass", "numerical rank", "condition number", "matrix_rank"):
        assert s in text
    assert len(text.splitlines()) >= 7


def test_torch_gram_input(points, maps):
    torch = pytest.importorskip("torch")
    X = points[0][:25]
    kern = rkbs.EDPKernel(*maps)
    a = mercer_report(kern, torch.as_tensor(X))
    b = mercer_report(kern, X)
    assert a.rank == b.rank
    # torch/numpy parity of the Gram (1e-12) propagates to the spectrum (Weyl): 1e-10 abs
    np.testing.assert_allclose(a.eigenvalues, b.eigenvalues, atol=1e-10)


def test_plots_return_axes(points, maps):
    import matplotlib.pyplot as plt

    X, Y = points
    rep = mercer_report(rkbs.EDPKernel(*maps), X[:40])
    ax = plot_spectrum(rep)
    assert ax.get_yscale() == "log" and ax.get_xlabel() and ax.get_ylabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("< 0" in s for s in labels)  # negative eigenvalues are shown
    g1 = rank_growth(rkbs.EDPKernel(*maps), X, Y, [10, 20, 40])
    g2 = rank_growth(rkbs.PolynomialKernel(*maps, degree=2), X, Y, [10, 20, 40])
    ax2 = plot_rank_growth([g1, g2])
    assert ax2.get_xscale() == "log" and "rank" in ax2.get_ylabel()
    assert len(ax2.get_lines()) >= 4  # reference + two curves + saturation line
    plt.close("all")


def test_errors(points, maps):
    X, _ = points
    kern = rkbs.EDPKernel(*maps)
    with pytest.raises(ValueError, match="X is required"):
        mercer_report(kern)
    with pytest.raises(ValueError, match="not both"):
        mercer_report(np.eye(3), X)
    with pytest.raises(ValueError, match=r"square Gram matrix, got shape \(3, 4\)"):
        mercer_report(np.ones((3, 4)), same_points=True)
    with pytest.raises(ValueError, match="K contains NaN"):
        mercer_report(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="must be a BinaryKernel or a 2-d array"):
        mercer_report("edp")
    with pytest.raises(ValueError, match=r"increasing sequence, got \[10, 5\]"):
        rank_growth(kern, X, None, [10, 5])
    with pytest.raises(ValueError, match=r"X has 160 points but max\(ns\) = 200"):
        rank_growth(kern, X, None, [10, 200])
    with pytest.raises(ValueError, match="rank_tol must be finite and > 0"):
        mercer_report(np.eye(2), rank_tol=-1.0)
