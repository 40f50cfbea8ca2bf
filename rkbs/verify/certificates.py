r"""Representer-theorem certificates for fitted binary kernel machines (theory §4).

For a smooth pair (1 < p < ∞) every minimizer satisfies, on the X side,

.. math::

    \iota(w^*) = \Phi_X^\top\xi, \qquad
    \xi_i = -\frac{\partial L/\partial a_i}{\lambda_X R_X'(\lVert w^*\rVert_p)},

(and on the Y side :math:`\iota(v^*) = \Phi_Y^\top\zeta` with the exponent q*). A
certificate measures, per side:

1. **span**: :math:`\lVert\iota(w) - \Phi_X^\top\hat\xi\rVert/\lVert\iota(w)\rVert`,
   :math:`\hat\xi` by least squares; *vacuous* when rank Φ_X = D;
2. **coefficients**: :math:`\lVert\hat\xi - \xi\rVert/\lVert\xi\rVert`;
3. **function space**: :math:`\sup_y|\iota(f)(y) - \sum_i\xi_i\kappa(x_i, y)|` relative, on
   held-out y, with the kernel itself (``features.reproduced_kernel``: the kernel for
   exact pairs, the truncated series for Taylor features; random pairs reproduce no
   closed form and use their own feature kernel, said in the row's note);
4. **reconstruction**: :math:`w = \lVert w\rVert_p\operatorname{sign}(\theta)|\theta|^{q^*-1}`,
   :math:`\theta = \Phi_X^\top\xi`, predicts f at held-out x;
5. **KKT**: the relative first-order residual (theory §7) recomputed at the point.

**Tolerances** follow from the solver's reported accuracy ρ (``machine.residuals_``):
with :math:`e = \iota - \Phi^\top\xi = \nabla_w F/(\lambda R')`, the definition of ρ
gives :math:`\lVert e\rVert/\lVert\iota\rVert \le E := 2\rho/(1-\rho)`; each part's
bound is propagated from E (span ≤ E; coefficients ≤ E‖ι‖/σ_min(Φ)/‖ξ‖; function space
≤ max‖Φ(y)‖ E‖ι‖; reconstruction through the Hölder/Lipschitz constant of
t ↦ sign(t)|t|^{q*−1}), times a safety factor 2, plus a round-off floor
(10 ε-multiples stated at each formula). A perturbed or non-optimal point is assessed
against the same tolerances: it must fail (built-in negative controls).

**Pair-operator machines** (:func:`certify_pair`, reached through :func:`certify`): the
representer form :math:`A^\star = -\frac{1}{2\lambda}\sum_s \Phi_X^{(s)\top}G_s
\Phi_Y^{(s)}` checked on the training scores and on held-out points, through the
machines' public protocol (``fit_maps_``, ``side_kernels()``, ``decision_function``,
``residual_``, ``residual_kind_``, ``solution_``/``with_solution``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from rkbs._backend import to_numpy
from rkbs._checks import check_array, check_random_state
from rkbs.spaces.duality import conjugate_exponent, lp_norm, norm_gradient
from rkbs.verify.report import CheckResult, check

__all__ = ["Certificate", "certify", "certify_pair", "certify_point", "default_heldout"]

_EPS = float(np.finfo(float).eps)
_SAFETY = 2.0


@dataclass
class Certificate:
    """Certificate of the representer form of one fitted machine (rows are CheckResults).

    Attributes
    ----------
    status : str
        ``"certified"`` (every row passed), ``"failed"`` or ``"vacuous"`` (a span part
        carries no information because rank Φ = D; never reported as passed).
    accuracy : dict
        The solver's reported residuals the tolerances were derived from.
    rows : list[CheckResult]
    details : dict
        Per side: rank, D, m, σ_min, the coefficient vectors ξ, ξ̂, measured figures.
    """

    status: str
    accuracy: dict
    rows: list = field(default_factory=list)
    details: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "certified"

    def __bool__(self) -> bool:
        return self.passed


def default_heldout(X, n: int = 40, seed=0):
    """Held-out points drawn from a Gaussian with the per-column mean and std of X."""
    X = np.asarray(X, float)
    rng = check_random_state(seed)
    sd = X.std(axis=0) + (X.std(axis=0) == 0)
    return X.mean(axis=0) + sd * rng.standard_normal((n, X.shape[1]))


def _kernel_values(features, A, B):
    """κ(A, B) without features when the pair reproduces a closed form."""
    try:
        return np.asarray(to_numpy(features.reproduced_kernel(A, B)), float), "kernel"
    except NotImplementedError:
        return np.asarray(to_numpy(features.gram(A, B)), float), "feature kernel (random pair)"


def _side_parts(machine, side, c, sg, acc, H_other, H_own, claim, setting, label):
    """The four representer parts for one side; returns (rows, details, vacuous)."""
    feats = machine.features
    prob = machine.problem_
    sd = prob.sides[side]
    r = sd.r
    rc = conjugate_exponent(r)
    Phi = machine.Phi_X_ if side == "x" else machine.Phi_Y_
    m, D = Phi.shape
    name = "f" if side == "x" else "g"
    rows, det = [], {}
    N = float(lp_norm(c, r))
    if N == 0:
        det["degenerate"] = True
        return rows, det, False
    iota = np.asarray(norm_gradient(c, r))
    scale = float(sd.reg_scale(c))
    xi = -sg / scale
    sv = np.linalg.svd(Phi, compute_uv=False)
    rank = int((sv > sv[0] * max(m, D) * _EPS).sum())
    vacuous = rank >= D
    smin = sv[min(m, D) - 1]
    cond = sv[0] / smin if smin > 0 else math.inf
    E = 2 * acc / (1 - acc) if acc < 1 else math.inf
    ni = np.linalg.norm(iota)
    # 1. span
    xh, *_ = np.linalg.lstsq(Phi.T, iota, rcond=None)
    span = np.linalg.norm(iota - Phi.T @ xh) / ni
    # round-off of a least-squares residual: ~ eps·‖Φ‖‖ξ̂‖ (backward stable QR/SVD), ×10
    floor = 10 * _EPS * (1 + sv[0] * np.linalg.norm(xh) / ni) * math.sqrt(D)
    tol_span = _SAFETY * E + floor
    st = f"{setting}, {label} side ({name}*: r={r:g}, m={m}, D={D}, rank={rank})"
    if vacuous:
        rows.append(CheckResult(
            claim, f"{st}: span", float(span), float(tol_span), "<=", False, False,
            "VACUOUS: rank Φ = D, every vector is in the span; this part carries no "
            "information (use D > m)", part="span residual", labels={"side": label}))
    else:
        rows.append(check(claim, f"{st}: span residual of ι({name}*)", span, tol_span,
                          part="span residual", labels={"side": label}, note="tol = 2·E + lstsq round-off, E = 2ρ/(1−ρ) from the solver's ρ"))
    # 2. coefficients
    nxi = np.linalg.norm(xi)
    coef = np.linalg.norm(xh - xi) / nxi
    if rank < m:
        tol_coef = math.inf
        note = "Φ rows dependent (rank < m): ξ not unique; compared, not held to a bound"
    else:
        # ‖ξ̂ − ξ‖ ≤ ‖e‖/σ_min; lstsq forward error ~ eps·cond (×10·√m)
        tol_coef = _SAFETY * E * ni / smin / nxi + 10 * _EPS * cond * math.sqrt(m)
        note = f"tol = 2·E‖ι‖/(σ_min‖ξ‖) + 10·eps·cond·√m, cond(Φ)={cond:.2g}"
    rows.append(check(claim, f"{st}: coefficients ξ̂ vs closed-form ξ", coef, tol_coef, note=note,
                      part="coefficients", labels={"side": label}))
    # 3. function space on held-out points of the other domain
    fit_own = machine.X_fit_ if side == "x" else machine.Y_fit_
    if side == "x":
        Phi_o = np.asarray(to_numpy(feats.transform_y(H_other)), float)
        Kh, kname = _kernel_values(feats, fit_own, H_other)  # (m, h)
        rhs = Kh.T @ xi
    else:
        Phi_o = np.asarray(to_numpy(feats.transform_x(H_other)), float)
        Kh, kname = _kernel_values(feats, H_other, fit_own)  # (h, n)
        rhs = Kh @ xi
    lhs = Phi_o @ iota
    sup = max(np.abs(lhs).max(), 1e-300)
    fs = np.abs(lhs - rhs).max() / sup
    ro = 10 * _EPS * (np.abs(Kh).T @ np.abs(xi) if side == "x" else np.abs(Kh) @ np.abs(xi)
                      ).max() * math.sqrt(m)
    ro += 10 * _EPS * (np.abs(Phi_o) @ np.abs(iota)).max()
    tol_fs = (_SAFETY * np.linalg.norm(Phi_o, axis=1).max() * E * ni + ro) / sup
    rows.append(check(claim, f"{st}: function space ι({name}*) = Σ ξ κ on held-out points",
                      fs, tol_fs, part="function space", labels={"side": label}, note=f"{kname}; tol = 2·max‖Φ(y)‖·E‖ι‖ + 10·eps sums"))
    # 4. reconstruction from ξ and the one scalar ‖c‖
    theta = Phi.T @ xi
    k = rc - 1.0
    c_rec = N * np.sign(theta) * np.abs(theta) ** k
    Phi_h = np.asarray(to_numpy(feats.transform_x(H_own) if side == "x"
                                else feats.transform_y(H_own)), float)
    f_true, f_rec = Phi_h @ c, Phi_h @ c_rec
    supf = max(np.abs(f_true).max(), 1e-300)
    rec = np.abs(f_true - f_rec).max() / supf
    e2 = E * ni
    if k >= 1:
        dlt = k * (np.abs(iota).max() + e2) ** (k - 1) * e2
    else:  # Hölder: |s^k − t^k| ≤ 2^{1−k}|s − t|^k; ‖|e|^k‖₂ ≤ D^{(1−k)/2}‖e‖₂^k
        dlt = 2 ** (1 - k) * D ** ((1 - k) / 2) * e2 ** k
    ro = 10 * _EPS * (np.abs(Phi_h) @ np.abs(c)).max() * (1 + k) * math.sqrt(m)
    tol_rec = (_SAFETY * np.linalg.norm(Phi_h, axis=1).max() * N * dlt + ro) / supf
    rows.append(check(claim, f"{st}: reconstruction of {name}* from ξ and ‖{name}*‖", rec,
                      tol_rec, part="reconstruction", labels={"side": label}, note=f"exponent {k:g}; Lipschitz/Hölder bound from E"))
    det.update(rank=rank, D=D, m=m, sigma_min=float(smin), cond=float(cond), xi=xi,
               xi_hat=xh, span=float(span), coef=float(coef), function_space=float(fs),
               reconstruction=float(rec), vacuous=vacuous)
    return rows, det, vacuous


def certify_point(machine, w, v=None, *, X_heldout=None, Y_heldout=None, accuracy=None,
                  claim: str = "4 representer", setting: str | None = None,
                  negative_control: bool = False) -> Certificate:
    r"""Certificate of the representer form at an arbitrary point (w, v) of ``machine``'s problem.

    The tolerances come from ``accuracy`` (default: the fitted solver's residuals), so
    a perturbed or non-optimal point is held to the optimum's standard. With
    ``negative_control=True`` the rows are marked as expected to fail.
    """
    _require_fitted(machine)
    if not machine.smooth:
        raise ValueError(
            f"the representer certificate needs 1 < p < inf; got p={machine.p:g} "
            "(use rkbs.verify.p1_counterexample for p = 1)")
    w = np.asarray(w, float)
    v = None if v is None else np.asarray(v, float)
    acc = dict(machine.residuals_ if accuracy is None else accuracy)
    setting = setting or (f"{type(machine.features).__name__}, p={machine.p:g}, "
                          f"{machine.coupling}, {machine.loss}")
    Xh = default_heldout(machine.X_fit_, seed=1) if X_heldout is None else np.asarray(
        to_numpy(check_array(X_heldout, "X_heldout")), float)
    if machine.one_sided:
        Yh = None
    elif Y_heldout is None:
        Yh = default_heldout(machine.Y_fit_, seed=2)
    else:
        Yh = np.asarray(to_numpy(check_array(Y_heldout, "Y_heldout")), float)
    prob = machine.problem_
    ga, gb, *_ = prob.score_gradients(w, v)
    rows, details, vac = [], {}, False
    for side in machine.active_:
        c, sg = (w, ga) if side == "x" else (v, gb)
        a = acc.get(side, acc.get("joint"))
        if side == "x":
            H_other = Yh if Yh is not None else Xh  # one-sided: κ(x_i, ·) on X points
            if Yh is None:
                H_other = None
            r_, d_, vv = (_side_parts(machine, "x", c, sg, a, H_other, Xh, claim, setting, "X")
                          if H_other is not None else _one_sided_parts(machine, c, sg, a, Xh,
                                                                       claim, setting))
        else:
            r_, d_, vv = _side_parts(machine, "y", c, sg, a, Xh, Yh, claim, setting, "Y")
        rows += r_
        details[side] = d_
        vac = vac or vv
    # KKT residual recomputed at the point
    res = machine.compute_residuals(w, v)
    n_terms = machine.Z_.size + sum(machine.Phi_X_.shape)
    floor = 10 * _EPS * math.sqrt(n_terms)  # round-off of the gradient sums, ×10
    rows.append(check(claim, f"{setting}: KKT relative first-order residual", res["joint"],
                      10 * acc["joint"] + floor, part="KKT",
                      note="tol = 10·(solver's reported residual) + 10·eps·√(terms)"))
    details["residuals"] = res
    if negative_control:
        rows = [replace(r, negative_control=True, passed=(not (r.measured <= r.tolerance))
                        and not math.isnan(r.measured)) for r in rows]
    status = "vacuous" if vac else ("certified" if all(r.passed for r in rows) else "failed")
    return Certificate(status, acc, rows, details)


def _one_sided_parts(machine, c, sg, acc, Xh, claim, setting):
    """One-sided machines: κ(x_i, ·) is a function on Y = X's key side; use Xh as keys."""
    return _side_parts(machine, "x", c, sg, acc, Xh, Xh, claim, setting, "X")


def _at(r: CheckResult, point: str) -> CheckResult:
    return replace(r, labels={**r.labels, "point": point})


def certify(machine, X_heldout=None, Y_heldout=None, *, negative_controls: bool = False,
            perturbation: float = 1e-4, seed=0, claim: str = "4 representer",
            setting: str | None = None) -> Certificate:
    r"""Certify the representer form of a fitted :class:`~rkbs.machines.BinaryKernelMachine`.

    Parameters
    ----------
    machine : BinaryKernelMachine
        Fitted, 1 < p < ∞.
    X_heldout, Y_heldout : arrays (h, d_x), (h', d_y), optional
        Held-out points of the function-space and reconstruction parts (default:
        Gaussian draws matched to the training points' mean and spread).
    negative_controls : bool
        Also assess (a) a perturbed solution (every coefficient side moved by
        ``perturbation``·‖c‖ in a random direction) and (b) a non-optimal feasible point
        0.9·(w*, v*); their rows are negative controls (they pass iff the check fails).
        At 0.9·w* the span part still holds (ι is 0-homogeneous) and is reported as a
        plain row; the other parts must catch the non-optimality.

    Returns
    -------
    Certificate

    Pair-operator machines (anything with ``solution_`` and ``fit_maps_``:
    :class:`~rkbs.machines.PairOperatorMachine`,
    :class:`~rkbs.machines.DualPairOperatorMachine`) are certified by
    :func:`certify_pair` with the same arguments. An unfitted machine raises a
    ``ValueError`` saying to call ``fit``.
    """
    _require_fitted(machine)
    if hasattr(machine, "fit_maps_") and hasattr(type(machine), "solution_"):
        return certify_pair(machine, X_heldout, Y_heldout, negative_controls=negative_controls,
                            perturbation=perturbation, seed=seed,
                            claim=claim if claim != "4 representer" else
                            "4 representer (pair operator)", setting=setting)
    cert = certify_point(machine, machine.w_, machine.v_, X_heldout=X_heldout,
                         Y_heldout=Y_heldout, claim=claim, setting=setting)
    if not negative_controls:
        return cert
    rng = check_random_state(seed)
    base = setting or cert.rows[-1].setting.split(": KKT")[0]

    def move(c):
        if c is None:
            return None
        d = rng.standard_normal(c.shape)
        return c + perturbation * np.linalg.norm(c) * d / np.linalg.norm(d)

    w_p = move(machine.w_) if "x" in machine.active_ else machine.w_
    v_p = move(machine.v_) if (machine.v_ is not None and "y" in machine.active_) else machine.v_
    pert = certify_point(machine, w_p, v_p, X_heldout=X_heldout, Y_heldout=Y_heldout,
                         accuracy=cert.accuracy, claim=claim,
                         setting=f"{base} [perturbed {perturbation:g}]", negative_control=True)
    nonopt = certify_point(machine, 0.9 * machine.w_,
                           None if machine.v_ is None else 0.9 * machine.v_,
                           X_heldout=X_heldout, Y_heldout=Y_heldout, accuracy=cert.accuracy,
                           claim=claim, setting=f"{base} [0.9·optimum]", negative_control=True)
    # which point each row assesses, as a structured label (no parsing of setting text)
    pert.rows = [_at(r, "perturbed") for r in pert.rows]
    nonopt.rows = [_at(r, "0.9·optimum") for r in nonopt.rows]
    # A part whose tolerance is coarser than the perturbation (the reconstruction part's
    # Hölder bound ∝ E^{1/(r-1)} for large r) cannot resolve it: asking that row to fail
    # would be a wrong negative control. Such rows are kept in the details; the
    # certificate as a whole must still reject the perturbed point (row below).
    resolvable = [r for r in pert.rows if r.tolerance < perturbation]
    unresolved = [r for r in pert.rows if r.tolerance >= perturbation]
    ratio = max((r.measured / r.tolerance for r in pert.rows if r.tolerance > 0),
                default=math.nan)
    rows = list(resolvable)
    rows.append(check(claim, f"{base} [perturbed {perturbation:g}]: whole certificate, "
                      "max part measured/tolerance", ratio, 1.0, negative_control=True,
                      part="whole certificate", labels={"point": "perturbed"},
                      note="the perturbed point must fail at least one part"))
    for r in nonopt.rows:
        if "span residual" in r.setting:
            rows.append(check(r.claim, r.setting + " (scale invariant: must still hold)",
                              r.measured, r.tolerance, part=r.part, labels=r.labels,
                              note="ι(0.9w) = ι(w): the span part alone cannot see this"))
        else:
            rows.append(r)
    cert.rows = [_at(r, "optimum") for r in cert.rows] + rows
    cert.details["negative_controls"] = {
        "perturbed": pert.details, "nonoptimal": nonopt.details,
        "perturbed_unresolvable_parts": [(r.setting, r.measured, r.tolerance) for r in unresolved],
    }
    if cert.status == "certified" and not all(r.passed for r in rows):
        cert.status = "failed"
    return cert


# ------------------------------------------------------------------ pair operators
def _require_fitted(machine) -> None:
    """A clear error for an unfitted machine (scikit-learn's convention: a fitted
    estimator has public attributes ending in ``_``)."""
    if not any(k.endswith("_") and not k.startswith("_") for k in vars(machine)):
        raise ValueError(f"{type(machine).__name__} is not fitted: call fit(X, Y, Z) before "
                         "certify")


def _pair_gram(k, P, Q):
    """k(P (a, d), Q (b, d)) -> (a, b) float64 numpy, through torch tensors."""
    import torch

    with torch.no_grad():
        G = k(torch.as_tensor(P, dtype=torch.float64), torch.as_tensor(Q, dtype=torch.float64))
    return np.asarray(to_numpy(G), dtype=float)


def _pair_scores(kx, ky, Xq, Yq, Xb, Yb, C):
    r"""Kernel-route scores :math:`\tilde h(x, y) = \sum_b\sum_{ij} C_{bij}k_X(x, x^b_i)
    k_Y(y^b_j, y)` for query points Xq (h, d_x), Yq (h', d_y): (h, h'), plus the same sum
    of absolute values (the round-off scale)."""
    S, m, dx = Xb.shape
    n = Yb.shape[1]
    GX = _pair_gram(kx, Xq, Xb.reshape(S * m, dx)).reshape(len(Xq), S, m)
    GY = _pair_gram(ky, Yb.reshape(S * n, Yb.shape[-1]), Yq).reshape(S, n, len(Yq))
    H = np.einsum("hsi,sij,sjk->hk", GX, C, GY)
    Habs = np.einsum("hsi,sij,sjk->hk", np.abs(GX), np.abs(C), np.abs(GY))
    return H, Habs


def certify_pair(machine, X_heldout=None, Y_heldout=None, *, negative_controls: bool = False,
                 perturbation: float = 1e-4, seed=0,
                 claim: str = "4 representer (pair operator)",
                 setting: str | None = None) -> Certificate:
    r"""Certificate of the representer theorem for a Frobenius pair-operator machine.

    For :math:`\min_A \sum_s L(Z_s, \Phi_X^{(s)} A\Phi_Y^{(s)\top}) + \lambda\lVert A\rVert_F^2`
    stationarity is :math:`A^\star = \tilde A := -\frac{1}{2\lambda}\sum_s
    \Phi_X^{(s)\top} G_s \Phi_Y^{(s)}`, :math:`G_s = \partial L/\partial H_s` at the
    fitted scores; equivalently the fitted function is
    :math:`h^\star(x, y) = \sum_s\sum_{ij}\tilde C_{sij}\,k_X(x, x^s_i)\,k_Y(y^s_j, y)` with
    :math:`\tilde C = -G/(2\lambda)` (the representer coefficients, a fixed point for the
    dual machine). Parts, computed through the public protocol (``fit_maps_``,
    ``decision_function``, ``side_kernels()``, ``residual_``, ``residual_kind_``, ``lam``,
    ``loss``; the perturbed control through ``solution_``/``with_solution``):

    1. **training scores**: :math:`\lVert H^\star - \tilde H\rVert_F/\lVert H^\star\rVert_F`
       with :math:`\tilde H` from :math:`\tilde C` by the kernel route. Bound from the
       solver's residual ρ, :math:`E = 2\rho/(1-\rho)`: for the dual's fixed-point
       residual :math:`\lVert\mathcal K(G + 2\lambda C)\rVert/(\lVert\mathcal KG\rVert +
       2\lambda\lVert H\rVert)` directly ≤ E; for the primal's gradient residual
       :math:`\lVert J(A - \tilde A)\rVert \le \lVert J\rVert_F E\lVert A\rVert_F` with
       :math:`\lVert J\rVert_F^2 = \operatorname{tr}\mathcal K`.
    2. **function space**: :math:`\max|h^\star - \tilde h|/\max|h^\star|` on held-out
       points, bounded by :math:`\max\lVert\Phi_X(x)\rVert\max\lVert\Phi_Y(y)\rVert
       \lVert A^\star - \tilde A\rVert_F` (primal: ≤ E‖A‖; dual:
       :math:`\lVert A - \tilde A\rVert_F^2 = \langle\delta, \mathcal K\delta\rangle \le
       \lVert\delta\rVert\, E\lVert H\rVert`, δ = C − C̃).

    Each bound is doubled (safety) and gets a round-off floor of 10·eps·√N times the sum
    of absolute terms. With ``negative_controls`` the solution is moved by
    ``perturbation``·‖S‖ in a random direction and both parts must fail.
    """
    from rkbs.machines.losses import loss_gradient

    _require_fitted(machine)
    if getattr(machine, "regularizer", "frobenius") != "frobenius":
        raise ValueError("the pair-operator representer certificate needs the Frobenius "
                         f"regularizer, got regularizer={machine.regularizer!r}")
    kind = machine.residual_kind_
    if kind not in ("gradient", "fixed_point"):
        raise ValueError(f"unknown residual_kind_ {kind!r}")
    Xb, Yb, Zb, Mb = machine.fit_maps_
    kx, ky = machine.side_kernels()
    rng = check_random_state(seed)
    Xh = default_heldout(Xb.reshape(-1, Xb.shape[-1]), n=12, seed=rng) if X_heldout is None \
        else np.asarray(to_numpy(check_array(X_heldout, "X_heldout")), float)
    Yh = default_heldout(Yb.reshape(-1, Yb.shape[-1]), n=10, seed=rng) if Y_heldout is None \
        else np.asarray(to_numpy(check_array(Y_heldout, "Y_heldout")), float)
    rho = float(machine.residual_)
    E = 2 * rho / (1 - rho) if rho < 1 else math.inf
    setting = setting or f"{type(machine).__name__}, {machine.loss}, λ={machine.lam:g}"
    nx = np.sqrt(np.clip(np.diag(_pair_gram(kx, Xh, Xh)), 0, None)).max()
    ny = np.sqrt(np.clip(np.diag(_pair_gram(ky, Yh, Yh)), 0, None)).max()
    S, m, n = Zb.shape
    trK = sum(float(np.trace(_pair_gram(kx, Xb[s], Xb[s])) * np.trace(_pair_gram(ky, Yb[s], Yb[s])))
              for s in range(S))

    def parts(mach, tag, neg):
        H = np.asarray(mach.decision_function(Xb, Yb), float)            # (S, m, n)
        Ct = -np.asarray(to_numpy(loss_gradient(mach.loss, Zb, H, Mb)), float) / (2 * mach.lam)
        Ht = np.stack([_pair_scores(kx, ky, Xb[s], Yb[s], Xb, Yb, Ct)[0] for s in range(S)])
        Habs = np.stack([_pair_scores(kx, ky, Xb[s], Yb[s], Xb, Yb, Ct)[1] for s in range(S)])
        nH = max(np.linalg.norm(H), 1e-300)
        r1 = np.linalg.norm(H - Ht) / nH
        floor1 = 10 * _EPS * math.sqrt(S * m * n) * np.linalg.norm(Habs) / nH
        if kind == "gradient":
            nA = float(np.linalg.norm(mach.solution_))
            b1 = math.sqrt(trK) * E * nA / nH
            dA = E * nA
        else:
            b1 = E
            delta = float(np.linalg.norm(np.asarray(mach.solution_) - Ct))
            dA = math.sqrt(delta * E * nH)
        st = f"{setting}{tag}"
        rows = [check(claim, f"{st}: training scores H* vs Σ k_X C̃ k_Y, C̃ = −G/(2λ)", r1,
                      _SAFETY * b1 + floor1, negative_control=neg,
                      note=f"{kind} residual ρ={rho:.2g}; tol = 2·bound(E) + 10·eps·√N sums")]
        h = np.asarray(mach.decision_function(Xh, Yh), float)
        ht, habs = _pair_scores(kx, ky, Xh, Yh, Xb, Yb, Ct)
        sup = max(np.abs(h).max(), 1e-300)
        r2 = np.abs(h - ht).max() / sup
        tol2 = (_SAFETY * nx * ny * dA + 10 * _EPS * math.sqrt(S * m * n) * habs.max()) / sup
        rows.append(check(claim, f"{st}: function space h* = Σ C̃ k_X k_Y on held-out points",
                          r2, tol2, negative_control=neg,
                          note="tol = 2·max‖Φ_X‖·max‖Φ_Y‖·‖A* − Ã‖ bound + round-off"))
        return rows, {"training_scores": float(r1), "function_space": float(r2)}

    rows, det = parts(machine, "", False)
    cert = Certificate("certified" if all(r.passed for r in rows) else "failed",
                       {"joint": rho, "kind": kind}, rows, {"optimum": det})
    if negative_controls:
        Sol = np.asarray(machine.solution_, float)
        d = rng.standard_normal(Sol.shape)
        moved = machine.with_solution(Sol + perturbation * np.linalg.norm(Sol) * d
                                      / np.linalg.norm(d))
        prow, pdet = parts(moved, f" [perturbed {perturbation:g}]", True)
        cert.rows += prow
        cert.details["perturbed"] = pdet
        if not all(r.passed for r in prow):
            cert.status = "failed"
    return cert
