"""Numerical proofs of the paper's claims: one module per claim topic, each with ``main``.

Claim modules are named ``claim_<N>[letter]_<topic>.py`` and are discovered automatically;
``rkbs verify`` runs them in order of N. Every module exposes the scripts' common entry
point (the same as the figure scripts' and the benchmarks')::

    main(out_dir=None, quick: bool = False, verbose: bool = True) -> list[CheckResult]

built on the public API of :mod:`rkbs` only; it prints its verdict table when
``verbose`` and, given ``out_dir``, writes its rows to ``out_dir/<module>.json``.

The module numbers are the project's historical topic numbers; :data:`PAPER_CLAIMS`
maps each module to the numbered claims of Wright & Gonzalez (2021) it checks (the
modules keep their names so that other code and documents referring to them stay valid).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

__all__ = ["CLAIMS", "PAPER_CLAIMS", "claim_modules", "paper_claims", "save_results"]

_NAME = re.compile(r"claim_(\d+)([a-z]?)_\w+")


def _discover() -> tuple[str, ...]:
    found = []
    for m in pkgutil.iter_modules(__path__):
        match = _NAME.fullmatch(m.name)
        if match:
            found.append((int(match.group(1)), match.group(2), m.name))
    return tuple(name for *_, name in sorted(found))


#: Claim module names in run order.
CLAIMS: tuple[str, ...] = _discover()

#: Module -> the paper's numbered claims it checks, numbered as in the project's claim
#: list (README): 1, 4 the RKBS pair; 2 EDP is infinite-dimensional; 3 non-Mercer;
#: 5 the representer theorem; 6 universal approximation; 7 kernel choice in Transformers;
#: "§2" is the paper's random-feature section (estimators, not a numbered claim).
PAPER_CLAIMS: dict[str, tuple[str, ...]] = {
    "claim_1_taylor_features": ("2",),
    "claim_2_non_mercer": ("3",),
    "claim_2_non_mercer_trained": ("3",),
    "claim_3_rkbs_pair": ("1", "4"),
    "claim_4_representer": ("5",),
    "claim_5_universal_approximation": ("6",),
    "claim_6_random_features": ("§2",),
    "claim_7_kernel_choice": ("7",),
}


def paper_claims(module: str) -> tuple[str, ...]:
    """The paper's claims checked by claim module ``module`` (see :data:`PAPER_CLAIMS`).

    Raises
    ------
    ValueError
        If the module has no entry (a new module must be added to the mapping).
    """
    short = module.rsplit(".", 1)[-1]
    if short not in PAPER_CLAIMS:
        raise ValueError(f"claim module {short!r} has no entry in proofs_numeric.PAPER_CLAIMS")
    return PAPER_CLAIMS[short]


def claim_modules():
    """Import and return the claim modules listed in :data:`CLAIMS`."""
    return [importlib.import_module(f"{__name__}.{name}") for name in CLAIMS]


def save_results(module: str, results: list, out_dir=None) -> list:
    """End of every claim ``main``: write ``out_dir/<module>.json`` (if given); return rows."""
    if out_dir is not None:
        from rkbs._io import check_output_dir
        from rkbs.verify import write_json

        short = module.rsplit(".", 1)[-1]
        if short == "__main__":
            short = "claim"
        write_json(results, Path(check_output_dir(out_dir)) / f"{short}.json")
    return results
