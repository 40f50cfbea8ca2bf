"""Numerical proofs of the paper's claims: one module per claim, each with ``main(quick)``.

``CLAIMS`` lists the modules in the order ``rkbs verify`` runs them. Every module
exposes ``main(quick: bool = True, verbose: bool = True) -> list[CheckResult]``, built
on the public API of :mod:`rkbs` only.
"""

from __future__ import annotations

import importlib
import pkgutil

__all__ = ["CLAIMS", "claim_modules"]

#: Module names (inside this package) in run order. A module listed here that does not
#: exist yet is an error: every listed claim must be runnable.
CLAIMS: tuple[str, ...] = ()


def claim_modules():
    """Import and return the claim modules listed in :data:`CLAIMS`."""
    return [importlib.import_module(f"{__name__}.{name}") for name in CLAIMS]


def _all_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
