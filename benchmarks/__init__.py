"""Benchmarks, run on demand (``make bench`` or ``python -m benchmarks``), never in tests.

Each module ``bench_<topic>.py`` exposes ``main(quick: bool = False) -> list[dict]``
and writes its table to ``benchmarks/results/<topic>.md``; :func:`run_all` runs them
and assembles ``BENCHMARKS.md`` at the repository root.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent


def modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("bench_"))


def assemble() -> Path:
    """Concatenate every ``results/*.md`` into ``BENCHMARKS.md``."""
    parts = ["# Benchmarks\n\nMeasured on the project machine (2 CPU cores) unless a section "
             "says otherwise; regenerate with `make bench`.\n"]
    for f in sorted(RESULTS.glob("*.md")):
        parts.append(f.read_text(encoding="utf-8").strip() + "\n")
    out = ROOT / "BENCHMARKS.md"
    out.write_text("\n".join(parts), encoding="utf-8")
    return out


def run_all(only: str | None = None, quick: bool = False) -> None:
    RESULTS.mkdir(exist_ok=True)
    for name in modules():
        if only and only not in name:
            continue
        print(f"== {name}")
        importlib.import_module(f"{__name__}.{name}").main(quick=quick)
    print(f"wrote {assemble()}")
