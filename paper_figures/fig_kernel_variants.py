r"""The kernel-variant Transformer experiment (MATH.md §6): table and figure.

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

import numpy as np

from paper_figures._common import (
    OKABE_ITO,
    figure_dir,
    new_figure,
    save_figure,
    style,
    write_csv,
    write_json,
)

NAME = "kernel_variants"
STORED_RUNS = Path(__file__).resolve().parent / "data" / "kernel_variants_runs.json"


def _family(k: str) -> int:
    if k.startswith("taylor"):
        return 1
    if k.startswith("prf"):
        return 2
    return 3 if k in ("poly2", "elu") else 0


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
    with style():
        fig, axes = new_figure(len(tasks), width=4.2, height=3.2)
        for ax, task in zip(axes[0], tasks):
            kernels = list(dict.fromkeys(r["kernel"] for r in runs if r["task"] == task))
            x = np.arange(len(kernels))
            for off, metric, alpha in ((-0.2, "exact_match", 1.0), (0.2, "token_acc", 0.45)):
                vals = [np.array([r[metric] for r in runs
                                  if r["task"] == task and r["kernel"] == k]) for k in kernels]
                ax.bar(x + off, [v.mean() for v in vals], width=0.4, alpha=alpha,
                       yerr=[v.std(ddof=1) if v.size > 1 else 0.0 for v in vals], capsize=2,
                       color=[OKABE_ITO[_family(k)] for k in kernels], edgecolor="0.2",
                       linewidth=0.5)
            ax.set_xticks(x, kernels, rotation=45, ha="right")
            ax.set_ylabel("test score (fraction)\nsolid: exact match, light: token accuracy")
            ax.set_ylim(0, 1.3)
            ax.set_yticks(np.linspace(0, 1, 6))
            n_seeds = len({r["seed"] for r in runs})
            ax.set_title(f"task: {task} ({n_seeds} seed{'s' if n_seeds > 1 else ''}; {source})")
        from matplotlib.patches import Patch

        handles = [Patch(color=OKABE_ITO[i], label=lab) for i, lab in enumerate(
            ["infinite-dim. kernel", "Taylor EDP (even N)", "random features EDP",
             "finite kernel"])]
        axes[0][-1].legend(handles=handles, loc="upper center", ncol=2)
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
