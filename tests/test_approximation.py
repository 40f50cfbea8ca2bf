"""Tests of rkbs.approximation (universal approximation by q(t)·k(s), theory §5)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from rkbs.approximation import (  # noqa: E402
    approximation_sweep,
    approximation_targets,
    fit_pair_network,
    product_grid,
    rank_lower_bound,
)


def test_product_grid_shape_and_bounds():
    G = product_grid(5, 2, -1.0, 2.0)
    assert G.shape == (25, 2)
    np.testing.assert_array_equal(np.unique(G[:, 0]), np.linspace(-1.0, 2.0, 5))
    assert len({tuple(r) for r in G}) == 25
    with pytest.raises(ValueError, match="low < high"):
        product_grid(5, 1, 1.0, 0.0)
    with pytest.raises(ValueError, match="n must be >= 2"):
        product_grid(1, 1)


def test_targets_against_peer_libraries():
    from scipy.spatial.distance import cdist
    from sklearn.metrics.pairwise import rbf_kernel

    tg = approximation_targets()
    T = product_grid(4, 2)
    S = T[::-1] * 0.7
    # exact same arithmetic up to summation order: a few ulps of values <= 8
    np.testing.assert_allclose(tg["distance"](T, S), cdist(T, S), rtol=0, atol=1e-14)
    np.testing.assert_allclose(np.exp(tg["log_rbf"](T, S)), rbf_kernel(T, S, gamma=0.5),
                               rtol=1e-13, atol=0)
    t = np.linspace(-1, 1, 7)[:, None]
    np.testing.assert_array_equal(tg["kink"](t, t[::-1]), np.maximum(t, t[::-1].T))
    with pytest.raises(ValueError, match="takes 2-d points"):
        tg["distance"](t, t)


def test_rank_lower_bound_is_tight_for_truncated_svd(rng):
    F = rng.normal(size=(30, 20))
    U, s, Vt = np.linalg.svd(F, full_matrices=False)
    for r in (0, 1, 5, 20):
        Mr = (U[:, :r] * s[:r]) @ Vt[:r]
        # Eckart–Young: the RMS error of the best rank-r matrix equals the bound
        rms = np.sqrt(np.mean((F - Mr) ** 2))
        assert rank_lower_bound(F, r) == pytest.approx(rms, rel=1e-12, abs=1e-14)
        # and the max-norm error of any rank-r matrix (truncated SVD, random) is above it
        R = rng.normal(size=(30, r)) @ rng.normal(size=(r, 20)) if r else np.zeros_like(F)
        for M in (Mr, R):
            assert np.max(np.abs(F - M)) >= rank_lower_bound(F, r) * (1 - 1e-12)
    # a rank-3 target has a zero bound at r = 3 (up to the SVD's round-off ~ eps * σ_1)
    L = rng.normal(size=(30, 3)) @ rng.normal(size=(3, 20))
    assert rank_lower_bound(L, 3) < 1e-13 * np.linalg.norm(L, 2)


def test_output_layers_are_exact_least_squares_for_full_rank():
    # With rank >= width + 1 the best output layers give the projection P_q F P_k onto the
    # spans of the hidden features (plus constant); computed here with lstsq instead.
    tg = approximation_targets()["kink"]
    T = product_grid(25, 1)
    F = tg(T, T)
    m = 6
    fit = fit_pair_network(F, T, T, width=m, rank=m + 1, train_hidden=False, max_iter=1,
                           seed=3)
    P = {k: v.numpy() for k, v in fit.params.items()}
    Hq = np.c_[np.tanh(T @ P["A1"].T + P["a1"]), np.ones(len(T))]
    Hk = np.c_[np.tanh(T @ P["B1"].T + P["b1"]), np.ones(len(T))]
    Pq = Hq @ np.linalg.lstsq(Hq, F, rcond=None)[0]          # P_q F
    ref = (Hk @ np.linalg.lstsq(Hk, Pq.T, rcond=None)[0]).T  # P_q F P_k
    # well-conditioned 25 x 7 least squares: errors ~ cond * eps ~ 1e-12
    np.testing.assert_allclose(fit.predict(T, T), ref, atol=1e-8)


def test_training_improves_on_frozen_random_features():
    tg = approximation_targets()["smooth"]
    T = product_grid(30, 1)
    F = tg(T, T)
    frozen = fit_pair_network(F, T, T, width=6, rank=2, train_hidden=False, max_iter=1, seed=0)
    trained = fit_pair_network(F, T, T, width=6, rank=2, max_iter=100, seed=0)
    # same seed: L-BFGS starts from the frozen optimum and never increases the loss
    assert trained.train_loss <= frozen.train_loss
    assert trained.predict(T, T).shape == (30, 30)
    assert trained.queries(T).shape == (30, 2)


def test_sweep_error_falls_and_respects_bounds():
    tg = approximation_targets()["kink"]
    rows = approximation_sweep(tg, [(3, 1), (16, 4)], n_train=30, n_test=51, max_iter=50,
                               seed=0)
    assert rows[1]["sup_error"] < 0.5 * rows[0]["sup_error"]
    for r in rows:
        assert r["sup_error"] >= r["rank_lower_bound"]
        assert r["rms_error"] <= r["sup_error"]
        # |expm1(x)| <= expm1(|x|): exact up to a few ulps
        assert r["exp_rel_error"] <= r["exp_bound"] * (1 + 1e-12)


def test_fit_validation():
    T = product_grid(5, 1)
    with pytest.raises(ValueError, match="F must have shape"):
        fit_pair_network(np.zeros((5, 4)), T, T, width=2, rank=1)
    with pytest.raises(ValueError, match="activation must be one of"):
        fit_pair_network(np.zeros((5, 5)), T, T, width=2, rank=1, activation="gelu")
    with pytest.raises(ValueError, match="width must be >= 1"):
        fit_pair_network(np.zeros((5, 5)), T, T, width=0, rank=1)
