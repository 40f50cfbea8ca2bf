"""Training and evaluation of :class:`~rkbs.attention.model.Seq2SeqTransformer` on a task.

Python API: ``result = train(TrainConfig(task="number-words", kernel="edp", seed=0))``;
command line: ``rkbs train --task number-words --kernel edp --seed 0 [--steps N] [--out DIR]``
(:func:`train_from_cli`). Deterministic on CPU for a fixed seed: the model is built from
the seed without touching the global torch RNG, there is no dropout, and batches are
drawn with a seeded numpy Generator. Metrics: cross-entropy loss, teacher-forced token
accuracy, greedy exact-match accuracy, and corpus BLEU (sacrebleu) for number words.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from rkbs import _io
from rkbs._backend import check_device, torch_threads
from rkbs._checks import check_random_state
from rkbs.attention.model import Seq2SeqTransformer, TransformerConfig, build_model
from rkbs.attention.tasks import Task, Vocab, encode_batch, make_task

__all__ = ["TrainConfig", "TrainResult", "train", "evaluate", "load_checkpoint",
           "train_from_cli"]


@dataclass
class TrainConfig:
    """Everything that determines a training run (with the seed, the run itself).

    ``quick=True`` shrinks the task and the step count for tests; explicit fields win.
    """

    task: str = "number-words"
    kernel: str = "edp"
    seed: int = 0
    steps: int | None = None  # default: 3000 (quick: 400)
    batch_size: int = 64
    lr: float = 3e-3
    warmup: int = 50
    d_model: int = 64
    n_heads: int = 4
    d_ff: int = 128
    n_enc_layers: int = 2
    n_dec_layers: int = 2
    eval_every: int | None = None  # default: steps // 5
    eval_max_examples: int | None = 500
    device: str = "cpu"
    quick: bool = False
    task_params: dict = field(default_factory=dict)
    out_dir: str | None = None
    progress: bool = True
    #: continue from ``out_dir/checkpoint.pt`` when it holds this run (``rkbs train`` sets
    #: it; the resumed run is bit-identical on CPU to an uninterrupted one)
    resume: bool = False
    #: torch intra-op threads while training (restored afterwards). One thread is both
    #: deterministic and fastest for these tiny models on a shared CPU (measured: 28 ms
    #: vs 376 ms per step with 2 threads on the 2-core project machine under load).
    num_threads: int | None = 1

    def resolved_steps(self) -> int:
        return int(self.steps if self.steps is not None else (400 if self.quick else 3000))


@dataclass
class TrainResult:
    """A trained model with its task and metrics (``metrics["test"]`` on unseen examples)."""

    model: Seq2SeqTransformer
    task: Task
    config: TrainConfig
    metrics: dict


def _lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, frac)))


@torch.no_grad()
def evaluate(model: Seq2SeqTransformer, task: Task, split: str = "test", *,
             max_examples: int | None = None, batch_size: int = 256) -> dict:
    """Metrics of ``model`` on a split.

    Returns
    -------
    dict
        ``loss`` (mean token cross-entropy, teacher forced), ``token_acc`` (teacher-forced
        argmax accuracy over target tokens incl. EOS), ``exact_match`` (greedy output equals
        the target), ``bleu`` (sacrebleu corpus BLEU of greedy outputs; number words only),
        ``n`` (examples), and up to 5 ``samples``.
    """
    was_training = model.training
    model.eval()
    pairs = task.splits[split]
    if max_examples is not None:
        pairs = pairs[:max_examples]
    device = next(model.parameters()).device
    tot_loss = tot_tok = correct_tok = exact = 0
    hyps, refs = [], []
    for a in range(0, len(pairs), batch_size):
        chunk = pairs[a:a + batch_size]
        src, tgt_in, tgt_out = encode_batch(chunk, task.src_vocab, task.tgt_vocab, device)
        logits = model(src, tgt_in)  # (B, T, V)
        mask = tgt_out != Vocab.pad_id
        loss = torch.nn.functional.cross_entropy(
            logits.transpose(1, 2), tgt_out, ignore_index=Vocab.pad_id, reduction="sum")
        tot_loss += float(loss)
        tot_tok += int(mask.sum())
        correct_tok += int(((logits.argmax(-1) == tgt_out) & mask).sum())
        out = model.greedy_decode(src, max_len=tgt_out.shape[1] + 2)
        for row, (_, tgt) in zip(out.tolist(), chunk):
            words = task.tgt_vocab.decode(row)
            exact += words == tgt
            hyps.append(" ".join(words))
            refs.append(" ".join(tgt))
    res = {"loss": tot_loss / tot_tok, "token_acc": correct_tok / tot_tok,
           "exact_match": exact / len(pairs), "n": len(pairs),
           "samples": [{"src": " ".join(s), "ref": r, "hyp": h}
                       for (s, _), r, h in list(zip(pairs, refs, hyps))[:5]]}
    if task.name == "number-words":
        import sacrebleu

        res["bleu"] = float(sacrebleu.corpus_bleu(hyps, [refs]).score)
    model.train(was_training)
    return res


def _model_config(cfg: TrainConfig, task: Task) -> TransformerConfig:
    return TransformerConfig(
        src_vocab=len(task.src_vocab), tgt_vocab=len(task.tgt_vocab), d_model=cfg.d_model,
        n_heads=cfg.n_heads, d_ff=cfg.d_ff, n_enc_layers=cfg.n_enc_layers,
        n_dec_layers=cfg.n_dec_layers, max_len=max(task.max_src_len, task.max_tgt_len) + 2,
        kernel=cfg.kernel, kernel_seed=cfg.seed)


def train(config: TrainConfig) -> TrainResult:
    """Train a model as configured; write checkpoints and ``metrics.json`` to ``out_dir``.

    Validation (``val`` split, at most ``eval_max_examples`` examples) runs every
    ``eval_every`` steps; the final metrics include the full ``test`` split.
    """
    with torch_threads(config.num_threads):
        return _train(config)


def _train(config: TrainConfig) -> TrainResult:
    cfg = config
    steps = cfg.resolved_steps()
    check_device(cfg.device)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    task = make_task(cfg.task, cfg.seed, quick=cfg.quick, **cfg.task_params)
    mcfg = _model_config(cfg, task)
    model = build_model(mcfg, seed=cfg.seed).to(cfg.device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, cfg.warmup, steps))
    rng = check_random_state(cfg.seed + 7919)
    train_pairs = task.splits["train"]
    eval_every = cfg.eval_every or max(1, steps // 5)
    out = Path(cfg.out_dir) if cfg.out_dir else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    history, n_tokens, t0, start, spent = [], 0, time.perf_counter(), 0, 0.0
    if out and cfg.resume and (out / "checkpoint.pt").exists():
        ck = _load_resumable(out / "checkpoint.pt", cfg)
        model.load_state_dict(ck["model_state"])
        opt.load_state_dict(ck["optimizer_state"])
        sched.load_state_dict(ck["scheduler_state"])
        rng.bit_generator.state = json.loads(ck["rng_state"])
        start, n_tokens, spent = int(ck["step"]), int(ck["n_tokens"]), float(ck["train_time_s"])
        history = json.loads(ck["history"])
    bar = tqdm(range(start, steps), desc=f"train {cfg.task}/{cfg.kernel}",
               disable=not cfg.progress, initial=start, total=steps)
    model.train()
    for step in bar:
        idx = rng.integers(0, len(train_pairs), size=cfg.batch_size)
        batch = [train_pairs[i] for i in idx]
        src, tgt_in, tgt_out = encode_batch(batch, task.src_vocab, task.tgt_vocab, cfg.device)
        logits = model(src, tgt_in)  # (B, T, V)
        loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), tgt_out,
                                                 ignore_index=Vocab.pad_id)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        n_tokens += int((src != Vocab.pad_id).sum() + (tgt_out != Vocab.pad_id).sum())
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            val = evaluate(model, task, "val", max_examples=cfg.eval_max_examples)
            val.pop("samples")
            history.append({"step": step + 1, "train_loss": float(loss.detach()), "val": val})
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}", val_em=f"{val['exact_match']:.2f}")
            if out:
                save_checkpoint(out / "checkpoint.pt", model, cfg, task, step + 1, resume={
                    "optimizer_state": opt.state_dict(), "scheduler_state": sched.state_dict(),
                    "rng_state": json.dumps(rng.bit_generator.state), "n_tokens": n_tokens,
                    "train_time_s": spent + time.perf_counter() - t0,
                    "history": json.dumps(history)})
    train_time = spent + time.perf_counter() - t0
    metrics = {
        "config": asdict(cfg), "model": mcfg.to_dict(), "steps": steps,
        "train_time_s": train_time, "train_tokens_per_s": n_tokens / train_time,
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "chance_token_acc": task.chance, "history": history,
        "test": evaluate(model, task, "test"),
    }
    if out:
        _io.write_json(out / "metrics.json", metrics)
    return TrainResult(model, task, cfg, metrics)


#: TrainConfig fields that do not change the trained weights (a resume may differ in them).
_NOT_RUN_IDENTITY = ("progress", "out_dir", "resume", "num_threads", "device")


def _load_resumable(path, cfg: TrainConfig) -> dict:
    """Load a checkpoint to resume ``cfg``; refuse a damaged one or one of another run."""
    need = ("model_state", "optimizer_state", "scheduler_state", "rng_state", "step",
            "n_tokens", "train_time_s", "history", "train_config")

    def check(ck):
        missing = [k for k in need if k not in ck]
        if missing:
            raise KeyError(f"missing entries {missing}")

    ck = _io.load_torch(path, check=check, hint="delete it or rerun with --fresh")
    mine, theirs = asdict(cfg), dict(ck["train_config"])
    diff = [f"{k}: {theirs.get(k)!r} in the checkpoint, {v!r} now" for k, v in mine.items()
            if k not in _NOT_RUN_IDENTITY and theirs.get(k) != v]
    if diff:
        raise ValueError(f"{path} is a checkpoint of another run ({'; '.join(diff)}); use "
                         "another out_dir (--out) or start over (--fresh)")
    return ck


def save_checkpoint(path, model, cfg: TrainConfig, task: Task, step: int, *,
                    resume: dict | None = None) -> None:
    """Model weights, both configs, vocabularies and the step, in one ``torch.save`` file.

    Written atomically (temporary file + rename), so a killed run leaves the previous
    checkpoint intact. ``resume`` adds the optimizer, scheduler and batch-RNG states that
    :func:`train` needs to continue the run exactly.
    """
    _io.save_torch(path, {"model_state": model.state_dict(), "model_config": model.cfg.to_dict(),
                          "train_config": asdict(cfg), "src_itos": task.src_vocab.itos,
                          "tgt_itos": task.tgt_vocab.itos, "step": step, **(resume or {})})


def load_checkpoint(path):
    """Rebuild ``(model, task)`` from a checkpoint written by :func:`train`."""
    ck = _io.load_torch(path)
    known = set(TrainConfig.__dataclass_fields__)
    tc = TrainConfig(**{k: v for k, v in ck["train_config"].items() if k in known})
    task = make_task(tc.task, tc.seed, quick=tc.quick, **tc.task_params)
    if task.src_vocab.itos != ck["src_itos"] or task.tgt_vocab.itos != ck["tgt_itos"]:
        raise ValueError("the regenerated task's vocabulary differs from the checkpoint's")
    model = Seq2SeqTransformer(TransformerConfig(**ck["model_config"]))
    model.load_state_dict(ck["model_state"])
    return model, task


def train_from_cli(args) -> TrainResult:
    """Entry point of ``rkbs train`` (options defined in :mod:`rkbs.cli`)."""
    out = args.out or f"runs/{args.task}-{args.kernel}-seed{args.seed}"
    cfg = TrainConfig(task=args.task, kernel=args.kernel, seed=args.seed, steps=args.steps,
                      device=args.device, quick=args.quick, out_dir=out,
                      resume=not getattr(args, "fresh", False))
    res = train(cfg)
    t = res.metrics["test"]
    line = (f"test: loss {t['loss']:.3f}, token acc {t['token_acc']:.3f}, "
            f"exact match {t['exact_match']:.3f}")
    if "bleu" in t:
        line += f", BLEU {t['bleu']:.1f}"
    print(line)
    print(f"wrote {out}/metrics.json and {out}/checkpoint.pt")
    return res

