"""The README's Python examples run as written.

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

README = Path(__file__).resolve().parent.parent / "README.md"


def _sections():
    text = README.read_text(encoding="utf-8")
    out = []
    for sec in re.split(r"\n(?=## )", text):
        blocks = re.findall(r"```python\n(.*?)```", sec, re.S)
        if blocks:
            out.append(pytest.param(blocks, id=sec.splitlines()[0].lstrip("# ")[:40]))
    return out


def test_readme_has_examples():
    assert len(_sections()) >= 5


@pytest.mark.parametrize("blocks", _sections())
def test_readme_section_runs(blocks, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs" / "img").mkdir(parents=True)
    namespace: dict = {"__name__": "__readme__"}
    for code in blocks:
        exec(compile(code, str(README), "exec"), namespace)  # noqa: S102
    import matplotlib.pyplot as plt

    plt.close("all")
