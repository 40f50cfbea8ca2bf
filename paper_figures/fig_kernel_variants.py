r"""The kernel-variant Transformer experiment (theory §6): table and figure.

The same small encoder–decoder is trained with each attention kernel
(:data:`rkbs.attention.experiment.KERNEL_VARIANTS`: infinite-dimensional EDP, RBF,
exponentiated intersection; finite polynomial and elu+1; Taylor truncations of EDP of
even degree; positive random features of growing D), and the test exact match is
reported per kernel (mean ± std over seeds). Quick mode trains four kernels for a few
steps (a smoke run: its numbers say nothing about the kernels). The full experiment takes
hours on 2 CPU cores, so the default (non-quick) mode draws the figure from the stored,
measured runs in ``paper_figures/data/kernel_variants_runs.json`` (written by
:func:`rkbs.attention.experiment.run_experiment`; its configuration is in the file and in
the figure title); ``main(out_dir, rerun=True)`` or ``results_json=PATH`` retrains or uses
another run. Files:
``kernel_variants.png/.pdf`` (bars), ``kernel_variants.csv`` (one row per run),
``kernel_variants.json`` (all runs, the configuration and, per task with several seeds,
:func:`rkbs.attention.experiment.kernel_variant_stats`), ``kernel_variants.md`` (table).
"""

from __future__ import annotations

import json
from pathlib import Path

from paper_figures._common import figure_dir, save_figure, write_csv, write_json
from rkbs.plotting import plot_kernel_variants

NAME = "kernel_variants"
STORED_RUNS = Path(__file__).resolve().parent / "data" / "kernel_variants_runs.json"


def _chance(results: dict) -> dict:
    """Token accuracy of a uniform guess over each task's target words (the runs' data)."""
    from rkbs.attention.tasks import make_task

    tr = results["config"].get("train", {})
    return {t: make_task(t, seed=0, quick=bool(tr.get("quick", False)),
                         **tr.get("task_params", {})).chance
            for t in dict.fromkeys(r["task"] for r in results["runs"])}


def main(out_dir=None, quick: bool = False, verbose: bool = True, *, rerun: bool = False, results_json=None) -> dict:
    out_dir = figure_dir(out_dir)
    from rkbs.attention.experiment import (
        kernel_variant_stats,
        kernel_variant_table,
        run_experiment,
    )

    if quick or rerun:
        results = run_experiment(quick=quick, progress=False)
        source = "quick smoke run" if quick else "full run"
    else:
        path = Path(results_json) if results_json else STORED_RUNS
        with open(path, encoding="utf-8") as fh:
            results = json.load(fh)
        tr = results["config"]["train"]
        source = f"stored run, {tr['steps']} steps"
    runs = results["runs"]
    tasks = list(dict.fromkeys(r["task"] for r in runs))
    fig = plot_kernel_variants(results, chance=_chance(results), source=source, smoke=quick)
    files = save_figure(fig, out_dir, NAME)
    rows = [{k: r[k] for k in ("task", "kernel", "seed", "feature_dim", "exact_match",
                               "token_acc", "loss", "bleu", "train_time_s")} for r in runs]
    files.append(write_csv(rows, f"{out_dir}/{NAME}.csv"))
    stats = {}
    for task in tasks:
        if len({r["seed"] for r in runs if r["task"] == task}) > 1:
            stats[task] = kernel_variant_stats(results, task=task)
    files.append(write_json({**results, "stats": stats}, f"{out_dir}/{NAME}.json"))
    table = kernel_variant_table(results)
    md = f"{out_dir}/{NAME}.md"
    with open(md, "w", encoding="utf-8") as fh:
        fh.write(table + "\n")
    files.append(md)
    return {"files": files, "n_runs": len(runs), "table": table, "source": source,
            "stats": stats}
