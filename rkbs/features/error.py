r"""Error of random-feature estimators, measured against theory.

Closed-form per-pair mean squared errors :math:`\mathbb E(\hat\kappa - \kappa)^2`
(= the variance, the estimators being unbiased) for D output features, with
:math:`u = q\cdot k`, :math:`\kappa = e^{u}` (EDP), :math:`s_\pm = \lVert q \pm k\rVert^2`:

=============================  ===============================================================
estimator                       MSE
=============================  ===============================================================
positive (FAVOR+), D proj.      :math:`\frac1D\,\kappa^2\,(e^{s_+} - 1)
                                = \frac1D e^{s_+}\kappa^2(1 - e^{-s_+})`
hyperbolic, D/2 proj.           :math:`\frac1D\, e^{s_+}\kappa^2(1 - e^{-s_+})^2`
trigonometric, D/2 proj.        :math:`\frac1D\, e^{s_+}\kappa^{-2}(1 - e^{-s_-})^2
                                = \frac1D e^{\lVert q\rVert^2 + \lVert k\rVert^2}(1 - e^{-s_-})^2`
RFF cos+offset, D proj.         :math:`\frac1D\big(1 + \tfrac12 k(2\Delta) - k(\Delta)^2\big)`
RFF sin/cos, D/2 proj.          :math:`\frac1D\big(1 + k(2\Delta) - 2k(\Delta)^2\big)`
random Maclaurin, D features    :math:`\frac1D\big(\sum_n a_n^2 2^{n+1} M^n - \kappa^2\big)`
=============================  ===============================================================

Derivations (:math:`\omega \sim N(0, I)`, :math:`\mathbb E e^{\omega\cdot z} =
e^{\lVert z\rVert^2/2}`, :math:`\mathbb E\cos(\omega\cdot z) = e^{-\lVert z\rVert^2/2}`):

* positive: one projection gives :math:`Z = e^{\omega\cdot(q+k) - (\lVert q\rVert^2 +
  \lVert k\rVert^2)/2}`, :math:`\mathbb E Z^2 = e^{2 s_+ - \lVert q\rVert^2 -
  \lVert k\rVert^2} = e^{s_+}\kappa^2`, so :math:`\mathrm{Var} Z = \kappa^2(e^{s_+} - 1)`
  (Choromanski et al. 2021, Lemma 2; theory §2 agrees).
* hyperbolic: :math:`Z = e^{-(\lVert q\rVert^2 + \lVert k\rVert^2)/2}\cosh(\omega\cdot(q+k))`,
  :math:`\mathrm{Var}\cosh(\omega\cdot z) = (1 + e^{2\lVert z\rVert^2})/2 -
  e^{\lVert z\rVert^2} = (e^{\lVert z\rVert^2} - 1)^2/2`; averaged over D/2 projections:
  the table (= Performer's :math:`\tfrac12(1 - e^{-s_+})\,\mathrm{MSE}^+` per projection).
* trigonometric: :math:`Z = e^{(\lVert q\rVert^2 + \lVert k\rVert^2)/2}\cos(\omega\cdot(q-k))`,
  :math:`\mathrm{Var}\cos(\omega\cdot z) = (1 - e^{-\lVert z\rVert^2})^2/2`; averaged over
  D/2 projections. The often-quoted :math:`\frac{1}{2D}` is the same formula with D counting
  projections (Performer's m) rather than output features.
* RFF (Sutherland & Schneider 2015, §2): for :math:`\Delta = q - k` and the RBF
  :math:`k(\Delta) = e^{-\lVert\Delta\rVert^2/(2\sigma^2)}`, :math:`k(2\Delta) = k(\Delta)^4`.
  cos+offset: :math:`2\cos(a + b)\cos(c + b) = \cos(a - c) + \cos(a + c + 2b)` and the
  second term has mean 0, variance 1/2, uncorrelated with the first.
* random Maclaurin (Kar & Karnick 2012): one feature gives
  :math:`Z = a_N 2^{N+1}\prod_l (w_l\cdot q)(w_l\cdot k)`, :math:`P(N = n) = 2^{-n-1}`, so
  :math:`\mathbb E Z^2 = \sum_n a_n^2 2^{n+1} M^n` with the Rademacher fourth moment
  :math:`M = \mathbb E (w\cdot q)^2(w\cdot k)^2 = \lVert q\rVert^2\lVert k\rVert^2 +
  2(q\cdot k)^2 - 2\sum_l q_l^2 k_l^2`. For EDP (:math:`a_n = 1/n!`):
  :math:`\mathbb E Z^2 = 2 I_0(2\sqrt{2M})` (modified Bessel function).

Orthogonal projections have no simple closed form; they lower the MSE of the positive
features for every input (Choromanski et al. 2021, Theorem 2); use :func:`empirical_mse`.

All functions take mapped queries ``Q`` (n, d) and keys ``K`` (m, d) (numpy or torch)
and return numpy arrays of shape ``(n, m)``.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import special

from rkbs._backend import to_numpy
from rkbs._checks import check_int, check_pair_arrays, check_positive, check_random_state
from rkbs.features.random import (
    RandomFeaturePair,
    maclaurin_coefficients,
)
from rkbs.kernels.base import EDPKernel, PolynomialKernel
from rkbs.plotting import OKABE_ITO, plot_error_curves, plot_predicted_vs_measured  # noqa: F401 (moved there; old names kept)

__all__ = [
    "ErrorCurve",
    "RandomFeatureAccuracyWarning",
    "check_usefulness",
    "empirical_mse",
    "error_curve",
    "loglog_slope",
    "mse_hyperbolic",
    "mse_maclaurin",
    "mse_positive",
    "mse_rff",
    "mse_trigonometric",
    "plot_error_curves",
    "plot_predicted_vs_measured",
    "predicted_mse",
]



class RandomFeatureAccuracyWarning(UserWarning):
    """The predicted relative MSE of a random-feature estimator is too large to be useful."""


# --------------------------------------------------------------- closed forms
def _pairwise(Q, K):
    Q, K = np.asarray(to_numpy(Q), dtype=np.float64), np.asarray(to_numpy(K), dtype=np.float64)
    if Q.ndim != 2 or K.ndim != 2 or Q.shape[1] != K.shape[1]:
        raise ValueError(
            f"Q and K must be (n, d) and (m, d) mapped arrays, got {Q.shape} and {K.shape}"
        )
    U = Q @ K.T
    nq = np.sum(Q * Q, axis=1)[:, None]
    nk = np.sum(K * K, axis=1)[None, :]
    s_plus = np.clip(nq + nk + 2 * U, 0.0, None)
    s_minus = np.clip(nq + nk - 2 * U, 0.0, None)
    return Q, K, U, nq, nk, s_plus, s_minus


def _D(n_features):
    return check_int(n_features, "n_features", minimum=1)


def mse_positive(Q, K, n_features: int) -> np.ndarray:
    r"""MSE of positive random features (iid), :math:`\frac1D\kappa^2(e^{\lVert q+k\rVert^2} - 1)`.

    Choromanski et al. (2021), Lemma 2. Shape ``(n, m)``.
    """
    D = _D(n_features)
    _, _, U, _, _, sp, _ = _pairwise(Q, K)
    return np.exp(2 * U) * np.expm1(sp) / D


def mse_hyperbolic(Q, K, n_features: int) -> np.ndarray:
    r"""MSE of hyperbolic positive features (iid, D/2 projections).

    .. math:: \frac1D\, e^{s_+}\kappa^2 (1 - e^{-s_+})^2 = \frac1D\,\kappa^2\,
        e^{-s_+}(e^{s_+} - 1)^2,\quad s_+ = \lVert q + k\rVert^2
    """
    D = _D(n_features)
    _, _, U, _, _, sp, _ = _pairwise(Q, K)
    return np.exp(2 * U + sp) * (-np.expm1(-sp)) ** 2 / D


def mse_trigonometric(Q, K, n_features: int) -> np.ndarray:
    r"""MSE of trigonometric features (iid, D/2 projections).

    .. math:: \frac1D\, e^{\lVert q\rVert^2 + \lVert k\rVert^2}(1 - e^{-\lVert q-k\rVert^2})^2
        = \frac1D\, e^{\lVert q+k\rVert^2}\kappa^{-2}(1 - e^{-\lVert q-k\rVert^2})^2

    Choromanski et al. (2021), Lemma 2, with D output features = 2 × projections.
    """
    D = _D(n_features)
    _, _, _, nq, nk, _, sm = _pairwise(Q, K)
    return np.exp(nq + nk) * np.expm1(-sm) ** 2 / D


def mse_rff(Q, K, n_features: int, *, sigma: float = 1.0,
            variant: str = "cos_offset") -> np.ndarray:
    r"""MSE of random Fourier features of the RBF kernel (Sutherland & Schneider 2015).

    .. math::

        \text{cos\_offset: } \frac1D\Big(1 + \frac{k(2\Delta)}{2} - k(\Delta)^2\Big),\qquad
        \text{sincos: } \frac1D\big(1 + k(2\Delta) - 2k(\Delta)^2\big)

    with :math:`k(\Delta) = e^{-\lVert q-k\rVert^2/(2\sigma^2)}`.
    """
    D = _D(n_features)
    sigma = check_positive(sigma, "sigma")
    _, _, _, _, _, _, sm = _pairwise(Q, K)
    k1 = np.exp(-sm / (2 * sigma**2))
    k2 = k1**4
    if variant == "cos_offset":
        return (1.0 + 0.5 * k2 - k1**2) / D
    if variant == "sincos":
        return (1.0 + k2 - 2.0 * k1**2) / D
    raise ValueError(f"variant must be 'cos_offset' or 'sincos', got {variant!r}")


def mse_maclaurin(Q, K, n_features: int, *, kernel) -> np.ndarray:
    r"""MSE of random Maclaurin features (Kar & Karnick 2012) with Rademacher projections.

    .. math:: \frac1D\Big(\sum_n a_n^2\, 2^{n+1} M^n - \kappa^2\Big),\quad
        M = \lVert q\rVert^2\lVert k\rVert^2 + 2(q\cdot k)^2 - 2\sum_l q_l^2k_l^2

    EDP: :math:`\sum_n 2^{n+1}M^n/(n!)^2 = 2 I_0(2\sqrt{2M})`; polynomial
    :math:`(u + c)^m`: :math:`a_n = \binom mn c^{m-n}`, a finite sum.
    """
    D = _D(n_features)
    Q, K, U, nq, nk, _, _ = _pairwise(Q, K)
    M = np.clip(nq * nk + 2 * U**2 - 2 * (Q**2) @ (K**2).T, 0.0, None)
    if isinstance(kernel, EDPKernel):
        z = 2.0 * np.sqrt(2.0 * M)
        second = 2.0 * special.i0e(z) * np.exp(z)
        kappa = np.exp(U)
    elif isinstance(kernel, PolynomialKernel):
        a = maclaurin_coefficients(kernel, kernel.degree)
        second = sum(a[n] ** 2 * 2.0 ** (n + 1) * M**n for n in range(kernel.degree + 1))
        kappa = (U + kernel.c) ** kernel.degree
    else:
        raise ValueError(f"random Maclaurin features need an EDP or polynomial kernel, got "
                         f"{type(kernel).__name__}")
    return (second - kappa**2) / D


def predicted_mse(pair: RandomFeaturePair, X, Y, *, n_features: int | None = None):
    r"""Closed-form per-pair MSE of ``pair``'s estimator on raw inputs, shape ``(n, m)``.

    The kernel's query/key maps are applied first. ``n_features`` defaults to
    ``pair.n_components``. The estimator supplies the formula
    (:meth:`~rkbs.features.random.RandomFeaturePair.closed_form_mse`); raises
    ``ValueError`` for estimators without one (orthogonal projections, TensorSketch,
    Nyström).
    """
    if not isinstance(pair, RandomFeaturePair):
        raise ValueError(f"pair must be a random feature pair, got {type(pair).__name__}")
    X, Y = check_pair_arrays(X, Y)
    Q, K = pair.kernel.queries(X), pair.kernel.keys(Y)
    try:
        return pair.closed_form_mse(Q, K, n_features)
    except NotImplementedError as exc:
        raise ValueError(str(exc)) from None


# ------------------------------------------------------------------ empirics
def _with_components(pair: RandomFeaturePair, n_features: int | None, seed):
    p = copy.copy(pair)
    p._cache = {}
    if n_features is not None:
        n_features = check_int(n_features, "n_features", minimum=1)
        if p._paired and n_features % 2:
            raise ValueError(f"{type(pair).__name__} needs an even number of features, got "
                             f"{n_features}")
        p.n_components = n_features
    p.seed = seed
    return p


def _target(pair, X, Y, target):
    if target is None:
        return to_numpy(pair.kernel(X, Y))
    T = np.asarray(to_numpy(target), dtype=np.float64)
    if T.shape != (X.shape[0], Y.shape[0]):
        raise ValueError(f"target must have shape {(X.shape[0], Y.shape[0])}, got {T.shape}")
    return T


def _squared_errors(pair, X, Y, n_draws, seed, n_features, relative, target=None):
    if not isinstance(pair, RandomFeaturePair):
        raise ValueError(f"pair must be a random feature pair, got {type(pair).__name__}")
    n_draws = check_int(n_draws, "n_draws", minimum=2)
    X, Y = check_pair_arrays(X, Y)
    rng = check_random_state(seed)
    Kx = _target(pair, X, Y, target)
    d = pair.kernel.queries(X[:1]).shape[-1]
    errs = []
    for _ in range(n_draws):
        p = _with_components(pair, n_features, rng).fit(dim=d)
        E = to_numpy(p.gram(X, Y)) - Kx
        errs.append(E * E / (Kx * Kx) if relative else E * E)
    return np.stack(errs)  # (n_draws, n, m)


def empirical_mse(pair: RandomFeaturePair, X, Y, *, n_draws: int = 200, seed=None,
                  n_features: int | None = None, relative: bool = False,
                  return_std_error: bool = False, target=None):
    r"""Per-pair MSE over ``n_draws`` independent redraws of ``pair``, shape ``(n, m)``.

    .. math:: \widehat{\mathrm{MSE}}_{ij} = \frac1R\sum_{r=1}^R(\hat K^{(r)}_{ij} - K_{ij})^2,
        \qquad \mathrm{SE}_{ij} = \mathrm{sd}_r\big((\hat K^{(r)}_{ij} - K_{ij})^2\big)/\sqrt R

    Each draw copies ``pair`` with a seed taken from ``seed``'s stream (``pair`` itself
    is left unchanged). ``relative=True`` divides each squared error by
    :math:`K_{ij}^2`. With ``return_std_error`` returns ``(mse, se)``. ``target``
    (n, m) replaces :math:`K = ` ``pair.kernel(X, Y)`` as the reference (e.g. the exact
    kernel when the pair approximates a different one).
    """
    sq = _squared_errors(pair, X, Y, n_draws, seed, n_features, relative, target)
    mse = sq.mean(axis=0)
    if not return_std_error:
        return mse
    return mse, sq.std(axis=0, ddof=1) / math.sqrt(sq.shape[0])


def loglog_slope(x, y) -> tuple[float, float]:
    r"""Least-squares fit :math:`\log y = a\log x + b`; returns ``(a, b)``."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2:
        raise ValueError(f"x and y must be 1-d of equal length >= 2, got {x.shape}, {y.shape}")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("log-log slope needs positive x and y")
    a, b = np.polyfit(np.log(x), np.log(y), 1)
    return float(a), float(b)


@dataclass(frozen=True)
class ErrorCurve:
    r"""MSE (averaged over all pairs) versus the number of features D.

    Attributes
    ----------
    label : str
    n_features : ndarray (k,)
    measured : ndarray (k,)
        Mean over pairs and draws of the squared error.
    std_error : ndarray (k,)
        Monte-Carlo standard error of ``measured`` (over draws).
    predicted : ndarray (k,) or None
        Mean over pairs of the closed-form MSE.
    slope, intercept : float
        Fit :math:`\log \mathrm{MSE} = \text{slope}\,\log D + \text{intercept}`.
    slope_std_error : float
        Standard error of the slope propagated from ``std_error``:
        :math:`\sqrt{\sum_i w_i^2 (\mathrm{SE}_i/\mathrm{MSE}_i)^2}`,
        :math:`w_i = (\log D_i - \overline{\log D})/\sum_j(\log D_j - \overline{\log D})^2`
        (independent draws at each D; delta method for the log).
    relative : bool
        True when errors are relative (divided by κ²).
    """

    label: str
    n_features: np.ndarray
    measured: np.ndarray
    std_error: np.ndarray
    predicted: np.ndarray | None
    slope: float
    intercept: float
    slope_std_error: float
    relative: bool = False


def error_curve(pair: RandomFeaturePair, X, Y, n_features, *, n_draws: int = 100, seed=None,
                relative: bool = False, label: str | None = None,
                target=None) -> ErrorCurve:
    r"""Measure the pair-averaged MSE of ``pair``'s estimator for each D in ``n_features``.

    For iid unbiased estimators the MSE is :math:`C/D`, so the log-log slope is -1; a
    biased one (e.g. measured against a ``target`` it does not estimate) floors at the
    squared bias. ``predicted`` is filled where :func:`predicted_mse` has a closed form
    (and ``target`` is None).
    """
    Ds = np.array([check_int(int(D), "n_features", minimum=1) for D in n_features])
    rng = check_random_state(seed)
    X, Y = check_pair_arrays(X, Y)
    meas, se, pred = [], [], []
    Kx = _target(pair, X, Y, target)
    for D in Ds:
        sq = _squared_errors(pair, X, Y, n_draws, rng, int(D), relative, target)
        per_draw = sq.reshape(sq.shape[0], -1).mean(axis=1)
        meas.append(per_draw.mean())
        se.append(per_draw.std(ddof=1) / math.sqrt(per_draw.size))
        if target is not None or pred is None:
            pred = None
            continue
        try:
            P = predicted_mse(pair, X, Y, n_features=int(D))
            pred.append(float(np.mean(P / (Kx * Kx) if relative else P)))
        except ValueError:
            pred = None
    meas, se = np.array(meas), np.array(se)
    slope, intercept = loglog_slope(Ds, meas)
    lx = np.log(Ds)
    w = (lx - lx.mean()) / np.sum((lx - lx.mean()) ** 2)
    slope_se = float(np.sqrt(np.sum(w**2 * (se / meas) ** 2)))
    return ErrorCurve(label or type(pair).__name__, Ds, meas, se,
                      None if pred is None else np.array(pred), slope, intercept, slope_se,
                      relative)


# --------------------------------------------------------------- usefulness
def _alternatives(pair):
    """Other estimators of ``pair.kernel`` with a closed-form MSE, at about the same D,
    by name (each estimator class says what it offers: ``comparable``)."""
    from rkbs.features.random import estimators_for

    out = {}
    for cls in estimators_for(pair.kernel):
        for alt in cls.comparable(pair.kernel, pair.n_components):
            out.setdefault(alt.estimator_name, alt)
    return out


def _name(pair):
    return pair.estimator_name


def check_usefulness(pair: RandomFeaturePair, X, Y, *, threshold: float = 0.25,
                     warn: bool = True) -> dict[str, float]:
    r"""Predicted median relative MSE :math:`\mathrm{MSE}_{ij}/\kappa_{ij}^2` of ``pair``.

    Warns (:class:`RandomFeatureAccuracyWarning`) when it exceeds ``threshold``
    (default 0.25, a relative RMS error of 50 % on the median pair), naming the
    estimator with the smallest predicted relative MSE on these inputs at the same D, or
    the D that would bring ``pair`` under the threshold. For positive features the
    relative MSE is :math:`(e^{\lVert q+k\rVert^2} - 1)/D`: large query/key norms, not a
    bug, are why FAVOR+ can look inaccurate; trigonometric features depend on
    :math:`\lVert q - k\rVert` instead.

    Returns
    -------
    dict
        Estimator name -> predicted median relative MSE (``pair`` first, then the
        alternatives with a closed form).
    """
    threshold = check_positive(threshold, "threshold")
    X, Y = check_pair_arrays(X, Y)
    Kx = to_numpy(pair.kernel(X, Y))

    def rel(p):
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            r = predicted_mse(p, X, Y) / (Kx * Kx)
        return float(np.median(np.nan_to_num(r, nan=np.inf)))

    out = {_name(pair): rel(pair)}
    for name, alt in _alternatives(pair).items():
        if name not in out:
            out[name] = rel(alt)
    own = out[_name(pair)]
    if warn and own > threshold:
        best = min(out, key=out.get)
        if best != _name(pair):
            advice = (f"{best} would do better here (predicted median relative MSE "
                      f"{out[best]:.3g} at the same D)")
        else:
            need = math.ceil(pair.n_components * own / threshold)
            advice = f"no other estimator does better; D of about {need} would be needed"
        warnings.warn(
            f"{_name(pair)} with D={pair.n_components}: predicted median relative MSE "
            f"{own:.3g} > {threshold:.3g} on these inputs; {advice}",
            RandomFeatureAccuracyWarning, stacklevel=2,
        )
    return out
