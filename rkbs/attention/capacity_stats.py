r"""The capacity hypotheses, written down before the run, and the tests that decide them.

Theory under test (Schlag, Irie & Schmidhuber 2021, §3.2; Wright & Gonzalez 2021, §6): a
feature map of dimension D stores the K associations of a sequence in the
:math:`D \times d_v` state :math:`\sum_j \varphi(k_j) v_j^\top`, so at most about D of them
can be retrieved without interference, while exact EDP (D = ∞) has no such limit.

Hypotheses (per head: D is a head's feature dimension):

* **H1** — *finite below infinite for K > D*: for every finite kernel f and every K with
  K > D_f, the test accuracy of f is below that of exact EDP at the same K. Overall test:
  stratified permutation test of :math:`T = \sum_{(f,K)} \bar a_f(K) - \bar a_{EDP}(K)`
  over all such cells (labels permuted over the seeds within each cell; one-sided,
  T < 0); per cell: one-sided Welch t-test over seeds. (A cell's EDP runs are shared by
  the finite kernels at that K, so the cells are not independent: the stratified
  permutation null is approximate.)
* **H2a** — *monotone in N*: accuracy rises with the Taylor degree N (Taylor-N EDP).
* **H2b** — *monotone in D*: accuracy rises with the number D of positive random features.
  H2a/H2b per K where the family has at least two levels: Spearman's ρ between the level
  and the per-seed accuracy, one-sided permutation p-value; overall: the same pooled over
  K with K-centred accuracies (so the trend within K is tested, not differences between K).

Every p-value of a run is corrected for multiplicity with Holm's step-down method over
all the tests of :func:`capacity_tests` (overall and per-cell together). Effect sizes:
mean accuracy differences with 95 % Welch confidence intervals (H1), Spearman's ρ with a
95 % bootstrap percentile interval over runs (H2). A verdict is "supported" when the
overall test of the hypothesis rejects at α = 0.05 after correction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["HYPOTHESES", "Hypothesis", "holm", "capacity_tests", "runs_from_cells"]


@dataclass(frozen=True)
class Hypothesis:
    """A pre-registered hypothesis: id, statement, the test that decides it."""

    id: str
    statement: str
    test: str


HYPOTHESES = (
    Hypothesis("H1", "finite-dimensional kernels fall below exact EDP for K > D",
               "one-sided stratified permutation test of the summed (kernel, K > D) "
               "cell-mean differences; "
               "per cell one-sided Welch t over seeds; Holm-corrected"),
    Hypothesis("H2a", "accuracy rises with the Taylor degree N",
               "Spearman rho(N, accuracy), one-sided permutation p, per K and pooled"),
    Hypothesis("H2b", "accuracy rises with the random-feature dimension D",
               "Spearman rho(D, accuracy), one-sided permutation p, per K and pooled"),
)

_FAMILIES = {"H2a": "taylor", "H2b": "prf"}


def holm(pvalues) -> np.ndarray:
    r"""Holm's step-down adjusted p-values (Holm 1979).

    With the m p-values sorted, :math:`p_{(1)} \le \dots \le p_{(m)}`, the adjusted value
    of :math:`p_{(i)}` is :math:`\max_{j \le i} \min(1, (m - j + 1) p_{(j)})`; rejecting
    adjusted p ≤ α controls the family-wise error rate at α.
    """
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"pvalues must be one-dimensional, got shape {p.shape}")
    m = p.size
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adj = np.maximum.accumulate(adj)
    out = np.empty(m)
    out[order] = adj
    return out


def runs_from_cells(cells: list[dict], metric: str = "test_acc") -> list[dict]:
    """Flatten capacity cells into per-seed runs ``{kernel, K, D, seed, acc}``."""
    runs = []
    for c in cells:
        D = math.inf if c["feature_dim"] == "inf" else float(c["feature_dim"])
        for s, a in zip(c["seeds"], c[metric]):
            runs.append({"kernel": c["kernel"], "K": int(c["K"]), "D": D, "seed": s,
                         "acc": float(a)})
    return runs


def _level(kernel: str, prefix: str):
    if kernel.startswith(prefix) and kernel[len(prefix):].isdigit():
        return int(kernel[len(prefix):])
    return None


def _rank_corr(xr, yr):
    """Pearson correlation of rank rows: xr (..., n), yr (..., n) -> (...)."""
    xc = xr - xr.mean(-1, keepdims=True)
    yc = yr - yr.mean(-1, keepdims=True)
    den = np.sqrt((xc ** 2).sum(-1) * (yc ** 2).sum(-1))
    return np.where(den > 0, (xc * yc).sum(-1) / np.where(den > 0, den, 1.0), 0.0)


def _spearman_test(x, y, rng, n_resamples, n_boot: int = 1000):
    r"""Spearman's ρ, one-sided permutation p for ρ > 0, and a bootstrap 95 % interval.

    ρ is the Pearson correlation of the (average) ranks. p =
    :math:`(1 + \#\{\rho_\pi \ge \rho\}) / (1 + n)` over ``n_resamples`` random
    re-pairings π (Phipson & Smyth 2010); the interval is the percentile interval of ρ over
    ``n_boot`` resamples of the runs with replacement.
    """
    from scipy.stats import rankdata

    x, y = np.asarray(x, float), np.asarray(y, float)
    if np.ptp(y) == 0 or np.ptp(x) == 0:
        return 0.0, 1.0, (0.0, 0.0)
    xr, yr = rankdata(x), rankdata(y)
    rho = float(_rank_corr(xr, yr))
    perms = rng.permuted(np.tile(yr, (n_resamples, 1)), axis=1)
    null = _rank_corr(xr[None], perms)
    p = float((1 + np.sum(null >= rho - 1e-12)) / (1 + n_resamples))
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    boots = _rank_corr(rankdata(x[idx], axis=1), rankdata(y[idx], axis=1))
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return rho, p, (float(lo), float(hi))


def _stratified_permutation_p(pairs, rng, n_resamples):
    r"""One-sided p of :math:`T = \sum_c (\bar a_c - \bar b_c) < 0` over the cells c.

    Under the null the finite/EDP labels of the runs are exchangeable within each cell;
    each resample permutes them within every cell (independently) and recomputes T;
    :math:`p = (1 + \#\{T_\pi \le T\}) / (1 + n)`.
    """
    T = sum(a.mean() - b.mean() for a, b in pairs)
    null = np.zeros(n_resamples)
    for a, b in pairs:
        pool = np.tile(np.concatenate([a, b]), (n_resamples, 1))
        pool = rng.permuted(pool, axis=1)
        null += pool[:, :a.size].mean(1) - pool[:, a.size:].mean(1)
    return float((1 + np.sum(null <= T + 1e-12)) / (1 + n_resamples))


def capacity_tests(cells: list[dict], *, reference: str = "edp", metric: str = "test_acc",
                   alpha: float = 0.05, n_resamples: int = 1999, seed=0) -> dict:
    """Decide H1, H2a, H2b from the per-seed results of the capacity sweep.

    Parameters
    ----------
    cells : list of dict
        Cells of :func:`rkbs.attention.capacity.run_capacity_cell` (``kernel``, ``K``,
        ``feature_dim``, ``seeds``, ``test_acc``).
    reference : str
        The infinite-dimensional kernel finite ones are compared with (exact EDP).

    Returns
    -------
    dict
        ``tests``: list of ``{hypothesis, scope, kernel, K, D, effect, ci, p, p_holm,
        reject}`` (``effect`` a mean difference for H1, Spearman's ρ for H2);
        ``verdicts``: ``{id: {"supported", "p_holm", "effect", "ci", "n"}}`` from the
        overall test of each hypothesis; ``alpha``.
    """
    from scipy import stats

    rng = np.random.default_rng(seed)
    runs = runs_from_cells(cells, metric)
    by = {}
    for r in runs:
        by.setdefault((r["kernel"], r["K"]), []).append(r)
    tests = []
    # ---- H1: per cell, and the overall signed-rank test of cell-mean differences
    diffs, pairs = [], []
    for (k, K), rs in sorted(by.items()):
        D = rs[0]["D"]
        if k == reference or not math.isfinite(D) or K <= D or (reference, K) not in by:
            continue
        a = np.array([r["acc"] for r in rs])
        b = np.array([r["acc"] for r in by[(reference, K)]])
        diff = float(a.mean() - b.mean())
        diffs.append(diff)
        pairs.append((a, b))
        if a.size > 1 and b.size > 1 and (a.std() > 0 or b.std() > 0):
            t = stats.ttest_ind(a, b, equal_var=False, alternative="less")
            ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(1 - alpha)
            p, ci = float(t.pvalue), (float(ci.low), float(ci.high))
        else:
            p, ci = (0.0 if diff < 0 else 1.0) if a.size > 1 else 1.0, (diff, diff)
        tests.append({"hypothesis": "H1", "scope": "cell", "kernel": k, "K": K, "D": D,
                      "effect": diff, "ci": ci, "p": p})
    if diffs:
        d = np.array(diffs)
        p = _stratified_permutation_p(pairs, rng, n_resamples)
        se = d.std(ddof=1) / math.sqrt(d.size) if d.size > 1 else 0.0
        tcrit = stats.t.ppf(1 - alpha / 2, max(1, d.size - 1))
        tests.append({"hypothesis": "H1", "scope": "overall", "kernel": "finite", "K": None,
                      "D": None, "effect": float(d.mean()),
                      "ci": (float(d.mean() - tcrit * se), float(d.mean() + tcrit * se)),
                      "p": p, "n": int(d.size)})
    # ---- H2: trends within a family, per K and pooled (K-centred)
    for hid, prefix in _FAMILIES.items():
        pooled_x, pooled_y = [], []
        for K in sorted({r["K"] for r in runs}):
            pts = [(_level(r["kernel"], prefix), r["acc"]) for r in runs
                   if r["K"] == K and _level(r["kernel"], prefix) is not None]
            if len({x for x, _ in pts}) < 2:
                continue
            x, y = np.array(pts, dtype=float).T
            rho, p, ci = _spearman_test(x, y, rng, n_resamples)
            tests.append({"hypothesis": hid, "scope": "cell", "kernel": prefix, "K": K,
                          "D": None, "effect": rho, "ci": ci, "p": p})
            pooled_x.append(x)
            pooled_y.append(y - y.mean())
        if pooled_x:
            x, y = np.concatenate(pooled_x), np.concatenate(pooled_y)
            rho, p, ci = _spearman_test(x, y, rng, n_resamples)
            tests.append({"hypothesis": hid, "scope": "overall", "kernel": prefix, "K": None,
                          "D": None, "effect": rho, "ci": ci, "p": p, "n": int(x.size)})
    if tests:
        adj = holm([t["p"] for t in tests])
        for t, pa in zip(tests, adj):
            t["p_holm"] = float(pa)
            t["reject"] = bool(pa <= alpha)
    verdicts = {}
    for h in HYPOTHESES:
        overall = [t for t in tests if t["hypothesis"] == h.id and t["scope"] == "overall"]
        if overall:
            t = overall[0]
            verdicts[h.id] = {"statement": h.statement, "supported": t["reject"],
                              "p_holm": t["p_holm"], "effect": t["effect"], "ci": t["ci"],
                              "n": t.get("n")}
    return {"tests": tests, "verdicts": verdicts, "alpha": alpha}
