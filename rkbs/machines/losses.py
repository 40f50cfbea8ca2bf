r"""Losses of binary kernel machines, on a matrix of scores :math:`A_{ij}` (MATH.md §3).

Each loss is a sum over the observed pairs :math:`(i, j) \in \Omega` (a boolean mask,
all pairs by default):

* ``"squared"``: :math:`\ell(z, a) = \tfrac12 (z - a)^2`,
  :math:`\partial\ell/\partial a = a - z`;
* ``"logistic"`` (:math:`z = \pm 1`): :math:`\ell(z, a) = \log(1 + e^{-z a})`,
  :math:`\partial\ell/\partial a = -z\,\sigma(-z a)`;
* ``"softmax"`` (rows of Z are probability vectors P, e.g. attention maps):
  :math:`L_i = -\sum_j P_{ij} a_{ij} + \log\sum_j e^{a_{ij}}` over the observed
  entries of row i, :math:`\partial L_i/\partial a_{ij} = \operatorname{softmax}(a_i)_j - P_{ij}`.

Every function works on numpy arrays and torch tensors (leading batch axes allowed:
``(..., m, n)``), and :func:`loss_cvxpy` builds the same loss as a DCP cvxpy expression.
"""

from __future__ import annotations

from rkbs._backend import is_torch_array, namespace, to_numpy
from rkbs._checks import check_array

__all__ = [
    "LOSSES",
    "check_loss_targets",
    "loss_value",
    "loss_gradient",
    "loss_cvxpy",
    "masked_row_softmax",
    "loss_curvature",
    "predict_from_scores",
]

LOSSES = ("squared", "logistic", "softmax")

# Tolerance on row sums of probability targets: rows built in float64 from normalized
# data sum to 1 within a few ulps; 1e-6 also admits float32-normalized attention maps.
_ROW_SUM_TOL = 1e-6


def _check_name(loss: str) -> str:
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; valid losses: {', '.join(LOSSES)}")
    return loss


def _mask_like(mask, Z):
    xp = namespace(Z)
    if mask is None:
        return xp.ones(Z.shape, dtype=xp.bool, device=getattr(Z, "device", None))
    return mask


def check_loss_targets(loss: str, Z, mask=None):
    """Validate targets for ``loss``: Z (..., m, n) finite; mask boolean of Z's shape.

    Logistic targets must be ±1; softmax targets must be non-negative with rows summing
    to 1 over the observed entries (tolerance 1e-6).

    Returns
    -------
    Z, mask : arrays (mask is all-True when None was given)
    """
    _check_name(loss)
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
    if loss == "logistic":
        bad = Mn & ~((Zn == 1.0) | (Zn == -1.0))
        if bad.any():
            raise ValueError(
                f"logistic targets must be +1 or -1; found {int(bad.sum())} other values "
                f"(e.g. {Zn[bad][:3].tolist()})"
            )
    if loss == "softmax":
        if (Zn[Mn] < 0).any():
            raise ValueError("softmax targets must be non-negative probabilities")
        sums = (Zn * Mn).sum(axis=-1)
        rows = Mn.any(axis=-1)
        dev = abs(sums - 1.0)[rows]
        if (dev > _ROW_SUM_TOL).any():
            raise ValueError(
                "softmax targets must be rows of probabilities summing to 1 over the observed "
                f"entries; worst row sums to {float(sums[rows].flat[int(dev.argmax())]):.6g}"
            )
    return Z, mask


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


def loss_curvature(loss: str, Z, A, mask=None):
    r"""Entrywise second derivative :math:`\partial^2\ell/\partial a_{ij}^2`, shape (..., m, n).

    squared: 1; logistic: :math:`\sigma(za)(1 - \sigma(za)) = \sigma(|a|)(1 - \sigma(|a|))`
    (even in za, and z = ±1; no overflow); softmax: :math:`\pi_{ij}(1 - \pi_{ij})`, the
    diagonal of the row Hessian :math:`\operatorname{diag}\pi_i - \pi_i\pi_i^\top`.
    Zero off Ω.
    """
    _check_name(loss)
    xp = namespace(Z, A)
    mask = _mask_like(mask, Z)
    M = xp.astype(mask, A.dtype)
    if loss == "squared":
        return M
    if loss == "logistic":
        s = 1.0 / (1.0 + xp.exp(-xp.abs(A)))
        return s * (1.0 - s) * M
    P = masked_row_softmax(A, mask)
    return P * (1.0 - P)


def loss_value(loss: str, Z, A, mask=None):
    r"""Total loss :math:`\sum_{(i,j)\in\Omega} \ell(z_{ij}, a_{ij})` (softmax: sum of row losses).

    Parameters
    ----------
    Z, A : arrays of shape (..., m, n)
        Targets and scores. ``mask`` (same shape, bool) selects Ω.
    """
    _check_name(loss)
    xp = namespace(Z, A)
    mask = _mask_like(mask, Z)
    zero = xp.zeros_like(A)
    if loss == "squared":
        return xp.sum(xp.where(mask, 0.5 * (Z - A) ** 2, zero))
    if loss == "logistic":
        t = -Z * A
        # log(1 + e^t) = max(t, 0) + log1p(e^{-|t|}), stable for any t
        val = xp.clip(t, 0.0, None) + xp.log1p(xp.exp(-xp.abs(t)))
        return xp.sum(xp.where(mask, val, zero))
    lse, any_obs = _masked_row_logsumexp(A, mask)
    lin = xp.sum(xp.where(mask, Z * A, zero), axis=-1, keepdims=True)
    return xp.sum(xp.where(any_obs, lse - lin, xp.zeros_like(lse)))


def loss_gradient(loss: str, Z, A, mask=None):
    r"""Gradient :math:`G_{ij} = \partial L/\partial a_{ij}` (zero off Ω), shape (..., m, n).

    squared: :math:`a - z`; logistic: :math:`-z\,\sigma(-za)`; softmax:
    :math:`\operatorname{softmax}(a_i)_j - P_{ij}` over the observed entries of row i.
    """
    _check_name(loss)
    xp = namespace(Z, A)
    mask = _mask_like(mask, Z)
    zero = xp.zeros_like(A)
    if loss == "squared":
        return xp.where(mask, A - Z, zero)
    if loss == "logistic":
        t = -Z * A
        # σ(t) computed stably on both signs of t
        sig = xp.where(t >= 0, 1.0 / (1.0 + xp.exp(-xp.abs(t))),
                       xp.exp(-xp.abs(t)) / (1.0 + xp.exp(-xp.abs(t))))
        return xp.where(mask, -Z * sig, zero)
    return xp.where(mask, masked_row_softmax(A, mask) - Z, zero)


def loss_cvxpy(loss: str, Z, A_expr, mask=None):
    r"""The same total loss as a DCP cvxpy expression in the (m, n) score expression ``A_expr``.

    ``Z`` and ``mask`` are numpy arrays of shape (m, n) (2-d only). The softmax loss
    is an exponential-cone problem (``cp.log_sum_exp`` per row over observed entries).
    """
    import cvxpy as cp
    import numpy as np

    _check_name(loss)
    Z = np.asarray(to_numpy(Z), dtype=float)
    M = np.ones(Z.shape, bool) if mask is None else np.asarray(to_numpy(mask), bool)
    Mf = M.astype(float)
    if loss == "squared":
        return 0.5 * cp.sum_squares(cp.multiply(Mf, A_expr - Z))
    if loss == "logistic":
        return cp.sum(cp.multiply(Mf, cp.logistic(cp.multiply(-Z, A_expr))))
    if M.all():
        return cp.sum(cp.log_sum_exp(A_expr, axis=1)) - cp.sum(cp.multiply(Z, A_expr))
    terms = []
    for i in range(Z.shape[0]):
        cols = np.flatnonzero(M[i])
        if cols.size:
            terms.append(cp.log_sum_exp(A_expr[i, cols]) - Z[i, cols] @ A_expr[i, cols])
    return cp.sum(cp.hstack(terms))


def predict_from_scores(loss: str, H):
    r"""What a machine trained with ``loss`` predicts from its scores H (..., m, n), numpy.

    softmax: the row softmax of H; logistic: :math:`\sigma(H) = (1 + \tanh(H/2))/2`
    (no overflow for any H); squared: H itself.
    """
    import numpy as np

    _check_name(loss)
    H = np.asarray(H, dtype=float)
    if loss == "squared":
        return H
    if loss == "logistic":
        return 0.5 * (1.0 + np.tanh(0.5 * H))
    E = np.exp(H - H.max(-1, keepdims=True))
    return E / E.sum(-1, keepdims=True)
