"""The ``rkbs`` command line: ``verify``, ``figures``, ``train``, ``bench``.

Structure: one ``_cmd_<name>(args) -> int`` function per subcommand plus its parser lines
in :func:`build_parser`; :func:`main` turns every error into one line on stderr and a
documented exit code (see ``EXIT_CODES`` and ``docs/cli.md``). Output paths are checked
before any work starts; long commands keep what they finished when interrupted and resume
it on the next run.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
import traceback
from pathlib import Path

__all__ = ["main", "build_parser", "CLIError", "EXIT_CODES"]

EXIT_OK = 0  #: every claim passed / the command finished
EXIT_FAILED = 1  #: a claim check failed (``rkbs verify``)
EXIT_USAGE = 2  #: bad arguments, or an input/output error (path, corrupt file)
EXIT_ERROR = 3  #: the command failed for another reason (a solver failure, a bug)
EXIT_INTERRUPTED = 130  #: Ctrl-C (SIGINT); finished parts are kept
EXIT_TERMINATED = 143  #: ``kill`` (SIGTERM); finished parts are kept

#: Exit codes of every ``rkbs`` command.
EXIT_CODES = {
    EXIT_OK: "success (rkbs verify: every check passed)",
    EXIT_FAILED: "rkbs verify: at least one claim check failed",
    EXIT_USAGE: "usage error, or an input/output error (bad path, corrupt cache/checkpoint)",
    EXIT_ERROR: "the command failed for another reason (numerical failure, bug; --debug)",
    EXIT_INTERRUPTED: "interrupted by Ctrl-C; finished parts are kept, rerun to resume",
    EXIT_TERMINATED: "terminated by SIGTERM (kill); finished parts are kept, rerun to resume",
}

DESCRIPTION = """\
rkbs: numerical checks of the claims of Wright & Gonzalez (2021), "Transformers are
deep infinite-dimensional non-Mercer binary kernel machines" (arXiv:2106.01506):
reproducing kernel Banach spaces, binary kernel machines and kernelized attention.
"""

EPILOG = """\
examples:
  rkbs verify --quick                  every claim, small sizes; per-claim summary
  rkbs verify --json verify.json       full run; every row in verify.json
  rkbs verify --only claim_4 --rows    one claim, every row in the terminal
  rkbs figures --quick --out figs      all paper figures (PNG, PDF, CSV/JSON)
  rkbs train --kernel taylor2 --steps 400
  rkbs bench --quick --only features   tables into ./bench-out (record untouched)

exit codes:
""" + "\n".join(f"  {code:<4} {text}" for code, text in EXIT_CODES.items()) + """

Interrupted runs (Ctrl-C, kill) keep what finished: rerun the same command to resume.
Errors print one line; add --debug for the traceback. Documentation: docs/cli.md.
"""


class CLIError(Exception):
    """A usage or input/output problem reported as one line with exit code 2."""


class _Terminated(BaseException):
    """Raised in the main thread by the SIGTERM handler of :func:`main`."""


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Help with every option's default and the description/epilog kept as written."""

    def __init__(self, prog, **kw):
        kw.setdefault("width", 100)
        kw.setdefault("max_help_position", 32)
        super().__init__(prog, **kw)

    def _get_help_string(self, action):
        # store_true flags: "(default: False)" says nothing; every other option keeps it
        if isinstance(action, argparse._StoreTrueAction) or action.default is None:
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (``rkbs verify: error: ... (see rkbs verify --help)``)."""

    def __init__(self, *a, **kw):
        kw.setdefault("formatter_class", _Formatter)
        super().__init__(*a, **kw)
        self.lazy_help = []  # callables run before the help is formatted (cheap --help)

    def format_help(self):
        for fn in self.lazy_help:
            fn(self)
        return super().format_help()

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _one_line(msg: str, limit: int = 400) -> str:
    """Collapse a message to one line (at most ``limit`` characters)."""
    text = " ".join(str(msg).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _para(*paragraphs: str) -> str:
    """Wrap help paragraphs to 92 columns (the formatter keeps text as written)."""
    import textwrap

    return "\n\n".join(textwrap.fill(p, 92) for p in paragraphs)


def _eprint(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ verify
def _fingerprint() -> str:
    """Hash of the code and library versions a cached verdict depends on.

    Any change to a ``.py`` file of :mod:`rkbs` or :mod:`proofs_numeric`, or to the
    versions of Python, numpy, scipy, cvxpy, clarabel or torch, invalidates the cache.
    """
    import hashlib
    import importlib.metadata as md
    import platform

    import proofs_numeric
    import rkbs

    h = hashlib.sha256(platform.python_version().encode())
    for dist in ("numpy", "scipy", "cvxpy", "clarabel", "torch"):
        try:
            h.update(f"{dist}={md.version(dist)}".encode())
        except md.PackageNotFoundError:
            h.update(f"{dist}=none".encode())
    for pkg in (rkbs, proofs_numeric):
        root = Path(pkg.__file__).parent
        for f in sorted(root.rglob("*.py")):
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


class _VerifyCache:
    """Per-claim-module verdicts of ``rkbs verify``, so an interrupted run resumes.

    One JSON file per (module, mode) in ``folder``, written atomically when the module
    finishes; reused only when the code fingerprint (:func:`_fingerprint`) matches.
    """

    def __init__(self, folder: Path | None, mode: str):
        self.folder, self.mode = folder, mode
        self.key = _fingerprint() if folder is not None else ""

    def path(self, name: str) -> Path:
        return self.folder / f"verify-{self.mode}-{name}.json"

    def load(self, name: str):
        from rkbs._io import CorruptFileError, read_json
        from rkbs.verify import CheckResult

        if self.folder is None or not self.path(name).exists():
            return None
        hint = "delete it or rerun with --fresh"
        d = read_json(self.path(name), what="verify cache file", hint=hint)
        try:
            if d["fingerprint"] != self.key or d["mode"] != self.mode:
                return None  # stale: the code or the mode changed
            return [CheckResult.from_dict(r) for r in d["results"]], float(d["seconds"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptFileError(f"verify cache file {str(self.path(name))!r} is not a "
                                   f"verify cache ({exc}); {hint}") from exc

    def store(self, name: str, rows, seconds: float) -> None:
        from rkbs._io import write_json

        if self.folder is not None:
            write_json(self.path(name), {
                "module": name, "mode": self.mode, "fingerprint": self.key,
                "seconds": seconds, "written": time.strftime("%Y-%m-%d %H:%M:%S"),
                "results": [r.to_dict() for r in rows]})


def _cmd_verify(args) -> int:
    import proofs_numeric
    from rkbs._io import check_output_dir, check_output_file
    from rkbs.verify import (
        all_passed,
        claims_markdown,
        format_summary,
        format_table,
        rows_markdown,
        write_json,
    )

    names = [n for n in proofs_numeric.CLAIMS if not args.only or args.only in n]
    if not names:
        raise CLIError(f"no claim checks match {args.only!r}; available: "
                       + ", ".join(proofs_numeric.CLAIMS))
    # every output path is checked before the first claim runs
    if args.json:
        check_output_file(args.json, what="--json file")
    if args.markdown:
        check_output_file(args.markdown, what="--markdown file")
    cache_dir = None
    if not args.no_cache:
        cache_dir = Path(args.cache) if args.cache else (
            Path(args.json).parent / ".rkbs-cache" if args.json else Path(".rkbs-cache"))
        cache_dir = check_output_dir(cache_dir, what="cache folder (--cache)")
    mode = "quick" if args.quick else "full"
    cache = _VerifyCache(cache_dir, mode)

    from tqdm.auto import tqdm

    results, timings, reused, paper = [], {}, [], {}
    done = 0
    try:
        bar = tqdm(names, desc="rkbs verify", unit="claim", disable=args.no_progress)
        for name in bar:
            bar.set_postfix_str(name)
            hit = None if args.fresh else cache.load(name)
            if hit is not None:
                rows, timings[name] = hit
                reused.append(name)
            else:
                t0 = time.perf_counter()
                mod = __import__(f"proofs_numeric.{name}", fromlist=["main"])
                rows = list(mod.main(quick=args.quick, verbose=False))
                timings[name] = time.perf_counter() - t0
                cache.store(name, rows, timings[name])
            results.extend(rows)
            if name in proofs_numeric.PAPER_CLAIMS:
                paper.update({r.claim: ", ".join(proofs_numeric.PAPER_CLAIMS[name])
                              for r in rows})
            done += 1
    except (KeyboardInterrupt, _Terminated):
        kept = f"kept in {cache_dir}" if cache_dir is not None else "not kept (--no-cache)"
        _eprint(f"rkbs verify: stopped after {done} of {len(names)} claim modules; their "
                f"verdicts are {kept}; rerun the same command to resume")
        raise
    title = f"rkbs verify ({mode})"
    if args.rows or args.wide:
        print(format_table(results, title=title, wide=args.wide))
    else:
        print(format_summary(results, title=title, paper=paper or None))
    print("time per claim module: " + ", ".join(
        f"{k} {v:.1f}s" + (" (cached)" if k in reused else "") for k, v in timings.items()))
    if reused:
        print(f"{len(reused)} module(s) reused from {cache_dir} (same code and mode); "
              "--fresh recomputes them")
    if args.json:
        write_json(results, args.json, extra={"mode": mode, "seconds": timings})
        print(f"wrote {args.json}")
    if args.markdown:
        from rkbs._io import write_text

        write_text(args.markdown, claims_markdown(results) + "\n\n" + rows_markdown(results)
                   + "\n")
        print(f"wrote {args.markdown}")
    return EXIT_OK if all_passed(results) else EXIT_FAILED


# ------------------------------------------------------------------ figures
def _cmd_figures(args) -> int:
    import paper_figures
    from rkbs._io import check_output_dir

    names = [n for n in paper_figures.FIGURES if not args.only or args.only in n]
    if not names:
        raise CLIError(f"no figure matches {args.only!r}; available: "
                       + ", ".join(paper_figures.FIGURES))
    out = check_output_dir(args.out, what="figure folder (--out)")
    try:
        paper_figures.run_all(out_dir=out, quick=args.quick, only=args.only,
                              progress=not args.no_progress, force=args.force)
    except (KeyboardInterrupt, _Terminated):
        _eprint(f"rkbs figures: stopped; the figures already written to {out} are kept and "
                "skipped when the same command is rerun (--force redraws them)")
        raise
    return EXIT_OK


# ------------------------------------------------------------------ train
def _kernel_help(parser) -> None:
    """Fill the kernel names into ``train --help`` (imports torch, so only on --help)."""
    try:
        from rkbs.attention.kernel_attention import attention_names

        names = ", ".join(attention_names())
    except Exception:  # pragma: no cover - the help must print even if torch is broken
        return
    for a in parser._actions:
        if a.dest == "kernel" and "names:" not in (a.help or ""):
            a.help = f"attention kernel; names: {names}"


def _cmd_train(args) -> int:
    from rkbs._io import check_output_dir
    from rkbs.attention.training import train_from_cli

    args.out = str(check_output_dir(
        args.out or f"runs/{args.task}-{args.kernel}-seed{args.seed}",
        what="training folder (--out)", create=False))  # made when training starts
    try:
        train_from_cli(args)
    except (KeyboardInterrupt, _Terminated):
        _eprint(f"rkbs train: stopped; the last checkpoint in {args.out} is kept; rerun the "
                "same command to resume from it (--fresh starts over)")
        raise
    return EXIT_OK


def _attention_kernel_name(value: str) -> str:
    """argparse type of ``--kernel``: a name of the attention-kernel registry, checked
    before any work (building nothing)."""
    from rkbs.features.registry import parse_attention_name

    try:
        parse_attention_name(value)
    except (ValueError, TypeError) as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return value


def _cmd_experiment(args) -> int:
    """``rkbs experiment {capacity,retrieval}``: resumable sweeps (rkbs.attention.capacity)."""
    from rkbs._io import check_output_dir
    from rkbs.attention import capacity

    args.out = str(check_output_dir(args.out, what="experiment folder (--out)"))  # before work
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
    return EXIT_OK


# ------------------------------------------------------------------ bench
def _cmd_bench(args) -> int:
    import importlib
    import os

    if os.getcwd() not in sys.path:  # benchmarks/ lives in the repository, not the package
        sys.path.insert(0, os.getcwd())
    try:
        bench = importlib.import_module("benchmarks")
    except ImportError as exc:
        raise CLIError("benchmarks/ is not importable: run `rkbs bench` from the repository "
                       "root") from exc
    if args.update_record and args.quick:
        raise CLIError("--update-record refuses --quick: quick numbers must not replace the "
                       "full-mode record in BENCHMARKS.md")
    try:
        bench.select(args.only)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    bench.run_all(only=args.only, quick=args.quick, out_dir=args.out,
                  update_record=args.update_record)
    return EXIT_OK


def _cmd_analyze_model(args) -> int:
    from rkbs.attention.hf.analyze import analyze_from_cli

    return analyze_from_cli(args)


# ------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    """The ``rkbs`` argument parser (subcommands ``verify``, ``figures``, ``train``, ``bench``)."""
    import rkbs

    parser = _Parser(prog="rkbs", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"rkbs {rkbs.__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an error")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the Python traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)

    v = sub.add_parser(
        "verify", parents=[common], help="run every numerical claim check",
        description=_para("Run the numerical check of every claim (proofs_numeric/claim_*.py) and "
        "print a per-claim summary (every row with --rows; all rows, with full setting "
        "text, go to --json/--markdown). Finished claim modules are cached (beside --json, "
        "else ./.rkbs-cache), so an interrupted run resumes; the cache is used only for "
        "the same code, library versions and mode."),
        epilog=_para("time on the 2-core project machine: --quick about 30 s idle (55 s "
                     "measured under load); the full run about 2.5 minutes idle (1366 rows).",
                     "exit codes: 0 every check passed, 1 a check failed, 2 usage or I/O "
                     "error, 130/143 interrupted (rerun to resume)."))
    v.add_argument("--quick", action="store_true",
                   help="small configurations (about 30-60 s in total)")
    v.add_argument("--json", metavar="PATH", help="write every row (full text) as JSON")
    v.add_argument("--markdown", metavar="PATH",
                   help="write the per-claim summary and every row as Markdown")
    v.add_argument("--only", metavar="TEXT", help="run only claim modules whose name contains TEXT")
    v.add_argument("--rows", action="store_true",
                   help="print every row (settings shortened to fit 100 columns)")
    v.add_argument("--wide", action="store_true",
                   help="print every row with its full setting text (wider than 100 columns)")
    v.add_argument("--cache", metavar="DIR",
                   help="cache folder (default: .rkbs-cache beside --json, else in the "
                   "current folder)")
    v.add_argument("--fresh", action="store_true", help="ignore cached verdicts, recompute all")
    v.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    v.add_argument("--no-progress", action="store_true", help="no progress bar")
    v.set_defaults(func=_cmd_verify)

    f = sub.add_parser(
        "figures", parents=[common], help="regenerate every paper figure and table",
        description=_para("Regenerate the paper figures (PNG, PDF and the numbers as CSV/JSON). "
        "A figure already written to --out in the same mode is skipped (--force redraws), "
        "so an interrupted run resumes where it stopped."))
    f.add_argument("--out", default="figures", metavar="DIR", help="output folder")
    f.add_argument("--quick", action="store_true", help="small configurations (smoke run)")
    f.add_argument("--only", metavar="TEXT", help="only figures whose name contains TEXT")
    f.add_argument("--force", action="store_true",
                   help="redraw figures already present for this mode")
    f.add_argument("--no-progress", action="store_true", help="no progress bar")
    f.set_defaults(func=_cmd_figures)

    t = sub.add_parser(
        "train", parents=[common],
        help="train a small Transformer with a chosen attention kernel",
        description=_para("Train the small encoder-decoder Transformer on a synthetic task. "
        "Checkpoints go to --out at every evaluation; rerunning the same command resumes "
        "from the last one (bit-identical to an uninterrupted run on CPU)."))
    t.add_argument("--task", default="number-words",
                   choices=["number-words", "recall", "reversal"], help="task")
    t.add_argument("--kernel", default="edp", type=_attention_kernel_name, metavar="NAME",
                   help="attention kernel (names listed below)")
    t.lazy_help.append(_kernel_help)
    t.add_argument("--seed", type=int, default=0, help="seed of data, model and batches")
    t.add_argument("--steps", type=int, default=None,
                   help="training steps (default: 3000; with --quick 400)")
    t.add_argument("--out", default=None, metavar="DIR",
                   help="folder for checkpoint.pt and metrics.json "
                   "(default: runs/<task>-<kernel>-seed<seed>)")
    t.add_argument("--device", default="cpu", help="torch device")
    t.add_argument("--quick", action="store_true", help="small task and fewer steps")
    t.add_argument("--fresh", action="store_true",
                   help="start over even if --out holds a checkpoint of this run")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("experiment", parents=[common], help="capacity / retrieval sweeps (resumable, on Dask)")
    e.add_argument("name", choices=["capacity", "retrieval"])
    e.add_argument("--out", required=True, help="result folder (one JSON per finished cell)")
    e.add_argument("--quick", action="store_true", help="tiny grid (seconds to a minute)")
    e.add_argument("--seeds", type=int, default=None, help="seeds per cell (0 .. N-1)")
    e.add_argument("--scheduler", metavar="ADDR", default=None,
                   help="existing Dask scheduler, tcp://HOST:PORT (default: a LocalCluster)")
    e.add_argument("--workers", type=int, default=1, help="LocalCluster worker processes")
    e.add_argument("--no-progress", action="store_true", help="no progress bar")
    e.set_defaults(func=_cmd_experiment)

    b = sub.add_parser(
        "bench", parents=[common], help="run the benchmarks (from the repository root)",
        description=_para("Run the speed/memory benchmarks (benchmarks/bench_*.py). Tables go to "
        "--out with a preview BENCHMARKS.md; the committed record (BENCHMARKS.md, "
        "benchmarks/results/) changes only with --update-record, in full mode."))
    b.add_argument("--only", metavar="TEXT", help="only benchmarks whose name contains TEXT")
    b.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    b.add_argument("--out", default="bench-out", metavar="DIR",
                   help="folder for the new tables")
    b.add_argument("--update-record", action="store_true",
                   help="also replace the committed tables (refused with --quick)")
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


def _on_sigterm(signum, frame):
    raise _Terminated()


def main(argv=None) -> int:
    """Run ``rkbs`` with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    Errors are printed as one line on stderr (``--debug``: with the traceback) and mapped
    to :data:`EXIT_CODES`; Ctrl-C gives 130 and SIGTERM 143, after the command has kept
    what it finished.
    """
    from rkbs._io import CorruptFileError, OutputPathError

    try:
        sys.stdout.reconfigure(errors="replace")  # ✓/✗ on a non-UTF-8 terminal
    except (AttributeError, ValueError):  # pragma: no cover - replaced streams
        pass
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code or 0)
    debug = getattr(args, "debug", False)
    prog = f"rkbs {args.command}"
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread: leave signals alone
        previous = None

    def fail(code: int, msg: str, hint: bool = True) -> int:
        if debug:
            traceback.print_exc()
        tail = " (--debug shows the traceback)" if hint and not debug else ""
        _eprint(f"{prog}: error: {_one_line(msg)}{tail}")
        return code

    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        _eprint(f"{prog}: interrupted (exit {EXIT_INTERRUPTED})")
        return EXIT_INTERRUPTED
    except _Terminated:
        _eprint(f"{prog}: terminated (exit {EXIT_TERMINATED})")
        return EXIT_TERMINATED
    except (CLIError, OutputPathError, CorruptFileError) as exc:
        return fail(EXIT_USAGE, str(exc), hint=False)
    except (ValueError, TypeError, OSError) as exc:
        return fail(EXIT_USAGE, f"{type(exc).__name__}: {exc}")
    except Exception as exc:
        return fail(EXIT_ERROR, f"{type(exc).__name__}: {exc}")
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
