"""Tiny random models from configs (no download): for tests, docs and a first look."""

from __future__ import annotations

from rkbs.attention.hf._deps import require_transformers

__all__ = ["tiny_model", "TINY_ARCHS"]

TINY_ARCHS = ("gpt2", "bert", "llama")


def tiny_model(arch: str, *, seed: int = 0, n_layers: int = 2, hidden: int = 16,
               n_heads: int = 2, vocab: int = 64, max_len: int = 64,
               weight_scale: float | None = 0.3):
    """A 2-layer GPT-2, BERT or Llama model with random weights, eager attention, eval mode.

    Parameters
    ----------
    arch : {"gpt2", "bert", "llama"}
    seed : int
        Seeds the initialization (``torch.Generator``; the global RNG is left alone).
    n_layers, hidden, n_heads, vocab, max_len : int
        Size (Llama gets ``n_heads // 2`` key heads: grouped-query attention).
    weight_scale : float or None
        Redraw every parameter from N(0, weight_scale²) (biases included, so the maps are
        truly affine and the maps far from uniform); None keeps the library's
        initialization (std 0.02, biases 0: nearly uniform maps).

    Returns
    -------
    transformers PreTrainedModel (float32)
    """
    tr = require_transformers()
    import torch

    if arch not in TINY_ARCHS:
        raise ValueError(f"arch must be one of {TINY_ARCHS}, got {arch!r}")
    common = {"vocab_size": vocab, "attn_implementation": "eager"}
    if arch == "gpt2":
        cfg = tr.GPT2Config(n_layer=n_layers, n_head=n_heads, n_embd=hidden, n_positions=max_len,
                            bos_token_id=0, eos_token_id=0, **common)
        model = tr.GPT2LMHeadModel(cfg)
    elif arch == "bert":
        cfg = tr.BertConfig(num_hidden_layers=n_layers, num_attention_heads=n_heads,
                            hidden_size=hidden, intermediate_size=2 * hidden,
                            max_position_embeddings=max_len, pad_token_id=0, **common)
        model = tr.BertModel(cfg)
    else:
        cfg = tr.LlamaConfig(num_hidden_layers=n_layers, num_attention_heads=n_heads,
                             num_key_value_heads=max(1, n_heads // 2), hidden_size=hidden,
                             intermediate_size=2 * hidden, max_position_embeddings=max_len,
                             bos_token_id=0, eos_token_id=0, pad_token_id=0, **common)
        model = tr.LlamaForCausalLM(cfg)
    if weight_scale is not None:
        gen = torch.Generator().manual_seed(int(seed))
        with torch.no_grad():
            for _, p in sorted(model.named_parameters()):
                p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * weight_scale)
    return model.eval()
