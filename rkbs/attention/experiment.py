r"""The kernel-variant experiment of MATH.md §6: does infinite dimensionality matter?

The same encoder–decoder is trained on number words (a) and associative recall (b) with
every attention kernel in :data:`KERNEL_VARIANTS`: the infinite-dimensional EDP, RBF and
exponentiated intersection; finite ones (polynomial degree 2, elu+1 linear attention);
and finite approximations of EDP that converge to it, Taylor truncations of even degree
N ∈ {2, 4, 6} (:math:`\sum_{n\le N} u^n/n! > 0` for even N, not for odd) and positive
random features with D ∈ {16, 64, 256}. If the infinite dimension matters, quality should
rise toward exact EDP as N and D grow, and finite kernels should trail infinite ones
(Wright & Gonzalez 2021, §6). :func:`run_experiment` trains and records every run;
:func:`kernel_variant_table` and :func:`plot_kernel_variants` summarize them
(mean ± std over seeds of exact match, and BLEU for number words).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from rkbs.attention.kernel_attention import make_attention
from rkbs.attention.training import TrainConfig, train
from rkbs.plotting import OKABE_ITO

__all__ = [
    "KERNEL_VARIANTS",
    "ExperimentConfig",
    "FULL_CONFIG",
    "QUICK_CONFIG",
    "run_experiment",
    "kernel_variant_table",
    "plot_kernel_variants",
]

#: Every kernel of the experiment, in table order.
KERNEL_VARIANTS = ("edp", "rbf", "exp_intersection", "poly2", "elu", "taylor2", "taylor4",
                   "taylor6", "prf16", "prf64", "prf256")



@dataclass
class ExperimentConfig:
    """What to train: tasks × kernels × seeds, each with ``train`` (TrainConfig fields).

    ``train`` overrides :class:`~rkbs.attention.training.TrainConfig` defaults for every run
    (model size, steps, ...); the task, kernel and seed are set per run.
    """

    tasks: tuple = ("number-words", "recall")
    kernels: tuple = KERNEL_VARIANTS
    seeds: tuple = (0, 1, 2)
    train: dict = field(default_factory=dict)


#: The full experiment: 2 tasks x 11 kernels x 3 seeds = 66 runs of 1000 steps; the head
#: dimension is 8 (8 heads of width 64) so that Taylor-6 features (C(14, 6) = 3003) fit.
FULL_CONFIG = ExperimentConfig(
    train={"steps": 1000, "d_model": 64, "n_heads": 8, "d_ff": 128, "n_enc_layers": 2,
           "n_dec_layers": 2, "lr": 3e-3, "batch_size": 64, "eval_every": 250,
           "eval_max_examples": 300})

#: A quick configuration for tests: one task, four kernels, one seed, tiny model.
QUICK_CONFIG = ExperimentConfig(
    tasks=("number-words",), kernels=("edp", "elu", "taylor2", "prf16"), seeds=(0,),
    train={"steps": 60, "d_model": 16, "n_heads": 2, "d_ff": 32, "n_enc_layers": 1,
           "n_dec_layers": 1, "quick": True, "eval_every": 60, "eval_max_examples": 50,
           "task_params": {"max_number": 199}})


def run_experiment(config: ExperimentConfig | None = None, out_dir=None, seeds=None,
                   quick: bool = False, *, progress: bool = True) -> dict:
    """Train every (task, kernel, seed) of ``config`` and collect test metrics.

    Parameters
    ----------
    config : ExperimentConfig, optional
        Default :data:`QUICK_CONFIG` when ``quick`` else :data:`FULL_CONFIG`.
    out_dir : path, optional
        Writes ``kernel_variants.json`` (all runs, after each run, so a partial run keeps
        its results), ``kernel_variants.md`` (the table) and ``kernel_variants.png``.
    seeds : sequence of int, optional
        Overrides ``config.seeds``.
    quick : bool
        Use :data:`QUICK_CONFIG` when no config is given.

    Returns
    -------
    dict
        ``config``, ``runs`` (one dict per run: task, kernel, seed, feature_dim,
        exact_match, token_acc, loss, bleu (number words), train_time_s, tokens_per_s),
        ``wall_time_s``.
    """
    from tqdm.auto import tqdm

    cfg = config or (QUICK_CONFIG if quick else FULL_CONFIG)
    if seeds is not None:
        cfg = replace(cfg, seeds=tuple(seeds))
    for k in cfg.kernels:  # fail early on a bad name, listing the valid ones
        make_attention(k, 8, seed=0)
    out = Path(out_dir) if out_dir else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    jobs = [(t, k, s) for t in cfg.tasks for s in cfg.seeds for k in cfg.kernels]
    results = {"config": asdict(cfg), "runs": []}
    t0 = time.perf_counter()
    for task, kernel, seed in tqdm(jobs, desc="kernel variants", disable=not progress):
        tc = TrainConfig(task=task, kernel=kernel, seed=seed, progress=False, **cfg.train)
        res = train(tc)
        test = res.metrics["test"]
        head_dim = tc.d_model // tc.n_heads
        fd = make_attention(kernel, head_dim, seed=0).feature_dim
        results["runs"].append({
            "task": task, "kernel": kernel, "seed": seed,
            "feature_dim": "inf" if fd == math.inf else int(fd),
            "exact_match": test["exact_match"], "token_acc": test["token_acc"],
            "loss": test["loss"], "bleu": test.get("bleu"),
            "train_time_s": res.metrics["train_time_s"],
            "tokens_per_s": res.metrics["train_tokens_per_s"],
        })
        results["wall_time_s"] = time.perf_counter() - t0
        if out:
            (out / "kernel_variants.json").write_text(json.dumps(results, indent=2),
                                                      encoding="utf-8")
    if out:
        (out / "kernel_variants.md").write_text(kernel_variant_table(results) + "\n",
                                                encoding="utf-8")
        fig = plot_kernel_variants(results, out / "kernel_variants.png")
        import matplotlib.pyplot as plt

        plt.close(fig)
    return results


def _summary(results):
    """{(task, kernel): {metric: (mean, std, n)}} over seeds (std with ddof=1 when n > 1)."""
    groups = {}
    for r in results["runs"]:
        groups.setdefault((r["task"], r["kernel"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        stats = {}
        for m in ("exact_match", "bleu", "token_acc", "train_time_s"):
            vals = np.array([r[m] for r in rs if r.get(m) is not None], float)
            if vals.size:
                std = float(vals.std(ddof=1)) if vals.size > 1 else float("nan")
                stats[m] = (float(vals.mean()), std, int(vals.size))
        stats["feature_dim"] = rs[0]["feature_dim"]
        out[key] = stats
    return out


def kernel_variant_table(results: dict) -> str:
    """Markdown table: task, kernel, feature dim, exact match / BLEU / token acc (mean ± std)."""
    summ = _summary(results)

    def fmt(st, key, scale=1.0):
        if key not in st:
            return "–"
        m, s, n = st[key]
        return f"{scale * m:.3f}" if n == 1 else f"{scale * m:.3f} ± {scale * s:.3f}"

    lines = ["| task | kernel | feature dim | exact match | BLEU | token acc | seeds | "
             "train s/run |", "|---|---|---|---|---|---|---|---|"]
    for (task, kernel), st in summ.items():
        n = st["exact_match"][2]
        lines.append(
            f"| {task} | {kernel} | {st['feature_dim']} | {fmt(st, 'exact_match')} | "
            f"{fmt(st, 'bleu')} | {fmt(st, 'token_acc')} | {n} | "
            f"{st['train_time_s'][0]:.0f} |")
    return "\n".join(lines)


def plot_kernel_variants(results: dict, path=None):
    """Bar chart of exact match (mean ± std over seeds) per kernel, one panel per task.

    Saves to ``path`` when given; returns the figure.
    """
    import matplotlib.pyplot as plt

    summ = _summary(results)
    tasks = list(dict.fromkeys(t for t, _ in summ))
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 3.8), squeeze=False,
                             constrained_layout=True)
    for ax, task in zip(axes[0], tasks):
        kernels = [k for t, k in summ if t == task]
        means = [summ[(task, k)]["exact_match"][0] for k in kernels]
        stds = [np.nan_to_num(summ[(task, k)]["exact_match"][1]) for k in kernels]

        def family(k):
            return 1 if k.startswith("taylor") else 2 if k.startswith("prf") else (
                3 if k in ("poly2", "elu") else 0)

        colors = [OKABE_ITO[family(k)] for k in kernels]
        ax.bar(range(len(kernels)), means, yerr=stds, color=colors, capsize=3)
        ax.set_xticks(range(len(kernels)), kernels, rotation=45, ha="right")
        ax.set_ylabel("test exact match (fraction)")
        ax.set_ylim(0, 1.05)
        ax.set_title(f"task: {task}")
    handles = [plt.Rectangle((0, 0), 1, 1, color=OKABE_ITO[i]) for i in range(4)]
    axes[0][-1].legend(handles, ["infinite-dim. kernel", "Taylor EDP (even N)",
                                 "random features EDP", "finite kernel"],
                       fontsize=8, loc="upper right")
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
