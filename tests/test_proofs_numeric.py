"""Every numerical claim check (proofs_numeric/claim_*.py) passes in quick mode and carries
at least one negative control."""

from __future__ import annotations

import importlib

import matplotlib
import pytest

matplotlib.use("Agg")

import proofs_numeric  # noqa: E402
from rkbs.verify import CheckResult  # noqa: E402


def test_claims_discovered():
    # one module per claim topic of the paper (MATH.md top list); 5 is universal approx.
    assert "claim_5_universal_approximation" in proofs_numeric.CLAIMS
    assert len(proofs_numeric.CLAIMS) >= 5


@pytest.mark.parametrize("name", proofs_numeric.CLAIMS)
def test_claim_quick(name):
    mod = importlib.import_module(f"proofs_numeric.{name}")
    results = mod.main(quick=True, verbose=False)
    assert results and all(isinstance(r, CheckResult) for r in results)
    failed = [f"{r.setting}: {r.measured} {r.relation} {r.tolerance}" for r in results
              if not r.passed]
    assert not failed, "failed verdicts:\n" + "\n".join(failed)
    assert any(r.negative_control for r in results), f"{name} has no negative control"
    assert any(not r.negative_control for r in results)


def test_claim_5_negative_controls_fail_their_comparison():
    # A negative-control row passes only if its comparison fails: check it directly.
    mod = importlib.import_module("proofs_numeric.claim_5_universal_approximation")
    rows = [r for r in mod.main(quick=True, verbose=False) if r.negative_control]
    assert len(rows) == 3
    for r in rows:
        assert r.measured > r.tolerance  # all are "<=" comparisons that must fail
