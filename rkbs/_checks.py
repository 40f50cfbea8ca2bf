"""Input validation at public entry points, and random-state handling.

All user errors raise :class:`ValueError` with a message that names the offending
shape or value (scikit-learn's ``check_pairwise_arrays`` is the model); ``assert`` is
never used for user input.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from rkbs._backend import is_torch_array, namespace

__all__ = [
    "check_array",
    "check_pair_arrays",
    "check_exponent",
    "check_positive",
    "check_random_state",
    "check_int",
]


def check_array(X: Any, name: str = "X", *, ndim: int = 2, allow_nonfinite: bool = False):
    """Validate an array and return it in its namespace.

    Lists and integer arrays become float64 numpy arrays; floating numpy arrays and torch
    tensors keep their dtype and device. A 1-d input where ``ndim == 2`` is rejected
    (no silent reshaping: a single point is ``x[None, :]``).

    Raises
    ------
    ValueError
        On wrong number of dimensions, empty arrays, or NaN/inf entries.
    """
    if is_torch_array(X):
        if not X.is_floating_point():
            X = X.double()
    else:
        X = np.asarray(X)
        if X.dtype == object:
            raise ValueError(f"{name} must be a numeric array, got dtype=object")
        if not np.issubdtype(X.dtype, np.floating):
            X = X.astype(np.float64)
    if X.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {tuple(X.shape)}")
    if any(s == 0 for s in X.shape):
        raise ValueError(f"{name} must be non-empty, got shape {tuple(X.shape)}")
    if not allow_nonfinite:
        xp = namespace(X)
        if not bool(xp.all(xp.isfinite(X))):
            raise ValueError(f"{name} contains NaN or inf values (shape {tuple(X.shape)})")
    return X


def check_pair_arrays(X: Any, Y: Any, *, same_dim: bool = False):
    """Validate the two point sets of a binary kernel: ``X`` (n, d_x), ``Y`` (m, d_y).

    Both must be 2-d and of one backend (numpy or torch). ``same_dim`` requires
    d_x == d_y (kernels without query/key maps compare q and k directly).
    """
    if Y is None:
        raise ValueError("a binary kernel needs both point sets: Y is required (pass Y=X)")
    X = check_array(X, "X")
    Y = check_array(Y, "Y")
    if is_torch_array(X) != is_torch_array(Y):
        raise ValueError(
            f"X and Y must be of one backend, got {type(X).__name__} and {type(Y).__name__}"
        )
    if same_dim and X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"X and Y must have the same number of columns, got X {tuple(X.shape)} and "
            f"Y {tuple(Y.shape)}"
        )
    if X.dtype != Y.dtype:
        xp = namespace(X)
        dt = xp.result_type(X.dtype, Y.dtype)
        X, Y = xp.astype(X, dt), xp.astype(Y, dt)
    return X, Y


def check_exponent(p: Any, name: str = "p", *, allow_one: bool = False, allow_inf: bool = False):
    """Validate an ℓ^p exponent: 1 < p < ∞ unless ``allow_one`` / ``allow_inf``."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or math.isnan(float(p)):
        raise ValueError(f"{name} must be a real number, got {p!r}")
    p = float(p)
    if p == 1.0 and allow_one:
        return p
    if math.isinf(p) and p > 0 and allow_inf:
        return p
    if not (1.0 < p < math.inf):
        raise ValueError(f"{name} must satisfy 1 < {name} < inf here, got {name}={p}")
    return p


def check_positive(value: Any, name: str, *, strict: bool = True) -> float:
    """Validate a positive (or non-negative) finite scalar such as a bandwidth or λ."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or (v <= 0 if strict else v < 0):
        cond = "> 0" if strict else ">= 0"
        raise ValueError(f"{name} must be finite and {cond}, got {name}={value!r}")
    return v


def check_int(value: Any, name: str, *, minimum: int = 0) -> int:
    """Validate an integer parameter (degree, number of features) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {name}={value}")
    return int(value)


def check_random_state(seed: Any) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` from ``None``, an int or a Generator.

    There is no global seeding anywhere in rkbs: every sampler takes ``seed``.
    ``None`` gives fresh OS entropy (irreproducible on purpose).
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, numbers.Integral | np.random.SeedSequence):
        return np.random.default_rng(seed)
    raise ValueError(f"seed must be None, an int or a numpy Generator, got {seed!r}")
