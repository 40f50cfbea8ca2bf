"""``make gpu-check``: every CUDA test and the GPU benchmark tables, in under 8 minutes.

Run on a machine with a CUDA device (``python -m benchmarks.gpu_check``):

1. ``pytest -m cuda`` -- every test that exercises a CUDA path (the ``cuda`` marker; see
   ``tests/conftest.py``); on a GPU none of them may be skipped.
2. Tables, each against a time budget (sizes grow until the budget is spent; a size that
   runs out of GPU memory is reported as OOM):

   * attention forward + backward against the sequence length L: torch SDPA, exact EDP
     kernel attention (rkbs), positive random features (PRF, D = 64) and elu+1 (linear
     attention), with the peak GPU memory of each;
   * the Newton solver (``BinaryKernelMachine(solver="torch")``) on CUDA against CPU on the
     additive squared-loss problem of ``bench_machines``, with the residual and the
     largest prediction difference between the two devices;
   * the dual pair-operator machine (``DualPairOperatorMachine``) on CUDA against CPU, on
     the planted softmax-head problem of ``bench_pair_dual``;
   * training throughput of the small Transformer on CUDA for growing batch sizes.

The tables go to ``--out`` (default ``bench-out/``) as ``gpu.md``; with
``--update-record`` also to ``benchmarks/results/gpu.md`` and the GPU section of
``BENCHMARKS.md``. Without a CUDA device the script refuses (exit 2) unless
``--dry-run``, which runs the same code on the CPU with tiny sizes to test the script
itself (its numbers are not a GPU record, so ``--dry-run`` refuses ``--update-record``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import DEFAULT_OUT, RESULTS, ROOT, assemble, write_table

#: Wall-clock budget of each part (seconds); total < 8 minutes with start-up.
BUDGET = {"tests": 100.0, "attention": 110.0, "newton": 80.0, "dual": 60.0, "train": 80.0}
#: Sizes per part: (GPU, dry run on CPU).
SIZES = {
    "attention": ((512, 1024, 2048, 4096, 8192, 16384), (32, 64)),
    "newton": (((500, 2000), (1000, 4000), (2000, 8000)), ((40, 80),)),
    "dual": ((40, 160, 640), (4,)),
    "train": ((64, 256, 1024), (8,)),
}


def _DEVICES(device: str) -> tuple[tuple[str, str], ...]:
    """(column, torch device) pairs: the CPU reference and the GPU (the CPU in a dry run)."""
    return (("cpu", "cpu"), ("gpu", device))


class NoCUDA(RuntimeError):
    """No CUDA device is available."""


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(fn, device: str, reps: int) -> float:
    """Median wall time of ``fn()`` over ``reps`` runs after one warm-up (synchronized)."""
    times = []
    for r in range(reps + 1):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        if r:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _is_oom(exc: BaseException) -> bool:
    return "out of memory" in str(exc).lower() or type(exc).__name__ == "OutOfMemoryError"


def device_info(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        p = torch.cuda.get_device_properties(0)
        return (f"{p.name}, {p.total_memory / 2**30:.0f} GiB, CUDA {torch.version.cuda}, "
                f"torch {torch.__version__}")
    return f"CPU ({platform.processor() or platform.machine()}), torch {torch.__version__}"


# ------------------------------------------------------------------ parts
def run_cuda_tests(dry_run: bool) -> dict:
    """``pytest -m cuda``; on a GPU every selected test must pass (none skipped)."""
    cmd = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-rs", "-p", "no:cacheprovider",
           str(ROOT / "tests")]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                         timeout=BUDGET["tests"] * (3 if dry_run else 1),
                         env={**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep
                              + os.environ.get("PYTHONPATH", "")})
    tail = [ln for ln in res.stdout.strip().splitlines() if ln.strip()][-1:] or [""]
    return {"returncode": res.returncode, "summary": tail[0], "seconds":
            time.perf_counter() - t0, "output": res.stdout[-4000:] + res.stderr[-2000:]}


def bench_attention(device: str, dry_run: bool) -> list[dict]:
    import torch

    from benchmarks.bench_attention import METHODS, _methods

    B, H, d = (1, 2, 16) if dry_run else (4, 8, 64)
    fns = _methods(d)
    g = torch.Generator(device=device).manual_seed(0)
    rows, t_start = [], time.perf_counter()
    for L in SIZES["attention"][dry_run]:
        if time.perf_counter() - t_start > BUDGET["attention"]:
            rows.append({"L": L, "note": "time budget spent"})
            break
        q, k, v = (torch.randn(B, H, L, d, generator=g, device=device) for _ in range(3))
        row = {"L": L}
        for m, fn in fns.items():
            def step(fn=fn, qkv=(q, k, v)):
                qq, kk, vv = (x.detach().requires_grad_(True) for x in qkv)
                fn(qq, kk, vv).sum().backward()
            try:
                if device.startswith("cuda"):
                    torch.cuda.reset_peak_memory_stats()
                row[m] = _timed(step, device, 3)
                row[m + " mem"] = (torch.cuda.max_memory_allocated() / 2**20
                                   if device.startswith("cuda") else float("nan"))
            except RuntimeError as exc:
                if not _is_oom(exc):
                    raise
                row[m], row[m + " mem"] = "OOM", float("nan")
                torch.cuda.empty_cache()
        rows.append(row)
    for r in rows:
        r["methods"] = METHODS
    return rows


def bench_newton(device: str, dry_run: bool) -> list[dict]:
    from benchmarks.bench_machines import _binary_data
    from rkbs.machines import BinaryKernelMachine

    kw = dict(p=1.5, coupling="additive", loss="squared", lam_x=1.0, lam_y=1.0, reg="power",
              solver="torch", tol=1e-9, seed=0)
    rows, t_start = [], time.perf_counter()
    for m, D in SIZES["newton"][dry_run]:
        if time.perf_counter() - t_start > BUDGET["newton"]:
            rows.append({"m": m, "D": D, "note": "time budget spent"})
            break
        F, X, Y, Z, Xt, Yt = _binary_data(m, m, D)
        row = {"m": m, "D": D}
        fitted = {}
        for side, dev in _DEVICES(device):
            BinaryKernelMachine(F, device=dev, **kw).fit(X[:20], Y[:20], Z[:20, :20])  # warm-up
            _sync(dev)
            t0 = time.perf_counter()
            mach = BinaryKernelMachine(F, device=dev, **kw).fit(X, Y, Z)
            _sync(dev)
            row[f"{side}_s"] = time.perf_counter() - t0
            row[f"{side}_residual"] = mach.residual_
            fitted[side] = mach
        pc = fitted["cpu"].decision_function(Xt, Yt)
        pg = fitted["gpu"].decision_function(Xt, Yt)
        row["pred_diff"] = float(np.max(np.abs(pc - pg)) / np.max(np.abs(pc)))
        row["speedup"] = row["cpu_s"] / row["gpu_s"]
        rows.append(row)
        if time.perf_counter() - t_start > BUDGET["newton"] / 2:
            break  # the next size is ~4-8x slower on the CPU side
    return rows


def bench_dual(device: str, dry_run: bool) -> list[dict]:
    from rkbs.attention.compare import planted_bilinear
    from rkbs.kernels import EDPKernel
    from rkbs.machines import DualPairOperatorMachine

    dim = 8 if dry_run else 32
    rows, t_start = [], time.perf_counter()
    for S in SIZES["dual"][dry_run]:
        if time.perf_counter() - t_start > BUDGET["dual"]:
            rows.append({"S": S, "note": "time budget spent"})
            break
        X, Y, P, *_ = planted_bilinear(n_seq=S, m=8, n=8, dim=dim, head_dim=min(8, dim), seed=0)
        row = {"S": S, "N_scores": int(np.asarray(P).size)}
        fitted = {}
        for side, dev in _DEVICES(device):
            DualPairOperatorMachine(EDPKernel(dim=dim), lam=1e-2, tol=1e-10,
                                    device=dev).fit(X[:2], Y[:2], P[:2])  # warm-up
            _sync(dev)
            t0 = time.perf_counter()
            mach = DualPairOperatorMachine(EDPKernel(dim=dim), lam=1e-2, tol=1e-10,
                                           device=dev).fit(X, Y, P)
            _sync(dev)
            row[f"{side}_s"] = time.perf_counter() - t0
            row[f"{side}_residual"] = mach.residual_
            row[f"{side}_status"] = mach.status_
            fitted[side] = mach
        hc = np.asarray(fitted["cpu"].decision_function(X, Y))
        hg = np.asarray(fitted["gpu"].decision_function(X, Y))
        row["score_diff"] = float(np.max(np.abs(hc - hg)))
        row["speedup"] = row["cpu_s"] / row["gpu_s"]
        rows.append(row)
    return rows


def bench_train(device: str, dry_run: bool) -> list[dict]:
    from rkbs.attention.training import TrainConfig, train

    steps = 3 if dry_run else 60
    rows, t_start = [], time.perf_counter()
    for batch in SIZES["train"][dry_run]:
        if time.perf_counter() - t_start > BUDGET["train"]:
            rows.append({"batch": batch, "note": "time budget spent"})
            break
        row = {"batch": batch}
        for kernel in ("edp", "prf64"):
            try:
                res = train(TrainConfig(task="number-words", kernel=kernel, seed=0,
                                        quick=dry_run, steps=steps, batch_size=batch,
                                        eval_every=steps, eval_max_examples=16,
                                        device=device, progress=False,
                                        num_threads=None if device != "cpu" else 1))
                row[kernel] = res.metrics["train_tokens_per_s"]
            except RuntimeError as exc:
                if not _is_oom(exc):
                    raise
                row[kernel] = "OOM"
        rows.append(row)
    return rows


# ------------------------------------------------------------------ table
def _f(x, fmt):
    return x if isinstance(x, str) else ("—" if x is None or x != x else format(x, fmt))


def write_tables(parts: dict, device: str, dry_run: bool, seconds: float, out_dir) -> Path:
    title = "## GPU: CUDA tests and GPU benchmarks (`make gpu-check`)"
    lines = [title, "", f"Device: {device_info(device)}. Total wall time {seconds:.0f} s. "
             + ("**Dry run on the CPU with tiny sizes: tests the script, not a GPU record.**"
                if dry_run else "Medians of 3 runs after a warm-up, synchronized."), ""]
    t = parts.get("tests")
    if t:
        lines += [f"**CUDA tests** (`pytest -m cuda`): {t['summary']} "
                  f"(exit {t['returncode']}, {t['seconds']:.0f} s).", ""]
    a = [r for r in parts.get("attention", []) if "note" not in r]
    if a:
        ms = a[0]["methods"]
        lines += ["**Attention, forward + backward** (float32; time ms / peak memory MiB):", "",
                  "| L | " + " | ".join(ms) + " |", "|---|" + "---|" * len(ms)]
        for r in a:
            cells = [f"{_f(r[m] * 1e3 if not isinstance(r[m], str) else r[m], '.2f')} / "
                     f"{_f(r[m + ' mem'], '.0f')}" for m in ms]
            lines.append(f"| {r['L']} | " + " | ".join(cells) + " |")
        lines.append("")
    n = [r for r in parts.get("newton", []) if "note" not in r]
    if n:
        lines += ["**Newton solver** (`BinaryKernelMachine(solver=\"torch\")`, p = 1.5, "
                  "additive, squared loss, RFF features, float64, target residual 1e-9):", "",
                  "| m = n | D | CPU (s) | GPU (s) | speed-up | residual CPU / GPU | "
                  "max pred. diff (rel.) |", "|---|---|---|---|---|---|---|"]
        for r in n:
            lines.append(f"| {r['m']} | {r['D']} | {r['cpu_s']:.2f} | {r['gpu_s']:.2f} | "
                         f"{r['speedup']:.1f} | {r['cpu_residual']:.1e} / "
                         f"{r['gpu_residual']:.1e} | {r['pred_diff']:.1e} |")
        lines.append("")
    dl = [r for r in parts.get("dual", []) if "note" not in r]
    if dl:
        lines += ["**Dual pair-operator machine** (exact EDP, planted softmax head, "
                  "λ = 1e-2, target residual 1e-10):", "",
                  "| maps S | scores | CPU (s) | GPU (s) | speed-up | max score diff |",
                  "|---|---|---|---|---|---|"]
        for r in dl:
            lines.append(f"| {r['S']} | {r['N_scores']} | {r['cpu_s']:.2f} | {r['gpu_s']:.2f} | "
                         f"{r['speedup']:.1f} | {r['score_diff']:.1e} |")
        lines.append("")
    tr = [r for r in parts.get("train", []) if "note" not in r]
    if tr:
        lines += ["**Training throughput** (number-words model, source + target tokens/s):",
                  "", "| batch | EDP | PRF D=64 |", "|---|---|---|"]
        for r in tr:
            lines.append(f"| {r['batch']} | {_f(r['edp'], '.0f')} | {_f(r['prf64'], '.0f')} |")
        lines.append("")
    notes = [f"{k}: stopped before size {r.get('L', r.get('m', r.get('S', r.get('batch'))))} "
             "(time budget)" for k in ("attention", "newton", "dual", "train")
             for r in parts.get(k, []) if "note" in r]
    if notes:
        lines += ["Budget: " + "; ".join(notes) + ".", ""]
    return write_table(out_dir, "gpu.md", "\n".join(lines))


def main(out_dir=None, quick: bool = False, verbose: bool = True, *, dry_run: bool = False,
         update_record: bool = False, run_tests: bool = True) -> dict:
    """Run the GPU check; return the parts' rows. ``quick`` is the same as ``dry_run``.

    Raises
    ------
    NoCUDA
        If no CUDA device is available and ``dry_run`` is false.
    ValueError
        If ``update_record`` is combined with a dry run.
    """
    import torch

    dry_run = dry_run or quick
    if update_record and dry_run:
        raise ValueError("--update-record refuses --dry-run: CPU numbers are not a GPU record")
    if not dry_run and not torch.cuda.is_available():
        raise NoCUDA(f"no CUDA device: torch.cuda.is_available() is False (torch "
                     f"{torch.__version__}, built with CUDA {torch.version.cuda}); run "
                     "`make gpu-check` on a machine with an NVIDIA GPU and a CUDA build of "
                     "torch, or `python -m benchmarks.gpu_check --dry-run` to test the script "
                     "on the CPU")
    from rkbs._io import check_output_dir

    out = check_output_dir(out_dir if out_dir is not None else DEFAULT_OUT,
                           what="output folder")
    device = "cpu" if dry_run else "cuda"
    t0 = time.perf_counter()
    parts = {}
    steps = [("attention", bench_attention), ("newton", bench_newton), ("dual", bench_dual),
             ("train", bench_train)]
    if run_tests:
        if verbose:
            print("== pytest -m cuda", flush=True)
        parts["tests"] = run_cuda_tests(dry_run)
        if verbose:
            print(f"   {parts['tests']['summary']}", flush=True)
    for name, fn in steps:
        if verbose:
            print(f"== {name}", flush=True)
        t1 = time.perf_counter()
        parts[name] = fn(device, dry_run)
        if verbose:
            print(f"   {name}: {time.perf_counter() - t1:.1f} s", flush=True)
    path = write_tables(parts, device, dry_run, time.perf_counter() - t0, out)
    if verbose:
        print(path.read_text(encoding="utf-8"))
        print(f"wrote {path}")
    if update_record:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "gpu.md.tmp").write_bytes(path.read_bytes())
        (RESULTS / "gpu.md.tmp").replace(RESULTS / "gpu.md")
        rec = assemble(RESULTS)
        if verbose:
            print(f"updated {RESULTS / 'gpu.md'} and {rec}")
    tests = parts.get("tests")
    if tests is None:
        parts["ok"] = True
    elif dry_run:  # on the CPU the CUDA tests skip; they must still be collected and not fail
        parts["ok"] = tests["returncode"] == 0
    else:  # on a GPU every CUDA test runs: a skip means a CUDA path was not exercised
        parts["ok"] = tests["returncode"] == 0 and "skipped" not in tests["summary"]
    return parts


def cli(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.gpu_check", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", default=str(DEFAULT_OUT), help="folder for gpu.md")
    p.add_argument("--dry-run", action="store_true",
                   help="run on the CPU with tiny sizes (tests the script; no GPU needed)")
    p.add_argument("--update-record", action="store_true",
                   help="also write benchmarks/results/gpu.md and BENCHMARKS.md")
    p.add_argument("--no-tests", action="store_true", help="skip pytest -m cuda")
    a = p.parse_args(argv)
    try:
        parts = main(a.out, dry_run=a.dry_run, update_record=a.update_record,
                     run_tests=not a.no_tests)
    except (NoCUDA, ValueError) as exc:
        print(f"gpu-check: error: {exc}", file=sys.stderr)
        return 2
    if not parts["ok"]:
        print("gpu-check: the CUDA tests failed:\n" + parts["tests"]["output"], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(cli())
