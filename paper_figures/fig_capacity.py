r"""Recall capacity against feature dimension (claim 7): MQAR accuracy vs K and K/D.

Draws :func:`rkbs.attention.capacity.plot_capacity` (left: test accuracy against the
number K of stored key–value pairs, each finite kernel's feature dimension D dotted;
right: finite kernels against K/D with the predicted capacity K = D marked) and the
retrieval table of the Schlag et al. (2021) setting. The full sweeps take many CPU-hours,
so the default mode reads the stored runs ``paper_figures/data/capacity_runs.json`` and
``paper_figures/data/retrieval_runs.json`` (exported from the run folders by
:func:`rkbs.attention.capacity.collect`; ``n_cells`` says how much of the grid they hold);
quick mode runs the tiny capacity grid in-process (a smoke run: its numbers say
nothing) and reads the stored retrieval run. Files:
``capacity.png/.pdf``, ``capacity.csv`` (one row per seed), ``capacity.json`` (cells + statistics), ``capacity.md`` (table and
verdicts), ``retrieval.md``.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from paper_figures._common import figure_dir, save_figure, style, write_csv, write_json

NAME = "capacity"
DATA = Path(__file__).resolve().parent / "data"
STORED_CAPACITY = DATA / "capacity_runs.json"
STORED_RETRIEVAL = DATA / "retrieval_runs.json"


def main(out_dir=None, quick: bool = False, verbose: bool = True, *, capacity_json=None,
         retrieval_json=None) -> dict:
    out_dir = figure_dir(out_dir)
    import tempfile

    from rkbs.attention.capacity import (
        capacity_table,
        plot_capacity,
        retrieval_table,
        run_capacity,
    )

    if quick:
        with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(1) as ex:
            cap = run_capacity(Path(tmp) / "c", quick=True, executor=ex, progress=False)
        ret = json.loads(Path(retrieval_json or STORED_RETRIEVAL).read_text(encoding="utf-8"))
        source = "quick smoke run"
    else:
        cap = json.loads(Path(capacity_json or STORED_CAPACITY).read_text(encoding="utf-8"))
        ret = json.loads(Path(retrieval_json or STORED_RETRIEVAL).read_text(encoding="utf-8"))
        source = f"stored runs: {len(cap['cells'])} capacity cells, {len(ret['cells'])} retrieval"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with style():
        fig = plot_capacity(cap)
        fig.suptitle(f"MQAR capacity ({source})", fontsize=9)
        files = save_figure(fig, out_dir, NAME)
    files.append(write_json(cap, f"{out_dir}/{NAME}.json"))
    rows = [{"kernel": c["kernel"], "K": c["K"], "feature_dim": c["feature_dim"], "seed": s,
             "test_acc": a} for c in cap["cells"] for s, a in zip(c["seeds"], c["test_acc"])]
    if rows:
        files.append(write_csv(rows, f"{out_dir}/{NAME}.csv"))
    table = capacity_table(cap)
    (out / f"{NAME}.md").write_text(table + "\n", encoding="utf-8")
    rtable = retrieval_table(ret) if ret["cells"] else "(no retrieval cells)"
    (out / "retrieval.md").write_text(rtable + "\n", encoding="utf-8")
    files += [str(out / f"{NAME}.md"), str(out / "retrieval.md")]
    return {"files": files, "table": table, "retrieval_table": rtable, "source": source,
            "n_cells": len(cap["cells"])}
