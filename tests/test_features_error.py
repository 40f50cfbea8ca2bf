"""Closed-form MSEs by an independent route (quadrature, enumeration), error curves,
usefulness warnings and plots."""

from __future__ import annotations

import itertools
import math
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from rkbs.features import (  # noqa: E402
    PositiveRandomFeatures,
    RandomFeatureAccuracyWarning,
    RandomFourierFeatures,
    TensorSketchFeatures,
    TrigonometricRandomFeatures,
    check_usefulness,
    empirical_mse,
    error_curve,
    loglog_slope,
    mse_hyperbolic,
    mse_maclaurin,
    mse_positive,
    mse_rff,
    mse_trigonometric,
    plot_error_curves,
    plot_predicted_vs_measured,
    predicted_mse,
)
from rkbs.kernels import EDPKernel, PolynomialKernel, RBFKernel  # noqa: E402

# Gauss-Hermite (probabilists') nodes: E f(t), t ~ N(0, 1), exact for polynomials of degree
# < 2 * 120; for the entire functions here (exp, cosh, cos of bounded argument) the
# quadrature error is far below 1e-12 relative, which sets the rtol of 1e-10 below.
T, WT = np.polynomial.hermite_e.hermegauss(120)
WT = WT / WT.sum()


def _gauss_var(f, sd):
    """Variance of f(t), t ~ N(0, sd^2), by Gauss-Hermite quadrature."""
    v = f(sd * T)
    m = np.sum(WT * v)
    return np.sum(WT * (v - m) ** 2), m


def _pairs(rng, n=3, d=3, scale=0.6):
    return rng.normal(size=(n, d)) * scale, rng.normal(size=(n, d)) * scale


@pytest.mark.parametrize("D", [2, 16])
def test_softmax_mses_against_quadrature(rng, D):
    """Each estimator depends on w only through t = w.z ~ N(0, ||z||^2), so its variance is a
    1-d Gaussian integral; divide by the number of projections (D or D/2)."""
    Q, K = _pairs(rng)
    pos, hyp, trig = mse_positive(Q, K, D), mse_hyperbolic(Q, K, D), mse_trigonometric(Q, K, D)
    for i, j in itertools.product(range(3), range(3)):
        q, k = Q[i], K[j]
        c = 0.5 * (q @ q + k @ k)
        kappa = math.exp(q @ k)
        v, m = _gauss_var(lambda t, c=c: np.exp(t - c), np.linalg.norm(q + k))
        assert m == pytest.approx(kappa, rel=1e-12)
        assert pos[i, j] == pytest.approx(v / D, rel=1e-10)
        v, m = _gauss_var(lambda t, c=c: np.exp(-c) * np.cosh(t), np.linalg.norm(q + k))
        assert m == pytest.approx(kappa, rel=1e-12)
        assert hyp[i, j] == pytest.approx(v / (D / 2), rel=1e-10)
        v, m = _gauss_var(lambda t, c=c: np.exp(c) * np.cos(t), np.linalg.norm(q - k))
        assert m == pytest.approx(kappa, rel=1e-12)
        assert trig[i, j] == pytest.approx(v / (D / 2), rel=1e-10)


def test_rff_mses_against_quadrature(rng):
    """sincos: 1-d integral over t = w.(q-k). cos+offset: (a, c) = (w.q, w.k) is a bivariate
    Gaussian (2-d Gauss-Hermite after a Cholesky factor); the uniform offset b is averaged
    by a 64-point trapezoid rule, exact for trigonometric polynomials of degree < 64 (the
    integrand has degree 4 in b)."""
    Q, K = _pairs(rng)
    sigma, D = 0.9, 10
    sc, co = mse_rff(Q, K, D, sigma=sigma, variant="sincos"), mse_rff(Q, K, D, sigma=sigma)
    b = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    T1, T2 = np.meshgrid(T, T, indexing="ij")
    W2 = np.outer(WT, WT)
    for i, j in itertools.product(range(3), range(3)):
        q, k = Q[i], K[j]
        kap = math.exp(-np.sum((q - k) ** 2) / (2 * sigma**2))
        v, m = _gauss_var(np.cos, np.linalg.norm(q - k) / sigma)
        assert m == pytest.approx(kap, rel=1e-12)
        assert sc[i, j] == pytest.approx(v / (D / 2), rel=1e-10)
        C = np.array([[q @ q, q @ k], [q @ k, k @ k]]) / sigma**2
        L = np.linalg.cholesky(C + 1e-300 * np.eye(2))
        a = L[0, 0] * T1
        cc = L[1, 0] * T1 + L[1, 1] * T2
        Z = 2 * np.cos(a[..., None] + b) * np.cos(cc[..., None] + b)
        EZ2 = np.sum(W2 * np.mean(Z**2, axis=-1))
        EZ = np.sum(W2 * np.mean(Z, axis=-1))
        assert EZ == pytest.approx(kap, rel=1e-10)
        assert co[i, j] == pytest.approx((EZ2 - EZ**2) / D, rel=1e-10)


@pytest.mark.parametrize("kernel", [EDPKernel(scale=None),
                                    PolynomialKernel(scale=None, degree=3, c=0.7)])
def test_maclaurin_mse_by_enumeration(rng, kernel):
    """Independent route: enumerate all 2^d Rademacher vectors for the fourth moment M,
    sum the series sum_n a_n^2 2^{n+1} M^n directly (60 terms: the EDP tail is below
    (2M)^60/(60!)^2 ~ 1e-150) instead of the Bessel closed form."""
    d = 4
    Q, K = _pairs(rng, d=d)
    D = 8
    mse = mse_maclaurin(Q, K, D, kernel=kernel)
    W = np.array(list(itertools.product([-1.0, 1.0], repeat=d)))
    for i, j in itertools.product(range(3), range(3)):
        q, k = Q[i], K[j]
        M = np.mean((W @ q) ** 2 * (W @ k) ** 2)
        if isinstance(kernel, EDPKernel):
            a = [1 / math.factorial(n) for n in range(60)]
            kap = math.exp(q @ k)
        else:
            a = [math.comb(3, n) * 0.7 ** (3 - n) for n in range(4)]
            kap = (q @ k + 0.7) ** 3
        second = sum(a[n] ** 2 * 2 ** (n + 1) * M**n for n in range(len(a)))
        assert mse[i, j] == pytest.approx((second - kap**2) / D, rel=1e-10)


def test_predicted_mse_applies_query_key_maps(rng):
    Wq, Wk = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    kern = EDPKernel(Wq, Wk)
    X, Y = rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    p = PositiveRandomFeatures(kern, 32)
    np.testing.assert_array_equal(predicted_mse(p, X, Y),
                                  mse_positive(kern.queries(X), kern.keys(Y), 32))
    with pytest.raises(ValueError, match="orthogonal"):
        predicted_mse(PositiveRandomFeatures(kern, 8, orthogonal=True), X, Y)
    with pytest.raises(ValueError, match="no closed-form MSE for TensorSketch"):
        predicted_mse(TensorSketchFeatures(PolynomialKernel(), 8), X, Y)
    with pytest.raises(ValueError, match="n_features must be >= 1"):
        mse_positive(X, Y, 0)


def test_loglog_slope_exact_power_law():
    x = np.array([4.0, 16, 64, 256])
    a, b = loglog_slope(x, 3.0 * x**-1.0)
    assert a == pytest.approx(-1.0, abs=1e-12) and b == pytest.approx(math.log(3.0), abs=1e-12)
    with pytest.raises(ValueError, match="positive"):
        loglog_slope([1.0, 2.0], [1.0, 0.0])


class _BiasedRFF(RandomFourierFeatures):
    """Negative control: frequencies drawn with a 30 % too small bandwidth (biased)."""

    def _draw(self, d, rng):
        super()._draw(d, rng)
        self.omega_ = self.omega_ * 1.3
        self.omega_t_ = np.ascontiguousarray(self.omega_.T)


def test_error_curve_slope_and_negative_control(rng):
    """Unbiased iid estimator: MSE = C/D, slope -1 within 4 propagated standard errors
    (ErrorCurve.slope_std_error, from the Monte-Carlo SE at each D). A biased estimator's
    MSE floors at bias^2, so its slope is far above -1 (rejected by the same test)."""
    X, Y = rng.normal(size=(5, 3)) * 0.5, rng.normal(size=(5, 3)) * 0.5
    kern = RBFKernel(scale=None, sigma=1.0)
    Ds = [8, 32, 128, 512]
    c = error_curve(RandomFourierFeatures(kern, 8), X, Y, Ds, n_draws=120, seed=0)
    assert abs(c.slope + 1) <= 4 * c.slope_std_error, (c.slope, c.slope_std_error)
    assert c.slope_std_error < 0.05  # the check has power
    np.testing.assert_allclose(c.measured, c.predicted, rtol=5 * np.max(c.std_error / c.measured))
    bad = error_curve(_BiasedRFF(kern, 8), X, Y, Ds, n_draws=120, seed=0)
    assert abs(bad.slope + 1) > 4 * bad.slope_std_error, (bad.slope, bad.slope_std_error)


def test_empirical_mse_leaves_pair_untouched_and_relative(rng):
    X, Y = rng.normal(size=(3, 2)) * 0.3, rng.normal(size=(3, 2)) * 0.3
    p = TrigonometricRandomFeatures(EDPKernel(scale=None), 8, seed=1).fit(dim=2)
    w = p.omega_.copy()
    a = empirical_mse(p, X, Y, n_draws=50, seed=3)
    r = empirical_mse(p, X, Y, n_draws=50, seed=3, relative=True)
    np.testing.assert_array_equal(p.omega_, w)
    K = p.kernel(X, Y)
    np.testing.assert_allclose(r, a / K**2, rtol=1e-12)
    with pytest.raises(ValueError, match="random feature pair"):
        empirical_mse(object(), X, Y)


def test_usefulness_warning_names_better_estimator(rng):
    """Large ||q + k|| with small ||q - k||: positive features have relative MSE
    (e^{||q+k||^2} - 1)/D (huge); trigonometric ones (e^{||q-k||^2})(1-e^{-||q-k||^2})^2/D
    (tiny): the warning must say so. Small inputs: no warning."""
    kern = EDPKernel(scale=None)
    X = rng.normal(size=(4, 3)) * 0.05 + np.array([2.0, 0.0, 0.0])
    Y = X + rng.normal(size=(4, 3)) * 0.05
    with pytest.warns(RandomFeatureAccuracyWarning, match="TrigonometricRandomFeatures would"):
        out = check_usefulness(PositiveRandomFeatures(kern, 64), X, Y)
    assert out["TrigonometricRandomFeatures"] < out["PositiveRandomFeatures"] / 100
    assert out["HyperbolicRandomFeatures"] <= out["PositiveRandomFeatures"]
    small = rng.normal(size=(4, 3)) * 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_usefulness(PositiveRandomFeatures(kern, 64), small, small)
    # best already (sin/cos RFF always beats cos+offset for the Gaussian kernel: the
    # difference of the two variances is k^4/2 - k^2 < 0): the warning says how large D
    # must be
    rbf = RBFKernel(scale=None)
    with pytest.warns(RandomFeatureAccuracyWarning, match="D of about"):
        out = check_usefulness(RandomFourierFeatures(rbf, 4, variant="sincos"), small * 20,
                               small * 20 + 1.0)
    assert out["RandomFourierFeatures(sincos)"] <= out["RandomFourierFeatures(cos_offset)"]


def test_plots(rng):
    X, Y = rng.normal(size=(3, 2)) * 0.3, rng.normal(size=(3, 2)) * 0.3
    kern = EDPKernel(scale=None)
    curves = [error_curve(cls(kern, 4), X, Y, [4, 16], n_draws=20, seed=0)
              for cls in (PositiveRandomFeatures, TrigonometricRandomFeatures)]
    ax = plot_error_curves(curves)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    # one legend entry per estimator: its measured markers and closed-form line together
    assert len(ax.get_legend().get_texts()) == 2
    p = PositiveRandomFeatures(kern, 16)
    ax2 = plot_predicted_vs_measured(predicted_mse(p, X, Y),
                                     empirical_mse(p, X, Y, n_draws=30, seed=0), label="pos")
    assert ax2.get_xlabel().startswith("closed-form")
    with pytest.raises(ValueError, match="differ in size"):
        plot_predicted_vs_measured(np.ones(3), np.ones(4))



def test_estimators_describe_themselves():
    """Each estimator class carries its closed-form MSE and its non-negativity: the flag
    agrees with the features actually drawn (negative control: trigonometric and
    Maclaurin features do go negative), and predicted_mse dispatches to the method."""
    import numpy as np

    from rkbs.features.error import predicted_mse
    from rkbs.features.random import estimators_for
    from rkbs.kernels import EDPKernel

    k = EDPKernel(dim=3)
    classes = estimators_for(k)
    names = [c.__name__ for c in classes]
    for want in ("PositiveRandomFeatures", "HyperbolicRandomFeatures",
                 "TrigonometricRandomFeatures", "RandomMaclaurinFeatures"):
        assert want in names
    U = np.random.default_rng(0).standard_normal((30, 3))
    for cls in classes:
        if "closed_form_mse" not in cls.__dict__:  # shared bases (no estimator of their own)
            continue
        pair = cls(k, 16, seed=0).fit(dim=3)
        F = np.asarray(pair.map_q(U))
        assert pair.nonnegative_features == bool((F >= 0).all()), cls.__name__
        X = np.random.default_rng(1).standard_normal((4, 3)) * 0.5
        np.testing.assert_array_equal(predicted_mse(pair, X, X),
                                      pair.closed_form_mse(k.queries(X), k.keys(X)))
