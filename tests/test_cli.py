"""The ``rkbs verify`` command: exit codes, JSON output, discovery of claim modules."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

import proofs_numeric
import rkbs
from rkbs.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("only", ["claim_1", "claim_2_non_mercer", "claim_3_rkbs_pair"])
def test_verify_claim_passes_and_writes_json(only, tmp_path, capsys):
    """``rkbs verify --quick --only claim_1 --json PATH`` (the brief's call) and claims 2, 3."""
    out = tmp_path / "verdicts.json"
    rc = main(["verify", "--quick", "--only", only, "--json", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    payload = json.loads(out.read_text())
    assert payload["passed"] is True and payload["n_failed"] == 0
    assert payload["n_checks"] == len(payload["results"]) >= 5
    # every claim module carries at least one negative control, and it passed
    assert any(r["negative_control"] and r["passed"] for r in payload["results"])
    assert "PASS" in text and "FAIL" not in text.replace("FAIL (", "")


def test_failing_claim_returns_one(monkeypatch, tmp_path, capsys):
    fake = types.ModuleType("proofs_numeric.claim_99_fake")

    def fake_main(quick=True, verbose=True):
        return [
            rkbs.check("99 fake", "always fails", 1.0, 0.0),
            rkbs.check("99 fake", "passes", 0.0, 1.0),
        ]

    fake.main = fake_main
    monkeypatch.setitem(sys.modules, "proofs_numeric.claim_99_fake", fake)
    monkeypatch.setattr(proofs_numeric, "CLAIMS", (*proofs_numeric.CLAIMS, "claim_99_fake"))
    out = tmp_path / "fail.json"
    md = tmp_path / "claims.md"
    rc = main(["verify", "--quick", "--only", "claim_99", "--json", str(out), "--no-progress",
               "--markdown", str(md)])
    assert rc == 1
    payload = json.loads(out.read_text())
    assert payload["passed"] is False and payload["n_failed"] == 1
    assert "FAIL" in capsys.readouterr().out
    # the per-claim summary counts both rows and reports the claim as failed
    assert "| 99 fake | 2 | 0 | 1 | FAIL |" in md.read_text()


def test_unknown_only_returns_two(capsys):
    assert main(["verify", "--quick", "--only", "no_such_claim", "--no-progress"]) == 2
    assert "no claim checks match 'no_such_claim'" in capsys.readouterr().err


def test_claim_modules_discovered():
    for name in ("claim_1_taylor_features", "claim_2_non_mercer", "claim_3_rkbs_pair"):
        assert name in proofs_numeric.CLAIMS


# ------------------------------------------------------------------ help, version, defaults
def test_help_is_plain_text_with_examples_and_exit_codes(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "rkbs verify --quick" in text
    assert "exit codes:" in text
    for code in ("0 ", "1 ", "2 ", "130", "143"):
        assert f"\n  {code}" in text
    for rest in ("``", ":mod:", ":func:", ".. "):  # no raw reST markup
        assert rest not in text


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"rkbs {rkbs.__version__}"


def test_every_option_with_a_default_shows_it(capsys):
    import argparse

    from rkbs.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    checked = 0
    for name, p in sub.choices.items():
        text = p.format_help()
        for a in p._actions:
            if not a.option_strings or a.default in (None, False, argparse.SUPPRESS) or \
                    isinstance(a, argparse._HelpAction):
                continue
            assert f"(default: {a.default})" in " ".join(text.split()), (name, a.dest)
            checked += 1
    assert checked >= 5
    assert "names: edp" in sub.choices["train"].format_help()  # kernel names from the registry
    vhelp = sub.choices["verify"].format_help()
    assert "minutes)" not in vhelp.split("--quick", 1)[1].splitlines()[0]  # quick is seconds


def test_usage_error_is_one_line(capsys):
    assert main(["verify", "--no-such-option"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unrecognized arguments" in err[0]


# ------------------------------------------------------------------ fake claims
def _fake_claims(monkeypatch, calls, behaviour="pass"):
    """Register claim_90_fake (a pass, a control caught, a long setting) and claim_91_fake."""

    def fake_main(quick=True, verbose=True, **kw):
        calls.append("claim_90_fake")
        if behaviour == "value-error":
            raise ValueError("bad input\nsecond line")
        if behaviour == "runtime-error":
            raise RuntimeError("solver exploded")
        if behaviour == "interrupt":
            raise KeyboardInterrupt
        return [rkbs.check("90 fake", "x" * 300, 0.5, 1.0, part="long"),
                rkbs.check("90 fake", "caught control", 2.0, 1.0, negative_control=True),
                rkbs.check("90 fake", "missed control", 0.5, 1.0, negative_control=True)]

    def other_main(quick=True, verbose=True, **kw):
        calls.append("claim_91_fake")
        return [rkbs.check("91 other", "fine", 0.0, 1.0)]

    for name, fn in (("claim_90_fake", fake_main), ("claim_91_fake", other_main)):
        mod = types.ModuleType(f"proofs_numeric.{name}")
        mod.main = fn
        monkeypatch.setitem(sys.modules, f"proofs_numeric.{name}", mod)
    monkeypatch.setattr(proofs_numeric, "CLAIMS", ("claim_90_fake", "claim_91_fake"))


def test_summary_by_default_rows_on_request_fit_100_columns(monkeypatch, tmp_path, capsys):
    calls = []
    _fake_claims(monkeypatch, calls)
    base = ["verify", "--quick", "--no-progress", "--no-cache"]
    assert main(base) == 1  # the missed control fails the claim
    out = capsys.readouterr().out
    assert "x" * 50 not in out  # summary: no rows, except the failed one
    assert "90 fake" in out and "91 other" in out
    assert "1/2" in out  # controls caught of the claim's controls
    assert "failed rows:" in out and "control missed ✗" in out
    assert main([*base, "--rows"]) == 1
    rows = capsys.readouterr().out
    assert "control caught ✓" in rows and "control missed ✗" in rows
    assert "neg. control" not in rows and "PASS (" not in rows
    assert max(len(line) for line in rows.splitlines()) <= 100
    assert "…" in rows  # the long setting was shortened
    assert main([*base, "--wide"]) == 1
    wide = capsys.readouterr().out
    assert "x" * 300 in wide and max(len(line) for line in wide.splitlines()) > 300
    # the full text is in the JSON and the Markdown
    js, md = tmp_path / "v.json", tmp_path / "v.md"
    assert main([*base, "--json", str(js), "--markdown", str(md)]) == 1
    capsys.readouterr()
    payload = json.loads(js.read_text())
    assert payload["results"][0]["setting"] == "x" * 300
    assert payload["results"][0]["part"] == "long"
    assert "x" * 300 in md.read_text() and "control missed ✗" in md.read_text()


@pytest.mark.parametrize("bad", ["missing-dir", "directory"])
@pytest.mark.parametrize("flag", ["--json", "--markdown"])
def test_bad_output_path_fails_before_any_work(bad, flag, monkeypatch, tmp_path, capsys):
    calls = []
    _fake_claims(monkeypatch, calls)
    path = tmp_path / "missing" / "out.json" if bad == "missing-dir" else tmp_path
    t0 = time.perf_counter()
    assert main(["verify", "--quick", "--no-progress", flag, str(path)]) == 2
    assert time.perf_counter() - t0 < 5
    assert calls == []  # no claim ran
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and "Traceback" not in err[0]


@pytest.mark.parametrize("behaviour,code", [("value-error", 2), ("runtime-error", 3),
                                            ("interrupt", 130)])
def test_errors_are_one_line_with_distinct_codes(behaviour, code, monkeypatch, capsys):
    _fake_claims(monkeypatch, [], behaviour)
    assert main(["verify", "--quick", "--no-progress", "--no-cache"]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    if behaviour == "interrupt":
        assert err[-1] == "rkbs verify: interrupted (exit 130)"
    else:
        assert len(err) == 1 and err[0].startswith("rkbs verify: error: ")
        assert "--debug" in err[0]
    # --debug shows the traceback
    assert main(["verify", "--quick", "--no-progress", "--no-cache", "--debug"]) == code
    assert "Traceback" in capsys.readouterr().err


# ------------------------------------------------------------------ bench
def test_bench_only_nothing_and_quick_record_refused(capsys):
    assert main(["bench", "--only", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "matches no benchmark; available: bench_" in err and len(err.strip().splitlines()) == 1
    assert main(["bench", "--quick", "--update-record"]) == 2
    assert "refuses --quick" in capsys.readouterr().err


def _git_state(root: Path) -> tuple[str, dict]:
    status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True,
                            text=True, check=True).stdout
    record = [root / "BENCHMARKS.md", *sorted((root / "benchmarks" / "results").glob("*"))]
    return status, {str(p): p.read_bytes() for p in record}


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                    reason="needs a git checkout")
def test_bench_quick_leaves_git_status_clean(monkeypatch, capsys):
    """``rkbs bench --quick --only pair_dual`` (the cheapest) from the repository root."""
    before = _git_state(ROOT)
    monkeypatch.chdir(ROOT)
    assert main(["bench", "--quick", "--only", "pair_dual"]) == 0
    out = capsys.readouterr().out
    assert "bench-out/pair_dual.md" in out
    assert _git_state(ROOT) == before
    assert (ROOT / "bench-out" / "pair_dual.md").exists()
    assert subprocess.run(["git", "check-ignore", "-q", "bench-out/pair_dual.md"],
                          cwd=ROOT).returncode == 0


def test_bench_update_record_copies_tables(monkeypatch, tmp_path, capsys):
    import benchmarks

    record = tmp_path / "results"
    record.mkdir()
    (record / "old.md").write_text("## old table\n")
    (record / "fake.md").write_text("## fake, previous numbers\n")
    fake = types.ModuleType("benchmarks.bench_fake")

    def fake_main(out_dir=None, quick=False, verbose=True):
        benchmarks.write_table(out_dir, "fake.md", f"## fake, quick={quick}\n")
        return [{"quick": quick}]

    fake.main = fake_main
    monkeypatch.setitem(sys.modules, "benchmarks.bench_fake", fake)
    monkeypatch.setattr(benchmarks, "modules", lambda: ["bench_fake"])
    monkeypatch.setattr(benchmarks, "RESULTS", record)
    monkeypatch.setattr(benchmarks, "ROOT", tmp_path)
    out = tmp_path / "scratch"
    benchmarks.run_all(quick=True, out_dir=out, verbose=False)  # no record change
    assert (record / "fake.md").read_text() == "## fake, previous numbers\n"
    assert not (tmp_path / "BENCHMARKS.md").exists()
    preview = (out / "BENCHMARKS.md").read_text()
    assert "fake, quick=True" in preview and "old table" in preview
    with pytest.raises(ValueError, match="refuses quick"):
        benchmarks.run_all(quick=True, out_dir=out, update_record=True)
    benchmarks.run_all(out_dir=out, update_record=True, verbose=False)
    assert (record / "fake.md").read_text() == "## fake, quick=False\n"
    rec = (tmp_path / "BENCHMARKS.md").read_text()
    assert "fake, quick=False" in rec and "old table" in rec


def test_one_main_signature_across_proofs_figures_benchmarks():
    import importlib
    import inspect

    import benchmarks
    import paper_figures

    mods = [f"proofs_numeric.{n}" for n in proofs_numeric.CLAIMS]
    mods += [f"paper_figures.{n}" for n in paper_figures.FIGURES]
    mods += [f"benchmarks.{n}" for n in benchmarks.modules()]
    for name in mods:
        params = list(inspect.signature(importlib.import_module(name).main).parameters.values())
        head = [(p.name, p.default) for p in params[:3]]
        assert head == [("out_dir", None), ("quick", False), ("verbose", True)], name
        assert all(p.kind == p.KEYWORD_ONLY for p in params[3:]), name  # extras by keyword
    assert len(mods) >= 15


def test_every_claim_module_names_its_paper_claims():
    for name in proofs_numeric.CLAIMS:
        assert proofs_numeric.paper_claims(name)
    with pytest.raises(ValueError, match="no entry in proofs_numeric.PAPER_CLAIMS"):
        proofs_numeric.paper_claims("claim_99_unknown")


def test_claim_main_writes_rows_to_out_dir(tmp_path):
    from proofs_numeric import claim_3_rkbs_pair

    rows = claim_3_rkbs_pair.main(out_dir=tmp_path, quick=True, verbose=False)
    payload = json.loads((tmp_path / "claim_3_rkbs_pair.json").read_text())
    assert payload["n_checks"] == len(rows) > 0
    assert [r["setting"] for r in payload["results"]] == [r.setting for r in rows]


def test_certificate_rows_carry_structured_parts():
    """Rows are selected by ``part``/``labels``, never by parsing the setting text."""
    import numpy as np

    from rkbs.machines import BinaryKernelMachine

    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((8, 3)), rng.standard_normal((7, 3))
    Z = rkbs.binary_targets("squared", 8, 7, rng)
    feats = rkbs.feature_family("EDP/Taylor", 3, rng)
    mach = BinaryKernelMachine(feats, p=1.5, coupling="additive", loss="squared", lam_x=0.1,
                               lam_y=0.1, solver="torch", seed=0).fit(X, Y, Z)
    cert = rkbs.certify(mach, negative_controls=True, setting="s")
    parts = {r.part for r in cert.rows}
    assert {"span residual", "coefficients", "function space", "reconstruction", "KKT",
            "whole certificate"} <= parts
    points = {r.labels["point"] for r in cert.rows}
    assert points == {"optimum", "perturbed", "0.9·optimum"}
    for r in cert.rows:
        assert r.negative_control == (r.labels["point"] != "optimum") or r.part == "span residual"
        if r.part not in ("KKT", "whole certificate"):
            assert r.labels["side"] in ("X", "Y")
    # JSON round trip keeps the structure
    r0 = cert.rows[0]
    assert rkbs.CheckResult.from_dict(r0.to_dict()) == r0


# ------------------------------------------------------------------ make gpu-check
def test_gpu_check_refuses_without_cuda(capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    from benchmarks import gpu_check

    assert gpu_check.cli(["--out", "unused"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no CUDA device" in err[0] and "--dry-run" in err[0]
    assert gpu_check.cli(["--dry-run", "--update-record"]) == 2
    assert "refuses --dry-run" in capsys.readouterr().err
    assert not Path("unused").exists()  # refused before creating anything


@pytest.mark.slow
def test_gpu_check_dry_run_writes_every_table(tmp_path, monkeypatch):
    """The GPU script end to end on the CPU (tiny sizes); the record is not touched."""
    import benchmarks
    from benchmarks import gpu_check

    record = benchmarks.RESULTS / "gpu.md"
    before = record.read_bytes() if record.exists() else None
    parts = gpu_check.main(tmp_path, dry_run=True, verbose=False, run_tests=False)
    text = (tmp_path / "gpu.md").read_text()
    for head in ("Attention, forward + backward", "Newton solver", "Dual pair-operator",
                 "Training throughput", "Dry run on the CPU"):
        assert head in text
    # the CPU reference and the "GPU" pass (the CPU here) agree: same device, same seed
    assert all(r["pred_diff"] == 0.0 for r in parts["newton"])
    assert all(r["score_diff"] == 0.0 for r in parts["dual"])
    assert (record.read_bytes() if record.exists() else None) == before
