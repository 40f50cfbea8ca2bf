"""Work is never lost: real ``rkbs`` subprocesses are interrupted (SIGINT, SIGTERM), keep
what they finished, and resume it on the next run; damaged files give one-line errors.

The verify and figure tests register small fake claim / figure modules in the child
process (a fast one that finishes and a slow one that is killed), so the kill lands at a
known point without timing luck; the training test interrupts a real training run and
checks that the resumed run is bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Child driver: SIGINT must raise KeyboardInterrupt even when the test runner was started
# with SIGINT ignored (a background job inherits SIG_IGN, and Python then keeps it).
_PRELUDE = """
import os, signal, sys, time, types
signal.signal(signal.SIGINT, signal.default_int_handler)
"""

_VERIFY_CHILD = _PRELUDE + """
import proofs_numeric, rkbs
def fast(quick=True, verbose=True, **kw):
    return [rkbs.check("97 fast", "passes", 0.0, 1.0),
            rkbs.check("97 fast", "control", 2.0, 1.0, negative_control=True)]
def slow(quick=True, verbose=True, **kw):
    if os.environ.get("RKBS_TEST_SLOW") == "1":
        open(os.environ["RKBS_TEST_MARK"], "w").close()  # tell the test we are in here
        time.sleep(120)
    return [rkbs.check("98 slow", "passes", 0.0, 1.0)]
for name, fn in (("claim_97_fast", fast), ("claim_98_slow", slow)):
    m = types.ModuleType("proofs_numeric." + name); m.main = fn
    sys.modules["proofs_numeric." + name] = m
proofs_numeric.CLAIMS = ("claim_97_fast", "claim_98_slow")
from rkbs.cli import main
sys.exit(main(sys.argv[1:]))
"""

_FIGURES_CHILD = _PRELUDE + """
import paper_figures
from paper_figures._common import write_json
def make(name, slow):
    def main(out_dir, quick=False, **kw):
        if slow and os.environ.get("RKBS_TEST_SLOW") == "1":
            open(os.environ["RKBS_TEST_MARK"], "w").close()
            time.sleep(120)
        return {"files": [write_json({"figure": name, "t": time.time()},
                                     f"{out_dir}/{name}.json")]}
    return main
for name, slow in (("fig_a", False), ("fig_b", True)):
    m = types.ModuleType("paper_figures." + name); m.main = make(name, slow)
    sys.modules["paper_figures." + name] = m
paper_figures.FIGURES = ("fig_a", "fig_b")
from rkbs.cli import main
sys.exit(main(sys.argv[1:]))
"""

_CLI_CHILD = _PRELUDE + """
from rkbs.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(extra)
    return env


def _popen(code: str, args, tmp_path, **env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args],
                            cwd=tmp_path, env=_env(**env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    t0 = time.monotonic()
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"child exited ({proc.returncode}) before {path} appeared:\n{out}\n{err}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            pytest.fail(f"{path} did not appear within {timeout} s")
        time.sleep(0.05)


def _run(code: str, args, tmp_path, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=tmp_path,
                          env=_env(**env), capture_output=True, text=True, timeout=300)


_EXPECTED_RC = {signal.SIGINT: 130, signal.SIGTERM: 143}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_verify_killed_keeps_finished_claims_and_resumes(sig, tmp_path):
    out = tmp_path / "verdicts.json"
    mark = tmp_path / "in_slow"
    args = ["verify", "--quick", "--no-progress", "--json", str(out)]
    proc = _popen(_VERIFY_CHILD, args, tmp_path, RKBS_TEST_SLOW="1", RKBS_TEST_MARK=str(mark))
    _wait_for(mark, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == _EXPECTED_RC[sig], err
    assert "stopped after 1 of 2 claim modules" in err and "Traceback" not in err
    assert not out.exists()  # nothing half-written
    cached = tmp_path / ".rkbs-cache" / "verify-quick-claim_97_fast.json"
    rows = json.loads(cached.read_text())["results"]
    assert [r["setting"] for r in rows] == ["passes", "control"]
    assert not (tmp_path / ".rkbs-cache" / "verify-quick-claim_98_slow.json").exists()
    # the rerun reuses the finished module and computes only the missing one
    res = _run(_VERIFY_CHILD, args, tmp_path)
    assert res.returncode == 0, res.stderr
    timing = next(ln for ln in res.stdout.splitlines() if ln.startswith("time per claim"))
    assert "claim_97_fast" in timing and timing.split(", ")[0].endswith("(cached)")
    assert not timing.split(", ")[1].endswith("(cached)")  # the slow one ran
    payload = json.loads(out.read_text())
    assert payload["passed"] and payload["n_checks"] == 3
    # control: --fresh recomputes, so nothing is reported as cached
    res = _run(_VERIFY_CHILD, [*args, "--fresh"], tmp_path)
    assert res.returncode == 0 and "(cached)" not in res.stdout


def test_verify_corrupt_cache_is_a_one_line_error(tmp_path):
    cache = tmp_path / ".rkbs-cache"
    cache.mkdir()
    (cache / "verify-quick-claim_97_fast.json").write_text('{"module": "claim_97_fa')
    res = _run(_VERIFY_CHILD, ["verify", "--quick", "--no-progress"], tmp_path)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "corrupt or truncated" in lines[0] and "--fresh" in lines[0]
    # the same run with --fresh does not read it, and succeeds
    assert _run(_VERIFY_CHILD, ["verify", "--quick", "--no-progress", "--fresh"],
                tmp_path).returncode == 0


def test_figures_killed_keeps_finished_figures_and_skips_them(tmp_path):
    out = tmp_path / "figs"
    mark = tmp_path / "in_slow"
    args = ["figures", "--quick", "--no-progress", "--out", str(out)]
    proc = _popen(_FIGURES_CHILD, args, tmp_path, RKBS_TEST_SLOW="1", RKBS_TEST_MARK=str(mark))
    _wait_for(mark, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    first = json.loads((out / "fig_a.json").read_text())
    assert not (out / "fig_b.json").exists()
    res = _run(_FIGURES_CHILD, args, tmp_path)
    assert res.returncode == 0, res.stderr
    assert "fig_a: 1 files already there, skipped" in res.stdout
    assert json.loads((out / "fig_a.json").read_text()) == first  # not redrawn
    assert (out / "fig_b.json").exists()
    # another mode is not "the same figure": full mode redraws fig_a
    res = _run(_FIGURES_CHILD, ["figures", "--no-progress", "--out", str(out)], tmp_path)
    assert res.returncode == 0 and "skipped" not in res.stdout
    assert json.loads((out / "fig_a.json").read_text())["t"] > first["t"]
    # --force redraws in the same mode
    res = _run(_FIGURES_CHILD, [*args, "--force"], tmp_path)
    assert res.returncode == 0 and "skipped" not in res.stdout


def _train_args(out: Path) -> list[str]:
    return ["train", "--task", "number-words", "--kernel", "taylor2", "--seed", "3",
            "--quick", "--steps", "60", "--out", str(out)]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM], ids=["SIGTERM"])  # SIGINT: same path,
def test_train_killed_resumes_bit_identically(sig, tmp_path):  # tested on verify above
    torch = pytest.importorskip("torch")
    run = tmp_path / "run"
    proc = _popen(_CLI_CHILD, _train_args(run), tmp_path)
    _wait_for(run / "checkpoint.pt", proc)  # first checkpoint: step 12 of 60
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal arrived (machine too fast)")
    assert proc.returncode == _EXPECTED_RC[sig], err
    assert "last checkpoint" in err and "Traceback" not in err
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    assert 0 < ck["step"] < 60
    res = _run(_CLI_CHILD, _train_args(run), tmp_path)
    assert res.returncode == 0, res.stderr
    ref = tmp_path / "ref"
    assert _run(_CLI_CHILD, _train_args(ref), tmp_path).returncode == 0
    a = json.loads((run / "metrics.json").read_text())
    b = json.loads((ref / "metrics.json").read_text())
    assert a["history"] == b["history"] and a["test"] == b["test"]
    sa = torch.load(run / "checkpoint.pt", weights_only=True)["model_state"]
    sb = torch.load(ref / "checkpoint.pt", weights_only=True)["model_state"]
    assert all(torch.equal(sa[k], sb[k]) for k in sb)


def test_train_resume_in_process_matches_uninterrupted(tmp_path):
    """The resume path itself (no signals): stop at a checkpoint, continue, compare."""
    torch = pytest.importorskip("torch")
    from rkbs.attention.training import TrainConfig, train

    kw = dict(task="number-words", kernel="taylor2", seed=2, quick=True, steps=16,
              eval_every=4, eval_max_examples=20, progress=False)
    ref = train(TrainConfig(**kw, out_dir=str(tmp_path / "ref")))
    # the same run stopped at its second checkpoint (step 8): Ctrl-C raised in the loop
    import rkbs.attention.training as tr

    real_save = tr.save_checkpoint
    calls = []

    def save_then_stop(*a, **k):
        real_save(*a, **k)
        calls.append(a[4])
        if len(calls) == 2:
            raise KeyboardInterrupt

    tr.save_checkpoint = save_then_stop
    try:
        with pytest.raises(KeyboardInterrupt):
            train(TrainConfig(**kw, out_dir=str(tmp_path / "run"), resume=True))
    finally:
        tr.save_checkpoint = real_save
    assert calls == [4, 8]
    res = train(TrainConfig(**kw, out_dir=str(tmp_path / "run"), resume=True))
    assert res.metrics["history"] == ref.metrics["history"]
    assert res.metrics["test"] == ref.metrics["test"]
    for (k, p), q in zip(res.model.state_dict().items(), ref.model.state_dict().values()):
        assert torch.equal(p, q), k
    # control: the comparison can tell runs apart (another seed gives another history)
    other = train(TrainConfig(**{**kw, "seed": 5}, out_dir=str(tmp_path / "other")))
    assert other.metrics["history"] != ref.metrics["history"]


def test_train_corrupt_checkpoint_is_a_one_line_error(tmp_path, capsys):
    from rkbs.cli import main

    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    assert main(_train_args(run)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "corrupt" in lines[0] and "--fresh" in lines[0], lines


def test_train_checkpoint_of_another_run_is_refused(tmp_path):
    pytest.importorskip("torch")
    from rkbs.attention.training import TrainConfig, train

    kw = dict(task="number-words", kernel="taylor2", seed=2, quick=True, steps=4,
              eval_every=4, eval_max_examples=10, progress=False, out_dir=str(tmp_path))
    train(TrainConfig(**kw))
    with pytest.raises(ValueError, match=r"another run \(steps: 4 in the checkpoint, 8 now"):
        train(TrainConfig(**{**kw, "steps": 8}, resume=True))
