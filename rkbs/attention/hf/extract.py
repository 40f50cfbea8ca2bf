r"""Read the heads of a HuggingFace ``transformers`` model as binary kernels.

For every self-attention layer and head this module returns an :class:`HFHead`: the states
that entered the head (the input of its query and key projections), the head's exact
query and key maps *with their biases*, the attention probabilities the model itself
computed (``attn_implementation="eager"``, ``output_attentions=True``) and the masks.

**Affine maps as a constant coordinate.** GPT-2 and BERT project with biases,
:math:`q = W_Q x + b_Q`, :math:`k = W_K y + b_K`. Appending a constant 1 to every state,
:math:`\tilde x = (x, 1)`, makes the maps linear,

.. math::

    q = \tilde W_Q \tilde x,\quad \tilde W_Q = [W_Q \mid b_Q] \in \mathbb R^{d\times(D+1)},
    \qquad
    \text{logit}_{ij} = c\,\langle \tilde W_Q \tilde x_i, \tilde W_K \tilde y_j\rangle
    = \tilde x_i^\top \bigl(c\,\tilde W_Q^\top \tilde W_K\bigr) \tilde y_j,

with c the model's logit scale (:math:`1/\sqrt d`; GPT-2 with
``scale_attn_by_inverse_layer_idx`` also divides by the layer number). So the head is the
EDP binary kernel :math:`\kappa(\tilde x, \tilde y) = \exp(\langle s\tilde W_Q\tilde x,
s\tilde W_K \tilde y\rangle)`, :math:`s = \sqrt c` per side, on augmented states, and
every tool of :mod:`rkbs` applies to it unchanged (:meth:`HFHead.points`,
:meth:`HFHead.kernel`).

**Rotary heads** (Llama-style) rotate q and k by their positions; the head is then the
:class:`~rkbs.kernels.rotary.RotaryKernel` on rows :math:`(\tilde x, p)`: the augmented
state with the position in the last column.

**Generic path.** Any model whose attention is a softmax of scaled dot products of linear
(or affine) projections can be read through :func:`generic_layout`: name the query and key
projection modules (``nn.Linear`` or GPT-2's ``Conv1D``) per layer; forward pre-hooks
record what enters them, and the weights are sliced per head. The model must return its
attention probabilities with ``output_attentions=True``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from rkbs.attention.hf._deps import require_transformers

__all__ = [
    "AttentionLayout",
    "HFHead",
    "architecture_layout",
    "check_exactness",
    "extract_heads",
    "generic_layout",
    "recompute_weights",
]


@dataclass
class AttentionLayout:
    """Where the heads of a model live and how their logits are formed.

    Attributes
    ----------
    arch : str
        ``"gpt2"``, ``"bert"``, ``"llama"`` or ``"generic"``.
    modules : list of (str, str)
        Per layer, the names (``model.get_submodule``) of the query and key projection
        modules (the same name for a fused projection such as GPT-2's ``c_attn``).
    n_heads, n_kv_heads, head_dim : int
        Query heads, key heads (grouped-query attention: head h uses key head
        ``h // (n_heads // n_kv_heads)``) and the head dimension d.
    scaling : list of float
        Per layer, the factor c of the logits :math:`c\\,q\\cdot k`.
    causal : bool
        Query i sees keys j <= i only.
    q_offset, k_offset : int
        Row offset of the queries / keys in the projection's output (fused projections:
        GPT-2's ``c_attn`` outputs (q, k, v), so ``k_offset = hidden_size``).
    rotary : dict or None
        ``{"inv_freq": (d/2,), "attention_scaling": a}`` for rotary heads.
    """

    arch: str
    modules: list
    n_heads: int
    n_kv_heads: int
    head_dim: int
    scaling: list
    causal: bool
    q_offset: int = 0
    k_offset: int = 0
    rotary: dict | None = None

    @property
    def n_layers(self) -> int:
        return len(self.modules)


@dataclass
class HFHead:
    """One head of a HuggingFace model on one batch (numpy float64).

    Attributes
    ----------
    arch : str
    layer, head, kv_head : int
    states : ndarray (B, L, D)
        The states entering the head's query projection (query side).
    key_states : ndarray (B, L, D)
        The states entering the key projection (the same array for self-attention).
    W_Q, W_K : ndarray (d, D)
        Per-head query and key maps; ``b_Q``, ``b_K`` (d,) their biases (zeros if none).
    scaling : float
        Logit scale c: :math:`\\text{logit}_{ij} = c\\, q_i\\cdot k_j`.
    weights : ndarray (B, L, L)
        The model's own attention probabilities.
    query_mask, key_mask : ndarray of bool (B, L)
        True at real (non-padding) tokens.
    causal : bool
    positions : ndarray (B, L)
        Token positions given to the model.
    rotary : dict or None
        ``inv_freq`` (d/2,) and ``attention_scaling`` for rotary heads.
    """

    arch: str
    layer: int
    head: int
    kv_head: int
    states: np.ndarray
    key_states: np.ndarray
    W_Q: np.ndarray
    b_Q: np.ndarray
    W_K: np.ndarray
    b_K: np.ndarray
    scaling: float
    weights: np.ndarray
    query_mask: np.ndarray
    key_mask: np.ndarray
    causal: bool
    positions: np.ndarray
    rotary: dict | None = None
    extra: dict = field(default_factory=dict)

    @property
    def head_dim(self) -> int:
        return int(self.W_Q.shape[0])

    @property
    def affine(self) -> bool:
        """Whether either map has a non-zero bias."""
        return bool(np.any(self.b_Q) or np.any(self.b_K))

    def augmented_maps(self):
        r""":math:`\tilde W_Q = [W_Q \mid b_Q]`, :math:`\tilde W_K = [W_K \mid b_K]`, (d, D+1)."""
        return (np.concatenate([self.W_Q, self.b_Q[:, None]], axis=1),
                np.concatenate([self.W_K, self.b_K[:, None]], axis=1))

    def points(self, side: str = "query") -> np.ndarray:
        r"""Kernel inputs: :math:`\tilde x = (x, 1)`, plus the position column for rotary
        heads, shape (B, L, D+1) or (B, L, D+2)."""
        if side not in ("query", "key"):
            raise ValueError(f"side must be 'query' or 'key', got {side!r}")
        X = self.states if side == "query" else self.key_states
        cols = [X, np.ones(X.shape[:-1] + (1,))]
        if self.rotary is not None:
            cols.append(self.positions[..., None].astype(np.float64))
        return np.concatenate(cols, axis=-1)

    def kernel(self, *, swap: bool = False):
        r"""The head's binary kernel on :meth:`points` (``swap``: W_Q ↔ W_K, a negative
        control): EDP with :math:`\tilde W_Q, \tilde W_K` and scale :math:`\sqrt c` per
        side, or the :class:`~rkbs.kernels.rotary.RotaryKernel` for rotary heads."""
        from rkbs.kernels import EDPKernel
        from rkbs.kernels.rotary import RotaryKernel

        Wq, Wk = self.augmented_maps()
        if swap:
            Wq, Wk = Wk, Wq
        s = math.sqrt(self.scaling)
        if self.rotary is not None:
            return RotaryKernel(Wq, Wk, inv_freq=self.rotary["inv_freq"],
                                attention_scaling=self.rotary["attention_scaling"], scale=s)
        return EDPKernel(Wq, Wk, scale=s)

    def operator(self) -> np.ndarray:
        r"""The head's bilinear operator :math:`c\,\tilde W_Q^\top\tilde W_K` (D+1, D+1) on
        augmented states (the logits of non-rotary heads are :math:`\tilde x^\top B\tilde y`)."""
        Wq, Wk = self.augmented_maps()
        return self.scaling * Wq.T @ Wk

    def logits(self) -> np.ndarray:
        """The head's logits recomputed from states and maps (B, L, L), masks not applied."""
        kern = self.kernel()
        X, Y = self.points("query"), self.points("key")
        B, L, _ = X.shape
        Q = kern.queries(X.reshape(B * L, -1)).reshape(B, L, -1)
        K = kern.keys(Y.reshape(B * Y.shape[1], -1)).reshape(B, Y.shape[1], -1)
        return Q @ np.swapaxes(K, -1, -2)

    def allowed(self) -> np.ndarray:
        """Boolean (B, L, L): which (query, key) pairs the model lets attend (padding, causal)."""
        ok = self.query_mask[:, :, None] & self.key_mask[:, None, :]
        if self.causal:
            L = ok.shape[-1]
            ok = ok & np.tril(np.ones((ok.shape[1], L), bool))
        return ok


# ---------------------------------------------------------------------- layouts
def _layer_names(model, pattern: str) -> list[str]:
    """Module names matching ``pattern`` (one group: the layer index), in layer order."""
    rx = re.compile(pattern)
    found = []
    for name, _ in model.named_modules():
        m = rx.search(name)
        if m:
            found.append((int(m.group(1)), name))
    return [n for _, n in sorted(found)]


def _config_value(cfg, *names, default=None):
    for n in names:
        v = getattr(cfg, n, None)
        if v is not None:
            return v
    return default


def architecture_layout(model) -> AttentionLayout:
    """The :class:`AttentionLayout` of a GPT-2, BERT or Llama-style model (by ``model_type``).

    Raises
    ------
    ValueError
        For another architecture (use :func:`generic_layout`), or a variant whose logits
        are not dot products of projections (BERT with relative position embeddings).
    """
    cfg = model.config
    mtype = getattr(cfg, "model_type", None)
    H = int(_config_value(cfg, "num_attention_heads", "n_head"))
    D = int(_config_value(cfg, "hidden_size", "n_embd"))
    if mtype == "gpt2":
        names = _layer_names(model, r"(?:^|\.)h\.(\d+)\.attn\.c_attn$")
        d = D // H
        scal = []
        for i in range(len(names)):
            c = d ** -0.5 if cfg.scale_attn_weights else 1.0
            if cfg.scale_attn_by_inverse_layer_idx:
                c /= float(i + 1)
            scal.append(c)
        return AttentionLayout("gpt2", [(n, n) for n in names], H, H, d, scal, causal=True,
                               q_offset=0, k_offset=D)
    if mtype == "bert":
        pe = getattr(cfg, "position_embedding_type", "absolute") or "absolute"
        if pe != "absolute":
            raise ValueError(f"BERT with position_embedding_type={pe!r} adds relative-position "
                             "terms to the logits; only 'absolute' heads are dot products of "
                             "projections")
        names = _layer_names(model, r"(?:^|\.)encoder\.layer\.(\d+)\.attention\.self\.query$")
        d = D // H
        return AttentionLayout("bert", [(n, n[:-len("query")] + "key") for n in names], H, H,
                               d, [d ** -0.5] * len(names), causal=bool(cfg.is_decoder))
    if mtype in ("llama", "mistral", "qwen2"):
        names = _layer_names(model, r"(?:^|\.)layers\.(\d+)\.self_attn\.q_proj$")
        d = int(_config_value(cfg, "head_dim", default=D // H))
        Hkv = int(_config_value(cfg, "num_key_value_heads", default=H))
        scal = [float(getattr(model.get_submodule(n[:-len(".q_proj")]), "scaling", d ** -0.5))
                for n in names]
        rot = [m for n, m in model.named_modules() if n.endswith("rotary_emb")]
        if not rot:
            raise ValueError(f"{mtype} model without a rotary_emb module")
        inv = rot[0].inv_freq.detach().cpu().double().numpy()
        a = float(getattr(rot[0], "attention_scaling", 1.0))
        return AttentionLayout(mtype, [(n, n[:-len("q_proj")] + "k_proj") for n in names], H,
                               Hkv, d, scal, causal=True,
                               rotary={"inv_freq": inv, "attention_scaling": a})
    raise ValueError(f"no built-in layout for model_type={mtype!r} (built in: gpt2, bert, "
                     "llama, mistral, qwen2); describe it with generic_layout(...)")


def generic_layout(model, *, query: str, key: str, n_layers: int, n_heads: int,
                   head_dim: int | None = None, n_kv_heads: int | None = None,
                   causal: bool, scaling: float | None = None, q_offset: int = 0,
                   k_offset: int = 0, rotary: dict | None = None) -> AttentionLayout:
    r"""Describe an architecture by its query/key projection modules (the generic path).

    Parameters
    ----------
    model : torch.nn.Module
    query, key : str
        Module-name templates with ``{i}`` for the layer, e.g.
        ``"model.layers.{i}.self_attn.q_proj"``; each names an ``nn.Linear`` (weight
        (out, in)) or a ``Conv1D`` (weight (in, out)). Forward pre-hooks record their input
        (the state entering the head).
    n_layers, n_heads : int
    head_dim : int, optional
        Default: the query projection's output size (minus ``q_offset``... for fused
        projections pass it) divided by ``n_heads``.
    n_kv_heads : int, optional
        Key heads for grouped-query attention (default ``n_heads``).
    causal : bool
    scaling : float, optional
        Logit scale c (default :math:`1/\sqrt d`).
    q_offset, k_offset : int
        Row offsets of q / k in a fused projection's output.
    rotary : dict, optional
        ``{"inv_freq": ..., "attention_scaling": 1.0}`` for rotary heads.

    Returns
    -------
    AttentionLayout
    """
    for nm, v in (("n_layers", n_layers), ("n_heads", n_heads)):
        if int(v) != v or v < 1:
            raise ValueError(f"{nm} must be a positive integer, got {v!r}")
    mods = [(query.format(i=i), key.format(i=i)) for i in range(n_layers)]
    for q, k in mods:
        for nm in (q, k):
            try:
                model.get_submodule(nm)
            except AttributeError as exc:
                raise ValueError(f"the model has no module {nm!r} (from the query/key "
                                 "templates)") from exc
    if head_dim is None:
        W, _ = _weight_bias(model.get_submodule(mods[0][0]))
        head_dim = (W.shape[0] - q_offset) // n_heads
    scal = float(scaling) if scaling is not None else head_dim ** -0.5
    return AttentionLayout("generic", mods, int(n_heads), int(n_kv_heads or n_heads),
                           int(head_dim), [scal] * n_layers, bool(causal), int(q_offset),
                           int(k_offset), rotary)


def _weight_bias(mod):
    """(W (out, in), b (out,)) of an ``nn.Linear`` or a transformers ``Conv1D``, float64."""
    W = mod.weight.detach().cpu().double()
    if type(mod).__name__ == "Conv1D":  # y = x @ W + b, W (in, out)
        W = W.T
    b = getattr(mod, "bias", None)
    b = (b.detach().cpu().double() if b is not None else W.new_zeros(W.shape[0]))
    return W.numpy(), b.numpy()


def _set_eager(model) -> None:
    if hasattr(model, "set_attn_implementation"):
        try:
            model.set_attn_implementation("eager")
            return
        except (ValueError, TypeError, AttributeError):
            pass
    model.config._attn_implementation = "eager"


# ------------------------------------------------------------------- extraction
def extract_heads(model, input_ids, attention_mask=None, *, layout: AttentionLayout | None = None,
                  layers=None, heads=None, dtype="float64", device=None) -> list[HFHead]:
    """Run ``model`` on a batch and return one :class:`HFHead` per (layer, head).

    Parameters
    ----------
    model : transformers PreTrainedModel (PyTorch)
        Switched to eager attention and eval mode; converted to ``dtype`` in place.
    input_ids : LongTensor or int array (B, L)
    attention_mask : tensor or array (B, L), optional
        1 at real tokens, 0 at padding (default all ones).
    layout : AttentionLayout, optional
        Default :func:`architecture_layout` (GPT-2, BERT, Llama-style).
    layers, heads : sequences of int, optional
        Restrict to these layers / heads (default all).
    dtype : {"float64", "float32"}
        The model's dtype for the run (float64 for exactness checks).
    device : str, optional
        torch device (default: where the model is).

    Returns
    -------
    list of HFHead, layer-major.

    Raises
    ------
    ValueError
        Bad shapes, unknown layers/heads, or a model that returns no attentions.
    """
    require_transformers()
    import torch

    layout = architecture_layout(model) if layout is None else layout
    if dtype not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    tdtype = torch.float64 if dtype == "float64" else torch.float32
    model.to(dtype=tdtype)
    if device is not None:
        model.to(device)
    dev = next(model.parameters()).device
    ids = torch.as_tensor(np.asarray(input_ids) if not torch.is_tensor(input_ids) else input_ids,
                          dtype=torch.long, device=dev)
    if ids.ndim != 2 or ids.numel() == 0:
        raise ValueError(f"input_ids must have shape (B, L), got {tuple(ids.shape)}")
    B, L = ids.shape
    if attention_mask is None:
        am = torch.ones_like(ids)
    else:
        am = torch.as_tensor(np.asarray(attention_mask) if not torch.is_tensor(attention_mask)
                             else attention_mask, dtype=torch.long, device=dev)
        if tuple(am.shape) != (B, L):
            raise ValueError(f"attention_mask must have shape {(B, L)}, got {tuple(am.shape)}")
    layers = list(range(layout.n_layers)) if layers is None else [int(i) for i in layers]
    heads = list(range(layout.n_heads)) if heads is None else [int(h) for h in heads]
    for i in layers:
        if not 0 <= i < layout.n_layers:
            raise ValueError(f"layer {i} out of range: the model has {layout.n_layers} layers")
    for h in heads:
        if not 0 <= h < layout.n_heads:
            raise ValueError(f"head {h} out of range: the model has {layout.n_heads} heads")

    captured: dict[str, torch.Tensor] = {}
    hooks = []

    def make_hook(name):
        def hook(mod, args, kwargs):
            x = args[0] if args else next(iter(kwargs.values()))
            captured[name] = x.detach()
        return hook

    wanted = {n for i in layers for n in layout.modules[i]}
    for n in wanted:
        hooks.append(model.get_submodule(n).register_forward_pre_hook(make_hook(n),
                                                                      with_kwargs=True))
    _set_eager(model)
    was = model.training
    model.eval()
    pos = torch.arange(L, device=dev).unsqueeze(0).expand(B, L)
    kw = {"attention_mask": am, "output_attentions": True}
    if layout.rotary is not None:
        kw["position_ids"] = pos
    try:
        with torch.no_grad():
            out = model(ids, **kw)
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    atts = getattr(out, "attentions", None)
    if atts is None or len(atts) != layout.n_layers:
        raise ValueError("the model returned no attention probabilities (output_attentions=True"
                         f" gave {None if atts is None else len(atts)} layers, expected "
                         f"{layout.n_layers}); it must support eager attention")
    to_np = lambda a: a.detach().cpu().double().numpy()
    mask = to_np(am).astype(bool)
    positions = to_np(pos).astype(np.int64)
    d, group = layout.head_dim, layout.n_heads // layout.n_kv_heads
    recs = []
    for i in layers:
        qn, kn = layout.modules[i]
        Xq = to_np(captured[qn])
        Xk = Xq if kn == qn else to_np(captured[kn])
        Wq_all, bq_all = _weight_bias(model.get_submodule(qn))
        Wk_all, bk_all = _weight_bias(model.get_submodule(kn))
        P = to_np(atts[i])  # (B, H, L, L)
        for h in heads:
            g = h // group
            qs = slice(layout.q_offset + h * d, layout.q_offset + (h + 1) * d)
            ks = slice(layout.k_offset + g * d, layout.k_offset + (g + 1) * d)
            recs.append(HFHead(
                arch=layout.arch, layer=i, head=h, kv_head=g, states=Xq, key_states=Xk,
                W_Q=Wq_all[qs], b_Q=bq_all[qs], W_K=Wk_all[ks], b_K=bk_all[ks],
                scaling=float(layout.scaling[i]), weights=P[:, h], query_mask=mask,
                key_mask=mask, causal=layout.causal, positions=positions,
                rotary=layout.rotary))
    return recs


# ------------------------------------------------------------------- exactness
def recompute_weights(rec: HFHead, *, swap: bool = False, maps_of: HFHead | None = None):
    r"""Attention probabilities recomputed by :func:`rkbs.attention.kernel_attention.kernel_attention`.

    .. math:: \hat P_{ij} = \frac{\kappa(\tilde x_i, \tilde y_j)}
              {\sum_{j' \in N(i)}\kappa(\tilde x_i, \tilde y_{j'})},

    N(i) the keys the model lets query i see (padding, causal), κ the head's kernel
    (:meth:`HFHead.kernel`). ``swap`` exchanges W_Q and W_K; ``maps_of`` uses another
    head's maps on this head's states (both negative controls).

    Returns
    -------
    ndarray (B, L, L)
    """
    import torch

    from rkbs.attention.kernel_attention import kernel_attention
    from rkbs.kernels import EDPKernel

    src = rec if maps_of is None else maps_of
    kern = src.kernel(swap=swap)
    X = torch.as_tensor(rec.points("query"), dtype=torch.float64)
    Y = torch.as_tensor(rec.points("key"), dtype=torch.float64)
    B, L, _ = X.shape
    S = Y.shape[1]
    q = kern.queries(X.reshape(B * L, -1)).reshape(B, L, -1)   # (B, L, d), scaled
    k = kern.keys(Y.reshape(B * S, -1)).reshape(B, S, -1)      # (B, S, d)
    v = torch.zeros(B, S, 1, dtype=torch.float64)
    _, w = kernel_attention(q, k, v, EDPKernel(scale=None, dim=q.shape[-1]), causal=rec.causal,
                            key_padding_mask=torch.as_tensor(~rec.key_mask),
                            need_weights=True)
    return w.numpy()


def _max_err(rec: HFHead, W) -> float:
    rows = rec.query_mask  # compare on real query rows (padded rows see nothing meaningful)
    return float(np.max(np.abs(W - rec.weights)[rows])) if rows.any() else 0.0


def check_exactness(records: list[HFHead], *, tol: float = 1e-6) -> dict:
    r"""Recompute every head's probabilities from its states and maps; compare with the model.

    Per head: :math:`\max_{b,i,j}|\hat P_{bij} - P_{bij}|` over real query rows, for the
    head's own kernel and for two negative controls that must fail: W_Q ↔ W_K swapped, and
    the next head's maps (cyclically, within the layer; absent for one-head models).

    Returns
    -------
    dict
        ``rows`` (layer, head, max_abs_err, swapped_err, other_head_err), ``max_abs_err``,
        ``passed`` (every head within ``tol``), ``controls_fail`` (every control beyond it).
    """
    by_layer: dict[int, list[HFHead]] = {}
    for r in records:
        by_layer.setdefault(r.layer, []).append(r)
    rows = []
    for layer, recs in by_layer.items():
        for idx, r in enumerate(recs):
            other = recs[(idx + 1) % len(recs)] if len(recs) > 1 else None
            rows.append({
                "layer": layer, "head": r.head,
                "max_abs_err": _max_err(r, recompute_weights(r)),
                "swapped_err": _max_err(r, recompute_weights(r, swap=True)),
                "other_head_err": (_max_err(r, recompute_weights(r, maps_of=other))
                                   if other is not None else None),
            })
    worst = max(r["max_abs_err"] for r in rows)
    ctrl = [r["swapped_err"] for r in rows] + [r["other_head_err"] for r in rows
                                               if r["other_head_err"] is not None]
    return {"rows": rows, "max_abs_err": worst, "tol": tol, "passed": worst <= tol,
            "controls_fail": all(c > tol for c in ctrl)}
