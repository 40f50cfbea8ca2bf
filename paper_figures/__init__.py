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

__all__ = ["FIGURES", "run_all"]


def _discover() -> tuple[str, ...]:
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__)
                        if re.fullmatch(r"fig_\w+", m.name)))


#: Figure module names, in run order.
FIGURES: tuple[str, ...] = _discover()


def run_all(out_dir="figures", quick: bool = False, only: str | None = None,
            progress: bool = True, force: bool = False) -> dict[str, dict]:
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
    force : bool
        Redraw figures already finished in ``out_dir`` for this mode (by default they are
        skipped, so an interrupted run resumes; see ``_common.finished_figure``).

    Returns
    -------
    dict of str to dict
        Each figure's summary, plus ``"seconds"`` per figure.
    """
    from tqdm.auto import tqdm

    from paper_figures._common import finished_figure, mark_figure_finished
    from rkbs._io import check_output_dir

    names = [n for n in FIGURES if not only or only in n]
    if not names:
        raise ValueError(f"no figure module matches {only!r}; available: {', '.join(FIGURES)}")
    out = check_output_dir(out_dir, what="figure folder")
    results, skipped = {}, []
    bar = tqdm(names, desc="paper figures", unit="fig", disable=not progress)
    for name in bar:
        bar.set_postfix_str(name)
        done = None if force else finished_figure(out, name, quick)
        if done is not None:
            results[name] = done
            skipped.append(name)
            continue
        t0 = time.perf_counter()
        mod = importlib.import_module(f"{__name__}.{name}")
        summary = mod.main(out, quick=quick)
        summary["seconds"] = time.perf_counter() - t0
        mark_figure_finished(out, name, quick, summary)
        results[name] = summary
    for name, s in results.items():
        how = "already there, skipped (--force redraws)" if name in skipped else \
            f"in {s['seconds']:.1f}s"
        print(f"{name}: {len(s['files'])} files {how}")
    return results
