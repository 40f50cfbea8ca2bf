r"""Symbolic derivations with sympy: exact feature maps and the ℓ^p duality maps.

Import as ``from rkbs import symbolic`` (not re-exported at the top level: sympy is slow
to import). Each derivation works from first principles and returns a small dataclass
holding the derived expressions, a symbolic proof (a difference that simplifies to 0)
and numpy callables (``sympy.lambdify``) that tests compare with :mod:`rkbs.features`
and :mod:`rkbs.spaces`.

* :func:`taylor_features` expands :math:`(q\cdot k)^n` for :math:`n \le N`, reads off the
  coefficient :math:`c_\alpha` of every monomial :math:`q^\alpha k^\alpha` (and checks that
  no mixed monomial :math:`q^\alpha k^\beta`, :math:`\alpha\ne\beta`, occurs), sets
  :math:`\varphi_\alpha(q) = \sqrt{c_\alpha/n!}\,q^\alpha` and proves
  :math:`\sum_\alpha \varphi_\alpha(q)\varphi_\alpha(k) = \sum_{n\le N}(q\cdot k)^n/n!`
  (theory §2.1).
* :func:`polynomial_features` does the same for :math:`(q\cdot k + c)^m`.
* :func:`norm_gradient_derivation` differentiates :math:`\lVert w\rVert_p` and
  :math:`\tfrac12\lVert w\rVert_p^2` and proves they equal the closed forms
  :math:`\operatorname{sign}(w)|w|^{p-1}/\lVert w\rVert_p^{p-1}` and
  :math:`\operatorname{sign}(w)|w|^{p-1}/\lVert w\rVert_p^{p-2}` used by
  :mod:`rkbs.spaces.duality` (theory §2.4), symbolically where sympy
  can and by exact evaluation at rational points otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import sympy as sp

from rkbs._checks import check_exponent, check_int, check_positive

__all__ = [
    "FeatureDerivation",
    "NormGradientDerivation",
    "norm_gradient_derivation",
    "polynomial_features",
    "taylor_features",
    "verify_feature_identity",
]


@dataclass(frozen=True)
class FeatureDerivation:
    r"""A feature map derived from a kernel's expansion, with its symbolic proof.

    Attributes
    ----------
    kind : str
        ``"taylor"`` or ``"polynomial"``.
    d : int
        Input dimension.
    degree : int
        Truncation degree N (Taylor) or polynomial degree m.
    q, k : tuple of sympy.Symbol
        The query and key variables.
    kernel_expr : sympy.Expr
        The target: :math:`\sum_{n\le N}(q\cdot k)^n/n!` or :math:`(q\cdot k + c)^m`.
    exponents : ndarray of int, shape (D, d)
        Multi-indices α, ordered as :func:`rkbs.features.monomial_exponents` concatenated
        over degrees (graded, descending lexicographic within a degree; for polynomial
        features with c > 0 ordered by the augmented :math:`(\alpha, m - |\alpha|)`).
    coefficients : tuple of sympy.Expr
        :math:`\varphi_\alpha(q) = \text{coefficient}_\alpha\cdot q^\alpha`.
    features_q, features_k : tuple of sympy.Expr
        :math:`\varphi_\alpha(q)` and :math:`\varphi_\alpha(k)`.
    difference : sympy.Expr
        :math:`\sum_\alpha\varphi_\alpha(q)\varphi_\alpha(k) - \text{kernel\_expr}`, expanded.
    proved : bool
        ``difference == 0`` exactly.
    feature_fn : callable
        ``Q (n, d) -> (n, D)`` numpy evaluation of the derived features.
    """

    kind: str
    d: int
    degree: int
    q: tuple
    k: tuple
    kernel_expr: sp.Expr
    exponents: np.ndarray
    coefficients: tuple
    features_q: tuple
    features_k: tuple
    difference: sp.Expr
    proved: bool
    feature_fn: Callable = field(repr=False)

    @property
    def n_features(self) -> int:
        """Number of features D."""
        return len(self.coefficients)

    def coefficients_float(self) -> np.ndarray:
        """Coefficients as float64, shape (D,)."""
        return np.array([float(c) for c in self.coefficients], dtype=np.float64)


def _symbols(d: int):
    q = sp.symbols(f"q1:{d + 1}", real=True)
    k = sp.symbols(f"k1:{d + 1}", real=True)
    return q, k


def _monomial(vars_, alpha):
    return sp.Mul(*[v**a for v, a in zip(vars_, alpha)])


def _lambdify_rows(q, exprs):
    """Lambdify expressions in the symbols ``q`` into a map (..., len(q)) -> (..., len(exprs))."""
    f = sp.lambdify([q], list(exprs), modules="numpy")

    def feature_fn(Q):
        Q = np.asarray(Q, dtype=np.float64)
        cols = f(Q.T)
        return np.stack([np.broadcast_to(np.asarray(c, dtype=np.float64), Q.shape[:-1])
                         for c in cols], axis=-1)

    return feature_fn


def _read_diagonal_coefficients(expr, q, k):
    """Coefficients c_α of q^α k^α in the polynomial ``expr``; rejects mixed monomials."""
    poly = sp.Poly(sp.expand(expr), *q, *k)
    d = len(q)
    coef = {}
    for monom, c in poly.terms():
        a, b = monom[:d], monom[d:]
        if a != b:
            raise ArithmeticError(f"mixed monomial q^{a} k^{b} in the expansion: no diagonal "
                                  "feature map exists")
        coef[a] = coef.get(a, 0) + c
    return coef


def verify_feature_identity(features_q, features_k, kernel_expr) -> sp.Expr:
    r"""Expanded :math:`\sum_\alpha \varphi_\alpha(q)\varphi_\alpha(k) - \kappa(q, k)`.

    Zero exactly when the features reproduce the kernel; any other feature list (a
    wrong coefficient, a missing monomial) leaves a non-zero polynomial.
    """
    total = sp.Add(*[a * b for a, b in zip(features_q, features_k)])
    return sp.expand(total - kernel_expr)


def taylor_features(d: int, degree: int) -> FeatureDerivation:
    r"""Derive the Taylor features of :math:`\exp(q\cdot k)` truncated at total degree N.

    .. math::

        \sum_{n=0}^{N}\frac{(q\cdot k)^n}{n!} = \sum_{|\alpha|\le N} c_\alpha\,q^\alpha k^\alpha
        \;\Rightarrow\; \varphi_\alpha(q) = \sqrt{c_\alpha}\,q^\alpha,
        \quad c_\alpha = \frac{1}{\alpha!}

    The coefficients are read off the sympy expansion (not assumed), then the identity is
    proved by expanding the difference to 0. ``D = C(d + N, N)``.

    Parameters
    ----------
    d : int
        Number of variables (keep small: d ≤ 4, N ≤ 6).
    degree : int
        Truncation degree N ≥ 0.
    """
    d = check_int(d, "d", minimum=1)
    N = check_int(degree, "degree", minimum=0)
    q, k = _symbols(d)
    u = sp.Add(*[a * b for a, b in zip(q, k)])
    target = sp.Add(*[u**n / sp.factorial(n) for n in range(N + 1)])
    coef = _read_diagonal_coefficients(target, q, k)
    order = sorted(coef, key=lambda a: (sum(a), tuple(-x for x in a)))
    coefficients = tuple(sp.sqrt(coef[a]) for a in order)
    fq = tuple(c * _monomial(q, a) for c, a in zip(coefficients, order))
    fk = tuple(c * _monomial(k, a) for c, a in zip(coefficients, order))
    diff = verify_feature_identity(fq, fk, target)
    return FeatureDerivation(
        "taylor", d, N, q, k, target, np.array(order, dtype=np.int64).reshape(-1, d),
        coefficients, fq, fk, diff, diff == 0, _lambdify_rows(q, fq),
    )


def polynomial_features(d: int, degree: int, c=1) -> FeatureDerivation:
    r"""Derive exact features of the polynomial kernel :math:`(q\cdot k + c)^m`.

    .. math::

        (q\cdot k + c)^m = \sum_{|\alpha|\le m} \frac{m!}{\alpha!\,(m-|\alpha|)!}\,
        c^{m-|\alpha|}\, q^\alpha k^\alpha

    read off the expansion; :math:`\varphi_\alpha(q) = \sqrt{c_\alpha}\,q^\alpha`, and
    monomials with :math:`c_\alpha = 0` (all :math:`|\alpha| < m` when c = 0) are
    dropped, leaving ``C(d+m, m)`` features for c > 0 and ``C(d+m-1, m)`` for c = 0.

    Parameters
    ----------
    d, degree : int
        Number of variables and degree m ≥ 0.
    c : int, float or sympy number
        Offset c ≥ 0; floats are converted to the exact rational they represent.
    """
    d = check_int(d, "d", minimum=1)
    m = check_int(degree, "degree", minimum=0)
    if not isinstance(c, sp.Basic):
        check_positive(c, "c", strict=False)
        c = sp.Rational(Fraction(c)) if isinstance(c, float) else sp.Integer(c)
    q, k = _symbols(d)
    u = sp.Add(*[a * b for a, b in zip(q, k)])
    target = (u + c) ** m
    coef = {a: v for a, v in _read_diagonal_coefficients(target, q, k).items() if v != 0}
    order = sorted(coef, key=lambda a: tuple(-x for x in (*a, m - sum(a))))
    coefficients = tuple(sp.sqrt(coef[a]) for a in order)
    fq = tuple(cf * _monomial(q, a) for cf, a in zip(coefficients, order))
    fk = tuple(cf * _monomial(k, a) for cf, a in zip(coefficients, order))
    diff = verify_feature_identity(fq, fk, sp.expand(target))
    return FeatureDerivation(
        "polynomial", d, m, q, k, target, np.array(order, dtype=np.int64).reshape(-1, d),
        coefficients, fq, fk, diff, diff == 0, _lambdify_rows(q, fq),
    )


@dataclass(frozen=True)
class NormGradientDerivation:
    r"""ι and J_p on ℓ^p(ℝ^D) by differentiation, against the closed forms.

    Attributes
    ----------
    p : sympy.Rational
        The exponent (1 < p < ∞).
    dim : int
        Number of coordinates D.
    w : tuple of sympy.Symbol
        Real variables.
    norm : sympy.Expr
        :math:`\lVert w\rVert_p = (\sum_i |w_i|^p)^{1/p}`.
    iota_derived, iota_closed : tuple of sympy.Expr
        :math:`\partial\lVert w\rVert_p/\partial w_i` and
        :math:`\operatorname{sign}(w_i)|w_i|^{p-1}/\lVert w\rVert_p^{p-1}`.
    duality_derived, duality_closed : tuple of sympy.Expr
        :math:`\partial(\tfrac12\lVert w\rVert_p^2)/\partial w_i` and
        :math:`\operatorname{sign}(w_i)|w_i|^{p-1}/\lVert w\rVert_p^{p-2}`.
    method : str
        ``"symbolic"`` when ``simplify(derived - closed) == 0`` for every coordinate,
        ``"exact evaluation"`` when that failed but the difference is exactly 0 at every
        rational test point (the values are algebraic numbers; sympy decides
        equality exactly, no floating point).
    proved : bool
        Whether one of the two methods established the identity.
    iota_fn, duality_fn : callable
        ``W (n, D) -> (n, D)`` numpy evaluations of the *derived* expressions.
    """

    p: sp.Rational
    dim: int
    w: tuple
    norm: sp.Expr
    iota_derived: tuple
    iota_closed: tuple
    duality_derived: tuple
    duality_closed: tuple
    method: str
    proved: bool
    iota_fn: Callable = field(repr=False)
    duality_fn: Callable = field(repr=False)


_TEST_POINTS = ((1, -2, 3), (Fraction(1, 2), Fraction(-3, 4), 2), (-5, 1, Fraction(-1, 3)),
                (2, 0, -1))


def _exact_zero_at_points(exprs, w) -> bool:
    """Difference expressions are exactly 0 at rational points (sympy algebraic numbers)."""
    D = len(w)
    for pt in _TEST_POINTS:
        vals = [sp.Rational(Fraction(pt[i % len(pt)])) for i in range(D)]
        if all(v == 0 for v in vals):
            continue
        sub = dict(zip(w, vals))
        for e in exprs:
            val = e.subs(sub)
            if sp.simplify(sp.radsimp(val)) != 0:
                return False
    return True


def norm_gradient_derivation(p, dim: int = 3) -> NormGradientDerivation:
    r"""Differentiate the ℓ^p norm symbolically and prove the closed forms of ι and J_p.

    .. math::

        \frac{\partial}{\partial w_i}\Big(\sum_j |w_j|^p\Big)^{1/p}
        = \frac{\operatorname{sign}(w_i)|w_i|^{p-1}}{\lVert w\rVert_p^{p-1}},
        \qquad
        \frac{\partial}{\partial w_i}\tfrac12\lVert w\rVert_p^2
        = \frac{\operatorname{sign}(w_i)|w_i|^{p-1}}{\lVert w\rVert_p^{p-2}}

    (valid for w ≠ 0 and 1 < p < ∞; theory §2).

    Parameters
    ----------
    p : int, float or sympy.Rational
        Exponent, 1 < p < ∞; floats are converted to the exact rational they represent
        (use simple values such as 1.5, 3, 2.25).
    dim : int
        Number of coordinates D (small: 1–4).
    """
    if isinstance(p, sp.Basic):
        pr = sp.Rational(p)
        check_exponent(float(pr))
    else:
        check_exponent(p)
        pr = sp.Rational(Fraction(p)) if isinstance(p, float) else sp.Integer(p)
    D = check_int(dim, "dim", minimum=1)
    w = sp.symbols(f"w1:{D + 1}", real=True)
    norm = sp.Add(*[sp.Abs(x) ** pr for x in w]) ** (1 / pr)
    iota_d = tuple(sp.diff(norm, x) for x in w)
    dual_d = tuple(sp.diff(norm**2 / 2, x) for x in w)
    iota_c = tuple(sp.sign(x) * sp.Abs(x) ** (pr - 1) / norm ** (pr - 1) for x in w)
    dual_c = tuple(sp.sign(x) * sp.Abs(x) ** (pr - 1) / norm ** (pr - 2) for x in w)
    diffs = [a - b for a, b in zip(iota_d + dual_d, iota_c + dual_c)]
    if all(sp.simplify(e) == 0 for e in diffs):
        method, proved = "symbolic", True
    else:
        method = "exact evaluation"
        proved = _exact_zero_at_points(diffs, w)
    return NormGradientDerivation(
        pr, D, w, norm, iota_d, iota_c, dual_d, dual_c, method, proved,
        _lambdify_rows(w, iota_d), _lambdify_rows(w, dual_d),
    )
