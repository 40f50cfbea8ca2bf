"""Input validation and random-state handling (rkbs._checks, rkbs._backend)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rkbs._backend import asarray_like, namespace, to_numpy
from rkbs._checks import (
    check_array,
    check_exponent,
    check_int,
    check_pair_arrays,
    check_positive,
    check_random_state,
)


def test_check_array_conversions():
    A = check_array([[1, 2], [3, 4]])
    assert A.dtype == np.float64 and A.shape == (2, 2)
    B = np.ones((2, 3), dtype=np.float32)
    assert check_array(B).dtype == np.float32  # floating dtypes are kept
    assert check_array(np.ones(3), ndim=1).shape == (3,)


@pytest.mark.parametrize(
    "X,pattern",
    [
        (np.ones(3), r"X must be 2-dimensional, got shape \(3,\)"),
        (np.ones((0, 3)), r"X must be non-empty, got shape \(0, 3\)"),
        (np.array([[1.0, np.nan]]), r"X contains NaN or inf values \(shape \(1, 2\)\)"),
        (np.array([[1.0, -np.inf]]), "NaN or inf"),
        (np.array([[object()]]), "numeric array, got dtype=object"),
    ],
)
def test_check_array_errors(X, pattern):
    with pytest.raises(ValueError, match=pattern):
        check_array(X)


def test_check_array_torch():
    torch = pytest.importorskip("torch")
    t = check_array(torch.ones(2, 2, dtype=torch.int64))
    assert t.dtype == torch.float64
    with pytest.raises(ValueError, match="NaN or inf"):
        check_array(torch.tensor([[float("nan")]], dtype=torch.float64))
    assert check_array(torch.tensor([[float("nan")]]), allow_nonfinite=True).shape == (1, 1)


def test_check_pair_arrays():
    X, Y = check_pair_arrays(np.ones((2, 3), dtype=np.float32), np.ones((4, 3)))
    assert X.dtype == Y.dtype == np.float64  # promoted to a common dtype
    with pytest.raises(ValueError, match=r"same number of columns, got X \(2, 3\) and Y \(4, 2\)"):
        check_pair_arrays(np.ones((2, 3)), np.ones((4, 2)), same_dim=True)
    with pytest.raises(ValueError, match="Y is required"):
        check_pair_arrays(np.ones((2, 3)), None)
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="one backend, got ndarray and Tensor"):
        check_pair_arrays(np.ones((2, 3)), torch.ones(2, 3))


def test_check_exponent():
    assert check_exponent(2) == 2.0 and check_exponent(np.float64(1.5)) == 1.5
    assert check_exponent(1, allow_one=True) == 1.0
    assert check_exponent(math.inf, allow_inf=True) == math.inf
    for p in (1, 1.0, 0.5, 0, -3, math.inf):
        with pytest.raises(ValueError, match=r"1 < p < inf here, got p="):
            check_exponent(p)
    with pytest.raises(ValueError, match="must be a real number"):
        check_exponent(True)
    with pytest.raises(ValueError, match="must be a real number"):
        check_exponent("2")
    with pytest.raises(ValueError, match=r"1 < p < inf here, got p=-inf"):
        check_exponent(-math.inf, allow_inf=True)


def test_check_positive_and_int():
    assert check_positive(0.5, "sigma") == 0.5
    assert check_positive(0, "lam", strict=False) == 0.0
    for v in (0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match=r"sigma must be finite and > 0, got sigma="):
            check_positive(v, "sigma")
    with pytest.raises(ValueError, match="lam must be finite and >= 0, got lam=-0.1"):
        check_positive(-0.1, "lam", strict=False)
    with pytest.raises(ValueError, match="must be a real number"):
        check_positive(None, "sigma")
    assert check_int(np.int64(3), "degree") == 3
    with pytest.raises(ValueError, match="degree must be >= 0, got degree=-1"):
        check_int(-1, "degree")
    with pytest.raises(ValueError, match="degree must be an integer, got 2.0"):
        check_int(2.0, "degree")
    with pytest.raises(ValueError, match="must be an integer"):
        check_int(True, "degree")


def test_check_random_state():
    a = check_random_state(7).normal(size=3)
    b = check_random_state(7).normal(size=3)
    np.testing.assert_array_equal(a, b)  # seeds are reproducible
    g = np.random.default_rng(1)
    assert check_random_state(g) is g
    assert isinstance(check_random_state(None), np.random.Generator)
    assert isinstance(check_random_state(np.random.SeedSequence(3)), np.random.Generator)
    with pytest.raises(ValueError, match="seed must be None, an int or a numpy Generator"):
        check_random_state("seed")


def test_backend_helpers():
    torch = pytest.importorskip("torch")
    x = np.arange(3.0)
    t = torch.zeros(2, dtype=torch.float64)
    moved = asarray_like(x, t)
    assert isinstance(moved, torch.Tensor) and moved.dtype == torch.float64
    np.testing.assert_array_equal(to_numpy(moved), x)
    assert namespace(None, 1.0) is namespace(np.ones(1))
    back = asarray_like(moved, np.ones(1, dtype=np.float32))
    assert isinstance(back, np.ndarray) and back.dtype == np.float32
