r"""The kernel-variant experiment of theory §6: does infinite dimensionality matter?

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
from rkbs.plotting import plot_kernel_variants  # noqa: F401 (moved there; old name kept)

__all__ = [
    "KERNEL_VARIANTS",
    "ExperimentConfig",
    "FULL_CONFIG",
    "QUICK_CONFIG",
    "run_one",
    "run_experiment",
    "kernel_variant_table",
    "kernel_variant_stats",
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


def run_one(task: str, kernel: str, seed: int, train_overrides: dict | None = None) -> dict:
    """Train one (task, kernel, seed) run of the experiment and return its record.

    ``train_overrides`` are :class:`~rkbs.attention.training.TrainConfig` fields shared by
    every run (``ExperimentConfig.train``). The record holds task, kernel, seed,
    feature_dim ("inf" for infinite-dimensional kernels), the test exact_match, token_acc,
    loss and bleu (number words only), train_time_s and tokens_per_s.
    """
    tc = TrainConfig(task=task, kernel=kernel, seed=seed, progress=False,
                     **(train_overrides or {}))
    res = train(tc)
    test = res.metrics["test"]
    fd = make_attention(kernel, tc.d_model // tc.n_heads, seed=0).feature_dim
    return {
        "task": task, "kernel": kernel, "seed": seed,
        "feature_dim": "inf" if fd == math.inf else int(fd),
        "exact_match": test["exact_match"], "token_acc": test["token_acc"],
        "loss": test["loss"], "bleu": test.get("bleu"),
        "train_time_s": res.metrics["train_time_s"],
        "tokens_per_s": res.metrics["train_tokens_per_s"],
    }


def _run_cell(cell: dict) -> dict:
    """Sweep cell of :func:`run_experiment`: ``{"task", "kernel", "seed", "train"}``."""
    return run_one(cell["task"], cell["kernel"], cell["seed"], cell["train"])


def run_experiment(config: ExperimentConfig | None = None, out_dir=None, seeds=None,
                   quick: bool = False, *, n_jobs: int = 1, progress: bool = True) -> dict:
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
    n_jobs : int
        Worker processes (each trains with its own ``num_threads``, one by default). Runs
        are independent and seeded, so the records do not depend on ``n_jobs``. With
        ``n_jobs > 1`` the runs go to a Dask LocalCluster through :func:`rkbs.sweep.run_sweep`
        (each finished run is also stored atomically under ``out_dir/runs``, and a re-run
        with the same ``out_dir`` skips them); records are stored in the order they finish
        while running and in job order at the end.

    Returns
    -------
    dict
        ``config``, ``runs`` (one record of :func:`run_one` per run), ``wall_time_s``.
    """
    from tqdm.auto import tqdm

    if not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive int, got {n_jobs!r}")
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

    def write():
        results["wall_time_s"] = time.perf_counter() - t0
        if out:
            (out / "kernel_variants.json").write_text(json.dumps(results, indent=2),
                                                      encoding="utf-8")

    def record(run):
        results["runs"].append(run)
        write()

    if n_jobs == 1:
        bar = tqdm(total=len(jobs), desc="kernel variants", disable=not progress)
        for job in jobs:
            record(run_one(*job, cfg.train))
            bar.update()
        bar.close()
    else:
        # resumable Dask sweep (rkbs.sweep): one JSON per finished run under out/runs
        import tempfile

        from rkbs.sweep import run_sweep

        cells = [{"task": t, "kernel": k, "seed": s, "train": cfg.train} for t, k, s in jobs]
        with tempfile.TemporaryDirectory() as tmp:
            recs = run_sweep(cells, _run_cell, (out / "runs") if out else tmp, n_workers=n_jobs,
                             progress=progress, desc="kernel variants",
                             on_result=lambda rec: record(rec["result"]))
            # job order (task, seed, kernel), as a serial run stores them
            results["runs"] = [r["result"] for r in recs.values()]
        write()
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


#: Kernels grouped for the finite-versus-infinite comparison of :func:`kernel_variant_stats`.
INFINITE_KERNELS = ("edp", "rbf", "exp_intersection")
FINITE_KERNELS = ("poly2", "elu")


def _family_order(kernel: str, prefix: str):
    return int(kernel[len(prefix):]) if kernel.startswith(prefix) else None


def kernel_variant_stats(results: dict, task: str = "recall", metric: str = "exact_match",
                         *, n_resamples: int = 9999, seed=0) -> dict:
    r"""Significance of the kernel effects theory §6 asks about, from the per-seed runs.

    * ``trend_taylor`` / ``trend_prf``: Spearman's ρ between the Taylor degree N (the
      random-feature dimension D) and ``metric`` over all runs of that family, with a
      one-sided permutation p-value for "quality rises with N (D)" (labels permuted over
      runs, ``n_resamples`` resamples, :func:`scipy.stats.permutation_test`).
    * ``infinite_vs_finite``: Welch's t-test of the pooled infinite-dimensional kernels
      (EDP, RBF, exponentiated intersection) against the finite ones (polynomial degree 2,
      elu+1), one-sided for "infinite is better".
    * ``vs_edp``: Welch's two-sided t-test of each kernel against EDP.

    With 3 seeds per kernel these tests have little power; a p-value above 0.05 means the
    measurement cannot tell, not that there is no effect.

    Returns
    -------
    dict
        ``task``, ``metric``, ``trend_taylor``/``trend_prf`` (``rho``, ``p_increasing``,
        ``n_runs``), ``infinite_vs_finite`` (``mean_infinite``, ``mean_finite``, ``t``,
        ``p_greater``, ``n``), ``vs_edp`` (kernel -> ``diff``, ``t``, ``p``).
    """
    from scipy import stats

    runs = [r for r in results["runs"] if r["task"] == task and r.get(metric) is not None]
    if not runs:
        raise ValueError(f"no runs of task {task!r} with metric {metric!r}")
    by_kernel = {}
    for r in runs:
        by_kernel.setdefault(r["kernel"], []).append(float(r[metric]))
    rng = np.random.default_rng(seed)
    out = {"task": task, "metric": metric}
    for name, prefix in (("trend_taylor", "taylor"), ("trend_prf", "prf")):
        pts = [(_family_order(r["kernel"], prefix), float(r[metric])) for r in runs
               if _family_order(r["kernel"], prefix) is not None]
        if len({x for x, _ in pts}) < 2:
            continue
        x, y = np.array(pts, float).T

        def rho(x_, y_):
            return stats.spearmanr(x_, y_)[0]

        res = stats.permutation_test((x, y), rho, permutation_type="pairings",
                                     alternative="greater", n_resamples=n_resamples,
                                     random_state=rng)
        out[name] = {"rho": float(res.statistic), "p_increasing": float(res.pvalue),
                     "n_runs": int(x.size)}
    inf = [v for k in INFINITE_KERNELS for v in by_kernel.get(k, [])]
    fin = [v for k in FINITE_KERNELS for v in by_kernel.get(k, [])]
    if len(inf) > 1 and len(fin) > 1:
        t = stats.ttest_ind(inf, fin, equal_var=False, alternative="greater")
        out["infinite_vs_finite"] = {"mean_infinite": float(np.mean(inf)),
                                     "mean_finite": float(np.mean(fin)),
                                     "t": float(t.statistic), "p_greater": float(t.pvalue),
                                     "n": [len(inf), len(fin)]}
    if len(by_kernel.get("edp", [])) > 1:
        ref = by_kernel["edp"]
        out["vs_edp"] = {}
        for k, v in by_kernel.items():
            if k == "edp" or len(v) < 2:
                continue
            t = stats.ttest_ind(v, ref, equal_var=False)
            out["vs_edp"][k] = {"diff": float(np.mean(v) - np.mean(ref)),
                                "t": float(t.statistic), "p": float(t.pvalue)}
    return out
