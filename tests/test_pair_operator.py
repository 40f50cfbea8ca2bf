"""Pair-operator model h_A(x, y) = <Φ_X(x), A Φ_Y(y)> (theory §3–§4, issue 4 item 2)."""

from __future__ import annotations

import math
import warnings

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from rkbs import LinearFeatures, PositiveRandomFeatures, TaylorFeatures, get_kernel  # noqa: E402
from rkbs.machines import PairOperatorMachine, SolverError, plot_coefficients  # noqa: E402

EPS = np.finfo(float).eps


# ------------------------------------------------------------------ problem factories
def softmax_rows(H):
    E = np.exp(H - H.max(-1, keepdims=True))
    return E / E.sum(-1, keepdims=True)


def attention_problem(rng, m=10, n=9, d=3, S=None):
    """Attention-like targets: P = row-softmax of an EDP kernel with random W_Q ≠ W_K
    (theory §1); points X (m, d), Y (n, d), optionally S maps."""
    WQ, WK = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    k = get_kernel("edp", W_Q=WQ, W_K=WK)
    shape = (m, d) if S is None else (S, m, d)
    X = rng.normal(size=shape)
    Y = rng.normal(size=(n, d) if S is None else (S, n, d))
    if S is None:
        P = softmax_rows(k.log(X, Y))
    else:
        P = np.stack([softmax_rows(k.log(X[s], Y[s])) for s in range(S)])
    return X, Y, P


def targets_for(loss, P, rng):
    """Targets of each loss from the same attention logits."""
    if loss == "softmax":
        return P
    if loss == "squared":
        return np.log(P) - np.log(P).mean(-1, keepdims=True)
    return np.where(P > np.median(P), 1.0, -1.0)


def taylor():
    return TaylorFeatures(get_kernel("edp"), degree=2)


# ------------------------------------------------------------ representer identity
@pytest.mark.parametrize("loss", ["softmax", "squared", "logistic"])
def test_frobenius_closed_form_equals_solver(rng, loss):
    """A* = Φ_Xᵀ C Φ_Y with C = −G/(2λ) (theory §4), to the solver's own accuracy."""
    X, Y, P = attention_problem(rng)
    Z = targets_for(loss, P, rng)
    lam = 1e-2
    mach = PairOperatorMachine(taylor(), loss=loss, lam=lam).fit(X, Y, Z)
    assert mach.status_ == "optimal"
    assert mach.residual_ <= 1e-9  # issue 4: torch solver certifies ≤ 1e-9 on smooth cases
    A, A_rep = mach.A_, mach.representer_operator(X, Y)
    PX, PY = mach.transform(X, Y)
    # Exact identity: A − Φ_XᵀCΦ_Y = ∇F(A)/(2λ); so ‖A − A_rep‖ = gradient_norm_/(2λ).
    # Round-off of forming Φ_XᵀCΦ_Y: m·n-term sums, ≤ 64 eps ‖Φ_X‖_F ‖C‖_F ‖Φ_Y‖_F.
    roundoff = 64 * EPS * np.linalg.norm(PX) * np.linalg.norm(mach.coefficients_) * \
        np.linalg.norm(PY)
    tol = mach.gradient_norm_ / (2 * lam) * (1 + 1e-6) + roundoff
    err = np.linalg.norm(A - A_rep)
    assert err <= tol, (err, tol)
    assert mach.coefficients_.shape == Z.shape
    if loss == "softmax":
        # G = softmax(H*) − P has zero row sums: C is attention-shaped (rows cancel).
        # Round-off: n terms of size ≤ 1/(2λ) → n eps/(2λ) · 4.
        rows = np.abs(mach.coefficients_.sum(1)).max()
        assert rows <= 4 * Z.shape[1] * EPS / (2 * lam), rows

    # Negative control: the coefficients of an early-stopped solve do not represent A*.
    with pytest.warns(RuntimeWarning, match="residual"):
        early = PairOperatorMachine(taylor(), loss=loss, lam=lam, max_iter=2,
                                    on_failure="warn").fit(X, Y, Z)
    assert early.residual_ > 1e3 * mach.residual_
    err_early = np.linalg.norm(A - early.representer_operator(X, Y))
    assert err_early > 10 * tol, (err_early, tol)


def test_batched_fit_sums_losses(rng):
    """S identical maps: Σ_s L = S·L, so the fit equals one map with λ/S (different route)."""
    X, Y, P = attention_problem(rng)
    lam = 3e-2
    S = 3
    mb = PairOperatorMachine(taylor(), lam=lam).fit(
        np.stack([X] * S), np.stack([Y] * S), np.stack([P] * S))
    m1 = PairOperatorMachine(taylor(), lam=lam / S).fit(X, Y, P)
    # both strongly convex (modulus 2λ and 2λ/S of the same objective up to the factor S):
    # ‖A_b − A_1‖ ≤ ‖∇F_1(A_b)‖/(2λ/S) + ‖∇F_1(A_1)‖/(2λ/S), ∇F_1 = ∇F_b / S
    bound = (mb.gradient_norm_ / S + m1.gradient_norm_) / (2 * lam / S)
    assert np.linalg.norm(mb.A_ - m1.A_) <= bound * (1 + 1e-6) + 1e-13
    assert mb.coefficients_.shape == (S, *P.shape)
    H = mb.decision_function(np.stack([X] * S), np.stack([Y] * S))
    assert H.shape == (S, *P.shape)
    # logits are Φ_X A Φ_Yᵀ: |ΔH_ij| ≤ ‖Φ_X‖₂‖Φ_Y‖₂‖ΔA‖ (operator norms), plus round-off
    PX, PY = m1.features.transform_x(X), m1.features.transform_y(Y)
    gain = np.linalg.norm(PX, 2) * np.linalg.norm(PY, 2)
    np.testing.assert_allclose(H[1], m1.decision_function(X, Y), rtol=0,
                               atol=gain * bound * (1 + 1e-6) + 1e-12)
    # batched representer identity
    err = np.linalg.norm(mb.A_ - mb.representer_operator(np.stack([X] * S), np.stack([Y] * S)))
    assert err <= mb.gradient_norm_ / (2 * lam) * (1 + 1e-6) + 1e-12


def test_batched_different_maps(rng):
    X, Y, P = attention_problem(rng, m=7, n=6, S=2)
    mach = PairOperatorMachine(taylor(), lam=1e-2).fit(X, Y, P)
    assert mach.residual_ <= 1e-9
    pred = mach.predict(X, Y)
    assert pred.shape == (2, 7, 6)
    np.testing.assert_allclose(pred.sum(-1), 1.0, rtol=0, atol=1e-13)


# ---------------------------------------------------------- torch vs cvxpy (Clarabel)
def _objective_bound(a, b):
    """|F(A_a) − F(A_b)| ≤ max(‖∇F(A_a)‖, ‖∇F(A_b)‖)·‖A_a − A_b‖ (convexity, both ways),
    plus 16 eps |F| for evaluating F (sums of O(mn) terms of one sign pattern)."""
    gap = max(a.gradient_norm_, b.gradient_norm_) * np.linalg.norm(a.A_ - b.A_)
    return gap + 16 * EPS * abs(a.objective_) * math.sqrt(a.A_.size)


@pytest.mark.parametrize(("reg", "p"), [("frobenius", 2.0), ("lp", 1.5), ("lp", 3.0)])
def test_torch_agrees_with_clarabel_smooth(rng, reg, p):
    X, Y, P = attention_problem(rng, m=6, n=5, d=2)
    lam = 5e-2
    kw = dict(regularizer=reg, p=p, lam=lam)
    mt = PairOperatorMachine(taylor(), **kw).fit(X, Y, P)
    mc = PairOperatorMachine(taylor(), solver="clarabel", **kw).fit(X, Y, P)
    assert mt.status_ == "optimal" and mc.status_ == "optimal"
    assert mt.residual_ <= 1e-9
    assert mt.residual_ < mc.residual_  # torch reaches tighter optimality than Clarabel
    assert abs(mt.objective_ - mc.objective_) <= _objective_bound(mt, mc)
    # torch's objective is the lower one up to the bound (it is the more accurate optimum)
    assert mt.objective_ <= mc.objective_ + _objective_bound(mt, mc)
    dA = np.linalg.norm(mt.A_ - mc.A_)
    if reg == "frobenius":
        # F is 2λ-strongly convex: ‖A − A*‖ ≤ ‖∇F(A)‖/(2λ) for each solution
        bound = (mt.gradient_norm_ + mc.gradient_norm_) / (2 * lam)
        assert dA <= bound * (1 + 1e-6), (dA, bound)
    elif p < 2:
        # λΣ|a|^p is λp(p−1)B^{p−2}-strongly convex on |a| ≤ B (B: largest entry of both)
        B = max(np.abs(mt.A_).max(), np.abs(mc.A_).max())
        mu = lam * p * (p - 1) * B ** (p - 2)
        bound = (mt.gradient_norm_ + mc.gradient_norm_) / mu
        assert dA <= bound * (1 + 1e-6), (dA, bound)
    # predictions: |ΔH| ≤ ‖Φ_X‖₂ ‖ΔA‖_F ‖Φ_Y‖₂
    PX, PY = mt.transform(X, Y)
    dH = np.abs(mt.decision_function(X, Y) - mc.decision_function(X, Y)).max()
    assert dH <= np.linalg.norm(PX, 2) * dA * np.linalg.norm(PY, 2) * (1 + 1e-9) + 1e-13


def test_torch_nuclear_agrees_with_clarabel(rng):
    X, Y, P = attention_problem(rng, m=6, n=5, d=2)
    kw = dict(regularizer="nuclear", lam=5e-2)
    mt = PairOperatorMachine(taylor(), tol=1e-10, **kw).fit(X, Y, P)
    mc = PairOperatorMachine(taylor(), solver="clarabel", **kw).fit(X, Y, P)
    assert mt.status_ == "optimal"
    assert mt.residual_ < mc.residual_
    # For a prox output A+ with gradient map G_t (t ≤ 1/L), s = G_t + ∇L(A+) − ∇L(A) is a
    # subgradient of F at A+ with ‖s‖ ≤ 2‖G_t‖, so F(A+) − F* ≤ 2‖G_t‖ ‖A+ − A*‖; with A*
    # standing in by the other solution, |F_t − F_c| ≤ 2(‖G_t‖ + ‖G_c‖)‖A_t − A_c‖, plus
    # 16 eps |F| √(D_x D_y) for evaluating F.
    dA = np.linalg.norm(mt.A_ - mc.A_)
    tol = 2 * (mt.gradient_norm_ + mc.gradient_norm_) * dA + \
        16 * EPS * abs(mc.objective_) * math.sqrt(mt.A_.size)
    assert abs(mt.objective_ - mc.objective_) <= tol, (mt.objective_, mc.objective_, tol)
    st = np.linalg.svd(mt.A_, compute_uv=False)
    sc = np.linalg.svd(mc.A_, compute_uv=False)
    # Weyl: |σ_i(A_t) − σ_i(A_c)| ≤ ‖A_t − A_c‖₂
    assert np.abs(st - sc).max() <= np.linalg.norm(mt.A_ - mc.A_, 2) * (1 + 1e-9) + 1e-14
    # the torch solution is exactly low-rank (soft-thresholding), Clarabel's only nearly
    assert (st > 1e-10 * st[0]).sum() < min(mt.A_.shape)
    # Negative control: a 1 % rescaled solution is measurably worse than both
    prob_worse = PairOperatorMachine(taylor(), **kw)
    prob_worse.A_ = 1.01 * mt.A_
    assert objective_at(prob_worse, X, Y, P) - mc.objective_ > 10 * tol


def objective_at(mach, X, Y, Z):
    """F(A) for the machine's A_, by numpy from the definition (different route)."""
    H = mach.decision_function(X, Y)
    if mach.loss != "softmax":
        raise NotImplementedError
    Hm = H.max(-1, keepdims=True)
    L = np.sum(np.log(np.exp(H - Hm).sum(-1)) + Hm[:, 0] - (Z * H).sum(-1))
    if mach.regularizer == "nuclear":
        R = np.linalg.svd(mach.A_, compute_uv=False).sum()
    elif mach.regularizer == "frobenius":
        R = np.sum(mach.A_ ** 2)
    else:
        R = np.sum(np.abs(mach.A_) ** mach.p)
    return L + mach.lam * R


def test_objective_matches_numpy_definition(rng):
    X, Y, P = attention_problem(rng)
    for reg in ("frobenius", "lp", "nuclear"):
        mach = PairOperatorMachine(taylor(), regularizer=reg, p=1.5, lam=5e-2).fit(X, Y, P)
        ref = objective_at(mach, X, Y, P)
        # evaluating F twice in float64: sums of m·n ≈ 100 terms, 64 eps |F|
        assert abs(mach.objective_ - ref) <= 64 * EPS * abs(ref)


# ------------------------------------------------------------- planted low rank
def planted_problem(rng, d=6, m=40, n=40, rank=2):
    """Squared loss on Z = Φ_X A0 Φ_Yᵀ, linear features, A0 of rank 2 (a bilinear
    attention logit x W_Qᵀ W_K y / √d with W of 2 rows, theory §3)."""
    X, Y = rng.normal(size=(m, d)), rng.normal(size=(n, d))
    A0 = rng.normal(size=(d, rank)) @ rng.normal(size=(rank, d))
    f = LinearFeatures()
    Z = f.transform_x(X) @ A0 @ f.transform_y(Y).T
    return X, Y, Z, A0


def _recovery(mach, X, Y, A0, lam):
    """(numerical rank, ‖A − A0‖_F, a-priori bound).

    For squared loss on Z = Φ_X A0 Φ_Yᵀ: ∇L(A) = Φ_XᵀΦ_X (A − A0) Φ_YᵀΦ_Y, and at the
    optimum −∇L/λ is a nuclear-norm subgradient (spectral norm ≤ 1, so Frobenius ≤ √D);
    with the solver's gradient-map norm added:
    ‖A − A0‖_F ≤ (λ√D + 2‖G_t‖) / (σ_min(Φ_X)² σ_min(Φ_Y)²).
    """
    PX, PY = mach.transform(X, Y)
    smin = np.linalg.svd(PX, compute_uv=False)[-1] ** 2 * \
        np.linalg.svd(PY, compute_uv=False)[-1] ** 2
    bound = (lam * math.sqrt(min(A0.shape)) + 2 * mach.gradient_norm_) / smin
    s = np.linalg.svd(mach.A_, compute_uv=False)
    # numerical rank: singular values above 1e-10 σ_1 (soft-thresholding sets the others
    # to exact zeros; round-off leaves ~1e-16 σ_1)
    rank = int((s > 1e-10 * s[0]).sum())
    return rank, np.linalg.norm(mach.A_ - A0), bound


def test_nuclear_recovers_planted_low_rank(rng):
    X, Y, Z, A0 = planted_problem(rng)
    lam = 1e-2
    mach = PairOperatorMachine(LinearFeatures(), loss="squared", regularizer="nuclear",
                               lam=lam, tol=1e-8).fit(X, Y, Z)
    assert mach.status_ == "optimal"
    rank, err, bound = _recovery(mach, X, Y, A0, lam)
    assert rank == 2
    assert err <= bound, (err, bound)
    s, s0 = np.linalg.svd(mach.A_, compute_uv=False), np.linalg.svd(A0, compute_uv=False)
    assert np.abs(s - s0).max() <= err  # Weyl, with ‖·‖₂ ≤ ‖·‖_F
    # Frobenius regularization on the same data gives a full-rank A (no rank bias)
    mf = PairOperatorMachine(LinearFeatures(), loss="squared", lam=lam).fit(X, Y, Z)
    sf = np.linalg.svd(mf.A_, compute_uv=False)
    assert (sf > 1e-10 * sf[0]).sum() > 2

    # Negative control: shuffled targets carry no bilinear structure -> not recovered
    Zs = rng.permutation(Z.ravel()).reshape(Z.shape)
    ms = PairOperatorMachine(LinearFeatures(), loss="squared", regularizer="nuclear",
                             lam=lam, tol=1e-8).fit(X, Y, Zs)
    rank_s, err_s, bound_s = _recovery(ms, X, Y, A0, lam)
    assert not (rank_s == 2 and err_s <= bound_s), (rank_s, err_s, bound_s)
    assert err_s > 10 * bound_s


# ---------------------------------------------------------------- backends, features
def test_torch_inputs_match_numpy(rng, backend):
    X, Y, P = attention_problem(rng)
    ref = PairOperatorMachine(taylor(), lam=1e-2).fit(X, Y, P)
    got = PairOperatorMachine(taylor(), lam=1e-2).fit(backend(X), backend(Y), backend(P))
    assert isinstance(got.A_, np.ndarray) and got.A_.dtype == np.float64
    # both 2λ-strongly convex solves of one problem: ‖ΔA‖ ≤ (‖g_1‖ + ‖g_2‖)/(2λ)
    bound = (ref.gradient_norm_ + got.gradient_norm_) / (2e-2)
    assert np.linalg.norm(ref.A_ - got.A_) <= bound * (1 + 1e-6) + 1e-13
    out = got.predict(backend(X), backend(Y))
    assert isinstance(out, np.ndarray)


def test_random_features_are_fitted_and_used(rng):
    X, Y, P = attention_problem(rng, d=4)
    f = PositiveRandomFeatures(get_kernel("edp"), 16, seed=0)
    assert not f.fitted
    mach = PairOperatorMachine(f, lam=1e-2).fit(X, Y, P)
    assert f.fitted and mach.A_.shape == (16, 16)
    assert mach.residual_ <= 1e-9
    # decision_function is Φ_X A Φ_Yᵀ with the pair's own transforms (route by hand)
    H = f.transform_x(X) @ mach.A_ @ f.transform_y(Y).T
    np.testing.assert_allclose(mach.decision_function(X, Y), H, rtol=1e-13, atol=1e-13)


def test_predict_per_loss(rng):
    X, Y, P = attention_problem(rng)
    for loss in ("softmax", "squared", "logistic"):
        Z = targets_for(loss, P, rng)
        mach = PairOperatorMachine(taylor(), loss=loss, lam=1e-1).fit(X, Y, Z)
        H, out = mach.decision_function(X, Y), mach.predict(X, Y)
        if loss == "softmax":
            np.testing.assert_allclose(out, softmax_rows(H), rtol=1e-14, atol=1e-15)
        elif loss == "logistic":
            np.testing.assert_allclose(out, 1 / (1 + np.exp(-H)), rtol=1e-14, atol=1e-15)
        else:
            np.testing.assert_array_equal(out, H)


def test_mask_restricts_the_loss(rng):
    """Unobserved pairs do not influence the fit: changing Z there changes nothing."""
    X, Y, P = attention_problem(rng)
    Z = targets_for("squared", P, rng)
    mask = rng.random(Z.shape) < 0.6
    Z2 = np.where(mask, Z, 100.0)
    a = PairOperatorMachine(taylor(), loss="squared", lam=1e-2).fit(X, Y, Z, mask=mask)
    b = PairOperatorMachine(taylor(), loss="squared", lam=1e-2).fit(X, Y, Z2, mask=mask)
    bound = (a.gradient_norm_ + b.gradient_norm_) / 2e-2
    assert np.linalg.norm(a.A_ - b.A_) <= bound * (1 + 1e-6) + 1e-13
    assert np.all(a.coefficients_[~mask] == 0)  # G is zero off Ω
    # and they do matter without the mask (negative control)
    c = PairOperatorMachine(taylor(), loss="squared", lam=1e-2).fit(X, Y, Z2)
    assert np.linalg.norm(a.A_ - c.A_) > 1e3 * bound


def test_plot_coefficients(rng):
    X, Y, P = attention_problem(rng)
    mach = PairOperatorMachine(taylor(), lam=1e-2).fit(X, Y, P)
    fig, axes = plot_coefficients(mach, X, Y, P)
    assert len(axes) == 3
    assert axes[2].images[0].get_array().shape == P.shape
    np.testing.assert_allclose(np.asarray(axes[2].images[0].get_array()), mach.coefficients_)
    assert axes[0].get_xlabel() == "key index j"
    import matplotlib.pyplot as plt

    plt.close(fig)
    nuc = PairOperatorMachine(taylor(), regularizer="lp", p=3.0, lam=1e-2).fit(X, Y, P)
    assert nuc.coefficients_ is None
    with pytest.raises(ValueError, match="Frobenius"):
        plot_coefficients(nuc, X, Y, P)


# -------------------------------------------------------------------- failures
def test_not_converged_warns(rng):
    X, Y, P = attention_problem(rng)
    with pytest.warns(RuntimeWarning, match="residual"):
        m = PairOperatorMachine(taylor(), regularizer="nuclear", lam=1e-3, max_iter=3,
                                on_failure="warn").fit(X, Y, P)
    assert m.status_ == "not_converged" and m.residual_ > m.tol
    # the default policy of every machine: raise, naming the status and the residual
    from rkbs.machines import SolverError

    with pytest.raises(SolverError, match=r"status 'not_converged' at residual [0-9.e+-]+"):
        PairOperatorMachine(taylor(), regularizer="nuclear", lam=1e-3, max_iter=3).fit(X, Y, P)
    with pytest.raises(ValueError, match="on_failure must be"):
        PairOperatorMachine(taylor(), on_failure="ignore")


def test_cvxpy_non_optimal_status_raises(rng):
    X, Y, P = attention_problem(rng)
    mach = PairOperatorMachine(taylor(), solver="scs", lam=1e-2, max_iter=2)
    with pytest.raises(SolverError, match="status"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mach.fit(X, Y, P)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lam": 0.0}, "lam"),
        ({"lam": -1.0}, "lam"),
        ({"regularizer": "lp", "p": 1.0}, "p"),
        ({"regularizer": "lp", "p": math.inf}, "p"),
        ({"regularizer": "lp", "p": 0.5}, "p"),
        ({"loss": "hinge"}, "loss"),
        ({"regularizer": "l1"}, "regularizer"),
        ({"solver": "mosek"}, "solver"),
        ({"tol": 0.0}, "tol"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PairOperatorMachine(taylor(), **kwargs)


def test_bad_features():
    with pytest.raises(ValueError, match="FeaturePair"):
        PairOperatorMachine(get_kernel("edp"))


def test_bad_data(rng):
    X, Y, P = attention_problem(rng)
    m = PairOperatorMachine(taylor())
    with pytest.raises(ValueError, match="Z must have shape"):
        m.fit(X[:-1], Y, P)
    with pytest.raises(ValueError, match="Z must have shape"):
        m.fit(X, Y[:-1], P)
    with pytest.raises(ValueError, match="mask shape"):
        m.fit(X, Y, P, mask=np.ones((2, 2), bool))
    bad = P.copy()
    bad[0] *= 1.1
    with pytest.raises(ValueError, match="sum"):
        m.fit(X, Y, bad)
    nan = P.copy()
    nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        m.fit(X, Y, nan)
    with pytest.raises(ValueError, match="batched"):
        m.fit(X[None], Y, P)
    with pytest.raises(ValueError, match=r"\(m, d\) or \(S, m, d\)"):
        m.fit(X[0], Y, P)
    with pytest.raises(ValueError, match="not fitted"):
        m.decision_function(X, Y)
    with pytest.raises(ValueError, match="logistic targets"):
        PairOperatorMachine(taylor(), loss="logistic").fit(X, Y, P)


# --------------------------------------------------- Newton direction, two routes
@pytest.mark.parametrize(("loss", "reg", "p"), [("softmax", "frobenius", 2.0),
                                                ("squared", "lp", 3.0),
                                                ("logistic", "lp", 1.5)])
def test_woodbury_newton_direction_equals_dense_hessian(rng, loss, reg, p):
    """The Woodbury Newton direction equals a dense solve with the Hessian assembled
    column by column from Hessian-vector products (an independent route)."""
    torch = pytest.importorskip("torch")
    from rkbs.machines.pair_operator_solvers import _woodbury_direction

    X, Y, P = attention_problem(rng, m=5, n=4, d=2, S=2)
    Z = targets_for(loss, P, rng)
    mask = rng.random(Z.shape) < 0.8
    mask[..., 0] = True
    Z = np.where(mask, Z, 0.0)
    if loss == "softmax":
        Z = Z / Z.sum(-1, keepdims=True)
    mach = PairOperatorMachine(taylor(), loss=loss, regularizer=reg, p=p, lam=0.1)
    prob, _ = mach._problem(X, Y, Z, mask)
    Dx, Dy = prob.shape
    A = torch.as_tensor(rng.normal(size=(Dx, Dy)))
    _, gL, H, _ = prob.loss_and_grad(A)
    g = gL + prob.lam * prob.reg_grad(A)
    Hd = np.stack([prob.hvp(A, H, torch.as_tensor(e.reshape(Dx, Dy))).numpy().ravel()
                   for e in np.eye(Dx * Dy)], axis=1)
    assert np.abs(Hd - Hd.T).max() <= 1e-12 * np.abs(Hd).max()  # the HVP is symmetric
    d_ref = np.linalg.solve(Hd, -g.numpy().ravel())
    d_w = _woodbury_direction(prob, A, H, g).numpy().ravel()
    # backward-stable solves: relative error ≤ c · cond(H) · eps, c = 100 for two routes
    tol = 100 * np.linalg.cond(Hd) * EPS * np.linalg.norm(d_ref)
    assert np.linalg.norm(d_w - d_ref) <= tol, (np.linalg.norm(d_w - d_ref), tol)
    # negative control: dropping the loss-curvature term changes the direction
    assert np.linalg.norm(-g.numpy().ravel() / np.diag(Hd) - d_ref) > 1e3 * tol


def test_cuda_path_matches_cpu(rng):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    X, Y, P = attention_problem(rng)
    cpu = PairOperatorMachine(taylor(), lam=1e-2).fit(X, Y, P)
    gpu = PairOperatorMachine(taylor(), lam=1e-2, device="cuda").fit(X, Y, P)
    assert gpu.residual_ <= 1e-9
    bound = (cpu.gradient_norm_ + gpu.gradient_norm_) / 2e-2  # 2λ-strong convexity
    assert np.linalg.norm(cpu.A_ - gpu.A_) <= bound * (1 + 1e-6) + 1e-13
