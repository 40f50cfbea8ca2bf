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


def _cmd_analyze_model(args) -> int:
    from rkbs.attention.hf.analyze import analyze_from_cli

    return analyze_from_cli(args)


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

    b = sub.add_parser("bench", help="run the benchmarks (from the repository root)")
    b.add_argument("--only", metavar="TEXT")
    b.add_argument("--quick", action="store_true")
    b.set_defaults(func=_cmd_bench)
    a = sub.add_parser("analyze-model", help="read a HuggingFace model's heads as kernel "
                       "machines (needs rkbs[hf])")
    a.add_argument("model", help="local directory or hub name (HF_HUB_OFFLINE honoured)")
    a.add_argument("--texts", required=True, help="text file, one text per line")
    a.add_argument("--out", required=True, help="output folder (report.json, heatmaps.png)")
    a.add_argument("--layers", type=int, nargs="+", help="layers to analyse (default all)")
    a.add_argument("--heads", type=int, nargs="+", help="heads to analyse (default all)")
    a.add_argument("--device", default="cpu", help="torch device of the forward pass")
    a.add_argument("--quick", action="store_true", help="small settings (seconds per head)")
    a.add_argument("--ids", action="store_true", help="lines of --texts are token ids")
    a.add_argument("--seq-len", type=int, help="tokens per window")
    a.add_argument("--n-seq", type=int, help="windows (two thirds train the fits)")
    a.add_argument("--detail", nargs="+", metavar="L:H", help="per-head detail figures")
    a.add_argument("--no-progress", action="store_true")
    a.set_defaults(func=_cmd_analyze_model)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
