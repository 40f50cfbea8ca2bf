"""The kernel-variant experiment (rkbs.attention.experiment), quick configuration."""

from __future__ import annotations

import json
import math

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

pytest.importorskip("torch")

from rkbs.attention.experiment import (  # noqa: E402
    FULL_CONFIG,
    KERNEL_VARIANTS,
    QUICK_CONFIG,
    ExperimentConfig,
    kernel_variant_table,
    run_experiment,
)


def test_full_configuration_covers_the_issue():
    assert set(FULL_CONFIG.tasks) == {"number-words", "recall"}
    assert len(FULL_CONFIG.seeds) >= 3
    for k in ("edp", "rbf", "exp_intersection", "poly2", "elu", "taylor2", "taylor4", "taylor6",
              "prf16", "prf64", "prf256"):
        assert k in KERNEL_VARIANTS and k in FULL_CONFIG.kernels


def test_quick_experiment_runs_and_writes(tmp_path):
    res = run_experiment(QUICK_CONFIG, out_dir=tmp_path, progress=False)
    runs = res["runs"]
    assert len(runs) == len(QUICK_CONFIG.kernels) * len(QUICK_CONFIG.seeds)
    for r in runs:
        assert 0.0 <= r["exact_match"] <= 1.0 and 0.0 <= r["bleu"] <= 100.0
        assert math.isfinite(r["loss"])
    dims = {r["kernel"]: r["feature_dim"] for r in runs}
    assert dims["edp"] == "inf" and dims["elu"] == 8 and dims["prf16"] == 16
    assert dims["taylor2"] == math.comb(8 + 2, 2)
    saved = json.loads((tmp_path / "kernel_variants.json").read_text(encoding="utf-8"))
    assert saved["runs"] == runs
    table = (tmp_path / "kernel_variants.md").read_text(encoding="utf-8")
    assert table.count("| number-words |") == len(QUICK_CONFIG.kernels)
    assert (tmp_path / "kernel_variants.png").stat().st_size > 0


def test_table_mean_and_std_by_hand():
    runs = [{"task": "recall", "kernel": "edp", "seed": s, "feature_dim": "inf",
             "exact_match": em, "token_acc": 0.5, "loss": 1.0, "bleu": None,
             "train_time_s": 1.0} for s, em in enumerate([0.2, 0.4, 0.6])]
    table = kernel_variant_table({"runs": runs})
    assert "| recall | edp | inf | 0.400 ± 0.200 |" in table  # std with ddof = 1


def test_bad_kernel_name_fails_before_training():
    with pytest.raises(ValueError, match="unknown attention kernel 'edpp'"):
        run_experiment(ExperimentConfig(kernels=("edpp",)), progress=False)


def test_parallel_workers_give_the_same_records(tmp_path):
    """Runs are seeded and independent: n_jobs=2 (a Dask LocalCluster) reproduces n_jobs=1."""
    from dataclasses import replace

    cfg = replace(QUICK_CONFIG, kernels=("edp", "elu"),
                  train={**QUICK_CONFIG.train, "steps": 20, "eval_every": 20})
    key = lambda r: (r["task"], r["kernel"], r["seed"])  # noqa: E731
    drop = ("train_time_s", "tokens_per_s")  # wall-clock measurements
    serial = run_experiment(cfg, progress=False)["runs"]
    parallel = run_experiment(cfg, n_jobs=2, out_dir=tmp_path, progress=False)["runs"]
    assert [key(r) for r in parallel] == [key(r) for r in serial]  # job order restored
    assert [{k: v for k, v in r.items() if k not in drop} for r in serial] == \
        [{k: v for k, v in r.items() if k not in drop} for r in parallel]
    saved = json.loads((tmp_path / "kernel_variants.json").read_text(encoding="utf-8"))
    assert [key(r) for r in saved["runs"]] == [key(r) for r in serial]
    with pytest.raises(ValueError, match="n_jobs"):
        run_experiment(cfg, n_jobs=0, progress=False)


def _synthetic(values: dict, task="recall"):
    """results dict with one run per (kernel, value)."""
    return {"runs": [{"task": task, "kernel": k, "seed": i, "exact_match": v}
                     for k, vs in values.items() for i, v in enumerate(vs)]}


def test_kernel_variant_stats_detects_planted_effects_and_not_absent_ones():
    import numpy as np
    from scipy import stats

    from rkbs.attention.experiment import kernel_variant_stats

    rng = np.random.default_rng(0)
    noise = lambda: rng.normal(0, 0.01, 3)  # noqa: E731
    planted = _synthetic({"edp": 0.8 + noise(), "rbf": 0.8 + noise(),
                          "exp_intersection": 0.8 + noise(), "poly2": 0.5 + noise(),
                          "elu": 0.5 + noise(), "taylor2": 0.5 + noise(),
                          "taylor4": 0.6 + noise(), "taylor6": 0.7 + noise(),
                          "prf16": 0.5 + noise(), "prf64": 0.6 + noise(),
                          "prf256": 0.7 + noise()})
    st = kernel_variant_stats(planted, n_resamples=2000)
    assert st["trend_taylor"]["rho"] > 0.9 and st["trend_taylor"]["p_increasing"] < 0.01
    assert st["trend_prf"]["p_increasing"] < 0.01
    assert st["infinite_vs_finite"]["p_greater"] < 1e-6
    # Welch's test by hand for one pair
    a, b = [r["exact_match"] for r in planted["runs"] if r["kernel"] == "elu"], \
        [r["exact_match"] for r in planted["runs"] if r["kernel"] == "edp"]
    m, v = np.mean, lambda x: np.var(x, ddof=1)
    t = (m(a) - m(b)) / np.sqrt(v(a) / 3 + v(b) / 3)
    assert st["vs_edp"]["elu"]["t"] == pytest.approx(t, rel=1e-12)
    assert st["vs_edp"]["elu"]["p"] == pytest.approx(
        stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-12)
    # negative control: the same values with no kernel effect (all from one distribution)
    null = _synthetic({k: 0.6 + rng.normal(0, 0.05, 3) for k in
                       ("edp", "rbf", "exp_intersection", "poly2", "elu", "taylor2",
                        "taylor4", "taylor6", "prf16", "prf64", "prf256")})
    sn = kernel_variant_stats(null, n_resamples=2000)
    assert sn["trend_taylor"]["p_increasing"] > 0.05 and sn["trend_prf"]["p_increasing"] > 0.05
    assert sn["infinite_vs_finite"]["p_greater"] > 0.05
    with pytest.raises(ValueError, match="no runs"):
        kernel_variant_stats(null, task="number-words")
