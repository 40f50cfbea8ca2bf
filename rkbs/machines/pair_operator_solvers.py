r"""Solvers for the pair-operator model :math:`h_A(x, y) = \langle\Phi_X(x), A\,\Phi_Y(y)\rangle`.

The problem (theory §3, the pair-operator model) over S maps s = 1..S is

.. math::

    \min_{A \in \mathbb{R}^{D_x \times D_y}}\; F(A) =
    \sum_{s} L\bigl(Z_s,\ \Phi_X^{(s)} A\, \Phi_Y^{(s)\top};\ \Omega_s\bigr) + \lambda R(A),

with :math:`R(A) = \lVert A\rVert_F^2` (``"frobenius"``), :math:`\sum_{kl}|A_{kl}|^p`
(``"lp"``, 1 < p < ∞) or :math:`\lVert A\rVert_*` (``"nuclear"``). The loss gradient is
:math:`\nabla_A L = \sum_s \Phi_X^{(s)\top} G_s \Phi_Y^{(s)}` with
:math:`G_s = \partial L/\partial H_s` (:func:`rkbs.machines.losses.loss_gradient`).

Three routes, all returning the same :class:`PairSolution`:

* :func:`solve_torch_smooth` (Frobenius and ℓ^p): L-BFGS with a strong-Wolfe line search in
  float64 (``torch.optim.LBFGS``), then damped Newton steps until the relative first-order
  residual reaches ``tol``; CPU or CUDA. The Newton direction is exact, by a Woodbury
  identity that needs one Cholesky factorization of size S·m·n (:func:`_woodbury_direction`;
  up to S·m·n = 4096), else truncated CG on exact Hessian-vector products (no autograd:
  the loss Hessians are written out).
* :func:`solve_torch_nuclear`: accelerated proximal gradient (FISTA with the
  gradient-based adaptive restart of O'Donoghue & Candès, 2015) with singular-value
  soft-thresholding, step 1/L from a global curvature bound.
* :func:`solve_cvxpy` (all three): a DCP formulation (``sum(power(abs(A), p))`` for ℓ^p,
  the fastest form measured in theory §7; ``normNuc`` for the nuclear norm), solved by
  Clarabel or SCS with tightened tolerances; any status but ``optimal`` raises
  :class:`SolverError` naming it.

Residuals (the optimality measure reported as ``residual``):

* smooth R: :math:`\lVert\nabla L + \lambda\nabla R\rVert_F /
  (\lVert\nabla L\rVert_F + \lVert\lambda\nabla R\rVert_F)` (theory §7 definition);
* nuclear: the same ratio with the proximal-gradient map
  :math:`(A - \operatorname{prox}_{t\lambda\lVert\cdot\rVert_*}(A - t\nabla L))/t` in the
  numerator and :math:`\lVert\nabla L\rVert_F + \lambda\lVert U_r V_r^\top\rVert_F` in the
  denominator (zero iff A is optimal; t = 1/L).
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

import numpy as np

from rkbs._backend import torch_threads
from rkbs.machines.cvx import SolverError
from rkbs.machines.cvx import solver_options as _solver_options
from rkbs.machines.linesearch import backtrack
from rkbs.machines.losses import get_loss, loss_curvature, loss_gradient, loss_value
from rkbs.machines.protocol import SolverResult
from rkbs.machines.roundoff import spread_floor, stall_status, ulp_jitter

__all__ = [
    "PairProblem",
    "PairSolution",
    "SolverError",
    "solve_cvxpy",
    "solve_torch_nuclear",
    "solve_torch_smooth",
]

#: Below this many multiply-adds per score evaluation (S·m·D_x·D_y) the CPU torch solver runs
#: single-threaded: on a shared 2-core machine a 2-thread torch matmul of 32×64 matrices
#: measured 15 ms against 20 µs single-threaded (OpenMP barrier contention).
_SMALL_WORK = 4_000_000


@contextlib.contextmanager
def _small_problem_threads(prob: PairProblem):
    """Scoped single-threading for small CPU problems; restores the previous setting."""
    work = math.prod(prob.PX.shape) * prob.PY.shape[-1]
    small_cpu = prob.PX.device.type == "cpu" and work < _SMALL_WORK
    with torch_threads(1 if small_cpu else None):
        yield


@dataclass
class PairProblem:
    """Data of one pair-operator problem, as torch float64 tensors on one device.

    Attributes
    ----------
    PX : tensor (S, m, D_x)
        Query-side features :math:`\\Phi_X` of each map.
    PY : tensor (S, n, D_y)
        Key-side features :math:`\\Phi_Y`.
    Z, mask : tensors (S, m, n)
        Targets and observed pairs Ω (bool).
    loss, regularizer : str
    lam, p : float
    """

    PX: object
    PY: object
    Z: object
    mask: object
    loss: str
    regularizer: str
    lam: float
    p: float = 2.0
    #: for 1 < p < 2: use the exact Hessian of |a|^p instead of the IRLS majorizer
    exact_curvature: bool = False

    @property
    def n_scores(self) -> int:
        """S·m·n, the number of scores."""
        return int(self.PX.shape[0] * self.PX.shape[1] * self.PY.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.PX.shape[-1]), int(self.PY.shape[-1])

    # ------------------------------------------------------------ evaluations
    def scores(self, A):
        """:math:`H_s = \\Phi_X^{(s)} A \\Phi_Y^{(s)\\top}`, shape (S, m, n)."""
        return self.PX @ A @ self.PY.transpose(-1, -2)

    def loss_and_grad(self, A):
        """Loss value and its gradient in A (D_x, D_y); also returns H and G."""
        H = self.scores(A)
        val = loss_value(self.loss, self.Z, H, self.mask)
        G = loss_gradient(self.loss, self.Z, H, self.mask)
        grad = (self.PX.transpose(-1, -2) @ G @ self.PY).sum(0)
        return val, grad, H, G

    def reg_value(self, A):
        """:math:`R(A)`: Frobenius², entrywise ℓ^p to the p, or nuclear norm."""
        import torch

        if self.regularizer == "frobenius":
            return (A * A).sum()
        if self.regularizer == "lp":
            return (A.abs() ** self.p).sum()
        return torch.linalg.svdvals(A).sum()

    def reg_grad(self, A):
        """:math:`\\nabla R(A)` for the smooth regularizers (2A, p sign(A)|A|^{p-1})."""
        if self.regularizer == "frobenius":
            return 2.0 * A
        if self.regularizer == "lp":
            return self.p * A.sign() * A.abs() ** (self.p - 1.0)
        raise ValueError("the nuclear norm has no gradient; use the proximal residual")

    def objective(self, A) -> float:
        val, *_ = self.loss_and_grad(A)
        return float(val + self.lam * self.reg_value(A))

    # the problem interface shared with BinaryProblem and DualPairProblem
    def gradient(self, A):
        r""":math:`\nabla F(A) = \nabla L + \lambda\nabla R` (smooth regularizers)."""
        _, gL, _, _ = self.loss_and_grad(A)
        return gL + self.lam * self.reg_grad(A)

    def hessian_root(self, A):
        r"""``(R, Rt)`` with the loss Hessian in the scores :math:`\nabla^2_H L = R^\top R`."""
        return get_loss(self.loss).hessian_root(self.Z, self.scores(A), self.mask)

    def residual(self, A) -> float:
        """The relative residual of the module docstring (:func:`residual`)."""
        return residual(self, A)

    def residual_floor(self, A, n_perturb: int = 4) -> float:
        r"""Round-off floor of the computed smooth residual at A, measured.

        The residual is evaluated in float64 with one order of the products,
        :math:`H_s = (\Phi_X^{(s)}A)\Phi_Y^{(s)\top}` and
        :math:`\nabla L = \sum_s(\Phi_X^{(s)\top}G_s)\Phi_Y^{(s)}`. Other orders,
        :math:`\Phi_X(A\Phi_Y^\top)` and :math:`\Phi_X^\top(G\Phi_Y)`, are equally
        exact in real arithmetic and differ only by round-off, as do ``n_perturb``
        evaluations with every entry of A and of the targets Z moved by ±1 unit in the last
        place at random; the floor is twice the largest relative gradient difference :math:`\lVert\nabla L' - \nabla L\rVert /
        (\lVert\nabla L\rVert + \lambda\lVert\nabla R\rVert)` over these evaluations
        (a few samples of an error underestimate its scale, hence the factor
        2). A residual below it cannot be told from zero in float64. It is large when G is
        sensitive to the scores (small λ, maps the model nearly interpolates: the optimal
        G is a sum of large per-score terms that cancel); on the head-vs-machine grid at
        λ = 1e-4 it is about 1e-9, with score differences of 1e-15. (A worst-case
        forward-error bound, √N ε |Φ|ᵀ|G||Φ| plus the scores' error propagated, is 1e4
        times larger there, too loose to decide anything.)
        """

        _, gL, _, _ = self.loss_and_grad(A)
        den = float(gL.norm() + (self.lam * self.reg_grad(A)).norm())
        PXt, PYt = self.PX.transpose(-1, -2), self.PY.transpose(-1, -2)
        H2 = self.PX @ (A @ PYt)  # the other product order of the scores
        G1 = loss_gradient(self.loss, self.Z, self.scores(A), self.mask)
        G2 = loss_gradient(self.loss, self.Z, H2, self.mask)
        alts = [(PXt @ (G1 @ self.PY)).sum(0), ((PXt @ G2) @ self.PY).sum(0),
                (PXt @ (G2 @ self.PY)).sum(0)]
        # and A and the targets Z moved by one unit in the last place at random (G is a
        # difference of O(1) terms, e.g. softmax − P: its own rounding is eps·|Z|)
        jitter = ulp_jitter(A.dtype)
        for _ in range(n_perturb):
            Gp = loss_gradient(self.loss, jitter(self.Z), self.scores(jitter(A)), self.mask)
            alts.append((PXt @ Gp @ self.PY).sum(0))
        return spread_floor(gL, alts, den)

    def reg_curvature(self, A):
        r"""Curvature used for :math:`\sum|A_{kl}|^p` in the Newton model.

        p ≥ 2: the exact :math:`p(p-1)|a|^{p-2}`. 1 < p < 2: the curvature
        :math:`p|a|^{p-2}` of the quadratic majorizer of :math:`|a|^p` at a (IRLS): exact
        Newton overshoots through 0 there (the step maps a to a(p-2)/(p-1)), the majorizer
        never does (linear rate 2 - p); :attr:`exact_curvature` switches to the exact
        Hessian once the iterate is close. Entries at exactly 0 are clamped to 1e-150.
        """
        exact = self.p >= 2 or self.exact_curvature
        c = self.p * (self.p - 1.0) if exact else self.p
        return c * A.abs().clamp_min(1e-150) ** (self.p - 2.0)

    def hvp(self, A, H, V):
        """Exact Hessian-vector product of F at A (H = scores at A) with direction V."""
        E = self.scores(V)
        W = get_loss(self.loss).hvp(self.Z, H, self.mask, E)  # loss Hessian in the scores
        out = (self.PX.transpose(-1, -2) @ W @ self.PY).sum(0)
        if self.regularizer == "frobenius":
            return out + 2.0 * self.lam * V
        # p(p-1)|A|^{p-2}; entries at exactly 0 are clamped (p < 2: infinite curvature)
        return out + self.lam * self.reg_curvature(A) * V

    def hessian_diagonal(self, A, H):
        r"""Diagonal of the Hessian of F (exact for squared/logistic; for softmax the
        rank-one row coupling is left out), used as the CG preconditioner:
        :math:`\sum_s (\Phi_X^{(s)}\odot\Phi_X^{(s)})^	op W_s (\Phi_Y^{(s)}\odot\Phi_Y^{(s)})`
        plus the regularizer's diagonal."""
        W = loss_curvature(self.loss, self.Z, H, self.mask)
        out = (self.PX.square().transpose(-1, -2) @ W @ self.PY.square()).sum(0)
        if self.regularizer == "frobenius":
            return out + 2.0 * self.lam
        return out + self.lam * self.reg_curvature(A) + 1e-300

    def lipschitz(self) -> float:
        """Upper bound on the Lipschitz constant of ∇L: c_ℓ Σ_s ‖Φ_X^s‖₂² ‖Φ_Y^s‖₂², c_ℓ the
        loss's ``curvature_bound`` (squared 1, logistic 1/4, row softmax 1/2)."""
        import torch

        sx = torch.linalg.matrix_norm(self.PX, ord=2)
        sy = torch.linalg.matrix_norm(self.PY, ord=2)
        return float(get_loss(self.loss).curvature_bound * (sx**2 * sy**2).sum())


#: Former name of the result type (:class:`rkbs.machines.protocol.SolverResult`; its
#: ``A`` is ``solution``, float64 numpy).
PairSolution = SolverResult


# --------------------------------------------------------------------- residuals
def smooth_residual(prob: PairProblem, A, *, absolute: bool = False):
    r"""Relative first-order residual :math:`\lVert g_L + \lambda g_R\rVert/(\lVert g_L\rVert + \lVert\lambda g_R\rVert)`.

    With ``absolute=True`` returns ``(relative, ‖g_L + λ g_R‖_F)``.
    """
    _, gL, _, _ = prob.loss_and_grad(A)
    gR = prob.lam * prob.reg_grad(A)
    den = float(gL.norm() + gR.norm())
    num = float((gL + gR).norm())
    rel = num / den if den > 0 else 0.0
    return (rel, num) if absolute else rel


def _svt(B, thr):
    """Singular-value soft-thresholding prox of thr·‖·‖_* ; returns (prox, rank, U_r V_rᵀ)."""
    import torch

    U, s, Vh = torch.linalg.svd(B, full_matrices=False)
    s2 = (s - thr).clamp_min(0.0)
    r = int((s2 > 0).sum())
    P = (U[:, :r] * s2[:r]) @ Vh[:r]
    return P, r, U[:, :r] @ Vh[:r]


def nuclear_residual(prob: PairProblem, A, step: float | None = None, *, absolute=False):
    r"""Relative proximal-gradient residual for the nuclear norm (zero iff A is optimal).

    With ``absolute=True`` returns ``(relative, ‖G_t(A)‖_F)``, G_t the gradient map.
    """
    t = 1.0 / prob.lipschitz() if step is None else step
    _, gL, _, _ = prob.loss_and_grad(A)
    P, _, UV = _svt(A - t * gL, t * prob.lam)
    num = float((A - P).norm()) / t
    den = float(gL.norm()) + prob.lam * float(UV.norm())
    rel = num / den if den > 0 else 0.0
    return (rel, num) if absolute else rel


def residual(prob: PairProblem, A, *, absolute: bool = False):
    """The residual of the module docstring for the problem's regularizer.

    ``absolute=True`` also returns the absolute norm (gradient or gradient map).
    """
    if prob.regularizer == "nuclear":
        return nuclear_residual(prob, A, absolute=absolute)
    return smooth_residual(prob, A, absolute=absolute)


def loss_hessian_root(loss, Z, H, mask):
    r"""A square root R of the loss Hessian in the scores, :math:`\nabla^2_H L = R^\top R`
    (:meth:`~rkbs.machines.losses.Loss.hessian_root`). Returns ``(R, Rt)``, two functions
    acting on score arrays of shape (..., S, m, n)."""
    return get_loss(loss).hessian_root(Z, H, mask)


def score_kernel_matrix(GX, GY):
    r"""The (N, N) kernel of the scores, N = S·m·n, from per-map-pair Gram blocks.

    :math:`K_{(a,i,j),(b,p,q)} = G^X_{a i, b p}\,G^Y_{a j, b q}`, with GX (S, m, S', m')
    and GY (S, n, S', n') (S' = S for the training kernel): the kernel
    :math:`k_X(x, x')\,k_Y(y, y')` of the pair operator's reproducing kernel Hilbert space
    of score functions :math:`(x, y)\mapsto\langle\Phi_X(x), A\Phi_Y(y)\rangle` with
    :math:`\lVert A\rVert_F`.
    """
    import torch

    S, m, S2, m2 = GX.shape
    n, n2 = GY.shape[1], GY.shape[3]
    return torch.einsum("aibp,ajbq->aijbpq", GX, GY).reshape(S * m * n, S2 * m2 * n2)


def _factor_reduced(K, R, shape, shift: float):
    r"""Cholesky factor of :math:`M = \text{shift}\cdot I + R K R^\top` (K symmetric
    (N, N), N = S·m·n = prod(shape)), or ``None`` when the factorization fails."""
    import torch

    N = K.shape[0]
    RK = R(K.reshape(*shape, N).permute(3, 0, 1, 2)).reshape(N, N)  # K Rᵀ (K symmetric)
    M = R(RK.T.reshape(N, *shape)).reshape(N, N)                     # R K Rᵀ
    M = 0.5 * (M + M.T)
    M.diagonal().add_(shift)
    Lc, info = torch.linalg.cholesky_ex(M)
    return None if int(info) != 0 else Lc


# ------------------------------------------------------------------ torch solvers
#: Largest number of scores S·m·n for the exact (Woodbury) Newton direction: it factors an
#: (Smn × Smn) matrix (4096² float64 = 134 MB; Cholesky ≈ 23 GFLOP at the cap, 0.4 GFLOP
#: at 1024). Above it, Jacobi-preconditioned CG on Hessian-vector products.
_WOODBURY_MAX = 4096


def _cg_direction(prob, A, H, g, gn, res, cg_max):
    """Jacobi-preconditioned CG on H d = −g to relative accuracy min(0.1, √res)
    (superlinear rate); the diagonal matters for p < 2, where λp|A|^{p−2} spans decades."""
    eta = min(0.1, math.sqrt(res))
    Minv = 1.0 / prob.hessian_diagonal(A, H)
    d = A.new_zeros(A.shape)
    r = -g.clone()
    y = Minv * r
    q = y.clone()
    ry = float((r * y).sum())
    for _k in range(cg_max):
        Hq = prob.hvp(A, H, q)
        qHq = float((q * Hq).sum())
        if qHq <= 0:
            break
        alpha = ry / qHq
        d = d + alpha * q
        r = r - alpha * Hq
        if float(r.norm()) <= eta * gn:
            break
        y = Minv * r
        ry_new = float((r * y).sum())
        q = y + (ry_new / ry) * q
        ry = ry_new
    return d


def _woodbury_direction(prob, A, H, g, refine: int = 2):
    """Newton direction −H⁻¹g by :func:`_woodbury_solver`, with ``refine`` steps of
    iterative refinement on exact Hessian-vector products (the reduced matrix can have
    condition numbers ~1e13 with ill-conditioned features; each step divides the error by
    about 1/(eps·cond)). ``None`` when the Woodbury route does not apply."""
    solve = _woodbury_solver(prob, A, H)
    if solve is None:
        return None
    d = solve(-g)
    for _ in range(refine):
        r = -g - prob.hvp(A, H, d)
        d = d + solve(r)
    return d


def _woodbury_solver(prob, A, H):
    r"""Exact Newton solves :math:`b \mapsto (\Lambda + J^\top R^\top R J)^{-1} b` by Woodbury.

    J maps A to the scores (:math:`JA = \Phi_X A \Phi_Y^\top`), :math:`W = R^\top R` is the
    loss Hessian in the scores (:func:`loss_hessian_root`), Λ the (diagonal) regularizer
    Hessian. Then

    .. math::

        H^{-1} = \Lambda^{-1} - \Lambda^{-1}J^\top R^\top
        (I + R J\Lambda^{-1}J^\top R^\top)^{-1} R J \Lambda^{-1},

    with :math:`(J\Lambda^{-1}J^\top)_{(s,i,j),(s',i',j')} = \sum_{kl}
    \Phi_X[s,i,k]\Phi_X[s',i',k]\,\Lambda^{-1}_{kl}\,\Phi_Y[s,j,l]\Phi_Y[s',j',l]`: one
    Cholesky factorization of an (Smn × Smn) SPD matrix, however ill-conditioned the
    features make the (D_x D_y)-dimensional Hessian. Returns ``None`` (the caller then
    uses CG) when Λ is near-singular (ℓ^p with p > 2 has curvature p(p−1)|a|^{p−2} → 0 at
    a = 0) or the factorization fails.
    """
    import torch

    PX, PY = prob.PX, prob.PY
    S, m, _ = PX.shape
    n = PY.shape[1]
    N = S * m * n
    if prob.regularizer == "frobenius":
        # Λ⁻¹ = I/(2λ): K = (Φ_XΦ_Xᵀ ⊙ Φ_YΦ_Yᵀ)/(2λ) from the two Gram matrices, O(N²)
        Linv = torch.full_like(A, 1.0 / (2.0 * prob.lam))
        GXg = torch.einsum("aik,bpk->aibp", PX, PX)
        GYg = torch.einsum("ajl,bql->ajbq", PY, PY)
        K = score_kernel_matrix(GXg, GYg) / (2.0 * prob.lam)
    else:
        Lam = prob.lam * prob.reg_curvature(A)
        if float(Lam.min()) < 1e-12 * float(Lam.max()):
            return None  # p > 2 with entries near 0: Λ is near-singular, Woodbury invalid
        Linv = 1.0 / Lam
        # K = J Λ^{-1} Jᵀ, blockwise over map pairs (a, b)
        GX = PX[:, :, None, None, :] * PX[None, None, :, :, :]        # (S, m, S, m, Dx)
        T = (GX @ Linv).permute(0, 2, 1, 3, 4).reshape(S, S, m * m, -1)  # (S, S, m·m, Dy)
        GY = PY[:, :, None, None, :] * PY[None, None, :, :, :]        # (S, n, S, n, Dy)
        GY = GY.permute(0, 2, 4, 1, 3).reshape(S, S, -1, n * n)       # (S, S, Dy, n·n)
        K = (T @ GY).reshape(S, S, m, m, n, n)                        # [a, b, i, p, j, q]
        K = K.permute(0, 2, 4, 1, 3, 5).reshape(N, N)                 # [(a,i,j), (b,p,q)]
    R, Rt = loss_hessian_root(prob.loss, prob.Z, H, prob.mask)
    Lc = _factor_reduced(K, R, (S, m, n), 1.0)
    if Lc is None:
        return None

    def solve(b):
        v = Linv * b
        u = R(prob.scores(v)).reshape(N)
        w = torch.cholesky_solve(u[:, None], Lc)[:, 0].reshape(S, m, n)
        back = (PX.transpose(-1, -2) @ Rt(w) @ PY).sum(0)          # Jᵀ Rᵀ w
        return v - Linv * back

    return solve


def _newton_cg(prob: PairProblem, A, tol, max_steps, cg_max, history):
    """Newton steps (exact Woodbury direction when S·m·n ≤ 4096, else truncated CG on exact
    Hessian-vector products); Armijo backtracking on F, accepting a full step that lowers
    the gradient norm when F is flat to round-off."""
    steps = 0
    stalled = 0
    prob_stalled = False
    exact_failed = False
    for _ in range(max_steps):
        val, gL, H, _ = prob.loss_and_grad(A)
        gR = prob.lam * prob.reg_grad(A)
        g = gL + gR
        gn = float(g.norm())
        den = float(gL.norm() + gR.norm())
        res = gn / den if den > 0 else 0.0
        history.append(("newton", res))
        if res <= tol:
            break
        best = min((r for k, r in history[:-1] if k == "newton"), default=math.inf)
        # in the local regime (res < 1e-6) no 10 % gain in 8 steps means the round-off floor
        # of the gradient is reached (far out, damped steps lower F before the residual)
        stalled = stalled + 1 if (res < 1e-6 and res > 0.9 * best) else 0
        if stalled >= 8:
            prob_stalled = True
            break
        f0 = float(val + prob.lam * prob.reg_value(A))
        # p < 2: IRLS curvature far out, exact curvature (quadratic rate) close in
        prob.exact_curvature = res < 1e-6 and not exact_failed
        d = _woodbury_direction(prob, A, H, g) if prob.n_scores <= _WOODBURY_MAX else None
        if d is None:  # too many scores, Λ near-singular (p > 2 near 0), or not PD
            d = _cg_direction(prob, A, H, g, gn, res, cg_max)
        if not bool((d != 0).any()):
            d = -g
        slope = float((g * d).sum())
        # Armijo; near the optimum F is flat to ~1e-15|F|, so also accept a step that
        # does not raise F beyond round-off and lowers the gradient norm
        def lower_gradient(An, gn=gn):
            _, gLn, _, _ = prob.loss_and_grad(An)
            return float((gLn + prob.lam * prob.reg_grad(An)).norm()) < gn

        found = backtrack(prob.objective, lambda t, A=A, d=d: A + t * d, f0, slope,
                          accept_flat=lower_gradient)
        accepted = found is not None
        if accepted:
            An = found[1]
        if not accepted:
            if prob.exact_curvature and prob.p < 2:
                exact_failed = True  # fall back to the majorizer for the remaining steps
                continue
            break
        A = An
        steps += 1
    prob.exact_curvature = False
    return A, steps, prob_stalled


def solve_torch_smooth(
    prob: PairProblem, *, tol=1e-10, max_iter=500, newton=True, verbose=False, A0=None
) -> PairSolution:
    r"""L-BFGS (strong Wolfe, float64) then damped Newton for Frobenius / ℓ^p problems.

    Parameters
    ----------
    prob : PairProblem
        Data on the target device (CPU or CUDA), regularizer ``"frobenius"`` or ``"lp"``.
    tol : float
        Target relative first-order residual.
    max_iter : int
        Total iterations: L-BFGS (at most 25 when ``newton``) plus Newton steps (each
        with ≤ 500 CG iterations).
    newton : bool
        Run the Newton phase after L-BFGS (Woodbury direction, or CG on exact HVPs).

    Returns
    -------
    PairSolution
        ``status`` is ``"optimal"`` when ``residual <= tol``; ``"round_off_floor"`` when
        Newton stalled (8 steps without a 10 % gain below a residual of 1e-6) at a residual
        below the estimated round-off floor of the computed gradient
        (:meth:`PairProblem.residual_floor`, in ``info["residual_floor"]``), which counts
        as converged; else ``"not_converged"``.
    """
    with _small_problem_threads(prob):
        return _solve_torch_smooth(prob, tol, max_iter, newton, verbose, A0)


def _solve_torch_smooth(prob, tol, max_iter, newton, verbose, A0):
    import torch

    t0 = time.perf_counter()
    Dx, Dy = prob.shape
    dev, dt = prob.PX.device, prob.PX.dtype
    A = torch.zeros((Dx, Dy), dtype=dt, device=dev) if A0 is None else A0.clone()
    param = torch.nn.Parameter(A)
    history: list = []
    n_eval = [0]

    def closure():
        n_eval[0] += 1
        with torch.no_grad():
            val, gL, _, _ = prob.loss_and_grad(param.data)
            f = val + prob.lam * prob.reg_value(param.data)
            param.grad = gL + prob.lam * prob.reg_grad(param.data)
        return f

    # L-BFGS in chunks so the relative residual can be checked between them
    chunk = 25
    it = 0
    while it < max_iter:
        n = min(chunk, max_iter - it)
        opt = torch.optim.LBFGS(
            [param], lr=1.0, max_iter=n, max_eval=int(n * 1.5) + 10, history_size=50,
            tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe",
        )
        opt.step(closure)
        it += n
        res = smooth_residual(prob, param.data)
        history.append(("lbfgs", res))
        if verbose:
            print(f"[pair-operator/torch] L-BFGS iter {it}: residual {res:.3e}")
        if res <= tol or not bool(torch.isfinite(param.data).all()):
            break
        if newton:
            break  # hand over to Newton after one chunk (globalized by its line search)
        if len(history) >= 2 and history[-1][1] > 0.5 * history[-2][1]:
            break  # L-BFGS stalls (line search at round-off): hand over to Newton
    A = param.data.detach()
    n_newton, stalled = 0, False
    if newton and smooth_residual(prob, A) > tol:
        A, n_newton, stalled = _newton_cg(prob, A, tol, max_steps=max(max_iter - it, 0), cg_max=500,
                                 history=history)
        if verbose:
            print(f"[pair-operator/torch] Newton steps {n_newton}: residual "
                  f"{smooth_residual(prob, A):.3e}")
    res, gnorm = smooth_residual(prob, A, absolute=True)
    # above tol: at the round-off floor when Newton stalled (8 steps without a 10 % gain
    # in the local regime) below the measured floor, else not converged
    status, floor = stall_status(res, tol, stalled, lambda: prob.residual_floor(A))
    floor = floor if res > tol else None
    return SolverResult(
        solution=A.detach().cpu().numpy().astype(np.float64), objective=prob.objective(A),
        residual=res, grad_norm=gnorm, status=status,
        n_iter=it + n_newton, solver="torch-lbfgs+newton" if newton else "torch-lbfgs",
        seconds=time.perf_counter() - t0, history=history,
        info={"residual_floor": floor},
    )


def solve_torch_nuclear(
    prob: PairProblem, *, tol=1e-10, max_iter=20000, verbose=False, A0=None
) -> PairSolution:
    r"""FISTA with adaptive restart and singular-value soft-thresholding (nuclear norm).

    .. math::

        A^{k+1} = \operatorname{prox}_{t\lambda\lVert\cdot\rVert_*}\bigl(B^k - t\nabla L(B^k)\bigr),
        \qquad \operatorname{prox}_{\tau\lVert\cdot\rVert_*}(B) = U(\Sigma - \tau)_+V^\top,

    with backtracking on the step t (starting each iteration from 1.25× the last accepted
    step; test: secant curvature along the step at most 1/t; never below 1/L with L from
    :meth:`PairProblem.lipschitz`, for which the test always holds). The momentum restarts whenever
    :math:`\langle B^k - A^{k+1}, A^{k+1} - A^k\rangle > 0` (O'Donoghue & Candès 2015).
    The iterates are exactly low-rank (soft-thresholding sets singular values to 0).
    """
    with _small_problem_threads(prob):
        return _solve_torch_nuclear(prob, tol, max_iter, verbose, A0)


def _solve_torch_nuclear(prob, tol, max_iter, verbose, A0):
    import torch

    t0 = time.perf_counter()
    Dx, Dy = prob.shape
    dev, dt = prob.PX.device, prob.PX.dtype
    A = torch.zeros((Dx, Dy), dtype=dt, device=dev) if A0 is None else A0.clone()
    t_ref = 1.0 / prob.lipschitz()  # global bound: the step of the reported residual
    t = t_ref
    B, theta = A.clone(), 1.0
    history: list = []
    res = math.inf
    k = 0
    for k in range(1, max_iter + 1):
        _, gB, _, _ = prob.loss_and_grad(B)
        # backtracking from a step 1.25× the last accepted one, on the secant curvature
        # <∇L(A+) − ∇L(B), A+ − B> ≤ ‖A+ − B‖²/t (free of the cancellation in function
        # values that makes the Beck–Teboulle test meaningless near the optimum); t ≥ 1/L
        # always passes.
        t = 1.25 * t
        while True:
            A_new, _, _ = _svt(B - t * gB, t * prob.lam)
            D = A_new - B
            gA = prob.loss_and_grad(A_new)[1]
            dd = float((D * D).sum())
            if float(((gA - gB) * D).sum()) <= dd / t or t <= t_ref or dd == 0.0:
                break
            t = max(0.5 * t, t_ref)
        if float(((B - A_new) * (A_new - A)).sum()) > 0:
            theta = 1.0  # restart
        theta_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * theta * theta))
        B = A_new + ((theta - 1.0) / theta_new) * (A_new - A)
        A, theta = A_new, theta_new
        if k % 25 == 0 or k == max_iter:
            res = nuclear_residual(prob, A, step=t_ref)
            history.append(("fista", res))
            if verbose and k % 1000 == 0:
                print(f"[pair-operator/torch] FISTA iter {k}: residual {res:.3e}")
            if res <= tol:
                break
    res, gnorm = nuclear_residual(prob, A, step=t_ref, absolute=True)
    return SolverResult(
        solution=A.cpu().numpy().astype(np.float64), objective=prob.objective(A), residual=res,
        grad_norm=gnorm,
        status="optimal" if res <= tol else "not_converged", n_iter=k, solver="torch-fista",
        seconds=time.perf_counter() - t0, history=history,
    )


# ----------------------------------------------------------------------- cvxpy
def _cvxpy_options(solver: str, tol: float, max_iter: int | None, extra: dict | None) -> dict:
    """:func:`rkbs.machines.cvx.solver_options` without its ``solver`` key (kept name)."""
    opts = _solver_options(solver, tol, max_iter, extra)
    opts.pop("solver")
    return opts


def solve_cvxpy(
    prob: PairProblem, *, solver="clarabel", tol=1e-10, max_iter=None, verbose=False,
    solver_options=None,
) -> PairSolution:
    r"""The same problem as a DCP program, solved by Clarabel or SCS through cvxpy.

    Loss from :func:`rkbs.machines.losses.loss_cvxpy` on each map (row-softmax is an
    exponential-cone problem); regularizer ``sum_squares(A)``, ``sum(power(abs(A), p))``
    or ``normNuc(A)``. Raises :class:`SolverError` unless cvxpy reports ``optimal``.
    The returned ``objective`` and ``residual`` are recomputed from A (not cvxpy's value).
    """
    import cvxpy as cp

    from rkbs.machines.losses import loss_cvxpy

    t0 = time.perf_counter()
    PX = prob.PX.detach().cpu().numpy()
    PY = prob.PY.detach().cpu().numpy()
    Z = prob.Z.detach().cpu().numpy()
    M = prob.mask.detach().cpu().numpy()
    Dx, Dy = prob.shape
    A = cp.Variable((Dx, Dy), name="A")
    loss = 0
    for s in range(PX.shape[0]):
        loss = loss + loss_cvxpy(prob.loss, Z[s], PX[s] @ A @ PY[s].T, M[s])
    if prob.regularizer == "frobenius":
        reg = cp.sum_squares(A)
    elif prob.regularizer == "lp":
        reg = cp.sum(cp.power(cp.abs(A), prob.p))
    else:
        reg = cp.normNuc(A)
    problem = cp.Problem(cp.Minimize(loss + prob.lam * reg))
    opts = _solver_options(solver, tol, max_iter, solver_options)
    try:
        problem.solve(verbose=verbose, **opts)
    except cp.error.SolverError as exc:
        raise SolverError(f"cvxpy/{solver} failed: {exc}", status="solver_error") from exc
    if problem.status != cp.OPTIMAL:
        raise SolverError(
            f"cvxpy/{solver} returned status {problem.status!r} (only 'optimal' is accepted; "
            f"options {opts})", status=problem.status,
        )
    import torch

    At = torch.as_tensor(A.value, dtype=prob.PX.dtype, device=prob.PX.device)
    n_iter = problem.solver_stats.num_iters if problem.solver_stats is not None else -1
    res, gnorm = residual(prob, At, absolute=True)
    return SolverResult(
        solution=np.asarray(A.value, dtype=np.float64), objective=prob.objective(At),
        residual=res, grad_norm=gnorm, status=problem.status, n_iter=int(n_iter or -1),
        solver=f"cvxpy-{solver}", seconds=time.perf_counter() - t0,
    )
