"""Input validation at public entry points, and random-state handling.

All user errors raise :class:`ValueError` with a message that names the offending
shape or value (scikit-learn's ``check_pairwise_arrays`` is the model); ``assert`` is
never used for user input.
"""

from __future__ import annotations

import contextvars
import math
import numbers
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from rkbs._backend import is_torch_array, namespace, to_numpy

__all__ = [
    "all_finite",
    "available_memory",
    "check_allocation",
    "check_array",
    "check_attention_values",
    "check_finite_result",
    "check_finite_scalar",
    "check_mapped",
    "check_max_memory",
    "format_bytes",
    "format_number",
    "memory_limit",
    "check_pair_arrays",
    "check_exponent",
    "check_params",
    "check_positive",
    "check_random_state",
    "check_token_ids",
    "check_int",
]


def _in_function_transform(a: Any) -> bool:
    """True for a tensor inside a ``torch.func`` transform (``vmap``, ``grad``): its values
    are not concrete there, so data-dependent checks (finiteness, id ranges) are skipped
    (the batched-seed ensemble of :mod:`rkbs.attention.ensemble` runs under ``vmap``)."""
    if not is_torch_array(a):
        return False
    import torch

    return bool(torch._C._functorch.is_functorch_wrapped_tensor(a))


def all_finite(a: Any) -> bool:
    """True when every entry of the numpy array or torch tensor ``a`` is finite.

    One fast pass first: NaN and ±inf propagate into the sum, so a finite sum proves that
    every entry is finite; only when the sum is not finite (an entry is, or the sum of
    finite entries overflowed) are the entries tested one by one.
    """
    if _in_function_transform(a):
        return True  # no concrete values inside vmap/grad (see _in_function_transform)
    xp = namespace(a)
    probe = a.detach() if is_torch_array(a) else a
    with np.errstate(over="ignore", invalid="ignore"):
        if bool(xp.isfinite(xp.sum(probe))):
            return True
    return bool(xp.all(xp.isfinite(probe)))


def check_array(X: Any, name: str = "X", *, ndim: int | None = 2,
                allow_nonfinite: bool = False):
    """Validate an array and return it in its namespace.

    Lists and integer arrays become float64 numpy arrays; floating numpy arrays and torch
    tensors keep their dtype and device. A 1-d input where ``ndim == 2`` is rejected
    (no silent reshaping: a single point is ``x[None, :]``).

    ``ndim=None`` accepts any number of dimensions.

    Raises
    ------
    ValueError
        On wrong number of dimensions, empty arrays, ragged lists, or NaN/inf entries.
    TypeError
        For strings, None, complex or non-numeric dtypes.
    """
    if is_torch_array(X):
        if X.is_complex():
            raise TypeError(f"{name} must be a real array, got a complex tensor ({X.dtype})")
        if not X.is_floating_point():
            X = X.double()
    else:
        if isinstance(X, str | bytes) or X is None:
            raise TypeError(f"{name} must be an array of numbers, got {X!r:.60}")
        try:
            X = np.asarray(X)
        except ValueError as exc:  # ragged nested lists
            raise ValueError(f"{name} must be a rectangular array of numbers: {exc}") from None
        if X.dtype == object:
            raise ValueError(f"{name} must be a numeric array, got dtype=object")
        if np.issubdtype(X.dtype, np.complexfloating):
            raise TypeError(f"{name} must be a real array, got dtype={X.dtype}")
        if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
            raise TypeError(f"{name} must be an array of numbers, got dtype={X.dtype}")
        if not np.issubdtype(X.dtype, np.floating) or X.dtype == np.float16:
            X = X.astype(np.float64)
    if ndim is not None and X.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {tuple(X.shape)}")
    if any(s == 0 for s in X.shape):
        raise ValueError(f"{name} must be non-empty, got shape {tuple(X.shape)}")
    if not allow_nonfinite:
        if not all_finite(X):
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


def check_finite_scalar(value: Any, name: str) -> float:
    """Validate a finite real scalar (any sign), e.g. an interval bound."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {name}={value!r}")
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
    if isinstance(seed, bool):
        raise ValueError(f"seed must be None, an int or a numpy Generator, got {seed!r}")
    if seed is None or isinstance(seed, numbers.Integral | np.random.SeedSequence):
        if isinstance(seed, numbers.Integral) and seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got seed={seed}")
        return np.random.default_rng(seed)
    raise ValueError(f"seed must be None, an int or a numpy Generator, got {seed!r}")


def check_mapped(U: Any, name: str, dim: int | None = None):
    """Validate mapped queries/keys ``(..., n, d)`` of a feature map (numpy or torch).

    Lists and integer arrays become float64; at least 2 dimensions, non-empty rows, last
    axis ``dim`` when given, finite entries. On accelerators (CUDA) the finiteness check
    is skipped: it would synchronize the device on every call.
    """
    if isinstance(U, numbers.Number):
        raise TypeError(f"{name} must be an array of shape (..., n, d), got {U!r:.60}")
    if not is_torch_array(U) or not U.is_floating_point():
        U = check_array(U, name, ndim=None, allow_nonfinite=True)
    if U.ndim < 2:
        raise ValueError(f"{name} must have shape (..., n, d), got shape {tuple(U.shape)}")
    if U.shape[-1] == 0 or U.shape[-2] == 0:
        raise ValueError(f"{name} must be non-empty, got shape {tuple(U.shape)}")
    if dim is not None and U.shape[-1] != dim:
        raise ValueError(
            f"{name} has mapped dimension {U.shape[-1]} (shape {tuple(U.shape)}) but the "
            f"feature map was fitted for dimension {dim}"
        )
    if not is_torch_array(U) or U.device.type == "cpu":
        if not all_finite(U):
            raise ValueError(f"{name} contains NaN or inf values (shape {tuple(U.shape)})")
    return U


# ------------------------------------------------------------------ memory guards
#: Memory limit set by memory_limit() (bytes), scoped to the block and the context (thread,
#: task) that set it; None = the machine's free memory.
_MAX_MEMORY: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "rkbs_max_memory", default=None)
#: Allocations up to this size are not checked against the free memory (64 MiB).
_SMALL_ALLOCATION = 2**26


def available_memory() -> int | None:
    """Bytes of memory a new allocation can use now, or ``None`` if unknown.

    ``MemAvailable`` from ``/proc/meminfo`` (Linux: free memory plus reclaimable page
    cache, the kernel's own estimate of what can be allocated without swapping); else
    :func:`psutil.virtual_memory` if psutil is installed; else ``None``.
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:  # pragma: no cover - non-Linux
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # pragma: no cover
        return None


def format_bytes(nbytes: float) -> str:
    """Human-readable byte count: ``format_bytes(4.6e9) == '4.6 GB'`` (powers of 1000).

    Sizes beyond PB are written in powers of ten (``'1e+600 B'``), Python ints of any
    size included.
    """
    if nbytes >= 1e18:
        return f"{format_count(nbytes)} B"
    n = float(nbytes)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1000.0
    return f"{n:.3g} PB"  # pragma: no cover


def format_count(n: float) -> str:
    """A count in 3 significant digits, also for ints beyond float range (``'9.91e+11'``)."""
    if isinstance(n, numbers.Integral) and n > 10**300:
        e = len(str(n)) - 1
        return f"{int(str(n)[:3]) / 100:.3g}e+{e}"
    return f"{float(n):.3g}"


def check_max_memory(max_memory: Any, name: str = "max_memory") -> float | None:
    """Validate a memory limit: ``None`` (free memory), a positive byte count, or ``inf``."""
    if max_memory is None:
        return None
    if isinstance(max_memory, bool) or not isinstance(max_memory, numbers.Real):
        raise ValueError(f"{name} must be None or a number of bytes, got {max_memory!r}")
    v = float(max_memory)
    if math.isnan(v) or v <= 0:
        raise ValueError(f"{name} must be a positive number of bytes (or inf), got {max_memory!r}")
    return v


@contextmanager
def memory_limit(max_memory: float | None) -> Iterator[None]:
    """Set the default memory limit of every guard inside the block (bytes, inf, or None).

    ``with memory_limit(math.inf): ...`` switches the guards off; ``memory_limit(2e9)``
    refuses any single allocation above 2 GB. A ``max_memory=`` argument given to a
    constructor or function still takes precedence.
    """
    token = _MAX_MEMORY.set(check_max_memory(max_memory))
    try:
        yield
    finally:
        _MAX_MEMORY.reset(token)


def check_allocation(nbytes: float, what: str, max_memory: float | None = None) -> int:
    r"""Refuse an allocation of ``nbytes`` before it is made, if it cannot fit.

    The limit is ``max_memory`` if given, else the process-wide limit of
    :func:`memory_limit` (or the environment variable ``RKBS_MAX_MEMORY``, in bytes),
    else :func:`available_memory`. Every constructor and function of :mod:`rkbs` that
    allocates from a user-given size (feature counts, Taylor and polynomial degrees,
    Gram matrices, attention weights of shape batch × L × S) calls this first, so a size
    that cannot fit fails in microseconds with a message instead of swapping or being
    killed by the operating system.

    Parameters
    ----------
    nbytes : float
        Estimated size of the largest allocation (Python ints of any size allowed).
    what : str
        What is being allocated, with the sizes that determine it (used in the message).
    max_memory : float, optional
        Limit in bytes for this call; ``math.inf`` disables the check.

    Returns
    -------
    int
        ``nbytes`` rounded up.

    Raises
    ------
    ValueError
        When ``nbytes`` exceeds the limit; the message states both and the free memory.
    """
    limit = check_max_memory(max_memory)
    source = "max_memory"
    if limit is None and _MAX_MEMORY.get() is not None:
        limit, source = _MAX_MEMORY.get(), "the memory_limit() in effect"
    if limit is None and os.environ.get("RKBS_MAX_MEMORY"):
        raw = os.environ["RKBS_MAX_MEMORY"]
        try:
            limit = float(raw)
        except ValueError:
            raise ValueError(f"RKBS_MAX_MEMORY must be a number of bytes, got {raw!r}") from None
        limit = check_max_memory(limit, "RKBS_MAX_MEMORY")
        source = "RKBS_MAX_MEMORY"
    if limit is None and nbytes <= _SMALL_ALLOCATION:
        return int(math.ceil(nbytes))  # always fits: skip reading /proc/meminfo
    free = available_memory()
    if limit is None:
        if free is None:
            return int(math.ceil(nbytes))
        limit, source = float(free), "the free memory"
    if nbytes > limit:
        free_txt = "unknown" if free is None else format_bytes(free)
        where = (f"the free memory of this machine ({free_txt})" if source == "the free memory"
                 else f"{source} ({format_bytes(limit)}; free memory of this machine: "
                 f"{free_txt})")
        raise ValueError(
            f"{what} would need {format_bytes(nbytes)} of memory, more than {where}. Reduce "
            "the size; if you know it fits, pass max_memory=<bytes> (math.inf disables the "
            "check) or set the environment variable RKBS_MAX_MEMORY=<bytes>"
        )
    return int(math.ceil(nbytes))


def itemsize(dtype: Any) -> int:
    """Bytes per element of a numpy or torch dtype (8 for unknown)."""
    try:
        return int(np.dtype(dtype).itemsize)
    except TypeError:
        return int(getattr(dtype, "itemsize", 8))


# ------------------------------------------------------------- results and output
def check_finite_result(out, what: str, hint: str, *, stacklevel: int = 3):
    """Warn (RuntimeWarning) when ``out`` has inf/NaN entries; return ``out`` unchanged.

    Used where a correct float computation can still overflow (``exp`` of a large
    exponent): the warning says what overflowed and ``hint`` says what to do instead
    (usually: the log-domain method).
    """
    if all_finite(out):
        return out
    xp = namespace(out)
    bad = ~xp.isfinite(out.detach() if is_torch_array(out) else out)
    if bool(xp.any(bad)):
        k = int(np.count_nonzero(to_numpy(bad)))
        total = 1
        for s in out.shape:
            total *= int(s)
        warnings.warn(
            f"{what}: {k} of {total} entries overflowed to inf or are NaN "
            f"(dtype {out.dtype}). {hint}",
            RuntimeWarning,
            stacklevel=stacklevel,
        )
    return out


def format_number(x: Any, spec: str = ".3g") -> str:
    """Format a number for a printed table, never as ``-0``.

    ``format(x, spec)`` except that a result that reads as zero loses its sign
    (``format_number(-1e-9, ".3f") == "0.000"``, ``format_number(-0.0) == "0"``);
    NaN and infinities print as ``nan``, ``inf``, ``-inf``.
    """
    s = format(x, spec)
    if s.startswith("-"):
        try:
            if float(s) == 0.0:
                return s[1:]
        except ValueError:
            pass
    return s


def check_attention_values(q: Any, k: Any, v: Any) -> None:
    """Queries, keys and values of attention: one floating dtype, finite entries.

    The finiteness check runs on CPU tensors only (on accelerators it would synchronize
    the device on every call).
    """
    for name, a in (("q", q), ("k", k), ("v", v)):
        if not a.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got dtype {a.dtype}")
    if not q.dtype == k.dtype == v.dtype:
        raise ValueError(
            f"q, k and v must have one dtype, got q {q.dtype}, k {k.dtype}, v {v.dtype}"
        )
    for name, a in (("q", q), ("k", k), ("v", v)):
        if a.device.type == "cpu" and not all_finite(a):
            raise ValueError(f"{name} contains NaN or inf values (shape {tuple(a.shape)})")


def check_token_ids(ids: Any, vocab_size: int, name: str = "ids") -> None:
    """Token ids: an integer tensor with entries in ``[0, vocab_size)``."""
    if ids.dtype.is_floating_point or ids.dtype.is_complex or str(ids.dtype) == "torch.bool":
        raise ValueError(f"{name} must be an integer tensor of token ids, got dtype {ids.dtype}")
    if _in_function_transform(ids):
        return  # inside vmap/grad: no concrete values (see _in_function_transform)
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= vocab_size:
        raise ValueError(
            f"{name} has token ids in [{lo}, {hi}] but the vocabulary has {vocab_size} tokens "
            f"(ids 0..{vocab_size - 1})"
        )


def check_params(params: dict, defaults: dict, what: str, *, minimum: int = 1) -> dict:
    """Keyword parameters of ``what``: known names only, each an integer ``>= minimum``.

    Returns ``{**defaults, **params}``; an unknown name raises ``TypeError`` listing
    the valid ones.
    """
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise TypeError(
            f"{what} got unexpected parameter(s) {', '.join(unknown)}; valid: "
            f"{', '.join(sorted(defaults))}"
        )
    out = {**defaults, **params}
    for key, val in out.items():
        check_int(val, key, minimum=minimum)
    return out
