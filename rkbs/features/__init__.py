"""Feature pairs (Φ_X, Φ_Y) reproducing or approximating binary kernels, and attention kernels by name."""

from rkbs.features.base import FeaturePair
from rkbs.features.dpfp import DPFPFeatures, dpfp
from rkbs.features.elu import EluFeatures
from rkbs.features.error import (
    ErrorCurve,
    RandomFeatureAccuracyWarning,
    check_usefulness,
    empirical_mse,
    error_curve,
    loglog_slope,
    mse_hyperbolic,
    mse_maclaurin,
    mse_positive,
    mse_rff,
    mse_trigonometric,
    plot_error_curves,
    plot_predicted_vs_measured,
    predicted_mse,
)
from rkbs.features.exact import (
    LinearFeatures,
    PolynomialFeatures,
    TaylorFeatures,
    homogeneous_monomials,
    monomial_exponents,
)
from rkbs.features.nystrom import NystromFeatures
from rkbs.features.random import (
    HyperbolicRandomFeatures,
    PositiveRandomFeatures,
    RandomFeaturePair,
    RandomFourierFeatures,
    RandomMaclaurinFeatures,
    TrigonometricRandomFeatures,
    gaussian_projections,
    haar_orthogonal,
)
from rkbs.features.registry import (
    ATTENTION_KERNELS,
    AttentionKernel,
    AttentionKernelFamily,
    attention_kernel_names,
    build_attention_kernel,
    parse_attention_name,
    register_attention_kernel,
)
from rkbs.features.sketch import TensorSketchFeatures

__all__ = [
    "ATTENTION_KERNELS",
    "AttentionKernel",
    "AttentionKernelFamily",
    "DPFPFeatures",
    "EluFeatures",
    "ErrorCurve",
    "FeaturePair",
    "HyperbolicRandomFeatures",
    "LinearFeatures",
    "NystromFeatures",
    "PolynomialFeatures",
    "PositiveRandomFeatures",
    "RandomFeatureAccuracyWarning",
    "RandomFeaturePair",
    "RandomFourierFeatures",
    "RandomMaclaurinFeatures",
    "TaylorFeatures",
    "TensorSketchFeatures",
    "TrigonometricRandomFeatures",
    "attention_kernel_names",
    "build_attention_kernel",
    "check_usefulness",
    "dpfp",
    "empirical_mse",
    "error_curve",
    "gaussian_projections",
    "haar_orthogonal",
    "homogeneous_monomials",
    "loglog_slope",
    "monomial_exponents",
    "mse_hyperbolic",
    "mse_maclaurin",
    "mse_positive",
    "mse_rff",
    "mse_trigonometric",
    "parse_attention_name",
    "plot_error_curves",
    "plot_predicted_vs_measured",
    "predicted_mse",
    "register_attention_kernel",
]
