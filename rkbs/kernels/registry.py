"""Binary kernels by name (scikit-learn's ``PAIRWISE_KERNEL_FUNCTIONS`` is the model)."""

from __future__ import annotations

from types import MappingProxyType

from rkbs.kernels.base import (
    BinaryKernel,
    EDPKernel,
    ExpIntersectionKernel,
    LinearKernel,
    PolynomialKernel,
    RBFKernel,
)

__all__ = ["KERNELS", "available_kernels", "get_kernel"]

#: Read-only map from name (and aliases) to kernel class.
KERNELS = MappingProxyType(
    {
        "edp": EDPKernel,
        "softmax": EDPKernel,
        "rbf": RBFKernel,
        "exp_intersection": ExpIntersectionKernel,
        "intersection": ExpIntersectionKernel,
        "polynomial": PolynomialKernel,
        "poly": PolynomialKernel,
        "linear": LinearKernel,
        "rotary": __import__("rkbs.kernels.rotary", fromlist=["RotaryKernel"]).RotaryKernel,
    }
)


def available_kernels() -> list[str]:
    """Names accepted by :func:`get_kernel` (aliases included), sorted."""
    return sorted(KERNELS)


def get_kernel(name: str | BinaryKernel, **params) -> BinaryKernel:
    """Build a binary kernel by name, e.g. ``get_kernel("edp", W_Q=Wq, W_K=Wk)``.

    A :class:`BinaryKernel` instance is returned unchanged (params must be empty).

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.
    """
    if isinstance(name, BinaryKernel):
        if params:
            raise ValueError("parameters cannot be combined with a kernel instance")
        return name
    key = str(name).lower().replace("-", "_")
    if key not in KERNELS:
        raise ValueError(f"unknown kernel {name!r}; valid names: {', '.join(available_kernels())}")
    return KERNELS[key](**params)
