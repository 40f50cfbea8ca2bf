"""The ``rkbs`` command: ``verify``, ``figures``, ``train``, ``bench``.

``rkbs verify [--quick] [--json PATH] [--only TEXT]`` runs every registered claim check
of :mod:`proofs_numeric`, prints one verdict table and exits non-zero on any FAIL.
"""

from __future__ import annotations

import argparse
import sys
import time

__all__ = ["main"]


def _cmd_verify(args) -> int:
    from tqdm.auto import tqdm

    import proofs_numeric
    from rkbs.verify import all_passed, claims_markdown, format_table, write_json

    names = [n for n in proofs_numeric.CLAIMS if not args.only or args.only in n]
    if not names:
        print(f"no claim checks match {args.only!r}", file=sys.stderr)
        return 2
    results, timings = [], {}
    bar = tqdm(names, desc="rkbs verify", unit="claim", disable=args.no_progress)
    for name in bar:
        bar.set_postfix_str(name)
        t0 = time.perf_counter()
        mod = __import__(f"proofs_numeric.{name}", fromlist=["main"])
        results.extend(mod.main(quick=args.quick, verbose=False))
        timings[name] = time.perf_counter() - t0
    mode = "quick" if args.quick else "full"
    print(format_table(results, title=f"rkbs verify ({mode})"))
    print("time per claim module: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    if args.json:
        write_json(results, args.json)
        print(f"wrote {args.json}")
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write(claims_markdown(results) + "\n")
        print(f"wrote {args.markdown}")
    return 0 if all_passed(results) else 1


def _cmd_figures(args) -> int:
    import paper_figures

    paper_figures.run_all(out_dir=args.out, quick=args.quick, only=args.only)
    return 0


def _cmd_train(args) -> int:
    from rkbs.attention.training import train_from_cli

    train_from_cli(args)
    return 0


def _cmd_experiment(args) -> int:
    """``rkbs experiment {capacity,retrieval}``: resumable sweeps (rkbs.attention.capacity)."""
    from rkbs.attention import capacity

    seeds = None if args.seeds is None else tuple(range(args.seeds))
    common = {"quick": args.quick, "seeds": seeds, "n_workers": args.workers,
              "scheduler": args.scheduler, "progress": not args.no_progress}
    if args.name == "retrieval":
        res = capacity.run_retrieval(args.out, **common)
        print(capacity.retrieval_table(res))
    else:
        res = capacity.run_capacity(args.out, **common)
        print(capacity.capacity_table(res))
    print(f"results in {args.out} (re-run the same command to resume)")
    return 0


def _cmd_bench(args) -> int:
    import importlib
    import os

    if os.getcwd() not in sys.path:  # benchmarks/ lives in the repository, not the package
        sys.path.insert(0, os.getcwd())
    try:
        bench = importlib.import_module("benchmarks")
    except ImportError:
        print("benchmarks/ is not importable: run `rkbs bench` from the repository root",
              file=sys.stderr)
        return 2
    bench.run_all(only=args.only, quick=args.quick)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rkbs", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    v = sub.add_parser("verify", help="run every numerical claim check")
    v.add_argument("--quick", action="store_true", help="small configurations (minutes)")
    v.add_argument("--json", metavar="PATH", help="write the verdicts as JSON")
    v.add_argument("--markdown", metavar="PATH", help="write a per-claim summary table (markdown)")
    v.add_argument("--only", metavar="TEXT", help="run only claim modules whose name contains TEXT")
    v.add_argument("--no-progress", action="store_true", help="no progress bar")
    v.set_defaults(func=_cmd_verify)

    f = sub.add_parser("figures", help="regenerate every paper figure and table")
    f.add_argument("--out", default="figures", help="output folder (default: figures)")
    f.add_argument("--quick", action="store_true")
    f.add_argument("--only", metavar="TEXT", help="only figures whose name contains TEXT")
    f.set_defaults(func=_cmd_figures)

    t = sub.add_parser("train", help="train a small Transformer with a chosen attention kernel")
    t.add_argument("--task", default="number-words",
                   choices=["number-words", "recall", "reversal"])
    t.add_argument("--kernel", default="edp", help="attention kernel name")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--steps", type=int, default=None, help="training steps")
    t.add_argument("--out", default=None, help="folder for checkpoints and metrics.json")
    t.add_argument("--device", default="cpu")
    t.add_argument("--quick", action="store_true")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("experiment", help="capacity / retrieval sweeps (resumable, on Dask)")
    e.add_argument("name", choices=["capacity", "retrieval"])
    e.add_argument("--out", required=True, help="result folder (one JSON per finished cell)")
    e.add_argument("--quick", action="store_true", help="tiny grid (seconds to a minute)")
    e.add_argument("--seeds", type=int, default=None, help="seeds per cell (0 .. N-1)")
    e.add_argument("--scheduler", metavar="ADDR", default=None,
                   help="existing Dask scheduler, tcp://HOST:PORT (default: a LocalCluster)")
    e.add_argument("--workers", type=int, default=1, help="LocalCluster worker processes")
    e.add_argument("--no-progress", action="store_true", help="no progress bar")
    e.set_defaults(func=_cmd_experiment)

    b = sub.add_parser("bench", help="run the benchmarks (from the repository root)")
    b.add_argument("--only", metavar="TEXT")
    b.add_argument("--quick", action="store_true")
    b.set_defaults(func=_cmd_bench)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
