"""Benchmarks, run on demand (``rkbs bench`` or ``python -m benchmarks``), never in tests.

Each module ``bench_<topic>.py`` exposes the scripts' common entry point
``main(out_dir=None, quick=False, verbose=True) -> list[dict]`` and writes its table
``<topic>.md`` into ``out_dir`` (by default the scratch folder ``bench-out/``, ignored by
git). :func:`run_all` runs the selected modules into ``out_dir`` and assembles a preview
``out_dir/BENCHMARKS.md``: the committed tables with the new ones in their place.

The record -- ``BENCHMARKS.md`` and ``benchmarks/results/*.md`` -- changes only through
``run_all(..., update_record=True)`` (``rkbs bench --update-record``), which refuses quick
mode: a quick run's numbers never replace full-mode ones by accident.
"""

from __future__ import annotations

import importlib
import pkgutil
import shutil
import time
from pathlib import Path

from rkbs._io import check_output_dir, write_text

__all__ = ["RESULTS", "ROOT", "DEFAULT_OUT", "modules", "select", "assemble", "write_table",
           "run_all"]

#: The committed per-topic tables (the record).
RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
#: Scratch folder used when no output folder is given (ignored by git).
DEFAULT_OUT = ROOT / "bench-out"

_HEADER = ("# Benchmarks\n\nMeasured on the project machine (2 CPU cores) unless a section "
           "says otherwise; regenerate with `rkbs bench --update-record` (full mode).\n")


def modules() -> list[str]:
    """Names of the benchmark modules (``bench_*``), sorted."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("bench_"))


def select(only: str | None = None) -> list[str]:
    """The modules whose name contains ``only`` (all when ``only`` is empty).

    Raises
    ------
    ValueError
        If ``only`` matches no module; the message lists the available names.
    """
    names = [n for n in modules() if not only or only in n]
    if not names:
        raise ValueError(f"--only {only!r} matches no benchmark; available: "
                         + ", ".join(modules()))
    return names


def write_table(out_dir, filename: str, text: str) -> Path:
    """Write one benchmark table atomically into ``out_dir`` (default :data:`DEFAULT_OUT`)."""
    out = Path(out_dir) if out_dir is not None else DEFAULT_OUT
    p = out / filename
    write_text(p, text if text.endswith("\n") else text + "\n")
    return p


def assemble(tables_dir=RESULTS, target=None, overrides=None) -> Path:
    """Concatenate the tables ``tables_dir/*.md`` (sorted by name) into one markdown file.

    Parameters
    ----------
    tables_dir : path
        Folder of ``<topic>.md`` tables (default: the committed record).
    target : path, optional
        File to write (default: ``BENCHMARKS.md`` at the repository root).
    overrides : iterable of path, optional
        Table files that replace (or add to) those of ``tables_dir`` with the same name.
    """
    tables = {f.name: f for f in Path(tables_dir).glob("*.md")}
    tables.update({Path(f).name: Path(f) for f in overrides or ()})
    parts = [_HEADER]
    for name in sorted(tables):
        parts.append(tables[name].read_text(encoding="utf-8").strip() + "\n")
    out = Path(target) if target is not None else ROOT / "BENCHMARKS.md"
    write_text(out, "\n".join(parts))
    return out


def run_all(only: str | None = None, quick: bool = False, out_dir=None, *,
            update_record: bool = False, verbose: bool = True) -> dict[str, list[dict]]:
    """Run the benchmarks matching ``only`` into ``out_dir``; update the record on request.

    Parameters
    ----------
    only : str, optional
        Substring filter on the module names; one that matches nothing raises.
    quick : bool
        Small sizes (a smoke run; its numbers are not comparable with the record's).
    out_dir : path, optional
        Where the new tables and the preview ``BENCHMARKS.md`` go (default
        :data:`DEFAULT_OUT`). Validated before anything runs.
    update_record : bool
        Copy the new tables into ``benchmarks/results/`` and rebuild the committed
        ``BENCHMARKS.md``. Refused with ``quick=True``.
    verbose : bool
        Print each table.

    Returns
    -------
    dict of str to list of dict
        Each module's rows.
    """
    if update_record and quick:
        raise ValueError("update_record=True refuses quick mode: quick numbers must not "
                         "replace the full-mode record (drop --quick)")
    names = select(only)
    out = check_output_dir(out_dir if out_dir is not None else DEFAULT_OUT,
                           what="benchmark output folder")
    if update_record and out.resolve() == RESULTS.resolve():
        raise ValueError("out_dir must not be benchmarks/results itself with update_record")
    rows, new_tables = {}, []
    for name in names:
        if verbose:
            print(f"== {name}")
        t0 = time.perf_counter()
        before = {f.name: f.stat().st_mtime_ns for f in out.glob("*.md")}
        rows[name] = importlib.import_module(f"{__name__}.{name}").main(
            out_dir=out, quick=quick, verbose=verbose)
        written = [f for f in out.glob("*.md") if f.name != "BENCHMARKS.md"
                   and before.get(f.name) != f.stat().st_mtime_ns]
        new_tables += written
        if update_record:
            RESULTS.mkdir(exist_ok=True)
            for f in written:
                shutil.copyfile(f, RESULTS / f"{f.name}.tmp")
                (RESULTS / f"{f.name}.tmp").replace(RESULTS / f.name)
        if verbose:
            print(f"   {name}: {time.perf_counter() - t0:.1f} s, wrote "
                  + ", ".join(str(f) for f in written))
    preview = assemble(RESULTS, out / "BENCHMARKS.md", overrides=new_tables)
    if verbose:
        print(f"wrote {preview} (preview: the record with the new tables)")
    if update_record:
        rec = assemble(RESULTS)
        if verbose:
            print(f"updated the record: {rec} and {RESULTS}/")
    return rows
