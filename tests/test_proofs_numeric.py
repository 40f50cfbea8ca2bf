"""Every numerical claim check (proofs_numeric/claim_*.py) passes in quick mode and carries
at least one negative control."""

from __future__ import annotations

import functools
import importlib

import matplotlib
import pytest

matplotlib.use("Agg")

import proofs_numeric  # noqa: E402
from rkbs.verify import CheckResult  # noqa: E402


def test_claims_discovered():
    # one module per claim topic of the paper (the claims list of the theory page); 5 is universal approx.
    assert "claim_5_universal_approximation" in proofs_numeric.CLAIMS
    assert len(proofs_numeric.CLAIMS) >= 5


@functools.cache
def _run(name: str):
    """Each claim module runs once per session (quick mode)."""
    mod = importlib.import_module(f"proofs_numeric.{name}")
    return tuple(mod.main(quick=True, verbose=False))


@pytest.mark.parametrize("name", proofs_numeric.CLAIMS)
def test_claim_quick(name):
    results = _run(name)
    assert results and all(isinstance(r, CheckResult) for r in results)
    failed = [f"{r.setting}: {r.measured} {r.relation} {r.tolerance}" for r in results
              if not r.passed]
    assert not failed, "failed verdicts:\n" + "\n".join(failed)
    assert any(r.negative_control for r in results), f"{name} has no negative control"
    assert any(not r.negative_control for r in results)


def test_claim_5_negative_controls_fail_their_comparison():
    # A negative-control row passes only if its comparison fails: check it directly.
    rows = [r for r in _run("claim_5_universal_approximation") if r.negative_control]
    assert len(rows) == 3
    for r in rows:
        assert r.measured > r.tolerance  # all are "<=" comparisons that must fail
