"""Resource guards, messages users expect, scikit-learn parameters of feature pairs.

Sizes are checked before allocating (rkbs._checks.check_allocation); the two cases of
the issue (Taylor degree 30 on d = 16, ``prf100000000``) must be refused with a message
that states the bytes needed and the free memory.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from rkbs import (
    EDPKernel,
    HyperbolicRandomFeatures,
    LinearFeatures,
    NystromFeatures,
    PolynomialFeatures,
    PolynomialKernel,
    PositiveRandomFeatures,
    RandomFourierFeatures,
    RandomMaclaurinFeatures,
    RBFKernel,
    TaylorFeatures,
    TensorSketchFeatures,
    TrigonometricRandomFeatures,
    get_kernel,
)
from rkbs._backend import available_devices, check_device
from rkbs._checks import (
    available_memory,
    check_allocation,
    format_bytes,
    format_number,
    memory_limit,
)

NEED = r"would need .* of memory, more than"


# ------------------------------------------------------------------- the guard
def test_check_allocation_limits():
    assert check_allocation(1000, "x", max_memory=1000) == 1000
    with pytest.raises(ValueError, match=r"the thing would need 1 kB of memory, more than "
                                         r"max_memory \(999 B"):
        check_allocation(1001, "the thing", max_memory=999)
    with memory_limit(500):
        with pytest.raises(ValueError, match="memory_limit"):
            check_allocation(501, "y")
        assert check_allocation(501, "y", max_memory=math.inf) == 501  # argument wins
    assert check_allocation(501, "y") == 501  # limit restored
    for bad in (0, -1, float("nan"), "1GB", True):
        with pytest.raises(ValueError, match="max_memory"):
            check_allocation(1, "z", max_memory=bad)


def test_available_memory_reads_the_machine():
    free = available_memory()
    assert free is None or free > 0
    if free is not None:  # above the free memory: refused, naming it
        with pytest.raises(ValueError, match="free memory of this machine"):
            check_allocation(2 * free, "a huge array")


def test_format_bytes():
    assert format_bytes(999) == "999 B"
    assert format_bytes(4.6e9) == "4.6 GB"
    assert format_bytes(1.51e14) == "151 TB"


# ---------------------------------------------------- the two cases of the issue
def test_taylor_degree_30_refused_at_construction():
    """C(16 + 30, 30) = 9.9e11 features: refused in the constructor, before any table."""
    assert math.comb(46, 30) == pytest.approx(9.9e11, rel=0.01)
    with pytest.raises(ValueError, match=NEED) as info:
        TaylorFeatures(EDPKernel(dim=16), degree=30)
    assert "D=9.91e+11" in str(info.value) and "d=16" in str(info.value)
    # without a declared dimension: refused at the first transform (fit from the data)
    pair = TaylorFeatures(EDPKernel(), degree=30)
    X = np.ones((2, 16))
    with pytest.raises(ValueError, match=NEED):
        pair.gram(X, X)
    assert not pair.fitted  # nothing was built


def test_prf_huge_refused_by_make_attention_and_train():
    pytest.importorskip("torch")
    from rkbs.attention.kernel_attention import make_attention

    with pytest.raises(ValueError, match=NEED + r".*") as info:
        make_attention("prf100000000", 16, seed=0)
    assert "PositiveRandomFeatures" in str(info.value) and "D=1e+08" in str(info.value)


def test_cli_train_prf_huge_refused(capsys):
    pytest.importorskip("torch")
    from rkbs.cli import main

    try:
        rc = main(["train", "--kernel", "prf100000000", "--quick", "--steps", "1"])
    except ValueError as exc:  # the CLI may let the ValueError through ...
        assert "would need" in str(exc)
    else:  # ... or print it as one line with a non-zero exit code
        assert rc != 0 and "would need" in capsys.readouterr().err


@pytest.mark.parametrize(
    "make,d",
    [
        (lambda mm: PositiveRandomFeatures(EDPKernel(), 512, seed=0, max_memory=mm), 8),
        (lambda mm: TrigonometricRandomFeatures(EDPKernel(), 512, seed=0, max_memory=mm), 8),
        (lambda mm: RandomFourierFeatures(RBFKernel(), 512, seed=0, max_memory=mm), 8),
        (lambda mm: TensorSketchFeatures(PolynomialKernel(degree=3), 512, seed=0,
                                         max_memory=mm), 8),
        (lambda mm: TaylorFeatures(EDPKernel(), 5, max_memory=mm), 6),
        (lambda mm: PolynomialFeatures(PolynomialKernel(degree=4), max_memory=mm), 6),
    ],
)
def test_estimate_bounds_what_fit_allocates(make, d):
    """The estimate (state + one feature row) covers the arrays fit really allocates, and
    the guard sits exactly at the estimate (negative control: one byte less fails)."""
    pair = make(None).fit(dim=d)
    state = sum(v.nbytes for k, v in vars(pair).items()
                if k.endswith("_") and isinstance(v, np.ndarray))
    est = pair._state_bytes(d) + pair.n_features_for(d) * 8 * 3
    assert state <= est
    make(est).fit(dim=d)  # exactly at the estimate: accepted
    with pytest.raises(ValueError, match=NEED):
        make(est - 1).fit(dim=d)


def test_transform_and_gram_rows_are_guarded(rng):
    pair = PositiveRandomFeatures(EDPKernel(), 64, seed=0).fit(dim=3)
    X = rng.normal(size=(100, 3))
    pair.transform_x(X)
    pair.set_params(max_memory=100 * 64 * 8 * 3 - 1).fit(dim=3)
    with pytest.raises(ValueError, match=r"feature matrix of PositiveRandomFeatures, shape "
                                         r"\(100, 64\)"):
        pair.transform_x(X)


def test_kernel_gram_guard(rng):
    X = rng.normal(size=(50, 2))
    assert EDPKernel(max_memory=50 * 50 * 8)(X, X).shape == (50, 50)
    with pytest.raises(ValueError, match=r"edp Gram matrix of shape \(50, 50\)"):
        EDPKernel(max_memory=50 * 50 * 8 - 1)(X, X)
    with pytest.raises(ValueError, match=r"rbf Gram matrix"):  # 3 temporaries
        RBFKernel(max_memory=50 * 50 * 8 * 2)(X, X)


def test_nystrom_and_maclaurin_guards(rng):
    L = rng.normal(size=(40, 2))
    with pytest.raises(ValueError, match=r"Nyström cross block of \(40, 40\) landmarks"):
        NystromFeatures(EDPKernel(), L, L, max_memory=1000)
    with pytest.raises(ValueError, match="Rademacher vectors"):
        RandomMaclaurinFeatures(EDPKernel(), 4096, seed=0, max_memory=3 * 4096 * 8 * 2
                                ).fit(dim=64)


def test_attention_guards():
    torch = pytest.importorskip("torch")
    from rkbs.attention.kernel_attention import feature_attention, kernel_attention

    q = torch.zeros(2, 3, 5, 4, dtype=torch.float64)
    out = kernel_attention(q, q, q, EDPKernel(scale=None))
    assert out.shape == (2, 3, 5, 4)
    with memory_limit(3 * 2 * 3 * 5 * 5 * 8 - 1), pytest.raises(
            ValueError, match=r"attention weights of shape \(2, 3, 5, 5\)"):
        kernel_attention(q, q, q, EDPKernel(scale=None))
    pair = PositiveRandomFeatures(EDPKernel(scale=None), 16, seed=0, max_memory=1000)
    pair.max_memory = None
    pair.fit(dim=4)
    pair.max_memory = 1000
    with pytest.raises(ValueError, match="attention features"):
        feature_attention(q, q, q, pair)


# --------------------------------------------------------------------- messages
def test_device_not_available_is_named():
    torch = pytest.importorskip("torch")
    assert check_device("cpu") == torch.device("cpu")
    assert available_devices()[0] == "cpu"
    with pytest.raises(ValueError, match=r"device='warp9' is not a torch device name.*cpu"):
        check_device("warp9")
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"not available.*cuda:0"):
            check_device(f"cuda:{torch.cuda.device_count()}")
    else:
        with pytest.raises(ValueError, match=r"device='cuda' is not available on this "
                                             r"machine; available devices: cpu"):
            check_device("cuda")


def test_machine_device_message(rng):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    from rkbs import BinaryKernelMachine

    X, Y = rng.normal(size=(4, 2)), rng.normal(size=(3, 2))
    m = BinaryKernelMachine(LinearFeatures(), solver="torch", device="cuda")
    with pytest.raises(ValueError, match="device='cuda' is not available"):
        m.fit(X, Y, rng.normal(size=(4, 3)))


def test_rbf_gamma_matches_sklearn(rng):
    """gamma = 1/(2 sigma^2) on the mapped q, k; with scale=None that is scikit-learn's."""
    pw = pytest.importorskip("sklearn.metrics.pairwise")
    X, Y = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    for g in (0.1, 0.5, 2.0):
        K = get_kernel("rbf", gamma=g, scale=None)(X, Y)
        np.testing.assert_allclose(K, pw.rbf_kernel(X, Y, gamma=g), rtol=1e-12)  # round-off
        assert get_kernel("rbf", gamma=g).gamma == pytest.approx(g, rel=1e-15)
        # default attention scale q = x / d^(1/4): scikit-learn's gamma / sqrt(d)
        np.testing.assert_allclose(RBFKernel(gamma=g)(X, Y),
                                   pw.rbf_kernel(X, Y, gamma=g / math.sqrt(3)), rtol=1e-12)
    # negative control: reading gamma as sigma gives another kernel
    assert not np.allclose(RBFKernel(sigma=0.5, scale=None)(X, Y),
                           pw.rbf_kernel(X, Y, gamma=0.5))
    with pytest.raises(ValueError, match="give sigma or gamma"):
        RBFKernel(sigma=1.0, gamma=0.5)
    with pytest.raises(ValueError, match="gamma must be finite and > 0, got gamma=-1"):
        get_kernel("rbf", gamma=-1)


def test_overflow_warns_and_points_to_log(rng):
    X, Y = rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    k = EDPKernel()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # negative control: moderate inputs stay silent
        K = k(X, Y)
    with pytest.warns(RuntimeWarning, match=r"edp kernel κ\(X, Y\): \d+ of 20 entries "
                                            r"overflowed.*kernel\.log\(X, Y\)"):
        K_big = k(1e3 * X, 1e3 * Y)
    L = k.log(1e3 * X, 1e3 * Y)  # exact, finite: log κ = q·k scales by 1e6
    assert np.all(np.isfinite(L))
    np.testing.assert_allclose(L, 1e6 * np.log(K), rtol=1e-10)  # round-off of log(exp(.))
    assert np.isinf(K_big).any()
    with pytest.warns(RuntimeWarning, match=r"88\.7 \(float32\)"):
        k((30 * X).astype(np.float32), (30 * Y).astype(np.float32))


def test_format_number_never_negative_zero():
    assert format(-1e-9, ".3f") == "-0.000"  # the defect (negative control)
    assert format_number(-1e-9, ".3f") == "0.000"
    assert format_number(-0.0) == "0"
    assert format_number(-0.0, ".2e") == "0.00e+00"
    assert format_number(-1.5, ".2f") == "-1.50"
    assert format_number(float("nan")) == "nan" and format_number(-math.inf) == "-inf"


def test_float32_random_features_scale_in_log_domain():
    """float32 products S e^M with M past log(float32 max) - 9 go through the log route."""
    from rkbs.features.random import _scale_by_log

    S = np.array([1e-30, -2e-30, 0.0], dtype=np.float32)
    M = np.full(3, 100.0, dtype=np.float32)
    out = _scale_by_log(S, M)
    ref = np.array([1e-30, -2e-30, 0.0]) * np.exp(100.0)  # float64 reference
    np.testing.assert_allclose(out, ref, rtol=1e-5)  # float32 round-off of log/exp
    with np.errstate(over="ignore"):
        assert np.isinf(S[:1] * np.exp(M[:1]))  # the naive product overflows (control)


def test_nystrom_rank_deficient_landmarks_warn(rng):
    Xl = rng.normal(size=(4, 2))
    Xl = np.vstack([Xl, Xl[:1]])  # a duplicate: rank 4 of 5
    with pytest.warns(UserWarning, match=r"numerical rank 4 < 5.*duplicate"):
        ny = NystromFeatures(RBFKernel(), Xl, Xl).fit(dim=2)
    assert ny.rank_ == 4
    Xf = rng.normal(size=(5, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # full-rank landmarks: no warning (control)
        NystromFeatures(RBFKernel(), Xf, Xf).fit(dim=2)


# ---------------------------------------------------- scikit-learn parameters
PAIRS = [
    lambda: PositiveRandomFeatures(EDPKernel(), 8, seed=3, orthogonal=True),
    lambda: HyperbolicRandomFeatures(EDPKernel(), 8, seed=3),
    lambda: TrigonometricRandomFeatures(EDPKernel(), 8, seed=3),
    lambda: RandomFourierFeatures(RBFKernel(gamma=0.5), 6, variant="sincos", seed=1),
    lambda: RandomMaclaurinFeatures(EDPKernel(), 5, seed=1),
    lambda: TensorSketchFeatures(PolynomialKernel(), 8, seed=2),
    lambda: TaylorFeatures(degree=3),
    lambda: PolynomialFeatures(PolynomialKernel(degree=3)),
    lambda: LinearFeatures(),
]


@pytest.mark.parametrize("make", PAIRS)
def test_clone_gives_an_unfitted_equal_pair(make, rng):
    base = pytest.importorskip("sklearn.base")
    pair = make().fit(dim=2)
    c = base.clone(pair)
    assert not c.fitted and set(c.get_params()) == set(pair.get_params())
    X, Y = rng.normal(size=(3, 2)), rng.normal(size=(4, 2))
    np.testing.assert_array_equal(c.fit(dim=2).gram(X, Y), pair.gram(X, Y))  # same seed
    assert c.n_components == pair.n_features == pair.n_components


def test_set_params_validates_and_unfits(rng):
    pair = PositiveRandomFeatures(EDPKernel(), 8, seed=3).fit(dim=2)
    X = rng.normal(size=(3, 2))
    G8 = pair.gram(X, X)
    assert pair.set_params(n_components=16) is pair and not pair.fitted
    assert pair.fit(dim=2).transform_x(X).shape == (3, 16)
    assert not np.array_equal(pair.gram(X, X), G8)  # control: really another pair
    with pytest.raises(ValueError, match="invalid parameter 'D'.*n_components"):
        pair.set_params(D=4)
    h = HyperbolicRandomFeatures(EDPKernel(), 4, seed=0).fit(dim=2)
    with pytest.raises(ValueError, match="n_components must be even, got 5"):
        h.set_params(n_components=5)
    assert h.fitted and h.n_components == 4  # unchanged after a refused set_params


# ------------------------------------------------------------ shared validators
def test_validators_name_the_argument():
    torch = pytest.importorskip("torch")
    from rkbs._checks import (
        check_attention_values,
        check_mapped,
        check_params,
        check_random_state,
        check_token_ids,
    )

    with pytest.raises(ValueError, match="seed must be a non-negative integer, got seed=-1"):
        check_random_state(-1)
    with pytest.raises(ValueError, match="seed must be None"):
        check_random_state(True)
    assert check_mapped([[1, 2]], "Q").dtype == np.float64  # lists/ints -> float64
    assert check_mapped(np.ones((2, 3, 4)), "Q").shape == (2, 3, 4)  # batch axes kept
    for bad, pat in ((np.ones(3), r"Q must have shape \(\.\.\., n, d\)"),
                     (np.ones((2, 0)), "Q must be non-empty"),
                     (np.full((1, 2), np.inf), "Q contains NaN or inf"),
                     ("abc", "Q must be an array"), (3.0, "Q must be an array")):
        with pytest.raises((ValueError, TypeError), match=pat):
            check_mapped(bad, "Q")
    with pytest.raises(ValueError, match="fitted for dimension 3"):
        check_mapped(np.ones((2, 4)), "K", dim=3)
    with pytest.raises(TypeError, match=r"unexpected parameter\(s\) bogus; valid: a, b"):
        check_params({"bogus": 1}, {"a": 1, "b": 2}, "thing")
    with pytest.raises(ValueError, match="b must be >= 1, got b=0"):
        check_params({"b": 0}, {"a": 1, "b": 2}, "thing")
    assert check_params({"b": 5}, {"a": 1, "b": 2}, "thing") == {"a": 1, "b": 5}
    t = torch.zeros(1, 2, 3, dtype=torch.float64)
    check_attention_values(t, t, t)
    with pytest.raises(ValueError, match="one dtype"):
        check_attention_values(t, t.float(), t)
    with pytest.raises(ValueError, match="k must be a floating-point tensor"):
        check_attention_values(t, t.long(), t)
    with pytest.raises(ValueError, match="v contains NaN"):
        check_attention_values(t, t, t + float("nan"))
    check_token_ids(torch.tensor([[0, 4]]), 5, "src")
    with pytest.raises(ValueError, match=r"src has token ids in \[0, 5\] but the vocabulary "
                                         r"has 5 tokens"):
        check_token_ids(torch.tensor([[0, 5]]), 5, "src")
    with pytest.raises(ValueError, match="integer tensor"):
        check_token_ids(torch.tensor([[0.0]]), 5, "tgt_in")


def test_check_array_rejects_non_numeric():
    from rkbs._checks import check_array

    for bad, exc, pat in (("abc", TypeError, "X must be an array of numbers"),
                          (None, TypeError, "X must be an array of numbers"),
                          (np.ones((2, 2)) + 1j, TypeError, "X must be a real array"),
                          ([[1.0], [1.0, 2.0]], ValueError, "X must be a rectangular array"),
                          (np.array([["a"]]), TypeError, "dtype=<U1")):
        with pytest.raises(exc, match=pat):
            check_array(bad)
    assert check_array(np.ones((2, 2), dtype=bool)).dtype == np.float64
    assert check_array(np.ones((2, 2), dtype=np.float16)).dtype == np.float64


def test_all_finite_fast_path_and_overflowing_sums():
    torch = pytest.importorskip("torch")
    from rkbs._checks import all_finite, check_finite_result

    big = np.full((3, 3), 1e308)  # finite entries whose sum overflows
    for arr in (big, torch.as_tensor(big)):
        assert all_finite(arr)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no false alarm from the overflowing sum
            check_finite_result(arr, "big", "hint")
    for bad in (np.inf, -np.inf, np.nan):
        b = big.copy()
        b[1, 2] = bad
        assert not all_finite(b) and not all_finite(torch.as_tensor(b))
        with pytest.warns(RuntimeWarning, match=r"big: 1 of 9 entries overflowed.*hint"):
            check_finite_result(b, "big", "hint")
    a = np.array([[np.inf, -np.inf]])  # inf + (-inf) = nan: still caught
    assert not all_finite(a)


def test_environment_variable_limit(monkeypatch):
    monkeypatch.setenv("RKBS_MAX_MEMORY", "1000")
    with pytest.raises(ValueError, match=r"RKBS_MAX_MEMORY \(1 kB"):
        check_allocation(1001, "x")
    assert check_allocation(1001, "x", max_memory=2000) == 1001  # the argument wins
    with memory_limit(5000):  # so does memory_limit()
        assert check_allocation(1001, "x") == 1001
    monkeypatch.setenv("RKBS_MAX_MEMORY", "-3")
    with pytest.raises(ValueError, match="RKBS_MAX_MEMORY must be a positive number"):
        check_allocation(1, "x")
    monkeypatch.setenv("RKBS_MAX_MEMORY", "8GB")
    with pytest.raises(ValueError, match="RKBS_MAX_MEMORY must be a number of bytes, got '8GB'"):
        check_allocation(1, "x")


def test_sizes_beyond_float_range_are_refused_not_crashed():
    """C(2000, 1000) ~ 2e600 features: a Python int too large for a float."""
    with pytest.raises(ValueError, match=r"D=2\.04e\+600 features would need .*e\+60\d B"):
        TaylorFeatures(EDPKernel(dim=1000), degree=1000)
    assert format_bytes(2 * 10**600) == "2e+600 B"


def test_attention_checks_skip_inside_vmap_but_not_outside():
    # data-dependent checks cannot run on vmap's batched tensors (no concrete values);
    # they are skipped there, and still refuse NaN on ordinary tensors
    import torch

    from rkbs.attention.kernel_attention import kernel_attention

    kern = get_kernel("edp", scale=None, dim=4)
    q = torch.randn(3, 2, 5, 4, dtype=torch.float64)  # (seeds, B, L, d)
    out = torch.func.vmap(lambda a: kernel_attention(a, a, a, kern)[0])(q)
    ref = torch.stack([kernel_attention(a, a, a, kern)[0] for a in q])
    assert torch.equal(out, ref)
    bad = q[0].clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="q contains NaN"):
        kernel_attention(bad, q[0], q[0], kern)
