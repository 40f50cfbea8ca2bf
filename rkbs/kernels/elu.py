r"""The kernel of linear attention: :math:`\kappa(q, k) = \langle\operatorname{elu}(q)+1,
\operatorname{elu}(k)+1\rangle` (Katharopoulos et al. 2020, "Transformers are RNNs", eq. 7).

.. math::

    \operatorname{elu}(u) + 1 = \begin{cases} u + 1 & u > 0 \\ e^{u} & u \le 0\end{cases}

applied coordinate-wise, so the map is strictly positive and the kernel is a finite
(D = d) feature Gram that can serve as attention weights. Its feature pair is
:class:`rkbs.features.EluFeatures`.
"""

from __future__ import annotations

from rkbs._backend import namespace
from rkbs.kernels.base import NonnegativeFeatureKernel
from rkbs.kernels.functions import dot_products

__all__ = ["EluKernel", "elu_plus_one"]


def elu_plus_one(U):
    r"""Coordinate-wise :math:`\operatorname{elu}(u) + 1`, shape preserved (numpy or torch).

    .. math:: \operatorname{elu}(u) + 1 = u + 1 \ (u > 0), \qquad e^{u} \ (u \le 0).

    The exponential is taken of :math:`\min(u, 0)` so that the branch ``where`` discards
    never overflows (an ``inf`` there would turn into a NaN gradient).
    """
    xp = namespace(U)
    return xp.where(U > 0, U + 1.0, xp.exp(xp.clip(U, None, 0.0)))


class EluKernel(NonnegativeFeatureKernel):
    r"""Linear-attention kernel :math:`\kappa(x, y) = (\operatorname{elu}(q)+1)^\top(\operatorname{elu}(k)+1)`.

    ``q``, ``k`` are the mapped queries and keys (see :class:`~rkbs.kernels.BinaryKernel`).
    Strictly positive (usable as attention weights), feature dimension D = d, positive
    semi-definite when the maps are tied (a feature Gram with one map on both sides).

    Parameters
    ----------
    W_Q, W_K, scale, dim
        As for :class:`~rkbs.kernels.BinaryKernel`.
    """

    name = "elu"

    def from_qk(self, Q, K):
        """:math:`\\varphi(Q)\\varphi(K)^\\top` for ``Q`` (..., n, d), ``K`` (..., m, d) -> (..., n, m)."""
        return dot_products(elu_plus_one(Q), elu_plus_one(K))

    def feature_dimension(self, d: int):
        return d
