r"""The Taylor truncation of the EDP kernel, as a kernel (no features formed).

.. math::

    \kappa_N(q, k) = e_N(q\cdot k), \qquad e_N(u) = \sum_{n=0}^{N} \frac{u^n}{n!},

the kernel of the exact Taylor features :class:`rkbs.features.TaylorFeatures`
(:math:`\varphi_\alpha(q) = q^\alpha/\sqrt{\alpha!}`, :math:`|\alpha| \le N`,
:math:`\binom{d+N}{N}` of them): by the multinomial theorem
:math:`\langle\varphi(q), \varphi(k)\rangle = e_N(q\cdot k)`.
:func:`truncated_exp` is the one implementation of :math:`e_N` in the package; the
features' ``truncated_kernel`` and this kernel both call it.
"""

from __future__ import annotations

import math

from rkbs._backend import namespace
from rkbs._checks import check_int
from rkbs.kernels.base import BinaryKernel
from rkbs.kernels.functions import dot_products

__all__ = ["TruncatedEDPKernel", "truncated_exp"]


def truncated_exp(U, degree: int):
    r"""Truncated exponential series :math:`e_N(u) = \sum_{n=0}^{N} u^n/n!`, elementwise.

    Horner's rule, :math:`e_N(u) = 1 + u(1 + \tfrac{u}{2}(1 + \cdots(1 + \tfrac{u}{N})))`
    written with the coefficients :math:`1/n!`: ``out = 1/N!``, then
    ``out = out * u + 1/n!`` for n = N−1, …, 0. Shape and namespace of ``U`` (numpy or
    torch, differentiable).

    Parameters
    ----------
    U : array of any shape
        Arguments u (e.g. the dot products q·k, shape (..., n, m)).
    degree : int
        N ≥ 0.
    """
    degree = check_int(degree, "degree", minimum=0)
    xp = namespace(U)
    out = xp.zeros_like(U) + 1.0 / math.factorial(degree)
    for n in range(degree - 1, -1, -1):
        out = out * U + 1.0 / math.factorial(n)
    return out


class TruncatedEDPKernel(BinaryKernel):
    r"""Taylor truncation of EDP as a kernel: :math:`\kappa_N(x, y) = \sum_{n\le N} (q\cdot k)^n/n!`.

    The closed form of the Gram matrix of :class:`rkbs.features.TaylorFeatures` of degree
    N (:math:`\binom{d+N}{N}` features), evaluated without forming the features, which
    the quadratic attention path and the dual machines need (degree 4 of 32-dimensional
    states would need 58,905 features a side). Positive for even N (every even Taylor
    polynomial of exp is: its minimum is at the root of :math:`e_{N-1}`, where
    :math:`e_N = u^N/N! > 0`), so usable as attention weights; odd N is not.

    Parameters
    ----------
    W_Q, W_K, scale, dim
        As for :class:`~rkbs.kernels.BinaryKernel`.
    degree : int
        Truncation degree N ≥ 0.
    """

    name = "taylor_edp"

    def __init__(self, W_Q=None, W_K=None, *, degree: int = 2, scale="attention", dim=None):
        super().__init__(W_Q, W_K, scale=scale, dim=dim)
        self.degree = check_int(degree, "degree", minimum=0)

    def _params(self):
        return {"degree": self.degree}

    def from_qk(self, Q, K):
        return truncated_exp(dot_products(Q, K), self.degree)

    def log_from_qk(self, Q, K):
        if not self.nonnegative:
            raise ValueError(f"the Taylor truncation of odd degree {self.degree} takes negative "
                             "values: its log (and its use as attention weights) is undefined")
        return namespace(Q, K).log(self.from_qk(Q, K))

    @property
    def nonnegative(self) -> bool:
        return self.degree % 2 == 0

    def feature_dimension(self, d: int):
        return math.comb(d + self.degree, self.degree)
