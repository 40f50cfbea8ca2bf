r"""Feature pairs :math:`(\Phi_X, \Phi_Y)` whose pairing reproduces a binary kernel.

A feature pair maps queries and keys to a common coordinate space so that

.. math:: \kappa(x, y) \approx \langle \Phi_X(x), \Phi_Y(y)\rangle = \Phi_X(x)^\top \Phi_Y(y)

(equality for exact pairs; an unbiased estimate for random ones; MATH.md §2). The
pair knows its kernel, so ``pair.gram(X, Y)`` and ``pair.kernel(X, Y)`` can be compared.
The kernel's query/key maps are applied first (``q = kernel.queries(X)``), then the
coordinate map φ on each side: ``transform_x(X) = map_q(kernel.queries(X))``.

Subclasses implement :meth:`map_q`, :meth:`map_k` (on mapped inputs, leading batch axes
allowed, so attention can use them on ``(batch, heads, L, d)`` tensors) and
:meth:`_fit_dim`. State learned by :meth:`fit` ends in ``_`` (scikit-learn style).
"""

from __future__ import annotations

from typing import ClassVar

from rkbs._backend import namespace
from rkbs._checks import check_int, check_pair_arrays
from rkbs.kernels.base import BinaryKernel

__all__ = ["FeaturePair"]


class FeaturePair:
    """Base class for exact and approximate feature pairs of a binary kernel.

    Attributes
    ----------
    kernel : BinaryKernel
        The kernel the pair reproduces (exact) or approximates.
    exact : bool
        True when ``gram == kernel`` up to round-off.
    dim_ : int
        Mapped input dimension d, set by :meth:`fit`.
    n_features_ : int
        Feature dimension D, set by :meth:`fit`.
    """

    exact: ClassVar[bool] = False
    #: Exact pairs can fit themselves on first use (nothing random is drawn).
    auto_fit: ClassVar[bool] = False

    def __init__(self, kernel: BinaryKernel):
        if not isinstance(kernel, BinaryKernel):
            raise ValueError(f"kernel must be a BinaryKernel, got {type(kernel).__name__}")
        self.kernel = kernel

    # --------------------------------------------------------------- fitting
    @property
    def fitted(self) -> bool:
        return hasattr(self, "n_features_")

    def fit(self, X=None, Y=None, *, dim: int | None = None):
        """Fix the mapped dimension d (from ``X``/``Y`` or ``dim``) and draw any randomness.

        Returns ``self``.
        """
        if dim is None:
            if X is None and Y is None:
                dim = self.kernel.dim
                if dim is None:
                    raise ValueError("fit needs X, Y or dim= to know the mapped dimension")
            elif X is not None and Y is not None:
                X, Y = check_pair_arrays(X, Y)
                dq, dk = self.kernel.queries(X[:1]).shape[1], self.kernel.keys(Y[:1]).shape[1]
                if dq != dk:
                    raise ValueError(f"mapped queries have d={dq} but mapped keys d={dk}")
                dim = dq
            else:
                Z = X if X is not None else Y
                f = self.kernel.queries if X is not None else self.kernel.keys
                dim = f(Z[:1]).shape[1]
        self.dim_ = check_int(dim, "dim", minimum=1)
        self._fit_dim(self.dim_)
        return self

    def _fit_dim(self, d: int) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _ensure_fitted(self, d: int) -> None:
        if not self.fitted:
            if self.auto_fit:
                self.fit(dim=d)
            else:
                raise ValueError(
                    f"{type(self).__name__} is not fitted: call fit(X, Y) or fit(dim=d) first "
                    "(random features are drawn there, from the seed)"
                )
        elif d != self.dim_:
            raise ValueError(
                f"{type(self).__name__} was fitted for mapped dimension {self.dim_}, got "
                f"inputs of mapped dimension {d}"
            )

    @property
    def n_features(self) -> int:
        """Feature dimension D (fits exact pairs from ``kernel.dim`` if needed)."""
        if not self.fitted and self.auto_fit and self.kernel.dim is not None:
            self.fit(dim=self.kernel.dim)
        if not self.fitted:
            raise ValueError(f"{type(self).__name__} is not fitted: D is unknown")
        return self.n_features_

    # ------------------------------------------------------------ transforms
    def map_q(self, Q):
        """Query-side coordinate map φ_X on mapped queries ``(..., n, d) -> (..., n, D)``."""
        raise NotImplementedError  # pragma: no cover

    def map_k(self, K):
        """Key-side coordinate map φ_Y on mapped keys ``(..., m, d) -> (..., m, D)``."""
        raise NotImplementedError  # pragma: no cover

    def transform_x(self, X):
        r""":math:`\Phi_X(X)`: raw queries ``(n, d_x) -> (n, D)``."""
        Q = self.kernel.queries(X)
        self._ensure_fitted(Q.shape[-1])
        return self.map_q(Q)

    def transform_y(self, Y):
        r""":math:`\Phi_Y(Y)`: raw keys ``(m, d_y) -> (m, D)``."""
        K = self.kernel.keys(Y)
        self._ensure_fitted(K.shape[-1])
        return self.map_k(K)

    def gram(self, X, Y):
        r"""Feature Gram matrix :math:`\Phi_X(X)\,\Phi_Y(Y)^\top`, shape ``(n, m)``."""
        X, Y = check_pair_arrays(X, Y)
        A, B = self.transform_x(X), self.transform_y(Y)
        xp = namespace(A, B)
        return xp.matmul(A, xp.matrix_transpose(B))

    def reproduced_kernel(self, X, Y):
        r"""The kernel this pair reproduces *exactly*, computed without the features.

        ``self.kernel(X, Y)`` for exact pairs; subclasses override it where the finite
        pair reproduces a known closed form (Taylor: the truncated series). Random pairs
        reproduce no closed form and raise :class:`NotImplementedError`.
        """
        if self.exact:
            return self.kernel(X, Y)
        raise NotImplementedError(f"{type(self).__name__} reproduces no closed-form kernel")

    def __repr__(self) -> str:
        D = self.n_features_ if self.fitted else "unfitted"
        return f"{type(self).__name__}(kernel={self.kernel.name}, exact={self.exact}, D={D})"
