r"""Feature pair of linear attention, :math:`\varphi(u) = \operatorname{elu}(u) + 1`.

Katharopoulos et al. (2020), "Transformers are RNNs", eq. (7): the same strictly
positive map on both sides (after the kernel's query and key maps), D = d, so that
:math:`\varphi(q)^\top\varphi(k)` is the :class:`rkbs.kernels.EluKernel` exactly.
"""

from __future__ import annotations

from rkbs.features.base import FeaturePair
from rkbs.kernels.elu import EluKernel, elu_plus_one

__all__ = ["EluFeatures"]


class EluFeatures(FeaturePair):
    r"""Feature pair :math:`\varphi(u) = \operatorname{elu}(u) + 1` of :class:`~rkbs.kernels.EluKernel`.

    .. math:: \kappa(q, k) = \varphi(q)^\top \varphi(k), \qquad D = d.

    Parameters
    ----------
    kernel : EluKernel, optional
        The kernel (with its query/key maps and scale); identity maps, no scaling if
        omitted.
    """

    exact = True
    auto_fit = True
    #: Feature products are non-negative (every coordinate is > 0).
    nonnegative_features = True

    def __init__(self, kernel: EluKernel | None = None):
        kernel = EluKernel(scale=None) if kernel is None else kernel
        if not isinstance(kernel, EluKernel):
            raise ValueError(f"EluFeatures needs an EluKernel, got {type(kernel).__name__}")
        super().__init__(kernel)

    def _fit_dim(self, d):
        self.n_features_ = d

    def map_q(self, Q):
        """``(..., n, d) -> (..., n, d)``: elu(Q) + 1."""
        return elu_plus_one(Q)

    map_k = map_q
