"""Verdict rows shared by every numerical check, the ``rkbs verify`` table and its JSON.

A :class:`CheckResult` states what was measured, the tolerance it is held to and where
that tolerance comes from, so that a reader can judge the verdict. Negative controls
are rows whose check is *expected to fail*: they pass when the underlying comparison
fails (e.g. a perturbed solution must violate the certificate).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields

from rkbs import _io

__all__ = ["CheckResult", "check", "format_table", "format_summary", "write_json", "all_passed",
           "claims_markdown", "rows_markdown", "verdict_text", "TABLE_WIDTH"]

#: Width the plain-text tables fit by default (an ordinary terminal).
TABLE_WIDTH = 100

_RELATIONS = ("<=", ">=")


@dataclass(frozen=True)
class CheckResult:
    """One verdict row.

    Attributes
    ----------
    claim : str
        Which claim of the paper (the claims list of the theory page) the row supports.
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
    part : str
        Which part of the claim the row checks, as a name that code may match on
        (e.g. ``"span residual"``, ``"KKT"``); empty when the claim has one part. Code
        selects rows by ``part`` and ``labels``, never by parsing ``setting``.
    labels : dict of str to str
        Further structured coordinates of the row (e.g. ``{"side": "X",
        "point": "perturbed"}``).
    """

    claim: str
    setting: str
    measured: float
    tolerance: float
    relation: str
    passed: bool
    negative_control: bool = False
    note: str = ""
    part: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The row as a JSON-ready dict (non-finite floats as ``"nan"``/``"inf"``)."""
        d = asdict(self)
        d["labels"] = dict(self.labels)
        for k in ("measured", "tolerance"):
            if isinstance(d[k], float) and not math.isfinite(d[k]):
                d[k] = str(d[k])
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> CheckResult:
        """Inverse of :meth:`to_dict` (unknown keys are an error)."""
        names = {f.name for f in fields(cls)}
        extra = set(d) - names
        if extra:
            raise ValueError(f"unknown CheckResult fields {sorted(extra)}")
        kw = dict(d)
        for k in ("measured", "tolerance"):
            kw[k] = float(kw[k])
        kw["labels"] = dict(kw.get("labels") or {})
        return cls(**kw)


def check(
    claim: str,
    setting: str,
    measured: float,
    tolerance: float,
    *,
    relation: str = "<=",
    negative_control: bool = False,
    note: str = "",
    part: str = "",
    labels: Mapping[str, str] | None = None,
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
                       negative_control, note, part, dict(labels or {}))


def all_passed(results: Iterable[CheckResult]) -> bool:
    """True iff every row passed (an empty list is not a pass)."""
    results = list(results)
    return bool(results) and all(r.passed for r in results)


def _fmt(x: float) -> str:
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return str(x)
    if x == int(x) and abs(x) < 1e6:
        return f"{int(x) + 0}"  # + 0: no "-0"
    return f"{x:.3g}"


_NEGATED = {"<=": ">", ">=": "<"}


def verdict_text(r: CheckResult) -> str:
    """``PASS``/``FAIL`` for a check; ``control caught ✓``/``control missed ✗`` for a control.

    A negative control feeds a wrong input on purpose; "caught" means the check rejected it.
    """
    if r.negative_control:
        return "control caught ✓" if r.passed else "control missed ✗"
    return "PASS" if r.passed else "FAIL"


def _needs(r: CheckResult) -> str:
    """What the measurement must satisfy for the row to pass (negated for controls)."""
    rel = _NEGATED[r.relation] if r.negative_control else r.relation
    return f"{rel} {_fmt(r.tolerance)}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(width - 1, 0)] + "…"


def _by_claim(results: Iterable[CheckResult]) -> dict[str, list[CheckResult]]:
    claims: dict[str, list[CheckResult]] = {}
    for r in results:
        claims.setdefault(r.claim, []).append(r)
    return claims


def format_table(results: Sequence[CheckResult], *, title: str | None = None,
                 width: int | None = TABLE_WIDTH, wide: bool = False) -> str:
    """Plain-text table of every row, grouped under its claim.

    Columns: setting, measured, what it needs (``<= tol``; a control needs the opposite),
    verdict (``PASS``/``FAIL``, or ``control caught ✓``/``control missed ✗``).

    Parameters
    ----------
    results : sequence of CheckResult
    title : str, optional
        First line.
    width : int or None
        Lines are at most this wide: the setting text is shortened with "…" (the full
        text is in the JSON and Markdown outputs). ``None`` or ``wide=True``: no limit.
    wide : bool
        Full setting text, however wide.
    """
    body = [(r.setting, _fmt(r.measured), _needs(r), verdict_text(r)) for r in results]
    head = ("setting", "measured", "needs", "verdict")
    w = [max([len(head[i])] + [len(b[i]) for b in body]) for i in range(4)]
    indent = "  "
    if width is not None and not wide:
        room = width - len(indent) - sum(w[1:]) - 2 * 3
        w[0] = max(min(w[0], room), 20)
    lines = [title] if title else []
    lines.append(indent + "  ".join(h.ljust(x) for h, x in zip(head, w)).rstrip())
    lines.append(indent + "  ".join("-" * x for x in w))
    k = 0
    for claim, rows in _by_claim(results).items():
        lines.append(_clip(f"claim {claim}", sum(w) + 6 + len(indent)) if not wide
                     else f"claim {claim}")
        for _ in rows:
            s, m, n, v = body[k]
            k += 1
            s = _clip(s, w[0]) if not wide else s
            lines.append((indent + "  ".join(c.ljust(x) for c, x in zip((s, m, n, v), w)))
                         .rstrip())
    n_pass = sum(r.passed for r in results)
    lines.append(f"{n_pass} passed, {len(results) - n_pass} failed")
    return "\n".join(lines)


def _summary(results: Sequence[CheckResult]) -> list[tuple[str, int, int, int, int, str]]:
    """Per claim: (claim, rows, controls, controls caught, failed rows, verdict)."""
    out = []
    for claim, rows in _by_claim(results).items():
        n_fail = sum(not r.passed for r in rows)
        neg = [r for r in rows if r.negative_control]
        out.append((claim, len(rows), len(neg), sum(r.passed for r in neg), n_fail,
                    "PASS" if n_fail == 0 else "FAIL"))
    return out


def format_summary(results: Sequence[CheckResult], *, title: str | None = None,
                   width: int | None = TABLE_WIDTH,
                   paper: Mapping[str, str] | None = None) -> str:
    """Plain-text table with one line per claim, then every failed row in full.

    Columns: claim, [paper claim,] checks (rows), controls caught (of the claim's negative
    controls), failed rows, verdict. ``paper`` maps a row's ``claim`` text to the paper's
    claim numbers (a "paper" column is added when given).
    """
    summ = _summary(results)
    head = ("claim", "checks", "controls caught", "failed", "verdict")
    body = [(c, str(n), f"{caught}/{neg}", str(f), v) for c, n, neg, caught, f, v in summ]
    if paper is not None:
        head = (head[0], "paper", *head[1:])
        body = [(b[0], paper.get(b[0], "?"), *b[1:]) for b in body]
    nc = len(head)
    w = [max([len(head[i])] + [len(b[i]) for b in body]) for i in range(nc)]
    if width is not None:
        w[0] = max(min(w[0], width - sum(w[1:]) - 2 * (nc - 1)), 12)
    lines = [title] if title else []
    lines.append("  ".join(h.ljust(x) for h, x in zip(head, w)).rstrip())
    lines.append("  ".join("-" * x for x in w))
    for b in body:
        lines.append("  ".join(c.ljust(x) for c, x in zip((_clip(b[0], w[0]), *b[1:]), w))
                     .rstrip())
    failed = [r for r in results if not r.passed]
    n_neg = sum(r.negative_control for r in results)
    n_caught = sum(r.passed for r in results if r.negative_control)
    lines.append(f"{len(results) - len(failed)} of {len(results)} checks passed "
                 f"({n_caught} of {n_neg} negative controls caught), {len(failed)} failed")
    if failed:
        lines.append("")
        lines.append(format_table(failed, title="failed rows:", width=width))
    return "\n".join(lines)


def write_json(results: Sequence[CheckResult], path, *, extra: Mapping | None = None) -> None:
    """Write the rows (and a summary) as JSON to ``path``, atomically.

    ``extra`` entries (e.g. timings) are added to the top-level object.
    """
    payload = {
        "passed": all_passed(results),
        "n_checks": len(results),
        "n_failed": sum(not r.passed for r in results),
        "results": [r.to_dict() for r in results],
        **dict(extra or {}),
    }
    _io.write_json(path, payload)


def claims_markdown(results: Sequence[CheckResult]) -> str:
    """Markdown table with one line per claim: rows checked, negative controls, verdict."""
    lines = ["| claim | checks | of which negative controls | failed | verdict |",
             "|---|---|---|---|---|"]
    for claim, n, neg, _caught, n_fail, verdict in _summary(results):
        lines.append(f"| {claim} | {n} | {neg} | {n_fail} | {verdict} |")
    return "\n".join(lines)


def rows_markdown(results: Sequence[CheckResult]) -> str:
    """Markdown table of every row with its full setting text and note."""

    def esc(t: str) -> str:
        return t.replace("|", "\\|").replace("\n", " ")

    lines = ["| claim | part | setting | measured | needs | verdict | note |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {esc(r.claim)} | {esc(r.part)} | {esc(r.setting)} | {_fmt(r.measured)} "
                     f"| {esc(_needs(r))} | {verdict_text(r)} | {esc(r.note)} |")
    return "\n".join(lines)
