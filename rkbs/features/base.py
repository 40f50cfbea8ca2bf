r"""Feature pairs :math:`(\Phi_X, \Phi_Y)` whose pairing reproduces a binary kernel.

A feature pair maps queries and keys to a common coordinate space so that

.. math:: \kappa(x, y) \approx \langle \Phi_X(x), \Phi_Y(y)\rangle = \Phi_X(x)^\top \Phi_Y(y)

(equality for exact pairs; an unbiased estimate for random ones). The
pair knows its kernel, so ``pair.gram(X, Y)`` and ``pair.kernel(X, Y)`` can be compared.
The kernel's query/key maps are applied first (``q = kernel.queries(X)``), then the
coordinate map φ on each side: ``transform_x(X) = map_q(kernel.queries(X))``.

Subclasses implement :meth:`map_q`, :meth:`map_k` (on mapped inputs, leading batch axes
allowed, so attention can use them on ``(batch, heads, L, d)`` tensors) and
:meth:`_fit_dim`. State learned by :meth:`fit` ends in ``_`` (scikit-learn style);
the constructor parameters are exposed through :meth:`FeaturePair.get_params` and
:meth:`FeaturePair.set_params`, so ``sklearn.base.clone(pair)`` gives an unfitted copy.

Sizes are checked before anything is allocated: the feature dimension D of a pair
(``C(d+N, N)`` for Taylor features, ``n_components`` for random ones) and the
``(n, D)`` feature matrices of :meth:`transform_x`, :meth:`transform_y` and
:meth:`gram` go through :func:`rkbs._checks.check_allocation`, which refuses with a
``ValueError`` anything above the free memory (or the ``max_memory`` given).
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

from rkbs._backend import namespace
from rkbs._checks import (
    check_allocation,
    check_finite_result,
    check_int,
    check_mapped,
    check_max_memory,
    check_pair_arrays,
    format_count,
    itemsize,
)
from rkbs.kernels.base import BinaryKernel

#: Feature-sized arrays alive at once while one (n, D) feature matrix is built.
_ROW_TEMPORARIES = 3

_OVERFLOW_HINT = (
    "the features (products of up to N input coordinates, or exponentials) exceed the "
    "floating-point range for inputs of this norm: rescale the inputs, lower the degree, "
    "pass float64, or use map_q_log/map_k_log (random features) or kernel.log")

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
    max_memory : float or None
        Memory limit in bytes of the guards (None: the machine's free memory).
    """

    exact: ClassVar[bool] = False
    #: Exact pairs can fit themselves on first use (nothing random is drawn).
    auto_fit: ClassVar[bool] = False

    def __init__(self, kernel: BinaryKernel, *, max_memory: float | None = None):
        if not isinstance(kernel, BinaryKernel):
            raise ValueError(f"kernel must be a BinaryKernel, got {type(kernel).__name__}")
        self.kernel = kernel
        self.max_memory = max_memory
        check_max_memory(max_memory)

    def _check_size_if_known(self) -> None:
        """Size guard at construction, when the kernel declares its mapped dimension."""
        if self.kernel.dim is not None:
            self._check_size(self.kernel.dim)

    # ------------------------------------------------- scikit-learn parameters
    @classmethod
    def _get_param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return sorted(
            p.name for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        )

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters (scikit-learn protocol; ``sklearn.base.clone`` works).

        ``deep`` is accepted for compatibility; kernels are returned as objects.
        """
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set constructor parameters, validate them as the constructor does, and unfit.

        Returns ``self``. Unknown names raise ``ValueError`` listing the valid ones.
        """
        valid = self._get_param_names()
        for name in params:
            if name not in valid:
                raise ValueError(
                    f"invalid parameter {name!r} for {type(self).__name__}; valid: "
                    f"{', '.join(valid)}"
                )
        fresh = type(self)(**{**self.get_params(), **params})  # validates; self unchanged on error
        self.__dict__.clear()  # fitted state goes with the old parameters
        self.__dict__.update(fresh.__dict__)
        return self

    # ---------------------------------------------------------- size guards
    def n_features_for(self, d: int) -> int | None:
        """Feature dimension D this pair has on inputs of mapped dimension ``d``.

        ``None`` when it is not known before fitting (subclasses override).
        """
        return None

    def _state_bytes(self, d: int) -> int:
        """Bytes of the largest array built by ``fit`` (or by a transform's index tables)."""
        return 0

    def _check_size(self, d: int) -> None:
        """Refuse (``ValueError``) a pair whose fitted state or a feature row cannot fit."""
        D = self.n_features_for(d)
        if D is None:
            return
        check_allocation(
            self._state_bytes(d) + D * 8 * _ROW_TEMPORARIES,
            f"{type(self).__name__} on mapped dimension d={d} with D={format_count(D)} features"
            if D >= 1e6 else f"{type(self).__name__} on d={d} with D={D} features",
            self.max_memory,
        )

    def _check_rows(self, n_rows: int, d: int, dtype: Any = None, *, extra: int = 0,
                    what: str = "feature matrix") -> None:
        """Refuse an ``(n_rows, D)`` feature matrix (plus ``extra`` bytes) that cannot fit."""
        D = self.n_features_ if self.fitted else self.n_features_for(d)
        if D is None:
            return
        nbytes = n_rows * D * itemsize(dtype or "float64") * _ROW_TEMPORARIES + extra
        check_allocation(nbytes, f"the {what} of {type(self).__name__}, shape ({n_rows}, {D})",
                         self.max_memory)

    def memory_estimate(self, n_rows: int, d: int | None = None) -> int:
        """Bytes needed to map ``n_rows`` points: feature rows and fitted state.

        For checking a configuration before running it, e.g.
        ``format_bytes(pair.memory_estimate(10_000, 16))``.
        """
        d = self.dim_ if d is None and self.fitted else d
        if d is None:
            raise ValueError("memory_estimate needs d= for an unfitted pair")
        D = self.n_features_for(d) or 0
        return int(self._state_bytes(d) + n_rows * D * 8 * _ROW_TEMPORARIES)

    @property
    def n_components(self) -> int:
        """Feature dimension D: the one name for it across pairs (alias of n_features)."""
        return self.n_features

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
        dim = check_int(dim, "dim", minimum=1)
        self._check_size(dim)
        self.dim_ = dim
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
            raise ValueError(
                f"{type(self).__name__} is not fitted, so D is unknown: call fit(X, Y) or "
                "fit(dim=d) first (or give the kernel dim=d)"
            )
        return self.n_features_

    # ------------------------------------------------------------ transforms
    def map_q(self, Q):
        """Query-side coordinate map φ_X on mapped queries ``(..., n, d) -> (..., n, D)``."""
        raise NotImplementedError  # pragma: no cover

    def map_k(self, K):
        """Key-side coordinate map φ_Y on mapped keys ``(..., m, d) -> (..., m, D)``."""
        raise NotImplementedError  # pragma: no cover

    def map_q_log(self, Q):
        r"""Query features in log-scaled form ``(F, c)`` with :math:`\varphi_X(q) = F e^{c}`.

        ``F`` of shape ``(..., n, D)``, ``c`` of shape ``(..., n, 1)``. Pairs without a
        per-row scale (exact and signed pairs) return ``(map_q(Q), 0)``; random pairs
        whose features carry :math:`e^{\pm\lVert u\rVert^2/2}` override this so that F
        stays bounded (see :mod:`rkbs.features.random`).
        """
        Q = self._check_mapped(Q, "Q")
        F = self.map_q(Q)
        return F, namespace(F).zeros_like(F[..., :1])

    def map_k_log(self, K):
        r"""Key features in log-scaled form ``(F, c)`` with :math:`\varphi_Y(k) = F e^{c}`."""
        K = self._check_mapped(K, "K")
        F = self.map_k(K)
        return F, namespace(F).zeros_like(F[..., :1])

    def _check_mapped(self, U, name):
        """Validated mapped inputs ``(..., n, d)``; fits auto-fitting pairs to d."""
        U = check_mapped(U, name, self.dim_ if self.fitted else None)
        self._ensure_fitted(U.shape[-1])
        return U

    def transform_x(self, X):
        r""":math:`\Phi_X(X)`: raw queries ``(n, d_x) -> (n, D)``."""
        Q = self.kernel.queries(X)
        self._ensure_fitted(Q.shape[-1])
        self._check_rows(Q.shape[0], Q.shape[-1], Q.dtype)
        return check_finite_result(self.map_q(Q), f"{type(self).__name__}.transform_x",
                                   _OVERFLOW_HINT)

    def transform_y(self, Y):
        r""":math:`\Phi_Y(Y)`: raw keys ``(m, d_y) -> (m, D)``."""
        K = self.kernel.keys(Y)
        self._ensure_fitted(K.shape[-1])
        self._check_rows(K.shape[0], K.shape[-1], K.dtype)
        return check_finite_result(self.map_k(K), f"{type(self).__name__}.transform_y",
                                   _OVERFLOW_HINT)

    def gram(self, X, Y):
        r"""Feature Gram matrix :math:`\Phi_X(X)\,\Phi_Y(Y)^\top`, shape ``(n, m)``."""
        X, Y = check_pair_arrays(X, Y)
        self._check_gram(X, Y)
        A, B = self.transform_x(X), self.transform_y(Y)
        xp = namespace(A, B)
        return check_finite_result(xp.matmul(A, xp.matrix_transpose(B)),
                                   f"{type(self).__name__}.gram", _OVERFLOW_HINT)

    def _check_gram(self, X, Y) -> None:
        n, m = X.shape[0], Y.shape[0]
        check_allocation(n * m * itemsize(X.dtype), f"the Gram matrix of shape ({n}, {m})",
                         self.max_memory)

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
