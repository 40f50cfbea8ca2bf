"""Array namespace handling: one implementation for numpy and torch arrays.

Every numerical routine in :mod:`rkbs` obtains its namespace with
:func:`namespace` (array-api-compat, as SciPy and scikit-learn use it), so the same
code runs on numpy arrays and on torch tensors on CPU or CUDA. Random numbers are
always drawn with numpy (see :mod:`rkbs._checks`) and moved to the array's device with
:func:`asarray_like`, which makes seeded draws identical across backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from array_api_compat import array_namespace, device, is_numpy_array, is_torch_array

DEFAULT_DTYPE = np.float64

__all__ = [
    "DEFAULT_DTYPE",
    "asarray_like",
    "available_devices",
    "check_device",
    "device",
    "is_numpy_array",
    "is_torch_array",
    "namespace",
    "to_numpy",
    "torch_threads",
]


def namespace(*arrays: Any):
    """Array-API namespace shared by ``arrays`` (numpy or torch via array-api-compat).

    Non-array arguments (``None``, Python scalars) are ignored; with no arrays at all
    the numpy namespace is returned.
    """
    arrs = [a for a in arrays if is_numpy_array(a) or is_torch_array(a)]
    if not arrs:
        return array_namespace(np.empty(0))
    return array_namespace(*arrs)


def asarray_like(value: Any, like: Any, dtype: Any = None):
    """Convert ``value`` to the namespace, dtype and device of the array ``like``."""
    xp = namespace(like)
    if is_torch_array(like):
        import torch

        if is_torch_array(value):
            return value.to(device=like.device, dtype=dtype or like.dtype)
        return torch.as_tensor(np.asarray(value), dtype=dtype or like.dtype, device=like.device)
    return xp.asarray(to_numpy(value), dtype=dtype or like.dtype)


def to_numpy(a: Any) -> np.ndarray:
    """Return ``a`` as a numpy array (detaching and copying torch tensors to host)."""
    if is_torch_array(a):
        return a.detach().cpu().numpy()
    return np.asarray(a)


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Set torch's intra-op thread count to ``n`` inside the block, restoring it after.

    ``None`` (or 0) leaves the setting alone. Small problems run faster on one thread: on
    an over-subscribed 2-core machine torch's thread pool spins on every small op
    (a 500×500 subtraction measured 20 ms on 2 threads against 0.07 ms on 1).
    """
    import torch

    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def available_devices() -> list[str]:
    """Torch devices usable on this machine: ``"cpu"``, then ``"cuda:0"``... and ``"mps"``."""
    import torch

    out = ["cpu"]
    if torch.cuda.is_available():
        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    return out


def check_device(dev: Any, name: str = "device"):
    """Validate a torch device name and return the :class:`torch.device`.

    Torch itself answers an unavailable CUDA device with a bare ``AssertionError``
    ("Torch not compiled with CUDA enabled") at the first allocation; this check names
    the device and lists the available ones instead.

    Raises
    ------
    ValueError
        For a malformed name, or a device that this machine does not have.
    """
    import torch

    if dev is None:
        dev = "cpu"
    try:
        d = dev if isinstance(dev, torch.device) else torch.device(dev)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"{name}={dev!r} is not a torch device name (e.g. 'cpu', 'cuda', 'cuda:1'); "
            f"available here: {', '.join(available_devices())}"
        ) from None
    ok = True
    if d.type == "cuda":
        ok = torch.cuda.is_available() and (d.index is None or d.index < torch.cuda.device_count())
    elif d.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        ok = mps is not None and mps.is_available()
    elif d.type != "cpu":
        ok = False
    if not ok:
        raise ValueError(
            f"{name}={dev!r} is not available on this machine; available devices: "
            f"{', '.join(available_devices())}"
        )
    return d
