"""The binary-machine losses (theory §3) against references computed another way:
scipy's logsumexp/softmax/logaddexp, central finite differences, and cvxpy's own
evaluation of the DCP expressions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from rkbs.machines import (
    check_loss_targets,
    loss_cvxpy,
    loss_gradient,
    loss_value,
    masked_row_softmax,
)

M_, N_ = 5, 6


def _targets(loss, rng, mask=None):
    Z = rng.standard_normal((M_, N_))
    if loss == "logistic":
        return np.where(Z >= 0, 1.0, -1.0)
    if loss == "softmax":
        E = np.exp(Z) * (1.0 if mask is None else mask)
        return E / E.sum(1, keepdims=True)
    return Z


def _reference_value(loss, Z, A, mask):
    if loss == "squared":
        return 0.5 * np.sum(((Z - A) ** 2)[mask])
    if loss == "logistic":
        return np.sum(np.logaddexp(0.0, -Z * A)[mask])
    return sum(special.logsumexp(A[i, mask[i]]) - Z[i, mask[i]] @ A[i, mask[i]]
               for i in range(A.shape[0]) if mask[i].any())


@pytest.fixture(params=[False, True], ids=["all pairs", "masked"])
def mask(request, rng):
    if not request.param:
        return np.ones((M_, N_), bool)
    m = rng.random((M_, N_)) > 0.35
    m[:, 0] = True  # every row observed somewhere
    return m


@pytest.mark.parametrize("loss", ["squared", "logistic", "softmax"])
def test_value_gradient_and_cvxpy_agree_with_references(loss, mask, rng):
    import cvxpy as cp

    A = 2.0 * rng.standard_normal((M_, N_))
    Z = _targets(loss, rng, mask)
    Z, M = check_loss_targets(loss, Z, mask)
    ref = _reference_value(loss, Z, A, mask)
    # same sums in another order: agreement to a few ulps of the total (30 terms)
    assert abs(loss_value(loss, Z, A, M) - ref) <= 1e-13 * max(1.0, abs(ref))
    # central differences, h = 1e-5: truncation h²|ℓ'''|/6 ≲ 1e-10, round-off
    # eps·|L|/h ≲ 1e-10 here; 1e-7 leaves a factor ≥ 100
    G = loss_gradient(loss, Z, A, M)
    h, fd = 1e-5, np.zeros_like(A)
    for i in range(M_):
        for j in range(N_):
            Ap, Am = A.copy(), A.copy()
            Ap[i, j] += h
            Am[i, j] -= h
            fd[i, j] = (loss_value(loss, Z, Ap, M) - loss_value(loss, Z, Am, M)) / (2 * h)
    assert np.max(np.abs(G - fd)) <= 1e-7
    assert np.all(G[~mask] == 0.0)
    # cvxpy evaluates its DCP expression at the same point (its own atoms)
    var = cp.Variable((M_, N_))
    var.value = A
    assert abs(loss_cvxpy(loss, Z, var, mask).value - ref) <= 1e-12 * max(1.0, abs(ref))


def test_masked_row_softmax_matches_scipy_on_observed_entries(mask, rng):
    A = 3.0 * rng.standard_normal((M_, N_))
    mask = mask.copy()
    mask[2] = False  # a row with nothing observed
    P = masked_row_softmax(A, mask)
    for i in range(M_):
        if mask[i].any():
            np.testing.assert_allclose(P[i, mask[i]], special.softmax(A[i, mask[i]]),
                                       rtol=1e-14, atol=1e-16)
    assert np.all(P[~mask] == 0.0) and np.all(P[2] == 0.0)


def test_unmasked_softmax_gradient_fails_the_finite_difference_check(rng):
    """Negative control: π − P with π taken over *all* columns is not the gradient of the
    masked loss, and the finite-difference check above detects it."""
    mask = rng.random((M_, N_)) > 0.35
    mask[:, 0] = True
    A = 2.0 * rng.standard_normal((M_, N_))
    Z, M = check_loss_targets("softmax", _targets("softmax", rng, mask), mask)
    wrong = np.where(mask, special.softmax(A, axis=1) - Z, 0.0)
    right = loss_gradient("softmax", Z, A, M)
    assert np.max(np.abs(wrong - right)) > 1e-3


@pytest.mark.parametrize("loss", ["squared", "logistic", "softmax"])
def test_numpy_torch_parity(loss, rng):
    torch = pytest.importorskip("torch")
    A = rng.standard_normal((2, M_, N_))  # a batch axis, as the pair operator uses
    Z = np.stack([_targets(loss, rng), _targets(loss, rng)])
    vn, gn = loss_value(loss, Z, A), loss_gradient(loss, Z, A)
    vt = loss_value(loss, torch.as_tensor(Z), torch.as_tensor(A))
    gt = loss_gradient(loss, torch.as_tensor(Z), torch.as_tensor(A))
    assert abs(float(vt) - vn) <= 1e-13 * max(1.0, abs(vn))
    np.testing.assert_allclose(gt.numpy(), gn, rtol=1e-13, atol=1e-15)


def test_bad_targets(rng):
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        check_loss_targets("hinge", np.zeros((2, 2)))
    with pytest.raises(ValueError, match="logistic targets must be \\+1 or -1"):
        check_loss_targets("logistic", np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="rows of probabilities summing to 1"):
        check_loss_targets("softmax", np.full((2, 3), 0.5))
    with pytest.raises(ValueError, match="non-negative"):
        check_loss_targets("softmax", np.array([[1.5, -0.5]]))
    with pytest.raises(ValueError, match="mask shape \\(2, 3\\) does not match Z shape"):
        check_loss_targets("squared", np.zeros((2, 2)), np.ones((2, 3), bool))
    with pytest.raises(ValueError, match="selects no observed pair"):
        check_loss_targets("squared", np.zeros((2, 2)), np.zeros((2, 2), bool))
    with pytest.raises(ValueError, match="NaN"):
        check_loss_targets("squared", np.array([[np.nan, 0.0]]))


def test_predict_from_scores():
    from rkbs.machines import predict_from_scores

    H = np.array([[-1000.0, -2.0, 0.0, 3.0, 1000.0]])
    np.testing.assert_array_equal(predict_from_scores("squared", H), H)
    sig = predict_from_scores("logistic", H)
    assert np.all(np.isfinite(sig)) and sig[0, 0] == 0.0 and sig[0, -1] == 1.0
    np.testing.assert_allclose(sig[0, 1:4], 1.0 / (1.0 + np.exp(-H[0, 1:4])), rtol=1e-15)
    P = predict_from_scores("softmax", H)
    assert P[0].sum() == pytest.approx(1.0, abs=1e-15) and P[0, -1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown loss"):
        predict_from_scores("hinge", H)


@pytest.mark.parametrize("loss", ["squared", "logistic", "softmax"])
def test_loss_curvature_is_the_derivative_of_the_gradient(loss):
    """ℓ'' against central differences of loss_gradient in the same entry; h = 1e-5 gives
    truncation h²|ℓ''''| ≲ 1e-10 and round-off eps/h ≈ 2e-11, so 1e-8 is safe."""
    from rkbs.machines import loss_curvature

    rng = np.random.default_rng(0)
    A = rng.normal(size=(3, 4)) * 2
    Z = {"squared": rng.normal(size=(3, 4)), "logistic": np.sign(rng.normal(size=(3, 4))),
         "softmax": special.softmax(rng.normal(size=(3, 4)), axis=1)}[loss]
    mask = np.ones((3, 4), bool)
    mask[0, 1] = False
    if loss == "softmax":
        Z = np.where(mask, Z, 0.0)
        Z /= Z.sum(1, keepdims=True)
    h, fd = 1e-5, np.zeros_like(A)
    for i, j in np.ndindex(*A.shape):
        E = np.zeros_like(A)
        E[i, j] = h
        fd[i, j] = (loss_gradient(loss, Z, A + E, mask)[i, j]
                    - loss_gradient(loss, Z, A - E, mask)[i, j]) / (2 * h)
    curv = loss_curvature(loss, Z, A, mask)
    np.testing.assert_allclose(curv, fd, atol=1e-8)
    assert curv[0, 1] == 0.0
    # negative control: a curvature missing a factor (σ instead of σ(1 − σ), 2 for 1, π for
    # π(1 − π)) is rejected by the same comparison
    wrong = {"squared": 2 * curv,
             "logistic": 1.0 / (1.0 + np.exp(-np.abs(A))) * mask,
             "softmax": special.softmax(np.where(mask, A, -np.inf), axis=1)}[loss]
    assert np.abs(wrong - fd).max() > 1e-3
    big = loss_curvature(loss, Z, 1000.0 * np.sign(A), mask)  # no overflow
    assert np.all(np.isfinite(big))


# ------------------------------------------------------------ loss objects
def test_every_registered_loss_declares_consistent_derivatives():
    """check_loss holds each registered loss's gradient, Hessian-vector product, Hessian
    root and cvxpy form against its value by another route (finite differences, dense
    products). Tolerance 1e-6: central differences with h = 1e-5 err by O(h²) ≈ 1e-10
    relative plus O(eps/h) ≈ 1e-11."""
    from rkbs.machines.losses import check_loss, loss_names

    assert set(loss_names()) >= {"squared", "logistic", "softmax"}
    for name in loss_names():
        r = check_loss(name, seed=3)
        assert max(r["gradient"], r["hvp"], r["root"], r["cvxpy"]) <= 1e-6, (name, r)
        assert r["bound_ratio"] <= 1.0 + 1e-12, (name, r)


def test_check_loss_catches_a_wrong_loss():
    """Negative control: a loss whose declared curvature is off by a factor 2 (and whose
    bound is too small) must be caught."""
    from rkbs.machines.losses import SquaredLoss, check_loss

    class WrongSquared(SquaredLoss):
        name = "wrong-squared"
        curvature_bound = 0.5

        def d2(self, Z, A):
            return 2.0 * super().d2(Z, A)

    r = check_loss(WrongSquared())
    assert r["hvp"] > 0.1 and r["bound_ratio"] > 1.0
    assert r["gradient"] <= 1e-6  # the value and gradient are still right


def test_registry_and_wrappers():
    from rkbs.machines import Loss, get_loss, register_loss
    from rkbs.machines.losses import _REGISTRY, SquaredLoss

    assert get_loss("softmax").name == "softmax"
    sq = SquaredLoss()
    assert get_loss(sq) is sq
    with pytest.raises(ValueError, match="unknown loss 'nosuch'; valid losses: squared"):
        get_loss("nosuch")
    with pytest.raises(ValueError, match="already registered"):
        register_loss(SquaredLoss())
    with pytest.raises(TypeError, match="Loss instance"):
        register_loss("squared")

    class Unnamed(Loss):
        pass

    with pytest.raises(ValueError, match="non-empty string"):
        register_loss(Unnamed())
    assert "nosuch" not in _REGISTRY
