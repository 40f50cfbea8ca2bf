"""Fuzzing of every public entry point with hypothesis (bad inputs and odd-but-valid ones).

Each generated case starts from a valid call and changes one argument: NaN, ±inf, empty
arrays, wrong ndim, mismatched dimensions, strings, None, complex and object arrays
(invalid), or lists, int/bool/float32 arrays, non-contiguous and Fortran-ordered views,
torch tensors (valid), values whose exp overflows, bad exponents p, λ ≤ 0, D ≤ 0 and
unknown names. Every call must end in

* a result that is finite (or non-finite *with* a ``RuntimeWarning`` that says what
  overflowed) and, for valid inputs, agrees with a reference computed another way, or
* a ``ValueError``/``TypeError`` whose message names the argument (or its value).

Never a silent NaN/inf, never another exception (IndexError, AttributeError, a torch or
cvxpy error). The outcomes are tallied per entry point by the last test, which prints
the table (``pytest -s``, or ``python tests/test_fuzz_entrypoints.py`` without pytest's
capture) and writes it to the file named by ``RKBS_FUZZ_REPORT`` (``make fuzz-report``
regenerates the committed ``tests/fuzz_report.md``; plain test runs leave the tree
clean). The cases are reproducible (``derandomize=True``) for a given run of this file;
hypothesis' engine state carries over between tests of one session, so running other
test files first can shift the split between outcomes, never the totals' zeros.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

torch = pytest.importorskip("torch")

import rkbs  # noqa: E402
from rkbs import (  # noqa: E402
    BinaryKernelMachine,
    EDPKernel,
    ExpIntersectionKernel,
    HyperbolicRandomFeatures,
    LinearFeatures,
    LinearKernel,
    NystromFeatures,
    PolynomialFeatures,
    PolynomialKernel,
    PositiveRandomFeatures,
    RandomFourierFeatures,
    RandomMaclaurinFeatures,
    RBFKernel,
    RKBSPair,
    TaylorFeatures,
    TensorSketchFeatures,
    TrigonometricRandomFeatures,
    get_kernel,
    mercer_report,
    rank_growth,
)

REPORT = os.environ.get("RKBS_FUZZ_REPORT")

GOOD = ("correct result", "ValueError/TypeError naming the argument", "warned non-finite")
BAD = ("silent NaN/inf", "internal exception", "message does not name the argument",
       "invalid input accepted", "valid input refused", "wrong result")

RECORD: dict[str, Counter] = defaultdict(Counter)
FAILURES: list[str] = []

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck), print_blob=False)


# ------------------------------------------------------------------- harness
def _arrays_in(out):
    """Every numeric array or scalar inside a result (tuples, lists, dicts, dataclasses)."""
    if isinstance(out, np.ndarray | np.generic | float | int) and not isinstance(out, bool):
        yield np.asarray(out, dtype=float) if np.asarray(out).dtype != object else None
    elif torch.is_tensor(out):
        yield out.detach().double().cpu().numpy()
    elif isinstance(out, tuple | list):
        for o in out:
            yield from _arrays_in(o)
    elif isinstance(out, dict):
        for o in out.values():
            yield from _arrays_in(o)


def _finite(out) -> bool:
    return all(a is None or bool(np.all(np.isfinite(a))) for a in _arrays_in(out))


def run(entry: str, fn, *, invalid: bool, names=(), check=None, case: str = "",
        finite=None):
    """Run one case of ``entry`` and tally its outcome.

    ``invalid``: the case must be refused with a ValueError/TypeError whose message
    contains one of ``names`` (case-insensitive). Otherwise the result must be finite
    (``finite(out)`` selects what to check) or come with a RuntimeWarning, and
    ``check(out)`` (a reference comparison) must hold.
    """
    outcome, detail = None, ""
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter("always")
        try:
            out = fn()
        except (ValueError, TypeError) as exc:
            msg = str(exc)
            if not invalid:
                outcome, detail = "valid input refused", f"{type(exc).__name__}: {msg}"
            elif names and not any(str(n).lower() in msg.lower() for n in names):
                outcome, detail = "message does not name the argument", f"{names}: {msg}"
            else:
                outcome = GOOD[1]
        except SystemExit as exc:  # argparse usage errors (CLI)
            ok = invalid and exc.code not in (0, None)
            outcome = GOOD[1] if ok else "invalid input accepted"
            detail = f"SystemExit({exc.code})"
        except Exception as exc:  # noqa: BLE001 - the point of the test
            outcome, detail = "internal exception", f"{type(exc).__name__}: {exc}"
        else:
            warned = any(issubclass(w.category, RuntimeWarning) for w in ws)
            sel = out if finite is None else finite(out)
            if invalid:
                outcome, detail = "invalid input accepted", repr(out)[:120]
            elif not _finite(sel):
                outcome = GOOD[2] if warned else "silent NaN/inf"
            elif check is not None and not check(out):
                outcome = "wrong result"
            else:
                outcome = GOOD[0]
    RECORD[entry][outcome] += 1
    if outcome in BAD:
        FAILURES.append(f"{entry} [{case}] -> {outcome}: {detail[:300]}")
    return outcome


# --------------------------------------------------------------- array mutations
INVALID_ARRAY = ("nan", "inf", "-inf", "empty_rows", "empty_cols", "ndim1", "ndim3",
                 "string", "none", "object", "complex", "ragged")
VALID_ARRAY = ("same", "list", "int", "bool", "float32", "noncontig", "fortran", "torch")


def mutate(X: np.ndarray, kind: str, rng: np.random.Generator):
    """``X`` changed by ``kind``: returns the new value (invalid or valid kind)."""
    n, d = X.shape
    if kind == "same":
        return X
    if kind in ("nan", "inf", "-inf"):
        Z = X.copy()
        Z[rng.integers(n), rng.integers(d)] = float(kind)
        return Z
    if kind == "empty_rows":
        return np.zeros((0, d))
    if kind == "empty_cols":
        return np.zeros((n, 0))
    if kind == "ndim1":
        return X[0]
    if kind == "ndim3":
        return X[None]
    if kind == "string":
        return "X"
    if kind == "none":
        return None
    if kind == "object":
        return np.array([[object()] * d] * n)
    if kind == "complex":
        return X + 1j
    if kind == "ragged":
        return [list(X[0]), list(X[0]) + [1.0]]
    if kind == "list":
        return X.tolist()
    if kind == "int":
        return np.round(X).astype(np.int64)
    if kind == "bool":
        return X > 0
    if kind == "float32":
        return X.astype(np.float32)
    if kind == "noncontig":
        W = np.repeat(X, 2, axis=1)
        W[:, 1::2] = np.nan  # the view skips these
        return W[:, ::2]
    if kind == "fortran":
        return np.asfortranarray(X)
    if kind == "torch":
        return torch.as_tensor(X)
    raise AssertionError(kind)


def canonical(X, kind):
    """The float64 numpy array a valid mutation stands for (reference inputs)."""
    if kind == "torch":
        return X.numpy()
    return np.asarray(X, dtype=np.float64)


def close(a, b, kind_or_kinds=()) -> bool:
    kinds = (kind_or_kinds,) if isinstance(kind_or_kinds, str) else tuple(kind_or_kinds)
    a = np.asarray(rkbs._backend.to_numpy(a), dtype=float)
    b = np.asarray(rkbs._backend.to_numpy(b), dtype=float)
    # float32 round-off: eps32 = 1.2e-7 times the exponent size (|q.k| <= ~10 here);
    # float64: 1e-9 covers different summation orders of the same formula
    rtol = 1e-4 if "float32" in kinds else 1e-9
    if a.shape != b.shape:
        return False
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    return bool(np.allclose(a, b, rtol=rtol, atol=rtol * max(scale, 1e-300)))


@st.composite
def point_sets(draw, max_n=5, max_d=4, scale=2.0):
    n = draw(st.integers(1, max_n))
    m = draw(st.integers(1, max_n))
    d = draw(st.integers(1, max_d))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    return rng.uniform(-scale, scale, (n, d)), rng.uniform(-scale, scale, (m, d)), rng


def array_kind():
    return st.sampled_from(INVALID_ARRAY + VALID_ARRAY + ("huge", "wrong_dim", "mixed"))


# ----------------------------------------------------------------- references
def _reference_kernel(kern, X, Y):
    """Closed forms of the five kernels, written out here (identity maps)."""
    d = X.shape[1]
    s = d ** -0.25 if kern.scale == "attention" else (1.0 if kern.scale is None else kern.scale)
    Q, K = s * X, s * Y
    U = Q @ K.T
    if isinstance(kern, EDPKernel):
        return np.exp(U)
    if isinstance(kern, RBFKernel):
        D2 = ((Q[:, None, :] - K[None, :, :]) ** 2).sum(-1)
        return np.exp(-D2 / (2 * kern.sigma**2))
    if isinstance(kern, ExpIntersectionKernel):
        return np.exp(np.minimum(Q[:, None, :], K[None, :, :]).sum(-1))
    if isinstance(kern, PolynomialKernel):
        return (U + kern.c) ** kern.degree
    return U


KERNELS = {
    "EDPKernel": lambda **kw: EDPKernel(**kw),
    "RBFKernel": lambda **kw: RBFKernel(sigma=1.3, **kw),
    "ExpIntersectionKernel": lambda **kw: ExpIntersectionKernel(**kw),
    "PolynomialKernel": lambda **kw: PolynomialKernel(degree=3, c=0.5, **kw),
    "LinearKernel": lambda **kw: LinearKernel(**kw),
}


def _pair_args(X, Y, which, kind, rng):
    """(X', Y', invalid, names) for a mutation of ``which`` in {"X", "Y"}."""
    A = X if which == "X" else Y
    names = (which,)
    if kind == "huge":
        A2, invalid = A * 1e3, False
    elif kind == "wrong_dim":
        A2, invalid = np.hstack([A, A[:, :1]]), True
        names = ("X", "Y", "dimension", "shape")
    elif kind == "mixed":
        A2, invalid = torch.as_tensor(A), True
        names = ("backend", "X", "Y")
    else:
        A2, invalid = mutate(A, kind, rng), kind in INVALID_ARRAY
    if which == "X":
        return A2, Y, invalid, names
    return X, A2, invalid, names


# ===================================================================== kernels
@settings(FUZZ, max_examples=400)
@given(data=point_sets(), kname=st.sampled_from(sorted(KERNELS)), which=st.sampled_from("XY"),
       kind=array_kind(), method=st.sampled_from(["call", "log"]))
def test_fuzz_kernels(data, kname, which, kind, method):
    X, Y, rng = data
    kern = KERNELS[kname]()
    X2, Y2, invalid, names = _pair_args(X, Y, which, kind, rng)
    if kind == "torch":  # both sides torch: valid
        X2, Y2 = torch.as_tensor(X), torch.as_tensor(Y)
    ref = None
    if not invalid and kind != "huge":
        ref = _reference_kernel(kern, canonical(X2, kind), canonical(Y2, kind))
    if method == "log":
        if not kern.nonnegative:
            invalid, names = True, (*names, "negative", "log")
        fn = lambda: kern.log(X2, Y2)
        if ref is not None and kern.nonnegative:
            ref = np.log(ref)
    else:
        fn = lambda: kern(X2, Y2)
    kinds = (kind,)
    run(f"kernel {kname}.{method}", fn, invalid=invalid, names=names,
        check=None if ref is None else (lambda out: close(out, ref, kinds)),
        case=f"{which}={kind}")


BAD_KERNEL_PARAMS = [
    ("RBFKernel", {"sigma": 0.0}, "sigma"), ("RBFKernel", {"sigma": -1.0}, "sigma"),
    ("RBFKernel", {"sigma": math.nan}, "sigma"), ("RBFKernel", {"sigma": math.inf}, "sigma"),
    ("RBFKernel", {"sigma": "1"}, "sigma"), ("RBFKernel", {"gamma": 0.0}, "gamma"),
    ("RBFKernel", {"gamma": -2.0}, "gamma"), ("RBFKernel", {"sigma": 1.0, "gamma": 1.0}, "gamma"),
    ("PolynomialKernel", {"degree": -1}, "degree"), ("PolynomialKernel", {"degree": 2.5}, "degree"),
    ("PolynomialKernel", {"degree": math.nan}, "degree"), ("PolynomialKernel", {"c": -1.0}, "c"),
    ("PolynomialKernel", {"c": math.nan}, "c"), ("EDPKernel", {"scale": -1.0}, "scale"),
    ("EDPKernel", {"scale": "big"}, "scale"), ("EDPKernel", {"dim": 0}, "dim"),
    ("EDPKernel", {"dim": -3}, "dim"), ("EDPKernel", {"W_Q": np.ones(3)}, "W_Q"),
    ("EDPKernel", {"W_Q": np.full((2, 2), np.nan)}, "W_Q"), ("EDPKernel", {"max_memory": -1}, "max_memory"),
    ("EDPKernel", {"W_Q": np.ones((2, 3)), "dim": 4}, "dim"), ("LinearKernel", {"bogus": 1}, "bogus"),
]

NAMES = ["edp", "softmax", "rbf", "exp_intersection", "intersection", "polynomial", "poly",
         "linear", "EDP", "Exp-Intersection"]
BAD_NAMES = ["", "gauss", "rbf2", "edp ", "nosuch", None, 3, 2.5, "prf64"]


@settings(FUZZ, max_examples=200)
@given(case=st.one_of(
    st.tuples(st.just("param"), st.sampled_from(range(len(BAD_KERNEL_PARAMS)))),
    st.tuples(st.just("name"), st.sampled_from(NAMES + BAD_NAMES)),
    st.tuples(st.just("gamma"), st.floats(1e-3, 1e3)),
))
def test_fuzz_get_kernel(case):
    tag, val = case
    if tag == "param":
        kname, params, name = BAD_KERNEL_PARAMS[val]
        key = {"RBFKernel": "rbf", "PolynomialKernel": "polynomial", "EDPKernel": "edp",
               "LinearKernel": "linear"}[kname]
        run("get_kernel(name, **params)", lambda: get_kernel(key, **params), invalid=True,
            names=(name,), case=f"{kname} {params}")
    elif tag == "name":
        invalid = val not in NAMES
        run("get_kernel(name, **params)",
            lambda: get_kernel(val)(np.ones((2, 3)), np.ones((1, 3))), invalid=invalid,
            names=("kernel", repr(val)), case=f"name={val!r}")
    else:  # gamma = 1/(2 sigma^2), checked against the RBF formula
        X = np.linspace(-1, 1, 6).reshape(3, 2)
        ref = np.exp(-val * ((X[:, None] - X[None]) ** 2).sum(-1))
        run("get_kernel(name, **params)",
            lambda: get_kernel("rbf", gamma=val, scale=None)(X, X), invalid=False,
            check=lambda out: close(out, ref), case=f"gamma={val:g}")


# ================================================================ feature pairs
def _pairs(d):
    return {
        "TaylorFeatures": lambda **kw: TaylorFeatures(EDPKernel(), **{"degree": 3, **kw}),
        "PolynomialFeatures": lambda **kw: PolynomialFeatures(PolynomialKernel(degree=2), **kw),
        "LinearFeatures": lambda **kw: LinearFeatures(**kw),
        "PositiveRandomFeatures": lambda **kw: PositiveRandomFeatures(
            EDPKernel(), **{"n_components": 16, "seed": 0, **kw}),
        "HyperbolicRandomFeatures": lambda **kw: HyperbolicRandomFeatures(
            EDPKernel(), **{"n_components": 16, "seed": 0, **kw}),
        "TrigonometricRandomFeatures": lambda **kw: TrigonometricRandomFeatures(
            EDPKernel(), **{"n_components": 16, "seed": 0, **kw}),
        "RandomFourierFeatures": lambda **kw: RandomFourierFeatures(
            RBFKernel(), **{"n_components": 16, "seed": 0, **kw}),
        "RandomMaclaurinFeatures": lambda **kw: RandomMaclaurinFeatures(
            EDPKernel(), **{"n_components": 16, "seed": 0, **kw}),
        "TensorSketchFeatures": lambda **kw: TensorSketchFeatures(
            PolynomialKernel(degree=2), **{"n_components": 16, "seed": 0, **kw}),
        "NystromFeatures": lambda **kw: NystromFeatures(
            RBFKernel(), np.linspace(-1, 1, 4 * d).reshape(4, d) * [[1], [2], [3], [4]],
            np.cos(np.arange(4 * d)).reshape(4, d), **kw),
    }


PAIR_NAMES = sorted(_pairs(1))
RANDOM_PAIRS = {"PositiveRandomFeatures", "HyperbolicRandomFeatures",
                "TrigonometricRandomFeatures", "RandomFourierFeatures",
                "RandomMaclaurinFeatures", "TensorSketchFeatures"}
BAD_PAIR_PARAMS = [
    ({"n_components": 0}, "n_components"), ({"n_components": -4}, "n_components"),
    ({"n_components": 2.5}, "n_components"), ({"n_components": "8"}, "n_components"),
    ({"n_components": math.nan}, "n_components"), ({"n_components": None}, "n_components"),
    ({"seed": "x"}, "seed"), ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"),
    ({"max_memory": 0}, "max_memory"), ({"max_memory": "lots"}, "max_memory"),
]


def _pair_reference(pair, X, Y):
    """Gram of the pair computed another way: closed form or the two transforms."""
    if isinstance(pair, TaylorFeatures):
        return pair.truncated_kernel(X, Y)
    if pair.exact:
        return pair.kernel(X, Y)
    return np.asarray(pair.transform_x(X)) @ np.asarray(pair.transform_y(Y)).T


@settings(FUZZ, max_examples=600)
@given(data=point_sets(max_d=3), pname=st.sampled_from(PAIR_NAMES),
       which=st.sampled_from("XY"), kind=array_kind(),
       method=st.sampled_from(["gram", "transform", "fit", "map_log"]))
def test_fuzz_feature_pairs(data, pname, which, kind, method):
    X, Y, rng = data
    d = X.shape[1]
    make = _pairs(d)[pname]
    pair = make()
    X2, Y2, invalid, names = _pair_args(X, Y, which, kind, rng)
    if kind == "torch":
        X2, Y2 = torch.as_tensor(X), torch.as_tensor(Y)
    if kind == "mixed" and method not in ("gram", "fit"):
        invalid = False  # a single array of either backend is fine
    kinds = (kind,)
    Xr = canonical(X2, kind) if which == "X" and not invalid and kind != "huge" else X
    Yr = canonical(Y2, kind) if which == "Y" and not invalid and kind != "huge" else Y
    entry = f"features {pname}.{method}"
    if method == "fit":
        if kind == "wrong_dim":
            names = ("dimension", "d=")
        if kind == "none":
            invalid = False  # fit(X) or fit(Y=...) alone: one side fixes d
        run(entry, lambda: make().fit(X2, Y2).n_features_, invalid=invalid, names=names,
            case=f"{which}={kind}")
        return
    ref_pair = make().fit(dim=d)
    if method == "gram":
        ref = None if kind == "huge" else _pair_reference(ref_pair, Xr, Yr)
        fit = (lambda: pair.fit(dim=d)) if pname in RANDOM_PAIRS else (lambda: pair)
        run(entry, lambda: fit().gram(X2, Y2), invalid=invalid, names=names,
            check=None if ref is None else (lambda out: close(out, ref, kinds)),
            case=f"{which}={kind}")
    elif method == "transform":
        A = X2 if which == "X" else Y2
        if kind == "wrong_dim":
            names = ("dimension", "shape", "columns")
            # an unfitted exact pair fits itself to any d; the landmarks fix Nyström's
            invalid = pname in RANDOM_PAIRS or pname == "NystromFeatures"
        if pname in RANDOM_PAIRS:
            pair.fit(dim=d)
        f = pair.transform_x if which == "X" else pair.transform_y
        g = ref_pair.transform_x if which == "X" else ref_pair.transform_y
        ref = None if invalid or kind in ("huge", "wrong_dim") else g(
            Xr if which == "X" else Yr)
        run(entry, lambda: f(A), invalid=invalid, names=names,
            check=None if ref is None else (lambda out: close(out, ref, kinds)),
            case=f"{which}={kind}")
    else:  # map_q_log / map_k_log on mapped inputs (every pair; F e^c = features)
        pair.fit(dim=d)
        A = X2 if which == "X" else Y2
        if kind == "wrong_dim":
            names = ("dimension",)
        if kind == "ndim3":
            invalid = False  # leading batch axes are allowed on mapped inputs
        if kind in ("string", "object", "complex", "ragged", "nan", "inf", "-inf",
                    "empty_rows", "empty_cols", "ndim1", "none"):
            names = ("Q", "K")
        fmap = pair.map_q_log if which == "X" else pair.map_k_log
        ref = None
        if not invalid and kind not in ("huge", "ndim3"):
            F, c = (ref_pair.map_q_log if which == "X" else ref_pair.map_k_log)(
                Xr if which == "X" else Yr)
            ref = F * np.exp(c)
        run(entry, lambda: fmap(A), invalid=invalid, names=names,
            check=None if ref is None else (
                lambda out: close(out[0] * np.exp(rkbs._backend.to_numpy(out[1])), ref, kinds)),
            case=f"{which}={kind}")


@FUZZ
@given(pname=st.sampled_from(sorted(RANDOM_PAIRS)),
       bad=st.sampled_from(range(len(BAD_PAIR_PARAMS))))
def test_fuzz_feature_pair_params(pname, bad):
    params, name = BAD_PAIR_PARAMS[bad]
    make = _pairs(2)[pname]
    run(f"features {pname}(...)", lambda: make(**params).fit(dim=2), invalid=True,
        names=(name,), case=str(params))


# ===================================================================== RKBSPair
P_VALUES = [2.0, 1.5, 4.0, 1.0, math.inf, 0.5, 1.0 - 1e-12, math.nan, -2.0, 0.0, "2", None]
COEF_KINDS = ("same", "list", "int", "float32", "torch", "zeros", "huge", "tiny", "nan", "inf",
              "short", "long", "ndim2", "string", "none")


def _coef(w, kind):
    return {
        "same": lambda: w, "list": lambda: w.tolist(), "int": lambda: np.round(w).astype(int),
        "float32": lambda: w.astype(np.float32), "torch": lambda: torch.as_tensor(w),
        "zeros": lambda: np.zeros_like(w), "huge": lambda: w * 1e300, "tiny": lambda: w * 1e-300,
        "nan": lambda: np.where(np.arange(w.size) == 0, np.nan, w),
        "inf": lambda: np.where(np.arange(w.size) == 0, np.inf, w),
        "short": lambda: w[:-1], "long": lambda: np.append(w, 1.0), "ndim2": lambda: w[None],
        "string": lambda: "w", "none": lambda: None,
    }[kind]()


@settings(FUZZ, max_examples=300)
@given(data=point_sets(max_d=3), p=st.sampled_from(P_VALUES), kind=st.sampled_from(COEF_KINDS),
       method=st.sampled_from(["eval_f", "eval_g", "norm_f", "norm_g", "pairing", "iota_f",
                               "iota_g", "duality_map_f", "duality_map_g", "check_reproducing"]))
def test_fuzz_rkbs_pair(data, p, kind, method):
    X, Y, rng = data
    d = X.shape[1]
    feats = TaylorFeatures(EDPKernel(), degree=2).fit(dim=d)
    D = math.comb(d + 2, 2)
    w = rng.normal(size=D) + 0.1
    v = rng.normal(size=D) + 0.1
    p_ok = isinstance(p, float) and not math.isnan(p) and p >= 1.0
    if not p_ok:
        run("RKBSPair(features, p)", lambda: RKBSPair(feats, p), invalid=True, names=("p",),
            case=f"p={p!r}")
        return
    pair = RKBSPair(feats, p)
    w2 = _coef(w, kind)
    invalid = kind in ("nan", "inf", "short", "long", "ndim2", "string", "none")
    names = ("w", "v", "u")
    needs_smooth = method in ("iota_f", "iota_g", "duality_map_f", "duality_map_g")
    if needs_smooth and not 1.0 < p < math.inf:
        invalid, names = True, ("p",) if not invalid else names + ("p",)
    calls = {
        "eval_f": lambda: pair.eval_f(w2, X), "eval_g": lambda: pair.eval_g(w2, Y),
        "norm_f": lambda: pair.norm_f(w2), "norm_g": lambda: pair.norm_g(w2),
        "pairing": lambda: pair.pairing(w2, v), "iota_f": lambda: pair.iota_f(w2),
        "iota_g": lambda: pair.iota_g(w2), "duality_map_f": lambda: pair.duality_map_f(w2),
        "duality_map_g": lambda: pair.duality_map_g(w2),
        "check_reproducing": lambda: pair.check_reproducing(X, Y, w2, v),
    }
    check = None
    if not invalid and kind not in ("huge", "tiny", "zeros"):
        wr = np.asarray(rkbs._backend.to_numpy(w2), dtype=float)
        if method == "norm_f":
            ref = np.sum(np.abs(wr) ** p) ** (1 / p) if math.isfinite(p) else np.abs(wr).max()
            check = lambda out: close(out, ref, kind)
        elif method == "eval_f":
            ref = np.asarray(feats.transform_x(X)) @ wr
            check = lambda out: close(out, ref, kind)
        elif method == "iota_f":  # sign(w)|w|^{p-1}/||w||_p^{p-1}
            nrm = np.sum(np.abs(wr) ** p) ** (1 / p)
            ref = (np.sign(wr) * np.abs(wr) ** (p - 1) / nrm ** (p - 1) if nrm > 0
                   else np.zeros_like(wr))  # iota(0) := 0
            check = lambda out: close(out, ref, kind)
    finite = (lambda out: [out.f_reproducing, out.g_reproducing]) \
        if method == "check_reproducing" else None
    run(f"RKBSPair.{method}", calls[method], invalid=invalid, names=names, check=check,
        case=f"p={p}, w={kind}", finite=finite)


@settings(FUZZ, max_examples=200)
@given(seed=st.integers(0, 10**6), p=st.sampled_from(P_VALUES), kind=st.sampled_from(COEF_KINDS),
       fn=st.sampled_from(["lp_norm", "norm_gradient", "duality_map", "inverse_duality_map",
                           "semi_inner_product", "conjugate_exponent"]))
def test_fuzz_duality_maps(seed, p, kind, fn):
    from rkbs.spaces import duality as Dm

    w = np.random.default_rng(seed).normal(size=5) + 0.1
    w2 = _coef(w, kind)
    p_ok = isinstance(p, float) and not math.isnan(p) and p >= 1.0
    smooth = p_ok and 1.0 < p < math.inf
    invalid = kind in ("nan", "inf", "ndim2-bad", "string", "none")
    names = ("w", "u")
    if fn == "conjugate_exponent":
        invalid, names = not p_ok, ("p",)
    elif fn == "semi_inner_product" and kind in ("short", "long"):
        invalid, names = True, ("shape", "u", "w")
    if fn not in ("lp_norm", "conjugate_exponent") and not smooth:
        invalid, names = True, names + ("p",)
    if fn == "lp_norm" and not p_ok:
        invalid, names = True, names + ("p",)
    call = {
        "lp_norm": lambda: Dm.lp_norm(w2, p), "norm_gradient": lambda: Dm.norm_gradient(w2, p),
        "duality_map": lambda: Dm.duality_map(w2, p),
        "inverse_duality_map": lambda: Dm.inverse_duality_map(w2, p),
        "semi_inner_product": lambda: Dm.semi_inner_product(w2, w, p),
        "conjugate_exponent": lambda: Dm.conjugate_exponent(p),
    }[fn]
    check = None
    if not invalid and fn == "lp_norm" and kind in ("same", "list", "float32", "torch"):
        ref = (np.abs(w) ** p).sum() ** (1 / p) if math.isfinite(p) else np.abs(w).max()
        check = lambda out: close(out, ref, kind)
    if not invalid and fn == "duality_map" and kind in ("same", "list", "torch"):
        # J_p(w) = sign(w)|w|^{p-1} / ||w||_p^{p-2}
        nrm = (np.abs(w) ** p).sum() ** (1 / p)
        ref = np.sign(w) * np.abs(w) ** (p - 1) / nrm ** (p - 2)
        check = lambda out: close(out, ref, kind)
    run(f"spaces.duality.{fn}", call, invalid=invalid, names=names, check=check,
        case=f"p={p!r}, w={kind}",
        finite=(lambda out: []) if fn == "conjugate_exponent" else None)  # q*(1) = inf


GRID_CASES = [((3, 2), {}, False, ()), ((2, 1), {"low": 0.0, "high": 1.0}, False, ()),
              ((1, 2), {}, True, ("n",)), ((0, 2), {}, True, ("n",)), ((2.5, 2), {}, True, ("n",)),
              ((3, 0), {}, True, ("d",)), ((3, "2"), {}, True, ("d",)),
              ((3, 2), {"low": 1.0, "high": 0.0}, True, ("low", "high")),
              ((3, 2), {"low": math.nan}, True, ("low",)), ((3, 2), {"high": math.inf}, True,
                                                              ("high",)),
              ((1000, 12), {}, True, ("product grid", "memory"))]


@settings(FUZZ, max_examples=len(GRID_CASES))
@given(i=st.sampled_from(range(len(GRID_CASES))))
def test_fuzz_product_grid(i):
    from rkbs.approximation import product_grid

    args, kw, invalid, names = GRID_CASES[i]
    ref = None
    if not invalid:
        lo, hi = kw.get("low", -1.0), kw.get("high", 1.0)
        axis = np.linspace(lo, hi, args[0])
        ref = np.array(np.meshgrid(*([axis] * args[1]), indexing="ij")).reshape(args[1], -1).T
    run("approximation.product_grid", lambda: product_grid(*args, **kw), invalid=invalid,
        names=names, check=None if ref is None else (lambda out: close(out, ref)),
        case=f"{args} {kw}")


# ================================================================ diagnostics
NS_CASES = [((2, 3, 4), False), ((), True), ((3, 2), True), ((0, 2), True), ((2.5,), True),
            ((2, 50), True), (("a",), True), ((1, 2), False)]


@settings(FUZZ, max_examples=250)
@given(data=point_sets(max_n=6, max_d=3), kind=array_kind(),
       what=st.sampled_from(["mercer kernel", "mercer gram", "rank_growth", "rank_tol"]),
       ns=st.sampled_from(range(len(NS_CASES))), tol=st.sampled_from([None, 1e-8, 0.0, -1.0,
                                                                       math.nan, "x"]))
def test_fuzz_diagnostics(data, kind, what, ns, tol):
    X, Y, rng = data
    kern = EDPKernel()
    if kind in ("wrong_dim", "mixed", "huge"):
        kind = "same"
    X2 = mutate(X, kind, rng)
    invalid = kind in INVALID_ARRAY
    Xc = None if invalid else canonical(X2, kind)
    sel = lambda r: [r.singular_values, r.rank] + ([r.eigenvalues, r.asymmetry]
                                                  if r.same_points else [])
    if what == "mercer kernel":
        ref = None if invalid else np.linalg.svd(kern(Xc, Xc), compute_uv=False)
        run("mercer_report(kernel, X)", lambda: mercer_report(kern, X2), invalid=invalid,
            names=("X",), finite=sel, case=f"X={kind}",
            check=None if ref is None else (lambda r: close(r.singular_values, ref, kind)))
    elif what == "mercer gram":
        ref = None if invalid else np.linalg.svd(Xc, compute_uv=False)
        run("mercer_report(gram)", lambda: mercer_report(X2), invalid=invalid,
            names=("K", "kernel_or_gram"), finite=sel, case=f"K={kind}",
            check=None if ref is None else (lambda r: close(r.singular_values, ref, kind)))
    elif what == "rank_tol":
        bad = not (tol is None or (isinstance(tol, float) and tol > 0))
        run("mercer_report(gram)", lambda: mercer_report(X, rank_tol=tol), invalid=bad,
            names=("rank_tol",), finite=sel, case=f"rank_tol={tol!r}")
    else:
        ns_val, bad_ns = NS_CASES[ns]
        pts = np.random.default_rng(0).uniform(-1, 1, (40, X.shape[1]))
        if kind != "same":
            pts, bad_ns, names = mutate(pts, kind, rng), invalid or bad_ns, ("X", "ns", "n")
        else:
            names = ("ns", "n")
        run("rank_growth(kernel, X, ns)", lambda: rank_growth(kern, pts, ns=ns_val),
            invalid=bad_ns, names=names, finite=lambda g: [g.ranks], case=f"ns={ns_val}, "
            f"X={kind}")


# =================================================================== machines
MACHINE_PARAMS = [
    ({}, False, ()), ({"p": 1.5}, False, ()), ({"p": 0.5}, True, ("p",)),
    ({"p": math.nan}, True, ("p",)), ({"p": math.inf}, True, ("p",)), ({"p": "2"}, True, ("p",)),
    ({"lam_x": 0.0}, True, ("lam_x",)), ({"lam_x": -1.0}, True, ("lam_x",)),
    ({"lam_x": math.nan}, True, ("lam_x",)), ({"lam_y": -1.0}, True, ("lam_y",)),
    ({"loss": "hinge"}, True, ("loss", "hinge")), ({"coupling": "mult"}, True, ("coupling",)),
    ({"solver": "gurobi"}, True, ("solver",)), ({"tol": -1.0}, True, ("tol",)),
    ({"max_iter": 0}, True, ("max_iter",)), ({"solver": "torch"}, False, ()),
    ({"loss": "logistic"}, False, ()),
]
Z_KINDS = ("same", "nan", "inf", "short", "ndim1", "string", "list", "int", "labels")


def _machine_data(rng, loss):
    X, Y = rng.uniform(-1, 1, (4, 2)), rng.uniform(-1, 1, (3, 2))
    Z = rng.normal(size=(4, 3))
    if loss == "logistic":
        Z = np.where(Z > 0, 1.0, -1.0)
    return X, Y, Z


@settings(FUZZ, max_examples=60)
@given(seed=st.integers(0, 10**6), par=st.sampled_from(range(len(MACHINE_PARAMS))),
       zkind=st.sampled_from(Z_KINDS), xkind=st.sampled_from(("same", "nan", "ndim1",
                                                              "wrong_dim", "list", "empty_rows")),
       method=st.sampled_from(["fit", "predict", "decision_function", "certify"]))
def test_fuzz_binary_machine(seed, par, zkind, xkind, method):
    rng = np.random.default_rng(seed)
    params, bad_param, names = MACHINE_PARAMS[par]
    loss = params.get("loss", "squared")
    X, Y, Z = _machine_data(rng, loss if loss in ("squared", "logistic") else "squared")
    feats = LinearFeatures()
    if bad_param:
        run("BinaryKernelMachine(...)", lambda: BinaryKernelMachine(feats, **params),
            invalid=True, names=names, case=str(params))
        return
    m = BinaryKernelMachine(feats, lam_x=0.5, lam_y=0.5, **params)
    if method == "fit":
        Z2 = {"same": Z, "nan": np.where(np.eye(4, 3) > 0, np.nan, Z), "inf": Z * np.inf,
              "short": Z[:-1], "ndim1": Z[0], "string": "Z", "list": Z.tolist(),
              "int": np.round(Z).astype(int) if loss != "logistic" else Z.astype(int),
              "labels": Z + 0.5}[zkind]
        invalid = zkind in ("nan", "inf", "short", "ndim1", "string") or (
            zkind == "labels" and loss == "logistic")
        run("BinaryKernelMachine.fit", lambda: m.fit(X, Y, Z2).w_, invalid=invalid,
            names=("Z",), case=f"{params}, Z={zkind}")
        return
    if method in ("predict", "decision_function") and xkind == "same" and zkind == "same":
        run(f"BinaryKernelMachine.{method}", lambda: getattr(m, method)(X, Y), invalid=True,
            names=("fit",), case="unfitted")
        return
    m.fit(X, Y, Z)
    if method == "certify":
        from rkbs.verify import certify

        m_unfit = BinaryKernelMachine(feats)
        if xkind == "same":
            run("certify(machine)", lambda: certify(m_unfit), invalid=True, names=("fit",),
                case="unfitted")
        else:
            run("certify(machine)", lambda: certify(m).passed, invalid=False, case="fitted")
        return
    X2 = X if xkind == "wrong_dim" else mutate(X, xkind, rng)
    if xkind == "wrong_dim":
        X2 = np.hstack([X, X[:, :1]])
    invalid = xkind not in ("same", "list")
    ref = None
    if not invalid:
        # linear features Phi(x) = x / d^(1/4) (attention scale, d = 2), additive coupling
        a = (X * 2 ** -0.25) @ m.w_
        b = (Y * 2 ** -0.25) @ m.v_
        A = a[:, None] + b[None, :]
        ref = A if (method == "decision_function" or loss == "squared") else np.where(
            A >= 0, 1.0, -1.0)
    run(f"BinaryKernelMachine.{method}", lambda: getattr(m, method)(X2, Y), invalid=invalid,
        names=("X", "dimension", "shape", "columns"), case=f"{params}, X={xkind}",
        check=None if ref is None else (lambda out: close(out, ref)))


PAIR_MACHINE_PARAMS = [
    ({}, False, ()), ({"lam": 0.0}, True, ("lam",)), ({"lam": -1.0}, True, ("lam",)),
    ({"p": 1.0}, True, ("p",)), ({"p": math.nan}, True, ("p",)),
    ({"loss": "nosuch"}, True, ("loss",)), ({"regularizer": "l7"}, True, ("regularizer",)),
    ({"solver": "x"}, True, ("solver",)), ({"tol": 0.0}, True, ("tol",)),
    ({"loss": "squared"}, False, ()),
]


@settings(FUZZ, max_examples=50)
@given(seed=st.integers(0, 10**6), par=st.sampled_from(range(len(PAIR_MACHINE_PARAMS))),
       zkind=st.sampled_from(("same", "nan", "short", "ndim1", "negative", "rows")),
       which=st.sampled_from(["primal", "dual"]))
def test_fuzz_pair_machines(seed, par, zkind, which):
    from rkbs.machines import DualPairOperatorMachine as PairDualMachine
    from rkbs.machines import PairOperatorMachine

    rng = np.random.default_rng(seed)
    params, bad, names = PAIR_MACHINE_PARAMS[par]
    loss = params.get("loss", "softmax")
    X, Y = rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, (4, 2))
    P = rng.dirichlet(np.ones(4), size=3)
    cls = PairOperatorMachine if which == "primal" else PairDualMachine
    src = LinearFeatures() if which == "primal" else EDPKernel()
    if which == "dual":
        params = {k: v for k, v in params.items() if k not in ("regularizer", "p", "solver")}
        if not params and bad:
            return
    if bad:
        run(f"{cls.__name__}(...)", lambda: cls(src, **params), invalid=True, names=names,
            case=str(params))
        return
    m = cls(src, lam=0.1, **params)
    Z = {"same": P, "nan": np.where(np.eye(3, 4) > 0, np.nan, P), "short": P[:-1],
         "ndim1": P[0], "negative": P - 1.0, "rows": P * 2.0}[zkind]
    invalid = zkind in ("nan", "short", "ndim1") or (loss == "softmax" and zkind in (
        "negative", "rows"))
    run(f"{cls.__name__}.fit", lambda: m.fit(X, Y, Z).predict(X, Y), invalid=invalid,
        names=("Z", "P", "rows", "probabilit"), case=f"{params}, Z={zkind}")


# ================================================================== attention
ATT_KINDS = ("same", "nan", "inf", "huge", "float32", "numpy", "ndim1", "empty", "wrong_dim",
             "int", "noncontig", "len_mismatch")


def _tensor_mutation(t, kind):
    if kind == "same":
        return t
    if kind in ("nan", "inf"):
        t = t.clone()
        t.view(-1)[0] = float(kind)
        return t
    if kind == "huge":
        return t * 1e4
    if kind == "float32":
        return t.float()
    if kind == "numpy":
        return t.numpy()
    if kind == "ndim1":
        return t.reshape(-1)
    if kind == "empty":
        return t[..., :0, :]
    if kind == "wrong_dim":
        return torch.cat([t, t[..., :1]], dim=-1)
    if kind == "int":
        return t.round().long()
    if kind == "noncontig":
        return t.transpose(-1, -2).contiguous().transpose(-1, -2)
    if kind == "len_mismatch":
        return t[..., :-1, :] if t.shape[-2] > 1 else torch.cat([t, t], dim=-2)
    raise AssertionError(kind)


ATT_NAMES = ["edp", "rbf", "exp_intersection", "elu", "taylor2", "poly2", "prf16", "taylor3",
             "poly3", "linear", "prf0", "nosuch", "taylor_x", "prf+4", "", None, 7]


@settings(FUZZ, max_examples=300)
@given(seed=st.integers(0, 10**6), which=st.sampled_from("qkv"), kind=st.sampled_from(ATT_KINDS),
       name=st.sampled_from(ATT_NAMES[:7]), causal=st.booleans(),
       path=st.sampled_from(["kernel", "features"]))
def test_fuzz_attention(seed, which, kind, name, causal, path):
    from rkbs.attention.kernel_attention import (
        feature_attention,
        kernel_attention,
        make_attention,
    )

    g = torch.Generator().manual_seed(seed)
    L = 4
    q, k, v = (torch.randn(2, L, 3, generator=g, dtype=torch.float64) for _ in range(3))
    spec = make_attention(name, 3, seed=0)
    if path == "kernel" and spec.kernel is None:
        path = "features"
    if path == "features" and spec.features is None:
        path = "kernel"
    args = {"q": q, "k": k, "v": v}
    args[which] = _tensor_mutation(args[which], kind)
    if kind == "len_mismatch" and which == "q" and not causal:
        kind = "same-ok"  # L != S is fine without a causal mask
    invalid = kind in ("nan", "inf", "numpy", "ndim1", "empty", "wrong_dim", "int",
                       "len_mismatch", "float32")  # float32 beside float64: mixed dtypes
    if kind == "wrong_dim" and which == "v":
        invalid = False  # values may have any width
    fn = kernel_attention if path == "kernel" else feature_attention
    obj = spec.kernel if path == "kernel" else spec.features
    ref = None
    if not invalid and kind not in ("huge", "same-ok"):
        qa, ka, va = (a.double() if torch.is_tensor(a) else a for a in args.values())
        ref = fn(qa.contiguous(), ka.contiguous(), va.contiguous(), obj, causal=causal)
    run(f"attention {fn.__name__}", lambda: fn(args["q"], args["k"], args["v"], obj,
                                               causal=causal),
        invalid=invalid, names=(which, "q", "k", "v", "dtype"), case=f"{name}, {which}={kind}",
        check=None if ref is None else (lambda out: close(out, ref, kind)))


@FUZZ
@given(name=st.sampled_from(ATT_NAMES), head_dim=st.sampled_from([4, 1, 0, -2, 2.5, "4", None]))
def test_fuzz_make_attention(name, head_dim):
    from rkbs.attention.kernel_attention import make_attention

    good_dim = isinstance(head_dim, int) and head_dim >= 1
    invalid = name in ATT_NAMES[7:] or not good_dim
    names = ("head_dim",) if not good_dim and name in ATT_NAMES[:7] else (
        "kernel", repr(name), "degree", "negative", "n_components", "head_dim", "dim")
    run("make_attention(name, head_dim)", lambda: make_attention(name, head_dim, seed=0),
        invalid=invalid, names=names, finite=lambda s: [], case=f"{name!r}, {head_dim!r}")


@settings(FUZZ, max_examples=40)
@given(kind=st.sampled_from(["ok", "out_of_vocab", "negative", "float", "too_long", "ndim1",
                             "empty", "numpy"]), which=st.sampled_from(["src", "tgt"]))
def test_fuzz_model(kind, which):
    from rkbs.attention.model import TransformerConfig, build_model

    model = build_model(TransformerConfig(src_vocab=11, tgt_vocab=9, d_model=8, n_heads=2,
                                          d_ff=16, n_enc_layers=1, n_dec_layers=1,
                                          max_len=6), seed=0)
    src = torch.randint(3, 11, (2, 5), generator=torch.Generator().manual_seed(0))
    tgt = torch.randint(3, 9, (2, 4), generator=torch.Generator().manual_seed(1))
    ids = src if which == "src" else tgt
    vocab = 11 if which == "src" else 9
    bad = {"ok": ids, "out_of_vocab": ids + vocab, "negative": ids - 20, "float": ids.float(),
           "too_long": torch.cat([ids, ids], 1), "ndim1": ids[0], "empty": ids[:, :0],
           "numpy": ids.numpy()}[kind]
    s, t = (bad, tgt) if which == "src" else (src, bad)
    with torch.no_grad():
        run("Seq2SeqTransformer.forward", lambda: model(s, t), invalid=kind != "ok",
            names=(which, "tgt_in", "token"), case=f"{which}={kind}")


TASK_CASES = [
    ("number-words", {"max_number": 50}, False, ()),
    ("number-words", {"max_number": 5}, True, ("max_number",)),
    ("number-words", {"max_number": 2.5}, True, ("max_number",)),
    ("recall", {"n_examples": 60}, False, ()),
    ("recall", {"n_examples": 60, "n_pairs": 20}, True, ("n_pairs",)),
    ("recall", {"n_examples": 0}, True, ("n_examples",)),
    ("recall", {"n_examples": -5}, True, ("n_examples",)),
    ("reversal", {"n_examples": 60}, False, ()),
    ("reversal", {"n_examples": 60, "min_len": 5, "max_len": 2}, True, ("min_len", "max_len")),
    ("reversal", {"n_examples": 60, "n_symbols": 0}, True, ("n_symbols",)),
    ("reversal", {"n_examples": 60, "bogus": 1}, True, ("bogus",)),
    ("nosuch", {}, True, ("task", "nosuch")),
    ("recall", {"n_examples": 60, "n_keys": 0}, True, ("n_keys", "n_pairs")),
]


@settings(FUZZ, max_examples=30)
@given(i=st.sampled_from(range(len(TASK_CASES))), seed=st.sampled_from([0, 1, "s", -1]))
def test_fuzz_tasks(i, seed):
    from rkbs.attention.tasks import make_task

    name, params, invalid, names = TASK_CASES[i]
    if not (isinstance(seed, int) and seed >= 0):
        invalid, names = True, ("seed",)
    run("make_task(name, seed, **params)",
        lambda: len(make_task(name, seed, quick=True, **params).splits["train"]),
        invalid=invalid, names=names, case=f"{name} {params} seed={seed!r}")


CLI_CASES = [
    ["nosuch"], [], ["train", "--kernel", "nosuch", "--quick", "--steps", "1"],
    ["train", "--task", "nosuch"], ["train", "--steps", "x"],
    ["train", "--steps", "-1", "--quick"], ["train", "--seed", "1.5"],
    ["train", "--device", "warp9", "--quick", "--steps", "1"],
    ["train", "--kernel", "prf100000000", "--quick", "--steps", "1"],
    ["train", "--kernel", "taylor3", "--quick", "--steps", "1"],
    ["verify", "--only", "no-such-claim"], ["figures", "--bogus"], ["bench", "--bogus"],
]


@settings(FUZZ, max_examples=len(CLI_CASES))
@given(i=st.sampled_from(range(len(CLI_CASES))))
def test_fuzz_cli(i, tmp_path_factory, capsys):
    from rkbs.cli import main

    argv = CLI_CASES[i]
    if argv[:1] == ["train"]:
        argv = [*argv, "--out", str(tmp_path_factory.mktemp("cli"))]

    def call():
        rc = main(argv)
        if rc:  # a non-zero exit code with a message is a refusal
            raise ValueError(f"exit code {rc}: {capsys.readouterr().err}")
        return rc

    run("rkbs CLI main(argv)", call, invalid=True, names=(), case=" ".join(argv[:4]),
        finite=lambda rc: [])


# ==================================================================== report
def _report() -> str:
    cols = list(GOOD) + list(BAD)
    short = ["correct", "refused (named)", "warned inf", "silent NaN/inf", "internal exc.",
             "unnamed msg", "invalid accepted", "valid refused", "wrong result"]
    lines = ["# Fuzz report (tests/test_fuzz_entrypoints.py)", "",
             "Generated by hypothesis (derandomized) with `make fuzz-report`. Each case "
             "changes one argument of a valid call; see the module docstring.", "",
             "| entry point | cases | " + " | ".join(short) + " |",
             "|---|---:|" + "---:|" * len(cols)]
    total = Counter()
    for entry in sorted(RECORD):
        c = RECORD[entry]
        total.update(c)
        lines.append(f"| {entry} | {sum(c.values())} | " + " | ".join(str(c[k]) for k in cols)
                     + " |")
    lines.append(f"| **total** | **{sum(total.values())}** | "
                 + " | ".join(f"**{total[k]}**" for k in cols) + " |")
    return "\n".join(lines) + "\n"


def test_fuzz_report():
    """Runs last in this file: writes the table, then holds the totals to the issue's bar."""
    if not RECORD:
        pytest.skip("run together with the fuzz tests of this file")
    for f in FAILURES:
        print(f)
    text = _report()
    total = sum(sum(c.values()) for c in RECORD.values())
    bad = {k: sum(c[k] for c in RECORD.values()) for k in BAD}
    if REPORT:
        Path(REPORT).write_text(text, encoding="utf-8")
    print("\n" + text)
    assert total >= 2000, f"only {total} fuzz cases ran"
    assert not FAILURES, f"{bad}\n" + "\n".join(FAILURES[:60])


if __name__ == "__main__":  # pragma: no cover - conftest-free view of the table
    import subprocess
    import sys

    sys.exit(subprocess.call([sys.executable, "-m", "pytest", __file__, "-q", "-s",
                              "-p", "no:cacheprovider"]))
