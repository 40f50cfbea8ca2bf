"""Replace citations of the design notes MATH.md / SOLVERS.md by the theory page's sections.

Those two files were never part of the repository; the mathematics they held is on the
documentation's theory page (``docs/theory.md``), numbered §1–§7 the same way (§7 holds
the solver notes). This rewrites, in place, only the lines that cite them, in ``rkbs/``,
``proofs_numeric/``, ``paper_figures/``, ``notebooks/``, ``benchmarks/`` and ``tests/``,
so it can be rerun after merges::

    python docs/tools/replace_spec_citations.py          # rewrite, list what changed
    python docs/tools/replace_spec_citations.py --check  # exit 1 if a citation is left

Rules, applied in order to each citing line (the replacements contain no quote,
apostrophe or backslash, so string literals and notebook JSON stay valid):

==========================================  ==========================================
``MATH.md §2, "Exact Taylor features ..."``  ``theory §2.1``
``MATH.md §2, "The RKBS pair"``              ``theory §2.3``
``MATH.md §2, "Duality maps"``               ``theory §2.4``
``Claim N of MATH.md``                       ``Paper claim N (see the theory page)``
``MATH.md top list item N``                  ``paper claim N``
``MATH.md top list``                         ``the claims list of the theory page``
``MATH.md's``                                ``The often-quoted``
``MATH.md §``                                ``theory §``
``SOLVERS.md's`` / ``SOLVERS.md``            ``theory §7:`` / ``theory §7``
==========================================  ==========================================
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("rkbs", "proofs_numeric", "paper_figures", "notebooks", "benchmarks", "tests")
SUFFIXES = {".py", ".ipynb", ".md", ".txt"}
CITATION = re.compile(r"MATH\.md|SOLVERS\.md")

RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r'MATH\.md §2, "The RKBS pair" and "Duality maps"'), "theory §2.3 and §2.4"),
    (re.compile(r'MATH\.md §2, "Exact Taylor features of EDP"'), "theory §2.1"),
    (re.compile(r'MATH\.md §2, "The RKBS pair"'), "theory §2.3"),
    (re.compile(r'MATH\.md §2, "Duality maps"'), "theory §2.4"),
    (re.compile(r'MATH\.md §3, "pair-operator model"'), "theory §3, the pair-operator model"),
    (re.compile(r"\bClaim ([0-9–-]+) of MATH\.md"), r"Paper claim \1 (see the theory page)"),
    (re.compile(r"MATH\.md top list item (\d+), §"), r"paper claim \1, theory §"),
    (re.compile(r"MATH\.md top list item (\d+)"), r"paper claim \1"),
    (re.compile(r"MATH\.md top list"), "the claims list of the theory page"),
    (re.compile(r"MATH\.md's "), "The often-quoted "),
    (re.compile(r"MATH\.md §"), "theory §"),
    (re.compile(r"SOLVERS\.md's"), "theory §7:"),
    (re.compile(r"SOLVERS\.md"), "theory §7"),
    (re.compile(r"\(MATH\.md\)"), "(theory page)"),
    (re.compile(r"MATH\.md"), "the theory page"),
]


def rewrite_line(line: str) -> str:
    """One line with every citation replaced (lines without one come back unchanged)."""
    if not CITATION.search(line):
        return line
    for pattern, repl in RULES:
        line = pattern.sub(repl, line)
    return line


def files(root: Path = ROOT) -> list[Path]:
    out = []
    for folder in FOLDERS:
        base = root / folder
        if base.is_dir():
            out += [p for p in sorted(base.rglob("*")) if p.suffix in SUFFIXES and p.is_file()
                    and ".ipynb_checkpoints" not in p.parts and "__pycache__" not in p.parts]
    return out


def citations(root: Path = ROOT) -> list[tuple[Path, int, str]]:
    """(file, line number, line) of every remaining citation."""
    hits = []
    for path in files(root):
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if CITATION.search(line):
                hits.append((path, i, line))
    return hits


def rewrite(root: Path = ROOT) -> int:
    """Rewrite every file under ``root``'s folders in place; return the lines changed."""
    changed = 0
    for path in files(root):
        text = path.read_text(encoding="utf-8")
        if not CITATION.search(text):
            continue
        lines = text.splitlines(keepends=True)
        new = [rewrite_line(ln) for ln in lines]
        n = sum(a != b for a, b in zip(lines, new, strict=True))
        if n:
            path.write_text("".join(new), encoding="utf-8")
            print(f"{path.relative_to(root)}: {n} line(s)")
            changed += n
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="only report; exit 1 if any")
    args = parser.parse_args(argv)
    if args.check:
        hits = citations()
        for path, i, line in hits:
            print(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
        return 1 if hits else 0
    print(f"{rewrite()} line(s) rewritten")
    left = citations()
    for path, i, line in left:
        print(f"left: {path.relative_to(ROOT)}:{i}: {line.strip()}", file=sys.stderr)
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
