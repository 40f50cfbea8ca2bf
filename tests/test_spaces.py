"""ℓ^p duality maps (property tests) and the RKBS pair over exact feature maps (theory §2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import to_numpy
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import rkbs
from rkbs.spaces import (
    conjugate_exponent,
    duality_map,
    inverse_duality_map,
    lp_norm,
    norm_gradient,
    semi_inner_product,
)

EPS = np.finfo(np.float64).eps
LOG_RANGE = math.log(1e6 * 8)  # entries span [1e-3, 1e3] in up to 8 coordinates


def _tol(p: float) -> float:
    """Relative round-off allowance for chains of signed powers |u|^a.

    One power x^a has relative error ≤ eps·(1 + |a log x|) ≤ eps·max(p, q*)·(1 + LOG_RANGE)
    for the exponents a ∈ {p, p-1, q*, q*-1, 1/p, ...} used here and the normalised
    entries |u| = |w|/‖w‖ ≥ 1e-6/√8; an identity chains at most ~10 such operations
    (two norms, two maps) and the inverse map amplifies input errors by at most
    max(p-1, q*-1) ≤ max(p, q*). Hence 10·max(p, q*)²·(1 + LOG_RANGE)·eps, which is
    ≤ 1e-10 on the tested range p ∈ [1.05, 20].
    """
    r = max(p, conjugate_exponent(p))
    return 10 * r * r * (1 + LOG_RANGE) * EPS


_entry = st.one_of(st.just(0.0), st.floats(1e-3, 1e3), st.floats(-1e3, -1e-3))
vectors = st.integers(1, 8).flatmap(lambda n: arrays(np.float64, n, elements=_entry)).filter(
    lambda w: np.any(w != 0)
)
exponents = st.floats(1.05, 20.0)


@settings(max_examples=150, deadline=None)
@given(w=vectors, p=exponents)
def test_duality_map_identities(w, p):
    q = conjugate_exponent(p)
    nw = float(lp_norm(w, p))
    J = duality_map(w, p)
    tol = _tol(p)
    assert abs(float(J @ w) - nw**2) <= tol * nw**2  # ⟨J_p(w), w⟩ = ‖w‖_p²
    assert abs(float(lp_norm(J, q)) - nw) <= tol * nw  # ‖J_p(w)‖_{q*} = ‖w‖_p
    back = inverse_duality_map(J, p)  # J_{q*}(J_p(w)) = w
    assert np.max(np.abs(back - w)) <= tol * np.max(np.abs(w))
    assert abs(float(lp_norm(norm_gradient(w, p), q)) - 1.0) <= tol  # ‖ι(w)‖_{q*} = 1
    np.testing.assert_allclose(J, norm_gradient(w, p) * nw, rtol=tol, atol=0)


@settings(max_examples=100, deadline=None)
@given(u=vectors, w=vectors, p=exponents, t=st.floats(0.1, 10.0))
def test_semi_inner_product_properties(u, w, p, t):
    if u.size != w.size:
        u = np.resize(u, w.size)
    tol = _tol(p)
    nw, nu = float(lp_norm(w, p)), float(lp_norm(u, p))
    assert abs(float(semi_inner_product(w, w, p)) - nw**2) <= tol * nw**2  # [w, w] = ‖w‖²
    s = float(semi_inner_product(u, w, p))
    # homogeneity in both arguments (Lumer–Giles): [t u, w] = t[u, w] = [u, t w]
    scale = nu * nw
    assert abs(float(semi_inner_product(t * u, w, p)) - t * s) <= tol * t * scale
    assert abs(float(semi_inner_product(u, t * w, p)) - t * s) <= tol * t * scale
    assert abs(s) <= nu * nw * (1 + tol)  # Cauchy–Schwarz (Hölder)


@pytest.mark.parametrize("p", [1.3, 2.0, 3.5, 7.0])
def test_norm_gradient_matches_finite_differences(p, rng):
    """ι(w) = ∇‖w‖_p against central differences of the norm (an independent route)."""
    w = rng.uniform(0.5, 2.0, size=6) * rng.choice([-1, 1], size=6)
    h = 1e-5
    fd = np.array([(lp_norm(w + h * e, p) - lp_norm(w - h * e, p)) / (2 * h)
                   for e in np.eye(6)])
    # central differences: truncation O(h²·|∂³‖w‖|) ~ 1e-10 (entries ≥ 0.5, so the
    # third derivative of |w_i|^p is O(1)), cancellation eps·‖w‖/h ~ 1e-11.
    np.testing.assert_allclose(norm_gradient(w, p), fd, atol=1e-8)
    fd2 = np.array([(0.5 * lp_norm(w + h * e, p) ** 2 - 0.5 * lp_norm(w - h * e, p) ** 2)
                    / (2 * h) for e in np.eye(6)])
    np.testing.assert_allclose(duality_map(w, p), fd2, atol=1e-8)  # J_p = ∇ ½‖w‖²


@pytest.mark.parametrize("p", [1.0, 1.5, 2.0, 3.0, math.inf])
def test_lp_norm_against_numpy(p, rng):
    W = rng.normal(size=(4, 7))
    # the scaled evaluation max|w|·‖w/max|w|‖_p differs from numpy's by a few eps
    np.testing.assert_allclose(lp_norm(W, p), np.linalg.norm(W, ord=p, axis=-1), rtol=1e-14)
    big = np.array([1e300, -2e300, 5e299])  # numpy's naive sum of |w|^4 overflows here
    np.testing.assert_allclose(lp_norm(big, 4.0), 1e300 * np.linalg.norm([1, 2, 0.5], 4),
                               rtol=1e-14)


def test_zero_vector_and_conjugates():
    z = np.zeros(3)
    assert np.all(norm_gradient(z, 1.7) == 0) and np.all(duality_map(z, 3.0) == 0)
    assert lp_norm(z, 2.0) == 0
    assert conjugate_exponent(1) == math.inf and conjugate_exponent(math.inf) == 1.0
    assert conjugate_exponent(2) == 2.0 and conjugate_exponent(3.0) == 1.5


def test_duality_numpy_torch_parity(rng, backend):
    W = rng.normal(size=(3, 5))
    for f in (norm_gradient, duality_map, inverse_duality_map):
        # identical formulas; pow/sum order differences are a few eps
        np.testing.assert_allclose(to_numpy(f(backend(W), 2.7)), f(W, 2.7), rtol=1e-12,
                                   atol=1e-15)
    np.testing.assert_allclose(to_numpy(lp_norm(backend(W), 2.7)), lp_norm(W, 2.7), rtol=1e-12)


@pytest.mark.parametrize("p", [0.5, 1.0, -2.0, math.inf, float("nan")])
def test_bad_exponents(p):
    w = np.ones(3)
    with pytest.raises(ValueError, match=r"1 < p < inf here, got p=|real number"):
        norm_gradient(w, p)
    with pytest.raises(ValueError, match=r"1 < p < inf here, got p=|real number"):
        duality_map(w, p)
    with pytest.raises(ValueError, match=r"1 < p < inf here, got p=|real number"):
        inverse_duality_map(w, p)
    if not (p == 1.0 or p == math.inf):
        with pytest.raises(ValueError, match=r"got p=|real number, got nan"):
            lp_norm(w, p)


# ----------------------------------------------------------------- the RKBS pair
def _pairs(rng):
    W_Q, W_K = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    return {
        "polynomial": rkbs.PolynomialFeatures(rkbs.PolynomialKernel(W_Q, W_K, degree=3)),
        "taylor": rkbs.TaylorFeatures(rkbs.EDPKernel(W_Q, W_K), degree=4),
        "linear": rkbs.LinearFeatures(rkbs.LinearKernel(W_Q, W_K)),
    }


@pytest.mark.parametrize("which", ["polynomial", "taylor", "linear"])
@pytest.mark.parametrize("p", [1.2, 2.0, 4.0])
def test_reproducing_properties(which, p, rng):
    feats = _pairs(rng)[which]
    pair = rkbs.RKBSPair(feats, p=p)
    X, Y = rng.normal(size=(6, 4)), rng.normal(size=(5, 4))
    D = feats.n_features
    w, v = rng.normal(size=D), rng.normal(size=D)
    chk = pair.check_reproducing(X, Y, w, v)
    # Issue 2: 1e-12. Each identity compares two evaluations of the same D-term sum
    # (error ≤ D·eps·Σ|terms|, D ≤ 35).
    assert chk.max_error <= 1e-12
    if feats.exact:
        assert chk.approximation_error <= 1e-12
    # κ(x, ·) ∈ B_Y evaluated at y, and κ(·, y) ∈ B_X at x, against the kernel itself
    # (Taylor: against the truncated series it reproduces).
    Kref = feats.reproduced_kernel(X, Y)
    gx = np.stack([pair.eval_g(pair.kernel_section_x(x), Y) for x in X])
    fy = np.stack([pair.eval_f(pair.kernel_section_y(y), X) for y in Y]).T
    scale = np.abs(Kref).max()
    np.testing.assert_allclose(gx, Kref, atol=1e-12 * scale)
    np.testing.assert_allclose(fy, Kref, atol=1e-12 * scale)
    # norms are the ℓ^p / ℓ^{q*} norms of the coefficients
    np.testing.assert_allclose(pair.norm_f(w), np.linalg.norm(w, p), rtol=1e-14)
    np.testing.assert_allclose(pair.norm_g(v), np.linalg.norm(v, p / (p - 1)), rtol=1e-14)
    np.testing.assert_allclose(pair.pairing(w, v), w @ v, rtol=1e-13)


def test_reproducing_negative_control(rng):
    """A wrong section (perturbed coefficients) must break κ(x, y) = ⟨κ(·, y), κ(x, ·)⟩."""
    feats = _pairs(rng)["polynomial"]
    pair = rkbs.RKBSPair(feats, p=2.0)
    X, Y = rng.normal(size=(4, 4)), rng.normal(size=(3, 4))
    sec = pair.kernel_section_x(X[0])
    bad = sec + 1e-6 * np.abs(sec).max() * rng.normal(size=sec.shape)
    K = feats.kernel(X[:1], Y)[0]
    assert np.max(np.abs(pair.eval_g(bad, Y) - K)) > 1e-12 * np.abs(K).max()


def test_pair_duality_maps_and_hypotheses(rng):
    feats = _pairs(rng)["polynomial"]
    D = feats.n_features
    w = rng.normal(size=D)
    pair = rkbs.RKBSPair(feats, p=3.0)
    assert pair.q_star == 1.5
    # J_{q*}(J_p(w)) = w through the pair's own methods (round-off as _tol(3.0))
    np.testing.assert_allclose(pair.duality_map_g(pair.duality_map_f(w)), w,
                               atol=_tol(3.0) * np.abs(w).max())
    np.testing.assert_allclose(lp_norm(pair.iota_f(w), 1.5), 1.0, atol=_tol(3.0))
    np.testing.assert_allclose(lp_norm(pair.iota_g(w), 3.0), 1.0, atol=_tol(3.0))
    np.testing.assert_allclose(pair.semi_inner_product_f(w, w), lp_norm(w, 3.0) ** 2,
                               rtol=_tol(3.0))
    hyp = pair.representer_hypotheses()
    assert hyp and hyp.reflexive and hyp.strictly_convex and hyp.smooth
    for p, word in [(1.0, "not reflexive"), (math.inf, "not reflexive")]:
        bad = rkbs.RKBSPair(feats, p=p)
        h = bad.representer_hypotheses()
        assert not h and not h.smooth and word in h.reason
        with pytest.raises(ValueError, match=r"needs 1 < p < inf .* got p="):
            bad.iota_f(w)
        with pytest.raises(ValueError, match=r"needs 1 < p < inf"):
            bad.duality_map_g(w)
        assert bad.norm_f(w) == pytest.approx(np.linalg.norm(w, p), rel=1e-14)


def test_pair_errors(rng):
    feats = _pairs(rng)["linear"]
    with pytest.raises(ValueError, match="features must be a FeaturePair"):
        rkbs.RKBSPair(rkbs.EDPKernel(), p=2)
    with pytest.raises(ValueError, match=r"1 < p < inf here, got p=0.5"):
        rkbs.RKBSPair(feats, p=0.5)
    pair = rkbs.RKBSPair(feats, p=2)
    with pytest.raises(ValueError, match=r"w must have length D=3, got shape \(4,\)"):
        pair.norm_f(np.ones(4))
    with pytest.raises(ValueError, match="w contains NaN or inf"):
        pair.norm_f(np.array([1.0, np.nan, 0.0]))
