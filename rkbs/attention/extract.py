r"""Attention extraction: per-layer, per-head maps with the states and maps that made them.

For each attention module and head h, a :class:`HeadRecord` holds the attention weights
:math:`P_{ij}`, the states :math:`t_i` (queries' side) and :math:`s_j` (keys' side) that
entered the head (the LayerNorm outputs), and the head's :math:`W_Q, W_K` (d, D). For the
EDP kernel the map is reproduced by the theory-side kernel,

.. math::

    P_{ij} = \frac{\kappa(t_i, s_j)}{\sum_{j'} \kappa(t_i, s_{j'})},\qquad
    \kappa = \texttt{EDPKernel(W\_Q, W\_K)}\ \ (\text{scale } d^{-1/4} \text{ per side}),

and for every attention kernel :meth:`HeadRecord.kernel` returns the head's own kernel
(the model's :class:`~rkbs.attention.kernel_attention.AttentionSpec`, with the head's
maps: a poly2 head gives the polynomial kernel, a DPFP head the DPFP kernel) and
:meth:`HeadRecord.features` its own feature pair (for random features, the model's own
draws), so trained heads can be studied with :mod:`rkbs.kernels`, :mod:`rkbs.features`
and :mod:`rkbs.machines`. A head whose kernel has no closed form (``prf<D>``) makes
``kernel()`` raise instead of answering with another kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rkbs.attention.kernel_attention import AttentionSpec, make_attention
from rkbs.features import FeaturePair, RandomFeaturePair, build_attention_kernel
from rkbs.kernels import KERNELS, BinaryKernel, get_kernel, with_maps

__all__ = ["HeadRecord", "extract_attention"]


@dataclass
class HeadRecord:
    """One head's attention on one batch (numpy float64 arrays).

    Attributes
    ----------
    kind : str
        ``"encoder_self"``, ``"decoder_self"`` or ``"decoder_cross"``.
    layer, head : int
        Layer index within its stack and head index.
    weights : ndarray (B, T, S)
        Attention maps (rows sum to 1 over unmasked keys).
    t : ndarray (B, T, D)
        States on the query side (the LayerNorm output that entered the head).
    s : ndarray (B, S, D)
        States on the key side.
    W_Q, W_K : ndarray (d, D)
        The head's query and key maps (no bias).
    query_mask, key_mask : ndarray of bool (B, T), (B, S)
        True at real (non-padding) positions.
    causal : bool
    kernel_name : str
        The model's attention kernel name.
    spec : AttentionSpec or None
        The module's attention kernel (its kernel and/or features, random draws
        included); rebuilt from ``kernel_name`` when None.
    """

    kind: str
    layer: int
    head: int
    weights: np.ndarray
    t: np.ndarray
    s: np.ndarray
    W_Q: np.ndarray
    W_K: np.ndarray
    query_mask: np.ndarray
    key_mask: np.ndarray
    causal: bool
    kernel_name: str
    spec: AttentionSpec | None = None

    @property
    def head_dim(self) -> int:
        return self.W_Q.shape[0]

    def _spec(self) -> AttentionSpec:
        if self.spec is not None:
            return self.spec
        return make_attention(self.kernel_name, self.head_dim)  # deterministic parts only

    def kernel(self, name: str | None = None, **params) -> BinaryKernel:
        r"""The head's binary kernel on raw states, :math:`\kappa(t, s) = k_0(q(t), k(s))`.

        With ``name=None``: the kernel the model trained with, from its
        :class:`~rkbs.attention.kernel_attention.AttentionSpec` (same class and parameters,
        e.g. σ of ``rbf``, the degree of ``poly<m>`` or ``taylor<N>``, ν of ``dpfp<nu>``)
        with the head's maps :math:`W_Q, W_K` and the attention scale :math:`d^{-1/4}`
        per side, as in the model. With a ``name``: that kernel of
        :mod:`rkbs.kernels` on the head's maps (e.g. ``"edp"`` to study any head through
        the softmax kernel), ``params`` passed on.

        Raises
        ------
        ValueError
            When the head's kernel has no closed form (``prf<D>``: its weights are a
            random-feature Gram, see :meth:`features`), or for an unknown ``name``.
        """
        if name is not None:
            key = str(name).lower().replace("-", "_")
            if key not in KERNELS:  # an attention name such as "taylor4": its kernel
                if params:
                    raise ValueError(f"parameters {sorted(params)} cannot be combined with the "
                                     f"attention kernel name {name!r}")
                kern = build_attention_kernel(name, self.head_dim, W_Q=self.W_Q, W_K=self.W_K,
                                              scale="attention", attention=False).kernel
                if kern is None:
                    raise ValueError(f"attention kernel {name!r} has no closed-form kernel")
                return kern
            return get_kernel(key, W_Q=self.W_Q, W_K=self.W_K, **params)
        if params:
            raise ValueError("parameters need a kernel name: the head's own kernel has its "
                             f"model's parameters, got {sorted(params)}")
        spec = self._spec()
        if spec.kernel is None:
            raise ValueError(
                f"the head's attention kernel {self.kernel_name!r} has no closed form: its "
                "weights are the Gram of its random features (an estimate of "
                f"{spec.features.kernel.name}); use HeadRecord.features() for the head's own "
                f"draws, or kernel({spec.features.kernel.name!r}) for the kernel they estimate"
            )
        return with_maps(spec.kernel, self.W_Q, self.W_K)

    def features(self) -> FeaturePair:
        r"""The head's feature pair on raw states: :math:`\varphi(W_Q t / d^{1/4})`, ... .

        The model's own pair (same coordinate maps; for random features the same draws)
        behind the head's maps and the attention scale, so ``features().gram(t, s)``
        gives the head's unnormalized weights.

        Raises
        ------
        ValueError
            When the head's kernel has no finite feature pair (``edp``, ``rbf``, ...).
        """
        spec = self._spec()
        if spec.features is None:
            raise ValueError(f"the head's attention kernel {self.kernel_name!r} has no finite "
                             "feature pair (infinite-dimensional); use HeadRecord.kernel()")
        if self.spec is None and isinstance(spec.features, RandomFeaturePair):
            raise ValueError(f"this record of a {self.kernel_name!r} head carries no spec, so "
                             "the model's random draws are unknown: extract it with "
                             "extract_attention, which records them")
        return _HeadFeatures(spec.features, with_maps(spec.features.kernel, self.W_Q, self.W_K))

    def logits(self) -> np.ndarray:
        r"""Bilinear logits :math:`\langle W_Q t_i, W_K s_j\rangle/\sqrt d`, (B, T, S)."""
        q = self.t @ self.W_Q.T
        k = self.s @ self.W_K.T
        return q @ np.swapaxes(k, -1, -2) / np.sqrt(self.head_dim)

    def sequence(self, b: int):
        """``(t_b, s_b, P_b)`` of sequence ``b`` with padding rows/columns removed."""
        qm, km = self.query_mask[b], self.key_mask[b]
        return self.t[b][qm], self.s[b][km], self.weights[b][np.ix_(qm, km)]


@torch.no_grad()
def extract_attention(model, src, tgt_in) -> list[HeadRecord]:
    """Run ``model`` on a batch and return one :class:`HeadRecord` per (module, head).

    Parameters
    ----------
    model : Seq2SeqTransformer
    src : LongTensor (B, S)
        Source ids.
    tgt_in : LongTensor (B, T)
        Decoder input ids (``<bos>`` + target).

    Returns
    -------
    list of HeadRecord
        Encoder self-attention layers first, then per decoder layer its self- and
        cross-attention, each head in order.
    """
    was = model.training
    model.eval()
    _, records = model(src, tgt_in, return_attention=True)
    model.train(was)
    pad = model.cfg.pad_id
    src_real = (src != pad).cpu().numpy()
    tgt_real = (tgt_in != pad).cpu().numpy()
    out, counters = [], {}
    to_np = lambda a: a.detach().cpu().double().numpy()
    for rec in records:
        kind = rec["kind"]
        layer = counters.get(kind, 0)
        counters[kind] = layer + 1
        qmask = src_real if kind == "encoder_self" else tgt_real
        kmask = tgt_real if kind == "decoder_self" else src_real
        mod = rec["module"]
        W = to_np(rec["weights"])  # (B, H, T, S)
        for h in range(mod.n_heads):
            Wq, Wk = mod.head_maps(h)
            out.append(HeadRecord(
                kind=kind, layer=layer, head=h, weights=W[:, h], t=to_np(rec["t"]),
                s=to_np(rec["s"]), W_Q=to_np(Wq), W_K=to_np(Wk), query_mask=qmask,
                key_mask=kmask, causal=rec["causal"], kernel_name=model.cfg.kernel,
                spec=mod.spec))
    return out


class _HeadFeatures(FeaturePair):
    """A fitted attention pair behind a head's maps: ``map_q``/``map_k`` are the pair's own.

    ``kernel`` is the pair's kernel with the head's maps and scale (see
    :meth:`HeadRecord.features`); nothing is redrawn.
    """

    auto_fit = True

    def __init__(self, pair: FeaturePair, kernel: BinaryKernel):
        super().__init__(kernel)
        self.pair = pair
        self.exact = pair.exact
        nonneg = getattr(pair, "nonnegative_features", None)
        if nonneg is not None:
            self.nonnegative_features = nonneg

    def _fit_dim(self, d):
        self.pair._ensure_fitted(d)
        self.n_features_ = self.pair.n_features_

    def map_q(self, Q):
        return self.pair.map_q(Q)

    def map_k(self, K):
        return self.pair.map_k(K)
