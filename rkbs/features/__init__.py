"""Feature pairs (Φ_X, Φ_Y) reproducing or approximating binary kernels (MATH.md §2)."""

from rkbs.features.base import FeaturePair
from rkbs.features.exact import (
    LinearFeatures,
    PolynomialFeatures,
    TaylorFeatures,
    homogeneous_monomials,
    monomial_exponents,
)

__all__ = [
    "FeaturePair",
    "LinearFeatures",
    "PolynomialFeatures",
    "TaylorFeatures",
    "homogeneous_monomials",
    "monomial_exponents",
]
