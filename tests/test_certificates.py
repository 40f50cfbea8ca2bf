"""Representer certificates: pass on optima, fail on every negative control; vacuous; p = 1."""

from __future__ import annotations

import numpy as np
import pytest

from rkbs.features import TaylorFeatures
from rkbs.kernels import EDPKernel
from rkbs.machines import BinaryKernelMachine
from rkbs.verify import certify, certify_point, p1_counterexample


def data(seed=0, m=12, n=9, d=3, degree=3):
    rng = np.random.default_rng(seed)
    k = EDPKernel(W_Q=rng.standard_normal((d, d)), W_K=rng.standard_normal((d, d)))
    return (TaylorFeatures(k, degree=degree), rng.standard_normal((m, d)),
            rng.standard_normal((n, d)), rng.standard_normal((m, n)))


@pytest.mark.parametrize("p,coupling", [(1.5, "additive"), (3.0, "additive"),
                                        (1.25, "product")])
def test_certificate_passes_on_optimum_and_controls_fail(p, coupling):
    F, X, Y, Z = data()
    m = BinaryKernelMachine(F, p=p, coupling=coupling, lam_x=0.1, lam_y=0.2, seed=0).fit(X, Y, Z)
    cert = certify(m, negative_controls=True)
    assert cert.status == "certified", [r for r in cert.rows if not r.passed]
    parts = ("span residual", "coefficients", "function space", "reconstruction", "KKT")
    optimum = [r for r in cert.rows if "[" not in r.setting]
    for part in parts:  # every part present and passing on the optimum
        assert any(part in r.setting and r.passed and not r.negative_control for r in optimum)
    for tag in ("perturbed", "0.9·optimum"):
        neg = [r for r in cert.rows if tag in r.setting and r.negative_control]
        # each part except the (scale-invariant) span at 0.9·w* is a negative control that fails
        expected = parts if tag == "perturbed" else parts[1:]
        for part in expected:
            rows = [r for r in neg if part in r.setting]
            assert rows and all(r.passed for r in rows), (tag, part, rows)
            assert all(r.measured > r.tolerance for r in rows)
    # the whole certificate rejects the perturbed point, and no part is asked to resolve a
    # perturbation finer than its own tolerance
    whole = [r for r in cert.rows if "whole certificate" in r.setting]
    assert len(whole) == 1 and whole[0].negative_control and whole[0].passed
    assert whole[0].measured > 1.0
    assert all(r.tolerance < 1e-4 for r in cert.rows
               if r.negative_control and "[perturbed" in r.setting and r is not whole[0])


def test_part_coarser_than_the_perturbation_is_not_a_negative_control():
    """A perturbation below a part's resolution must not be demanded of that part: with a
    perturbation of 1 (relative), every part resolves it; with 1e-9, none of the
    reconstruction/function-space parts can, and only the whole-certificate row is a
    control for them. The whole certificate must still reject the 1e-9 point through its
    KKT/coefficient parts, whose tolerances follow the (1e-12-level) solver residual."""
    F, X, Y, Z = data()
    m = BinaryKernelMachine(F, p=1.5, lam_x=0.1, lam_y=0.2, seed=0).fit(X, Y, Z)
    coarse = certify(m, negative_controls=True, perturbation=1e-9)
    pert = [r for r in coarse.rows if "[perturbed" in r.setting and r.negative_control]
    assert all(r.tolerance < 1e-9 or "whole certificate" in r.setting for r in pert)
    whole = [r for r in pert if "whole certificate" in r.setting]
    assert len(whole) == 1 and whole[0].passed


def test_vacuous_when_features_span_everything():
    # D = C(3+1, 1) = 4 ≤ m = 12: rank Φ_X = D, the span part carries no information
    F, X, Y, Z = data(degree=1)
    m = BinaryKernelMachine(F, p=1.5, lam_x=0.1, lam_y=0.2).fit(X, Y, Z)
    cert = certify(m)
    assert cert.status == "vacuous"
    vac = [r for r in cert.rows if "VACUOUS" in r.note]
    assert vac and not any(r.passed for r in vac)


def test_certificate_tolerance_follows_accuracy():
    F, X, Y, Z = data()
    m = BinaryKernelMachine(F, p=1.5, lam_x=0.1, lam_y=0.2).fit(X, Y, Z)
    tight = certify_point(m, m.w_, m.v_)
    loose = certify_point(m, m.w_, m.v_, accuracy={"x": 1e-4, "y": 1e-4, "joint": 1e-4})
    for a, b in zip(tight.rows, loose.rows):
        assert b.tolerance >= a.tolerance
    # a cvxpy answer without polish (residual ~1e-5) is certified against its own accuracy
    raw = BinaryKernelMachine(F, p=1.5, lam_x=0.1, lam_y=0.2, polish=False).fit(X, Y, Z)
    assert raw.residual_ > 1e-9
    assert certify(raw).status == "certified"


def test_p1_counterexample():
    F, X, _, Z = data()
    rows, info = p1_counterexample(F, X, Z[:, :3], lam=0.5)
    assert all(r.passed for r in rows), [r for r in rows if not r.passed]
    assert np.linalg.norm(info["w1"] - info["w2"]) > 1e-2 * np.linalg.norm(info["w1"])
    with pytest.raises(ValueError, match="1 < p < inf"):
        certify(info["machine"])


# ------------------------------------------------------------- pair operators
def _pair_data(seed=0, S=3, m=8, n=8, d=3):
    from rkbs.verify import binary_targets

    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((S, m, d)), rng.standard_normal((S, n, d))
    P = np.stack([binary_targets("softmax", m, n, rng) for _ in range(S)])
    return X, Y, P


@pytest.mark.parametrize("which", ["primal", "dual-features", "dual-kernel"])
def test_pair_certificate_passes_at_optimum_and_catches_perturbation(which):
    """Representer form of the pair operator, A* = −Σ Φ_Xᵀ G Φ_Y/(2λ), through the public
    protocol on every pair machine; the perturbed optimum (1e-4 relative) must fail both
    parts (their tolerances, from the solver residual ≲ 1e-12, sit near 1e-11)."""
    from rkbs.kernels import EDPKernel
    from rkbs.machines import DualPairOperatorMachine, PairOperatorMachine

    X, Y, P = _pair_data()
    F = TaylorFeatures(EDPKernel(), degree=2)  # D = 10 per side
    mach = {"primal": lambda: PairOperatorMachine(F, lam=0.1),
            "dual-features": lambda: DualPairOperatorMachine(F, lam=0.1),
            "dual-kernel": lambda: DualPairOperatorMachine(EDPKernel(), lam=0.1)}[which]()
    mach.fit(X, Y, P)
    cert = certify(mach, negative_controls=True)
    assert cert.status == "certified", [(r.setting, r.measured, r.tolerance) for r in cert.rows]
    neg = [r for r in cert.rows if r.negative_control]
    assert len(neg) == 2 and all(r.measured > r.tolerance for r in neg)
    assert all(r.measured <= r.tolerance for r in cert.rows if not r.negative_control)


def test_pair_certificate_fails_on_a_wrong_lambda():
    """Negative control of the formula itself: C̃ = −G/(2λ) with a λ off by 1 % must not
    reproduce the fitted scores."""
    import copy

    from rkbs.kernels import EDPKernel
    from rkbs.machines import PairOperatorMachine

    X, Y, P = _pair_data(1)
    mach = PairOperatorMachine(TaylorFeatures(EDPKernel(), degree=2), lam=0.1).fit(X, Y, P)
    wrong = copy.copy(mach)
    wrong.lam = 0.101
    cert = certify(wrong)
    assert cert.status == "failed"
    assert all(r.measured > r.tolerance for r in cert.rows)


@pytest.mark.parametrize("make", ["binary", "pair", "dual"])
def test_certify_unfitted_machine_says_call_fit(make):
    from rkbs.kernels import EDPKernel
    from rkbs.machines import BinaryKernelMachine, DualPairOperatorMachine, PairOperatorMachine

    F = TaylorFeatures(EDPKernel(), degree=2)
    mach = {"binary": lambda: BinaryKernelMachine(F),
            "pair": lambda: PairOperatorMachine(F),
            "dual": lambda: DualPairOperatorMachine(F)}[make]()
    with pytest.raises(ValueError, match=r"not fitted: call fit\(X, Y, Z\)"):
        certify(mach)


def test_pair_certificate_needs_frobenius():
    from rkbs.kernels import EDPKernel
    from rkbs.machines import PairOperatorMachine

    X, Y, P = _pair_data(2)
    mach = PairOperatorMachine(TaylorFeatures(EDPKernel(), degree=1), regularizer="nuclear",
                               lam=0.1, tol=1e-6).fit(X, Y, P)
    with pytest.raises(ValueError, match="regularizer='nuclear'"):
        certify(mach)
