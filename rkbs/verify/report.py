"""Verdict rows shared by every numerical check, the ``rkbs verify`` table and its JSON.

A :class:`CheckResult` states what was measured, the tolerance it is held to and where
that tolerance comes from, so that a reader can judge the verdict. Negative controls
are rows whose check is *expected to fail*: they pass when the underlying comparison
fails (e.g. a perturbed solution must violate the certificate).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

__all__ = ["CheckResult", "check", "format_table", "write_json", "all_passed", "claims_markdown"]

_RELATIONS = ("<=", ">=")


@dataclass(frozen=True)
class CheckResult:
    """One verdict row.

    Attributes
    ----------
    claim : str
        Which claim of the paper (MATH.md top list) the row supports.
    setting : str
        The configuration (kernel, p, loss, sizes...).
    measured : float
        The measured figure (an error, a residual, a rank, a slope...).
    tolerance : float
        The threshold the figure is compared with.
    relation : str
        ``"<="`` (measured must not exceed tolerance) or ``">="``.
    passed : bool
        The verdict, already accounting for ``negative_control``.
    negative_control : bool
        True when the comparison is expected to fail; the row passes iff it does.
    note : str
        Where the tolerance comes from, or what the row shows.
    """

    claim: str
    setting: str
    measured: float
    tolerance: float
    relation: str
    passed: bool
    negative_control: bool = False
    note: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("measured", "tolerance"):
            if isinstance(d[k], float) and not math.isfinite(d[k]):
                d[k] = str(d[k])
        return d


def check(
    claim: str,
    setting: str,
    measured: float,
    tolerance: float,
    *,
    relation: str = "<=",
    negative_control: bool = False,
    note: str = "",
) -> CheckResult:
    """Build a :class:`CheckResult`, computing the verdict.

    ``measured <= tolerance`` (or ``>=``) is the comparison; a NaN measurement never
    satisfies it. With ``negative_control=True`` the row passes iff the comparison fails
    on a *finite* measurement (a NaN is a broken check, not a detected failure).
    """
    if relation not in _RELATIONS:
        raise ValueError(f"relation must be one of {_RELATIONS}, got {relation!r}")
    measured = float(measured)
    tolerance = float(tolerance)
    ok = measured <= tolerance if relation == "<=" else measured >= tolerance
    if math.isnan(measured):
        ok = False
    passed = (not ok and not math.isnan(measured)) if negative_control else ok
    return CheckResult(claim, setting, measured, tolerance, relation, passed,
                       negative_control, note)


def all_passed(results: Iterable[CheckResult]) -> bool:
    """True iff every row passed (an empty list is not a pass)."""
    results = list(results)
    return bool(results) and all(r.passed for r in results)


def _fmt(x: float) -> str:
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return str(x)
    if x == int(x) and abs(x) < 1e6:
        return f"{int(x)}"
    return f"{x:.3g}"


def format_table(results: Sequence[CheckResult], *, title: str | None = None) -> str:
    """Plain-text table: claim, setting, measured, relation + tolerance, verdict."""
    rows = [("claim", "setting", "measured", "tolerance", "verdict")]
    for r in results:
        verdict = "PASS" if r.passed else "FAIL"
        if r.negative_control:
            verdict += " (neg. control)"
        rows.append((r.claim, r.setting, _fmt(r.measured), f"{r.relation} {_fmt(r.tolerance)}",
                     verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    if title:
        lines.append(title)
    for k, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    n_pass = sum(r.passed for r in results)
    lines.append(f"{n_pass} passed, {len(results) - n_pass} failed")
    return "\n".join(lines)


def write_json(results: Sequence[CheckResult], path) -> None:
    """Write the rows (and a summary) as JSON to ``path``."""
    payload = {
        "passed": all_passed(results),
        "n_checks": len(results),
        "n_failed": sum(not r.passed for r in results),
        "results": [r.to_dict() for r in results],
    }
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2)


def claims_markdown(results: Sequence[CheckResult]) -> str:
    """Markdown table with one line per claim: rows checked, negative controls, verdict."""
    claims: dict[str, list[CheckResult]] = {}
    for r in results:
        claims.setdefault(r.claim, []).append(r)
    lines = ["| claim | checks | of which negative controls | failed | verdict |",
             "|---|---|---|---|---|"]
    for claim, rows in claims.items():
        n_fail = sum(not r.passed for r in rows)
        n_neg = sum(r.negative_control for r in rows)
        verdict = "PASS" if n_fail == 0 else "FAIL"
        lines.append(f"| {claim} | {len(rows)} | {n_neg} | {n_fail} | {verdict} |")
    return "\n".join(lines)
