r"""Heads with known jobs: a 2-layer attention-only GPT-2 trained on repeated random tokens.

On sequences :math:`(t_1, \dots, t_T, t_1, \dots, t_T)` of T uniform random tokens
repeated once, next-token prediction in the first half is impossible (loss
:math:`\log V`) and trivial in the second half for a model that copies. Two-layer
attention-only Transformers learn it with an *induction circuit* (Olsson et al. 2022,
"In-context learning and induction heads"; Elhage et al. 2021): a **previous-token head**
in layer 0 (position i attends to i − 1) writes "the token before me" into the residual
stream, and an **induction head** in layer 1 attends from the current token to the token
*after* its previous occurrence, whose identity it then copies. The standard scores on
repeated random sequences (TransformerLens convention), from the head's map P:

.. math::

    \text{prev}(h) = \operatorname{mean}_{i \ge 1} P_{i,\,i-1}, \qquad
    \text{ind}(h) = \operatorname{mean}_{i \ge T} P_{i,\,i-T+1}.

The model is a HuggingFace :class:`transformers.GPT2LMHeadModel` whose MLPs are replaced by
zero maps (attention only, LayerNorms kept), so :func:`rkbs.attention.hf.extract_heads`
reads it like any GPT-2.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from rkbs.attention.hf._deps import require_transformers

__all__ = [
    "InductionSetup",
    "head_scores",
    "induction_model",
    "load_induction_model",
    "repeated_tokens",
    "save_induction_model",
    "train_induction_model",
]

#: The toy setting: vocabulary, half length T, width, layers, heads.
InductionSetup = {"vocab": 32, "half": 16, "n_embd": 32, "n_layer": 2, "n_head": 4}


def _zero_mlp():
    import torch

    class ZeroMLP(torch.nn.Module):
        """Attention-only block: the MLP adds nothing to the residual stream."""

        def forward(self, x):
            return torch.zeros_like(x)

    return ZeroMLP()


def induction_model(setup: dict | None = None, *, seed: int = 0):
    """A fresh attention-only GPT-2 (MLPs replaced by zero maps), eager attention."""
    tr = require_transformers()
    import torch

    s = {**InductionSetup, **(setup or {})}
    torch.manual_seed(int(seed))  # transformers initializes from the global generator
    cfg = tr.GPT2Config(vocab_size=s["vocab"], n_positions=2 * s["half"], n_embd=s["n_embd"],
                        n_layer=s["n_layer"], n_head=s["n_head"], resid_pdrop=0.0,
                        embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0,
                        attn_implementation="eager")
    model = tr.GPT2LMHeadModel(cfg)
    for block in model.transformer.h:
        block.mlp = _zero_mlp()
    return model


def repeated_tokens(n: int, setup: dict | None = None, *, seed=None,
                    variable_offset: bool = False) -> np.ndarray:
    """n sequences of 2T tokens: T uniform random tokens followed by the same T tokens.

    With ``variable_offset`` (training data) the repeated segment has a random length
    k ∈ [T/2, T] and ends the sequence (random tokens before it), so the distance between
    the two copies varies and no head can solve the task from positions alone.
    """
    s = {**InductionSetup, **(setup or {})}
    rng = np.random.default_rng(seed)
    T = s["half"]
    x = rng.integers(0, s["vocab"], size=(n, 2 * T))
    if not variable_offset:
        x[:, T:] = x[:, :T]
        return x
    for b, k in enumerate(rng.integers(max(2, T // 2), T + 1, size=n)):
        x[b, 2 * T - k:] = x[b, 2 * T - 2 * k: 2 * T - k]
    return x


def _losses(model, ids):
    """Mean next-token loss on the first half and on the repeated half, and the total."""
    import torch

    out = model(ids)
    logp = torch.log_softmax(out.logits[:, :-1], dim=-1)
    nll = -logp.gather(-1, ids[:, 1:, None])[..., 0]  # (B, 2T-1): predicting token i+1
    T = ids.shape[1] // 2
    return nll[:, : T - 1].mean(), nll[:, T:].mean(), nll.mean()


def train_induction_model(*, steps: int = 1500, batch: int = 64, lr: float = 3e-3,
                          seed: int = 0, setup: dict | None = None, log_every: int = 50,
                          progress: bool = False, init=None, history=None):
    """Train the toy model on repeated random tokens (Adam, seeded; minutes on a CPU).

    Training sequences repeat a segment of random length (``variable_offset``); the
    history evaluates the next-token loss on a fixed batch of T + T repeats: first half
    (≈ log V: unpredictable) and repeated half (drops when the induction circuit forms).

    ``init`` and ``history`` (from :func:`load_induction_model`) continue a run.

    Returns
    -------
    model, history : list of dicts (step, loss_first_half, loss_repeated_half, seconds)
    """
    import torch
    from tqdm.auto import tqdm

    s = {**InductionSetup, **(setup or {})}
    model = induction_model(s, seed=seed) if init is None else init
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    eval_ids = repeated_tokens(256, s, seed=10_000 + seed)  # fixed evaluation batch
    hist = list(history or [])
    first_step = hist[-1]["step"] if hist else 0
    if hist:  # resuming: a different stream of training batches
        rng = np.random.default_rng([seed, first_step])
        hist.pop()
    t0 = time.perf_counter() - (hist[-1]["seconds"] if hist else 0.0)
    for step in tqdm(range(first_step, first_step + steps + 1), desc="induction",
                     disable=not progress):
        ids = torch.as_tensor(repeated_tokens(batch, s, seed=rng, variable_offset=True))
        loss = _losses(model, ids)[2]
        if step % log_every == 0 or step == first_step + steps:
            with torch.no_grad():
                first, rep, _ = _losses(model, torch.as_tensor(eval_ids))
            hist.append({"step": step, "loss_first_half": float(first),
                         "loss_repeated_half": float(rep),
                         "seconds": time.perf_counter() - t0})
        if step == first_step + steps:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), hist


def save_induction_model(model, path, history=None) -> str:
    """Weights (float32), setup and training history to an ``.npz`` file."""
    import json

    c = model.config
    setup = {"vocab": c.vocab_size, "half": c.n_positions // 2, "n_embd": c.n_embd,
             "n_layer": c.n_layer, "n_head": c.n_head}
    arrays = {k: v.detach().cpu().float().numpy() for k, v in model.state_dict().items()
              if not k.endswith(".attn.bias") and not k.endswith("masked_bias")}
    arrays["_history"] = np.frombuffer(json.dumps(history or []).encode(), dtype=np.uint8)
    arrays["_setup"] = np.frombuffer(json.dumps(setup).encode(), dtype=np.uint8)
    np.savez_compressed(path, **arrays)
    return str(path)


def load_induction_model(path, setup: dict | None = None):
    """Rebuild the toy model from :func:`save_induction_model`'s file (its stored setup
    unless ``setup`` is given); returns (model, history)."""
    import json

    import torch

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no induction-model weights at {str(path)!r}")
    data = np.load(path)
    if setup is None and "_setup" in data.files:
        setup = json.loads(bytes(data["_setup"]).decode())
    model = induction_model(setup)
    state = {k: torch.as_tensor(data[k]) for k in data.files if not k.startswith("_")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    bad = [k for k in missing if not k.endswith(".attn.bias")]
    if bad or unexpected:
        raise ValueError(f"weights at {path} do not fit the model: missing {bad}, "
                         f"unexpected {unexpected}")
    hist = json.loads(bytes(data["_history"]).decode()) if "_history" in data.files else []
    return model.eval(), hist


def head_scores(records, half: int) -> list[dict]:
    r"""Previous-token and induction scores (module docstring) of each extracted head.

    Parameters
    ----------
    records : list of HFHead
        Extracted on repeated random sequences of length 2·half.
    half : int
        T.

    Returns
    -------
    list of dicts (layer, head, prev_token, induction)
    """
    out = []
    for r in records:
        P = r.weights  # (B, 2T, 2T)
        L = P.shape[-1]
        if L != 2 * half:
            raise ValueError(f"records hold sequences of {L} tokens, expected 2*half = {2 * half}")
        i = np.arange(1, L)
        prev = float(P[:, i, i - 1].mean())
        j = np.arange(half, L)
        ind = float(P[:, j, j - half + 1].mean())
        out.append({"layer": r.layer, "head": r.head, "prev_token": prev, "induction": ind})
    return out
