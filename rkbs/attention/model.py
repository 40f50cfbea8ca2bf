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

Three architectures share this attention code, chosen by ``TransformerConfig.arch``:

* ``"encoder-decoder"`` (:class:`Seq2SeqTransformer`), the default;
* ``"decoder"`` (:class:`DecoderOnlyTransformer`): causal self-attention only, next-token
  logits at every position (multi-query associative recall, :mod:`rkbs.attention.recall`);
* the single attention layer of Schlag, Irie & Schmidhuber (2021, §6.1) for their synthetic
  retrieval problem, :class:`RetrievalAttentionModel` (built by :func:`build_retrieval_model`).

Shapes: B batch, S source length, T target length, D model width, H heads,
d = D / H head width, V vocabulary.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from rkbs._checks import check_token_ids
from rkbs.attention.kernel_attention import AttentionSpec, attention, make_attention

__all__ = ["TransformerConfig", "MultiHeadAttention", "Seq2SeqTransformer",
           "DecoderOnlyTransformer", "RetrievalConfig", "RetrievalAttentionModel",
           "build_model", "build_retrieval_model"]

ARCHITECTURES = ("encoder-decoder", "decoder")


@dataclass
class TransformerConfig:
    r"""Hyper-parameters of :class:`Seq2SeqTransformer`.

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
    arch : {"encoder-decoder", "decoder"}
        ``"decoder"`` builds :class:`DecoderOnlyTransformer` (``n_dec_layers`` causal
        layers over the vocabulary ``src_vocab``; ``tgt_vocab`` must equal it).
    short_conv : int
        Decoder only: width w of a causal depthwise convolution added to the embeddings
        before the first layer, :math:`x_i \leftarrow x_i + \sum_{r<w} c_r \odot x_{i-r}`
        (0: none). With w = 2 each position also carries the previous token, so an
        associative lookup (the value stored after a key) is one attention layer instead
        of a previous-token head feeding an induction head; the "short convolutions" of
        the H3 and Based models of the Zoology study (Arora et al. 2023) do the same.
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
    arch: str = "encoder-decoder"
    short_conv: int = 0

    def __post_init__(self):
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"arch must be one of {ARCHITECTURES}, got {self.arch!r}")
        if self.arch == "decoder" and self.tgt_vocab != self.src_vocab:
            raise ValueError("a decoder-only model has one vocabulary: tgt_vocab="
                             f"{self.tgt_vocab} must equal src_vocab={self.src_vocab}")
        for name in ("src_vocab", "tgt_vocab", "d_model", "n_heads", "d_ff", "max_len"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if int(self.short_conv) < 0 or (self.short_conv and self.arch != "decoder"):
            raise ValueError("short_conv must be 0, or a width >= 1 with arch='decoder'; got "
                             f"short_conv={self.short_conv}, arch={self.arch!r}")
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


class DecoderOnlyLayer(nn.Module):
    """Pre-LN: ``x + CausalSelfAttn(LN(x))``, then ``x + FF(LN(x))``."""

    def __init__(self, cfg: TransformerConfig, spec: AttentionSpec):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.attn = MultiHeadAttention(cfg.d_model, cfg.n_heads, spec)
        self.ff = _FeedForward(cfg.d_model, cfg.d_ff)

    def forward(self, x, record=None):
        t = self.ln1(x)  # (B, L, D)
        a, w = self.attn(t, t, causal=True, need_weights=record is not None)
        if record is not None:
            record.append({"kind": "decoder_self", "weights": w, "t": t, "s": t,
                           "module": self.attn, "causal": True})
        x = x + a
        return x + self.ff(self.ln2(x))


class DecoderOnlyTransformer(nn.Module):
    """Decoder-only (GPT-style) causal Transformer: ``forward(ids)`` -> logits (B, L, V).

    ``n_dec_layers`` layers of :class:`DecoderOnlyLayer`; position i's logits predict token
    i + 1 (in multi-query associative recall: the value of the key at position i). No
    padding: every sequence of a batch has the same length.
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.head_dim
        self.tok_emb = nn.Embedding(cfg.src_vocab, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.d_model)
        w = int(cfg.short_conv)
        # causal depthwise convolution over positions: left padding w - 1, output cut to L
        self.conv = (nn.Conv1d(cfg.d_model, cfg.d_model, w, groups=cfg.d_model, padding=w - 1)
                     if w else None)
        self.layers = nn.ModuleList(
            DecoderOnlyLayer(cfg, make_attention(cfg.kernel, d, seed=cfg.kernel_seed * 1000 + i))
            for i in range(cfg.n_dec_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.src_vocab)

    def forward(self, ids, positions=None, *, return_attention: bool = False):
        """Logits (B, L, V) of ``ids`` (B, L); with ``return_attention`` also the records.

        ``positions`` (B, M) long: return the logits (B, M, V) at those positions only
        (the output layer is then evaluated M instead of L times per sequence).
        """
        if ids.ndim != 2 or ids.shape[1] > self.cfg.max_len:
            raise ValueError(f"ids must be (batch, length <= max_len={self.cfg.max_len}), got "
                             f"{tuple(ids.shape)}")
        record = [] if return_attention else None
        pos = torch.arange(ids.shape[1], device=ids.device)  # (L,)
        x = self.tok_emb(ids) + self.pos_emb(pos)[None]  # (B, L, D)
        if self.conv is not None:
            x = x + self.conv(x.transpose(1, 2))[..., :ids.shape[1]].transpose(1, 2)
        for layer in self.layers:
            x = layer(x, record)
        if positions is not None:
            idx = positions[..., None].expand(*positions.shape, x.shape[-1])  # (B, M, D)
            x = torch.gather(x, 1, idx)  # (B, M, D)
        logits = self.head(self.ln_f(x))  # (B, L or M, V)
        return (logits, record) if return_attention else logits


def build_model(cfg: TransformerConfig, seed: int = 0):
    """Seeded model construction (float32 CPU); the global torch RNG state is restored.

    Returns a :class:`Seq2SeqTransformer` or, for ``cfg.arch == "decoder"``, a
    :class:`DecoderOnlyTransformer`.
    """
    cls = DecoderOnlyTransformer if cfg.arch == "decoder" else Seq2SeqTransformer
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return cls(cfg)


# ------------------------------------------------- Schlag et al. (2021) retrieval
@dataclass
class RetrievalConfig:
    """The one-layer retrieval model of Schlag, Irie & Schmidhuber (2021, §6.1).

    Attributes
    ----------
    n_keys : int
        N: keys and values (each value is a fixed one-hot vector of size N).
    d_key : int
        d_k, the dimension of keys and queries before the kernel's feature map (64).
    embedding_size : int or None
        Key-embedding width e; default ``int(2 N * 1.1)`` as in the authors' code.
    kernel : str
        Attention kernel name (:func:`~rkbs.attention.kernel_attention.make_attention`).
    kernel_seed : int
        Seed of random features (fixed per configuration, not per training seed).
    """

    n_keys: int
    d_key: int = 64
    embedding_size: int | None = None
    kernel: str = "edp"
    kernel_seed: int = 0

    def __post_init__(self):
        for name in ("n_keys", "d_key"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")

    @property
    def e(self) -> int:
        return int(self.embedding_size or int(2 * self.n_keys * 1.1))

    def to_dict(self) -> dict:
        return asdict(self)


class RetrievalAttentionModel(nn.Module):
    r"""One attention layer reading N key→value associations (Schlag et al. 2021, §6.1).

    A sequence holds N pairs :math:`(k_j, v_j)` and one query key :math:`q`. With the
    key embedding :math:`E` (N × e, trained), the fixed one-hot values
    :math:`\bar v_j \in \{0,1\}^N` and :math:`x_j = [\bar v_j; E k_j]`,

    .. math::

        K_j = W_K x_j + b_K,\quad Q = W_Q E q + b_Q,\quad
        \hat y = \sum_j \frac{\kappa(Q/d^{1/4}, K_j/d^{1/4})}
                             {\sum_{j'} \kappa(Q/d^{1/4}, K_{j'}/d^{1/4})}\, \bar v_j ,

    so the output lies in the simplex over the N values and the memory is read with the
    fixed values themselves (as in the authors' code, ``synthetic/linearAttention.py``). The
    :math:`d^{-1/4}` scaling on both sides makes ``edp`` exactly their softmax
    :math:`\operatorname{softmax}(K\cdot Q/\sqrt d)`; for the other kernels it is a fixed
    rescaling of learned maps. :math:`W_K x_j` is computed as ``W_v[:, v_j] + (E W_e^T)[k_j]``
    (the same sum without forming the (N + e)-wide concatenation).

    ``forward(keys, values, query)``: keys, values (B, N) ids in [0, N), query (B,) ->
    :math:`\hat y` (B, N); query (B, M) (M queries of each memory, for evaluation) ->
    (B, M, N).
    """

    def __init__(self, cfg: RetrievalConfig):
        super().__init__()
        self.cfg = cfg
        n, d, e = cfg.n_keys, cfg.d_key, cfg.e
        self.spec = make_attention(cfg.kernel, d, seed=cfg.kernel_seed)
        self.emb = nn.Embedding(n, e)
        nn.init.normal_(self.emb.weight, mean=0.0, std=1.0)
        u = 1.0 / math.sqrt(d)  # the authors' init of W_k, W_q: U(-1/sqrt(d), 1/sqrt(d))
        self.w_k = nn.Linear(n + e, d)  # columns [:n] act on the one-hot value
        self.w_q = nn.Linear(e, d)
        nn.init.uniform_(self.w_k.weight, -u, u)
        nn.init.uniform_(self.w_q.weight, -u, u)
        self.register_buffer("values_onehot", torch.eye(n), persistent=False)  # (N, N)

    def forward(self, keys, values, query):
        n, d = self.cfg.n_keys, self.cfg.d_key
        wv, we = self.w_k.weight[:, :n], self.w_k.weight[:, n:]  # (d, N), (d, e)
        key_table = self.emb.weight @ we.T  # (N, d): W_e E k for every key id
        emb = nn.functional.embedding  # row gathers with a fast (vmap-able) backward
        K = emb(keys, key_table) + emb(values, wv.T) + self.w_k.bias  # (B, N, d)
        single = query.ndim == 1
        Q = self.w_q(self.emb(query[:, None] if single else query))  # (B, M, d)
        scale = d ** -0.25
        q = (Q * scale)[:, None]  # (B, 1, M, d): one head, M queries of the same memory
        k = (K * scale)[:, None]  # (B, 1, N, d)
        v = emb(values, self.values_onehot)[:, None]  # (B, 1, N, N): fixed one-hot values
        out = attention(q, k, v, self.spec)[:, 0]  # (B, M, N)
        return out[:, 0] if single else out  # (B, N) or (B, M, N)


def build_retrieval_model(cfg: RetrievalConfig, seed: int = 0) -> RetrievalAttentionModel:
    """Seeded construction of :class:`RetrievalAttentionModel` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return RetrievalAttentionModel(cfg)
