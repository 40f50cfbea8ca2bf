"""The teaching notebooks: stripped, every exercise with a hidden solution, executed top to
bottom in quick mode (nbclient, kernel python3), and every exercise's stated result
checked on the values its solution cell computes.

Each notebook's hidden solution cells store their results in a dict ``SOLUTIONS``
(``"ex1"``, ``"ex2"``, …); the test appends one cell that prints it as JSON and checks
what the solution's text states. Each notebook is executed once per session (cached) and
shared by the tests below. Figures are rendered by the inline backend, so a test can see
that a notebook draws the figure its text describes.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]
HIDE_TAGS = {"solution", "hide-cell", "remove-output"}  # myst-nb: collapsed, no output
EPS = np.finfo(float).eps


def _exercises(nb) -> int:
    """Number of exercises: the numbered items of the '## Exercises' cell."""
    cell = next(c for c in nb.cells if c.cell_type == "markdown"
                and c.source.startswith("## Exercises"))
    return len(re.findall(r"^\d+\. ", cell.source, flags=re.M))


def _solution_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"
            and "solution" in c.metadata.get("tags", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_stripped_and_solutions_hidden(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, path
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "QUICK" in params[0].source, path
    n_ex = _exercises(nb)
    assert n_ex >= 1
    sols = _solution_cells(nb)
    stored = {k for c in sols for k in re.findall(r'SOLUTIONS\["(ex\d+)"\]', c.source)}
    # every exercise stores a result the tests check, from a hidden solution cell
    assert stored == {f"ex{k}" for k in range(1, n_ex + 1)}, (path.name, stored)
    for c in sols:
        assert HIDE_TAGS <= set(c.metadata["tags"]), (path.name, c.metadata)
        assert c.metadata.get("jupyter", {}).get("source_hidden") is True
        assert c.metadata["jupyter"].get("outputs_hidden") is True
    # each exercise has its explanation collapsed in a <details> block
    details = " ".join(c.source for c in nb.cells if c.cell_type == "markdown"
                       and c.source.startswith("<details><summary>Solution to exercise"))
    for k in range(1, n_ex + 1):
        assert re.search(rf"Solution to exercise [\d and]*\b{k}\b", details), (path.name, k)
    # solutions come after the exercises, and nothing but solutions follows them
    first = next(i for i, c in enumerate(nb.cells) if c.source.startswith("## Exercises"))
    assert all(i > first for i, c in enumerate(nb.cells) if c in sols)


@functools.cache
def _scratch() -> str:
    d = tempfile.mkdtemp(prefix="rkbs-notebooks-")
    atexit.register(shutil.rmtree, d, ignore_errors=True)
    return d


@functools.cache
def _executed(path: Path):
    """Execute the notebook in quick mode once; return it and its SOLUTIONS dict."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            cell.source = "QUICK = True\n%matplotlib inline"
    nb.cells.append(nbformat.v4.new_code_cell(
        "import json as _json\nprint(_json.dumps(SOLUTIONS))"))
    env_backup = os.environ.pop("MPLBACKEND", None)
    try:
        client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                         resources={"metadata": {"path": _scratch()}})
        client.execute()
    finally:
        if env_backup is not None:
            os.environ["MPLBACKEND"] = env_backup
    out = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("name") == "stdout")
    return nb, json.loads(out.strip().splitlines()[-1])


def _stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream")


def _images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
               for o in c.get("outputs", []))


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_executes(path):
    nb, _ = _executed(path)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    assert _images(nb) >= 1, f"{path.name} draws no figure"


# ------------------------------------------------------------ the exercises' stated results
def check_01(sol, nb):
    e1 = sol["ex1"]
    assert e1["shape"][0] != e1["shape"][1]  # not a square matrix
    # κ(x, y) = κ(y, x) for tied maps: the two evaluations round differently, a few ulps
    # of the dot product inside exp (values O(1)): well below 1e-13 relative
    assert e1["swap_tied"] <= 1e-13
    assert e1["swap_untied"] > 0.1  # untied: wrong by order 1
    e2 = sol["ex2"]
    assert e2["rank"] == e2["d"]  # K = X B Xᵀ through d dimensions, generic B of full rank
    assert e2["asymmetry"] > 0.1
    # Sylvester's law of inertia: as many negative eigenvalues as (B + Bᵀ)/2 has
    assert e2["n_negative"] == e2["n_negative_B"] > 0


def check_02(sol, nb):
    # ‖ι(w)‖_q* = 1: a norm of a D-vector, D round-offs of relative size eps
    assert sol["ex1"]["max_deviation"] <= 1e3 * EPS
    e2 = sol["ex2"]
    # ‖Φᵀc‖² against cᵀ(ΦΦᵀ)c: the same sums in another order (round-off, 1e-12 relative)
    assert e2["gap_feature_gram"] <= 1e-12 * e2["norm_sq"]
    # against the exact kernel: within the Taylor remainder bound Σ|c_i||c_j|R_ij
    assert e2["gap_exact_kernel"] <= e2["remainder_bound"]


def check_03(sol, nb):
    e1 = sol["ex1"]
    # p = 2: w* in the span, within the certificate's own (solver-derived) span tolerance
    assert e1["res_w_p2"] <= e1["span_tolerance_p2"]
    # p = 3: w* misses the span by order 0.1 while ι(w*) is in it (the certificate's rule)
    assert e1["res_w_p3"] > 0.05
    assert e1["res_iota_p3"] <= 1e-8
    e2 = sol["ex2"]
    assert e2["status"] == "vacuous" and e2["rank"] == e2["D"]
    # the control rows read as what they are (wording of rkbs.verify.report)
    cell = next(c for c in nb.cells if c.cell_type == "code"
                and "if r.negative_control]" in c.source and "format_table" in c.source)
    text = _stdout(cell)
    assert "control caught ✓" in text, text


def check_04(sol, nb):
    (m_iid, se_iid), (m_orth, se_orth) = sol["ex1"]["iid"], sol["ex1"]["orthogonal"]
    # orthogonal is lower beyond Monte Carlo error: 2 standard errors of the difference
    assert m_iid - m_orth > 2 * np.hypot(se_iid, se_orth)
    e2 = sol["ex2"]
    # exact on the landmarks: round-off amplified by cond(K_LL) through the pseudo-inverse
    assert e2["err"] <= 100 * EPS * e2["cond"] * e2["scale"]


def check_05(sol, nb):
    sv = np.array(sol["ex1"]["singular_values"])
    # rank 2: the nuclear fit (solver tolerance 1e-6) leaves the other singular values at
    # the solver's accuracy, far below 1e-4 of the largest
    assert np.sum(sv > 1e-4 * sv[0]) == 2
    kl = sol["ex2"]["kl"]
    assert sol["ex3"] == sol["ex2"]
    # held-out KL grows with the Taylor degree toward the exact EDP machine
    assert kl["taylor1"] < kl["taylor2"] < kl["taylor4"] < kl["exact EDP"]


def check_06(sol, nb):
    e1 = sol["ex1"]
    assert e1["err"] >= e1["bound"]  # no rank-1 model beats Eckart–Young (exact inequality)
    e = sol["ex2"]["sup_error"]
    assert e["trained, m=4"] < e["frozen, m=4"]  # trained hidden layers help at small width
    # at large width the two coincide (L-BFGS starts from the frozen fit): within 2x
    assert 0.5 <= e["trained, m=64"] / e["frozen, m=64"] <= 1.0 + 1e-9


CHECKS = {"01": check_01, "02": check_02, "03": check_03, "04": check_04, "05": check_05,
          "06": check_06}


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_exercise_results(path):
    check = CHECKS.get(path.stem[:2])
    assert check is not None, f"no check of the exercises of {path.name}"
    nb, solutions = _executed(path)
    check(solutions, nb)


def test_checks_fail_on_wrong_results():
    # negative control: the p = 4 machine's w* (the notebook's old mistake) fails check_03
    wrong = {"ex1": {"res_w_p2": 0.32, "res_w_p3": 0.23, "res_iota_p3": 1e-14,
                     "span_tolerance_p2": 3e-9},
             "ex2": {"status": "certified", "rank": 5, "D": 5}}
    with pytest.raises(AssertionError):
        check_03(wrong, nbformat.v4.new_notebook())
    with pytest.raises(AssertionError):  # a rank-3 nuclear fit is not the planted rank 2
        check_05({"ex1": {"singular_values": [2.0, 1.0, 0.5]}, "ex2": {}, "ex3": {}}, None)
