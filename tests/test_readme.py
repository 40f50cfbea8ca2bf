"""The Python examples of the README and of the tutorial page run as written.

Blocks of one ``##`` section continue each other (later blocks use names defined by
earlier ones), so each section's blocks are executed in order in one namespace, in a
temporary working directory (some examples save figures under ``docs/img``).
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TUTORIAL = ROOT / "docs" / "tutorial.md"


def _blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def _sections(path: Path):
    out = []
    for sec in re.split(r"\n(?=## )", path.read_text(encoding="utf-8")):
        blocks = _blocks(sec)
        if blocks:
            title = sec.splitlines()[0].lstrip("# ")[:40]
            out.append(pytest.param(path, blocks, id=f"{path.stem}: {title}"))
    return out


def test_readme_is_short_and_has_examples():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 200
    assert 5 <= len(_blocks(text)) <= 8
    for target in ("make verify", "make test"):
        assert target in text


def test_tutorial_has_examples():
    assert len(_sections(TUTORIAL)) >= 5


def test_readme_links_resolve():
    # every relative link of the README points at a file of the repository
    text = README.read_text(encoding="utf-8")
    links = [m.split("#")[0] for m in re.findall(r"\]\(([^)]+)\)", text)
             if not m.startswith(("http://", "https://", "#"))]
    assert links
    missing = [link for link in links if not (ROOT / link).exists()]
    assert missing == []


@pytest.mark.parametrize("path, blocks", [*_sections(README), *_sections(TUTORIAL)])
def test_section_runs(path, blocks, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs" / "img").mkdir(parents=True)
    namespace: dict = {"__name__": "__readme__"}
    for code in blocks:
        exec(compile(code, str(path), "exec"), namespace)  # noqa: S102
    import matplotlib.pyplot as plt

    plt.close("all")
