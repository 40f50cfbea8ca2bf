"""Symbolic derivations (sympy) against the numerical feature maps and duality maps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

import rkbs
from rkbs import symbolic


@pytest.mark.parametrize("d,N", [(1, 5), (2, 3), (3, 2)])
def test_taylor_features_proof_and_code(d, N, rng):
    der = symbolic.taylor_features(d, N)
    assert der.proved and der.difference == 0
    assert der.n_features == math.comb(d + N, N)
    # coefficients derived from the expansion are 1/√α! (theory §2)
    for a, c in zip(der.exponents, der.coefficients):
        assert sp.simplify(c - 1 / sp.sqrt(math.prod(math.factorial(int(t)) for t in a))) == 0
    feats = rkbs.TaylorFeatures(rkbs.EDPKernel(scale=None), degree=N).fit(dim=d)
    # same exponents in the same order as the code's features
    code_exps = np.concatenate([rkbs.monomial_exponents(d, n) for n in range(N + 1)])
    np.testing.assert_array_equal(der.exponents, code_exps)
    # coefficients: the code's features at q = (1, ..., 1) are exactly its weights;
    # weights go through exp(lgamma) in the code: a few eps relative
    np.testing.assert_allclose(feats.map_q(np.ones((1, d)))[0], der.coefficients_float(),
                               rtol=1e-14)
    Q = rng.normal(size=(5, d))
    np.testing.assert_allclose(feats.map_q(Q), der.feature_fn(Q), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("d,m,c", [(2, 3, 0.5), (2, 2, 1), (3, 2, 0), (1, 4, 2)])
def test_polynomial_features_proof_and_code(d, m, c, rng):
    der = symbolic.polynomial_features(d, m, c)
    assert der.proved
    expected = math.comb(d + m, m) if c > 0 else math.comb(d + m - 1, m)
    assert der.n_features == expected
    feats = rkbs.PolynomialFeatures(rkbs.PolynomialKernel(degree=m, c=float(c), scale=None))
    feats.fit(dim=d)
    Q = rng.normal(size=(6, d))
    # same order (the code uses the augmented vector (q, √c)); a few eps per feature
    np.testing.assert_allclose(feats.map_q(Q), der.feature_fn(Q), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(feats.map_q(np.ones((1, d)))[0], der.coefficients_float(),
                               rtol=1e-14)


def test_wrong_features_are_not_proved():
    """Negative control: dropping the 1/√α! weights leaves a non-zero difference."""
    der = symbolic.taylor_features(2, 2)
    unweighted_q = [f / c for f, c in zip(der.features_q, der.coefficients)]
    unweighted_k = [f / c for f, c in zip(der.features_k, der.coefficients)]
    diff = symbolic.verify_feature_identity(unweighted_q, unweighted_k, der.kernel_expr)
    assert diff != 0
    # and a missing monomial
    diff2 = symbolic.verify_feature_identity(der.features_q[:-1], der.features_k[:-1],
                                             der.kernel_expr)
    assert diff2 != 0


@pytest.mark.parametrize("p", [1.5, 2, 3, 2.25])
def test_norm_gradient_derivation(p, rng):
    der = symbolic.norm_gradient_derivation(p, dim=3)
    assert der.proved and der.method == "symbolic"
    W = rng.normal(size=(8, 3))
    # lambdified derivative vs rkbs.spaces: same function, different evaluation order
    # (the code normalises by the norm first); ~10·p·eps relative
    np.testing.assert_allclose(der.iota_fn(W), rkbs.norm_gradient(W, p), rtol=1e-12)
    np.testing.assert_allclose(der.duality_fn(W), rkbs.duality_map(W, p), rtol=1e-12)


def test_exact_evaluation_fallback_detects_wrong_closed_form():
    """The rational-point route proves true identities and rejects false ones."""
    w = sp.symbols("w1:4", real=True)
    p = sp.Rational(5, 2)
    norm = sp.Add(*[sp.Abs(x) ** p for x in w]) ** (1 / p)
    right = [sp.diff(norm, x) - sp.sign(x) * sp.Abs(x) ** (p - 1) / norm ** (p - 1) for x in w]
    wrong = [sp.diff(norm, x) - sp.sign(x) * sp.Abs(x) ** (p - 1) / norm ** (p - 2) for x in w]
    assert symbolic._exact_zero_at_points(right, w)
    assert not symbolic._exact_zero_at_points(wrong, w)


def test_symbolic_errors():
    with pytest.raises(ValueError, match="1 < p < inf here, got p=1.0"):
        symbolic.norm_gradient_derivation(1)
    with pytest.raises(ValueError, match="degree must be >= 0"):
        symbolic.taylor_features(2, -1)
    with pytest.raises(ValueError, match="c must be finite and >= 0"):
        symbolic.polynomial_features(2, 2, -1.0)
