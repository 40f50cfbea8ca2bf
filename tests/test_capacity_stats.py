"""Capacity statistics (rkbs.attention.capacity_stats): planted effect and negative control."""

from __future__ import annotations

import numpy as np
import pytest

from rkbs.attention.capacity_stats import HYPOTHESES, capacity_tests, holm

KERNELS = {"edp": "inf", "elu": 8, "prf16": 16, "prf32": 32, "prf64": 64, "taylor2": 45,
           "taylor4": 495}
KS = (4, 8, 16, 32, 64, 128)


def _cells(rng, planted=True, shuffle=False, n_seeds=10):
    """Synthetic sweep: accuracy 0.95·min(1, D/K) + N(0, 0.03²) noise (the planted effect)."""
    cells = []
    for K in KS:
        block = []
        for k, D in KERNELS.items():
            cap = 1.0 if D == "inf" or not planted else min(1.0, D / K)
            acc = np.clip(0.95 * cap + rng.normal(0, 0.03, n_seeds), 0, 1)
            block.append({"kernel": k, "K": K, "feature_dim": D, "seeds": list(range(n_seeds)),
                          "test_acc": acc})
        if shuffle:  # negative control: kernel labels shuffled over the runs of this K
            pool = rng.permutation(np.concatenate([c["test_acc"] for c in block]))
            for i, c in enumerate(block):
                c["test_acc"] = pool[i * n_seeds:(i + 1) * n_seeds]
        cells += [{**c, "test_acc": c["test_acc"].tolist()} for c in block]
    return cells


def test_holm_against_its_definition():
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.5])
    m = p.size
    srt = np.sort(p)
    ref = {}
    for i in range(m):  # brute force: max over j <= i of min(1, (m - j) p_(j)), 0-based
        ref[srt[i]] = max(min(1.0, (m - j) * srt[j]) for j in range(i + 1))
    np.testing.assert_allclose(holm(p), [ref[v] for v in p], rtol=0, atol=1e-15)
    assert not np.allclose(holm(p), np.minimum(1, m * p))  # differs from Bonferroni
    with pytest.raises(ValueError, match="one-dimensional"):
        holm(np.ones((2, 2)))


def test_planted_capacity_effect_is_recovered():
    res = capacity_tests(_cells(np.random.default_rng(0)), n_resamples=499)
    v = res["verdicts"]
    assert set(v) == {h.id for h in HYPOTHESES}
    assert v["H1"]["supported"] and v["H1"]["effect"] < 0
    assert v["H1"]["ci"][1] < 0  # the whole interval below zero
    assert v["H2b"]["supported"] and v["H2b"]["effect"] > 0
    assert v["H2a"]["supported"]
    # per cell: elu (D = 8) at K = 128 is far below EDP; no test at K <= D
    cell = [t for t in res["tests"] if t["hypothesis"] == "H1" and t["kernel"] == "elu"
            and t["K"] == 128][0]
    assert cell["reject"] and cell["effect"] < -0.5
    assert not [t for t in res["tests"] if t["hypothesis"] == "H1" and t["scope"] == "cell"
                and t["K"] <= t["D"]]


def test_shuffled_labels_find_nothing():
    res = capacity_tests(_cells(np.random.default_rng(1), shuffle=True), n_resamples=499)
    v = res["verdicts"]
    assert not v["H1"]["supported"] and not v["H2a"]["supported"]
    assert not v["H2b"]["supported"]
    assert not any(t["reject"] for t in res["tests"])


def test_no_effect_without_planting():
    res = capacity_tests(_cells(np.random.default_rng(2), planted=False), n_resamples=499)
    assert not any(v["supported"] for v in res["verdicts"].values())


def test_spearman_matches_scipy_and_permutation_p_is_valid():
    from scipy import stats

    from rkbs.attention.capacity_stats import _spearman_test

    rng = np.random.default_rng(3)
    x = np.repeat([16, 32, 64, 128], 10).astype(float)
    y = x / 128 + rng.normal(0, 0.2, x.size)
    rho, p, ci = _spearman_test(x, y, rng, 999)
    assert rho == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)  # round-off only
    assert p == pytest.approx(1 / 1000) and ci[0] < rho < ci[1]
    rho0, p0, _ = _spearman_test(x, rng.permutation(y), rng, 999)  # negative control
    assert p0 > 0.01
