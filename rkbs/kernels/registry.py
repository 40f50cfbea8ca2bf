"""Binary kernels by name (scikit-learn's ``PAIRWISE_KERNEL_FUNCTIONS`` is the model).

``KERNELS`` maps a name to a kernel class; :func:`get_kernel` builds one with its
parameters (``get_kernel("dpfp", nu=2)``). Attention kernels by *pattern* (``taylor4``,
``prf64``, ``dpfp2``: a kernel and/or a feature pair at a head dimension) are parsed in
one place above this, :mod:`rkbs.features.registry`, which builds its kernels from
these classes.
"""

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
from rkbs.kernels.dpfp import DPFPKernel
from rkbs.kernels.elu import EluKernel
from rkbs.kernels.taylor import TruncatedEDPKernel

__all__ = ["KERNELS", "available_kernels", "get_kernel", "with_maps"]

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
        "elu": EluKernel,
        "taylor_edp": TruncatedEDPKernel,
        "dpfp": DPFPKernel,
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


def with_maps(kernel: BinaryKernel, W_Q=None, W_K=None, *, scale="attention") -> BinaryKernel:
    r"""The same kernel (class and parameters) with other query/key maps and scale.

    ``type(kernel)(W_Q, W_K, scale=scale, dim=kernel.dim, **params)`` where ``params``
    are the kernel's own (``sigma``, ``degree``, ``nu``, ...): how a kernel built for
    attention (identity maps, ``scale=None``, acting on projected q, k) becomes the
    kernel of a trained head on its raw states,
    :math:`\kappa(t, s) = k_0(W_Q t / d^{1/4}, W_K s / d^{1/4})`.

    Parameters
    ----------
    kernel : BinaryKernel
    W_Q, W_K : None, array (d, d_in) or callable
        New maps (see :class:`~rkbs.kernels.BinaryKernel`).
    scale : "attention", float or None
        New scaling (``"attention"``: :math:`d^{-1/4}` per side).
    """
    if not isinstance(kernel, BinaryKernel):
        raise TypeError(f"kernel must be a BinaryKernel, got {type(kernel).__name__}")
    dim = kernel.dim
    for W in (W_Q, W_K):
        if hasattr(W, "shape"):
            dim = None  # read off the matrices (they may differ from the old d)
    return type(kernel)(W_Q, W_K, scale=scale, dim=dim, **kernel._params())
