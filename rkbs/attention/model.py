r"""A small pre-LayerNorm encoder–decoder Transformer with a pluggable attention kernel.

One readable file (karpathy/nanoGPT ``model.py`` is the model). Every attention head
computes

.. math::

    q_i = W_Q^{(h)} t_i / d^{1/4},\quad k_j = W_K^{(h)} s_j / d^{1/4},\quad
    \operatorname{out}_i = \sum_j \frac{\kappa(q_i, k_j)}{\sum_{j'}\kappa(q_i, k_{j'})} W_V^{(h)} s_j,

with κ chosen by name (:func:`rkbs.attention.kernel_attention.make_attention`): for
``"edp"`` this is standard softmax attention, :math:`\kappa = \exp(q\cdot k)` with the
usual :math:`1/\sqrt d` split symmetrically over q and k (Wright & Gonzalez 2021, §3).
The query/key projections have no bias, so the head's kernel is exactly
``EDPKernel(W_Q=W_Q, W_K=W_K)`` of :mod:`rkbs.kernels` on the states ``t, s`` that entered
the head (the LayerNorm outputs); :mod:`rkbs.attention.extract` returns those.

Shapes: B batch, S source length, T target length, D model width, H heads,
d = D / H head width, V vocabulary.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from rkbs._checks import check_token_ids
from rkbs.attention.kernel_attention import AttentionSpec, attention, make_attention

__all__ = ["TransformerConfig", "MultiHeadAttention", "Seq2SeqTransformer", "build_model"]


@dataclass
class TransformerConfig:
    """Hyper-parameters of :class:`Seq2SeqTransformer`.

    Attributes
    ----------
    src_vocab, tgt_vocab : int
        Vocabulary sizes (special tokens included).
    d_model, n_heads, d_ff : int
        Width D, heads H (d = D/H), feed-forward width.
    n_enc_layers, n_dec_layers : int
        Depths.
    max_len : int
        Longest source or target sequence (positions embedded).
    kernel : str
        Attention kernel name (see :func:`~rkbs.attention.kernel_attention.make_attention`).
    kernel_seed : int
        Seed of random features (each head of each layer draws its own from it).
    pad_id, bos_id, eos_id : int
        Special token ids (shared by both vocabularies).
    """

    src_vocab: int
    tgt_vocab: int
    d_model: int = 64
    n_heads: int = 4
    d_ff: int = 128
    n_enc_layers: int = 2
    n_dec_layers: int = 2
    max_len: int = 32
    kernel: str = "edp"
    kernel_seed: int = 0
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2

    def __post_init__(self):
        for name in ("src_vocab", "tgt_vocab", "d_model", "n_heads", "d_ff", "max_len"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}"
            )

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> dict:
        return asdict(self)


class MultiHeadAttention(nn.Module):
    """Multi-head kernelized attention, self or cross, that can return its weights.

    ``forward(x_q, x_kv, ...)``: ``x_q`` (B, T, D) queries' states t, ``x_kv`` (B, S, D) keys'
    states s. Per-head query/key maps are the row blocks of ``w_q.weight``/``w_k.weight``:
    ``W_Q^(h) = w_q.weight[h*d:(h+1)*d]`` of shape (d, D).
    """

    def __init__(self, d_model: int, n_heads: int, spec: AttentionSpec):
        super().__init__()
        self.n_heads, self.head_dim = n_heads, d_model // n_heads
        self.spec = spec
        self.w_q = nn.Linear(d_model, d_model, bias=False)
        self.w_k = nn.Linear(d_model, d_model, bias=False)
        self.w_v = nn.Linear(d_model, d_model, bias=False)
        self.w_o = nn.Linear(d_model, d_model)

    def _split(self, x):
        B, L, D = x.shape
        return x.view(B, L, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, L, d)

    def head_maps(self, h: int):
        """``(W_Q, W_K)`` of head ``h``, each (d, D): the kernel's query and key maps."""
        sl = slice(h * self.head_dim, (h + 1) * self.head_dim)
        return self.w_q.weight[sl].detach(), self.w_k.weight[sl].detach()

    def forward(self, x_q, x_kv, *, causal=False, key_padding_mask=None, need_weights=False):
        scale = self.head_dim ** -0.25  # q·k = <W_Q t, W_K s>/sqrt(d)
        q = self._split(self.w_q(x_q)) * scale  # (B, H, T, d)
        k = self._split(self.w_k(x_kv)) * scale  # (B, H, S, d)
        v = self._split(self.w_v(x_kv))  # (B, H, S, d)
        res = attention(q, k, v, self.spec, causal=causal, key_padding_mask=key_padding_mask,
                        need_weights=need_weights)
        out, w = res if need_weights else (res, None)  # out (B, H, T, d); w (B, H, T, S)
        B, H, T, d = out.shape
        out = out.transpose(1, 2).reshape(B, T, H * d)  # (B, T, D)
        return self.w_o(out), w


class _FeedForward(nn.Sequential):
    def __init__(self, d_model, d_ff):
        super().__init__(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))


class EncoderLayer(nn.Module):
    """Pre-LN: ``x + SelfAttn(LN(x))``, then ``x + FF(LN(x))``."""

    def __init__(self, cfg: TransformerConfig, spec: AttentionSpec):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.attn = MultiHeadAttention(cfg.d_model, cfg.n_heads, spec)
        self.ff = _FeedForward(cfg.d_model, cfg.d_ff)

    def forward(self, x, src_pad, record=None):
        t = self.ln1(x)  # (B, S, D): the states t_i = s_j that enter the heads
        a, w = self.attn(t, t, key_padding_mask=src_pad, need_weights=record is not None)
        if record is not None:
            record.append({"kind": "encoder_self", "weights": w, "t": t, "s": t,
                           "module": self.attn, "causal": False})
        x = x + a
        return x + self.ff(self.ln2(x))


class DecoderLayer(nn.Module):
    """Pre-LN: causal self-attention, cross-attention to the encoder memory, feed-forward."""

    def __init__(self, cfg: TransformerConfig, self_spec: AttentionSpec,
                 cross_spec: AttentionSpec):
        super().__init__()
        self.ln1, self.ln2, self.ln3 = (nn.LayerNorm(cfg.d_model) for _ in range(3))
        self.self_attn = MultiHeadAttention(cfg.d_model, cfg.n_heads, self_spec)
        self.cross_attn = MultiHeadAttention(cfg.d_model, cfg.n_heads, cross_spec)
        self.ff = _FeedForward(cfg.d_model, cfg.d_ff)

    def forward(self, y, memory, src_pad, tgt_pad, record=None):
        t = self.ln1(y)  # (B, T, D)
        a, w = self.self_attn(t, t, causal=True, key_padding_mask=tgt_pad,
                              need_weights=record is not None)
        if record is not None:
            record.append({"kind": "decoder_self", "weights": w, "t": t, "s": t,
                           "module": self.self_attn, "causal": True})
        y = y + a
        t = self.ln2(y)  # (B, T, D) queries' states; memory (B, S, D) keys' states
        a, w = self.cross_attn(t, memory, key_padding_mask=src_pad,
                               need_weights=record is not None)
        if record is not None:
            record.append({"kind": "decoder_cross", "weights": w, "t": t, "s": memory,
                           "module": self.cross_attn, "causal": False})
        y = y + a
        return y + self.ff(self.ln3(y))


class Seq2SeqTransformer(nn.Module):
    """Encoder–decoder Transformer; :meth:`forward` gives logits, :meth:`greedy_decode` text.

    Build with :func:`build_model` (seeded, leaves the global torch RNG untouched).
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.head_dim

        def spec(i):  # one attention kernel per attention module (random features differ)
            return make_attention(cfg.kernel, d, seed=cfg.kernel_seed * 1000 + i)

        n = 0
        enc = []
        for _ in range(cfg.n_enc_layers):
            enc.append(EncoderLayer(cfg, spec(n)))
            n += 1
        dec = []
        for _ in range(cfg.n_dec_layers):
            dec.append(DecoderLayer(cfg, spec(n), spec(n + 1)))
            n += 2
        self.src_emb = nn.Embedding(cfg.src_vocab, cfg.d_model)
        self.tgt_emb = nn.Embedding(cfg.tgt_vocab, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.d_model)
        self.encoder = nn.ModuleList(enc)
        self.decoder = nn.ModuleList(dec)
        self.ln_enc, self.ln_dec = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.tgt_vocab)

    def _check(self, ids, name):
        if not torch.is_tensor(ids) or ids.ndim != 2:
            raise ValueError(f"{name} must be a (batch, length) tensor of token ids, got "
                             f"{getattr(ids, 'shape', type(ids).__name__)}")
        B, L = ids.shape
        if B == 0 or L == 0:
            raise ValueError(f"{name} is empty (shape {tuple(ids.shape)}): nothing to attend to")
        if L > self.cfg.max_len:
            raise ValueError(f"{name} has length {L} > the model's max_len={self.cfg.max_len}")
        check_token_ids(ids, self.cfg.src_vocab if name == "src" else self.cfg.tgt_vocab, name)

    def _embed(self, emb, ids):
        pos = torch.arange(ids.shape[1], device=ids.device)  # (L,)
        return emb(ids) + self.pos_emb(pos)[None]  # (B, L, D)

    def encode(self, src, record=None):
        """Encoder memory (B, S, D) and the source padding mask (B, S) of ``src`` (B, S)."""
        self._check(src, "src")
        src_pad = src == self.cfg.pad_id  # (B, S)
        x = self._embed(self.src_emb, src)
        for layer in self.encoder:
            x = layer(x, src_pad, record)
        return self.ln_enc(x), src_pad

    def decode(self, tgt_in, memory, src_pad, record=None):
        """Logits (B, T, V) for the shifted target ``tgt_in`` (B, T)."""
        self._check(tgt_in, "tgt_in")
        tgt_pad = tgt_in == self.cfg.pad_id  # (B, T)
        y = self._embed(self.tgt_emb, tgt_in)
        for layer in self.decoder:
            y = layer(y, memory, src_pad, tgt_pad, record)
        return self.head(self.ln_dec(y))

    def forward(self, src, tgt_in, *, return_attention: bool = False):
        """Logits (B, T, V); with ``return_attention`` also a list of per-module records.

        Each record is a dict: ``kind`` (``encoder_self``, ``decoder_self``,
        ``decoder_cross``), ``weights`` (B, H, T, S), ``t`` (B, T, D), ``s`` (B, S, D),
        ``module`` (the :class:`MultiHeadAttention`), ``causal``.
        """
        record = [] if return_attention else None
        memory, src_pad = self.encode(src, record)
        logits = self.decode(tgt_in, memory, src_pad, record)
        return (logits, record) if return_attention else logits

    @torch.no_grad()
    def greedy_decode(self, src, max_len: int | None = None):
        """Greedy decoding: (B, S) source ids -> (B, ≤ max_len) target ids (BOS stripped).

        Stops when every row has produced EOS; tokens after a row's EOS are PAD.
        """
        cfg = self.cfg
        max_len = cfg.max_len - 1 if max_len is None else min(max_len, cfg.max_len - 1)
        memory, src_pad = self.encode(src)
        B = src.shape[0]
        ys = torch.full((B, 1), cfg.bos_id, dtype=torch.long, device=src.device)  # (B, 1)
        done = torch.zeros(B, dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            logits = self.decode(ys, memory, src_pad)  # (B, t, V)
            nxt = logits[:, -1].argmax(-1)  # (B,)
            nxt = torch.where(done, torch.full_like(nxt, cfg.pad_id), nxt)
            ys = torch.cat([ys, nxt[:, None]], dim=1)  # (B, t + 1)
            done = done | (nxt == cfg.eos_id)
            if bool(done.all()):
                break
        return ys[:, 1:]


def build_model(cfg: TransformerConfig, seed: int = 0) -> Seq2SeqTransformer:
    """Seeded model construction (float32 CPU); the global torch RNG state is restored."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return Seq2SeqTransformer(cfg)
