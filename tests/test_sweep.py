"""The resumable sweep runner (rkbs.sweep) on a real Dask LocalCluster."""

from __future__ import annotations

import json
import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from rkbs.sweep import cell_key, echo_cell, load_cells, run_sweep, write_json_atomic


def test_cell_key_is_stable_and_safe():
    assert cell_key({"b": 2, "a": "x/y"}) == cell_key({"a": "x/y", "b": 2}) == "a=x_y__b=2"
    assert cell_key({"a": 1}) != cell_key({"a": 2})
    with pytest.raises(TypeError, match="non-empty dict"):
        cell_key({})


def test_atomic_write_leaves_no_temp_file(tmp_path):
    write_json_atomic(tmp_path / "r.json", {"x": 1})
    assert json.loads((tmp_path / "r.json").read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    with pytest.raises(TypeError):  # not JSON-serializable: the old file stays intact
        write_json_atomic(tmp_path / "r.json", {"x": object()})
    assert json.loads((tmp_path / "r.json").read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_rerun_skips_finished_cells(tmp_path):
    cells = [{"i": i} for i in range(5)]
    calls = []

    def fn(c):
        calls.append(c["i"])
        return {"sq": c["i"] ** 2}

    with ThreadPoolExecutor(2) as ex:
        run_sweep(cells[:3], fn, tmp_path, executor=ex, progress=False)
        assert sorted(calls) == [0, 1, 2]
        res = run_sweep(cells, fn, tmp_path, executor=ex, progress=False)
    assert sorted(calls) == [0, 1, 2, 3, 4]  # 0-2 were not recomputed
    assert [r["result"]["sq"] for r in res.values()] == [0, 1, 4, 9, 16]


def test_should_run_skips_lazily(tmp_path):
    cells = [{"i": i} for i in range(6)]

    def stop_after_two_odd(c, done):
        return sum(r["cell"]["i"] % 2 for r in done.values()) < 2

    with ThreadPoolExecutor(1) as ex:
        res = run_sweep(cells, echo_cell, tmp_path, executor=ex, should_run=stop_after_two_odd,
                        max_in_flight=1, progress=False)
    assert [r["cell"]["i"] for r in res.values()] == [0, 1, 2, 3]


@pytest.mark.timeout(240)
def test_killed_worker_loses_nothing(tmp_path):
    """A real 2-worker LocalCluster; one worker process is SIGKILLed mid-sweep."""
    pytest.importorskip("distributed")
    from rkbs.sweep import dask_executor

    cells = [{"i": i, "sleep": 1.0} for i in range(8)]
    killed = []
    with dask_executor(n_workers=2) as (ex, client):
        def kill_one(rec):
            if killed:
                return
            # the worker that is *not* the one that just finished is busy with a cell
            pids = client.run(os.getpid)  # {worker address: pid}
            victim = next(p for p in pids.values() if p != rec["result"]["pid"])
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

        res = run_sweep(cells, echo_cell, tmp_path, executor=ex, on_result=kill_one,
                        progress=False)
    assert killed, "no worker was killed"
    stored = load_cells(tmp_path)
    files = sorted(p.name for p in (tmp_path / "cells").iterdir())
    assert len(files) == len(cells) == len(stored) == len(res)  # each cell exactly once
    assert sorted(r["cell"]["i"] for r in stored.values()) == list(range(8))
    assert all(r["result"]["echo"] == r["cell"] for r in stored.values())
    assert not [f for f in files if f.endswith(".tmp")]


def test_nested_settings_hash_into_the_key():
    a = cell_key({"k": "edp", "sweep": {"steps": 10, "lr": 1e-3}})
    assert a == cell_key({"sweep": {"lr": 1e-3, "steps": 10}, "k": "edp"})
    assert a != cell_key({"k": "edp", "sweep": {"steps": 11, "lr": 1e-3}})
    assert len(a) < 60
