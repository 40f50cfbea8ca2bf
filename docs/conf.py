"""Sphinx configuration of the rkbs documentation (``make docs``).

Build: ``make docs`` (warnings are errors: ``sphinx-build -W --keep-going``), output in
``docs/_build/html``. Two things are generated on every build and are not in git:

* ``docs/api/*.rst``: the API reference, from the package's ``__all__`` lists
  (``docs/tools/gen_api.py``);
* ``docs/notebooks/*.ipynb``: copies of the teaching notebooks of ``notebooks/`` with the
  ``parameters`` cell set to quick mode; myst-nb executes them (offline, with a timeout).

Set ``RKBS_DOCS_NB=off`` to skip notebook execution (pages then show the code only).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "tools"))

import gen_api  # noqa: E402
import prepare_notebooks  # noqa: E402

import rkbs  # noqa: E402

project = "rkbs"
author = "the rkbs developers"
copyright = "2026, the rkbs developers"  # noqa: A001
release = version = rkbs.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_nb",
    "sphinx_copybutton",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "tools", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
root_doc = "index"

# --- generated inputs ---------------------------------------------------------------------
gen_api.write()
prepare_notebooks.write()

# --- autodoc / autosummary / numpydoc -------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "inherited-members": False, "show-inheritance": True}
autodoc_typehints = "none"          # numpydoc's Parameters sections carry the types
autodoc_member_order = "bysource"
autoclass_content = "class"
# numpydoc: document what the docstrings have; do not demand sections that do not exist.
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set[str] = set()
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True

# --- MyST / myst-nb -------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
# Heading-level jumps (H1 -> H3) in notebook markdown are style, not errors of the build.
suppress_warnings = ["myst.header"]
nb_execution_mode = "off" if os.environ.get("RKBS_DOCS_NB") == "off" else "force"
nb_execution_timeout = 300           # seconds per notebook (quick mode runs in ~10 s each)
nb_execution_raise_on_error = True   # a failing notebook fails the build
nb_execution_in_temp = True          # notebooks may write files: keep them out of the tree
nb_merge_streams = True
nb_kernel_rgx_aliases = {".*": "python3"}

# --- HTML -------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = "rkbs"
html_theme_options = {
    "navigation_depth": 2,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path: list[str] = []
html_show_sourcelink = False


# --- "theory §N" in docstrings links to the theory page ----------------------------------
_THEORY_LABELS = {m.replace("-", ".") for m in re.findall(
    r"^\(theory-([0-9-]+)\)=", (DOCS / "theory.md").read_text(encoding="utf-8"), re.M)}


def _link_theory_citations(app, what, name, obj, options, lines):
    """Turn plain ``theory §N`` (N a labelled section) into a link to that section."""
    pattern = re.compile(r"(?<![`<\w:])theory §(\d+(?:\.\d+)?)")

    def repl(m):
        sec = m.group(1)
        if sec not in _THEORY_LABELS:
            return m.group(0)
        return f":ref:`theory §{sec} <theory-{sec.replace('.', '-')}>`"

    for i, line in enumerate(lines):
        if "theory §" in line and "``" not in line and ":math:" not in line:
            lines[i] = pattern.sub(repl, line)


def setup(app):
    app.connect("autodoc-process-docstring", _link_theory_citations, priority=600)
