r"""Kernelized attention: exact (quadratic) and feature-map (linear-time) paths.

Attention with a non-negative binary kernel κ (Wright & Gonzalez 2021, eq. (9)–(10);
MATH.md §6) is

.. math::

    \operatorname{Attn}(t_i) = \sum_j \frac{\kappa(t_i, s_j)}{\sum_{j'} \kappa(t_i, s_{j'})}\, v_j .

*Exact path* (:func:`kernel_attention`): the weights are
:math:`\operatorname{softmax}_j(\log\kappa(q_i, k_j))`, computed from
``kernel.log_from_qk`` of :mod:`rkbs.kernels` (log space, so exponentiating kernels never
overflow). With the EDP kernel this *is* softmax attention.

*Feature path* (:func:`feature_attention`): with a feature pair
:math:`\kappa(q, k) \approx \varphi_X(q)^\top \varphi_Y(k)` from :mod:`rkbs.features`,

.. math::

    \operatorname{Attn}(t_i) = \frac{\varphi_X(q_i)^\top \sum_j \varphi_Y(k_j) v_j^\top}
                                  {\varphi_X(q_i)^\top \sum_j \varphi_Y(k_j)},

linear in the sequence length (Katharopoulos et al. 2020; Choromanski et al. 2021).
The causal version replaces the sums by prefix sums over :math:`j \le i`, computed
block-wise (exact within a block, a carried running state across blocks).

Both functions act on **already projected and scaled** queries and keys,
``q = W_Q t / d^{1/4}``, ``k = W_K s / d^{1/4}`` of shape ``(B, H, L, d)``: the kernels
and feature pairs they use must therefore have identity maps and ``scale=None``
(:func:`make_attention` builds them that way).

The attention kernels themselves are :mod:`rkbs.kernels` / :mod:`rkbs.features`
objects, parsed by name in :mod:`rkbs.features.registry`; ``EluKernel``,
``EluFeatures``, ``TruncatedEDPKernel``, ``DPFPKernel`` and ``DPFPFeatures`` are
re-exported here for the old import paths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from rkbs.features import (
    DPFPFeatures,
    EluFeatures,
    FeaturePair,
    PolynomialFeatures,
    PositiveRandomFeatures,
    RandomFeaturePair,
    TaylorFeatures,
)
from rkbs.features.registry import attention_kernel_names, build_attention_kernel
from rkbs.kernels import BinaryKernel, DPFPKernel, EluKernel, TruncatedEDPKernel

__all__ = [
    "AttentionSpec",
    "DPFPFeatures",
    "DPFPKernel",
    "EluFeatures",
    "TruncatedEDPKernel",
    "EluKernel",
    "attention",
    "attention_names",
    "feature_attention",
    "kernel_attention",
    "make_attention",
]


# ------------------------------------------------------------------ validation
def _check_qkv(q, k, v, causal: bool):
    for name, a in (("q", q), ("k", k), ("v", v)):
        if not torch.is_tensor(a):
            raise ValueError(f"{name} must be a torch tensor, got {type(a).__name__}")
        if a.ndim < 2:
            raise ValueError(f"{name} must have shape (..., L, d), got {tuple(a.shape)}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"queries and keys must have the same head dimension, got q {tuple(q.shape)} "
            f"and k {tuple(k.shape)}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"keys and values must have the same length, got k {tuple(k.shape)} and "
            f"v {tuple(v.shape)}"
        )
    if q.shape[-2] == 0 or k.shape[-2] == 0 or q.numel() == 0:
        raise ValueError(
            f"attention needs non-empty inputs, got q {tuple(q.shape)}, k {tuple(k.shape)}"
        )
    if causal and q.shape[-2] != k.shape[-2]:
        raise ValueError(
            f"causal attention needs as many queries as keys, got {q.shape[-2]} and "
            f"{k.shape[-2]}"
        )


def _why_negative(obj) -> str | None:
    """None when ``obj`` (kernel or feature pair) gives non-negative weights, else why not.

    Feature pairs declare it with a ``nonnegative_features`` attribute (elu+1, DPFP);
    Taylor, polynomial and positive random features are recognized by class.
    """
    if isinstance(obj, FeaturePair):
        declared = getattr(obj, "nonnegative_features", None)
        if declared is not None:
            return None if declared else (
                f"{type(obj).__name__} declares feature products that can be negative")
        if isinstance(obj, TaylorFeatures):
            if obj.degree % 2:
                return (
                    f"Taylor features of odd degree {obj.degree} give a truncated exponential "
                    "series that is negative for large negative q·k; use an even degree"
                )
            return None
        if isinstance(obj, PolynomialFeatures):
            return _why_negative(obj.kernel)
        if isinstance(obj, PositiveRandomFeatures):  # FAVOR+ and its hyperbolic variant
            return None
        return (
            f"{type(obj).__name__} can produce negative feature products (only positive "
            "random features, even Taylor truncations, even polynomial features, elu+1 and "
            "DPFP are allowed)"
        )
    if not obj.nonnegative:
        extra = ""
        if getattr(obj, "degree", None) is not None:
            extra = f" (degree {obj.degree} is odd)"
        return (
            f"the {obj.name} kernel{extra} takes negative values, so κ(t, s)/Σκ is not a "
            "probability vector"
        )
    return None


def _ratio(num, den):
    """``num / den`` with 0 where ``den == 0``.

    Attention weights are non-negative, so a zero normalizer means every term of the row
    (and so ``num``) is zero: the query attends to nothing and its output is 0. Only
    kernels that can vanish reach this (DPFP: products of ReLUs of opposite signs);
    0/0 would put a NaN into the forward pass and the gradient.
    """
    return num / torch.where(den > 0, den, torch.ones_like(den))


# ----------------------------------------------------------------- exact path
def kernel_attention(q, k, v, kernel: BinaryKernel, *, causal: bool = False,
                     key_padding_mask=None, need_weights: bool = False):
    r"""Exact kernelized attention :math:`\sum_j \kappa(q_i,k_j) v_j / \sum_j \kappa(q_i,k_j)`.

    Parameters
    ----------
    q : tensor of shape (..., L, d)
        Projected, scaled queries :math:`q_i = W_Q t_i / d^{1/4}`.
    k : tensor of shape (..., S, d)
        Projected, scaled keys :math:`k_j = W_K s_j / d^{1/4}`.
    v : tensor of shape (..., S, d_v)
        Values.
    kernel : BinaryKernel
        A non-negative kernel with identity maps and ``scale=None`` (its ``log_from_qk``
        is applied to q, k as given).
    causal : bool
        Query i sees keys j ≤ i only (needs L = S).
    key_padding_mask : bool tensor of shape (B, S), optional
        True marks padding keys, which get zero weight.
    need_weights : bool
        Also return the weights.

    Returns
    -------
    out : tensor of shape (..., L, d_v)
    weights : tensor of shape (..., L, S), only with ``need_weights``
        Row-stochastic: :math:`\operatorname{softmax}_j \log\kappa(q_i, k_j)` for kernels
        that exponentiate (log space), :math:`\kappa_{ij}/\sum_j \kappa_{ij}` otherwise;
        a row whose κ all vanish (possible for DPFP) is zero, and so is its output.
    """
    _check_qkv(q, k, v, causal)
    why = _why_negative(kernel)
    if why:
        raise ValueError(f"cannot use this kernel as attention weights: {why}")
    L, S = q.shape[-2], k.shape[-2]
    masked = None
    if causal:
        masked = torch.ones(L, S, dtype=torch.bool, device=q.device).triu(1)  # (L, S)
    if key_padding_mask is not None:
        pad = key_padding_mask.reshape(key_padding_mask.shape[0], *([1] * (q.ndim - 3)), 1, S)
        masked = pad if masked is None else masked | pad  # (B, 1.., L|1, S)
    if kernel.exponentiates:
        logits = kernel.log_from_qk(q, k)  # (..., L, S), log space: no overflow
        if masked is not None:
            logits = logits.masked_fill(masked, -math.inf)
        weights = torch.softmax(logits, dim=-1)  # (..., L, S)
    else:
        # κ itself (polynomial, elu+1, truncated series): the log route would put a
        # 1/κ singularity into the gradient where a learned κ reaches 0 (e.g. (u + 1)^2
        # at u = -1), which made poly2 training diverge to NaN.
        kern = kernel.from_qk(q, k)  # (..., L, S), >= 0
        if masked is not None:
            kern = kern.masked_fill(masked, 0.0)
        weights = _ratio(kern, kern.sum(dim=-1, keepdim=True))
    out = weights @ v
    return (out, weights) if need_weights else out


# --------------------------------------------------------------- feature path
def _stable_features(features: FeaturePair, q, k, key_padding_mask):
    """φ_X(q), φ_Y(k) (padding keys zeroed); random features through their log maps.

    Random pairs give :math:`\varphi(u) = F e^{c}` with a per-row log-scale c
    (``map_q_log``/``map_k_log``). A factor shared by one query's features, or by all
    keys of one sequence and head, cancels in the attention ratio, so the query scale is
    dropped and the key scales are shifted by their max over the (unpadded) keys.
    """
    if isinstance(features, RandomFeaturePair):
        fq, _ = features.map_q_log(q)  # (..., L, D), per-query scale dropped
        fk, ck = features.map_k_log(k)  # (..., S, D), (..., S, 1)
        if key_padding_mask is not None:
            pad = key_padding_mask.reshape(key_padding_mask.shape[0],
                                           *([1] * (ck.ndim - 3)), ck.shape[-2], 1)
            ck = ck.masked_fill(pad, -math.inf)
        ck = ck - ck.amax(dim=-2, keepdim=True).detach()
        return fq, fk * torch.exp(ck)
    fq, fk = features.map_q(q), features.map_k(k)
    if key_padding_mask is not None:
        keep = ~key_padding_mask  # (B, S)
        keep = keep.reshape(keep.shape[0], *([1] * (fk.ndim - 3)), fk.shape[-2], 1)
        fk = fk * keep.to(fk.dtype)
    return fq, fk


def feature_attention(q, k, v, features: FeaturePair, *, causal: bool = False,
                      key_padding_mask=None, need_weights: bool = False, chunk: int = 64):
    r"""Linear-time attention through a feature pair (prefix sums when causal).

    .. math::

        \operatorname{out}_i = \frac{\varphi_X(q_i)^\top S_i}{\varphi_X(q_i)^\top z_i},
        \quad S_i = \sum_{j \in N(i)} \varphi_Y(k_j) v_j^\top,\quad
        z_i = \sum_{j \in N(i)} \varphi_Y(k_j),

    with :math:`N(i)` all keys, or :math:`j \le i` when causal (block-wise prefix sums:
    inside a block of ``chunk`` positions the masked products are formed directly, across
    blocks the state :math:`(S, z)` is carried). Cost :math:`O(L D d_v)`.

    Parameters
    ----------
    q, k, v : tensors of shape (..., L, d), (..., S, d), (..., S, d_v)
        As in :func:`kernel_attention` (projected, scaled).
    features : FeaturePair
        Fitted (or auto-fitting) pair with identity maps and ``scale=None`` on its kernel,
        whose feature products are non-negative.
    need_weights : bool
        Also return the (quadratic) weight matrix
        :math:`\varphi_X(q_i)^\top\varphi_Y(k_j) / \sum_{j'}(\cdot)`, for inspection.

    Returns
    -------
    out : tensor (..., L, d_v); weights : tensor (..., L, S) with ``need_weights``.
        A query whose feature products with every visible key vanish (possible for DPFP,
        whose features are sparse) gets a zero row and a zero output.
    """
    _check_qkv(q, k, v, causal)
    why = _why_negative(features)
    if why:
        raise ValueError(f"cannot use these features as attention weights: {why}")
    features._ensure_fitted(q.shape[-1])
    fq, fk = _stable_features(features, q, k, key_padding_mask)  # (..., L, D), (..., S, D)
    fq, fk = fq.to(v.dtype), fk.to(v.dtype)
    if not causal:
        kv = fk.transpose(-1, -2) @ v  # (..., D, d_v)
        z = fk.sum(dim=-2)  # (..., D)
        num = fq @ kv  # (..., L, d_v)
        den = (fq * z.unsqueeze(-2)).sum(dim=-1, keepdim=True)  # (..., L, 1)
        out = _ratio(num, den)
    else:
        L = q.shape[-2]
        state = torch.zeros(*fk.shape[:-2], fk.shape[-1], v.shape[-1], dtype=v.dtype,
                            device=v.device)  # (..., D, d_v)
        zsum = torch.zeros(*fk.shape[:-2], fk.shape[-1], dtype=v.dtype,
                           device=v.device)  # (..., D)
        outs = []
        for a in range(0, L, chunk):
            b = min(a + chunk, L)
            fq_c, fk_c, v_c = fq[..., a:b, :], fk[..., a:b, :], v[..., a:b, :]
            local = fq_c @ fk_c.transpose(-1, -2)  # (..., c, c)
            local = torch.tril(local)  # keys j <= i inside the block
            num = fq_c @ state + local @ v_c  # (..., c, d_v)
            den = (fq_c * zsum.unsqueeze(-2)).sum(-1, keepdim=True) + local.sum(-1, keepdim=True)
            outs.append(_ratio(num, den))
            state = state + fk_c.transpose(-1, -2) @ v_c
            zsum = zsum + fk_c.sum(dim=-2)
        out = torch.cat(outs, dim=-2)  # (..., L, d_v)
    if not need_weights:
        return out
    w = fq @ fk.transpose(-1, -2)  # (..., L, S)
    if causal:
        w = torch.tril(w)
    w = _ratio(w, w.sum(dim=-1, keepdim=True))
    return out, w


# ------------------------------------------------------------ specs by name
@dataclass(frozen=True)
class AttentionSpec:
    """An attention kernel for the model: exactly one of ``kernel`` / ``features`` is set.

    Attributes
    ----------
    name : str
        The name it was built from (e.g. ``"edp"``, ``"taylor4"``, ``"prf64"``).
    kernel : BinaryKernel or None
        Exact (quadratic) path through :func:`kernel_attention`.
    features : FeaturePair or None
        Linear-time path through :func:`feature_attention`.
    path : {"auto", "exact", "features"}
        Which path :func:`attention` takes when both are set: ``"features"`` takes the
        feature path, otherwise the exact one (same function; quadratic is cheaper for
        short sequences).
    """

    name: str
    kernel: BinaryKernel | None = None
    features: FeaturePair | None = None
    path: str = "auto"

    @property
    def linear_time(self) -> bool:
        """True when :func:`attention` takes the feature (linear-time) path."""
        return self.features is not None and (self.kernel is None or self.path == "features")

    @property
    def feature_dim(self):
        """Feature dimension of the attention kernel (``math.inf`` for EDP, RBF, ...)."""
        if self.features is not None:
            return self.features.n_features
        return self.kernel.feature_dim


def attention_names() -> list[str]:
    """The attention kernel names :func:`make_attention` accepts (``<m>``: an integer).

    Read from the one registry, :data:`rkbs.features.ATTENTION_KERNELS`.
    """
    return attention_kernel_names()


def make_attention(name: str, head_dim: int, *, seed=None, sigma: float = 1.0,
                   path: str = "auto") -> AttentionSpec:
    """Build the attention kernel of a head by name (through :mod:`rkbs.features.registry`).

    Parameters
    ----------
    name : str
        ``edp``/``softmax`` (exponentiated dot product, infinite-dimensional), ``rbf``,
        ``exp_intersection``, ``polynomial``/``poly`` (degree 2, c = 1) or ``poly<m>``,
        ``elu`` (linear attention, elu+1 features), ``taylor<N>`` (exact Taylor features of
        EDP truncated at even degree N), ``prf<D>`` (positive random features of EDP,
        FAVOR+, D features), ``dpfp<nu>`` (DPFP features, D = 2·nu·d). ``linear`` and odd
        degrees are rejected: they can be negative. :func:`attention_names` lists them.
    head_dim : int
        Dimension d of a head's queries and keys.
    seed : int, Generator or None
        Randomness of random features.
    sigma : float
        Bandwidth of ``rbf``.
    path : {"auto", "exact", "features"}
        For kernels with both paths (``taylor<N>``, ``poly<m>``, ``elu``, ``dpfp<nu>``):
        ``"features"`` forces the linear-time feature path, ``"exact"`` the quadratic one;
        ``"auto"`` takes the feature path for ``elu`` and ``dpfp`` (D is small) and the
        exact path otherwise. A path the kernel does not have is refused.

    Raises
    ------
    ValueError
        Unknown name (the message lists the valid ones), a kernel that can be negative,
        or a path the kernel lacks.
    """
    if path not in ("auto", "exact", "features"):
        raise ValueError(f"path must be 'auto', 'exact' or 'features', got {path!r}")
    built = build_attention_kernel(name, head_dim, seed=seed, sigma=sigma, attention=False)
    why = _why_negative(built.features if built.features is not None else built.kernel)
    if why:
        raise ValueError(f"attention kernel {name!r} cannot serve as attention weights: {why}")
    if path == "exact" and built.kernel is None:
        raise ValueError(f"attention kernel {name!r} has no exact (quadratic) path: it is "
                         "defined by its features only; use path='auto' or 'features'")
    if path == "features" and built.features is None:
        raise ValueError(f"attention kernel {name!r} has no feature path (its feature "
                         "dimension is infinite); use path='auto' or 'exact'")
    if path == "auto":  # the path attention() will take, written down
        if built.kernel is None:
            path = "features"
        elif built.features is None:
            path = "exact"
        else:
            path = built.family.path
    return AttentionSpec(name, kernel=built.kernel, features=built.features, path=path)


def attention(q, k, v, spec: AttentionSpec, *, causal: bool = False, key_padding_mask=None,
              need_weights: bool = False):
    """Dispatch to :func:`kernel_attention` or :func:`feature_attention` by ``spec``."""
    if spec.linear_time:
        return feature_attention(q, k, v, spec.features, causal=causal,
                                 key_padding_mask=key_padding_mask, need_weights=need_weights)
    return kernel_attention(q, k, v, spec.kernel, causal=causal,
                            key_padding_mask=key_padding_mask, need_weights=need_weights)
