"""Binary kernels κ(X, Y) -> (n, m) between queries and keys (Wright & Gonzalez 2021, §3)."""

from rkbs.kernels.base import (
    BinaryKernel,
    EDPKernel,
    ExpIntersectionKernel,
    LinearKernel,
    PolynomialKernel,
    RBFKernel,
)
from rkbs.kernels.dpfp import DPFPKernel
from rkbs.kernels.elu import EluKernel, elu_plus_one
from rkbs.kernels.functions import (
    dot_products,
    edp_log,
    intersection_log,
    linear,
    polynomial,
    rbf_log,
)
from rkbs.kernels.registry import KERNELS, available_kernels, get_kernel, with_maps
from rkbs.kernels.taylor import TruncatedEDPKernel, truncated_exp

__all__ = [
    "BinaryKernel",
    "DPFPKernel",
    "EDPKernel",
    "EluKernel",
    "ExpIntersectionKernel",
    "KERNELS",
    "LinearKernel",
    "PolynomialKernel",
    "RBFKernel",
    "TruncatedEDPKernel",
    "available_kernels",
    "dot_products",
    "edp_log",
    "elu_plus_one",
    "get_kernel",
    "intersection_log",
    "linear",
    "polynomial",
    "rbf_log",
    "truncated_exp",
    "with_maps",
]
