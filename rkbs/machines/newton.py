r"""A Newton-type solver for the smooth binary kernel machine problems (1 < p < ∞).

Runs on numpy arrays (the polish after cvxpy) and on torch tensors on CPU or CUDA
(:func:`torch_solve`), one implementation (array-api-compat).

**The change of variables.** For an exponent r < 2 the Hessian of :math:`|c|^r` is
:math:`r(r-1)|c|^{r-2}`, unbounded at 0, and Newton's method stalls near small
coordinates (theory §7). On such a side the solver optimizes in the dual
coordinates :math:`u = J`-like variables

.. math:: c = \psi(u) = \operatorname{sign}(u)\,|u|^{e}, \qquad e = \frac{1}{r-1} = r^* - 1 > 1,

so that :math:`|c|^r = |u|^{r^*}` with :math:`r^* > 2` (a :math:`C^2` function), and at the
optimum :math:`u \propto \iota(c) = \Phi^\top\xi` — the representer coefficients of
theory §4 are the natural variables. Sides with r ≥ 2 keep c = u.

**The step.** The Hessian in u is
:math:`J\Psi^\top H_s \Psi J + \operatorname{diag}(d) + \sum_{\text{sides}} \gamma\, (J\iota)(J\iota)^\top`
with :math:`J = \operatorname{diag}\psi'(u)`, :math:`H_s` the loss Hessian in the scores
(size m + n), :math:`d = \lambda R'(N)(r-1)|c|^{r-2}\psi'^2/N^{r-1}` and
:math:`\gamma = \lambda(R''(N) - R'(N)(r-1)/N)`; the term
:math:`\nabla_c F\circ\psi''(u)` is dropped (it vanishes at the optimum, so the
convergence stays superlinear, and the dropped matrix keeps d ≥ 0). The Newton system
of size :math:`D_X + D_Y` is solved through the Woodbury identity with an (m + n + 2)
inner system, assembled side by side (the Gram-like blocks :math:`\Phi_s J^2 D^{-1}\Phi_s^\top`
are k_s × k_s; the dense (D_X + D_Y) × (m + n) matrix of the stacked sides is never
formed), then an Armijo backtracking line search. Cost per step
:math:`O(m^2 D_X + n^2 D_Y + (m + n)^3)`.
"""

from __future__ import annotations

import math

from rkbs._backend import namespace
from rkbs._checks import check_random_state
from rkbs.machines.linesearch import backtrack
from rkbs.machines.problem import BinaryProblem
from rkbs.machines.protocol import SolverResult

__all__ = ["NewtonResult", "newton_solve", "product_solve", "torch_solve", "initial_point"]

_EPS = 2.220446049250313e-16


#: Former name of the result type (:class:`rkbs.machines.protocol.SolverResult`).
NewtonResult = SolverResult


def _result(w, v, residual, iterations, status, history):
    return SolverResult({"x": w, "y": v}, residual, status, iterations, history,
                        solver="newton")


def _exponent(r: float) -> float:
    return 1.0 / (r - 1.0) if r < 2.0 else 1.0


def _to_u(c, r):
    xp = namespace(c)
    e = _exponent(r)
    if e == 1.0:
        return c
    return xp.sign(c) * xp.abs(c) ** (1.0 / e)


def _from_u(u, r):
    xp = namespace(u)
    e = _exponent(r)
    if e == 1.0:
        return u
    return xp.sign(u) * xp.abs(u) ** e


def _dpsi(u, r):
    xp = namespace(u)
    e = _exponent(r)
    if e == 1.0:
        return xp.ones_like(u)
    return e * xp.abs(u) ** (e - 1.0)


def newton_solve(prob: BinaryProblem, w, v=None, *, blocks=None, tol: float = 1e-12,
                 max_iter: int = 100) -> NewtonResult:
    r"""Minimize F over the coefficient ``blocks`` (default: all sides) from (w, v).

    Stops when the relative first-order residual ρ (theory §7) over the blocks is
    ≤ ``tol``, when ``max_iter`` steps are done (status ``"max_iter"``) or when the
    line search finds no decrease (status ``"stalled"``: round-off reached).

    Parameters
    ----------
    prob : BinaryProblem
    w, v : arrays (D,)
        Starting coefficients (v None for one-sided problems). Blocks not in
        ``blocks`` stay fixed (alternating solves of the product coupling).
    """
    xp = prob.xp
    blocks = tuple(prob.sides) if blocks is None else tuple(blocks)
    coefs = {"x": w, "y": v}
    for s in blocks:
        if prob.sides[s].r <= 1.0 or math.isinf(prob.sides[s].r):
            raise ValueError(f"Newton needs 1 < r < inf on side {s}, got r={prob.sides[s].r}")
    u = {s: _to_u(coefs[s], prob.sides[s].r) for s in blocks}
    # a coordinate at exactly 0 has ψ'(0) = 0 and would never move: nudge it
    for s in blocks:
        if _exponent(prob.sides[s].r) != 1.0:
            scale = float(xp.max(xp.abs(u[s]))) or 1.0
            u[s] = xp.where(u[s] == 0, xp.full_like(u[s], 1e-8 * scale), u[s])

    def current(uu):
        c = dict(coefs)
        for s in blocks:
            c[s] = _from_u(uu[s], prob.sides[s].r)
        return c

    def F(uu):
        c = current(uu)
        return float(prob.objective(c["x"], c["y"]))

    history = []
    status = "max_iter"
    it = 0
    for it in range(max_iter + 1):
        c = current(u)
        ga, gb, G, a, b, A = prob.score_gradients(c["x"], c["y"])
        sg = {"x": ga, "y": gb}
        gl, gr, gu, gc, iot, scl = {}, {}, {}, {}, {}, {}
        for s in blocks:
            side = prob.sides[s]
            Phi = prob.Phi_X if s == "x" else prob.Phi_Y
            gl[s] = Phi.T @ sg[s]
            iot[s] = side.iota(c[s])
            scl[s] = side.reg_scale(c[s])
            gr[s] = scl[s] * iot[s]
            gc[s] = gl[s] + gr[s]
            gu[s] = _dpsi(u[s], side.r) * gc[s]
        num = math.sqrt(sum(float(xp.sum((gl[s] + gr[s]) ** 2)) for s in blocks))
        den = (math.sqrt(sum(float(xp.sum(gl[s] ** 2)) for s in blocks))
               + math.sqrt(sum(float(xp.sum(gr[s] ** 2)) for s in blocks)))
        res = num / den if den > 0 else 0.0
        history.append(res)
        if res <= tol:
            status = "optimal"
            break
        if it == max_iter:
            break
        d = _newton_direction(prob, blocks, u, c, a, b, A, gu, iot, scl, gc)
        g_flat = xp.concat([gu[s] for s in blocks])
        d_flat = xp.concat([d[s] for s in blocks])
        slope = float(xp.sum(g_flat * d_flat))
        if not (slope < 0) or not math.isfinite(slope):
            d = {s: -gu[s] for s in blocks}
            slope = -float(xp.sum(g_flat * g_flat))
        F0 = F(u)
        trial = _armijo(F, u, F0, d, slope, blocks)
        if trial is None:
            # safeguard: a Newton direction from a poorly conditioned point (e.g. along the
            # softmax loss's flat direction far from the optimum) can fail the line search
            # where steepest descent does not; only if both fail is round-off reached
            gnorm2 = float(xp.sum(g_flat * g_flat))
            if gnorm2 > 0:
                trial = _armijo(F, u, F0, {s: -gu[s] for s in blocks}, -gnorm2, blocks)
        if trial is None:
            status = "stalled"
            break
        u = trial
    c = current(u)
    return _result(c["x"], c.get("y"), history[-1], it, status, history)


def _armijo(F, u, F0, d, slope, blocks, max_halvings=40):
    """Backtracking along ``d`` from ``u`` (:func:`rkbs.machines.linesearch.backtrack`);
    the accepted point, or None."""
    out = backtrack(F, lambda t: {s: u[s] + t * d[s] for s in blocks}, F0, slope,
                    max_halvings=max_halvings)
    return None if out is None else out[1]


def _side_curvature(side, u_s, c_s, scl_s, xp):
    r"""Curvature of one side's regularizer in u: (d or None, β or None, γ).

    :math:`d = \lambda R'(N)(r-1)|c|^{r-2}\psi'^2/N^{r-1}` (D,) and
    :math:`\gamma = \lambda(R''(N) - R'(N)(r-1)/N)` (module docstring).

    On a side with the change of variables (r < 2, e = 1/(r − 1) > 1) the diagonal is
    proportional to the Jacobian :math:`J = \psi'(u) = e|u|^{e-1}` itself:

    .. math:: d = J/\beta, \qquad \beta = \frac{N^{r-1}}{\lambda R'(N)\,(r-1)\,e},

    so the step only ever needs :math:`J D^{-1} = \beta` (a scalar) and never divides
    by d, which vanishes like :math:`|u|^{e-1}` on small coordinates. Such a side returns
    ``(None, β, γ)``; a side without the change of variables returns ``(d, None, γ)``.
    At N = 0 both d and γ are 0 (``(zeros, None, 0)``).
    """
    r = side.r
    N = float(side.norm(c_s))
    if N <= 0:
        return xp.zeros_like(u_s), None, 0.0
    R1 = float(scl_s) / side.lam if side.lam > 0 else 0.0
    R2 = float(side.reg.d2(xp.asarray(N), r))
    gamma = side.lam * (R2 - R1 * (r - 1.0) / N)
    e = _exponent(r)
    if e == 1.0:
        diag = side.lam * R1 * (r - 1.0) * xp.abs(c_s / N) ** (r - 2.0) / N
        return diag, None, gamma
    scale = side.lam * R1 * (r - 1.0) * e / N ** (r - 1.0)
    if not scale > 0 or not math.isfinite(scale):
        diag = scale * _dpsi(u_s, r) if math.isfinite(scale) else xp.zeros_like(u_s)
        return diag, None, gamma
    return None, 1.0 / scale, gamma


def _newton_direction(prob, blocks, u, c, a, b, A, gu, iot, scl, gc=None):
    r"""Newton step in u: solve :math:`(D_g + U C U^\top)\,s = -g` by Woodbury.

    Per side s, :math:`U_s = [J_s\Phi_s^\top,\; J_s\iota_s]` (D_s × (k_s + 1)) and
    :math:`C = \operatorname{blockdiag}(H_s, \operatorname{diag}\gamma)`. With
    :math:`z = C U^\top s` the step is :math:`s = -D_g^{-1}(g + U z)` where

    .. math:: (I + C K)\,z = -C\,U^\top D_g^{-1} g, \qquad K = U^\top D_g^{-1} U,

    and K is block diagonal over the sides (the sides share no coefficients), so it is
    assembled from one (k_s × D_s)·(D_s × k_s) product per side — never the dense
    (ΣD_s × Σk_s) matrix U. The inner system has size Σk_s + (number of sides); cost per
    step :math:`O(\sum_s k_s^2 D_s + (\sum_s k_s)^3)`.

    Everything is written with :math:`M = J D_g^{-1}` and the gradient in c,
    :math:`g = J g_c`: :math:`K_s = [\Phi_s; \iota_s^\top] J M [\Phi_s^\top, \iota_s]`,
    :math:`U^\top D_g^{-1} g = [\Phi_s; \iota_s^\top] J M g_c` and
    :math:`s = -M\,(g_c + \Phi_s^\top z_s + \iota_s z_{\iota})`. On a side with the change
    of variables M = β (see :func:`_side_curvature`), so a coordinate whose u is tiny
    (J ≈ 0, d ≈ 0) still gets its full Newton step instead of a step divided by a
    floored curvature: with a floor such coordinates froze at spurious stationary points
    of u ↦ F(ψ(u)) (ψ'(0) = 0 makes every u_j = 0 stationary in u) and the solve stalled
    at residual 5e-4 (EDP Taylor N = 3, p = 1.25, logistic loss).
    """
    xp = prob.xp
    Hs = prob.score_hessian(a, b, A, blocks)
    dev = getattr(A, "device", None)
    dt = A.dtype
    Phis = {"x": prob.Phi_X, "y": prob.Phi_Y}
    sizes = [Phis[s].shape[0] for s in blocks]
    k = sum(sizes)
    nb = len(blocks)
    Jd, diag, beta, gam = {}, {}, {}, {}
    for s in blocks:
        Jd[s] = _dpsi(u[s], prob.sides[s].r)
        diag[s], beta[s], gam[s] = _side_curvature(prob.sides[s], u[s], c[s], scl[s], xp)
    if gc is None:
        # g_c = g/J; only needed where J ≠ 0 (J = 1 without the change of variables)
        gc = {s: gu[s] / xp.where(Jd[s] == 0, xp.ones_like(Jd[s]), Jd[s]) for s in blocks}
    # floor (sides without the change of variables only): relative 1e-12 of the largest
    # curvature (keeps Dg⁻¹ finite where |c|^{r-2} = 0, r > 2; changes the step by
    # O(1e-12) relative, far below the line search's resolution)
    big = max([float(xp.max(diag[s])) for s in blocks if diag[s] is not None]
              + [float(xp.max(xp.abs(Hs)))] + [abs(gam[s]) for s in blocks] + [1e-300])
    floor = 1e-12 * big
    # K = Uᵀ Dg⁻¹ U (block diagonal over sides) and r = Uᵀ Dg⁻¹ g
    # K's blocks per side: K_s = Φ_s J M Φ_sᵀ (k_s × k_s), κ_s = Φ_s J M ι_s, ι_sᵀJ M ι_s;
    # then I + C K is assembled column block by column block (C K = [H_s K; γ K]),
    # never multiplying by K's zero off-diagonal blocks
    CK = xp.eye(k + nb, dtype=dt, device=dev)
    rhs = xp.zeros((k + nb,), dtype=dt, device=dev)
    gv = [gam[s] for s in blocks]
    M, so = {}, 0
    for j, s in enumerate(blocks):
        Phi, ks = Phis[s], sizes[j]
        if beta[s] is not None:
            M[s] = beta[s]                                 # J Dg⁻¹ = β (scalar)
        else:
            M[s] = Jd[s] / xp.clip(diag[s], floor, None)   # J Dg⁻¹ (D_s,)
        wt = Jd[s] * M[s] * xp.ones_like(Jd[s])            # J² Dg⁻¹ (D_s,)
        Ks = (Phi * wt[None, :]) @ Phi.T
        kio = Phi @ (wt * iot[s])
        ii = xp.sum(wt * iot[s] * iot[s])
        Hcol = Hs[:, so:so + ks]                           # (k, k_s)
        CK[:k, so:so + ks] += Hcol @ Ks
        CK[:k, k + j] += Hcol @ kio
        CK[k + j, so:so + ks] += gv[j] * kio
        CK[k + j, k + j] += gv[j] * ii
        hg = wt * gc[s]                                    # J Dg⁻¹ g = J M g_c
        rhs[so:so + ks] = Phi @ hg
        rhs[k + j] = xp.sum(iot[s] * hg)
        so += ks
    # C r with C = blockdiag(Hs, diag γ)
    Cr = xp.concat([Hs @ rhs[:k], xp.asarray(gv, dtype=dt, device=dev) * rhs[k:]])
    z = -xp.linalg.solve(CK, Cr[:, None])[:, 0]
    out, so = {}, 0
    for j, s in enumerate(blocks):
        Phi, ks = Phis[s], sizes[j]
        out[s] = -M[s] * (gc[s] + Phi.T @ z[so:so + ks] + iot[s] * z[k + j])
        so += ks
    return out


def initial_point(prob: BinaryProblem, seed=None):
    r"""A starting point: a scaled negative loss gradient at 0, random where that is 0.

    For the product coupling :math:`(w, v) = (0, 0)` is a saddle (all gradients vanish),
    so both sides start from seeded Gaussian draws; otherwise
    :math:`c_0 = -t\,\Phi^\top\partial L/\partial s(0)` with t picked on a log grid.
    """
    xp = prob.xp
    rng = check_random_state(seed)
    D = {s: (prob.Phi_X if s == "x" else prob.Phi_Y).shape[1] for s in prob.sides}
    like = prob.Phi_X

    def draw(n):
        return xp.asarray(rng.standard_normal(n), dtype=like.dtype,
                          device=getattr(like, "device", None))

    if prob.coupling == "product" and not prob.one_sided:
        w, v = draw(D["x"]), draw(D["y"])
        a, b = prob.Phi_X @ w, prob.Phi_Y @ v
        # scale so that the scores are O(1)
        sa = float(xp.max(xp.abs(a))) or 1.0
        sb = float(xp.max(xp.abs(b))) or 1.0
        return w / sa, v / sb
    w0 = xp.zeros(D["x"], dtype=like.dtype, device=getattr(like, "device", None))
    v0 = None if prob.one_sided else xp.zeros(D["y"], dtype=like.dtype,
                                                device=getattr(like, "device", None))
    grads = prob.gradients(w0, v0)
    dirs = {}
    for s in prob.sides:
        gsd = -grads[s][0]
        if float(xp.max(xp.abs(gsd))) == 0.0:
            gsd = draw(D[s]) * 1e-3
        dirs[s] = gsd
    best, best_t = math.inf, 0.0
    for t in [10.0 ** k for k in range(-8, 3)]:
        val = float(prob.objective(t * dirs["x"], None if prob.one_sided else t * dirs["y"]))
        if val < best:
            best, best_t = val, t
    best_t = best_t or 1e-8
    return best_t * dirs["x"], None if prob.one_sided else best_t * dirs["y"]


def torch_solve(prob: BinaryProblem, *, tol: float = 1e-10, max_iter: int = 200, seed=None,
                max_outer: int = 500, w0=None, v0=None) -> NewtonResult:
    """Solve ``prob`` (built on torch tensors or numpy arrays) with Newton's method.

    Additive and one-sided problems are solved jointly; the product coupling by
    alternating block solves (each block to ``tol``) until the joint residual is
    ≤ ``tol`` or ``max_outer`` rounds are done.
    """
    if w0 is None:
        w0, v0 = initial_point(prob, seed)
    if prob.coupling == "additive" or prob.one_sided:
        return newton_solve(prob, w0, v0, tol=tol, max_iter=max_iter)
    return product_solve(prob, w0, v0, tol=tol, max_iter=max_iter, max_outer=max_outer)


def product_solve(prob: BinaryProblem, w, v, *, tol: float = 1e-10, max_iter: int = 200,
                  max_outer: int = 500, block_solver=None) -> NewtonResult:
    """Product coupling: alternating convex block solves, then joint Newton steps.

    Each round solves the x block (v fixed) and the y block (w fixed), each a convex
    problem, with ``block_solver(blocks, w, v) -> (w, v)`` (default: Newton to 1e-13);
    after every round a joint Newton solve with the exact (possibly indefinite) Hessian
    of the biconvex objective is tried from the current point and kept when it lowers
    the joint residual, which turns the linear rate of alternation into Newton's.
    """
    if block_solver is None:
        def block_solver(blocks, w, v):
            r = newton_solve(prob, w, v, blocks=blocks, tol=1e-12, max_iter=50)
            return r.w, r.v
    history = []
    status = "max_iter"
    for _ in range(max_outer):
        w, v = block_solver(("x",), w, v)
        w, v = block_solver(("y",), w, v)
        res = prob.residual(w, v)
        joint = newton_solve(prob, w, v, tol=tol, max_iter=50)
        if joint.residual < res:
            w, v, res = joint.w, joint.v, joint.residual
        history.append(res)
        if res <= tol:
            status = "optimal"
            break
    return _result(w, v, history[-1], len(history), status, history)
