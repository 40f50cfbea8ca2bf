"""Feature pairs (Φ_X, Φ_Y) reproducing or approximating binary kernels."""

from rkbs.features.base import FeaturePair
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
from rkbs.features.nystrom import NystromFeatures, NystromRankWarning
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
from rkbs.features.sketch import TensorSketchFeatures

__all__ = [
    "ErrorCurve",
    "FeaturePair",
    "HyperbolicRandomFeatures",
    "LinearFeatures",
    "NystromFeatures",
    "NystromRankWarning",
    "PolynomialFeatures",
    "PositiveRandomFeatures",
    "RandomFeatureAccuracyWarning",
    "RandomFeaturePair",
    "RandomFourierFeatures",
    "RandomMaclaurinFeatures",
    "TaylorFeatures",
    "TensorSketchFeatures",
    "TrigonometricRandomFeatures",
    "check_usefulness",
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
    "plot_error_curves",
    "plot_predicted_vs_measured",
    "predicted_mse",
]
