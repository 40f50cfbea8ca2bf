r"""Regularized binary kernel machines over an RKBS pair (theory §3; Wright & Gonzalez 2021, §4).

Data :math:`x_1..x_m \in X`, :math:`y_1..y_n \in Y`, responses :math:`z_{ij}` on observed
pairs Ω; functions :math:`f_w(x) = \langle\Phi_X(x), w\rangle \in B_X` (w ∈ ℓ^p) and
:math:`g_v(y) = \langle v, \Phi_Y(y)\rangle \in B_Y` (v ∈ ℓ^{q*}) of the pair
:class:`rkbs.spaces.RKBSPair`:

.. math::

    \min_{w, v}\; \sum_{(i,j)\in\Omega}\ell\big(z_{ij}, f_w(x_i) \circ g_v(y_j)\big)
    + \lambda_X R_X(\lVert w\rVert_p) + \lambda_Y R_Y(\lVert v\rVert_{q^*}),

with ∘ = + (additive, jointly convex) or × (product, biconvex).
"""

from __future__ import annotations

import math
import time

import numpy as np

from rkbs._backend import check_device, to_numpy
from rkbs._checks import check_array, check_exponent, check_int, check_positive
from rkbs.features.base import FeaturePair
from rkbs.machines.cvx import CVX_SOLVERS, SolverError, solve_cvxpy
from rkbs.machines.losses import check_loss_targets, get_loss
from rkbs.machines.newton import initial_point, newton_solve, product_solve, torch_solve
from rkbs.machines.problem import COUPLINGS, BinaryProblem, Side
from rkbs.machines.protocol import ParamsMixin, check_on_failure, solver_failed
from rkbs.machines.regularizers import parse_regularizer
from rkbs.spaces.pair import RKBSPair

__all__ = ["BinaryKernelMachine"]

SOLVERS = (*CVX_SOLVERS, "torch")


class BinaryKernelMachine(ParamsMixin):
    r"""A binary kernel machine :math:`(f_w, g_v) \in B_X \times B_Y` fitted to responses Z.

    Parameters
    ----------
    features : FeaturePair
        :math:`(\Phi_X, \Phi_Y)` with D features (random pairs must be fitted, or are
        fitted on the training points at :meth:`fit`).
    p : float
        Exponent of :math:`B_X` (w ∈ ℓ^p); v ∈ ℓ^{q*}, q* = p/(p − 1). 1 < p < ∞;
        p = 1 is accepted only for a *one-sided* machine (``lam_y=None``: no g, scores
        :math:`A_{ij} = f(x_i)`) with a cvxpy solver, as the counter-example to the
        representer theorem (ℓ^1 is neither strictly convex nor smooth, and its dual
        ℓ^∞ would carry g).
    coupling : {"additive", "product"}
        Scores :math:`A_{ij} = f(x_i) + g(y_j)` or :math:`f(x_i)\,g(y_j)`.
    loss : str or Loss
        ``"squared"``, ``"logistic"``, ``"softmax"`` or any registered
        :class:`~rkbs.machines.losses.Loss` (name or instance); see :mod:`rkbs.machines.losses`.
    lam_x, lam_y : float
        λ_X > 0 and λ_Y > 0; ``lam_y=None`` switches the Y side off (one-sided machine,
        :math:`A_{ij} = f(x_i)`: kernel ridge regression for p = 2, squared loss).
    reg, reg_y : regularizer spec
        ``"square"`` (R = t²), ``("power", ρ)``, ``"norm"`` or ``"power"`` (R = t^r on a side of
        exponent r); ``reg_y`` defaults to ``reg``. See :mod:`rkbs.machines.regularizers`.
    solver : {"clarabel", "scs", "torch"}
        cvxpy with Clarabel (default) or SCS, then a few Newton polish steps
        (``polish=True``); or the Newton solver of :mod:`rkbs.machines.newton` on
        torch tensors (``device``), float64.
    tol : float, optional
        cvxpy: solver tolerances (default 1e-8 for the squared loss, 1e-7 for the
        exponential-cone losses; tighter ends ``optimal_inaccurate`` on some problems). Torch: target relative first-order residual (default 1e-10).
    max_iter : int, optional
        Iteration limit handed to the solver.
    polish : bool
        Newton steps in numpy after a cvxpy solve (theory §7: residual ≈ 1e-13).
    device : str, optional
        Torch device for ``solver="torch"`` (``"cpu"``, ``"cuda"``).
    seed : int, Generator or None
        Starting point of the product coupling (a saddle sits at 0).
    on_failure : {"raise", "warn"}
        A solve that misses its tolerance raises :class:`~rkbs.machines.cvx.SolverError`
        naming the status and residual (``"raise"``), or keeps the solver's last point
        with a ``RuntimeWarning`` and ``status_`` set to the solver's status (``"warn"``;
        not possible when cvxpy returned no point). The policy of every machine
        (:mod:`rkbs.machines.protocol`).
    fallback : {"clarabel", None}
        What ``solver="torch"`` does when Newton misses its tolerance: ``"clarabel"``
        (default) solves again with cvxpy/Clarabel + Newton polish and warns
        (``RuntimeWarning``) naming the residual Newton reached; the fit still raises
        :class:`~rkbs.machines.cvx.SolverError` unless that reaches the tolerance.
        ``None``: raise at once.

    Attributes
    ----------
    w_ : ndarray (D,)
        Coefficients of :math:`f^*`; ``v_`` those of :math:`g^*` (None when one-sided).
    objective_ : float
        Objective value at ``(w_, v_)``.
    coef_ : ndarray (D,)
        The same as ``w_`` (the name every machine uses for its fitted coefficients).
    n_features_ : tuple
        (D_X, D_Y) (D_Y None when one-sided).
    solve_time_ : float
        Wall time of the solve (s).
    status_ : str
        ``"optimal"``; anything else raises :class:`~rkbs.machines.cvx.SolverError`
        unless ``on_failure="warn"`` (then the solver's status).
    residual_ : float
        Relative first-order residual (theory §7) at ``(w_, v_)`` — the solver's accuracy
        the certificates of :mod:`rkbs.verify` derive their tolerances from.
    residuals_ : dict
        Per side (``"x"``, ``"y"``) and ``"joint"``.
    pair_ : RKBSPair
        The RKBS pair (features, p).
    problem_, active_, Phi_X_, Phi_Y_, X_fit_, Y_fit_, Z_, mask_
        The certificate protocol (what :func:`rkbs.verify.certify` reads): the
        :class:`~rkbs.machines.problem.BinaryProblem`, the sides that were optimized, the
        training features (m, D_X), (n, D_Y), points, targets and mask.
    solver_info_ : dict
        The solve's record (``fallback``: ``"clarabel"`` when the torch solve needed the
        fallback, else None; ``target_scale``: the rescaling of Z, 1 when none).
    """

    def __init__(self, features: FeaturePair, *, p: float = 2.0, coupling: str = "additive",
                 loss: str = "squared", lam_x: float = 1.0, lam_y: float | None = 1.0,
                 reg="square", reg_y=None, solver: str = "clarabel", tol: float | None = None,
                 max_iter: int | None = None, polish: bool = True, device: str | None = None,
                 seed=None, max_outer: int = 300, fallback: str | None = "clarabel",
                 on_failure: str = "raise"):
        # every argument is validated here and stored unchanged (sklearn.base.clone)
        if not isinstance(features, FeaturePair):
            raise ValueError(f"features must be a FeaturePair, got {type(features).__name__}")
        pv = check_exponent(p, allow_one=True)
        if coupling not in COUPLINGS:
            raise ValueError(f"unknown coupling {coupling!r}; valid: {', '.join(COUPLINGS)}")
        get_loss(loss)  # a registered name or a Loss; raises naming the valid ones
        check_positive(lam_x, "lam_x")
        if lam_y is not None:
            check_positive(lam_y, "lam_y")
        if lam_y is None and coupling != "additive":
            raise ValueError("a one-sided machine (lam_y=None) needs coupling='additive'")
        if pv == 1.0 and lam_y is not None:
            raise ValueError(
                f"p={p!r} is accepted only one-sided (lam_y=None): with p = 1, f lives in "
                "ℓ^1 and g would live in ℓ^∞ (q* = ∞), neither smooth nor strictly convex; a "
                "one-sided machine has no g (scores A_ij = f(x_i)) and is the documented "
                f"counter-example to the representer theorem. Got lam_y={lam_y!r}: pass "
                "lam_y=None, or use 1 < p < ∞ for a two-sided machine")
        self._reg_obj = parse_regularizer(reg)
        self._reg_y_obj = self._reg_obj if reg_y is None else parse_regularizer(reg_y)
        if solver not in SOLVERS:
            raise ValueError(f"unknown solver {solver!r}; valid: {', '.join(SOLVERS)}")
        if pv == 1.0 and solver == "torch":
            raise ValueError(f"p={p!r} (the non-smooth counter-example) needs a cvxpy solver "
                             "('clarabel' or 'scs'), not solver='torch': Newton's method needs "
                             "a twice differentiable objective")
        if tol is not None:
            check_positive(tol, "tol")
        if max_iter is not None:
            check_int(max_iter, "max_iter", minimum=1)
        check_int(max_outer, "max_outer", minimum=1)
        if fallback not in (None, "clarabel"):
            raise ValueError(f"fallback must be 'clarabel' or None, got {fallback!r}")
        check_on_failure(on_failure)
        self.features, self.p, self.coupling, self.loss = features, p, coupling, loss
        self.lam_x, self.lam_y, self.reg, self.reg_y = lam_x, lam_y, reg, reg_y
        self.solver, self.tol, self.max_iter, self.polish = solver, tol, max_iter, polish
        self.device, self.seed, self.max_outer = device, seed, max_outer
        self.fallback, self.on_failure = fallback, on_failure

    # ----------------------------------------------------------------- fit
    @property
    def one_sided(self) -> bool:
        return self.lam_y is None

    @property
    def smooth(self) -> bool:
        """1 < p < ∞: both spaces smooth and strictly convex."""
        return 1.0 < float(self.p) < math.inf

    def _check_data(self, X, Y, Z, mask):
        X = np.asarray(to_numpy(check_array(X, "X")), dtype=float)
        if self.one_sided:
            if Y is not None:
                Y = np.asarray(to_numpy(check_array(Y, "Y")), dtype=float)
        else:
            if Y is None:
                raise ValueError("Y is required (the machine has a Y side; lam_y=None for none)")
            Y = np.asarray(to_numpy(check_array(Y, "Y")), dtype=float)
        Z = np.asarray(to_numpy(Z) if Z is not None else Z, dtype=float) if Z is not None else None
        if Z is None or Z.ndim != 2:
            raise ValueError(f"Z must be a 2-d (m, n) array, got {None if Z is None else Z.shape}")
        if Z.shape[0] != X.shape[0]:
            raise ValueError(f"Z has shape {Z.shape} but X has {X.shape[0]} rows (need Z (m, n) "
                             f"with m = len(X) = {X.shape[0]})")
        if Y is not None and Z.shape[1] != Y.shape[0]:
            raise ValueError(f"Z has shape {Z.shape} but Y has {Y.shape[0]} rows (need Z (m, n) "
                             f"with n = len(Y) = {Y.shape[0]})")
        if mask is not None:
            mask = np.asarray(to_numpy(mask))
            if mask.dtype != bool:
                if not np.isin(mask, (0, 1)).all():
                    raise ValueError("mask must be boolean (or 0/1)")
                mask = mask.astype(bool)
        Z, mask = check_loss_targets(self.loss, Z, mask)
        return X, Y, np.asarray(Z, dtype=float), np.asarray(mask, dtype=bool)

    def _build_problem(self, PX, PY, Z, mask):
        x = Side(PX, float(self.p), float(self.lam_x), self._reg_obj)
        y = None if self.one_sided else Side(PY, self.pair_.q_star, float(self.lam_y),
                                             self._reg_y_obj)
        return BinaryProblem(PX, PY, Z, mask, self.loss, self.coupling, x, y)

    def fit(self, X, Y, Z, mask=None):
        """Fit on X (m, d_x), Y (n, d_y), Z (m, n), optional boolean mask (m, n).

        Returns ``self``. Raises :class:`ValueError` on bad input and
        :class:`~rkbs.machines.cvx.SolverError` when a solver does not reach an optimal
        status (the status is named).
        """
        X, Y, Z, mask = self._check_data(X, Y, Z, mask)
        if not self.features.fitted and not self.features.auto_fit:
            self.features.fit(X, Y) if Y is not None else self.features.fit(X)
        self.pair_ = RKBSPair(self.features, float(self.p))
        PX = np.asarray(to_numpy(self.features.transform_x(X)), dtype=float)
        PY = None if self.one_sided else np.asarray(to_numpy(self.features.transform_y(Y)),
                                                    dtype=float)
        self.X_fit_, self.Y_fit_, self.Z_, self.mask_ = X, Y, Z, mask
        self.Phi_X_, self.Phi_Y_ = PX, PY
        prob = self._build_problem(PX, PY, Z, mask)
        self.problem_ = prob
        # the row-softmax loss is invariant to a_i under the additive coupling: f* = 0
        self.active_ = ("y",) if (get_loss(self.loss).row_shift_invariant
                                  and self.coupling == "additive"
                                  and not self.one_sided) else tuple(prob.sides)
        t0 = time.perf_counter()
        scale = self._target_scale(Z, mask)
        if scale != 1.0:
            # squared loss, R = t² on every side: F(sw, sv; sZ) = s² F(w, v; Z), so the
            # problem is solved on Z/s and the solution scaled back (interior-point and
            # Newton tolerances are relative to O(1) data)
            self.problem_ = self._build_problem(PX, PY, Z / scale, mask)
        try:
            if self.solver == "torch":
                w, v, info = self._fit_torch(PX, PY, Z / scale, mask)
            else:
                w, v, info = self._fit_cvx(self.problem_)
        except SolverError as exc:
            raise self._numerical_failure(exc, PX, PY, Z) from exc
        finally:
            self.problem_ = prob
        w = None if w is None else np.asarray(to_numpy(w), dtype=float) * scale
        v = None if v is None else np.asarray(to_numpy(v), dtype=float) * scale
        info["target_scale"] = scale
        self.solve_time_ = time.perf_counter() - t0
        self.w_ = np.asarray(w, dtype=float)
        self.v_ = None if v is None else np.asarray(v, dtype=float)
        self.solver_info_ = info
        self.objective_ = float(prob.objective(self.w_, self.v_))
        self.residuals_ = self.compute_residuals(self.w_, self.v_)
        self.residual_ = self.residuals_["joint"]
        self.status_ = info.get("status", "optimal")
        self.coef_ = self.w_
        self.n_features_ = (PX.shape[1], None if PY is None else PY.shape[1])
        return self

    def _target_scale(self, Z, mask) -> float:
        """max|Z| on the observed pairs when the problem is 2-homogeneous in the data
        (squared loss, R = t² on every side) and that scale is outside [1e-3, 1e3];
        else 1 (no rescaling)."""
        if not get_loss(self.loss).homogeneous:
            return 1.0
        if self._reg_obj.power(float(self.p)) != 2.0 or (
                not self.one_sided and self._reg_y_obj.power(self.pair_.q_star) != 2.0):
            return 1.0
        s = float(np.abs(Z[mask]).max()) if mask.any() else 0.0
        return s if (s > 0 and math.isfinite(s) and not 1e-3 <= s <= 1e3) else 1.0

    def _numerical_failure(self, exc, PX, PY, Z):
        """Rephrase 'infeasible'/'unbounded' from a problem that can be neither."""
        status = getattr(exc, "status", None) or ""
        if not status.startswith(("infeasible", "unbounded")):
            return exc
        sizes = [f"max|Z| = {np.abs(Z).max():.3g}", f"max|Φ_X| = {np.abs(PX).max():.3g}"]
        if PY is not None:
            sizes.append(f"max|Φ_Y| = {np.abs(PY).max():.3g}")
        sizes.append(f"λ_X = {self.lam_x:g}" + ("" if self.one_sided else f", λ_Y = {self.lam_y:g}"))
        return SolverError(
            f"numerical failure: the solver reported status {status!r}, but this problem "
            "(unconstrained, convex, finite everywhere) can be neither infeasible nor "
            f"unbounded; the scale of the data is the likely cause ({', '.join(sizes)}). "
            "Rescale Z or the features to O(1) (the squared loss with R = t² is rescaled "
            "automatically), or try solver='torch'", status="numerical_failure")

    def compute_residuals(self, w, v) -> dict:
        r"""Relative first-order residuals at (w, v) per side and jointly (active sides).

        For p = 1 the ℓ^1 side uses the subgradient closest to :math:`-\nabla L/\lambda R'`
        (sign(w) where w ≠ 0, clipped into [−1, 1] where w = 0).
        """
        prob = self.problem_
        grads = prob.gradients(w, v)
        if self.p == 1.0:
            gl, _ = grads["x"]
            side = prob.sides["x"]
            s = side.reg_scale(w)
            sub = np.where(w != 0, np.sign(w), np.clip(-gl / s if s > 0 else 0 * gl, -1, 1))
            grads["x"] = (gl, s * sub)
        out = {}
        for k in self.active_:
            gl, gr = grads[k]
            den = np.linalg.norm(gl) + np.linalg.norm(gr)
            out[k] = float(np.linalg.norm(gl + gr) / den) if den > 0 else 0.0
        gl = np.concatenate([grads[k][0] for k in self.active_])
        gr = np.concatenate([grads[k][1] for k in self.active_])
        den = np.linalg.norm(gl) + np.linalg.norm(gr)
        out["joint"] = float(np.linalg.norm(gl + gr) / den) if den > 0 else 0.0
        return out

    def _zeros(self, D):
        return np.zeros(D)

    def _fit_cvx(self, prob, solver: str | None = None):
        # default accuracy: 1e-8 (power cones); 1e-7 for the exponential-cone losses,
        # where Clarabel ends 'optimal_inaccurate' at 1e-8 on some blocks (measured);
        # the torch fallback (solver given) uses these defaults, not Newton's target
        solver = self.solver if solver is None else solver
        default = 1e-8 if get_loss(self.loss).cone == "power" else 1e-7
        own = solver == self.solver
        tol = default if (self.tol is None or not own) else self.tol
        max_iter = self.max_iter if own else None
        info = {"solver": solver, "tol": tol, "solves": []}
        polish = self.polish and self.smooth

        def block_solve(blocks, w, v):
            fixed = {s: c for s, c in (("x", w), ("y", v)) if s not in blocks and c is not None}
            coefs, inf = solve_cvxpy(prob, blocks=blocks, fixed=fixed, solver=solver,
                                     tol=tol, max_iter=max_iter, accept_inaccurate=polish)
            w, v = coefs["x"], coefs["y"]
            inf["residual_cvx"] = prob.residual(w, v, blocks)
            if polish:
                res = newton_solve(prob, w, v, blocks=blocks, tol=1e-13, max_iter=30)
                # keep the polished point only if it is better (it always is in practice)
                if res.residual < inf["residual_cvx"]:
                    w, v = res.w, res.v
                inf["residual_polished"] = res.residual
                inf["polish_steps"] = res.iterations
                # an 'optimal_inaccurate' cvxpy answer counts only once polished to the
                # Newton target (1e-10 relative residual); otherwise it is a failure
                if inf["status"] != "optimal" and min(res.residual, inf["residual_cvx"]) > 1e-10:
                    raise SolverError(
                        f"cvxpy/{solver} returned status {inf['status']!r} and Newton "
                        f"polish reached only residual {res.residual:.3g} > 1e-10",
                        status=inf["status"])
            info["solves"].append(inf)
            return w, v

        if self.coupling == "additive" or self.one_sided:
            w0 = self._zeros(prob.Phi_X.shape[1]) if "x" not in self.active_ else None
            w, v = block_solve(self.active_, w0, None)
            if w is None:
                w = self._zeros(prob.Phi_X.shape[1])
            return w, v, info
        # product: alternating convex block solves; cvxpy for the first rounds, then the
        # Newton block solver (the same polish) warm-started, until the joint residual
        # is below the target
        w, v = initial_point(prob, self.seed)
        rounds = {"k": 0}

        def cvx_block(blocks, w, v):
            rounds["k"] += 1
            if rounds["k"] <= 6 or not polish:  # 3 rounds of 2 blocks by cvxpy
                return block_solve(blocks, w, v)
            r = newton_solve(prob, w, v, blocks=blocks, tol=1e-12, max_iter=30)
            return r.w, r.v

        target = 1e-10 if polish else tol
        res = product_solve(prob, w, v, tol=target, max_outer=self.max_outer,
                            block_solver=cvx_block)
        info["outer_residuals"] = res.history
        if res.status != "optimal":
            solver_failed(self.on_failure,
                          f"alternating block solves stopped after {len(res.history)} rounds "
                          f"with status {res.status!r} and joint residual {res.residual:.3g} "
                          f"> {target:g}", res.status, stacklevel=5)
            info["status"] = res.status
        return res.w, res.v, info

    def _fit_torch(self, PX, PY, Z, mask):
        import torch

        dev = check_device(self.device)

        def T(a):
            return None if a is None else torch.as_tensor(a, dtype=torch.float64, device=dev)

        tprob = self._build_problem(T(PX), T(PY), T(Z), torch.as_tensor(mask, device=dev))
        tol = 1e-10 if self.tol is None else self.tol
        max_iter = 200 if self.max_iter is None else self.max_iter
        if self.active_ == ("y",):
            w0 = torch.zeros(PX.shape[1], dtype=torch.float64, device=dev)
            _, v0 = initial_point(tprob, self.seed)
            res = newton_solve(tprob, w0, v0, blocks=("y",), tol=tol, max_iter=max_iter)
        else:
            res = torch_solve(tprob, tol=tol, max_iter=max_iter, seed=self.seed,
                              max_outer=self.max_outer)
        info = {"solver": "torch", "device": str(dev), "tol": tol,
                "iterations": res.iterations, "history": res.history, "fallback": None}
        newton_point = (to_numpy(res.w), None if res.v is None else to_numpy(res.v), info)
        if res.status != "optimal":
            msg = (f"torch Newton solver returned status {res.status!r} with residual "
                   f"{res.residual:.3g} > tol {tol:g} after {res.iterations} iterations")
            if self.fallback is not None:
                try:
                    return self._fallback(res, tol, info, msg)
                except SolverError as exc:
                    msg = str(exc)
            solver_failed(self.on_failure, msg, res.status, stacklevel=5)
            info["status"] = res.status
        return newton_point

    def _fallback(self, res, tol, info, msg):
        """The one fallback when Newton misses ``tol``: cvxpy/Clarabel + Newton polish,
        with a warning naming the residual Newton reached; a SolverError (naming both
        statuses and residuals) when that also fails."""
        import warnings

        try:
            w, v, cinfo = self._fit_cvx(self.problem_, solver="clarabel")
        except SolverError as exc:
            raise SolverError(f"{msg}; the Clarabel fallback failed too: {exc}",
                              status=res.status) from exc
        reached = self.problem_.residual(w, v, self.active_)
        if reached > tol:
            raise SolverError(f"{msg}; the Clarabel fallback reached only residual "
                              f"{reached:.3g}", status=res.status)
        warnings.warn(f"{msg}; fell back to cvxpy/clarabel + Newton polish, which reached "
                      f"residual {reached:.3g}", RuntimeWarning, stacklevel=5)
        info.update(fallback="clarabel", fallback_info=cinfo, newton_residual=res.residual)
        return w, v, info

    # ------------------------------------------------------------- predict
    def _fitted(self):
        if not hasattr(self, "w_"):
            raise ValueError("this BinaryKernelMachine is not fitted yet: call fit(X, Y, Z)")

    def f(self, X):
        r""":math:`f^*(x) = \langle\Phi_X(x), w^*\rangle` for X (k, d_x) → (k,)."""
        self._fitted()
        return np.asarray(to_numpy(self.features.transform_x(check_array(X, "X"))) @ self.w_)

    def g(self, Y):
        r""":math:`g^*(y) = \langle v^*, \Phi_Y(y)\rangle` for Y (k, d_y) → (k,)."""
        self._fitted()
        if self.one_sided:
            raise ValueError("a one-sided machine (lam_y=None) has no g")
        return np.asarray(to_numpy(self.features.transform_y(check_array(Y, "Y"))) @ self.v_)

    def decision_function(self, X, Y=None):
        r"""Scores (logits) :math:`A_{ij} = f(x_i) \circ g(y_j)`, shape (k, l).

        One-sided machines return f(X) of shape (k,) when Y is None.
        """
        a = self.f(X)
        if self.one_sided:
            if Y is None:
                return a
            n = check_array(Y, "Y").shape[0]
            return np.repeat(a[:, None], n, axis=1)
        if Y is None:
            raise ValueError("Y is required to score pairs (x_i, y_j)")
        b = self.g(Y)
        return a[:, None] + b[None, :] if self.coupling == "additive" else np.outer(a, b)

    def predict(self, X, Y=None):
        """Predictions: scores (squared), ±1 labels (logistic), row-softmax probabilities."""
        return get_loss(self.loss).decide(self.decision_function(X, Y))

    def __repr__(self) -> str:
        return (f"BinaryKernelMachine(p={self.p:g}, coupling={self.coupling!r}, loss={self.loss!r},"
                f" lam_x={self.lam_x:g}, lam_y={self.lam_y}, reg={self._reg_obj.name!r}, "
                f"solver={self.solver!r})")
