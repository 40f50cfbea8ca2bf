r"""Attention extraction: per-layer, per-head maps with the states and maps that made them.

For each attention module and head h, a :class:`HeadRecord` holds the attention weights
:math:`P_{ij}`, the states :math:`t_i` (queries' side) and :math:`s_j` (keys' side) that
entered the head (the LayerNorm outputs), and the head's :math:`W_Q, W_K` (d, D). For the
EDP kernel the map is reproduced by the theory-side kernel,

.. math::

    P_{ij} = \frac{\kappa(t_i, s_j)}{\sum_{j'} \kappa(t_i, s_{j'})},\qquad
    \kappa = \texttt{EDPKernel(W\_Q, W\_K)}\ \ (\text{scale } d^{-1/4} \text{ per side}),

which :meth:`HeadRecord.kernel` returns, so trained heads can be studied with
:mod:`rkbs.kernels`, :mod:`rkbs.features` and :mod:`rkbs.machines`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rkbs.kernels import BinaryKernel, get_kernel

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

    @property
    def head_dim(self) -> int:
        return self.W_Q.shape[0]

    def kernel(self, name: str | None = None, **params) -> BinaryKernel:
        """The head's binary kernel on raw states: ``get_kernel(name, W_Q=W_Q, W_K=W_K)``.

        ``name`` defaults to the model's kernel when it is one of :mod:`rkbs.kernels`
        (``edp`` otherwise); the scale is the attention scale :math:`d^{-1/4}` per side,
        as in the model.
        """
        if name is None:
            name = self.kernel_name if self.kernel_name in ("edp", "softmax", "rbf") else "edp"
        return get_kernel(name, W_Q=self.W_Q, W_K=self.W_K, **params)

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
                key_mask=kmask, causal=rec["causal"], kernel_name=model.cfg.kernel))
    return out
