r"""Losses of binary kernel machines, on a matrix of scores :math:`A_{ij}` (theory §3).

Each loss is a sum over the observed pairs :math:`(i, j) \in \Omega` (a boolean mask,
all pairs by default):

* ``"squared"``: :math:`\ell(z, a) = \tfrac12 (z - a)^2`,
  :math:`\partial\ell/\partial a = a - z`;
* ``"logistic"`` (:math:`z = \pm 1`): :math:`\ell(z, a) = \log(1 + e^{-z a})`,
  :math:`\partial\ell/\partial a = -z\,\sigma(-z a)`;
* ``"softmax"`` (rows of Z are probability vectors P, e.g. attention maps):
  :math:`L_i = -\sum_j P_{ij} a_{ij} + \log\sum_j e^{a_{ij}}` over the observed
  entries of row i, :math:`\partial L_i/\partial a_{ij} = \operatorname{softmax}(a_i)_j - P_{ij}`.

**Losses are objects** (:class:`Loss`) in one registry (:func:`register_loss`,
:func:`get_loss`): each declares its value, gradient, Hessian (in the form
:math:`\nabla^2_{A_i} L = \operatorname{diag}(h_i) - u_iu_i^\top` per row i, u = 0 for
entrywise losses), Hessian root, curvature bound, cvxpy expression, prediction and
target check; every solver reads them from there, so a new loss is one class
(docs/extending.md). The functions ``loss_value("logistic", ...)`` etc. are thin
wrappers. Everything works on numpy arrays and torch tensors (leading batch axes
allowed: ``(..., m, n)``).
"""

from __future__ import annotations

import math

from rkbs._backend import is_torch_array, namespace, to_numpy
from rkbs._checks import check_array

__all__ = [
    "LOSSES",
    "Loss",
    "EntrywiseLoss",
    "SquaredLoss",
    "LogisticLoss",
    "SoftmaxLoss",
    "register_loss",
    "get_loss",
    "loss_names",
    "check_loss_targets",
    "loss_value",
    "loss_gradient",
    "loss_cvxpy",
    "masked_row_softmax",
    "loss_curvature",
    "loss_hessian_terms",
    "predict_from_scores",
    "check_loss",
]

# Tolerance on row sums of probability targets: rows built in float64 from normalized
# data sum to 1 within a few ulps; 1e-6 also admits float32-normalized attention maps.
_ROW_SUM_TOL = 1e-6


def _mask_like(mask, Z):
    xp = namespace(Z)
    if mask is None:
        return xp.ones(Z.shape, dtype=xp.bool, device=getattr(Z, "device", None))
    return mask


def _masked_row_logsumexp(A, mask):
    xp = namespace(A)
    neg = xp.asarray(-float("inf"), dtype=A.dtype, device=getattr(A, "device", None))
    Am = xp.where(mask, A, neg)
    mx = xp.max(Am, axis=-1, keepdims=True)
    mx = xp.where(xp.isfinite(mx), mx, xp.zeros_like(mx))
    s = xp.sum(xp.where(mask, xp.exp(A - mx), xp.zeros_like(A)), axis=-1, keepdims=True)
    any_obs = xp.any(mask, axis=-1, keepdims=True)
    s = xp.where(any_obs, s, xp.ones_like(s))
    return xp.log(s) + mx, any_obs


def masked_row_softmax(A, mask=None):
    r"""Row softmax over the observed entries, :math:`\pi_{ij} = e^{a_{ij}}/\sum_{l\in\Omega_i} e^{a_{il}}`.

    Shape (..., m, n); 0 off Ω and in rows with no observed entry. The softmax loss's
    gradient is :math:`\pi - P` and its row Hessian :math:`\operatorname{diag}\pi - \pi\pi^\top`.
    """
    xp = namespace(A)
    mask = _mask_like(mask, A)
    lse, _ = _masked_row_logsumexp(A, mask)
    zero = xp.zeros_like(A)
    return xp.where(mask, xp.exp(xp.where(mask, A, zero) - lse), zero)




class Loss:
    r"""A loss :math:`L(Z, A) = \sum_{(i,j)\in\Omega}\ell(z_{ij}, a_{ij})` (or a sum of row
    losses) on scores A (..., m, n), with everything the solvers need.

    Subclass and :func:`register_loss` an instance to add a loss. Class attributes:

    name : str
        Registry key (``BinaryKernelMachine(loss=name)``).
    curvature_bound : float
        :math:`\sup\lVert\nabla^2_{A_i} L\rVert_2` over scores, per row (step size of
        first-order solvers: the Lipschitz constant of the gradient).
    cone : {"power", "exponential"}
        The cone cvxpy needs (sets the default interior-point tolerance: exponential
        cones end ``optimal_inaccurate`` at 1e-8 on some problems, measured).
    homogeneous : bool
        :math:`L(sZ, sA) = s^2 L(Z, A)` (the squared loss): the machines then rescale
        badly scaled targets before solving.
    """

    name: str = ""
    curvature_bound: float = math.inf
    cone: str = "power"
    homogeneous: bool = False
    #: L(Z, A + c 1ᵀ) = L(Z, A) for every row shift c (the row softmax): under the
    #: additive coupling f then does not enter the loss and f* = 0.
    row_shift_invariant: bool = False

    def value(self, Z, A, mask=None):
        """Total loss (a 0-d array)."""
        raise NotImplementedError

    def row_value(self, Z, A, mask=None):
        """Loss of each row (the last axis summed), shape ``A.shape[:-1]``; its sum is
        :meth:`value`. Only for row-local losses (all registered ones); used by the per-row
        warm start of the matrix-free dual solver."""
        raise NotImplementedError

    def gradient(self, Z, A, mask=None):
        r""":math:`G = \partial L/\partial A` (zero off Ω), shape of A."""
        raise NotImplementedError

    def hessian_terms(self, Z, A, mask=None):
        r"""``(h, u)``: the Hessian of row i in its scores is
        :math:`\operatorname{diag}(h_i) - u_iu_i^\top`; ``u`` is None for entrywise losses.
        Zero off Ω."""
        raise NotImplementedError

    def curvature(self, Z, A, mask=None):
        r"""Diagonal of the Hessian, :math:`h - u\odot u` (shape of A)."""
        h, u = self.hessian_terms(Z, A, mask)
        return h if u is None else h - u * u

    def hvp(self, Z, A, mask, E):
        r"""Hessian-vector product in the scores: :math:`h\odot E - u\,(u\cdot E)_{\text{row}}`."""
        h, u = self.hessian_terms(Z, A, mask)
        out = h * E
        if u is not None:
            xp = namespace(E)
            out = out - u * xp.sum(u * E, axis=-1, keepdims=True)
        return out

    def hessian_root(self, Z, A, mask=None):
        r"""``(R, Rt)``: functions on score arrays with :math:`\nabla^2_A L = R^\top R`.

        Default (entrywise): :math:`R = \operatorname{diag}(\sqrt h)`.
        """
        h, u = self.hessian_terms(Z, A, mask)
        if u is not None:
            raise NotImplementedError(f"{type(self).__name__} must define hessian_root")
        xp = namespace(h)
        sq = xp.sqrt(h)

        def R(E):
            return sq * E

        return R, R

    def cvxpy(self, Z, A_expr, mask=None):
        """The total loss as a DCP cvxpy expression in the (m, n) score expression."""
        raise NotImplementedError(f"loss {self.name!r} has no cvxpy form; use solver='torch'")

    def predict(self, H):
        """What a machine trained with this loss predicts from scores H (numpy)."""
        import numpy as np

        return np.asarray(H, dtype=float)

    def decide(self, H):
        """What :meth:`BinaryKernelMachine.predict <rkbs.machines.BinaryKernelMachine.predict>`
        returns: :meth:`predict` by default (logistic: ±1 labels)."""
        return self.predict(H)

    def check_targets(self, Z, mask) -> None:
        """Raise ValueError when numpy targets Z are invalid on the observed mask."""

    def sample_targets(self, m: int, n: int, rng):
        """Valid random targets (m, n) for tests and examples (default: Gaussian)."""
        return rng.standard_normal((m, n))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class EntrywiseLoss(Loss):
    r"""A loss :math:`\sum_\Omega \ell(z_{ij}, a_{ij})`: define ``ell``, ``d1``, ``d2``
    (elementwise :math:`\ell, \partial_a\ell, \partial_a^2\ell` on arrays) and the rest
    follows (u = 0, :math:`h = \partial_a^2\ell`)."""

    def ell(self, Z, A):
        raise NotImplementedError

    def d1(self, Z, A):
        raise NotImplementedError

    def d2(self, Z, A):
        raise NotImplementedError

    def value(self, Z, A, mask=None):
        xp = namespace(Z, A)
        mask = _mask_like(mask, Z)
        return xp.sum(xp.where(mask, self.ell(Z, A), xp.zeros_like(A)))

    def row_value(self, Z, A, mask=None):
        xp = namespace(Z, A)
        mask = _mask_like(mask, Z)
        return xp.sum(xp.where(mask, self.ell(Z, A), xp.zeros_like(A)), axis=-1)

    def gradient(self, Z, A, mask=None):
        xp = namespace(Z, A)
        mask = _mask_like(mask, Z)
        return xp.where(mask, self.d1(Z, A), xp.zeros_like(A))

    def hessian_terms(self, Z, A, mask=None):
        xp = namespace(Z, A)
        mask = _mask_like(mask, Z)
        return xp.where(mask, self.d2(Z, A) + xp.zeros_like(A), xp.zeros_like(A)), None


class SquaredLoss(EntrywiseLoss):
    r""":math:`\ell(z, a) = \tfrac12(z - a)^2`, :math:`\ell' = a - z`, :math:`\ell'' = 1`."""

    name = "squared"
    curvature_bound = 1.0
    homogeneous = True

    def ell(self, Z, A):
        return 0.5 * (Z - A) ** 2

    def d1(self, Z, A):
        return A - Z

    def d2(self, Z, A):
        return namespace(A).ones_like(A)

    def cvxpy(self, Z, A_expr, mask=None):
        import cvxpy as cp

        Z, Mf = _cvx_data(Z, mask)
        return 0.5 * cp.sum_squares(cp.multiply(Mf, A_expr - Z))


class LogisticLoss(EntrywiseLoss):
    r""":math:`\ell(z, a) = \log(1 + e^{-za})` for z = ±1; :math:`\ell' = -z\sigma(-za)`,
    :math:`\ell'' = \sigma(|a|)(1 - \sigma(|a|)) \le 1/4` (even in za; no overflow)."""

    name = "logistic"
    curvature_bound = 0.25
    cone = "exponential"

    def ell(self, Z, A):
        xp = namespace(Z, A)
        t = -Z * A
        # log(1 + e^t) = max(t, 0) + log1p(e^{-|t|}), stable for any t
        return xp.clip(t, 0.0, None) + xp.log1p(xp.exp(-xp.abs(t)))

    def d1(self, Z, A):
        xp = namespace(Z, A)
        t = -Z * A
        # σ(t) computed stably on both signs of t
        e = xp.exp(-xp.abs(t))
        sig = xp.where(t >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        return -Z * sig

    def d2(self, Z, A):
        xp = namespace(Z, A)
        s = 1.0 / (1.0 + xp.exp(-xp.abs(A)))
        return s * (1.0 - s)

    def cvxpy(self, Z, A_expr, mask=None):
        import cvxpy as cp

        Z, Mf = _cvx_data(Z, mask)
        return cp.sum(cp.multiply(Mf, cp.logistic(cp.multiply(-Z, A_expr))))

    def predict(self, H):
        r""":math:`\sigma(H) = (1 + \tanh(H/2))/2` (no overflow for any H)."""
        import numpy as np

        return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(H, dtype=float)))

    def sample_targets(self, m: int, n: int, rng):
        """Random ±1 labels."""
        import numpy as np

        return np.where(rng.standard_normal((m, n)) >= 0, 1.0, -1.0)

    def decide(self, H):
        """±1 labels: sign of the score (0 → +1)."""
        import numpy as np

        return np.where(np.asarray(H, dtype=float) >= 0, 1.0, -1.0)

    def check_targets(self, Z, mask) -> None:
        bad = mask & ~((Z == 1.0) | (Z == -1.0))
        if bad.any():
            raise ValueError(
                f"logistic targets must be +1 or -1; found {int(bad.sum())} other values "
                f"(e.g. {Z[bad][:3].tolist()})")


class SoftmaxLoss(Loss):
    r"""Row-softmax cross-entropy :math:`L_i = -\sum_j P_{ij}a_{ij} + \log\sum_j e^{a_{ij}}`
    over the observed entries of row i; gradient :math:`\pi - P`, row Hessian
    :math:`\operatorname{diag}\pi_i - \pi_i\pi_i^\top` (h = u = π), whose norm is ≤ 1/2."""

    name = "softmax"
    curvature_bound = 0.5
    cone = "exponential"
    row_shift_invariant = True

    def value(self, Z, A, mask=None):
        xp = namespace(Z, A)
        mask = _mask_like(mask, Z)
        lse, any_obs = _masked_row_logsumexp(A, mask)
        lin = xp.sum(xp.where(mask, Z * A, xp.zeros_like(A)), axis=-1, keepdims=True)
        return xp.sum(xp.where(any_obs, lse - lin, xp.zeros_like(lse)))

    def row_value(self, Z, A, mask=None):
        xp = namespace(Z, A)
        mask = _mask_like(mask, Z)
        lse, any_obs = _masked_row_logsumexp(A, mask)
        lin = xp.sum(xp.where(mask, Z * A, xp.zeros_like(A)), axis=-1, keepdims=True)
        return xp.where(any_obs, lse - lin, xp.zeros_like(lse))[..., 0]

    def gradient(self, Z, A, mask=None):
        xp = namespace(Z, A)
        mask = _mask_like(mask, Z)
        return xp.where(mask, masked_row_softmax(A, mask) - Z, xp.zeros_like(A))

    def hessian_terms(self, Z, A, mask=None):
        P = masked_row_softmax(A, _mask_like(mask, Z))
        return P, P

    def hessian_root(self, Z, A, mask=None):
        r""":math:`R_i = \operatorname{diag}(\sqrt{\pi_i})(I - \mathbf 1\pi_i^\top)`, since
        :math:`(I - \pi\mathbf 1^\top)\operatorname{diag}(\pi)(I - \mathbf 1\pi^\top)
        = \operatorname{diag}(\pi) - \pi\pi^\top`."""
        xp = namespace(A)
        P = masked_row_softmax(A, _mask_like(mask, Z))
        sq = xp.sqrt(P)

        def R(E):
            return sq * (E - xp.sum(P * E, axis=-1, keepdims=True))

        def Rt(U):
            V = sq * U
            return V - P * xp.sum(V, axis=-1, keepdims=True)

        return R, Rt

    def cvxpy(self, Z, A_expr, mask=None):
        import cvxpy as cp
        import numpy as np

        Z = np.asarray(to_numpy(Z), dtype=float)
        M = np.ones(Z.shape, bool) if mask is None else np.asarray(to_numpy(mask), bool)
        if M.all():
            return cp.sum(cp.log_sum_exp(A_expr, axis=1)) - cp.sum(cp.multiply(Z, A_expr))
        terms = []
        for i in range(Z.shape[0]):
            cols = np.flatnonzero(M[i])
            if cols.size:
                terms.append(cp.log_sum_exp(A_expr[i, cols]) - Z[i, cols] @ A_expr[i, cols])
        return cp.sum(cp.hstack(terms))

    def predict(self, H):
        """The row softmax of H."""
        import numpy as np

        H = np.asarray(H, dtype=float)
        E = np.exp(H - H.max(-1, keepdims=True))
        return E / E.sum(-1, keepdims=True)

    def sample_targets(self, m: int, n: int, rng):
        """Rows of a softmax of Gaussians (probability vectors)."""
        return self.predict(rng.standard_normal((m, n)))

    def decide(self, H):
        """Row-softmax probabilities (a 1-d H is one row)."""
        import numpy as np

        return self.predict(np.atleast_2d(H))

    def check_targets(self, Z, mask) -> None:
        if (Z[mask] < 0).any():
            raise ValueError("softmax targets must be non-negative probabilities")
        sums = (Z * mask).sum(axis=-1)
        rows = mask.any(axis=-1)
        dev = abs(sums - 1.0)[rows]
        if (dev > _ROW_SUM_TOL).any():
            raise ValueError(
                "softmax targets must be rows of probabilities summing to 1 over the observed "
                f"entries; worst row sums to {float(sums[rows].flat[int(dev.argmax())]):.6g}")


def _cvx_data(Z, mask):
    import numpy as np

    Z = np.asarray(to_numpy(Z), dtype=float)
    M = np.ones(Z.shape, bool) if mask is None else np.asarray(to_numpy(mask), bool)
    return Z, M.astype(float)


_REGISTRY: dict = {}


def register_loss(loss: Loss, *, replace: bool = False) -> Loss:
    """Add ``loss`` (a :class:`Loss` instance) to the registry under ``loss.name``."""
    global LOSSES
    if not isinstance(loss, Loss):
        raise TypeError(f"register_loss needs a Loss instance, got {type(loss).__name__}")
    if not loss.name or not isinstance(loss.name, str):
        raise ValueError(f"{type(loss).__name__}.name must be a non-empty string")
    if loss.name in _REGISTRY and not replace:
        raise ValueError(f"a loss named {loss.name!r} is already registered "
                         "(replace=True to override)")
    _REGISTRY[loss.name] = loss
    LOSSES = tuple(_REGISTRY)
    return loss


def get_loss(loss) -> Loss:
    """The :class:`Loss` for a registered name (or the object itself)."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in _REGISTRY:
        return _REGISTRY[loss]
    raise ValueError(f"unknown loss {loss!r}; valid losses: {', '.join(_REGISTRY)}")


def loss_names() -> tuple:
    """Names of the registered losses (current, including ones added later)."""
    return tuple(_REGISTRY)


for _cls in (SquaredLoss, LogisticLoss, SoftmaxLoss):
    register_loss(_cls())

#: Names of the built-in losses (a snapshot; :func:`loss_names` is always current).
LOSSES = tuple(_REGISTRY)


def _check_name(loss) -> Loss:
    return get_loss(loss)


def check_loss_targets(loss, Z, mask=None):
    """Validate targets for ``loss``: Z (..., m, n) finite; mask boolean of Z's shape.

    Logistic targets must be ±1; softmax targets must be non-negative with rows summing
    to 1 over the observed entries (tolerance 1e-6); other losses check their own
    (:meth:`Loss.check_targets`).

    Returns
    -------
    Z, mask : arrays (mask is all-True when None was given)
    """
    obj = get_loss(loss)
    if Z is None:
        raise ValueError("targets Z are required")
    ndim = getattr(Z, "ndim", None)
    if ndim is None:
        import numpy as np

        Z = np.asarray(Z, dtype=float)
        ndim = Z.ndim
    if ndim < 2:
        raise ValueError(f"Z must be at least 2-dimensional (m, n), got shape {tuple(Z.shape)}")
    Z = check_array(Z, "Z", ndim=ndim)
    xp = namespace(Z)
    if mask is not None:
        if tuple(mask.shape) != tuple(Z.shape):
            raise ValueError(
                f"mask shape {tuple(mask.shape)} does not match Z shape {tuple(Z.shape)}"
            )
        # numpy >= 2 arrays also have .device: test the backend, not the attribute
        mask = mask.bool() if is_torch_array(mask) else xp.astype(xp.asarray(mask), xp.bool)
    mask = _mask_like(mask, Z)
    Zn, Mn = to_numpy(Z), to_numpy(mask).astype(bool)
    if not Mn.any():
        raise ValueError("mask selects no observed pair")
    obj.check_targets(Zn, Mn)
    return Z, mask


def loss_curvature(loss, Z, A, mask=None):
    r"""Entrywise second derivative :math:`\partial^2\ell/\partial a_{ij}^2`, shape (..., m, n).

    squared: 1; logistic: :math:`\sigma(|a|)(1 - \sigma(|a|))`; softmax:
    :math:`\pi_{ij}(1 - \pi_{ij})`, the diagonal of the row Hessian. Zero off Ω.
    (:meth:`Loss.curvature`.)
    """
    xp = namespace(Z, A)
    out = get_loss(loss).curvature(Z, A, mask)
    return xp.where(_mask_like(mask, Z), out, xp.zeros_like(A))


def loss_hessian_terms(loss, Z, A, mask=None):
    r"""``(h, u)`` with row Hessians :math:`\operatorname{diag}(h_i) - u_iu_i^\top`
    (:meth:`Loss.hessian_terms`)."""
    return get_loss(loss).hessian_terms(Z, A, mask)


def loss_value(loss, Z, A, mask=None):
    r"""Total loss :math:`\sum_{(i,j)\in\Omega} \ell(z_{ij}, a_{ij})` (softmax: sum of row losses).

    Parameters
    ----------
    Z, A : arrays of shape (..., m, n)
        Targets and scores. ``mask`` (same shape, bool) selects Ω.
    """
    return get_loss(loss).value(Z, A, mask)


def loss_gradient(loss, Z, A, mask=None):
    r"""Gradient :math:`G_{ij} = \partial L/\partial a_{ij}` (zero off Ω), shape (..., m, n).

    squared: :math:`a - z`; logistic: :math:`-z\,\sigma(-za)`; softmax:
    :math:`\operatorname{softmax}(a_i)_j - P_{ij}` over the observed entries of row i.
    """
    return get_loss(loss).gradient(Z, A, mask)


def loss_cvxpy(loss, Z, A_expr, mask=None):
    r"""The same total loss as a DCP cvxpy expression in the (m, n) score expression ``A_expr``.

    ``Z`` and ``mask`` are numpy arrays of shape (m, n) (2-d only). The softmax loss
    is an exponential-cone problem (``cp.log_sum_exp`` per row over observed entries).
    """
    return get_loss(loss).cvxpy(Z, A_expr, mask)


def predict_from_scores(loss, H):
    r"""What a machine trained with ``loss`` predicts from its scores H (..., m, n), numpy.

    softmax: the row softmax of H; logistic: :math:`\sigma(H) = (1 + \tanh(H/2))/2`
    (no overflow for any H); squared: H itself.
    """
    return get_loss(loss).predict(H)


def check_loss(loss, *, m: int = 4, n: int = 5, seed=0, cvxpy: bool = True) -> dict:
    r"""Check a loss's declared derivatives against its value, by another route.

    On random scores A (m, n) and targets from :meth:`Loss.sample_targets` (or
    Gaussian/±1/probability rows as the targets allow): central finite differences of
    :meth:`Loss.value` against :meth:`Loss.gradient`, of the gradient against
    :meth:`Loss.hvp`, :math:`R^\top R` from :meth:`Loss.hessian_root` against the
    Hessian from :meth:`Loss.hessian_terms`, the largest row-Hessian eigenvalue against
    ``curvature_bound`` and (``cvxpy=True``) the cvxpy expression's value against
    :meth:`Loss.value`.

    Returns
    -------
    dict
        Relative errors ``gradient``, ``hvp``, ``root`` and ``cvxpy`` (each ≲ 1e-6 for a
        correct loss: central differences with step 1e-5 err by O(h²) plus
        O(eps/h) ≈ 1e-10 relative), and ``bound_ratio`` (largest eigenvalue /
        ``curvature_bound``, ≤ 1 for a correct bound).
    """
    import numpy as np

    from rkbs._checks import check_random_state

    obj = get_loss(loss)
    rng = check_random_state(seed)
    A = rng.standard_normal((m, n))
    Z = obj.sample_targets(m, n, rng)
    M = np.ones((m, n), bool)
    h = 1e-5
    G = np.asarray(obj.gradient(Z, A, M), float)
    E = rng.standard_normal((m, n))
    fd = (float(obj.value(Z, A + h * E, M)) - float(obj.value(Z, A - h * E, M))) / (2 * h)
    out = {"gradient": abs(fd - float(np.sum(G * E))) / max(abs(fd), 1e-300)}
    Hv = np.asarray(obj.hvp(Z, A, M, E), float)
    fdg = (np.asarray(obj.gradient(Z, A + h * E, M)) - np.asarray(obj.gradient(Z, A - h * E, M))
           ) / (2 * h)
    out["hvp"] = float(np.linalg.norm(fdg - Hv) / max(np.linalg.norm(fdg), 1e-300))
    R, Rt = obj.hessian_root(Z, A, M)
    RtR = np.asarray(Rt(R(E)), float)
    out["root"] = float(np.linalg.norm(RtR - Hv) / max(np.linalg.norm(Hv), 1e-300))
    hh, u = obj.hessian_terms(Z, A, M)
    hh = np.asarray(hh, float)
    worst = 0.0
    for i in range(m):
        S = np.diag(hh[i]) - (0.0 if u is None else np.outer(u[i], u[i]))
        worst = max(worst, float(np.linalg.eigvalsh(S).max()))
    out["bound_ratio"] = worst / obj.curvature_bound
    if cvxpy:
        import cvxpy as cp

        Av = cp.Variable((m, n))
        Av.value = A
        expr = obj.cvxpy(Z, Av, M)
        val = float(obj.value(Z, A, M))
        out["cvxpy"] = abs(float(expr.value) - val) / max(abs(val), 1e-300)
    return out
