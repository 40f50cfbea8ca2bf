"""docs/extending.md: its worked examples (a new loss, a new estimator) run as written."""

from __future__ import annotations

import pathlib
import re

import pytest

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "extending.md"

pytest.importorskip("torch")
pytest.importorskip("cvxpy")


def test_extending_examples_run():
    from rkbs.machines.losses import _REGISTRY

    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 5  # loss class, check, fits, estimator class, error checks
    ns: dict = {"__name__": "extending_docs"}
    try:
        for code in blocks:
            exec(compile(code, str(DOC), "exec"), ns)  # the blocks hold their own asserts
    finally:
        import rkbs.machines.losses as losses

        _REGISTRY.pop("huber", None)  # leave the registry as the other tests expect
        losses.LOSSES = tuple(_REGISTRY)
        from rkbs.features.random import RandomFeaturePair

        RandomFeaturePair._estimators[:] = [
            c for c in RandomFeaturePair._estimators if c.__name__ != "GaussianProjectionFeatures"]
