"""Every paper figure passes the layout check in quick mode, and the check catches defects.

:func:`rkbs.plotting.figure_problems` measures the figure with the renderer (window
extents of text, legends and data marks at the PNG's resolution): no text outside the
canvas, no overlapping tick labels, no legend over data or over other text, and the layout
it measures is the one the PNG was saved with. The figures come from the same quick runs
as tests/test_figures.py (tests/figure_runs.py runs each once per session). The negative
controls build figures with one deliberate defect each and require the check to name it,
and the clean control requires it to pass a figure without one.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from figure_runs import quick_run  # noqa: E402

import paper_figures  # noqa: E402
from rkbs.plotting import (  # noqa: E402
    figure_problems,
    new_figure,
    readable_log_axis,
    recording,
    save_figure,
    style,
)


@pytest.mark.parametrize("name", paper_figures.FIGURES)
def test_figure_layout(name):
    run = quick_run(name)
    assert run.figures, f"{name} saved no figure through rkbs.plotting.save_figure"
    for fig_name, fig, layout in run.figures:
        problems = figure_problems(fig, layout=layout)
        assert not problems, f"{fig_name}:\n  " + "\n  ".join(problems)


# ------------------------------------------------------------------ controls
def _clean():
    with style():
        fig, axes = new_figure(1, width=4.0, height=3.0)
        ax = axes[0, 0]
        x = np.arange(1, 11)
        ax.plot(x, 10 * x, "o-", label="y = 10x")  # the diagonal: through the centre
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_title("a clean figure")
        ax.legend(loc="upper left")  # the line rises to the right: upper left is free
    return fig, ax


def test_clean_figure_passes():
    fig, _ = _clean()
    assert figure_problems(fig) == []


def test_catches_text_outside_canvas():
    fig, ax = _clean()
    fig.text(0.9, 0.5, "sticks out of the canvas")  # figure text: the layout ignores it
    problems = figure_problems(fig)
    assert any("outside the canvas" in p and "sticks out" in p for p in problems), problems


def test_catches_cut_axis_label():
    # the defect of the old kernel_variants.png: a y label longer than the axes is tall
    fig, ax = _clean()
    ax.set_ylabel("a y label far too long for an axes of this height, cut at both ends")
    problems = figure_problems(fig)
    assert any("outside the canvas" in p and "far too long" in p for p in problems), problems


def test_catches_overlapping_tick_labels():
    # the defect of the old log axes: labelled minor ticks on an axis spanning < 1 decade
    with style():
        fig, axes = new_figure(1, width=3.0, height=2.5)
        ax = axes[0, 0]
        ax.loglog([16, 153], [1e-3, 1e-2], "o-")
        ax.set_xlim(15, 160)
    problems = figure_problems(fig)
    assert any("x tick labels" in p and "overlap" in p for p in problems), problems
    # ... and the remedy removes them
    readable_log_axis(ax.xaxis)
    assert not [p for p in figure_problems(fig) if "tick labels" in p]


def test_rotated_tick_labels_are_not_false_alarms():
    # axis-aligned extents of 45° labels overlap although the labels do not touch
    with style():
        fig, axes = new_figure(1, width=4.0, height=3.0)
        ax = axes[0, 0]
        names = ["exp_intersection", "rbf", "poly2", "taylor4", "taylor6", "prf256"]
        ax.bar(range(6), np.linspace(0.2, 0.7, 6))
        ax.set_xticks(range(6), names, rotation=45, ha="right")
    assert figure_problems(fig) == []
    ax.set_xticks(range(6), [n + "_long" for n in names], rotation=0)  # now they touch
    assert any("x tick labels" in p for p in figure_problems(fig))


def test_catches_legend_over_data():
    # the defect of the old random_feature_errors.png: the legend over the curves
    fig, ax = _clean()
    ax.get_legend().remove()
    ax.legend(loc="center")  # where the line passes
    problems = figure_problems(fig)
    assert any("legend covers" in p and "y = 10x" in p for p in problems), problems


def test_catches_legend_over_scatter_and_bars():
    with style():
        fig, axes = new_figure(2, width=3.0, height=2.6)
        ax, bx = axes[0]
        ax.scatter([0.5], [0.5], label="one point")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(loc="center")
        bx.bar([0, 1, 2], [1.0, 1.0, 1.0], label="bars")
        bx.legend(loc="upper center")
    problems = figure_problems(fig)
    assert any("one point" in p for p in problems), problems
    assert any("bars" in p for p in problems), problems


def test_catches_legend_over_text():
    fig, ax = _clean()
    ax.get_legend().remove()
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.02))  # onto the x tick labels
    problems = figure_problems(fig)
    assert any("legend covers the text" in p for p in problems), problems


def test_catches_unsettled_layout(tmp_path):
    fig, ax = _clean()
    with recording() as saved:
        save_figure(fig, tmp_path, "clean")
    (_, same, layout), = saved
    assert same is fig and figure_problems(fig, layout=layout) == []
    moved = layout.copy()
    moved[0, 1] += 0.05  # as if the axes had moved after the PNG was written
    problems = figure_problems(fig, layout=moved)
    assert any("layout moved" in p for p in problems), problems


def test_signed_eigenvalue_panel_shows_the_negative_eigenvalues():
    import rkbs
    from rkbs.plotting import plot_signed_eigenvalues

    rng = np.random.default_rng(0)
    W_Q, W_K = rng.normal(size=(2, 4, 4)) / 2.0
    X = rng.normal(size=(30, 4))
    reps = {"tied": rkbs.mercer_report(rkbs.EDPKernel(W_Q, W_Q), X),
            "untied": rkbs.mercer_report(rkbs.EDPKernel(W_Q, W_K), X)}
    with style():
        fig, axes = new_figure(1)
        ax = plot_signed_eigenvalues(reps, ax=axes[0, 0])
    lines = {ln.get_label(): ln for ln in ax.get_lines() if not ln.get_label().startswith("_")}
    for name, rep in reps.items():
        y = np.asarray(lines[name].get_ydata(), float)
        # the plotted values are the eigenvalues themselves, largest first (not magnitudes)
        np.testing.assert_array_equal(y, np.sort(rep.eigenvalues)[::-1])
        assert int(np.sum(y < -rep.rank_tol)) == rep.n_negative
    assert reps["tied"].n_negative == 0 < reps["untied"].n_negative
    assert ax.get_yscale() == "symlog"
    assert figure_problems(fig) == []
