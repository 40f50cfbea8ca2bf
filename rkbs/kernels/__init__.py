"""Binary kernels κ(X, Y) -> (n, m) between queries and keys."""

from rkbs.kernels.base import (
    BinaryKernel,
    EDPKernel,
    ExpIntersectionKernel,
    LinearKernel,
    PolynomialKernel,
    RBFKernel,
)
from rkbs.kernels.functions import (
    dot_products,
    edp_log,
    intersection_log,
    linear,
    polynomial,
    rbf_log,
)
from rkbs.kernels.registry import KERNELS, available_kernels, get_kernel

__all__ = [
    "BinaryKernel",
    "EDPKernel",
    "ExpIntersectionKernel",
    "KERNELS",
    "LinearKernel",
    "PolynomialKernel",
    "RBFKernel",
    "available_kernels",
    "dot_products",
    "edp_log",
    "get_kernel",
    "intersection_log",
    "linear",
    "polynomial",
    "rbf_log",
]
