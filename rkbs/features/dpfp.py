r"""Deterministic parameter-free projection (DPFP) features.

Schlag, Irie & Schmidhuber (2021), "Linear Transformers are secretly fast weight
programmers", §4.2: with :math:`r(u) = \operatorname{ReLU}([u, -u]) \in \mathbb{R}^{2d}`
and indices mod 2d,

.. math::

    \varphi_\nu(u) = \big[\, r(u) \odot \operatorname{roll}(r(u), j) \,\big]_{j=1}^{\nu}
    \in \mathbb{R}^{2\nu d}, \qquad
    \varphi_{(j-1)\,2d + i}(u) = r_i(u)\, r_{i-j}(u),

``roll`` as in numpy/torch (``roll(x, j)[i] = x[i - j]``), which is the authors'
published code (``x.roll(shifts=j)``; the paper writes :math:`r_i r_{i+j}`, the same
products in another order). The same map on both sides, after the kernel's query and key
maps; the pairing is :class:`rkbs.kernels.DPFPKernel`. Every feature is a product of
ReLUs, so feature products are non-negative and usable as attention weights.
"""

from __future__ import annotations

from rkbs._backend import namespace
from rkbs.features.base import FeaturePair
from rkbs.kernels.dpfp import DPFPKernel, check_dpfp_order, relu_pm

__all__ = ["DPFPFeatures", "dpfp"]


def dpfp(U, nu: int = 1):
    r"""DPFP features :math:`\varphi_\nu(u)`: ``(..., d) -> (..., 2 nu d)`` (numpy or torch).

    .. math:: \varphi_\nu(u) = \operatorname{concat}_{j=1}^{\nu}\big(r(u)\odot\operatorname{roll}(r(u), j)\big),
              \quad r(u) = \operatorname{ReLU}([u, -u]).

    Parameters
    ----------
    U : array of shape (..., d)
        Mapped queries or keys.
    nu : int
        Order ν, 1 ≤ ν ≤ 2d − 1.
    """
    nu = check_dpfp_order(nu, U.shape[-1])
    xp = namespace(U)
    R = relu_pm(U)  # (..., 2d)
    return xp.concat([R * xp.roll(R, j, axis=-1) for j in range(1, nu + 1)], axis=-1)


class DPFPFeatures(FeaturePair):
    r"""DPFP feature pair of order ν (Schlag et al. 2021, §4.2), D = 2νd.

    .. math:: \kappa_\nu(q, k) = \varphi_\nu(q)^\top\varphi_\nu(k)

    Parameters
    ----------
    kernel : DPFPKernel, optional
        The kernel (query/key maps, scale, and the order ν). Identity maps, no scaling
        and order ``nu`` if omitted.
    nu : int, optional
        Order ν when no kernel is given (it must agree with ``kernel.nu`` otherwise).
    """

    exact = True
    auto_fit = True
    #: Feature products are non-negative (every coordinate is a product of ReLUs).
    nonnegative_features = True

    def __init__(self, kernel: DPFPKernel | None = None, nu: int | None = None):
        if kernel is None:
            kernel = DPFPKernel(scale=None, nu=1 if nu is None else nu)
        if not isinstance(kernel, DPFPKernel):
            raise ValueError(f"DPFPFeatures needs a DPFPKernel, got {type(kernel).__name__}")
        if nu is not None and check_dpfp_order(nu) != kernel.nu:
            raise ValueError(f"nu={nu} disagrees with the kernel's nu={kernel.nu}")
        super().__init__(kernel)

    @property
    def nu(self) -> int:
        """The order ν (the kernel's)."""
        return self.kernel.nu

    def _fit_dim(self, d):
        check_dpfp_order(self.nu, d)
        self.n_features_ = 2 * self.nu * d

    def map_q(self, Q):
        """``(..., n, d) -> (..., n, 2 nu d)``."""
        return dpfp(Q, self.nu)

    map_k = map_q
