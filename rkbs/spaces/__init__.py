"""ℓ^p / ℓ^{q*} RKBS pairs over feature pairs, norms and duality maps."""

from rkbs.spaces.duality import (
    conjugate_exponent,
    duality_map,
    inverse_duality_map,
    lp_norm,
    norm_gradient,
    semi_inner_product,
)
from rkbs.spaces.pair import HypothesesReport, ReproducingCheck, RKBSPair

__all__ = [
    "HypothesesReport",
    "RKBSPair",
    "ReproducingCheck",
    "conjugate_exponent",
    "duality_map",
    "inverse_duality_map",
    "lp_norm",
    "norm_gradient",
    "semi_inner_product",
]
