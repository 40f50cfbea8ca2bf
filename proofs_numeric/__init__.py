"""Numerical proofs of the paper's claims: one module per claim, each with ``main(quick)``.

Claim modules are named ``claim_<N>_<topic>.py`` and are discovered automatically;
``rkbs verify`` runs them in order of N. Every module exposes
``main(quick: bool = True, verbose: bool = True) -> list[CheckResult]``, built on the
public API of :mod:`rkbs` only, and prints its verdict table when ``verbose``.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

__all__ = ["CLAIMS", "claim_modules"]


def _discover() -> tuple[str, ...]:
    found = []
    for m in pkgutil.iter_modules(__path__):
        match = re.fullmatch(r"claim_(\d+)_\w+", m.name)
        if match:
            found.append((int(match.group(1)), m.name))
    return tuple(name for _, name in sorted(found))


#: Claim module names in run order.
CLAIMS: tuple[str, ...] = _discover()


def claim_modules():
    """Import and return the claim modules listed in :data:`CLAIMS`."""
    return [importlib.import_module(f"{__name__}.{name}") for name in CLAIMS]
