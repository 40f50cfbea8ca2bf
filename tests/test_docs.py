"""The documentation site: complete API reference, every page reachable, theory numbering.

The fast tests read the sources (no Sphinx needed). The slow test runs the real build,
``sphinx-build -W --keep-going`` (warnings are errors, as in ``make docs``), with the
teaching notebooks executed in quick mode; about 2 minutes on the 2-core machine.
"""

from __future__ import annotations

import doctest
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "tools"))

import gen_api  # noqa: E402
import prepare_notebooks  # noqa: E402
import replace_spec_citations  # noqa: E402


def _toctree_entries(page: Path) -> list[tuple[list[str], bool]]:
    """(entries, glob) of each ``{toctree}`` fence in a MyST page."""
    out = []
    for body in re.findall(r"```\{toctree\}\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
        lines = body.splitlines()
        glob = any(ln.strip() == ":glob:" for ln in lines)
        entries = [ln.strip() for ln in lines if ln.strip() and not ln.startswith(":")]
        out.append((entries, glob))
    return out


def _pages(docs: Path) -> dict[str, Path]:
    return {p.relative_to(docs).with_suffix("").as_posix(): p for p in docs.rglob("*.md")
            if "_build" not in p.parts and "notebooks" not in p.parts}


def _reachable(docs: Path = DOCS) -> set[str]:
    """Doc names reachable from index through the hand-written toctrees (globs expanded)."""
    pages = _pages(docs)
    seen, todo = {"index"}, ["index"]
    while todo:
        doc = todo.pop()
        base = doc.rsplit("/", 1)[0] + "/" if "/" in doc else ""
        for entries, glob in _toctree_entries(pages[doc]):
            for entry in entries:
                if glob and "*" in entry:
                    pat = re.compile(re.escape(base + entry).replace(r"\*", "[^/]*") + "$")
                    hits = [d for d in pages if pat.match(d) and d != doc]
                else:
                    hits = [base + entry]
                for hit in hits:
                    if hit in pages and hit not in seen:
                        seen.add(hit)
                        todo.append(hit)
                    elif hit not in pages:
                        seen.add(hit)  # generated (api/index) or notebook pages
    return seen


def test_every_page_is_in_a_toctree():
    pages = set(_pages(DOCS))
    reachable = _reachable()
    assert pages - reachable == set(), "pages no toctree reaches"
    assert "api/index" in reachable and "notebooks" in reachable


def test_reachability_check_catches_an_orphan(tmp_path):
    # negative control: in a copy of the pages, one in a subfolder no toctree names is
    # unreachable, while a new top-level page is picked up by index.md's glob
    for path in _pages(DOCS).values():
        dest = tmp_path / path.relative_to(DOCS)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "reference" / "orphan.md").write_text("# orphan\n", encoding="utf-8")
    (tmp_path / "extending.md").write_text("# extending\n", encoding="utf-8")
    reachable = _reachable(tmp_path)
    assert "reference/orphan" not in reachable
    assert "extending" in reachable


def test_api_reference_lists_every_public_object():
    import rkbs

    pages = gen_api.render()
    listed = set()
    for text in pages.values():
        current = re.findall(r"\.\. currentmodule:: (\S+)", text)
        mod = current[0] if current else ""
        for block in re.findall(r"\.\. autosummary::\n(?:   :.*\n)*\n((?:   \S.*\n)+)", text):
            listed |= {f"{mod}.{ln.strip()}" for ln in block.splitlines()}
        listed |= {f"{mod}.{n}" for n in re.findall(r"\.\. autodata:: (\S+)", text)}
        listed |= {f"{mod}.{n}" for n in re.findall(r"^\* ``(\w+)``: :py:obj:", text, re.M)}
    expected = {f"rkbs.{n}" for n in rkbs.__all__}
    for modname in gen_api._on_demand_modules():
        mod = importlib.import_module(modname)
        expected |= {f"{modname}.{n}" for n in getattr(mod, "__all__", [])}
    assert len(expected) > 100
    assert expected - listed == set()
    assert "rkbs.attention.kernel_attention" in gen_api._on_demand_modules()
    # every documented object resolves (autosummary would fail on a stale name)
    for qual in listed:
        modname, name = qual.rsplit(".", 1)
        assert hasattr(importlib.import_module(modname), name), qual


def test_theory_sections_are_numbered_and_labelled():
    text = (DOCS / "theory.md").read_text(encoding="utf-8")
    numbers = [int(n) for n in re.findall(r"^## §(\d+) ", text, re.M)]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 7
    for n in numbers:
        assert f"(theory-{n})=\n## §{n} " in text, n


def test_gallery_shows_every_figure_script():
    text = (DOCS / "gallery.md").read_text(encoding="utf-8")
    scripts = sorted(p.stem[4:] for p in (ROOT / "paper_figures").glob("fig_*.py"))
    assert scripts
    for name in scripts:
        assert f"--only {name}" in text, name
    for img in re.findall(r"!\[[^\]]*\]\((img/[^)]+)\)", text):
        assert (DOCS / img).is_file(), img
    shown = set(re.findall(r"\]\(img/([^)]+)\)", text))
    assert {p.name for p in (DOCS / "img").glob("*.png")} <= shown


def test_notebook_copies_run_in_quick_mode(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    sources = sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in sources:
        nb = prepare_notebooks.quick_copy(path)
        params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert params[0].source.startswith("QUICK = True"), path.name
    # negative control: a notebook without a parameters cell is refused, not built slowly
    bare = tmp_path / "bare.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("QUICK = False")])
    nbformat.write(nb, bare)
    with pytest.raises(ValueError, match="parameters"):
        prepare_notebooks.quick_copy(bare)


def test_no_citations_of_files_outside_the_repository():
    # the two design notes were never in the repository: the theory page (theory §N) is
    # what docstrings cite. Fix: python docs/tools/replace_spec_citations.py
    hits = [f"{p.relative_to(ROOT)}:{i}" for p, i, _ in replace_spec_citations.citations()]
    assert hits == []


def test_citation_rewrite_is_mechanical_and_complete(tmp_path):
    # negative control and rules: a tree with citations is found, rewritten without
    # quotes, and clean afterwards; lines without a citation are untouched
    src = tmp_path / "rkbs" / "mod.py"
    src.parent.mkdir()
    math, solvers = "MATH" + ".md", "SOLVERS" + ".md"  # spelled apart: this file is scanned
    text = (f'r"""Doc ({math} §4) and ({solvers}: 1e-10).\n\n'
            f'Claim 3 of {math}: x. {math} §2, "Duality maps". untouched |w| line\n"""\n')
    src.write_text(text, encoding="utf-8")
    assert len(replace_spec_citations.citations(tmp_path)) == 2
    assert replace_spec_citations.rewrite(tmp_path) == 2
    new = src.read_text(encoding="utf-8")
    assert replace_spec_citations.citations(tmp_path) == []
    assert "(theory §4)" in new and "(theory §7: 1e-10)" in new and "theory §2.4." in new
    assert "Paper claim 3 (see the theory page)" in new and "untouched |w| line" in new
    assert new.count('"') == text.count('"') - 2  # only the quotes of "Duality maps" went


def _modules_with_examples() -> list[str]:
    return sorted(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                  for p in (ROOT / "rkbs").rglob("*.py") if ">>> " in p.read_text(encoding="utf-8"))


@pytest.mark.parametrize("modname", _modules_with_examples())
def test_docstring_examples_run(modname):
    # the Examples sections the API reference shows are doctests, run as written
    mod = importlib.import_module(modname)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False)
    assert result.attempted > 0
    assert result.failed == 0


def test_doctest_runner_catches_a_wrong_example():
    # negative control: the same runner fails on an example whose output is wrong
    def bad():
        """
        >>> 1 + 1
        3
        """

    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(verbose=False)
    for test in finder.find(bad, "bad", globs={}):
        runner.run(test, out=lambda _s: None)
    assert runner.summarize(verbose=False).failed == 1


@pytest.mark.slow
def test_sphinx_build_has_no_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_nb")
    pytest.importorskip("numpydoc")
    pytest.importorskip("pydata_sphinx_theme")
    out = tmp_path / "html"
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(out)],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert (out / "theory.html").is_file() and (out / "api" / "index.html").is_file()
    # the notebooks were executed: their pages carry cell outputs
    executed = [p for p in (out / "notebooks").glob("*.html")
                if "cell_output" in p.read_text(encoding="utf-8")]
    assert len(executed) == len(list((ROOT / "notebooks").glob("*.ipynb")))
