"""Shared fixtures: seeded generators and the numpy/torch backend switch."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng():
    """A fresh, seeded numpy Generator (each test gets the same stream)."""
    return np.random.default_rng(20210603)


@pytest.fixture(params=["numpy", "torch"])
def backend(request):
    """Converts numpy arrays to the parametrized backend (float64 kept)."""
    if request.param == "numpy":
        return lambda a: np.asarray(a)
    torch = pytest.importorskip("torch")
    return lambda a: torch.as_tensor(np.asarray(a))


def to_numpy(a):
    """Array or tensor -> numpy."""
    if hasattr(a, "detach"):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def pytest_collection_modifyitems(config, items):
    """Every test whose name says ``cuda`` carries the ``cuda`` marker (``make gpu-check``
    runs ``pytest -m cuda``); a test may also be marked explicitly."""
    for item in items:
        if "cuda" in item.name.lower() and "cuda" not in item.keywords:
            item.add_marker(pytest.mark.cuda)
