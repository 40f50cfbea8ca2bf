r"""The pair-operator machine in representer coordinates: any feature dimension, even ∞.

With the Frobenius regularizer the pair-operator problem (theory §3, §4)

.. math::

    \min_A \sum_s L\bigl(Z_s, \Phi_X^{(s)} A\,\Phi_Y^{(s)\top}; \Omega_s\bigr)
    + \lambda\lVert A\rVert_F^2

has its solution in the span of the data, :math:`A^\star = \sum_s \Phi_X^{(s)\top} C_s
\Phi_Y^{(s)}` (the representer theorem), so only inner products of features are needed.
Writing :math:`k_X(x, x') = \langle\Phi_X(x), \Phi_X(x')\rangle` and
:math:`k_Y(y, y') = \langle\Phi_Y(y), \Phi_Y(y')\rangle` for the Gram kernels of the two
feature maps, the scores and the regularizer are

.. math::

    H_a = \sum_b G^X_{ab}\, C_b\, G^{Y\top}_{ab},\qquad
    \lVert A\rVert_F^2 = \langle C, H\rangle,\qquad
    (G^X_{ab})_{ik} = k_X(x^a_i, x^b_k),\ (G^Y_{ab})_{jl} = k_Y(y^a_j, y^b_l),

i.e. :math:`H = \mathcal K C` with the (N × N) score kernel
:math:`\mathcal K_{(a,i,j),(b,k,l)} = k_X(x^a_i, x^b_k)\,k_Y(y^a_j, y^b_l)`,
N = S·m·n. The problem in C has N unknowns whatever :math:`D_x D_y` is, which is what
makes degree-4 Taylor features of 32-dimensional states (58,905 features a side,
:math:`3.5\cdot 10^9` entries of A) or the exact, infinite-dimensional EDP pair
(:math:`k_X(x, x') = \exp(\langle W_Q x, W_Q x'\rangle/\sqrt d)`, Wright & Gonzalez 2021,
§3) tractable.

For a binary kernel :math:`\kappa(x, y) = k_0(q(x), k(y))` whose base :math:`k_0` is
positive definite (:math:`k_0(u, v) = \langle\varphi(u), \varphi(v)\rangle`), the canonical
feature pair is :math:`\Phi_X = \varphi\circ q`, :math:`\Phi_Y = \varphi\circ k`, and the
Gram kernels are the *tied* versions of κ: :math:`k_X = k_0(q(\cdot), q(\cdot))`,
:math:`k_Y = k_0(k(\cdot), k(\cdot))` (:func:`side_kernels`). κ itself stays asymmetric
and indefinite; :math:`k_X, k_Y` are Mercer kernels on X and on Y separately.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import numpy as np

from rkbs._backend import check_device, to_numpy, torch_threads
from rkbs._checks import check_int, check_positive
from rkbs.features.base import FeaturePair
from rkbs.kernels.base import BinaryKernel
from rkbs.machines.linesearch import backtrack
from rkbs.machines.losses import get_loss, loss_gradient, loss_value, predict_from_scores
from rkbs.machines.pair_operator import assemble_operator, fit_features_if_needed, prepare_maps
from rkbs.machines.pair_operator_solvers import (
    _factor_reduced,
    loss_hessian_root,
    score_kernel_matrix,
)
from rkbs.machines.protocol import ParamsMixin, SolverResult, check_on_failure, solver_failed
from rkbs.machines.roundoff import spread_floor, stall_status, ulp_jitter

__all__ = ["side_kernels", "DualPairProblem", "solve_dual", "DualPairOperatorMachine",
           "DUAL_SOLVERS", "DENSE_MAX_SCORES"]

#: Choices of :class:`DualPairOperatorMachine`'s ``solver``.
DUAL_SOLVERS = ("dense", "cg", "gmres", "auto")
#: Most scores N for which ``solver="auto"`` forms the dense (N × N) score kernel
#: (4096² float64 = 134 MB, one Cholesky ≈ 23 GFLOP per Newton step); above it, the
#: matrix-free preconditioned solver (:mod:`rkbs.machines.matrix_free_gmres`).
DENSE_MAX_SCORES = 4096


def side_kernels(source):
    r"""The Gram kernels :math:`(k_X, k_Y)` of the feature maps of a pair or of a kernel.

    Parameters
    ----------
    source : FeaturePair or BinaryKernel
        A feature pair gives :math:`k_X(x, x') = \Phi_X(x)\cdot\Phi_X(x')` and
        :math:`k_Y(y, y') = \Phi_Y(y)\cdot\Phi_Y(y')` through its features. A binary kernel
        :math:`\kappa(x, y) = k_0(q(x), k(y))` gives its tied copies
        :math:`k_X = k_0(q(\cdot), q(\cdot))` and :math:`k_Y = k_0(k(\cdot), k(\cdot))`,
        evaluated in closed form (no features: infinite-dimensional kernels allowed).

    Returns
    -------
    kx, ky : callables
        ``kx(X (n, d_x), X2 (n2, d_x)) -> (n, n2)`` and ``ky`` likewise, on torch float64
        tensors.

    Raises
    ------
    ValueError
        For other objects, or a kernel whose tied copy is not positive semi-definite (the
        base :math:`k_0` then has no feature map and the construction is invalid).
    """
    if isinstance(source, FeaturePair):
        def kx(X, X2):
            return source.transform_x(X) @ source.transform_x(X2).T

        def ky(Y, Y2):
            return source.transform_y(Y) @ source.transform_y(Y2).T

        return kx, ky
    if isinstance(source, BinaryKernel):
        tied_x, tied_y = copy.copy(source), copy.copy(source)
        tied_x.W_K = source.W_Q
        tied_y.W_Q = source.W_K
        for t in (tied_x, tied_y):
            if not t.positive_definite:
                raise ValueError(
                    f"the tied copy of {type(source).__name__} is not positive semi-definite: "
                    "its base kernel has no feature map, so it defines no pair operator")
        return tied_x, tied_y
    raise ValueError("side_kernels needs a FeaturePair or a BinaryKernel, got "
                     f"{type(source).__name__}")


@dataclass
class DualPairProblem:
    """One pair-operator problem in representer coordinates (torch float64, one device).

    Attributes
    ----------
    GX : tensor (S, m, S, m)
        :math:`k_X(x^a_i, x^b_k)` for every pair of maps (a, b).
    GY : tensor (S, n, S, n)
        :math:`k_Y(y^a_j, y^b_l)`.
    Z, mask : tensors (S, m, n)
        Targets and observed pairs Ω.
    loss : str
    lam : float
    """

    GX: object
    GY: object
    Z: object
    mask: object
    loss: str
    lam: float

    @property
    def shape(self) -> tuple[int, int, int]:
        return int(self.GX.shape[0]), int(self.GX.shape[1]), int(self.GY.shape[1])

    def scores(self, C, GX=None, GY=None):
        r""":math:`H_a = \sum_b G^X_{ab} C_b G^{Y\top}_{ab}`: (S', m', n') from C (S, m, n).

        With cross Gram blocks GX (S', m', S, m), GY (S', n', S, n) this evaluates the
        fitted machine at new maps; without, the training Grams' symmetry is used
        (:func:`_apply_symmetric_blocks`, the same product in two plain batched matrix
        products)."""
        if GX is None and GY is None:
            return _apply_symmetric_blocks(self.GX, C, self.GY)
        return _apply_blocks(self.GX if GX is None else GX, C, self.GY if GY is None else GY)

    def objective(self, C, H=None) -> float:
        """:math:`L(H) + \\lambda\\langle C, H\\rangle`, H = 𝒦C (the primal objective at A(C))."""
        H = self.scores(C) if H is None else H
        return float(loss_value(self.loss, self.Z, H, self.mask) + self.lam * (C * H).sum())

    # the problem interface shared with BinaryProblem and PairProblem
    def gradient(self, C):
        r""":math:`\nabla_C F = \mathcal K(G + 2\lambda C)`, G the loss gradient at H = 𝒦C."""
        H = self.scores(C)
        return self.scores(loss_gradient(self.loss, self.Z, H, self.mask) + 2.0 * self.lam * C)

    def hessian_root(self, C):
        r"""``(R, Rt)`` with the loss Hessian in the scores :math:`\nabla^2_H L = R^\top R`."""
        return get_loss(self.loss).hessian_root(self.Z, self.scores(C), self.mask)

    def residual(self, C) -> float:
        r"""Fixed-point residual :math:`\lVert\mathcal K(G + 2\lambda C)\rVert /
        (\lVert\mathcal KG\rVert + \lVert 2\lambda H\rVert)` (zero iff C is optimal)."""
        H = self.scores(C)
        KG = self.scores(loss_gradient(self.loss, self.Z, H, self.mask))
        return _fixed_point_residual(KG, H, self.lam)


def _apply_blocks(GX, C, GY):
    """:math:`H_a = \\sum_b G^X_{ab} C_b G^{Y\\top}_{ab}` for GX (S', m', S, m), C (S, m, n),
    GY (S', n', S, n) -> (S', m', n')."""
    import torch

    T = torch.einsum("aibk,bkl->aibl", GX, C)
    return torch.einsum("aibl,ajbl->aij", T, GY)


def _apply_symmetric_blocks(GX, C, GY):
    r""":func:`_apply_blocks` for symmetric training Grams, as two batched matrix products.

    With :math:`G^X_{ai,bk} = G^X_{bk,ai}`:
    :math:`T_{b,(ai),l} = \sum_k G^X_{bk,ai} C_{bkl}` (batched over b, GX read in place),
    then :math:`H_{a,i,j} = \sum_{(b,l)} T_{b,(ai),l}\,G^Y_{aj,bl}` (batched over a).
    GX (S, m, S, m), C (S, m, n), GY (S, n, S, n) -> (S, m, n); about 3× faster than the
    einsum route at S = 98, m = n = 32 (one thread), one (S m × S n) temporary."""
    import torch

    S, m = int(GX.shape[0]), int(GX.shape[1])
    n = int(GY.shape[1])
    T = torch.bmm(GX.reshape(S, m, S * m).transpose(1, 2), C)          # (b, (a,i), l)
    T = T.reshape(S, S, m, n).permute(1, 2, 0, 3).reshape(S, m, S * n)  # (a, i, (b,l))
    return torch.bmm(T, GY.reshape(S, n, S * n).transpose(1, 2))


def _fixed_point_residual(KG, H, lam):
    r"""‖𝒦(G + 2λC)‖ / (‖𝒦G‖ + ‖2λH‖): zero iff :math:`J^\top(G + 2\lambda C) = 0`."""
    num = float((KG + 2.0 * lam * H).norm())
    den = float(KG.norm() + 2.0 * lam * H.norm())
    return num / den if den > 0 else 0.0


def _measured_floor(prob, C, H, other, n_perturb: int = 4) -> float:
    r"""Round-off floor of the fixed-point residual at C, measured.

    The solvers compute :math:`H = \mathcal KC` and :math:`\mathcal KG` by
    :meth:`DualPairProblem.scores`; ``other(V)`` is another route to :math:`\mathcal KV`,
    exact in real arithmetic too (the dense (N × N) kernel, or :func:`blockwise_scores`). The
    floor is twice the largest relative difference
    :math:`\lVert v' - v\rVert/(\lVert\mathcal KG\rVert + \lVert 2\lambda H\rVert)` of
    the residual vector :math:`v = \mathcal K(G + 2\lambda C)` over the three other
    combinations of the two routes and ``n_perturb`` evaluations with every entry of C
    and of the targets Z moved by ±1 unit in the last place at random (a few samples of an error underestimate
    its scale, hence the factor 2): a residual below it cannot be told from zero in
    float64.
    """
    lam = prob.lam

    def vec(Cc, Zc):
        Hc = prob.scores(Cc)
        Gc = loss_gradient(prob.loss, Zc, Hc, prob.mask)
        return prob.scores(Gc) + 2.0 * lam * Hc

    H_o = other(C)
    G_s = loss_gradient(prob.loss, prob.Z, H, prob.mask)
    G_o = loss_gradient(prob.loss, prob.Z, H_o, prob.mask)
    KG = prob.scores(G_s)
    v = KG + 2.0 * lam * H
    den = float(KG.norm() + 2.0 * lam * H.norm())
    alts = [other(G_s) + 2.0 * lam * H, prob.scores(G_o) + 2.0 * lam * H_o,
            other(G_o) + 2.0 * lam * H_o]
    # and C and the targets Z rounded differently (G = softmax − P cancels: its own
    # rounding, eps·|Z|, is what 𝒦 amplifies)
    jitter = ulp_jitter(C.dtype)
    alts += [vec(jitter(C), jitter(prob.Z)) for _ in range(n_perturb)]
    return spread_floor(v, alts, den)


def blockwise_scores(prob):
    r"""Another route to 𝒦V for :func:`_measured_floor` in the matrix-free solvers: the
    key side first, :math:`U_{a,j,b,k} = \sum_l G^Y_{aj,bl}V_{b,k,l}`, then
    :math:`(\mathcal KV)_{a,i,j} = \sum_{b,k}G^X_{ai,bk}U_{a,j,b,k}` — the other
    association of the product that :meth:`DualPairProblem.scores` evaluates query side
    first, so its rounding differs. One (S, n, S, m) temporary (N·S numbers)."""
    import torch

    def other(V):
        U = torch.einsum("ajbl,bkl->ajbk", prob.GY, V)
        return torch.einsum("aibk,ajbk->aij", prob.GX, U)

    return other


def solve_dual(prob: DualPairProblem, *, tol: float = 1e-10, max_iter: int = 100,
               verbose: bool = False):
    r"""Damped Newton in C for :math:`F(C) = L(\mathcal K C) + \lambda\langle C, \mathcal K C\rangle`.

    :math:`\nabla F = \mathcal K g`, :math:`g = G + 2\lambda C`, and
    :math:`\nabla^2 F = \mathcal K(W\mathcal K + 2\lambda I)` with :math:`W = R^\top R` the
    loss Hessian in the scores (:func:`~rkbs.machines.pair_operator_solvers.loss_hessian_root`).
    The Newton direction solves :math:`(2\lambda I + R^\top R\mathcal K)\delta = -g`:

    .. math::

        \delta = -\frac{1}{2\lambda}\Bigl(g - R^\top(2\lambda I + R\mathcal K R^\top)^{-1}
        R\,\mathcal K g\Bigr),

    one Cholesky factorization of an SPD (N × N) matrix per step, valid when
    :math:`\mathcal K` is singular (finite features with :math:`D_x D_y < N`); it is the
    image of the primal Newton direction, so the rate is quadratic. Armijo backtracking on F.
    Stops when the representer fixed-point residual
    :math:`\lVert\mathcal K(G + 2\lambda C)\rVert/(\lVert\mathcal K G\rVert +
    \lVert 2\lambda H\rVert)` (zero iff :math:`A = -\sum_s\Phi_X^{(s)\top}G_s\Phi_Y^{(s)}/(2\lambda)`
    is stationary) is at most ``tol``, or when three Newton steps in a row gain less than
    10 % below a residual of 1e-6 (status ``"round_off_floor"`` when the residual is then
    below its measured round-off floor, :func:`_measured_floor`: the residual's spread over
    the blockwise and the dense evaluation of 𝒦C and 𝒦G).

    Returns
    -------
    SolverResult
        ``solution`` C (S, m, n); ``residual``, ``objective``, ``n_iter``, ``status``
        ("optimal", "round_off_floor" or "not_converged"), ``seconds``, ``history``
        (residual per step); ``info["scores"]`` H = 𝒦C, ``info["residual_floor"]``.
    """
    import torch

    t0 = time.perf_counter()
    S, m, n = prob.shape
    lam = prob.lam
    K = score_kernel_matrix(prob.GX, prob.GY)                 # (N, N), built once
    N = K.shape[0]

    def kmul(V):
        return (K @ V.reshape(N)).reshape(S, m, n)

    C = torch.zeros_like(prob.Z)
    H = torch.zeros_like(prob.Z)
    history = []
    stalled = 0
    it = 0
    for it in range(max_iter + 1):
        G = loss_gradient(prob.loss, prob.Z, H, prob.mask)
        KG = kmul(G)
        res = _fixed_point_residual(KG, H, lam)
        g = G + 2.0 * lam * C
        Kg = KG + 2.0 * lam * H
        history.append(res)
        if res < 1e-6:
            best = min(history[:-1], default=math.inf)
            stalled = stalled + 1 if res > 0.9 * best else 0
        if verbose:
            print(f"[pair-operator/dual] step {it}: residual {res:.3e}")
        # stop at tol, or when 3 Newton steps in a row gain < 10 % in the local regime
        # (quadratic convergence has ended: the round-off floor is reached)
        if res <= tol or stalled >= 3 or it == max_iter:
            break
        R, Rt = loss_hessian_root(prob.loss, prob.Z, H, prob.mask)
        Lc = _factor_reduced(K, R, (S, m, n), 2.0 * lam)
        if Lc is None:  # cannot happen for SPD input; guard against round-off breakdown
            break

        def newton_solve(b, Kb, R=R, Rt=Rt, Lc=Lc):  # (2λI + RᵀR𝒦)⁻¹ b, given 𝒦b
            u = torch.cholesky_solve(R(Kb).reshape(N, 1), Lc).reshape(S, m, n)
            return (b - Rt(u)) / (2.0 * lam)

        d = newton_solve(-g, -Kg)
        Kd = kmul(d)
        # b − Rᵀu cancels in the directions where 𝒦 is large, losing eps (μ/2λ)² of 𝒦d
        # (μ an eigenvalue of 𝒦); two steps of iterative refinement restore it (the
        # computed residual of the Newton system is accurate to eps |g|).
        for _ref in range(2):
            r = -g - 2.0 * lam * d - Rt(R(Kd))
            Kr = kmul(r)
            d = d + newton_solve(r, Kr)
            Kd = kmul(d)
        f0 = float(loss_value(prob.loss, prob.Z, H, prob.mask) + lam * (C * H).sum())
        slope = float((Kg * d).sum())
        cH, dH, dKd = float((C * H).sum()), float((d * H).sum()), float((d * Kd).sum())
        # F along the step in closed form: the scores move by t·𝒦d, ⟨C,𝒦C⟩ is quadratic
        def F_at(t, cH=cH, dH=dH, dKd=dKd, H=H, Kd=Kd):
            return float(loss_value(prob.loss, prob.Z, H + t * Kd, prob.mask)) + lam * (
                cH + 2.0 * t * dH + t * t * dKd)

        found = backtrack(F_at, lambda t: t, f0, slope)
        if found is None:
            break
        step = found[0]
        C = C + step * d
        H = prob.scores(C)  # recomputed, not accumulated: no drift between H and 𝒦C
    res = history[-1]
    status, floor = stall_status(
        res, tol, stalled >= 3,
        lambda: _measured_floor(prob, C, H, lambda V: (K @ V.reshape(N)).reshape(V.shape)))
    return SolverResult(C, res, status, it, history, objective=prob.objective(C, H),
                        solver="dual-newton", seconds=time.perf_counter() - t0,
                        info={"scores": H, "residual_floor": floor})


def _points(X, name):
    import torch

    if X is None:
        raise ValueError(f"{name} is required")
    X = torch.as_tensor(to_numpy(X) if not torch.is_tensor(X) else X.detach(),
                        dtype=torch.float64)
    if X.ndim not in (2, 3):
        raise ValueError(f"{name} must have shape (m, d) or (S, m, d), got shape "
                         f"{tuple(X.shape)}")
    return X


def _gram_blocks(k, X, X2):
    """k on flattened maps: X (S, m, d), X2 (S2, m2, d) -> (S, m, S2, m2)."""
    S, m, d = X.shape
    S2, m2, _ = X2.shape
    G = k(X.reshape(S * m, d), X2.reshape(S2 * m2, d))
    return G.reshape(S, m, S2, m2)


class DualPairOperatorMachine(ParamsMixin):
    r"""Frobenius pair-operator machine solved in representer coordinates C.

    Fits the same function as :class:`~rkbs.machines.PairOperatorMachine` with
    ``regularizer="frobenius"`` (the tests hold the two to the solvers' accuracy), but its
    cost depends on the number of scores N = S·m·n, not on the feature dimension, and it
    accepts a :class:`~rkbs.kernels.BinaryKernel` in place of features: then the
    (possibly infinite-dimensional) canonical feature pair of the kernel is used implicitly
    (:func:`side_kernels`). Cost of the dense solver: an (N × N) score kernel in memory,
    one Cholesky factorization of size N per Newton step (N = 4000: 128 MB, ≈ 21 GFLOP);
    of the matrix-free ones (``solver="gmres"``, the default above 4096 scores): the side
    Grams, (S m)² + (S n)² entries, and a few products with 𝒦 per Newton step.

    Use the primal machine when explicit features have :math:`D_x D_y` below N: the score
    kernel is then singular, and with badly scaled features (‖𝒦‖/2λ ≳ 1e8, e.g. few
    positive random features) the Newton direction loses its accuracy and the solve stalls
    (reported as ``status_ = "not_converged"`` with a warning).

    Parameters
    ----------
    source : FeaturePair or BinaryKernel
        Where the Gram kernels :math:`k_X, k_Y` come from.
    loss : {"softmax", "squared", "logistic"}
    lam : float
        λ > 0.
    tol : float
        Target representer fixed-point residual (see :func:`solve_dual`).
    max_iter : int
        Newton steps.
    device : str
        torch device of the solve.
    on_failure : {"raise", "warn"}
        ``"not_converged"`` raises :class:`~rkbs.machines.SolverError` naming the residual,
        or (``"warn"``) keeps the last iterate with a ``RuntimeWarning``
        (:mod:`rkbs.machines.protocol`); ``"round_off_floor"`` counts as converged.
    solver : {"dense", "cg", "gmres", "auto"}
        ``"dense"``: :func:`solve_dual` (forms the N × N score kernel); ``"cg"``:
        :func:`rkbs.machines.matrix_free.solve_dual_cg` (matrix-free Newton–CG: memory
        O((S m)² + (S n)²) instead of O(N²), but unpreconditioned: hundreds of
        𝒦-products per Newton step on softmax maps); ``"gmres"``:
        :func:`rkbs.machines.matrix_free_gmres.solve_dual_gmres` (matrix-free Newton with
        row-block preconditioned GMRES, a few 𝒦-products per step: N = 10⁵ scores in
        minutes on one core, see BENCHMARKS.md); ``"auto"``: dense up to
        :data:`DENSE_MAX_SCORES` scores, else ``"gmres"``.

    Attributes
    ----------
    n_features_ : tuple
        (D_x, D_y) of the source (``inf`` for an infinite-dimensional kernel).
    solve_time_ : float
        Wall time of the solve (also ``solve_seconds_``).
    coef_ : ndarray (S, m, n) or (m, n)
        Representer coefficients C, :math:`A^\star = \sum_s\Phi_X^{(s)\top}C_s\Phi_Y^{(s)}`.
    n_products_, n_inner_ : int or None
        Matrix-free solvers: 𝒦-products and inner Krylov iterations, over all stages
        (``None`` for the dense solver).
    objective_, residual_, residual_floor_, status_, n_iter_, solve_seconds_, history_
        The solve's record (:func:`solve_dual`); ``residual_kind_ = "fixed_point"``
        (``residual_`` is the representer fixed-point residual); ``fit_maps_`` the
        training data with a map axis (X, Y, Z, mask); ``status_`` is "optimal",
        "round_off_floor" (stalled below the residual's estimated round-off floor) or
        "not_converged" (with a warning).
    """

    def __init__(self, source, *, loss: str = "softmax", lam: float = 1e-2,
                 tol: float = 1e-10, max_iter: int = 100, device: str = "cpu",
                 verbose: bool = False, on_failure: str = "raise", solver: str = "auto"):
        self.kx, self.ky = side_kernels(source)
        get_loss(loss)  # a registered name or a Loss; raises naming the valid ones
        check_positive(lam, "lam")
        check_positive(tol, "tol")
        check_int(max_iter, "max_iter", minimum=1)
        check_on_failure(on_failure)
        if solver not in DUAL_SOLVERS:
            raise ValueError(f"solver must be one of {', '.join(map(repr, DUAL_SOLVERS))}, "
                             f"got {solver!r}")
        # stored unchanged (sklearn.base.clone)
        self.source, self.loss, self.lam, self.tol = source, loss, lam, tol
        self.max_iter, self.device, self.verbose = max_iter, device, verbose
        self.on_failure, self.solver = on_failure, solver

    def _grams(self, X, Y, X2, Y2):
        import torch

        with torch.no_grad():
            GX = _gram_blocks(self.kx, X, X2)
            GY = _gram_blocks(self.ky, Y, Y2)
        kw = {"dtype": torch.float64, "device": check_device(self.device)}
        return torch.as_tensor(GX, **kw), torch.as_tensor(GY, **kw)

    def fit(self, X, Y, Z, mask=None):
        """Fit C on X (m, d_x) | (S, m, d_x), Y (n, d_y) | (S, n, d_y), targets Z (…, m, n)."""
        import torch

        Xb, Yb, Zb, Mb, batched = prepare_maps(self.loss, X, Y, Z, mask)
        if isinstance(self.source, FeaturePair):
            fit_features_if_needed(self.source, Xb, Yb)
        Xb, Yb = _points(Xb, "X"), _points(Yb, "Y")
        GX, GY = self._grams(Xb, Yb, Xb, Yb)
        kw = {"dtype": torch.float64, "device": GX.device}
        prob = DualPairProblem(GX=GX, GY=GY, Z=torch.as_tensor(Zb, **kw),
                               mask=torch.as_tensor(Mb, device=GX.device),
                               loss=self.loss, lam=self.lam)
        N = Zb.size
        threads = 1 if N <= 512 and GX.device.type == "cpu" else None
        with torch_threads(threads):
            solver = self.solver
            if solver == "auto":
                solver = "dense" if N <= DENSE_MAX_SCORES else "gmres"
            if solver == "cg":  # matrix-free: 𝒦 applied blockwise, never formed
                from rkbs.machines.matrix_free import solve_dual_cg as solve
            elif solver == "gmres":  # matrix-free, row-block preconditioned
                from rkbs.machines.matrix_free_gmres import solve_dual_gmres as solve
            else:
                solve = solve_dual
            sol = solve(prob, tol=self.tol, max_iter=self.max_iter, verbose=self.verbose)
        C = sol.solution
        self.X_fit_, self.Y_fit_, self._batched = Xb, Yb, batched
        self.coef_ = C.cpu().numpy() if batched else C[0].cpu().numpy()
        self._C = C
        self.objective_ = sol.objective
        self.residual_ = sol.residual
        self.residual_floor_ = sol.info["residual_floor"]
        # matrix-free solvers: 𝒦-products and inner (CG / GMRES) iterations, all stages
        self.n_products_ = sol.info.get("n_products")
        self.n_inner_ = sol.info.get("n_gmres", sol.info.get("n_cg"))
        self.status_ = sol.status
        self.n_iter_ = sol.n_iter
        self.solve_seconds_ = sol.seconds
        self.history_ = sol.history
        self.n_scores_ = N
        self.source_is_features_ = isinstance(self.source, FeaturePair)
        self.residual_kind_ = "fixed_point"
        self.fit_maps_ = (to_numpy(Xb).astype(np.float64), to_numpy(Yb).astype(np.float64),
                          Zb, Mb)
        self.solve_time_ = self.solve_seconds_
        if self.source_is_features_:
            self.n_features_ = (int(self.source.n_features), int(self.source.n_features))
        else:
            fd = getattr(self.source, "feature_dim", math.inf)
            self.n_features_ = (fd, fd)
        if self.status_ == "not_converged":
            solver_failed(self.on_failure,
                          f"DualPairOperatorMachine stopped with status 'not_converged' at "
                          f"residual {self.residual_:.3e} > tol={self.tol:.1e} after "
                          f"{self.n_iter_} Newton steps", self.status_)
        return self

    def _check_fitted(self):
        if not hasattr(self, "coef_"):
            raise ValueError("DualPairOperatorMachine is not fitted: call fit(X, Y, Z) first")

    # ------------------------------------------------- certificate protocol
    def side_kernels(self):
        r"""The Gram kernels :math:`(k_X, k_Y)` the machine was built on."""
        return self.kx, self.ky

    @property
    def solution_(self):
        """The solver's variable: the representer coefficients C (S, m, n)."""
        self._check_fitted()
        return to_numpy(self._C)

    def with_solution(self, C):
        """A shallow copy whose coefficients are ``C`` (S, m, n) (or (m, n) when fitted
        unbatched), e.g. a perturbed optimum for a certificate's negative control."""
        import torch

        self._check_fitted()
        C = np.asarray(C, dtype=np.float64)
        S = tuple(self._C.shape)
        Cb = C if C.shape == S else (C[None] if C.shape == S[1:] else None)
        if Cb is None:
            raise ValueError(f"C must have shape {S} (or {S[1:]}), got {C.shape}")
        out = copy.copy(self)
        out._C = torch.as_tensor(Cb, dtype=self._C.dtype, device=self._C.device)
        out.coef_ = Cb if self._batched else Cb[0]
        return out

    def decision_function(self, X, Y):
        r"""Scores :math:`h(x, y) = \sum_b\sum_{kl} k_X(x, x^b_k)\,C_{bkl}\,k_Y(y, y^b_l)`,
        shape (m, n) or (S, m, n) (numpy)."""
        self._check_fitted()
        X, Y = _points(X, "X"), _points(Y, "Y")
        batched = X.ndim == 3
        if batched != (Y.ndim == 3) or (batched and X.shape[0] != Y.shape[0]):
            raise ValueError(f"X and Y must both be batched with the same S, or both not: "
                             f"X {tuple(X.shape)}, Y {tuple(Y.shape)}")
        Xb, Yb = (X, Y) if batched else (X[None], Y[None])
        GX, GY = self._grams(Xb, Yb, self.X_fit_, self.Y_fit_)
        H = _apply_blocks(GX, self._C, GY).cpu().numpy()
        return H if batched else H[0]

    def predict(self, X, Y):
        r"""Softmax rows of H (softmax loss), :math:`\sigma(H)` (logistic), or H (squared)."""
        return predict_from_scores(self.loss, self.decision_function(X, Y))

    def operator(self):
        r""":math:`A^\star = \sum_s \Phi_X^{(s)\top} C_s \Phi_Y^{(s)}` (D_x, D_y), for feature
        pairs only (a kernel's canonical features may be infinite-dimensional)."""
        self._check_fitted()
        if not isinstance(self.source, FeaturePair):
            raise ValueError("operator() needs explicit features; this machine was built from "
                             f"a {type(self.source).__name__}")
        S, m, d = self.X_fit_.shape
        PX = to_numpy(self.source.transform_x(self.X_fit_.reshape(S * m, d)))
        Sy, n, dy = self.Y_fit_.shape
        PY = to_numpy(self.source.transform_y(self.Y_fit_.reshape(Sy * n, dy)))
        return assemble_operator(PX.reshape(S, m, -1), to_numpy(self._C),
                                 PY.reshape(S, n, -1))

    def __repr__(self) -> str:
        src = type(self.source).__name__
        return (f"DualPairOperatorMachine(source={src}, loss={self.loss!r}, lam={self.lam:g}, "
                f"tol={self.tol:g})")

