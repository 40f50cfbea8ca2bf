r"""Exact finite feature maps: multinomial (polynomial), Taylor (EDP), linear.

Multinomial theorem (MATH.md §2):

.. math::

    (q\cdot k)^n = \sum_{|\alpha| = n} \frac{n!}{\alpha!}\, q^\alpha k^\alpha,

so :math:`\varphi_\alpha(q) = \sqrt{n!/\alpha!}\, q^\alpha` over the
:math:`\binom{d+n-1}{n}` multi-indices of total degree n reproduces the homogeneous
polynomial kernel. With :math:`\tilde q = (q, \sqrt c)` the same gives
:math:`(q\cdot k + c)^m` with :math:`\binom{d+m}{m}` features, and dividing by n!
and summing over :math:`n \le N` gives the Taylor features of EDP,
:math:`\varphi_\alpha(q) = q^\alpha/\sqrt{\alpha!}`, :math:`|\alpha| \le N`.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import special

from rkbs._backend import asarray_like, is_torch_array, namespace
from rkbs._checks import check_int, check_pair_arrays
from rkbs.features.base import FeaturePair
from rkbs.kernels.base import EDPKernel, LinearKernel, PolynomialKernel
from rkbs.kernels.functions import dot_products
from rkbs.kernels.taylor import truncated_exp

__all__ = [
    "homogeneous_monomials",
    "monomial_exponents",
    "LinearFeatures",
    "PolynomialFeatures",
    "TaylorFeatures",
]


def _combinations(d: int, n: int) -> np.ndarray:
    """Variable indices of each degree-n monomial, ``(C(d+n-1, n), n)``, graded lex order."""
    combos = list(itertools.combinations_with_replacement(range(d), n))
    return np.array(combos, dtype=np.int64).reshape(len(combos), n)


def _exponents(combos: np.ndarray, d: int) -> np.ndarray:
    E = np.zeros((combos.shape[0], d), dtype=np.int64)
    for j in range(combos.shape[1]):
        np.add.at(E, (np.arange(combos.shape[0]), combos[:, j]), 1)
    return E


def monomial_exponents(d: int, n: int) -> np.ndarray:
    r"""Exponent vectors α of all monomials of total degree ``n`` in ``d`` variables.

    Returns an int array of shape ``(C(d+n-1, n), d)`` in the order of
    ``itertools.combinations_with_replacement`` (graded lexicographic).
    """
    return _exponents(_combinations(d, n), d)


def homogeneous_monomials(Q, n: int, *, weights: str = "multinomial"):
    r"""All degree-``n`` monomial features of ``Q`` (..., d) -> (..., C(d+n-1, n)).

    ``weights="multinomial"`` gives :math:`\sqrt{n!/\alpha!}\,q^\alpha` (reproduces
    :math:`(q\cdot k)^n`); ``"taylor"`` gives :math:`q^\alpha/\sqrt{\alpha!}`
    (reproduces :math:`(q\cdot k)^n/n!`).
    """
    if weights not in ("multinomial", "taylor"):
        raise ValueError(f"weights must be 'multinomial' or 'taylor', got {weights!r}")
    xp = namespace(Q)
    d = Q.shape[-1]
    if n == 0:
        return xp.ones((*Q.shape[:-1], 1), dtype=Q.dtype, device=getattr(Q, "device", None))
    combos = _combinations(d, n)
    out = None
    for j in range(n):
        idx = combos[:, j]
        idx = _torch_index(idx, Q) if is_torch_array(Q) else idx
        col = xp.take(Q, idx, axis=Q.ndim - 1)
        out = col if out is None else out * col
    log_alpha_fact = special.gammaln(_exponents(combos, d) + 1.0).sum(axis=1)
    if weights == "multinomial":
        w = np.exp(0.5 * (math.lgamma(n + 1) - log_alpha_fact))
    else:
        w = np.exp(-0.5 * log_alpha_fact)
    return out * asarray_like(w, Q)


def _torch_index(idx: np.ndarray, like):
    """Integer index tensor on ``like``'s device (torch's ``take`` needs a tensor)."""
    import torch

    return torch.as_tensor(idx, device=like.device)


class TaylorFeatures(FeaturePair):
    r"""Exact Taylor features of the EDP kernel truncated at total degree N.

    .. math::

        \varphi_\alpha(q) = \frac{q^\alpha}{\sqrt{\alpha!}}, \quad |\alpha| \le N,
        \qquad \langle\varphi(q), \varphi(k)\rangle = \sum_{n=0}^{N}\frac{(q\cdot k)^n}{n!}

    with :math:`D = \binom{d+N}{N}` features. Both sides use the same φ; the
    asymmetry lives in the query and key maps of the kernel.

    Parameters
    ----------
    kernel : EDPKernel, optional
        The EDP kernel (with its W_Q, W_K and scaling); identity maps if omitted.
    degree : int
        Truncation degree N ≥ 0.
    """

    exact = False  # exact for the truncated series; an approximation of EDP
    auto_fit = True

    def __init__(self, kernel: EDPKernel | None = None, degree: int = 4):
        kernel = EDPKernel() if kernel is None else kernel
        if not isinstance(kernel, EDPKernel):
            raise ValueError(
                f"Taylor features expand the EDP kernel, got {type(kernel).__name__}"
            )
        super().__init__(kernel)
        self.degree = check_int(degree, "degree", minimum=0)

    def _fit_dim(self, d):
        self.n_features_ = math.comb(d + self.degree, self.degree)

    def _features(self, Q):
        xp = namespace(Q)
        parts = [homogeneous_monomials(Q, n, weights="taylor") for n in range(self.degree + 1)]
        return xp.concat(parts, axis=-1)

    map_q = _features
    map_k = _features

    def truncated_kernel(self, X, Y):
        r"""Truncated series :math:`\sum_{n\le N} u^n/n!`, :math:`u = q\cdot k`, by Horner's rule.

        An independent route to what ``gram`` computes through the features.
        """
        X, Y = check_pair_arrays(X, Y)
        U = dot_products(self.kernel.queries(X), self.kernel.keys(Y))
        return truncated_exp(U, self.degree)  # the one implementation of the series

    reproduced_kernel = truncated_kernel

    def remainder_bound(self, X, Y, *, cauchy_schwarz: bool = False):
        r"""Bound on :math:`|e^u - \sum_{n\le N} u^n/n!|`, shape ``(n, m)``.

        .. math:: |R_N(u)| \le e^{\max(u, 0)}\, \frac{|u|^{N+1}}{(N+1)!}

        (Lagrange remainder, MATH.md §2). With ``cauchy_schwarz=True`` the bound uses
        :math:`|u| \le r = \lVert q\rVert\lVert k\rVert` instead:
        :math:`e^{r} r^{N+1}/(N+1)!`, valid for any pair of that norm product.
        """
        X, Y = check_pair_arrays(X, Y)
        Q, K = self.kernel.queries(X), self.kernel.keys(Y)
        xp = namespace(Q, K)
        if cauchy_schwarz:
            nq = xp.sqrt(xp.sum(Q * Q, axis=-1))[:, None]
            nk = xp.sqrt(xp.sum(K * K, axis=-1))[None, :]
            U = nq * nk
        else:
            U = dot_products(Q, K)
        N1 = self.degree + 1
        A = xp.abs(U)
        nonzero = A > 0
        # log-domain evaluation; u = 0 gives bound 0 (no log(0) warning).
        logb = xp.clip(U, 0.0, None) + N1 * xp.log(xp.where(nonzero, A, xp.ones_like(A)))
        logb = logb - math.lgamma(N1 + 1)
        return xp.where(nonzero, xp.exp(logb), xp.zeros_like(A))


class PolynomialFeatures(FeaturePair):
    r"""Exact multinomial features of :math:`(q\cdot k + c)^m`.

    .. math::

        \varphi_\alpha(\tilde q) = \sqrt{\frac{m!}{\alpha!}}\,\tilde q^{\alpha},
        \quad |\alpha| = m,\quad \tilde q = (q, \sqrt c)

    :math:`D = \binom{d+m}{m}` for c > 0, :math:`\binom{d+m-1}{m}` for c = 0 (the
    constant coordinate is dropped).
    """

    exact = True
    auto_fit = True

    def __init__(self, kernel: PolynomialKernel):
        if not isinstance(kernel, PolynomialKernel):
            raise ValueError(
                f"PolynomialFeatures needs a PolynomialKernel, got {type(kernel).__name__}"
            )
        super().__init__(kernel)

    def _fit_dim(self, d):
        self.n_features_ = self.kernel.feature_dimension(d)

    def _features(self, Q):
        xp = namespace(Q)
        if self.kernel.c > 0:
            const = xp.ones((*Q.shape[:-1], 1), dtype=Q.dtype, device=getattr(Q, "device", None))
            Q = xp.concat([Q, const * math.sqrt(self.kernel.c)], axis=-1)
        return homogeneous_monomials(Q, self.kernel.degree, weights="multinomial")

    map_q = _features
    map_k = _features


class LinearFeatures(FeaturePair):
    r"""Identity features :math:`\varphi(q) = q` of the linear kernel (D = d)."""

    exact = True
    auto_fit = True

    def __init__(self, kernel: LinearKernel | None = None):
        super().__init__(LinearKernel() if kernel is None else kernel)
        if not isinstance(self.kernel, LinearKernel):
            raise ValueError(f"LinearFeatures needs a LinearKernel, got {type(kernel).__name__}")

    def _fit_dim(self, d):
        self.n_features_ = d

    def map_q(self, Q):
        return Q

    map_k = map_q
