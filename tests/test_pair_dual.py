"""The pair-operator machine in representer coordinates (rkbs.machines.pair_dual)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rkbs.attention.compare import (  # noqa: E402
    compare_head,
    comparison_features,
    planted_bilinear,
)
from rkbs.attention.kernel_attention import TruncatedEDPKernel  # noqa: E402
from rkbs.features import TaylorFeatures  # noqa: E402
from rkbs.kernels import EDPKernel  # noqa: E402
from rkbs.machines import DualPairOperatorMachine, PairOperatorMachine, side_kernels  # noqa: E402
from rkbs.machines.pair_operator_solvers import score_kernel_matrix  # noqa: E402

LAM = 1e-2


@pytest.fixture(scope="module")
def planted():
    return planted_bilinear(n_seq=12, m=6, n=6, dim=4, seed=0)


def _primal_gradient(mach: PairOperatorMachine, X, Y, Z, A):
    """‖∇F(A)‖_F of the primal problem of ``mach`` at A (numpy)."""
    prob, _ = mach._problem(X, Y, Z, None)
    At = torch.as_tensor(A, dtype=torch.float64)
    _, gL, _, _ = prob.loss_and_grad(At)
    return float((gL + LAM * prob.reg_grad(At)).norm())


@pytest.mark.parametrize("label,loss", [("linear", "softmax"), ("poly2", "softmax"),
                                        ("prf16", "softmax"), ("poly2", "squared"),
                                        ("poly2", "logistic")])
def test_dual_equals_primal(planted, label, loss):
    X, Y, P, *_ = planted
    Z = {"softmax": P, "squared": 3.0 * P, "logistic": np.sign(P - P.mean())}[loss]
    feats = comparison_features(4, taylor_degrees=(), prf_dims=(16,), seed=0)[label]
    prim = PairOperatorMachine(feats, loss=loss, lam=LAM, tol=1e-11).fit(X, Y, Z)
    dual = DualPairOperatorMachine(feats, loss=loss, lam=LAM, tol=1e-11).fit(X, Y, Z)
    assert dual.status_ in ("optimal", "round_off_floor")
    A_d = dual.operator()
    # F is 2λ-strongly convex, so ‖A − A*‖_F ≤ ‖∇F(A)‖_F/(2λ) for each solution: the two
    # solutions are within the sum of these bounds (plus round-off of forming A_d, 1e-12)
    bound = (_primal_gradient(prim, X, Y, Z, prim.A_)
             + _primal_gradient(prim, X, Y, Z, A_d)) / (2 * LAM)
    assert np.linalg.norm(prim.A_ - A_d) <= bound + 1e-12
    assert bound < 1e-6  # both solves are certificate-grade, so the check is not vacuous
    assert dual.objective_ == pytest.approx(prim.objective_, rel=1e-10)
    Hp, Hd = prim.decision_function(X[:3], Y[:3]), dual.decision_function(X[:3], Y[:3])
    np.testing.assert_allclose(Hd, Hp, atol=1e-8 * np.abs(Hp).max())
    np.testing.assert_allclose(dual.predict(X[:3], Y[:3]), prim.predict(X[:3], Y[:3]),
                               atol=1e-8)


def test_representer_fixed_point_and_negative_control(planted):
    """At the optimum H = −𝒦G(H)/(2λ); a 1e-4 perturbation of C breaks it."""
    X, Y, P, *_ = planted
    kern = EDPKernel(dim=4)
    mach = DualPairOperatorMachine(kern, lam=LAM, tol=1e-11).fit(X, Y, P)
    kx, ky = side_kernels(kern)
    Xt, Yt = torch.as_tensor(X), torch.as_tensor(Y)
    S, m, d = X.shape
    n = Y.shape[1]
    GX = kx(Xt.reshape(S * m, d), Xt.reshape(S * m, d)).reshape(S, m, S, m)
    GY = ky(Yt.reshape(S * n, d), Yt.reshape(S * n, d)).reshape(S, n, S, n)
    K = score_kernel_matrix(GX, GY).numpy()

    def fixed_point(C):
        H = (K @ C.ravel()).reshape(C.shape)
        E = np.exp(H - H.max(-1, keepdims=True))
        G = E / E.sum(-1, keepdims=True) - P
        KG = (K @ G.ravel()).reshape(C.shape)
        return np.linalg.norm(H + KG / (2 * LAM)) / (np.linalg.norm(H)
                                                     + np.linalg.norm(KG / (2 * LAM)))

    C = mach.coef_
    # independent recomputation in numpy: at the solver's level (≤ 1e-11 or its floor)
    assert fixed_point(C) <= max(1e-10, 10 * mach.residual_)
    # the scores the machine predicts on its training maps are 𝒦C
    np.testing.assert_allclose(mach.decision_function(X, Y),
                               (K @ C.ravel()).reshape(C.shape), rtol=1e-10, atol=1e-10)
    pert = C + 1e-4 * np.random.default_rng(0).standard_normal(C.shape) * np.abs(C).max()
    assert fixed_point(pert) > 1e-6


def test_implicit_taylor_kernel_equals_taylor_features(planted):
    X, Y, P, *_ = planted
    feat = DualPairOperatorMachine(TaylorFeatures(EDPKernel(dim=4), degree=3), lam=LAM,
                                   tol=1e-11).fit(X, Y, P)
    kern = DualPairOperatorMachine(TruncatedEDPKernel(dim=4, degree=3), lam=LAM,
                                   tol=1e-11).fit(X, Y, P)
    # the Gram matrices agree to round-off (Horner vs features, 1e-15 relative), and the
    # solves to ≤ 1e-11: scores agree to ~1e-9 of their size
    Hf, Hk = feat.decision_function(X, Y), kern.decision_function(X, Y)
    np.testing.assert_allclose(Hk, Hf, atol=1e-9 * np.abs(Hf).max())


def test_exact_edp_is_the_limit_of_taylor_truncations(planted):
    """Small states (|u| ≤ 0.3): the degree-12 truncation equals EDP to 1e-16 relative, so
    the machines agree to solver accuracy; degree 1 does not (negative control)."""
    X, Y, P, *_ = planted
    Xs, Ys = 0.15 * X, 0.15 * Y
    u = np.abs(np.einsum("smd,snd->smn", Xs, Ys)).max() / 2.0  # √dim = 2
    assert u < 0.3  # remainder ≤ e^u u^13/13! < 1e-16
    ex = DualPairOperatorMachine(EDPKernel(dim=4), lam=LAM, tol=1e-11).fit(Xs, Ys, P)
    He = ex.decision_function(Xs, Ys)
    errs = {}
    for N in (1, 2, 4, 12):
        tk = DualPairOperatorMachine(TruncatedEDPKernel(dim=4, degree=N), lam=LAM,
                                     tol=1e-11).fit(Xs, Ys, P)
        errs[N] = np.abs(tk.decision_function(Xs, Ys) - He).max() / np.abs(He).max()
    assert errs[12] < 1e-8
    assert errs[1] > 1e-3 and errs[1] > errs[2] > errs[4] > errs[12]


def test_side_kernels_are_mercer_while_the_kernel_is_not():
    rng = np.random.default_rng(0)
    Wq, Wk = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    kern = EDPKernel(Wq, Wk)
    X = torch.as_tensor(rng.normal(size=(20, 5)))
    K = kern(X, X).numpy()
    assert np.linalg.norm(K - K.T) > 0.1 * np.linalg.norm(K)  # asymmetric binary kernel
    for k in side_kernels(kern):
        G = k(X, X).numpy()
        np.testing.assert_allclose(G, G.T, rtol=1e-14)
        ev = np.linalg.eigvalsh(G)
        assert ev.min() >= -1e-12 * ev.max()
    with pytest.raises(ValueError, match="FeaturePair or a BinaryKernel"):
        side_kernels(np.eye(3))


def test_bad_input_and_not_converged(planted):
    X, Y, P, *_ = planted
    mach = DualPairOperatorMachine(EDPKernel(dim=4), lam=LAM)
    with pytest.raises(ValueError, match="not fitted"):
        mach.decision_function(X, Y)
    with pytest.raises(ValueError, match="unknown loss"):
        DualPairOperatorMachine(EDPKernel(dim=4), loss="hinge")
    with pytest.raises(ValueError, match="lam"):
        DualPairOperatorMachine(EDPKernel(dim=4), lam=0.0)
    with pytest.raises(ValueError, match="must have shape"):
        mach.fit(X, Y, P[:, :3])
    with pytest.raises(ValueError, match="all unbatched"):
        mach.fit(X[0], Y, P)
    mach.fit(X, Y, P)
    with pytest.raises(ValueError, match="explicit features"):
        mach.operator()
    with pytest.warns(RuntimeWarning, match="at residual"):
        m1 = DualPairOperatorMachine(EDPKernel(dim=4), lam=LAM, max_iter=1,
                                     on_failure="warn").fit(X, Y, P)
    assert m1.status_ == "not_converged"
    from rkbs.machines import SolverError

    with pytest.raises(SolverError, match="status 'not_converged' at residual"):
        DualPairOperatorMachine(EDPKernel(dim=4), lam=LAM, max_iter=1).fit(X, Y, P)


def test_compare_head_dual_matches_primal_and_selects_lambda(planted):
    X, Y, P, A, Wq, Wk = planted_bilinear(n_seq=30, m=6, n=6, dim=4, seed=1)
    feats = comparison_features(4, taylor_degrees=(2,), prf_dims=(), poly_degree=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        prim = compare_head(X, Y, P, maps=(Wq, Wk), features=feats, n_train=15, n_val=5,
                            lam=1e-2, tol=1e-10)
        dual = compare_head(X, Y, P, maps=(Wq, Wk), features=feats, n_train=15, n_val=5,
                            lam=1e-2, tol=1e-10, solver="dual")
    # both solves stop at residual ≤ 1e-10, so A differs by ≤ ~1e-10/(2λ) = 5e-9 relative
    # (strong convexity): held-out KL and the cosine move by the same order; 1e-6 relative
    # (KL) and 1e-8 absolute (cosine) leave room for the conditioning of the held-out maps
    for rp, rd in zip(prim["rows"], dual["rows"]):
        assert rp["label"] == rd["label"]
        assert rd["kl"] == pytest.approx(rp["kl"], rel=1e-6, abs=1e-12)
    assert dual["alignment"]["cosine"] == pytest.approx(prim["alignment"]["cosine"], abs=1e-8)
    grid = compare_head(X, Y, P, features={"edp": EDPKernel(dim=4)}, n_train=15, n_val=5,
                        lam=(1e-3, 1e-1, 10.0), solver="dual")
    row = grid["rows"][0]
    assert row["n_features"] == "inf" and row["lam"] in (1e-3, 1e-1, 10.0)
    # the selected λ has the lowest validation KL of the grid
    for lam in (1e-3, 1e-1, 10.0):
        one = compare_head(X, Y, P, features={"edp": EDPKernel(dim=4)}, n_train=15, n_val=5,
                           lam=lam, solver="dual")["rows"][0]
        assert row["val_kl"] <= one["val_kl"] + 1e-12
    with pytest.raises(ValueError, match="n_val"):
        compare_head(X, Y, P, features=feats, lam=(1e-3, 1e-2))
    with pytest.raises(ValueError, match="Frobenius"):
        from rkbs.attention.compare import fit_head

        fit_head(feats["linear"], X, Y, P, regularizer="nuclear", solver="dual")


def test_auto_solver_picks_by_size(planted, monkeypatch):
    import rkbs.machines.select as select

    X, Y, P, *_ = planted  # 12 maps of 6 x 6: 432 scores
    feats = comparison_features(4, taylor_degrees=(), prf_dims=(), poly_degree=2)
    feats["edp"] = EDPKernel(dim=4)
    feats["big"] = TaylorFeatures(EDPKernel(dim=4), degree=4)  # D = 70, D² = 4900
    # the rule at a small cap: D² = 4900 above it goes to the dual, poly2 (D² = 225) not
    monkeypatch.setattr(select, "PRIMAL_MAX_UNKNOWNS", 1000)
    res = compare_head(X, Y, P, features=feats, n_train=8, solver="auto")
    kinds = {k: type(m).__name__ for k, m in res["machines"].items()}
    assert kinds == {"linear": "PairOperatorMachine", "poly2": "PairOperatorMachine",
                     "edp": "DualPairOperatorMachine", "big": "DualPairOperatorMachine"}
