"""Batched-seed training: model-steps per second, S seeds as one vectorized model vs S runs.

For S ∈ {1, 4, 10, 16}: train S seeds of one configuration with
:func:`rkbs.attention.ensemble.train_ensemble` (stacked parameters, one vmapped forward and
backward per step) and, as the baseline, S separate runs of the same function with one seed
each (each bit-identical to its slice of the batched run; tested in
``tests/test_ensemble.py``). Throughput = S × steps / wall time. Two configurations:
the Schlag et al. (2021) retrieval layer (N = 20, d_k = 64, batch 32, softmax) and the
MQAR decoder-only model of the capacity sweep (K = 8, 2 layers, d_model 32, batch 32,
EDP, output layer at the query positions). One torch thread. The machine's load average is recorded with the table: the
project machine is shared, so absolute numbers move with it; the ratio is measured
within one run. Timings are never asserted in tests.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import replace

import numpy as np
import torch

from benchmarks import write_table
from rkbs.attention.ensemble import train_ensemble


def _retrieval():
    from rkbs.attention.model import RetrievalConfig, build_retrieval_model
    from rkbs.attention.recall import retrieval_batch, retrieval_loss

    cfg = RetrievalConfig(n_keys=20, d_key=64, kernel="edp")
    return (lambda s: build_retrieval_model(cfg, seed=s),
            lambda rng: retrieval_batch(rng, 20, 32), retrieval_loss)


def _mqar():
    from rkbs.attention.capacity import FULL_CAPACITY
    from rkbs.attention.model import TransformerConfig, build_model
    from rkbs.attention.recall import IGNORE, make_mqar

    sw = replace(FULL_CAPACITY, n_train=512)
    mq = sw.mqar(8)
    x, y = make_mqar(mq, 512, np.random.default_rng(0))
    cfg = TransformerConfig(src_vocab=mq.vocab_size, tgt_vocab=mq.vocab_size,
                            d_model=sw.d_model, n_heads=sw.n_heads, d_ff=sw.d_ff,
                            n_dec_layers=sw.n_layers, max_len=mq.seq_len, arch="decoder")

    # as in the capacity sweep: the output layer at the Q query positions only
    pos = torch.sort((y != IGNORE).nonzero()[:, 1].view(len(y), mq.queries), dim=1).values
    yq = torch.gather(y, 1, pos)

    def sample(rng):
        i = torch.as_tensor(rng.integers(0, len(x), 32))
        return (x[i], pos[i]), yq[i]

    def loss(logits, t):
        return torch.nn.functional.cross_entropy(logits.transpose(-1, -2), t)

    return lambda s: build_model(cfg, seed=s), sample, loss


def _rate(build, sample, loss, seeds, steps):
    t0 = time.perf_counter()
    train_ensemble(build, seeds, sample=sample, loss=loss, steps=steps)
    return len(seeds) * steps / (time.perf_counter() - t0)


def main(out_dir=None, quick: bool = False, verbose: bool = True) -> list[dict]:
    steps = 10 if quick else 60
    sizes = (1, 4) if quick else (1, 4, 10, 16)
    rows = []
    load0 = os.getloadavg()[0]
    for name, make in (("retrieval N=20", _retrieval), ("MQAR K=8 decoder", _mqar)):
        build, sample, loss = make()
        _rate(build, sample, loss, [0], 3)  # warm-up
        for S in sizes:
            seeds = list(range(S))
            batched = _rate(build, sample, loss, seeds, steps)
            t0 = time.perf_counter()
            for s in seeds:
                train_ensemble(build, [s], sample=sample, loss=loss, steps=steps)
            separate = S * steps / (time.perf_counter() - t0)
            rows.append({"config": name, "S": S, "batched": batched, "separate": separate,
                         "ratio": batched / separate, "load": os.getloadavg()[0]})
            print(rows[-1], flush=True)
    lines = ["## Batched-seed training (model-steps per second)", "",
             f"`benchmarks/bench_batched_training.py`; {steps} steps per run, one torch "
             f"thread, {platform.processor() or platform.machine()}, torch {torch.__version__}. "
             f"Load average (1 min) at the start {load0:.1f} on 2 cores: the machine was "
             "shared while this ran, so absolute rates are low and noisy; batched and "
             "separate runs alternate within one row.", "",
             "| configuration | S | batched (model-steps/s) | S separate runs | ratio | load |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['config']} | {r['S']} | {r['batched']:.1f} | {r['separate']:.1f} | "
                     f"{r['ratio']:.2f}× | {r['load']:.1f} |")
    write_table(out_dir, "batched_training.md", "\n".join(lines) + "\n")
    return rows


if __name__ == "__main__":
    main()
