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
