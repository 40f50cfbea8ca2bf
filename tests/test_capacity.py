"""Capacity and retrieval sweeps (rkbs.attention.capacity), quick configurations."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from rkbs.attention.capacity import (  # noqa: E402
    FULL_CAPACITY,
    FULL_RETRIEVAL,
    QUICK_CAPACITY,
    capacity_budget,
    capacity_table,
    plot_capacity,
    retrieval_summary,
    retrieval_table,
    run_capacity,
)


def test_full_grids_cover_the_issue():
    for k in ("edp", "rbf", "exp_intersection", "elu", "poly2", "taylor2", "taylor4", "taylor6"):
        assert k in FULL_CAPACITY.kernels
    assert sum(k.startswith("prf") for k in FULL_CAPACITY.kernels) >= 3
    assert len(FULL_CAPACITY.seeds) >= 10 and FULL_CAPACITY.head_dim <= 16
    assert max(FULL_CAPACITY.num_kv_pairs) * 4 <= 512  # sequence length <= 512
    assert min(FULL_RETRIEVAL.n_keys) == 20 and max(FULL_RETRIEVAL.n_keys) == 600
    assert len(FULL_RETRIEVAL.seeds) >= 5
    for k in ("edp", "elu", "dpfp1", "dpfp2", "dpfp3", "prf64", "prf128", "prf512"):
        assert k in FULL_RETRIEVAL.kernels


def test_quick_capacity_sweep_runs_resumes_and_reports(tmp_path):
    with ThreadPoolExecutor(1) as ex:
        res = run_capacity(tmp_path, QUICK_CAPACITY, executor=ex, progress=False)
        n = len(QUICK_CAPACITY.kernels) * len(QUICK_CAPACITY.num_kv_pairs)
        assert len(res["cells"]) == n
        for c in res["cells"]:
            assert len(c["test_acc"]) == len(QUICK_CAPACITY.seeds)
            assert all(0.0 <= a <= 1.0 for a in c["test_acc"])
        stamp = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cells").iterdir()}
        again = run_capacity(tmp_path, QUICK_CAPACITY, executor=ex, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cells").iterdir()} == stamp
    assert again["cells"] == res["cells"]
    saved = json.loads((tmp_path / "capacity.json").read_text())
    assert saved["cells"] == res["cells"] and "verdicts" in saved["stats"]
    table = (tmp_path / "capacity.md").read_text()
    d = QUICK_CAPACITY.head_dim  # elu+1: D = d
    assert table.count("| edp | inf |") == 1 and table.count(f"| elu | {d} |") == 1
    fig = plot_capacity(res, tmp_path / "cap.png")
    assert (tmp_path / "cap.png").stat().st_size > 0
    matplotlib.pyplot.close(fig)


def test_capacity_table_and_budget_by_hand():
    cells = [{"kernel": "edp", "K": 4, "feature_dim": "inf", "test_acc": [0.5, 0.7]},
             {"kernel": "elu", "K": 4, "feature_dim": 2, "test_acc": [0.1, 0.3]}]
    t = capacity_table({"cells": cells})
    assert "| edp | inf | 0.600 ± 0.141 |" in t  # std with ddof = 1: sqrt(0.02)
    assert "| elu | 2 | 0.200 ± 0.141 * |" in t  # K > D marked
    b = capacity_budget(QUICK_CAPACITY, lambda K: 1.0)
    evals = QUICK_CAPACITY.steps / QUICK_CAPACITY.eval_every * (
        QUICK_CAPACITY.n_val + QUICK_CAPACITY.n_test) / QUICK_CAPACITY.batch_size
    assert b["cpu_hours"] == pytest.approx(
        4 * (QUICK_CAPACITY.steps + evals / 3) / 3600, rel=1e-12)


def test_retrieval_summary_by_hand():
    def cell(n, solved):
        return {"kernel": "elu", "n_keys": n, "feature_dim": 64, "seeds": [0, 1],
                "solved": solved, "eval_loss": [0.0, 0.0]}

    res = {"cells": [cell(20, [True, True]), cell(40, [True, False]), cell(60, [False, False]),
                     cell(80, [False, False])]}
    s = retrieval_summary(res)["elu"]
    # half the seeds solved counts as solved: largest 40, first failure 60
    assert (s["largest_solved"], s["first_failed"]) == (40, 60)
    assert s["n_over_d"] == pytest.approx(60 / 64)
    assert "| elu | 64 | 40 | 60 | 0.94 | 40 / 60 |" in retrieval_table(res)


def test_cli_parses_the_experiment_command():
    from rkbs.cli import build_parser

    a = build_parser().parse_args(["experiment", "capacity", "--out", "d", "--quick",
                                   "--seeds", "3", "--scheduler", "tcp://h:8786"])
    assert (a.name, a.out, a.quick, a.seeds, a.scheduler, a.workers) == (
        "capacity", "d", True, 3, "tcp://h:8786", 1)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["experiment", "capacity"])  # --out is required


def test_decoder_config_is_checked_and_causal():
    import torch

    from rkbs.attention.model import DecoderOnlyTransformer, TransformerConfig, build_model

    with pytest.raises(ValueError, match="one vocabulary"):
        TransformerConfig(src_vocab=10, tgt_vocab=12, arch="decoder")
    with pytest.raises(ValueError, match="arch must be one of"):
        TransformerConfig(src_vocab=10, tgt_vocab=10, arch="gpt")
    cfg = TransformerConfig(src_vocab=10, tgt_vocab=10, d_model=8, n_heads=2, d_ff=16,
                            max_len=6, arch="decoder")
    m = build_model(cfg, seed=0)
    assert isinstance(m, DecoderOnlyTransformer)
    x = torch.randint(0, 10, (2, 6))
    y = x.clone()
    y[:, 4:] = (y[:, 4:] + 1) % 10  # change the future only
    with torch.no_grad():  # causal: positions 0..3 do not see positions 4, 5 (round-off)
        torch.testing.assert_close(m(x)[:, :4], m(y)[:, :4], rtol=1e-6, atol=1e-6)
        assert not torch.allclose(m(x)[:, 4:], m(y)[:, 4:])  # negative control
        pos = torch.tensor([[1, 3], [0, 5]])
        full = m(x)
        torch.testing.assert_close(m(x, pos), torch.stack([full[0, [1, 3]], full[1, [0, 5]]]),
                                   rtol=1e-6, atol=1e-6)


def test_short_convolution_is_causal_and_carries_the_previous_token():
    """The decoder's short convolution (the capacity model's) never looks ahead: changing
    token i changes no output before i; it does change output i + 1 through the
    convolution alone (a 0-layer model isolates it). Negative control: without the
    convolution a 0-layer model's output i + 1 ignores token i."""
    import torch

    from rkbs.attention.model import TransformerConfig, build_model

    def model(w):
        cfg = TransformerConfig(src_vocab=16, tgt_vocab=16, d_model=8, n_heads=2, d_ff=16,
                                n_dec_layers=0, max_len=10, arch="decoder", short_conv=w)
        return build_model(cfg, seed=1).eval()

    x = torch.randint(0, 16, (1, 10), generator=torch.Generator().manual_seed(0))
    x2 = x.clone()
    x2[0, 4] = (x[0, 4] + 1) % 16
    for w, expect_next in ((2, True), (0, False)):
        m = model(w)
        with torch.no_grad():
            a, b = m(x), m(x2)
        assert torch.equal(a[0, :4], b[0, :4])  # causal
        assert (not torch.allclose(a[0, 5], b[0, 5])) == expect_next
        assert torch.equal(a[0, 6:], b[0, 6:])  # width 2: only the next position
    with pytest.raises(ValueError, match="short_conv"):
        TransformerConfig(src_vocab=4, tgt_vocab=4, short_conv=2)  # encoder-decoder


def test_collect_keeps_only_cells_of_the_current_protocol(tmp_path):
    """A run folder that also holds cells of an earlier protocol (the 2-layer one) must not
    pool them with the current ones; control: the current cell is collected."""
    from dataclasses import asdict, replace

    from rkbs.attention.capacity import collect
    from rkbs.sweep import cell_key, write_json_atomic

    def put(sweep, acc):
        cell = {"kernel": "edp", "K": 4, "sweep": asdict(sweep)}
        res = {"kernel": "edp", "K": 4, "feature_dim": "inf", "head_dim": 8,
               "seeds": [0, 1], "test_acc": [acc, acc]}
        write_json_atomic(tmp_path / "cells" / f"{cell_key(cell)}.json",
                          {"key": cell_key(cell), "cell": cell, "result": res,
                           "wall_time_s": 1.0})

    put(FULL_CAPACITY, 0.9)
    put(replace(FULL_CAPACITY, n_layers=2, short_conv=0), 0.1)
    assert len(list((tmp_path / "cells").iterdir())) == 2
    got = collect(tmp_path, "capacity")
    assert got["n_cells"] == 1 and got["cells"][0]["test_acc"] == [0.9, 0.9]
