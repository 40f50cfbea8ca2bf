r"""Binary kernels :math:`\kappa: X \times Y \to \mathbb{R}` with query and key maps.

A binary kernel compares a *query* point :math:`x \in X \subset \mathbb{R}^{d_x}` with a
*key* point :math:`y \in Y \subset \mathbb{R}^{d_y}` through separate maps

.. math::

    q = s\, W_Q x, \qquad k = s\, W_K y, \qquad s = d^{-1/4},

so that :math:`q \cdot k = \langle W_Q x, W_K y\rangle/\sqrt{d}` as in dot-product
attention (Wright & Gonzalez 2021, §3). Each kernel declares its
properties the way cvxpy atoms declare curvature: ``symmetric``,
``positive_definite`` (positive semi-definite Gram matrices on every finite point set,
guaranteed by construction), ``nonnegative`` (usable as attention weights) and
``feature_dim`` (an int, or ``math.inf``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from rkbs._backend import asarray_like, is_torch_array, namespace, to_numpy
from rkbs._checks import (
    check_allocation,
    check_array,
    check_finite_result,
    check_int,
    check_max_memory,
    check_pair_arrays,
    check_positive,
    itemsize,
)
from rkbs.kernels import functions as F

__all__ = [
    "BinaryKernel",
    "EDPKernel",
    "RBFKernel",
    "ExpIntersectionKernel",
    "PolynomialKernel",
    "LinearKernel",
]

Map = Any  # None (identity), a (d, d_in) matrix, or a callable (n, d_in) -> (n, d)


def _check_map(W: Map, name: str) -> Map:
    if W is None or callable(W) and not hasattr(W, "shape"):
        return W
    if is_torch_array(W):
        if W.ndim != 2:
            raise ValueError(f"{name} must be a 2-d (d, d_in) matrix, got shape {tuple(W.shape)}")
        return W
    W = check_array(W, name)
    return W


def _maps_equal(A: Map, B: Map) -> bool:
    if A is B:
        return True
    if A is None or B is None or callable(A) and not hasattr(A, "shape"):
        return False
    if callable(B) and not hasattr(B, "shape"):
        return False
    return tuple(A.shape) == tuple(B.shape) and bool(np.array_equal(to_numpy(A), to_numpy(B)))


def _apply_map(W: Map, X, name: str):
    if W is None:
        return X
    if callable(W) and not hasattr(W, "shape"):
        out = W(X)
        if out.ndim != 2 or out.shape[0] != X.shape[0]:
            raise ValueError(
                f"{name} must map (n, d_in) to (n, d); got {tuple(out.shape)} from "
                f"{tuple(X.shape)}"
            )
        return out
    if W.shape[1] != X.shape[1]:
        raise ValueError(
            f"{name} has shape {tuple(W.shape)} (d, d_in) but the points have "
            f"{X.shape[1]} columns (shape {tuple(X.shape)})"
        )
    xp = namespace(X)
    Wx = asarray_like(W, X)
    return xp.matmul(X, xp.matrix_transpose(Wx))


class BinaryKernel:
    r"""Base class of binary kernels :math:`\kappa(x, y) = k_0(q(x), k(y))`.

    Parameters
    ----------
    W_Q, W_K : None, array of shape (d, d_x) / (d, d_y), or callable
        Query and key maps. ``None`` is the identity. A matrix ``W`` maps a point
        ``x`` to ``W @ x``; a callable maps an ``(n, d_in)`` array to ``(n, d)``.
    scale : "attention", float or None
        ``"attention"`` (default) multiplies both sides by :math:`d^{-1/4}` where ``d``
        is the mapped dimension, giving the :math:`1/\sqrt{d}` of attention; a float
        multiplies both sides by that number; ``None`` means no scaling.
    dim : int, optional
        Mapped dimension ``d`` when it cannot be read off ``W_Q`` (callable or identity
        maps); used only by :attr:`feature_dim`.
    max_memory : float, optional
        Largest Gram matrix (with its temporaries) ``kernel(X, Y)`` may allocate, in
        bytes; default the machine's free memory (:func:`rkbs._checks.check_allocation`),
        ``math.inf`` disables the check.

    Notes
    -----
    ``kernel(X, Y)`` returns the ``(n, m)`` matrix :math:`K_{ij} = \kappa(x_i, y_j)`.
    It is never symmetrized, not even when ``X is Y``. Kernels that exponentiate can
    overflow (float64: :math:`\log\kappa > 709.8`; float32: :math:`> 88.7`); then
    ``kernel(X, Y)`` warns (``RuntimeWarning``) and :meth:`log` gives
    :math:`\log\kappa` exactly.
    """

    name: ClassVar[str] = "base"
    exponentiates: ClassVar[bool] = False
    infinite: ClassVar[bool] = False
    #: Arrays of the Gram's size alive at once while ``kernel(X, Y)`` runs.
    _gram_temporaries: ClassVar[int] = 1

    def __init__(self, W_Q: Map = None, W_K: Map = None, *, scale="attention", dim=None,
                 max_memory: float | None = None):
        self.max_memory = check_max_memory(max_memory)
        self.W_Q = _check_map(W_Q, "W_Q")
        self.W_K = _check_map(W_K, "W_K")
        if scale not in ("attention", None):
            scale = check_positive(scale, "scale")
        self.scale = scale
        if dim is not None:
            dim = check_int(dim, "dim", minimum=1)
        for W, nm in ((self.W_Q, "W_Q"), (self.W_K, "W_K")):
            if hasattr(W, "shape"):
                if dim is not None and W.shape[0] != dim:
                    raise ValueError(f"{nm} has {W.shape[0]} rows but dim={dim}")
                dim = int(W.shape[0])
        self.dim = dim

    # ------------------------------------------------------------------ maps
    def _scaled(self, Z):
        if self.scale is None:
            return Z
        s = Z.shape[-1] ** -0.25 if self.scale == "attention" else self.scale
        return Z * s

    def queries(self, X):
        """Mapped, scaled queries ``q(x)``: ``(n, d_x) -> (n, d)``."""
        X = check_array(X, "X")
        return self._scaled(_apply_map(self.W_Q, X, "W_Q"))

    def keys(self, Y):
        """Mapped, scaled keys ``k(y)``: ``(m, d_y) -> (m, d)``."""
        Y = check_array(Y, "Y")
        return self._scaled(_apply_map(self.W_K, Y, "W_K"))

    def _qk(self, X, Y):
        X, Y = check_pair_arrays(X, Y)
        n, m = X.shape[0], Y.shape[0]
        check_allocation(
            n * m * itemsize(X.dtype) * self._gram_temporaries,
            f"the {self.name} Gram matrix of shape ({n}, {m})",
            self.max_memory,
        )
        Q, K = self.queries(X), self.keys(Y)
        if Q.shape[1] != K.shape[1]:
            raise ValueError(
                f"mapped queries and keys must have the same dimension, got q {tuple(Q.shape)}"
                f" and k {tuple(K.shape)} (check W_Q, W_K or the input dimensions)"
            )
        return Q, K

    # ------------------------------------------------------------- evaluation
    def __call__(self, X, Y):
        r"""Gram matrix :math:`K_{ij} = \kappa(x_i, y_j)`, shape ``(n, m)``.

        Warns (``RuntimeWarning``) when entries overflow to inf; :meth:`log` is the
        overflow-free route for kernels that exponentiate.
        """
        Q, K = self._qk(X, Y)
        return check_finite_result(self.from_qk(Q, K), f"{self.name} kernel κ(X, Y)",
                                   self._overflow_hint(Q))

    def _overflow_hint(self, Q) -> str:
        lim = "88.7 (float32)" if "float32" in str(Q.dtype) else "709.8 (float64)"
        if self.exponentiates:
            return (f"exp overflows where log κ > {lim}: use kernel.log(X, Y) for log κ "
                    "(exact, no overflow), or pass float64 inputs / smaller query and key "
                    "norms (softmax-normalized weights only need log κ)")
        return ("the kernel values exceed the floating-point range: lower the degree or the "
                "input norms, or pass float64 inputs")

    def log(self, X, Y):
        r""":math:`\log \kappa(x_i, y_j)`, shape ``(n, m)`` (non-negative kernels only)."""
        Q, K = self._qk(X, Y)
        return self.log_from_qk(Q, K)

    def from_qk(self, Q, K):
        """Kernel on already mapped queries ``(..., n, d)`` and keys ``(..., m, d)``."""
        L = self.log_from_qk(Q, K)  # a fresh array: safe to exponentiate in place
        if is_torch_array(L):
            return L.exp() if L.requires_grad else L.exp_()
        with np.errstate(over="ignore"):  # __call__ warns with the log-domain hint
            if isinstance(L, np.ndarray) and L.flags.writeable:
                return np.exp(L, out=L)
            return namespace(L).exp(L)

    def log_from_qk(self, Q, K):  # pragma: no cover - overridden
        """Log-kernel on mapped inputs; must return a *fresh* array (``from_qk``
        exponentiates it in place when no gradient is needed)."""
        raise NotImplementedError

    # ------------------------------------------------------------- properties
    @property
    def tied(self) -> bool:
        """True when the query and key maps are the same (``W_Q = W_K``)."""
        return _maps_equal(self.W_Q, self.W_K)

    @property
    def symmetric(self) -> bool:
        r""":math:`\kappa(x, y) = \kappa(y, x)` for all x, y, guaranteed by construction.

        True when the query and key maps are tied. False means "not guaranteed": generic
        untied maps give an asymmetric kernel, but special untied pairs can still be
        symmetric (e.g. :math:`W_Q^\top W_K` symmetric for dot-product kernels).
        """
        return self.tied

    @property
    def positive_definite(self) -> bool:
        """Positive semi-definite Gram matrices on every finite set, by construction.

        True for tied maps; False means "not guaranteed" (generic untied maps give an
        asymmetric kernel whose symmetric part is indefinite; see
        :func:`rkbs.diagnostics.mercer_report`).
        """
        return self.tied

    @property
    def nonnegative(self) -> bool:
        """κ ≥ 0 everywhere, so κ can serve as (unnormalized) attention weights."""
        return self.exponentiates

    def feature_dimension(self, d: int):
        """Dimension of the (minimal) feature space for mapped dimension ``d``."""
        return math.inf

    @property
    def feature_dim(self):
        """Feature dimension: an int, or ``math.inf`` for infinite-dimensional kernels."""
        if self.infinite:
            return math.inf
        if self.dim is None:
            raise ValueError(
                f"the feature dimension of the {self.name} kernel depends on the mapped "
                "dimension d: pass dim= or call feature_dimension(d)"
            )
        return self.feature_dimension(self.dim)

    def _params(self) -> dict:
        return {}

    def __repr__(self) -> str:
        def m(W):
            if W is None:
                return "identity"
            if hasattr(W, "shape"):
                return f"matrix{tuple(W.shape)}"
            return getattr(W, "__name__", type(W).__name__)

        extra = "".join(f", {k}={v!r}" for k, v in self._params().items())
        return (
            f"{type(self).__name__}(W_Q={m(self.W_Q)}, W_K={m(self.W_K)}, "
            f"scale={self.scale!r}{extra}; symmetric={self.symmetric}, "
            f"positive_definite={self.positive_definite}, "
            f"feature_dim={self._dim_repr()})"
        )

    def _dim_repr(self):
        try:
            return self.feature_dim
        except ValueError:
            return "depends on d"


class NonnegativeFeatureKernel(BinaryKernel):
    r"""Base of kernels that are inner products of non-negative feature maps,
    :math:`\kappa(x, y) = \langle\varphi(q(x)), \varphi(k(y))\rangle` with
    :math:`\varphi \ge 0` (elu+1, DPFP): κ ≥ 0 everywhere, so it serves as attention
    weights, and its log is taken of κ itself (κ may be 0, giving -inf).

    Subclasses define ``from_qk`` and ``feature_dimension``.
    """

    def log_from_qk(self, Q, K):
        return namespace(Q, K).log(self.from_qk(Q, K))

    @property
    def nonnegative(self) -> bool:
        return True


class EDPKernel(BinaryKernel):
    r"""Exponentiated dot product (softmax attention) kernel.

    .. math:: \kappa(x, y) = \exp(q \cdot k) = \exp\!\big(\langle W_Q x, W_K y\rangle/\sqrt d\big)

    Infinite-dimensional (Taylor features :math:`q^\alpha/\sqrt{\alpha!}` for all
    multi-indices α). Positive definite iff :math:`W_Q = W_K`; with
    untied maps it is asymmetric and its symmetric part is in general indefinite
    (Wright & Gonzalez 2021, §3–4).
    """

    name = "edp"
    exponentiates = True
    infinite = True

    def log_from_qk(self, Q, K):
        return F.edp_log(Q, K)


class RBFKernel(BinaryKernel):
    r"""Gaussian RBF between mapped queries and keys.

    .. math::

        \kappa(x, y) = \exp\!\big(-\lVert q - k\rVert^2 / (2\sigma^2)\big)
                     = \exp\!\big(-\gamma \lVert q - k\rVert^2\big),
        \qquad \gamma = \frac{1}{2\sigma^2}.

    Parameters
    ----------
    sigma : float, optional
        Width σ > 0 (default 1).
    gamma : float, optional
        scikit-learn's parameterization (``sklearn.metrics.pairwise.rbf_kernel``):
        :math:`\gamma = 1/(2\sigma^2)`, i.e. ``sigma = 1/sqrt(2 * gamma)``. Give
        ``sigma`` or ``gamma``, not both. γ acts on the *mapped* q, k: with the default
        ``scale="attention"`` (q = x/d^{1/4} for identity maps) the kernel equals
        scikit-learn's ``rbf_kernel(X, Y, gamma=gamma / sqrt(d))``; pass ``scale=None``
        for ``rbf_kernel(X, Y, gamma=gamma)`` exactly.
    """

    name = "rbf"
    exponentiates = True
    infinite = True
    _gram_temporaries = 3  # |q|^2 + |k|^2, q·k, the clipped sum

    def __init__(self, W_Q=None, W_K=None, *, sigma: float | None = None,
                 gamma: float | None = None, scale="attention", dim=None,
                 max_memory: float | None = None):
        super().__init__(W_Q, W_K, scale=scale, dim=dim, max_memory=max_memory)
        if gamma is not None:
            if sigma is not None:
                raise ValueError(
                    f"give sigma or gamma (= 1/(2 sigma^2)), not both; got sigma={sigma!r}, "
                    f"gamma={gamma!r}"
                )
            sigma = 1.0 / math.sqrt(2.0 * check_positive(gamma, "gamma"))
        self.sigma = check_positive(1.0 if sigma is None else sigma, "sigma")

    @property
    def gamma(self) -> float:
        r"""scikit-learn's width :math:`\gamma = 1/(2\sigma^2)`."""
        return 0.5 / self.sigma**2

    def _params(self):
        return {"sigma": self.sigma}

    def log_from_qk(self, Q, K):
        return F.rbf_log(Q, K, self.sigma)


class ExpIntersectionKernel(BinaryKernel):
    r"""Exponentiated intersection kernel.

    .. math:: \kappa(x, y) = \exp\!\Big(\sum_{l} \min(q_l, k_l)\Big)

    Positive definite when tied (a product of :math:`e^{\min(a, b)}`, each the
    exponential of a Brownian-motion covariance up to a constant), infinite-dimensional.
    """

    name = "exp_intersection"
    exponentiates = True
    infinite = True

    def log_from_qk(self, Q, K):
        return F.intersection_log(Q, K)


class PolynomialKernel(BinaryKernel):
    r"""Polynomial kernel :math:`\kappa(x, y) = (q\cdot k + c)^m`.

    Feature dimension :math:`\binom{d+m}{m}` for :math:`c > 0` and
    :math:`\binom{d+m-1}{m}` for :math:`c = 0` (multinomial features).
    Non-negative only for even degree; positive semi-definite when tied and c ≥ 0.
    """

    name = "polynomial"

    _gram_temporaries = 2

    def __init__(
        self, W_Q=None, W_K=None, *, degree: int = 2, c: float = 1.0, scale="attention", dim=None,
        max_memory: float | None = None,
    ):
        super().__init__(W_Q, W_K, scale=scale, dim=dim, max_memory=max_memory)
        self.degree = check_int(degree, "degree", minimum=0)
        self.c = check_positive(c, "c", strict=False)

    def _params(self):
        return {"degree": self.degree, "c": self.c}

    def from_qk(self, Q, K):
        return F.polynomial(Q, K, self.degree, self.c)

    def log_from_qk(self, Q, K):
        if not self.nonnegative:
            raise ValueError(
                f"the polynomial kernel of odd degree {self.degree} takes negative values: "
                "its log (and its use as attention weights) is undefined; use an even degree"
            )
        xp = namespace(Q, K)
        U = F.dot_products(Q, K)
        if self.degree == 0:  # κ = 1 (also where u + c = 0, where 0 * log 0 would be nan)
            return xp.zeros_like(U)
        return self.degree * xp.log(xp.abs(U + self.c))

    @property
    def positive_definite(self) -> bool:
        return self.tied

    @property
    def nonnegative(self) -> bool:
        return self.degree % 2 == 0

    def feature_dimension(self, d: int):
        m = self.degree
        return math.comb(d + m, m) if self.c > 0 else math.comb(d + m - 1, m)


class LinearKernel(BinaryKernel):
    r"""Linear kernel :math:`\kappa(x, y) = q \cdot k` (scaled dot product); dimension d."""

    name = "linear"

    def from_qk(self, Q, K):
        return F.linear(Q, K)

    def log_from_qk(self, Q, K):
        raise ValueError(
            "the linear kernel takes negative values: its log (and its use as attention "
            "weights) is undefined; use a non-negative kernel or feature map (e.g. elu+1)"
        )

    @property
    def nonnegative(self) -> bool:
        return False

    def feature_dimension(self, d: int):
        return d


KernelFactory = Callable[..., BinaryKernel]
