"""The fitting grids of every figure script and claim module, solved to tolerance.

Each script that fits machines lists its solver problems in ``fitting_problems(quick)``
(and fits exactly those in ``main``). The slow test solves every problem of the FULL
grids — what ``make figures`` and ``rkbs verify`` run — without drawing anything, so a
solver that stops converging somewhere in a grid fails here, not after 15 minutes of a
figure run.
"""

from __future__ import annotations

import importlib
import pathlib
import re
import warnings

import pytest

pytest.importorskip("torch")

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPTS = sorted([f"paper_figures.{p.stem}" for p in (ROOT / "paper_figures").glob("fig_*.py")]
                 + [f"proofs_numeric.{p.stem}"
                    for p in (ROOT / "proofs_numeric").glob("claim_*.py")])
# what marks a script as one that fits machines (constructs one, or calls a fitting helper)
_FITS = re.compile(r"Machine\(|\bfit_head\(|\bcompare_head\(|make_pair_machine\(")
FITTING = [s for s in SCRIPTS
           if _FITS.search((ROOT / (s.replace(".", "/") + ".py")).read_text())]
# A solve that stops above its target counts only at the solver's round-off floor (Newton
# stalled, residual below twice its spread over equally exact float64 evaluation orders)
# and only while that floor is small: a floor above this means the problem cannot be
# certified in float64 at all, and the test fails.
_MAX_FLOOR = 1e-8


def test_every_fitting_script_lists_its_problems():
    """A script that fits machines must expose ``fitting_problems`` (else the slow test
    cannot see its grid); the detector itself must find the known fitting scripts."""
    assert "paper_figures.fig_representer_certificates" in FITTING  # detector works
    assert "proofs_numeric.claim_4_representer" in FITTING
    missing = [s for s in FITTING if not hasattr(importlib.import_module(s), "fitting_problems")]
    assert not missing, f"scripts that fit machines without fitting_problems(): {missing}"


def _solve_all(module: str, quick: bool):
    """Fit every problem; return the list of (label, what went wrong)."""
    problems = importlib.import_module(module).fitting_problems(quick)
    assert problems, f"{module}.fitting_problems({quick}) is empty"
    labels = [p.label for p in problems]
    assert len(set(labels)) == len(labels), f"duplicate labels in {module}"
    bad = []
    for prob in problems:
        with warnings.catch_warnings():
            # the Clarabel fallback warns; on these grids Newton itself must converge
            warnings.simplefilter("error", RuntimeWarning)
            try:
                mach = prob.fit()
            except Exception as exc:  # noqa: BLE001 - collected and reported below
                bad.append((prob.label, f"{type(exc).__name__}: {exc}"))
                continue
        floor = getattr(mach, "residual_floor_", None)
        at_floor = (getattr(mach, "status_", None) == "round_off_floor" and floor is not None
                    and mach.residual_ <= floor <= _MAX_FLOOR)
        if not (mach.residual_ <= prob.target or at_floor):
            bad.append((prob.label, f"residual {mach.residual_:.3g} > {prob.target:g} "
                                    f"(status {getattr(mach, 'status_', None)}, floor {floor})"))
        info = getattr(mach, "solver_info_", None) or {}
        if info.get("fallback"):
            bad.append((prob.label, f"needed the {info['fallback']} fallback"))
    return bad


@pytest.mark.slow
@pytest.mark.parametrize("module", FITTING)
def test_full_grid_solves_to_tolerance(module):
    bad = _solve_all(module, quick=False)
    assert not bad, "\n".join(f"{label}: {why}" for label, why in bad)
