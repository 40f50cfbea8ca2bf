"""Attention layer speed vs sequence length, and training throughput on task (a).

Forward + backward time of one attention call (B = 1, H = 4 heads, d = 64 per head,
float32) for L ∈ {128, …, 4096}: the exact EDP path of :mod:`rkbs.attention`
(quadratic, materialized weights), torch's ``scaled_dot_product_attention`` (quadratic,
fused), and the linear-time feature path with positive random features (D = 64) and
elu+1 (D = d). Reports the log-log slopes (time ∝ L^slope) and the measured crossover
length where the feature path becomes faster than each quadratic one. Then tokens per
second of training the number-words model (the experiment's configuration) on CPU.
Timings are measured once here and never asserted in tests.
"""

from __future__ import annotations

import os
import platform
import statistics
import time

import numpy as np
import torch

from benchmarks import write_table
from rkbs._backend import torch_threads
from rkbs.attention.kernel_attention import attention, make_attention

METHODS = ("exact EDP (rkbs)", "torch SDPA", "PRF D=64 (linear)", "elu+1 (linear)")


def _time_fwd_bwd(fn, q, k, v, reps: int) -> float:
    times = []
    for r in range(reps + 1):
        qq, kk, vv = (x.detach().requires_grad_(True) for x in (q, k, v))
        t0 = time.perf_counter()
        fn(qq, kk, vv).sum().backward()
        if r:  # the first call warms up
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _methods(d):
    s = d**-0.25
    edp, prf, elu = (make_attention("edp", d), make_attention("prf64", d, seed=0),
                     make_attention("elu", d))
    return {
        METHODS[0]: lambda q, k, v: attention(q * s, k * s, v, edp),
        METHODS[1]: lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v),
        METHODS[2]: lambda q, k, v: attention(q * s, k * s, v, prf),
        METHODS[3]: lambda q, k, v: attention(q * s, k * s, v, elu),
    }


def _crossover(Ls, fast, slow):
    for L, a, b in zip(Ls, fast, slow):
        if a < b:
            return L
    return None


def _train_tokens_per_s(quick: bool) -> dict:
    from rkbs.attention.experiment import FULL_CONFIG
    from rkbs.attention.training import TrainConfig, train

    steps = 20 if quick else 100
    out = {}
    for kernel in ("edp", "elu", "prf64"):
        res = train(TrainConfig(task="number-words", kernel=kernel, seed=0, progress=False,
                                **{**FULL_CONFIG.train, "steps": steps, "eval_every": steps,
                                   "eval_max_examples": 20}))
        out[kernel] = res.metrics["train_tokens_per_s"]
    return out


def main(out_dir=None, quick: bool = False, verbose: bool = True) -> list[dict]:
    Ls = (128, 512) if quick else (128, 256, 512, 1024, 2048, 4096)
    d, H = 64, 4
    reps = 2 if quick else 3
    load0 = os.getloadavg()[0]
    with torch_threads(1):  # the project machine's 2 cores are shared; one thread is stable
        g = torch.Generator().manual_seed(0)
        fns = _methods(d)
        times = {m: [] for m in METHODS}
        rows = []
        for L in Ls:
            q, k, v = (torch.randn(1, H, L, d, generator=g) for _ in range(3))
            row = {"L": L}
            for m, fn in fns.items():
                t = _time_fwd_bwd(fn, q, k, v, reps)
                times[m].append(t)
                row[m] = t
            rows.append(row)
        tokens = _train_tokens_per_s(quick)
    upper = slice(len(Ls) // 2, None)  # slopes on the larger half (asymptotic regime)
    slopes = {m: float(np.polyfit(np.log(Ls[upper]), np.log(times[m][upper]), 1)[0])
              if len(Ls[upper]) > 1 else float("nan") for m in METHODS}
    cross = {(f, s): _crossover(Ls, times[f], times[s]) for f in METHODS[2:] for s in METHODS[:2]}
    cpu = platform.processor() or platform.machine()
    load = (load0 + os.getloadavg()[0]) / 2
    lines = [
        "## Attention: forward + backward time vs sequence length",
        "",
        f"One attention call, B = 1, H = {H}, d = {d}, float32, CPU ({cpu}), 1 torch thread, "
        f"median of {reps} runs (ms), {os.cpu_count()} cores at a 1-minute load average of "
        f"{load:.1f} (other jobs share the machine: absolute times are inflated, compare "
        "within a row). No GPU was lent to this session, so there is no GPU table. "
        + ("Quick run. " if quick else ""),
        "",
        "| L | " + " | ".join(METHODS) + " |",
        "|---|" + "---|" * len(METHODS),
    ]
    for r in rows:
        lines.append(f"| {r['L']} | " + " | ".join(f"{1e3 * r[m]:.2f}" for m in METHODS) + " |")
    lines += ["", "Log-log slope of time vs L over L ≥ "
              f"{Ls[len(Ls) // 2]}: " + ", ".join(f"{m} {s:.2f}" for m, s in slopes.items()),
              "", "Measured crossover (first L where the linear path is faster): " + "; ".join(
                  f"{f} vs {s}: {'L = ' + str(c) if c else 'not within L ≤ ' + str(Ls[-1])}"
                  for (f, s), c in cross.items()),
              "", "Training throughput, number-words model of the kernel-variant experiment "
              "(d_model 64, 8 heads, 2+2 layers, batch 64, 1 thread), source + target tokens/s: "
              + ", ".join(f"{k} {v:.0f}" for k, v in tokens.items()), ""]
    write_table(out_dir, "attention.md", "\n".join(lines))
    if verbose:
        print("\n".join(lines))
    for r in rows:
        r.update({"slopes": slopes})
    rows.append({"train_tokens_per_s": tokens})
    return rows


if __name__ == "__main__":  # pragma: no cover
    main()
