"""The ``rkbs verify`` command: exit codes, JSON output, discovery of claim modules."""

from __future__ import annotations

import json
import sys
import types

import pytest

import proofs_numeric
import rkbs
from rkbs.cli import main


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
