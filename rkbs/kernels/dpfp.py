r"""The DPFP kernel: the Gram of the deterministic parameter-free projection.

Schlag, Irie & Schmidhuber (2021), "Linear Transformers are secretly fast weight
programmers", §4.2 (Deterministic Parameter-Free Projection, DPFP). With
:math:`r(u) = \operatorname{ReLU}([u, -u]) \in \mathbb{R}^{2d}` and indices taken
mod 2d, the features of order ν are the products of r with its cyclic shifts,

.. math::

    \varphi_{(j-1)\,2d + i}(u) = r_i(u)\, r_{i-j}(u),\qquad i = 1, \dots, 2d,\ j = 1, \dots, \nu,

:math:`D = 2\nu d` (the published code: ``x * x.roll(j)``; the paper's
:math:`r_i r_{i+j}` lists the same products in another order, hence the same kernel).
The kernel is

.. math::

    \kappa_\nu(q, k) = \langle\varphi(q), \varphi(k)\rangle
    = \sum_{j=1}^{\nu} \sum_{i=1}^{2d} a_i\, a_{i-j}, \qquad a = r(q) \odot r(k),

a circular autocorrelation of :math:`a` at lags 1..ν, which is how :class:`DPFPKernel`
evaluates it (a route independent of the features
:class:`rkbs.features.DPFPFeatures`). Non-negative (products of ReLUs), positive
semi-definite when the maps are tied.
"""

from __future__ import annotations

from rkbs._backend import namespace
from rkbs._checks import check_int
from rkbs.kernels.base import NonnegativeFeatureKernel
from rkbs.kernels.functions import row_chunked

__all__ = ["DPFPKernel", "check_dpfp_order", "relu_pm"]

# Max number of elements of one (..., rows, m, 2d) block of the autocorrelation route.


def relu_pm(U):
    r""":math:`r(u) = \operatorname{ReLU}([u, -u])`: ``(..., d) -> (..., 2d)``, numpy or torch."""
    xp = namespace(U)
    return xp.concat([xp.clip(U, 0.0, None), xp.clip(-U, 0.0, None)], axis=-1)


def check_dpfp_order(nu: int, d: int | None = None) -> int:
    """Validate the DPFP order ν: an integer ≥ 1 and, when d is known, ν ≤ 2d − 1.

    A shift by 2d is the identity, so ν ≥ 2d would repeat the squares :math:`r_i^2`
    (Schlag et al. 2021 allow ν ∈ {1, …, 2d − 1}).
    """
    nu = check_int(nu, "nu", minimum=1)
    if d is not None and nu > 2 * d - 1:
        raise ValueError(f"DPFP order nu must be <= 2d - 1 = {2 * d - 1} for head dimension "
                         f"d={d}, got nu={nu}")
    return nu


class DPFPKernel(NonnegativeFeatureKernel):
    r"""DPFP kernel :math:`\kappa_\nu(x, y) = \sum_{j\le\nu}\sum_i a_i a_{i-j}`, :math:`a = r(q)\odot r(k)`.

    See the module docstring for the definition (Schlag et al. 2021, §4.2). Feature
    dimension :math:`D = 2\nu d`; non-negative, so usable as attention weights.

    Parameters
    ----------
    W_Q, W_K, scale, dim
        As for :class:`~rkbs.kernels.BinaryKernel`.
    nu : int
        Order ν ≥ 1 (and ≤ 2d − 1).
    """

    name = "dpfp"

    def __init__(self, W_Q=None, W_K=None, *, nu: int = 1, scale="attention", dim=None):
        super().__init__(W_Q, W_K, scale=scale, dim=dim)
        self.nu = check_dpfp_order(nu, self.dim)

    def _params(self):
        return {"nu": self.nu}

    def from_qk(self, Q, K):
        """Kernel on mapped ``Q`` (..., n, d), ``K`` (..., m, d) -> (..., n, m)."""
        xp = namespace(Q, K)
        check_dpfp_order(self.nu, Q.shape[-1])
        Rq, Rk = relu_pm(Q), relu_pm(K)  # (..., n, 2d), (..., m, 2d)

        def block(rq):  # (..., r, 2d) -> (..., r, m)
            A = rq[..., :, None, :] * Rk[..., None, :, :]  # (..., r, m, 2d)
            acc = None
            for j in range(1, self.nu + 1):
                term = xp.sum(A * xp.roll(A, j, axis=-1), axis=-1)  # (..., r, m)
                acc = term if acc is None else acc + term
            return acc

        return row_chunked(Rq, Rk.shape[-2], Rq.shape[-1], block)

    def feature_dimension(self, d: int):
        return 2 * self.nu * d
