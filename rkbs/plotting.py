r"""All plotting of rkbs: palette, figure style, every plot helper and the figure check.

Everything that draws lives here; the modules that compute (diagnostics, features,
machines, the attention experiment) keep only aliases to the helpers below, and the paper
figures (``paper_figures/fig_*.py``) compute their numbers and call these functions.
matplotlib is imported inside the functions, so ``import rkbs`` does not load it.

Conventions
-----------
* Colours: the Okabe–Ito palette (Okabe & Ito, "Color Universal Design", 2008) without
  its yellow (#F0E442), which is unreadable on white paper; black closes the cycle.
  Series differ by marker as well, for greyscale print.
* Figures are :class:`matplotlib.figure.Figure` objects built without pyplot (no global
  state, no windows) when a helper creates them inside :func:`style`.
* Log axes label their major ticks only (:func:`readable_log_axis`): matplotlib's
  default labels minor ticks on axes spanning less than a decade, and those labels run
  into each other ("3×10¹4×10¹").
* Formulas are mathtext (``$...$``).

The figure check
----------------
:func:`figure_problems` draws a figure with the Agg renderer and reports, from the
renderer extents of its artists (:meth:`~matplotlib.artist.Artist.get_window_extent`):

* text (titles, labels, tick labels, legend entries, annotations) outside the canvas;
* tick labels of one axis overlapping each other;
* a legend drawn over data: a marker, a vertex or a sampled point of a data line, an
  error bar or a bar that lies inside the legend's box; or over other text.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from rkbs import _io

__all__ = [
    "OKABE_ITO",
    "MARKERS",
    "style",
    "new_figure",
    "save_figure",
    "recording",
    "smoke_note",
    "readable_log_axis",
    "plot_spectrum",
    "plot_signed_eigenvalues",
    "plot_rank_growth",
    "plot_error_curves",
    "plot_predicted_vs_measured",
    "plot_coefficients",
    "plot_head_comparison",
    "plot_kernel_variants",
    "plot_head_vs_machine",
    "plot_certificate_ratios",
    "plot_universal_approximation",
    "figure_problems",
]

#: blue, vermillion, bluish green, reddish purple, orange, sky blue, black.
OKABE_ITO: tuple[str, ...] = (
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
)

#: Markers that tell series apart in greyscale print.
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X")

_RC = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 7.5,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "pdf.fonttype": 42,
}

_RECORDERS: list[list] = []


def style():
    """Context manager with the figures' rc settings; wrap all plotting in it."""
    import matplotlib

    return matplotlib.rc_context(_RC)


def new_figure(ncols: int = 1, nrows: int = 1, *, width: float = 3.4, height: float = 2.8,
               **kw):
    """A :class:`~matplotlib.figure.Figure` with ``nrows x ncols`` axes (inches per panel).

    Constrained layout; no pyplot. Call inside :func:`style` so fonts and grids follow
    the figures' settings. ``kw`` goes to :meth:`~matplotlib.figure.Figure.subplots`.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : ndarray of Axes, shape (nrows, ncols)
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _ensure_figure(ax, figsize):
    """``ax`` itself, or the Axes of a new pyplot figure (so ``plt.show()`` shows it in a
    notebook or a session; the paper figures always pass their own, pyplot-free, axes)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


@contextlib.contextmanager
def recording() -> Iterator[list]:
    """Collect what :func:`save_figure` writes in the block: ``(name, figure, layout)``.

    ``layout`` holds the axes boxes (figure fractions, shape (n_axes, 4)) as the PNG was
    drawn, so a check that draws the figure again can confirm it sees the saved layout
    (:func:`figure_problems` with ``layout=``). Used by the figure check in the tests::

        with recording() as saved:
            paper_figures.run_all(out, quick=True)
        for name, fig, layout in saved:
            assert not figure_problems(fig, layout=layout)
    """
    saved: list = []
    _RECORDERS.append(saved)
    try:
        yield saved
    finally:
        _RECORDERS.remove(saved)


def save_figure(fig, out_dir, name: str) -> list[str]:
    """Write ``name.png`` (200 dpi) and ``name.pdf`` (vector) into ``out_dir``.

    No creation date or software stamp, so files are byte-stable for fixed seeds.

    Returns
    -------
    list of str
        The two paths.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    dpi = fig.dpi
    fig.set_dpi(SAVE_DPI)  # settle the layout at the PNG's resolution (text metrics vary)
    try:
        _settle_layout(fig)
    finally:
        fig.set_dpi(dpi)
    for ext, kw in (("png", {"dpi": SAVE_DPI}), ("pdf", {})):
        p = out / f"{name}.{ext}"
        meta = {"CreationDate": None} if ext == "pdf" else {"Software": None}
        with _io.atomic_write(p, "wb") as fh:  # never a half-written image
            fig.savefig(fh, format=ext, metadata=meta, **kw)
        paths.append(str(p))
        if ext == "png":
            layout = _axes_positions(fig)
    for saved in _RECORDERS:
        saved.append((name, fig, layout))
    return paths


def _settle_layout(fig, max_draws: int = 8, tol_pt: float = 0.25) -> None:
    """Draw until the constrained layout stops moving the axes (by < ``tol_pt`` points).

    Constrained layout places a legend anchored outside its axes only after the axes have
    moved, a fixed-point iteration that the first draw leaves unfinished (the legend is
    clipped); each further draw shrinks the remaining move by a constant factor.
    """
    size_pt = 72.0 * max(fig.get_size_inches())
    before = _axes_positions(fig)
    for _ in range(max_draws):
        fig.draw_without_rendering()
        now = _axes_positions(fig)
        if now.shape == before.shape and np.abs(now - before).max() * size_pt < tol_pt:
            return
        before = now


def _axes_positions(fig) -> np.ndarray:
    """Axes boxes in figure fractions, shape (n_axes, 4): the layout as drawn."""
    return np.array([ax.get_position().bounds for ax in fig.axes], float).reshape(-1, 4)


def smoke_note(ax, text: str = "smoke run (quick mode): sizes too small\n"
               "for the numbers to mean anything", *, y: float = 0.97) -> None:
    """Write on the canvas that a panel comes from a smoke run, not a measurement."""
    ax.text(0.5, y, text, transform=ax.transAxes, ha="center", va="top", fontsize=8,
            color=OKABE_ITO[1], fontweight="bold", zorder=5,
            bbox={"boxstyle": "round", "fc": "white", "ec": OKABE_ITO[1], "alpha": 0.9})


def _plain(v: float, _pos=None) -> str:
    """Tick label without exponent notation where it stays short (3, 20, 0.05, 1e-06)."""
    return f"{v:g}"


def readable_log_axis(axis, values: Sequence[float] | None = None, *,
                      max_labels: int = 7) -> None:
    """Label a log axis with non-overlapping major ticks and unlabelled minor ticks.

    With ``values`` (e.g. the sizes n or D that were run) the ticks are those values,
    thinned to at most ``max_labels``, labelled plainly (``5``, ``80``, ``2048``).
    Otherwise: decades (:math:`10^k`, every second or third decade on long axes) when the
    axis spans two decades or more, else 1-2-5 steps, labelled plainly. Call after the
    data and the limits are set.

    Parameters
    ----------
    axis : matplotlib.axis.XAxis or YAxis
    values : sequence of float, optional
    max_labels : int
    """
    from matplotlib.ticker import (
        FixedLocator,
        FuncFormatter,
        LogFormatterSciNotation,
        LogLocator,
        NullFormatter,
    )

    axis.set_minor_formatter(NullFormatter())
    if values is not None:
        vals = sorted({float(v) for v in values if v > 0 and math.isfinite(v)})
        step = max(1, math.ceil(len(vals) / max_labels))
        keep = vals[::step]
        if vals and keep[-1] != vals[-1]:
            keep[-1] = vals[-1]
        axis.set_major_locator(FixedLocator(keep))
        axis.set_major_formatter(FuncFormatter(_plain))
        return
    lo, hi = sorted(axis.get_view_interval())
    lo = max(lo, 1e-300)
    decades = math.log10(hi / lo)
    if decades >= 2:
        step = max(1, math.ceil(decades / max_labels))
        axis.set_major_locator(LogLocator(base=10.0 ** step, numticks=max_labels + 2))
        axis.set_major_formatter(LogFormatterSciNotation())
        # minor ticks at the decades in between (when thinned), unlabelled
        axis.set_minor_locator(LogLocator(base=10.0, subs=(1.0,) if step > 1 else "auto",
                                          numticks=100))
    else:
        axis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(_plain))


# ----------------------------------------------------------------- Mercer diagnostics
def plot_spectrum(report, ax=None, *, label: str | None = None, legend: bool = True):
    r"""Magnitude view of a Gram spectrum: singular values and eigenvalue magnitudes.

    Singular values :math:`\sigma_i(K)` (line), the eigenvalues :math:`\lambda_i > 0` of
    the symmetric part :math:`(K+K^\top)/2` (filled dots), the magnitudes
    :math:`|\lambda_i|` of its negative eigenvalues (large hollow triangles, so both stay
    visible where they lie on each other), all sorted by magnitude, on a log axis; the
    rank tolerance τ dashed. Whether K is indefinite is clearest in the signed view,
    :func:`plot_signed_eigenvalues`.

    Parameters
    ----------
    report : MercerReport
        From :func:`rkbs.mercer_report`.
    ax : matplotlib Axes, optional
        Drawn into a new figure if omitted.
    label : str, optional
        Prefix for the legend entries.
    legend : bool
        Draw the legend (below the axes, off the data).

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _ensure_figure(ax, (5, 3.5))
    pre = f"{label}: " if label else ""
    s = np.asarray(report.singular_values, float)
    idx = np.arange(1, s.size + 1)
    ax.semilogy(idx, np.where(s > 0, s, np.nan), "-", color=OKABE_ITO[0], lw=1.5,
                label=pre + r"singular values $\sigma_i(K)$")
    if report.eigenvalues is not None:
        lam = np.asarray(report.eigenvalues, float)
        lam = lam[np.argsort(-np.abs(lam))]
        pos, neg = lam > 0, lam < 0
        ax.semilogy(idx[pos], lam[pos], "o", ms=3, color=OKABE_ITO[2], ls="none",
                    label=pre + r"eigenvalues $\lambda_i > 0$ of $(K+K^\top)/2$")
        if np.any(neg):
            ax.semilogy(idx[neg], -lam[neg], "v", ms=6, mfc="none", mew=1.0, ls="none",
                        color=OKABE_ITO[1], label=pre + r"$|\lambda_i|$ of eigenvalues "
                        r"$\lambda_i < 0$")
    ax.axhline(report.rank_tol, ls="--", color="0.4", lw=1,
               label=r"rank tolerance $\tau$")
    ax.set_xlabel("index i (sorted by magnitude)")
    ax.set_ylabel("magnitude (kernel units)")
    readable_log_axis(ax.yaxis)
    if legend:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1, fontsize=7)
    return ax


def _symlog_ticks(linthresh: float, vmax: float, max_per_side: int = 3):
    """Decade ticks ±10^k of a symlog axis, at most ``max_per_side`` per sign, plus 0."""
    k0 = math.ceil(math.log10(linthresh))
    k1 = math.floor(math.log10(vmax))
    ks = list(range(k0, k1 + 1)) or [k1]
    step = max(1, math.ceil(len(ks) / max_per_side))
    ks = ks[::-1][::step][::-1]
    ticks = [-(10.0 ** k) for k in ks[::-1]] + [0.0] + [10.0 ** k for k in ks]
    return ticks


def _signed_decade(v: float, _pos=None) -> str:
    if v == 0:
        return "0"
    k = round(math.log10(abs(v)))
    return f"${'-' if v < 0 else ''}10^{{{k}}}$"


def plot_signed_eigenvalues(reports, ax=None, *, legend: bool = True):
    r"""Signed eigenvalues of the symmetric part :math:`(K+K^\top)/2`, largest first.

    A Mercer kernel gives a positive semi-definite Gram matrix, so every
    :math:`\lambda_i \ge -\tau` (round-off); a non-Mercer kernel shows eigenvalues below
    zero. The y axis is symmetric-logarithmic (linear within :math:`\pm` the smallest
    plotted magnitude), so positive and negative eigenvalues over many decades appear on
    opposite sides of 0; the band :math:`|\lambda| \le \tau` (round-off) is shaded.

    Parameters
    ----------
    reports : MercerReport or mapping of str to MercerReport
        One report, or several by legend label (e.g. tied vs untied).
    ax : matplotlib Axes, optional
        Drawn into a new figure if omitted.
    legend : bool
        Draw the legend (below the axes).

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    ax = _ensure_figure(ax, (5, 3.5))
    if not isinstance(reports, Mapping):
        reports = {"": reports}
    lams = {k: np.sort(np.asarray(r.eigenvalues, float))[::-1] for k, r in reports.items()
            if r.eigenvalues is not None}
    if not lams:
        raise ValueError("reports hold no eigenvalues (same_points=False)")
    allv = np.concatenate(list(lams.values()))
    tau = max(r.rank_tol for r in reports.values())
    mags = np.abs(allv[np.abs(allv) > tau])
    vmax = float(mags.max()) if mags.size else 1.0
    linthresh = 10.0 ** math.floor(math.log10(float(mags.min()) if mags.size else tau))
    for j, (lab, lam) in enumerate(lams.items()):
        idx = np.arange(1, lam.size + 1)
        ax.plot(idx, lam, MARKERS[j], ms=3.5 if j == 0 else 4, ls="-", lw=0.6,
                color=OKABE_ITO[[2, 1, 0, 3][j % 4]],
                mfc="none" if j else None, label=lab or r"$\lambda_i$")
    ax.set_yscale("symlog", linthresh=linthresh, linscale=1.0)
    ticks = _symlog_ticks(linthresh, vmax)
    ax.set_ylim(-4 * vmax if np.any(allv < -tau) else -linthresh, 4 * vmax)  # half a decade
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_major_formatter(FuncFormatter(_signed_decade))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.axhline(0.0, color="0.2", lw=0.8)
    ax.axhspan(-tau, tau, color="0.85", zorder=0)
    ax.set_xlabel("index i (sorted by signed value)")
    ax.set_ylabel(r"eigenvalue $\lambda_i$ of $(K+K^\top)/2$")
    if legend:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=7)
    return ax


def plot_rank_growth(growth, ax=None, *, legend: bool = True):
    """Plot numerical rank against n for one or several :class:`RankGrowth` results.

    Finite feature dimensions are dotted horizontal lines, rank = n a grey reference.
    Log-log axes labelled at the n that were run (:func:`readable_log_axis`); series
    differ by colour and marker (the infinite-dimensional kernels lie on top of each
    other, on rank = n, so their markers shrink in turn to stay visible).

    Parameters
    ----------
    growth : RankGrowth or sequence of RankGrowth
    ax : matplotlib Axes, optional
        Drawn into a new figure if omitted.
    legend : bool
        Draw the legend (to the right of the axes).

    Returns
    -------
    matplotlib.axes.Axes
    """
    growths = [growth] if hasattr(growth, "ranks") else list(growth)
    ax = _ensure_figure(ax, (6.4, 3.4))
    n_all = np.unique(np.concatenate([np.asarray(g.ns) for g in growths]))
    ax.loglog(n_all, n_all, color="0.7", lw=1, label="rank = n")
    dims = []
    for i, g in enumerate(growths):
        c = OKABE_ITO[i % len(OKABE_ITO)]
        ax.loglog(g.ns, g.ranks, marker=MARKERS[i % len(MARKERS)], color=c,
                  ms=max(3.0, 7.0 - 1.2 * i), label=g.label)
        if math.isfinite(g.feature_dim):
            ax.axhline(g.feature_dim, ls=":", color=c, lw=1)
            dims.append(g.feature_dim)
    ax.set_xlabel("number of points n")
    ax.set_ylabel(r"numerical rank of the $n \times n$ Gram matrix")
    readable_log_axis(ax.xaxis, n_all)
    yvals = sorted(set(dims) | {float(n) for n in n_all})
    # keep y labels at least 0.15 decade apart (8 pt text on a 3 in axis)
    kept: list[float] = []
    for v in yvals:
        if not kept or math.log10(v / kept[-1]) >= 0.15:
            kept.append(v)
    readable_log_axis(ax.yaxis, kept, max_labels=12)
    if legend:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return ax


# ------------------------------------------------------------------ random features
def plot_error_curves(curves, *, ax=None, legend: bool = True):
    """Log-log plot of measured MSE (markers, ±2 SE bars) and closed forms (lines) vs D.

    One legend entry per estimator (marker and line together) with its fitted log-log
    slope; the legend sits in the lower left, which MSE = C/D curves (falling to the right)
    leave empty. Lower bars are clipped at 90 % of the value so they stay on the log axis.

    Parameters
    ----------
    curves : ErrorCurve or sequence of ErrorCurve
    ax : matplotlib Axes, optional
        Drawn into a new figure if omitted.
    legend : bool
        Draw the legend.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if hasattr(curves, "measured"):
        curves = [curves]
    ax = _ensure_figure(ax, (5.5, 4))
    handles, labels = [], []
    for i, c in enumerate(curves):
        col = OKABE_ITO[i % len(OKABE_ITO)]
        lower = np.minimum(2 * c.std_error, 0.9 * c.measured)  # keep bars on the log axis
        eb = ax.errorbar(c.n_features, c.measured, yerr=[lower, 2 * c.std_error],
                         fmt=MARKERS[i % len(MARKERS)], ms=4, color=col, capsize=2)
        h = [eb]
        if c.predicted is not None:
            (ln,) = ax.plot(c.n_features, c.predicted, "-", lw=1.2, color=col)
            h.insert(0, ln)
        handles.append(tuple(h))
        labels.append(f"{c.label} (slope {c.slope:.2f})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("number of features D")
    rel = curves[0].relative if curves else False
    ax.set_ylabel("relative MSE (dimensionless)" if rel else "MSE (kernel units²)")
    ax.grid(True, which="major", alpha=0.3)
    if curves:
        readable_log_axis(ax.xaxis, np.concatenate([np.asarray(c.n_features) for c in curves]))
        readable_log_axis(ax.yaxis)
    if legend and handles:
        # extra head room below the lowest marker so the lower-left legend stays empty
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo / (hi / lo) ** (0.12 * len(handles)), hi)
        readable_log_axis(ax.yaxis)
        ax.legend(handles, labels, loc="lower left", fontsize=6.5, handlelength=2.5)
    return ax


def plot_predicted_vs_measured(predicted, measured, *, label: str | None = None, ax=None,
                               color_index: int = 0):
    """Log-log scatter of per-pair predicted vs measured MSE with the line y = x.

    Call repeatedly with the same ``ax`` (and ``color_index``) to overlay estimators.

    Parameters
    ----------
    predicted, measured : array_like, same size
        Closed-form and measured MSE per pair of points.
    label : str, optional
    ax : matplotlib Axes, optional
    color_index : int

    Returns
    -------
    matplotlib.axes.Axes
    """
    p = np.ravel(np.asarray(predicted, dtype=np.float64))
    m = np.ravel(np.asarray(measured, dtype=np.float64))
    if p.shape != m.shape:
        raise ValueError(f"predicted and measured differ in size: {p.shape} vs {m.shape}")
    ax = _ensure_figure(ax, (4.5, 4.5))
    ok = (p > 0) & (m > 0)
    ax.loglog(p[ok], m[ok], MARKERS[color_index % len(MARKERS)], ms=4, ls="none",
              color=OKABE_ITO[color_index % len(OKABE_ITO)], label=label)
    for line in [ln for ln in ax.get_lines() if ln.get_gid() == "rkbs-identity"]:
        line.remove()  # one y = x line per axes, spanning every call's data
    lo = min(ax.get_xlim()[0], ax.get_ylim()[0])
    hi = max(ax.get_xlim()[1], ax.get_ylim()[1])
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="y = x", gid="rkbs-identity")
    ax.set_xlabel("closed-form MSE (kernel units²)")
    ax.set_ylabel("measured MSE (kernel units²)")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(True, which="major", alpha=0.3)
    return ax


# ------------------------------------------------------------------ kernel machines
def plot_coefficients(machine, X, Y, Z, ax=None, *, index: int = 0):
    r"""Plot the attention map P (= Z), the fitted map, and the coefficients C = −G/(2λ).

    For the row-softmax loss :math:`C = (P - \operatorname{softmax}(H^\star))/(2\lambda)`
    (representer theorem of the pair-operator machine, :math:`A^\star = \Phi_X^\top C\,
    \Phi_Y`): C is positive where the fitted map under-predicts an entry. C uses a
    diverging colour map centred at 0.

    Parameters
    ----------
    machine : PairOperatorMachine
        Fitted with ``regularizer="frobenius"`` on (X, Y, Z).
    X, Y, Z : arrays
        The training data (Z is the map that was fitted; batched data use ``index``).
    ax : sequence of two or three matplotlib Axes, optional
        Two: target and C; three: target, fitted map and C. Created (three panels in one
        figure) when omitted.
    index : int
        Which map to show when the data are batched (S, m, n).

    Returns
    -------
    fig, axes
    """
    from rkbs._backend import to_numpy

    machine._check_fitted()
    if machine.coefficients_ is None:
        raise ValueError("plot_coefficients needs a Frobenius fit (coefficients_ is None)")
    Zn = np.asarray(to_numpy(Z), dtype=float)
    C = machine.coefficients_
    fitted = machine.predict(X, Y)
    if Zn.ndim == 3:
        Zn, C, fitted = Zn[index], C[index], fitted[index]
    if Zn.shape != C.shape:
        raise ValueError(f"Z shape {Zn.shape} does not match the fitted coefficients {C.shape}")
    if ax is None:
        import matplotlib.pyplot as plt

        fig, axs = plt.subplots(1, 3, figsize=(11, 3.4), layout="constrained")
        axes = list(axs)
    else:
        axes = list(ax)
        if len(axes) not in (2, 3):
            raise ValueError(f"ax must hold two or three Axes, got {len(axes)}")
        fig = axes[0].figure
    vmax = float(np.abs(C).max()) or 1.0
    panels = [(Zn, "target map P", "viridis", None)]
    if len(axes) == 3:
        panels.append((fitted, rf"fitted map $\mathrm{{{machine.loss}}}(H^\star)$"
                       if machine.loss == "softmax" else f"fitted map ({machine.loss})",
                       "viridis", None))
    panels.append((C, r"coefficients $C = -G/(2\lambda)$", "RdBu_r", vmax))
    for a, (M, title, cmap, v) in zip(axes, panels):
        kw = {"vmin": -v, "vmax": v} if v else {}
        im = a.imshow(M, cmap=cmap, aspect="auto", **kw)
        a.set_title(title)
        a.set_xlabel("key index j")
        a.set_ylabel("query index i")
        a.grid(False)
        fig.colorbar(im, ax=a)
    return fig, axes


def plot_head_comparison(machine, X, Y, P, *, index: int = 0, path=None):
    """Attention map, fitted map and representer coefficients C side by side.

    :func:`plot_coefficients` with the first panel titled as a trained head's map;
    saved to ``path`` (PNG/PDF by suffix) when given.

    Returns
    -------
    fig, axes
    """
    fig, axes = plot_coefficients(machine, X, Y, P, index=index)
    axes[0].set_title("attention map P (trained head)")
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig, axes


# ----------------------------------------------------------------- attention experiment
def _kernel_family(k: str) -> int:
    if k.startswith("taylor"):
        return 1
    if k.startswith("prf"):
        return 2
    return 3 if k in ("poly2", "elu") else 0


def plot_kernel_variants(results: dict, path=None, *, chance: Mapping[str, float] | None = None,
                         source: str | None = None, smoke: bool = False):
    """Bars of test exact match and token accuracy (mean ± std over seeds) per kernel.

    One panel per task; solid bars exact match, light bars token accuracy; colour the
    kernel family. ``chance`` (task -> token accuracy of a uniform guess over the target
    words, :attr:`rkbs.attention.tasks.Task.chance`) is drawn as a dotted line; exact
    match by chance is :math:`\\approx` chance^L, 0 on this scale. ``smoke`` writes on each
    panel that the run is a smoke run.

    Parameters
    ----------
    results : dict
        From :func:`rkbs.attention.experiment.run_experiment` (``runs``: records with
        task, kernel, seed, exact_match, token_acc).
    path : str or Path, optional
        Save the figure there.
    chance : mapping of str to float, optional
    source : str, optional
        Where the numbers come from (in the panel titles).
    smoke : bool

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    runs = results["runs"]
    tasks = list(dict.fromkeys(r["task"] for r in runs))
    with style():
        fig, axes = new_figure(len(tasks), width=4.4, height=3.3)
        for ax, task in zip(axes[0], tasks):
            kernels = list(dict.fromkeys(r["kernel"] for r in runs if r["task"] == task))
            x = np.arange(len(kernels))
            for off, metric, alpha in ((-0.2, "exact_match", 1.0), (0.2, "token_acc", 0.45)):
                vals = [np.array([r[metric] for r in runs
                                  if r["task"] == task and r["kernel"] == k], float)
                        for k in kernels]
                ax.bar(x + off, [v.mean() for v in vals], width=0.4, alpha=alpha,
                       yerr=[v.std(ddof=1) if v.size > 1 else 0.0 for v in vals], capsize=2,
                       color=[OKABE_ITO[_kernel_family(k)] for k in kernels],
                       edgecolor="0.2", linewidth=0.5)
            if chance and task in chance:
                ax.axhline(chance[task], color="0.1", ls=":", lw=1.2)
            ax.set_xticks(x, kernels, rotation=45, ha="right")
            ax.set_ylabel("test score (fraction)")
            ax.set_ylim(0, 1.05)
            ax.set_yticks(np.linspace(0, 1, 6))
            n_seeds = len({r["seed"] for r in runs if r["task"] == task})
            src = f"; {source}" if source else ""
            ax.set_title(f"task: {task} ({n_seeds} seed{'s' if n_seeds > 1 else ''}{src})")
            if smoke:
                smoke_note(ax, "smoke run (quick mode): a few training steps,\n"
                               "no kernel has learnt; bars do not compare kernels")
        handles = [Patch(color=OKABE_ITO[i], label=lab) for i, lab in enumerate(
            ["infinite-dim. kernel", "Taylor EDP (even N)", "random features EDP",
             "finite kernel"])]
        handles += [Patch(fc="0.3", ec="0.2", label="solid: exact match"),
                    Patch(fc="0.3", alpha=0.45, ec="0.2", label="light: token accuracy")]
        if chance:
            handles.append(Line2D([], [], color="0.1", ls=":", lw=1.2,
                                  label="chance token accuracy (uniform guess;\nexact match by chance ≈ 0)"))
        fig.legend(handles=handles, loc="outside lower center",
                   ncol=min(2 * len(tasks), len(handles)), fontsize=7)
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def plot_head_vs_machine(rows: Sequence[dict], lams: Sequence[float],
                         spectra: Mapping[str, Sequence[float]] | None = None):
    r"""Trained head vs pair-operator machines of growing feature dimension D.

    (a) held-out :math:`\mathrm{KL}(P\,\|\,\hat P)` against D, (b) correlation of the
    row-centred logits against D, per feature family (``row["family"]``: ``"taylor"``,
    ``"prf"``, ``"edp"``, ``"linear"``, ``"poly2"``), the exact EDP machine (infinite D)
    as a dashed line; (c) with ``spectra`` (label -> singular values), the singular values
    of the operators on the identifiable part. Call inside :func:`style`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.ticker import MaxNLocator

    fig, axes = new_figure(3 if spectra else 2, width=3.6, height=3.1)
    handles = None
    for k, (key, ylabel, log) in enumerate(
            (("kl", r"held-out $\mathrm{KL}(P\,\|\,\hat P)$ (nats)", True),
             ("logit_corr", "correlation of row-centred logits", False))):
        ax = axes[0][k]
        for j, fam in enumerate(("taylor", "prf")):
            rs = [r for r in rows if r["family"] == fam]
            ax.plot([r["n_features"] for r in rs], [r[key] for r in rs],
                    marker=MARKERS[j], color=OKABE_ITO[1 + j],
                    label="Taylor EDP, N = " + ", ".join(r["label"][6:] for r in rs)
                    if fam == "taylor" else "positive random features of EDP")
        for j, lab in enumerate(("edp", "linear", "poly2")):
            r = next(r for r in rows if r["label"] == lab)
            if lab == "edp":
                ax.axhline(r[key], color=OKABE_ITO[0], ls="--",
                           label=r"exact EDP ($D = \infty$)")
            else:
                ax.plot([r["n_features"]], [r[key]], ls="none", marker=MARKERS[3 + j],
                        color=OKABE_ITO[4 + j], ms=7,
                        label=f"{'linear' if lab == 'linear' else 'polynomial, degree 2'}"
                              f" (D = {r['n_features']})")
        ax.set_xscale("log")
        if log:
            ax.set_yscale("log")
            readable_log_axis(ax.yaxis)
        readable_log_axis(ax.xaxis)
        ax.set_xlabel("features per side D")
        ax.set_ylabel(ylabel)
        handles = ax.get_legend_handles_labels()
    axes[0][0].set_title("(a) held-out KL divergence of the\nmachine's maps from the head's")
    axes[0][1].set_title("(b) logit correlation, machine vs head\n"
                         rf"($\lambda \in [{min(lams):g}, {max(lams):g}]$ picked per family)")
    if spectra:
        ax = axes[0][2]
        for j, (lab, sv) in enumerate(spectra.items()):
            sv = np.asarray(sv, float)
            ax.semilogy(np.arange(1, sv.size + 1), np.maximum(sv, 1e-16), marker=MARKERS[j],
                        ms=3.5 + (2 - j), color=OKABE_ITO[[6, 3, 4][j % 3]], label=lab,
                        mfc="none" if j == 1 else None)
        ax.set_xlabel("index i")
        ax.set_ylabel(r"singular value $\sigma_i$ (floored at $10^{-16}$)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        readable_log_axis(ax.yaxis)
        ax.set_title("(c) singular values of the head's operator\n"
                     "and of the linear machines' $A^\\star$")
        h, lab = ax.get_legend_handles_labels()
        handles = (handles[0] + h, handles[1] + ["(c) " + x for x in lab])
    fig.legend(*handles, loc="outside lower center", ncol=4 if spectra else 3, fontsize=7)
    return fig


# ------------------------------------------------------------------ representer theorem
def plot_certificate_ratios(rows: Sequence[dict], labels: Sequence[str],
                            parts: Sequence[str]):
    """Representer-certificate residuals, each divided by its tolerance, per setting.

    ``rows``: dicts with ``kind`` (``"optimum"``, ``"perturbed"``, ``"0.9·optimum"``),
    ``part``, ``index`` (setting number), ``ratio`` (measured / tolerance) and
    ``negative_control``. (a) the optimum, where every part must be ≤ 1; (b) the negative
    controls, which the certificate must catch (> 1); hollow markers: the span part at
    0.9·optimum, which must hold (ι is 0-homogeneous). Call inside :func:`style`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.lines import Line2D

    # 0.2 in per setting keeps the rotated setting labels apart (full grid: 30 settings)
    fig, axes = new_figure(2, width=max(3.9, 0.2 * len(labels)), height=4.3, sharey=True)
    ax, bx = axes[0]
    kinds = {"optimum": (ax, 0.0), "perturbed": (bx, -0.15), "0.9·optimum": (bx, 0.15)}
    for kind, (axis, dx) in kinds.items():
        for j, part in enumerate(parts):
            sel = [r for r in rows if r["kind"] == kind and r["part"] == part]
            if not sel:
                continue
            x = np.array([r["index"] for r in sel]) + dx + 0.04 * (j - 2)
            y = np.array([max(r["ratio"], 1e-8) for r in sel])
            filled = np.array([bool(r["negative_control"]) or kind == "optimum" for r in sel])
            mk = MARKERS[j] if kind != "perturbed" else "x"
            lab = part if kind == "optimum" else None
            axis.scatter(x[filled], y[filled], marker=mk, color=OKABE_ITO[j], s=18,
                         label=lab, zorder=3)
            if np.any(~filled):
                axis.scatter(x[~filled], y[~filled], marker=mk, s=22, zorder=3,
                             facecolors="none", edgecolors=OKABE_ITO[j])
    for axis, title in ((ax, "(a) at the optimum: residual / tolerance\n"
                             "per certificate part (must be ≤ 1)"),
                        (bx, "(b) negative controls: residual / tolerance\n"
                             "(must be > 1: the certificate catches them)")):
        axis.axhline(1.0, color="0.2", ls="--", lw=1)
        axis.set_yscale("log")
        readable_log_axis(axis.yaxis)
        axis.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=6.5)
        axis.set_title(title)
    ax.set_ylabel("measured / tolerance")
    part_handles, _ = ax.get_legend_handles_labels()
    kind_handles = [
        Line2D([], [], ls="none", marker="x", color="0.2",
               label="(b) optimum perturbed by 1e-4"),
        Line2D([], [], ls="none", marker="o", color="0.2", label="(b) 0.9 × optimum"),
        Line2D([], [], ls="none", marker="o", mfc="none", color="0.2",
               label="(b) 0.9 × optimum, span part\n(scale-invariant: must hold)")]
    fig.legend(handles=[*part_handles, *kind_handles], loc="outside lower center", ncol=4,
               fontsize=7, title="certificate part (colour, marker) and control (b)",
               title_fontsize=7)
    return fig


# --------------------------------------------------------------- universal approximation
def plot_universal_approximation(rows: Sequence[dict], targets: Mapping, sizes):
    r"""Sup-error of :math:`q(t)\cdot k(s)` against width, and of :math:`\exp(q\cdot k)`.

    (a) held-out :math:`\max|F - q\cdot k|` per target (``targets``: name -> object with
    ``formula``) with the rank-r lower bound (dashed, Eckart–Young–Mirsky); (b) relative
    error of :math:`e^{q\cdot k}` against the positive kernels :math:`e^F` (RBF, Laplace)
    with the bound :math:`e^\delta - 1` (dotted). ``sizes``: (width m, rank r) pairs.
    Call inside :func:`style`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = new_figure(2, width=3.6, height=3.3)
    ax, bx = axes[0]
    for i, (name, target) in enumerate(targets.items()):
        rs = [r for r in rows if r["target"] == name]
        m = [r["width"] for r in rs]
        c = OKABE_ITO[i]
        ax.loglog(m, [r["sup_error"] for r in rs], marker=MARKERS[i], color=c,
                  label=f"{target.formula}")
        lb = np.array([r["rank_lower_bound"] for r in rs])
        ax.loglog(m, np.where(lb > 1e-12, lb, np.nan), ls="--", lw=1, color=c)
    ax.plot([], [], ls="--", color="0.3", lw=1, label="rank-r lower bound (any model)")
    ax.set_xlabel("hidden width m (rank r = m/4)")
    ax.set_ylabel(r"held-out sup-error $\max\,|F - q\cdot k|$")
    ax.set_title(r"(a) sup-error of $q(t)\cdot k(s)$ against $F(t, s)$")
    ax.set_xticks([s[0] for s in sizes], [f"m={m}\nr={r}" for m, r in sizes])
    ax.minorticks_off()
    readable_log_axis(ax.yaxis)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=3,
               fontsize=7, title="(a) target F(t, s); dashed: the rank-r lower bound",
               title_fontsize=7)
    for j, (name, label) in enumerate((("log_rbf", r"RBF $e^{-\|t-s\|^2/2}$"),
                                       ("distance", r"Laplace $e^{-\|t-s\|}$"))):
        rs = [r for r in rows if r["target"] == name]
        m = [r["width"] for r in rs]
        c = OKABE_ITO[j + 4]
        bx.loglog(m, [r["exp_rel_error"] for r in rs], marker=MARKERS[j + 4], color=c,
                  label=label)
        bx.loglog(m, [r["exp_bound"] for r in rs], ls=":", color=c, lw=1.5)
    bx.plot([], [], ls=":", color="0.3", lw=1.5,
            label=r"bound $e^\delta - 1$, $\delta$ = sup-error")
    bx.set_xlabel("hidden width m (rank r = m/4)")
    bx.set_ylabel(r"$\max\,|e^F - e^{q\cdot k}|\,/\,e^F$")
    bx.set_title(r"(b) relative error of $e^{q\cdot k}$ against the kernel $e^F$")
    bx.set_xticks([s[0] for s in sizes], [str(s[0]) for s in sizes])
    bx.minorticks_off()
    readable_log_axis(bx.yaxis)
    bx.legend(loc="lower left", fontsize=7)  # the errors fall to the right: lower left free
    return fig


# ------------------------------------------------------------------ the figure check
#: The resolution the figures are saved at (PNG) and checked at: text metrics, and so the
#: constrained layout, depend slightly on the dpi.
SAVE_DPI = 200


def _renderer(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    _settle_layout(fig)
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _texts(fig):
    from matplotlib.text import Text

    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()
            and t.figure is not None]


def _tick_labels(axis, renderer):
    """(Text, bbox) of the drawn tick labels of one axis (major and minor).

    A tick is drawn when its location lies in the view interval; the label objects of
    other (reused) ticks keep stale text and positions and are skipped.
    """
    lo, hi = sorted(axis.get_view_interval())
    span = (hi - lo) or 1.0
    out = []
    for locs, ticks in ((axis.get_majorticklocs(), axis.get_major_ticks),
                        (axis.get_minorticklocs(), axis.get_minor_ticks)):
        locs = np.asarray(locs, float)
        for tick, loc in zip(ticks(len(locs)), locs):
            if not lo - 1e-9 * span <= loc <= hi + 1e-9 * span:
                continue
            for lab in (tick.label1, tick.label2):
                if lab.get_visible() and lab.get_text().strip():
                    out.append((lab, lab.get_window_extent(renderer)))
    return out


def _text_corners(t, renderer) -> np.ndarray:
    """The four corners (display px, shape (4, 2)) of a text's box, rotated with the text.

    The axis-aligned window extent of rotated text is much larger than the text (two
    45° tick labels side by side have overlapping extents and do not touch); the rotated
    rectangle has the unrotated width and height, the text's angle, and the centre of the
    axis-aligned extent.
    """
    bb = t.get_window_extent(renderer)
    angle = t.get_rotation() % 180.0
    if angle == 0.0:
        return np.array([[bb.x0, bb.y0], [bb.x1, bb.y0], [bb.x1, bb.y1], [bb.x0, bb.y1]])
    t.set_rotation(0.0)
    try:
        flat = t.get_window_extent(renderer)
    finally:
        t.set_rotation(angle)
    w, h = flat.width, flat.height
    c = np.array([(bb.x0 + bb.x1) / 2, (bb.y0 + bb.y1) / 2])
    th = math.radians(angle)
    u, v = np.array([math.cos(th), math.sin(th)]), np.array([-math.sin(th), math.cos(th)])
    return np.array([c + sx * w / 2 * u + sy * h / 2 * v
                     for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))])


def _overlap(P: np.ndarray, Q: np.ndarray, tol: float) -> bool:
    """Whether two convex polygons (vertices in order) overlap by more than ``tol`` px
    along every separating direction (separating-axis theorem)."""
    for poly in (P, Q):
        edges = np.roll(poly, -1, axis=0) - poly
        for e in edges:
            n = np.array([-e[1], e[0]])
            norm = np.hypot(*n)
            if norm == 0:
                continue
            n = n / norm
            a, b = P @ n, Q @ n
            if min(a.max(), b.max()) - max(a.min(), b.min()) <= tol:
                return False
    return True


def _box(bb) -> np.ndarray:
    return np.array([[bb.x0, bb.y0], [bb.x1, bb.y0], [bb.x1, bb.y1], [bb.x0, bb.y1]])


def _data_points(ax, renderer, spacing_px: float = 2.0) -> list[tuple[str, np.ndarray]]:
    """Display coordinates of every drawn data mark of ``ax``, by artist label.

    Line vertices plus points sampled every ``spacing_px`` along each drawn segment
    (lines with a line style), scatter offsets, error-bar segments, bar rectangles
    (corners and edge samples). Clipped to the axes box.
    """
    from matplotlib.collections import LineCollection, PathCollection
    from matplotlib.patches import Rectangle

    abox = ax.get_window_extent(renderer)
    found = []

    def sample(xy):
        xy = np.asarray(xy, float)
        xy = xy[np.all(np.isfinite(xy), axis=1)] if xy.size else xy.reshape(0, 2)
        return xy

    def segments(xy):
        pts = [xy]
        for a, b in zip(xy[:-1], xy[1:]):
            n = int(np.hypot(*(b - a)) / spacing_px)
            if n > 1:
                t = np.linspace(0, 1, n)[:, None]
                pts.append(a + t * (b - a))
        return np.concatenate(pts) if pts else xy

    for ln in ax.get_lines():
        if not ln.get_visible():
            continue
        xy = ln.get_transform().transform(np.column_stack(ln.get_data(orig=False))
                                          .astype(float))
        ok = np.all(np.isfinite(xy), axis=1)
        has_line = ln.get_linestyle() not in ("None", "none", "", " ")
        pts = []
        if has_line:  # a NaN breaks the line
            runs = np.split(np.arange(len(xy)), np.where(~ok)[0])
            for r in runs:
                r = r[ok[r]]
                if r.size:
                    pts.append(segments(xy[r]))
        elif ln.get_marker() not in ("None", "none", "", " ", None):
            pts.append(xy[ok])
        if pts:
            found.append((str(ln.get_label()), np.concatenate(pts)))
    for col in ax.collections:
        if not col.get_visible():
            continue
        if isinstance(col, PathCollection):
            off = col.get_offset_transform().transform(np.asarray(col.get_offsets(), float))
            found.append((str(col.get_label()), sample(off)))
        elif isinstance(col, LineCollection):
            tr = col.get_transform()
            pts = [segments(tr.transform(np.asarray(s, float))) for s in col.get_segments()
                   if len(s)]
            if pts:
                found.append((str(col.get_label()), sample(np.concatenate(pts))))
    bar_label = {id(p): str(c.get_label()) for c in ax.containers
                 for p in getattr(c, "patches", ())}
    for p in ax.patches:
        if isinstance(p, Rectangle) and p.get_visible() and p.get_height() != 0:
            bb = p.get_window_extent(renderer)
            xs = np.linspace(bb.x0, bb.x1, max(2, int(bb.width / spacing_px)))
            ys = np.linspace(bb.y0, bb.y1, max(2, int(bb.height / spacing_px)))
            edge = np.concatenate([np.column_stack([xs, np.full_like(xs, bb.y1)]),
                                   np.column_stack([np.full_like(ys, bb.x0), ys]),
                                   np.column_stack([np.full_like(ys, bb.x1), ys])])
            found.append((bar_label.get(id(p), str(p.get_label())), edge))
    clipped = []
    for lab, xy in found:
        inside = ((xy[:, 0] >= abox.x0) & (xy[:, 0] <= abox.x1)
                  & (xy[:, 1] >= abox.y0) & (xy[:, 1] <= abox.y1)) if xy.size else []
        if xy.size and np.any(inside):
            clipped.append((lab, xy[inside]))
    return clipped


def figure_problems(fig, *, layout: np.ndarray | None = None,
                    tol_px: float = 0.5) -> list[str]:
    """Layout defects of a drawn figure, from the renderer extents of its artists.

    The figure is drawn with the Agg renderer at the PNG's resolution (:data:`SAVE_DPI`)
    until its layout engine settles, then:

    1. **text outside the canvas**: every visible, non-empty text artist (titles, axis
       labels, tick labels, legend entries, annotations) must have its window extent
       inside the figure box (``tol_px`` slack for anti-aliasing);
    2. **overlapping tick labels**: on each x or y axis, no two drawn tick labels' boxes
       (rotated with the text) intersect by more than ``tol_px``;
    3. **legend over data**: no data mark of an axes (line vertices and points sampled
       every 2 px along drawn line segments, scatter markers, error bars, bar edges)
       lies inside the box of a legend drawn on that axes or on the figure, and no other
       text (tick labels, axis labels, titles) intersects a legend's box.

    With ``layout`` (the axes boxes when the figure was saved, from :func:`recording`)
    a layout that moved on this draw is reported too: the check would not see what the
    file shows.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    layout : ndarray of shape (n_axes, 4), optional
    tol_px : float
        Slack in display pixels (at :data:`SAVE_DPI`).

    Returns
    -------
    list of str
        One line per defect (empty when the figure passes).
    """
    dpi = fig.dpi
    fig.set_dpi(SAVE_DPI)
    try:
        return _figure_problems(fig, layout, tol_px)
    finally:
        fig.set_dpi(dpi)


def _figure_problems(fig, layout, tol_px: float) -> list[str]:
    from matplotlib.legend import Legend

    renderer = _renderer(fig)
    problems: list[str] = []
    W, H = fig.bbox.width, fig.bbox.height
    if layout is not None:
        now = _axes_positions(fig)
        # 1 pt: the layout at the PNG's 200 dpi and at the check's dpi differ by rounding
        moved = (now.shape != np.shape(layout)
                 or np.abs(now - layout).max() * 72.0 * max(fig.get_size_inches()) > 1.0)
        if moved:
            problems.append("the layout moved since the figure was saved (constrained "
                            "layout not settled): the check does not see the saved file")
    # tick labels: only those drawn (ticks outside the view limits keep stale labels)
    ticks = {(k, axis.axis_name): _tick_labels(axis, renderer)
             for k, ax in enumerate(fig.axes) for axis in (ax.xaxis, ax.yaxis)}
    tick_texts = {id(lab) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
                  for tick in (*axis.majorTicks, *axis.minorTicks)
                  for lab in (tick.label1, tick.label2)}
    drawn = [t for t in _texts(fig) if id(t) not in tick_texts]
    drawn += [lab for labs in ticks.values() for lab, _ in labs]
    for t in drawn:
        bb = t.get_window_extent(renderer)
        if (bb.x0 < -tol_px or bb.y0 < -tol_px or bb.x1 > W + tol_px
                or bb.y1 > H + tol_px):
            problems.append(f"text {t.get_text()!r} outside the canvas: extent "
                            f"({bb.x0:.0f}, {bb.y0:.0f})-({bb.x1:.0f}, {bb.y1:.0f}) px, "
                            f"canvas {W:.0f} x {H:.0f} px")
    for k, ax in enumerate(fig.axes):
        name = ax.get_title() or ax.get_label() or f"axes {k}"
        name = name.replace("\n", " ")
        for axis in (ax.xaxis, ax.yaxis):
            labs = ticks[(k, axis.axis_name)]
            corners = [_text_corners(lab, renderer) for lab, _ in labs]
            for i in range(len(labs)):
                for j in range(i + 1, len(labs)):
                    if _overlap(corners[i], corners[j], tol_px):
                        problems.append(f"{name!r}: {axis.axis_name} tick labels "
                                        f"{labs[i][0].get_text()!r} and "
                                        f"{labs[j][0].get_text()!r} overlap")
    legends = [(lg, [lg.axes]) for ax in fig.axes for lg in ax.findobj(Legend)
               if lg.axes is ax]
    legends += [(lg, list(fig.axes)) for lg in fig.legends]
    for lg, axs in legends:
        if not lg.get_visible():
            continue
        lb = lg.get_window_extent(renderer)
        own = {id(t) for t in (*lg.get_texts(), lg.get_title())}
        for t in drawn:
            if id(t) in own:
                continue
            if _overlap(_box(lb), _text_corners(t, renderer), tol_px):
                problems.append(f"a legend covers the text {t.get_text()!r}")
        for ax in axs:
            name = (ax.get_title() or f"axes {fig.axes.index(ax)}").replace("\n", " ")
            for lab, xy in _data_points(ax, renderer):
                inside = ((xy[:, 0] > lb.x0 + tol_px) & (xy[:, 0] < lb.x1 - tol_px)
                          & (xy[:, 1] > lb.y0 + tol_px) & (xy[:, 1] < lb.y1 - tol_px))
                if np.any(inside):
                    problems.append(f"{name!r}: the legend covers {int(inside.sum())} "
                                    f"drawn point(s) of {lab!r}")
    return problems
