r"""Random feature pairs: unbiased Monte-Carlo estimators of binary kernels.

Every class here draws its random parameters (projections ω, offsets, degrees, signs)
with numpy from ``seed`` when :meth:`~rkbs.features.FeaturePair.fit` is called, and
moves them to the backend, dtype and device of the input with
:func:`~rkbs._backend.asarray_like`; numpy and torch therefore see identical draws. The
estimate of :math:`\kappa(x, y)` is :math:`\varphi_X(x)\cdot\varphi_Y(y)` with the same
random parameters on both sides; the kernel's query and key maps (``W_Q``, ``W_K``) are
applied on their own side before φ, so the pair approximates asymmetric kernels.

``n_components`` is always the *output* feature dimension D (the number of columns of
Φ_X). Estimators built from sin/cos or ± pairs (``variant="sincos"``, trigonometric and
hyperbolic features) use D/2 projections and need D even.

Stabilized maps
---------------
Positive, hyperbolic and trigonometric features carry a per-row scale
(:math:`e^{-\lVert u\rVert^2/2}` or :math:`e^{\lVert u\rVert^2/2}`) that under- or
overflows for large inputs. :meth:`RandomFeaturePair.map_q_log` returns
``(F, c)`` with ``F`` bounded (``max |F| <= 1`` per row) and ``c`` of shape
``(..., n, 1)`` such that, exactly,

.. math:: \varphi(u) = F(u)\, e^{c(u)}.

For positive and hyperbolic features :math:`c(u) = \max_r \ell_r(u)` is the largest
log-feature (max-subtraction in log space); for trigonometric features
:math:`c(u) = \lVert u\rVert^2/2`. ``gram`` combines the two sides as
:math:`e^{c(q) + c(k)}\,F(q)\cdot F(k)`, so no feature overflows wherever
:math:`e^{q\cdot k}` itself is representable, and ``map_q``/``map_k`` stay the plain,
unbiased estimators. In normalized (softmax-style) attention the query constant
:math:`e^{c(q)}` cancels; the key constants are per key and can be shifted by their
maximum over keys (a constant that cancels as well).
"""

from __future__ import annotations

import math

import numpy as np

from rkbs._backend import asarray_like, is_torch_array, namespace
from rkbs._checks import (
    check_allocation,
    check_finite_result,
    check_int,
    check_pair_arrays,
    check_random_state,
)
from rkbs.features.base import FeaturePair
from rkbs.kernels.base import BinaryKernel, EDPKernel, PolynomialKernel, RBFKernel

__all__ = [
    "RandomFeaturePair",
    "RandomFourierFeatures",
    "PositiveRandomFeatures",
    "TrigonometricRandomFeatures",
    "HyperbolicRandomFeatures",
    "RandomMaclaurinFeatures",
    "gaussian_projections",
    "haar_orthogonal",
]

# Largest |log scale| for which ``S * exp(M)`` is safe in float64 (exp(709) ~ 8e307).
_SAFE_LOG = 700.0


def _safe_log(dtype) -> float:
    """``_SAFE_LOG`` for ``dtype``: log of its largest finite value minus a margin of 9."""
    name = str(dtype).replace("torch.", "")
    if name in ("float32", "float16", "bfloat16"):
        return float(np.log(np.finfo(np.float16 if name == "float16" else np.float32).max)) - 9.0
    return _SAFE_LOG


# --------------------------------------------------------------------- sampling
def haar_orthogonal(d: int, seed=None) -> np.ndarray:
    r"""A Haar-distributed random orthogonal matrix of shape ``(d, d)``.

    QR of a standard Gaussian matrix :math:`G = QR` with the sign fix
    :math:`Q \leftarrow Q\,\mathrm{diag}(\mathrm{sign}\,R_{ii})` (Mezzadri 2007,
    "How to generate random matrices from the classical compact groups", §5). Without
    the fix, LAPACK's Householder QR makes :math:`R_{11} < 0`-type conventions leak into
    Q and the result is not Haar (e.g. ``Q[0, 0] <= 0`` always).
    """
    d = check_int(d, "d", minimum=1)
    rng = check_random_state(seed)
    G = rng.standard_normal((d, d))
    Q, R = np.linalg.qr(G)
    s = np.sign(np.diag(R))
    s[s == 0] = 1.0
    return Q * s[None, :]


def gaussian_projections(n: int, d: int, seed=None, *, orthogonal: bool = False) -> np.ndarray:
    r"""``n`` projection vectors :math:`\omega_r \in \mathbb{R}^d`, marginally N(0, I).

    iid: rows of a standard Gaussian matrix. Orthogonal (Choromanski et al. 2021,
    "Rethinking attention with Performers", §2.4; Yu et al. 2016, ORF): blocks of
    ``d`` rows of a Haar orthogonal matrix (:func:`haar_orthogonal`), each row rescaled
    by an independent :math:`\chi_d`-distributed norm, so every row is still exactly
    N(0, I) while rows within a block are orthogonal; ``ceil(n / d)`` independent
    blocks, the last one truncated.

    Returns
    -------
    ndarray of shape (n, d), float64.
    """
    n = check_int(n, "n", minimum=1)
    d = check_int(d, "d", minimum=1)
    rng = check_random_state(seed)
    if not orthogonal:
        return rng.standard_normal((n, d))
    blocks = []
    for _ in range(-(-n // d)):
        H = haar_orthogonal(d, rng)
        norms = np.sqrt(rng.chisquare(d, size=d))  # chi_d row norms
        blocks.append(H.T * norms[:, None])  # rows of H^T are orthonormal
    return np.concatenate(blocks, axis=0)[:n]


# ------------------------------------------------------------------ utilities
def _stop_gradient(a):
    return a.detach() if is_torch_array(a) else a


def _sq_norm_half(U):
    xp = namespace(U)
    return 0.5 * xp.sum(U * U, axis=-1, keepdims=True)


def _scale_by_log(S, M):
    r"""Elementwise :math:`S \cdot e^{M}` without overflow in the intermediate factor.

    Where :math:`|M|` is moderate the product is formed directly; otherwise as
    :math:`\mathrm{sign}(S)\, e^{\log|S| + M}` (zeros of S stay exactly zero).
    """
    xp = namespace(S, M)
    if float(xp.max(xp.abs(_stop_gradient(M)))) < _safe_log(M.dtype):
        return S * xp.exp(M)
    absS = xp.abs(S)
    safe = xp.where(absS > 0, absS, xp.ones_like(absS))
    logabs = xp.where(absS > 0, xp.log(safe) + M, xp.zeros_like(absS))
    out = xp.sign(S) * xp.exp(logabs)  # sign(0) = 0 keeps zeros exactly zero
    return out


def _grad_free(*arrays) -> bool:
    """True when no torch tensor among ``arrays`` takes part in autograd."""
    import torch

    return not torch.is_grad_enabled() or not any(
        is_torch_array(a) and a.requires_grad for a in arrays
    )


class RandomFeaturePair(FeaturePair):
    r"""Base class of random feature pairs (unbiased estimators of a binary kernel).

    Parameters
    ----------
    kernel : BinaryKernel
        The kernel approximated.
    n_components : int
        Output feature dimension D ≥ 1.
    seed : int, numpy Generator or None
        Source of the random draws. An int redraws the *same* features on every
        :meth:`fit`; a Generator advances; ``None`` draws fresh entropy.
    max_memory : float, optional
        Memory limit (bytes) of the size guards (default the free memory): the random
        parameters drawn by :meth:`fit` (e.g. the ``(D, d)`` projections) and each
        ``(n, D)`` feature matrix are checked before they are allocated.

    Attributes
    ----------
    n_features_ : int
        D, set by :meth:`fit`.
    dim_ : int
        Mapped input dimension d, set by :meth:`fit`.
    """

    exact = False
    auto_fit = False
    _kernel_type: type = BinaryKernel
    _paired: bool = False  # True: D/2 projections, D must be even
    n_components = None  # set by __init__ (shadows FeaturePair.n_components)
    #: Every feature (hence every estimated kernel value) is ≥ 0: safe as attention weights.
    nonnegative_features: bool = False
    #: Every estimator class, in definition order (:func:`estimators_for`).
    _estimators: list = []

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        RandomFeaturePair._estimators.append(cls)

    # ----------------------------------------------------- self-description
    @property
    def estimator_name(self) -> str:
        """Name of the estimator in tables and warnings (class name, plus variant)."""
        return type(self).__name__

    def closed_form_mse(self, Q, K, n_features: int | None = None):
        r"""Per-pair MSE :math:`\mathbb E(\hat\kappa - \kappa)^2` on mapped queries Q (n, d)
        and keys K (m, d) at D = ``n_features`` (default ``n_components``), (n, m).

        Raises ``NotImplementedError`` for estimators without a closed form.
        """
        raise NotImplementedError(f"no closed-form MSE for {type(self).__name__}: use "
                                  "empirical_mse")

    @classmethod
    def comparable(cls, kernel, n_components: int) -> list:
        """Instances of this estimator to compare with another estimator of ``kernel`` at
        (about) the same D: one at D (D + 1 when it needs an even D) by default, none
        when the class has no closed-form MSE of its own."""
        if "closed_form_mse" not in cls.__dict__:
            return []
        return [cls(kernel, n_components + (n_components % 2 if cls._paired else 0))]

    def __init__(self, kernel, n_components: int, *, seed=None, max_memory: float | None = None):
        types = self._kernel_type if isinstance(self._kernel_type, tuple) else (
            self._kernel_type,)
        if not isinstance(kernel, types):
            raise ValueError(
                f"{type(self).__name__} approximates a "
                f"{' or '.join(t.__name__ for t in types)}, got {type(kernel).__name__}"
            )
        super().__init__(kernel, max_memory=max_memory)
        check_int(n_components, "n_components", minimum=1)
        self.n_components = n_components
        if self._paired and self.n_components % 2:
            raise ValueError(
                f"{type(self).__name__} builds features in pairs (D/2 projections): "
                f"n_components must be even, got {n_components}"
            )
        check_random_state(seed)  # validate early
        self.seed = seed
        self._cache: dict = {}
        self._check_size_if_known()

    def n_features_for(self, d: int) -> int:
        return int(self.n_components)

    def _n_projections(self) -> int:
        return int(self.n_components) // 2 if self._paired else int(self.n_components)

    def _state_bytes(self, d: int) -> int:
        # projections (n_proj, d) and their transposed copy, float64
        return 2 * self._n_projections() * d * 8

    # ------------------------------------------------------------- fitting
    def _fit_dim(self, d: int) -> None:
        self._cache = {}
        self._draw(d, check_random_state(self.seed))
        self.n_features_ = self.n_components

    def _draw(self, d: int, rng: np.random.Generator) -> None:  # pragma: no cover
        raise NotImplementedError

    def redraw(self, seed=None):
        """Draw new random features (same D and d) from ``seed``; returns ``self``.

        With ``seed=None`` the stored seed is used again (an int gives the same draw,
        a Generator the next one).
        """
        if not self.fitted:
            raise ValueError(f"{type(self).__name__} is not fitted: call fit first")
        if seed is not None:
            check_random_state(seed)
            self.seed = seed
        self._fit_dim(self.dim_)
        return self

    def _param(self, name: str, like):
        """Fitted numpy parameter ``name`` in the backend/dtype/device of ``like``."""
        key = (name, type(like).__name__, str(like.dtype), str(getattr(like, "device", "")))
        if key not in self._cache:
            self._cache[key] = asarray_like(getattr(self, name), like)
        return self._cache[key]

    def _check_input(self, U):
        self._ensure_fitted(U.shape[-1])

    # ----------------------------------------------------------- transforms
    def map_q_log(self, Q):
        r"""Stabilized query features ``(F, c)``: :math:`\varphi_X(q) = F\,e^{c}` exactly.

        ``F`` has the shape of ``map_q(Q)``, ``(..., n, D)``; for the positive,
        hyperbolic and trigonometric features its entries lie in [-1, 1]. ``c`` has
        shape ``(..., n, 1)`` (zeros for estimators without a per-row scale factor).
        Raises ``ValueError`` for an unfitted pair, a wrong last axis, empty or
        non-finite inputs (the finiteness check is skipped on accelerators).
        """
        return self._features_log(self._check_mapped(Q, "Q"), side="q")

    def map_k_log(self, K):
        r"""Stabilized key features ``(F, c)``: :math:`\varphi_Y(k) = F\,e^{c}` exactly."""
        return self._features_log(self._check_mapped(K, "K"), side="k")

    def _check_mapped(self, U, name):
        if not self.fitted:  # random pairs never fit themselves
            self._ensure_fitted(0)
        return FeaturePair._check_mapped(self, U, name)

    def _features_log(self, U, side):  # pragma: no cover - overridden
        raise NotImplementedError

    def map_q(self, Q):
        r"""Query features :math:`\varphi_X(q) = F e^{c}`, ``(..., n, d) -> (..., n, D)``.

        The plain unbiased estimator (no host synchronization, differentiable). Its
        entries are exactly representable whenever the feature value itself is.
        """
        F, c = self.map_q_log(Q)
        return F * namespace(F).exp(c)

    def map_k(self, K):
        r"""Key features :math:`\varphi_Y(k) = F e^{c}`, ``(..., m, d) -> (..., m, D)``."""
        F, c = self.map_k_log(K)
        return F * namespace(F).exp(c)

    def gram(self, X, Y):
        r"""Estimated Gram matrix :math:`\hat K = \Phi_X(X)\Phi_Y(Y)^\top`, shape ``(n, m)``.

        Computed in the stabilized form :math:`e^{c_i + c_j}\, F_i\cdot F_j`.
        """
        X, Y = check_pair_arrays(X, Y)
        Q, K = self.kernel.queries(X), self.kernel.keys(Y)
        self._ensure_fitted(Q.shape[-1])
        self._ensure_fitted(K.shape[-1])
        A, a = self.map_q_log(Q)
        B, b = self.map_k_log(K)
        xp = namespace(A, B)
        S = xp.matmul(A, xp.matrix_transpose(B))
        return check_finite_result(
            _scale_by_log(S, a + xp.matrix_transpose(b)), f"{type(self).__name__}.gram",
            "the estimate exp(c_q + c_k) F_q·F_k exceeds the floating-point range (the "
            "kernel itself overflows there): work with map_q_log/map_k_log, or kernel.log")

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(kernel={self.kernel.name}, n_components="
            f"{self.n_components}, seed={self.seed!r})"
        )


# ------------------------------------------------------------------------ RFF
class RandomFourierFeatures(RandomFeaturePair):
    r"""Random Fourier features of the RBF kernel (Rahimi & Recht 2007).

    With :math:`\omega_r \sim N(0, \sigma^{-2} I)`, :math:`b_r \sim U[0, 2\pi]`:

    .. math::

        \text{cos\_offset:}\quad \varphi(u) = \sqrt{2/D}\,\big[\cos(\omega_r\cdot u + b_r)\big]_{r\le D}

        \text{sincos:}\quad \varphi(u) = \sqrt{2/D}\,\big[\cos(\omega_r\cdot u),\
        \sin(\omega_r\cdot u)\big]_{r\le D/2}

    applied to :math:`q = q(x)` on the query side and :math:`k = k(y)` on the key side;
    :math:`\mathbb E\,\varphi(q)\cdot\varphi(k) = e^{-\lVert q-k\rVert^2/(2\sigma^2)}`
    (Bochner). Variances: Sutherland & Schneider (2015), eqs. (2)–(3), implemented in
    :func:`rkbs.features.error.mse_rff`. The torch path without autograd is one
    ``addmm`` plus an in-place ``cos_``.

    Parameters
    ----------
    kernel : RBFKernel
    n_components : int
        D (even for ``"sincos"``).
    variant : {"cos_offset", "sincos"}
    seed : int, Generator or None
    """

    _kernel_type = RBFKernel

    def __init__(self, kernel: RBFKernel, n_components: int, *, variant: str = "cos_offset",
                 seed=None, max_memory: float | None = None):
        if variant not in ("cos_offset", "sincos"):
            raise ValueError(f"variant must be 'cos_offset' or 'sincos', got {variant!r}")
        self.variant = variant
        self._paired = variant == "sincos"
        super().__init__(kernel, n_components, seed=seed, max_memory=max_memory)

    @property
    def estimator_name(self) -> str:
        return f"RandomFourierFeatures({self.variant})"

    def closed_form_mse(self, Q, K, n_features: int | None = None):
        """Sutherland & Schneider (2015): :func:`rkbs.features.error.mse_rff`."""
        from rkbs.features.error import mse_rff

        D = self.n_components if n_features is None else n_features
        return mse_rff(Q, K, D, sigma=self.kernel.sigma, variant=self.variant)

    @classmethod
    def comparable(cls, kernel, n_components: int) -> list:
        """Both variants: cos+offset at D and sin/cos at the next even D."""
        if cls is not RandomFourierFeatures:
            return super().comparable(kernel, n_components)
        return [cls(kernel, n_components),
                cls(kernel, n_components + n_components % 2, variant="sincos")]

    def _draw(self, d, rng):
        n_freq = self.n_components // 2 if self._paired else self.n_components
        self.omega_ = rng.standard_normal((n_freq, d)) / self.kernel.sigma
        self.offset_ = rng.uniform(0.0, 2.0 * np.pi, size=n_freq) if not self._paired else None
        self.omega_t_ = np.ascontiguousarray(self.omega_.T)

    def _features(self, U):
        self._check_input(U)
        xp = namespace(U)
        s = math.sqrt(2.0 / self.n_components)
        Wt = self._param("omega_t_", U)
        if self.variant == "sincos":
            P = xp.matmul(U, Wt)
            return xp.concat([xp.cos(P), xp.sin(P)], axis=-1) * s
        b = self._param("offset_", U)
        if is_torch_array(U) and _grad_free(U):
            import torch

            lead = U.shape[:-1]
            out = torch.addmm(b, U.reshape(-1, U.shape[-1]), Wt)
            out.cos_().mul_(s)
            return out.reshape(*lead, out.shape[-1])
        if not is_torch_array(U):
            out = np.matmul(U, Wt)
            out += b
            np.cos(out, out=out)
            out *= s
            return out
        return xp.cos(xp.matmul(U, Wt) + b) * s

    def map_q(self, Q):
        return self._features(Q)

    map_k = map_q

    def _features_log(self, U, side):
        F = self._features(U)
        xp = namespace(F)
        return F, xp.zeros_like(F[..., :1])

    def gram(self, X, Y):
        return FeaturePair.gram(self, X, Y)


# ----------------------------------------------------- softmax (EDP) features
class _EDPRandomFeatures(RandomFeaturePair):
    """Shared drawing for the Gaussian-projection estimators of exp(q·k)."""

    _kernel_type = EDPKernel

    def __init__(self, kernel: EDPKernel, n_components: int, *, orthogonal: bool = False,
                 seed=None, max_memory: float | None = None):
        super().__init__(kernel, n_components, seed=seed, max_memory=max_memory)
        if not isinstance(orthogonal, bool | np.bool_):
            raise ValueError(f"orthogonal must be True or False, got {orthogonal!r}")
        self.orthogonal = orthogonal

    def _check_iid(self):
        if self.orthogonal:
            raise NotImplementedError(
                "no closed-form MSE for orthogonal projections (it is below the iid one, "
                "Choromanski et al. 2021, Thm 2): use empirical_mse, or orthogonal=False")

    def _draw(self, d, rng):
        n_proj = self.n_components // 2 if self._paired else self.n_components
        self.omega_ = gaussian_projections(n_proj, d, rng, orthogonal=self.orthogonal)
        self.omega_t_ = np.ascontiguousarray(self.omega_.T)

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", orthogonal={self.orthogonal})"


class PositiveRandomFeatures(_EDPRandomFeatures):
    r"""Positive random features of the EDP (softmax) kernel, FAVOR+.

    Choromanski et al. (2021), "Rethinking attention with Performers", Lemma 1:

    .. math::

        \varphi^+(u) = \frac{e^{-\lVert u\rVert^2/2}}{\sqrt D}
        \big[e^{\omega_r\cdot u}\big]_{r\le D},\quad \omega_r\sim N(0, I),
        \qquad \mathbb E\,\varphi^+(q)\cdot\varphi^+(k) = e^{q\cdot k},

    iid or orthogonal (:func:`gaussian_projections`). Every feature is positive, so the
    estimated attention weights are. Per-pair MSE (iid, Lemma 2):
    :math:`\frac1D e^{\lVert q+k\rVert^2}\kappa^2(1 - e^{-\lVert q+k\rVert^2})`.
    Stabilized map: log-features :math:`\ell_r = \omega_r\cdot u - \lVert u\rVert^2/2 -
    \tfrac12\log D`, ``c = max_r ℓ_r`` (treated as a constant under autograd),
    ``F = exp(ℓ - c)``.
    """

    nonnegative_features = True

    def closed_form_mse(self, Q, K, n_features: int | None = None):
        """Lemma 2 of Choromanski et al. (2021): :func:`rkbs.features.error.mse_positive`."""
        from rkbs.features.error import mse_positive

        self._check_iid()
        return mse_positive(Q, K, self.n_components if n_features is None else n_features)

    def _log_features(self, U):
        xp = namespace(U)
        Wt = self._param("omega_t_", U)
        return xp.matmul(U, Wt) - _sq_norm_half(U) - 0.5 * math.log(self.n_components)

    def _features_log(self, U, side):
        self._check_input(U)
        xp = namespace(U)
        L = self._log_features(U)
        c = _stop_gradient(xp.max(L, axis=-1, keepdims=True))
        return xp.exp(L - c), c


class HyperbolicRandomFeatures(PositiveRandomFeatures):
    r"""Hyperbolic positive random features of the EDP kernel (FAVOR+ with ± pairs).

    Choromanski et al. (2021), §2.3 ("hyperbolic" / ``SM^{hyp+}``):

    .. math::

        \varphi^{h}(u) = \frac{e^{-\lVert u\rVert^2/2}}{\sqrt{D}}
        \big[e^{\omega_r\cdot u},\ e^{-\omega_r\cdot u}\big]_{r\le D/2},

    so :math:`\varphi^h(q)\cdot\varphi^h(k)` averages
    :math:`e^{-(\lVert q\rVert^2+\lVert k\rVert^2)/2}\cosh(\omega_r\cdot(q+k))` over
    D/2 projections (mean :math:`e^{q\cdot k}`). Per-pair MSE (iid, derived in
    :func:`rkbs.features.error.mse_hyperbolic`):
    :math:`\frac1D e^{\lVert q+k\rVert^2}\kappa^2(1 - e^{-\lVert q+k\rVert^2})^2`,
    never above the positive features' MSE at equal D.
    """

    _paired = True

    def closed_form_mse(self, Q, K, n_features: int | None = None):
        """:func:`rkbs.features.error.mse_hyperbolic`."""
        from rkbs.features.error import mse_hyperbolic

        self._check_iid()
        return mse_hyperbolic(Q, K, self.n_components if n_features is None else n_features)

    def _log_features(self, U):
        xp = namespace(U)
        Wt = self._param("omega_t_", U)
        P = xp.matmul(U, Wt)
        return (xp.concat([P, -P], axis=-1) - _sq_norm_half(U)
                - 0.5 * math.log(self.n_components))


class TrigonometricRandomFeatures(_EDPRandomFeatures):
    r"""Trigonometric random features of the EDP kernel (Performer's ``SM^trig``).

    .. math::

        \varphi(u) = e^{\lVert u\rVert^2/2}\sqrt{2/D}\,
        \big[\cos(\omega_r\cdot u),\ \sin(\omega_r\cdot u)\big]_{r\le D/2},

    so :math:`\varphi(q)\cdot\varphi(k)` averages
    :math:`e^{(\lVert q\rVert^2+\lVert k\rVert^2)/2}\cos(\omega_r\cdot(q-k))` over D/2
    projections (Choromanski et al. 2021, Lemma 2). Features can be negative (so can
    the estimated attention weights). Stabilized map: ``c = ‖u‖²/2``, ``F`` the
    sin/cos part.
    """

    _paired = True

    def closed_form_mse(self, Q, K, n_features: int | None = None):
        """Lemma 2 of Choromanski et al. (2021): :func:`rkbs.features.error.mse_trigonometric`."""
        from rkbs.features.error import mse_trigonometric

        self._check_iid()
        return mse_trigonometric(Q, K, self.n_components if n_features is None else n_features)

    def _features_log(self, U, side):
        self._check_input(U)
        xp = namespace(U)
        Wt = self._param("omega_t_", U)
        P = xp.matmul(U, Wt)
        F = xp.concat([xp.cos(P), xp.sin(P)], axis=-1) * math.sqrt(2.0 / self.n_components)
        return F, _sq_norm_half(U)


# ------------------------------------------------------------ random Maclaurin
def maclaurin_coefficients(kernel, n_max: int) -> np.ndarray:
    r"""Coefficients :math:`a_n \ge 0`, n = 0..n_max, of the dot-product kernel's series.

    EDP: :math:`a_n = 1/n!`; polynomial :math:`(u + c)^m`:
    :math:`a_n = \binom{m}{n} c^{m-n}` for n ≤ m, else 0.
    """
    if isinstance(kernel, EDPKernel):
        return np.array([math.exp(-math.lgamma(n + 1)) for n in range(n_max + 1)])
    if isinstance(kernel, PolynomialKernel):
        m, c = kernel.degree, kernel.c
        return np.array([math.comb(m, n) * c ** (m - n) if n <= m else 0.0
                         for n in range(n_max + 1)])
    raise ValueError(f"no Maclaurin series for {type(kernel).__name__}")


class SignedRandomFeaturePair(RandomFeaturePair):
    """Random features that are products of linear forms (signed; no exponentials).

    They cannot overflow where the kernel is representable, so there is no log-domain
    stabilization: :meth:`map_q_log` returns the features with log-scale 0, and the Gram
    estimate is the plain product :math:`\\Phi_X\\Phi_Y^\top`. Subclasses implement
    ``_features(U)``, the same map on both sides.
    """

    def map_q(self, Q):
        return self._features(Q)

    map_k = map_q

    def _features_log(self, U, side):
        F = self._features(U)
        return F, namespace(F).zeros_like(F[..., :1])

    def gram(self, X, Y):
        return FeaturePair.gram(self, X, Y)


class RandomMaclaurinFeatures(SignedRandomFeaturePair):
    r"""Random Maclaurin features of dot-product kernels (Kar & Karnick 2012, Alg. 1).

    For :math:`\kappa = \sum_n a_n (q\cdot k)^n`, :math:`a_n \ge 0`: feature r draws a
    degree :math:`N_r` with :math:`P(N_r = n) = 2^{-(n+1)}` and Rademacher vectors
    :math:`w_{r,1..N_r} \in \{\pm1\}^d`, and

    .. math::

        \varphi_r(u) = \frac{1}{\sqrt D}\sqrt{a_{N_r} 2^{N_r+1}}
        \prod_{l=1}^{N_r} w_{r,l}\cdot u,

    the same draws on both sides; :math:`\mathbb E\,\varphi(q)\cdot\varphi(k) =
    \kappa`. EDP: :math:`a_n = 1/n!`; polynomial :math:`(q\cdot k + c)^m`:
    :math:`a_n = \binom mn c^{m-n}`. Closed-form MSE in
    :func:`rkbs.features.error.mse_maclaurin`.
    """

    _kernel_type = (EDPKernel, PolynomialKernel)

    def __init__(self, kernel: EDPKernel | PolynomialKernel, n_components: int, *, seed=None,
                 max_memory: float | None = None):
        super().__init__(kernel, n_components, seed=seed, max_memory=max_memory)

    def _state_bytes(self, d: int) -> int:
        # the degree draw is known only after drawing; checked again in _draw
        return 2 * int(self.n_components) * 8

    def closed_form_mse(self, Q, K, n_features: int | None = None):
        """Kar & Karnick (2012): :func:`rkbs.features.error.mse_maclaurin`."""
        from rkbs.features.error import mse_maclaurin

        D = self.n_components if n_features is None else n_features
        return mse_maclaurin(Q, K, D, kernel=self.kernel)

    def _draw(self, d, rng):
        D = self.n_components
        self.degrees_ = rng.geometric(0.5, size=D) - 1  # P(n) = 2^-(n+1), n >= 0
        n_max = int(self.degrees_.max())
        check_allocation(2 * n_max * d * D * 8,
                         f"the Rademacher vectors of {type(self).__name__}, shape "
                         f"({n_max}, {d}, {D})", self.max_memory)
        a = maclaurin_coefficients(self.kernel, n_max)[self.degrees_]
        self.weights_ = np.sqrt(a * 2.0 ** (self.degrees_ + 1) / D)
        # Rademacher vectors, (n_max, d, D); factor l of feature r is used iff l < N_r
        self.rademacher_ = rng.choice(np.array([-1.0, 1.0]), size=(n_max, d, D))
        self.mask_ = (np.arange(n_max)[:, None] < self.degrees_[None, :]).astype(np.float64)

    def _features(self, U):
        self._check_input(U)
        out = self._param("weights_", U) * (U[..., :1] * 0.0 + 1.0)
        R, mask = self._param("rademacher_", U), self._param("mask_", U)
        xp = namespace(U)
        for l in range(R.shape[0]):
            P = xp.matmul(U, R[l])
            out = out * (P * mask[l] + (1.0 - mask[l]))
        return out




def estimators_for(kernel) -> list:
    """Estimator classes that approximate ``kernel`` (by their declared kernel type)."""
    out = []
    for cls in RandomFeaturePair._estimators:
        types = cls._kernel_type if isinstance(cls._kernel_type, tuple) else (cls._kernel_type,)
        if isinstance(kernel, types):
            out.append(cls)
    return out
