r"""Mercer diagnostics of binary kernels: asymmetry, indefiniteness, rank growth .

A kernel is *Mercer* when it is symmetric and positive semi-definite. For a Gram matrix
:math:`K_{ij} = \kappa(x_i, y_j)` of shape ``(n, m)`` this module measures

.. math::

    \text{asymmetry} = \frac{\lVert K - K^\top\rVert_F}{\lVert K\rVert_F}
    \quad(\text{same point set only}), \qquad
    \text{negative mass} = \frac{\sum_i |\lambda_i^-|}{\sum_i |\lambda_i|},
    \quad \lambda = \operatorname{eig}\Big(\frac{K + K^\top}{2}\Big),

the singular values :math:`\sigma_1 \ge \dots \ge \sigma_{\min(n,m)}`, the numerical rank
:math:`\#\{\sigma_i > \tau\}` with the tolerance :math:`\tau` stated in the report
(default :math:`\tau = \sigma_1 \max(n, m)\,\varepsilon`, the rule of
:func:`numpy.linalg.matrix_rank`), and the 2-norm condition number
:math:`\sigma_1/\sigma_{\min}`. :func:`rank_growth` tracks the numerical rank as n grows:
finite-dimensional kernels saturate at their feature dimension (e.g.
:math:`\binom{d+m}{m}` for the polynomial kernel), infinite-dimensional ones keep growing
up to floating point (Wright & Gonzalez 2021, §4, "infinite-dimensional non-Mercer").

All linear algebra runs in float64 numpy on the host (torch Gram matrices are copied).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rkbs._backend import is_numpy_array, is_torch_array, to_numpy
from rkbs._checks import (
    check_allocation,
    check_array,
    check_int,
    check_positive,
    check_random_state,
)
from rkbs.kernels.base import BinaryKernel
from rkbs.plotting import plot_rank_growth, plot_spectrum  # noqa: F401 (moved there; old names kept)

__all__ = [
    "MercerReport",
    "RankGrowth",
    "mercer_report",
    "numerical_rank",
    "plot_rank_growth",
    "plot_spectrum",
    "rank_growth",
]

_EPS = float(np.finfo(np.float64).eps)



@dataclass(frozen=True, repr=False)
class MercerReport:
    r"""Mercer diagnostics of one Gram matrix (see the module docstring for the formulas).

    Attributes
    ----------
    shape : tuple of int
        ``(n, m)`` of the Gram matrix.
    same_points : bool
        Whether rows and columns index the same point set (then K is square and the
        asymmetry and the spectrum of the symmetric part are meaningful).
    asymmetry : float or None
        :math:`\lVert K-K^\top\rVert_F/\lVert K\rVert_F`; None unless ``same_points``.
    eigenvalues : ndarray of shape (n,) or None
        Eigenvalues of :math:`(K+K^\top)/2`, ascending; None unless ``same_points``.
    negative_mass : float or None
        :math:`\sum|\lambda^-|/\sum|\lambda|`; None unless ``same_points``.
    negative_mass_roundoff : float or None
        The negative mass a positive semi-definite matrix can show from round-off
        alone when every eigenvalue is perturbed by at most ``rank_tol`` (Weyl):
        :math:`n\tau/\sum|\lambda|`. Negative mass above it is real indefiniteness.
    n_negative : int or None
        Number of eigenvalues below :math:`-\tau` (indefiniteness beyond round-off).
    singular_values : ndarray of shape (min(n, m),)
        Descending.
    rank : int
        :math:`\#\{\sigma_i > \tau\}`.
    rank_tol : float
        The tolerance τ used for the rank and ``n_negative``.
    rank_tol_rule : str
        How τ was chosen, in words.
    condition_number : float
        :math:`\sigma_1/\sigma_{\min}` (``inf`` when :math:`\sigma_{\min} = 0`).
    """

    shape: tuple
    same_points: bool
    asymmetry: float | None
    eigenvalues: np.ndarray | None
    negative_mass: float | None
    negative_mass_roundoff: float | None
    n_negative: int | None
    singular_values: np.ndarray
    rank: int
    rank_tol: float
    rank_tol_rule: str
    condition_number: float

    @property
    def symmetric(self) -> bool | None:
        """Asymmetry within round-off (``<= 8 eps``); None unless ``same_points``."""
        if self.asymmetry is None:
            return None
        # 8 eps: one rounding per entry of K and of Kᵀ, with slack for the norms.
        return self.asymmetry <= 8 * _EPS

    @property
    def psd(self) -> bool | None:
        """No eigenvalue of the symmetric part below ``-rank_tol``; None unless ``same_points``."""
        return None if self.n_negative is None else self.n_negative == 0

    def __repr__(self) -> str:
        n, m = self.shape
        lines = [f"MercerReport(Gram {n} x {m}, same point set: {self.same_points})"]
        if self.same_points:
            lam = self.eigenvalues
            lines += [
                f"  asymmetry ||K-K^T||_F/||K||_F : {self.asymmetry:.3e}",
                f"  eigenvalues of (K+K^T)/2     : min {lam[0]:.3e}, max {lam[-1]:.3e}",
                f"  negative eigenvalues < -tol  : {self.n_negative} of {lam.size}",
                f"  negative mass                : {self.negative_mass:.3e} "
                f"(round-off level {self.negative_mass_roundoff:.1e})",
            ]
        else:
            lines.append("  asymmetry / eigenvalues      : n/a (different point sets)")
        s = self.singular_values
        lines += [
            f"  singular values              : max {s[0]:.3e}, min {s[-1]:.3e}",
            f"  numerical rank               : {self.rank} of {s.size} "
            f"(tol {self.rank_tol:.2e}: {self.rank_tol_rule})",
            f"  condition number             : {self.condition_number:.3e}",
        ]
        return "\n".join(lines)


def _default_tol(s: np.ndarray, shape) -> float:
    return float(s[0]) * max(shape) * _EPS if s.size else 0.0


def numerical_rank(K, *, rank_tol: float | None = None) -> int:
    r"""Numerical rank :math:`\#\{\sigma_i(K) > \tau\}` of a matrix ``K`` (n, m).

    Parameters
    ----------
    K : array of shape (n, m)
        Any finite matrix (numpy or torch; computed in float64 numpy).
    rank_tol : float, optional
        Threshold τ; default :math:`\tau = \sigma_1 \max(n, m)\,\varepsilon` (as
        :func:`numpy.linalg.matrix_rank`).

    Returns
    -------
    int
    """
    K = np.asarray(to_numpy(check_array(K, "K")), dtype=np.float64)
    s = np.linalg.svd(K, compute_uv=False)
    tol = _default_tol(s, K.shape) if rank_tol is None else check_positive(rank_tol, "rank_tol")
    return int(np.sum(s > tol))


def _same_points(X, Y) -> bool:
    if X is Y:
        return True
    if tuple(X.shape) != tuple(Y.shape):
        return False
    return bool(np.array_equal(to_numpy(X), to_numpy(Y)))


def mercer_report(
    kernel_or_gram,
    X=None,
    Y=None,
    *,
    rank_tol: float | None = None,
    same_points: bool | None = None,
) -> MercerReport:
    r"""Mercer diagnostics of a binary kernel on point sets, or of a Gram matrix.

    Parameters
    ----------
    kernel_or_gram : BinaryKernel or array of shape (n, m)
        A kernel (then ``X`` is required) or an already computed Gram matrix
        :math:`K_{ij} = \kappa(x_i, y_j)`.
    X : array of shape (n, d_x), optional
        Query points (kernel input only).
    Y : array of shape (m, d_y), optional
        Key points; defaults to ``X`` (the same point set, K is n x n). The kernel is
        evaluated as ``kernel(X, Y)``, never symmetrized.
    rank_tol : float, optional
        Singular-value threshold τ for the numerical rank (and for counting negative
        eigenvalues). Default :math:`\sigma_1 \max(n, m)\,\varepsilon`, the rule of
        :func:`numpy.linalg.matrix_rank` (W. H. Press et al., *Numerical Recipes*).
    same_points : bool, optional
        Whether rows and columns index the same point set. Default: for a kernel,
        ``Y is None`` or ``Y`` equal to ``X``; for a Gram matrix, ``n == m``.

    Returns
    -------
    MercerReport
        Asymmetry, eigenvalues of the symmetric part and negative mass (same point set
        only), singular values, numerical rank with its tolerance, condition number.

    Raises
    ------
    ValueError
        For a kernel without ``X``, points given with a Gram matrix, non-finite entries,
        or ``same_points=True`` with a non-square Gram matrix.
    """
    if isinstance(kernel_or_gram, BinaryKernel):
        if X is None:
            raise ValueError("mercer_report(kernel, X, Y): X is required with a kernel")
        if same_points is None:
            same_points = Y is None or _same_points(check_array(X, "X"), check_array(Y, "Y"))
        n_, m_ = check_array(X, "X").shape[0], check_array(X if Y is None else Y, "Y").shape[0]
        check_allocation(4 * n_ * m_ * 8, f"mercer_report on a ({n_}, {m_}) Gram matrix")
        K = kernel_or_gram(X, X if Y is None else Y)
    elif is_numpy_array(kernel_or_gram) or is_torch_array(kernel_or_gram) or isinstance(
        kernel_or_gram, list | tuple
    ):
        if X is not None or Y is not None:
            raise ValueError("pass either a kernel with points X, Y or a Gram matrix, not both")
        K = kernel_or_gram
    else:
        raise ValueError(
            f"kernel_or_gram must be a BinaryKernel or a 2-d array, got "
            f"{type(kernel_or_gram).__name__}"
        )
    K = np.asarray(to_numpy(check_array(K, "K")), dtype=np.float64)
    n, m = K.shape
    if same_points is None:
        same_points = n == m
    if same_points and n != m:
        raise ValueError(f"same_points=True needs a square Gram matrix, got shape {(n, m)}")

    s = np.linalg.svd(K, compute_uv=False)
    if rank_tol is None:
        tol = _default_tol(s, K.shape)
        rule = "sigma_max * max(n, m) * eps, as numpy.linalg.matrix_rank"
    else:
        tol = check_positive(rank_tol, "rank_tol")
        rule = "given"
    rank = int(np.sum(s > tol))
    cond = float(s[0] / s[-1]) if s[-1] > 0 else math.inf

    asym = lam = neg_mass = neg_roundoff = n_neg = None
    if same_points:
        fro = float(np.linalg.norm(K))
        asym = float(np.linalg.norm(K - K.T)) / fro if fro > 0 else 0.0
        lam = np.linalg.eigvalsh(0.5 * (K + K.T))
        total = float(np.sum(np.abs(lam)))
        neg_mass = float(np.sum(np.abs(lam[lam < 0]))) / total if total > 0 else 0.0
        neg_roundoff = n * tol / total if total > 0 else 0.0
        n_neg = int(np.sum(lam < -tol))
    return MercerReport(
        shape=(n, m),
        same_points=bool(same_points),
        asymmetry=asym,
        eigenvalues=lam,
        negative_mass=neg_mass,
        negative_mass_roundoff=neg_roundoff,
        n_negative=n_neg,
        singular_values=s,
        rank=rank,
        rank_tol=float(tol),
        rank_tol_rule=rule,
        condition_number=cond,
    )


@dataclass(frozen=True)
class RankGrowth:
    """Numerical rank of the n x n Gram matrix ``kernel(X[:n], Y[:n])`` for each n.

    Attributes
    ----------
    ns : ndarray of int, shape (k,)
        Numbers of points.
    ranks : ndarray of int, shape (k,)
        Numerical ranks (tolerance rule of :func:`mercer_report`).
    rank_tols : ndarray of float, shape (k,)
        The tolerance used at each n.
    feature_dim : int or float
        The kernel's declared feature dimension (``math.inf`` for infinite ones).
    label : str
        Kernel description for plots.
    """

    ns: np.ndarray
    ranks: np.ndarray
    rank_tols: np.ndarray
    feature_dim: int | float
    label: str

    @property
    def saturated(self) -> bool:
        """True when the last rank equals the declared finite feature dimension."""
        return math.isfinite(self.feature_dim) and int(self.ranks[-1]) == int(self.feature_dim)

    @property
    def strictly_growing(self) -> bool:
        """True when the rank increases at every step of ``ns``."""
        return bool(np.all(np.diff(self.ranks) > 0))


Sampler = Callable[[int, np.random.Generator], np.ndarray]


def _draw(source, n_max: int, rng, name: str):
    if callable(source) and not hasattr(source, "shape"):
        Z = source(n_max, rng)
    else:
        Z = source
    Z = check_array(Z, name)
    if Z.shape[0] < n_max:
        raise ValueError(f"{name} has {Z.shape[0]} points but max(ns) = {n_max}")
    return Z[:n_max]


def rank_growth(
    kernel: BinaryKernel,
    X,
    Y=None,
    ns: Sequence[int] = (10, 20, 40, 80),
    *,
    seed=None,
    rank_tol: float | None = None,
) -> RankGrowth:
    r"""Numerical rank of :math:`K_n = [\kappa(x_i, y_j)]_{i,j \le n}` as n grows.

    Finite-dimensional kernels saturate at their feature dimension (rank
    :math:`K_n \le D`); infinite-dimensional ones keep growing until floating point
    cuts the spectrum off. Use well-spread points and moderate scales
    (:math:`|q\cdot k| \lesssim` a few) so the spectrum is not truncated early.

    Parameters
    ----------
    kernel : BinaryKernel
    X : array of shape (N, d_x), or callable ``(n, rng) -> (n, d_x)``
        Query points (the first n are used at size n) or a sampler.
    Y : array of shape (N, d_y), callable, or None
        Key points or sampler; None uses the same points as X (K_n is then the Gram
        matrix on one point set, never symmetrized).
    ns : sequence of int
        Increasing numbers of points.
    seed : int, Generator or None
        Seeds the samplers (unused for arrays).
    rank_tol : float, optional
        Fixed tolerance; default per n as in :func:`mercer_report`.

    Returns
    -------
    RankGrowth
    """
    if not isinstance(kernel, BinaryKernel):
        raise ValueError(f"kernel must be a BinaryKernel, got {type(kernel).__name__}")
    ns = np.asarray([check_int(n, "n", minimum=1) for n in ns], dtype=np.int64)
    if ns.size == 0 or np.any(np.diff(ns) <= 0):
        raise ValueError(f"ns must be a non-empty increasing sequence, got {ns.tolist()}")
    rng = check_random_state(seed)
    n_max = int(ns[-1])
    Xs = _draw(X, n_max, rng, "X")
    Ys = Xs if Y is None else _draw(Y, n_max, rng, "Y")
    K = np.asarray(to_numpy(kernel(Xs, Ys)), dtype=np.float64)
    ranks, tols = [], []
    for n in ns:
        Kn = K[:n, :n]
        s = np.linalg.svd(Kn, compute_uv=False)
        tol = _default_tol(s, Kn.shape) if rank_tol is None else float(rank_tol)
        ranks.append(int(np.sum(s > tol)))
        tols.append(tol)
    d = int(kernel.queries(Xs[:1]).shape[1])
    fdim = math.inf if kernel.infinite else kernel.feature_dimension(d)
    params = "".join(f", {k}={v:g}" for k, v in kernel._params().items())
    label = f"{kernel.name}{params}{'' if kernel.tied else ' (untied)'}"
    return RankGrowth(ns, np.asarray(ranks), np.asarray(tols), fdim, label)
