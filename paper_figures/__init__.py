"""Paper figures and tables: ``rkbs figures`` / ``python -m paper_figures``.

One module per figure, ``fig_<name>.py``, each with ``main(out_dir, quick) -> dict``
that writes ``<name>.png``, ``<name>.pdf`` and the numbers behind the figure
(``<name>.csv`` / ``<name>.json``) into ``out_dir`` and returns a summary dict (the paths
under ``"files"`` and the figure's headline numbers). Seeds are fixed, so a rerun gives
the same numbers. Figures use the public API of :mod:`rkbs` only.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import time
from pathlib import Path

__all__ = ["FIGURES", "run_all"]


def _discover() -> tuple[str, ...]:
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__)
                        if re.fullmatch(r"fig_\w+", m.name)))


#: Figure module names, in run order.
FIGURES: tuple[str, ...] = _discover()


def run_all(out_dir="figures", quick: bool = False, only: str | None = None,
            progress: bool = True) -> dict[str, dict]:
    """Regenerate every figure (or those whose name contains ``only``) into ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Output folder (created).
    quick : bool
        Small configurations (for tests and a first look).
    only : str, optional
        Substring filter on the module names.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    dict of str to dict
        Each figure's summary, plus ``"seconds"`` per figure.
    """
    from tqdm.auto import tqdm

    names = [n for n in FIGURES if not only or only in n]
    if not names:
        raise ValueError(f"no figure module matches {only!r}; available: {', '.join(FIGURES)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    bar = tqdm(names, desc="paper figures", unit="fig", disable=not progress)
    for name in bar:
        bar.set_postfix_str(name)
        t0 = time.perf_counter()
        mod = importlib.import_module(f"{__name__}.{name}")
        summary = mod.main(out, quick=quick)
        summary["seconds"] = time.perf_counter() - t0
        results[name] = summary
    for name, s in results.items():
        print(f"{name}: {len(s['files'])} files in {s['seconds']:.1f}s")
    return results
