r"""Claim 7, decisively: recall capacity against feature dimension.

Two experiments, each a grid of cells run by :func:`rkbs.sweep.run_sweep` (resumable,
one JSON file per finished cell) with every cell's seeds trained as one batched model
(:mod:`rkbs.attention.ensemble`).

**Retrieval** (:func:`run_retrieval`; Schlag, Irie & Schmidhuber 2021, §6.1): the largest
number N of key→value associations a single attention layer with :math:`d_k = 64` can
learn to retrieve (loss ≤ 1e-3), per attention kernel; compared with the authors'
published runs (:data:`SCHLAG2021_REFERENCE`).

**Capacity on MQAR** (:func:`run_capacity`; the hypotheses and the budget in
:mod:`rkbs.attention.capacity_stats`): test accuracy of a 2-layer decoder-only model on
multi-query associative recall with K pairs, for every attention kernel and K crossing
each finite kernel's feature dimension D.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from rkbs.attention.kernel_attention import make_attention
from rkbs.attention.recall import SCHLAG_SETTING, run_retrieval_cell
from rkbs.sweep import run_sweep

__all__ = [
    "RETRIEVAL_KERNELS", "RETRIEVAL_N", "RetrievalSweep", "FULL_RETRIEVAL", "QUICK_RETRIEVAL",
    "SCHLAG2021_REFERENCE", "retrieval_cell", "run_retrieval", "retrieval_table",
    "retrieval_summary",
]

#: Kernels of the retrieval sweep (data: a name that :func:`make_attention` parses runs).
#: softmax = exact EDP; elu+1 (D = 64); DPFP ν = 1, 2, 3 (D = 2ν·64); FAVOR+ positive
#: random features with 64, 128, 512 features; the toolkit's Taylor-2 EDP (D = C(66, 2) =
#: 2145) and RBF (D = ∞).
RETRIEVAL_KERNELS = ("edp", "elu", "dpfp1", "dpfp2", "dpfp3", "prf64", "prf128", "prf512",
                     "taylor2", "rbf")

#: N grid: the authors sweep 20, 40, …, 600; on this CPU every 20 up to 400, then 500, 600.
RETRIEVAL_N = tuple(range(20, 401, 20)) + (500, 600)

#: The published runs (the authors' logs, ``synthetic/logs/d64_<kernel>_sum_AssocSeq<N>N<N>R0
#: .csv`` of ischlag/fast-weight-transformers, one seed): final evaluation loss at the N
#: values read, per kernel. "solved" means ≤ 1e-3. FAVOR+ there has 2m features (±ω);
#: the toolkit's ``prf<m>`` has m.
SCHLAG2021_REFERENCE = {
    "edp": {"D": "inf", "loss": {600: 0.0536}},
    "elu": {"D": 64, "loss": {40: 0.00083, 60: 0.0247}},
    "dpfp1": {"D": 128, "loss": {100: 0.00021, 120: 0.0086}},
    "dpfp2": {"D": 256, "loss": {240: 0.00051, 280: 0.0455}},
    "dpfp3": {"D": 384, "loss": {320: 0.00063, 360: 0.0045, 400: 0.036}},
    "prf64": {"D": 128, "loss": {20: 0.130, 60: 0.492}},
    "prf128": {"D": 256, "loss": {60: 0.484}},
    "prf512": {"D": 1024, "loss": {100: 0.500}},
}


@dataclass
class RetrievalSweep:
    """The retrieval grid: kernels × N, ``seeds`` batched in every cell."""

    kernels: tuple = RETRIEVAL_KERNELS
    n_keys: tuple = RETRIEVAL_N
    seeds: tuple = (0, 1, 2, 3, 4)
    max_steps: int = SCHLAG_SETTING.max_steps
    #: stop a kernel's N sweep after this many failed N (larger N are not run).
    stop_after_failures: int = 2
    extra: dict = field(default_factory=dict)


FULL_RETRIEVAL = RetrievalSweep()
QUICK_RETRIEVAL = RetrievalSweep(kernels=("edp", "elu"), n_keys=(8, 16), seeds=(0, 1),
                                 max_steps=300)


def retrieval_cell(cell: dict) -> dict:
    """Cell function of the retrieval sweep: ``{"kernel", "n_keys", "seeds", "max_steps"}``."""
    return run_retrieval_cell(cell["kernel"], cell["n_keys"], cell["seeds"],
                              max_steps=cell["max_steps"])


def _cell_solved(result: dict) -> bool:
    """A cell is solved when at least half of its seeds reach loss ≤ 1e-3."""
    return 2 * sum(result["solved"]) >= len(result["solved"])


def run_retrieval(out_dir, sweep: RetrievalSweep | None = None, *, quick: bool = False,
                  seeds=None, executor=None, n_workers: int = 1, scheduler=None,
                  progress: bool = True) -> dict:
    """Run (or resume) the retrieval sweep into ``out_dir``; returns the summary.

    Cells are submitted in order of N (every kernel at N before any at the next N), and a
    kernel's larger N are skipped once it has failed at ``stop_after_failures`` N values.
    Writes ``retrieval.json`` (all finished cells) and ``retrieval.md`` (the table).
    """
    import json
    from pathlib import Path

    sw = sweep or (QUICK_RETRIEVAL if quick else FULL_RETRIEVAL)
    if seeds is not None:
        sw = RetrievalSweep(**{**asdict(sw), "seeds": tuple(seeds)})
    for k in sw.kernels:
        make_attention(k, 64, seed=0)  # fail early on a name that does not parse
    cells = [{"kernel": k, "n_keys": int(n), "seeds": list(sw.seeds), "max_steps": sw.max_steps}
             for n in sw.n_keys for k in sw.kernels]

    def should_run(cell, done):
        fails = [r for r in done.values() if r["cell"]["kernel"] == cell["kernel"]
                 and r["cell"]["n_keys"] < cell["n_keys"] and not _cell_solved(r["result"])]
        return len(fails) < sw.stop_after_failures

    recs = run_sweep(cells, retrieval_cell, out_dir, executor=executor, n_workers=n_workers,
                     scheduler=scheduler, should_run=should_run, progress=progress,
                     desc="retrieval")
    results = {"sweep": asdict(sw), "cells": [r["result"] | {"wall_time_s": r["wall_time_s"]}
                                              for r in recs.values()]}
    out = Path(out_dir)
    (out / "retrieval.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    (out / "retrieval.md").write_text(retrieval_table(results) + "\n", encoding="utf-8")
    return results


def retrieval_summary(results: dict) -> dict:
    """Per kernel: largest N solved, first N failed, N/D at failure, cells, seeds.

    ``largest_solved`` is the largest N solved below the first failure (None when the
    smallest N failed); ``n_over_d`` is first-failed N / D (None for D = ∞ or no failure).
    """
    by = {}
    for c in results["cells"]:
        by.setdefault(c["kernel"], []).append(c)
    out = {}
    for k, cs in by.items():
        cs = sorted(cs, key=lambda c: c["n_keys"])
        first_fail = next((c["n_keys"] for c in cs if not _cell_solved(c)), None)
        below = [c["n_keys"] for c in cs if _cell_solved(c)
                 and (first_fail is None or c["n_keys"] < first_fail)]
        D = cs[0]["feature_dim"]
        out[k] = {
            "D": D, "largest_solved": max(below) if below else None, "first_failed": first_fail,
            "n_over_d": (first_fail / D if first_fail is not None and D != "inf" else None),
            "n_cells": len(cs), "seeds": len(cs[0]["seeds"]), "max_n_run": cs[-1]["n_keys"],
            "fraction_solved": {c["n_keys"]: float(np.mean(c["solved"])) for c in cs},
        }
    return out


def _published(kernel: str):
    ref = SCHLAG2021_REFERENCE.get(kernel)
    if not ref:
        return "–", "–"
    solved = [n for n, v in ref["loss"].items() if v <= 1e-3]
    failed = [n for n, v in ref["loss"].items() if v > 1e-3]
    return (str(max(solved)) if solved else "–"), (str(min(failed)) if failed else "–")


def retrieval_table(results: dict) -> str:
    """Markdown: kernel, D, largest N solved, first N failed, N/D, published values."""
    summ = retrieval_summary(results)
    lines = ["| kernel | D | largest N solved | first N failed | N/D at failure | "
             "published solved / failed | seeds | N run up to |",
             "|---|---|---|---|---|---|---|---|"]
    for k, s in summ.items():
        ps, pf = _published(k)
        nd = f"{s['n_over_d']:.2f}" if s["n_over_d"] is not None else "–"
        lines.append(
            f"| {k} | {s['D']} | {s['largest_solved'] or '–'} | {s['first_failed'] or '–'} | "
            f"{nd} | {ps} / {pf} | {s['seeds']} | {s['max_n_run']} |")
    return "\n".join(lines)


def feature_dim(kernel: str, head_dim: int):
    """Feature dimension D of ``kernel`` at ``head_dim`` (``math.inf`` for EDP, RBF, ...)."""
    fd = make_attention(kernel, head_dim, seed=0).feature_dim
    return math.inf if fd == math.inf else int(fd)
