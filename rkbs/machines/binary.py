r"""Regularized binary kernel machines over an RKBS pair (MATH.md §3; Wright & Gonzalez 2021, §4).

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

from rkbs._backend import to_numpy
from rkbs._checks import check_array, check_exponent, check_int, check_positive
from rkbs.features.base import FeaturePair
from rkbs.machines.cvx import CVX_SOLVERS, SolverError, solve_cvxpy
from rkbs.machines.losses import LOSSES, check_loss_targets
from rkbs.machines.problem import COUPLINGS, BinaryProblem, Side
from rkbs.machines.regularizers import parse_regularizer
from rkbs.machines.torch_solver import initial_point, newton_solve, product_solve, torch_solve
from rkbs.spaces.pair import RKBSPair

__all__ = ["BinaryKernelMachine"]

SOLVERS = (*CVX_SOLVERS, "torch")


class BinaryKernelMachine:
    r"""A binary kernel machine :math:`(f_w, g_v) \in B_X \times B_Y` fitted to responses Z.

    Parameters
    ----------
    features : FeaturePair
        :math:`(\Phi_X, \Phi_Y)` with D features (random pairs must be fitted, or are
        fitted on the training points at :meth:`fit`).
    p : float
        Exponent of :math:`B_X` (w ∈ ℓ^p); v ∈ ℓ^{q*}, q* = p/(p − 1). 1 < p < ∞;
        p = 1 is accepted with a cvxpy solver as the documented counter-example
        (MATH.md §4: ℓ^1 is neither strictly convex nor smooth).
    coupling : {"additive", "product"}
        Scores :math:`A_{ij} = f(x_i) + g(y_j)` or :math:`f(x_i)\,g(y_j)`.
    loss : {"squared", "logistic", "softmax"}
        See :mod:`rkbs.machines.losses`.
    lam_x, lam_y : float
        λ_X > 0 and λ_Y > 0; ``lam_y=None`` switches the Y side off (one-sided machine,
        :math:`A_{ij} = f(x_i)`: kernel ridge regression for p = 2, squared loss).
    reg, reg_y : regularizer spec
        ``"square"`` (R = t²), ``("power", ρ)``, ``"norm"`` or ``"power"`` (R = t^r on a side of
        exponent r); ``reg_y`` defaults to ``reg``. See :mod:`rkbs.machines.regularizers`.
    solver : {"clarabel", "scs", "torch"}
        cvxpy with Clarabel (default) or SCS, then a few Newton polish steps
        (``polish=True``); or the Newton solver of :mod:`rkbs.machines.torch_solver` on
        torch tensors (``device``), float64.
    tol : float, optional
        cvxpy: solver tolerances (default 1e-8 for the squared loss, 1e-7 for the
        exponential-cone losses; tighter ends ``optimal_inaccurate`` on some problems). Torch: target relative first-order residual (default 1e-10).
    max_iter : int, optional
        Iteration limit handed to the solver.
    polish : bool
        Newton steps in numpy after a cvxpy solve (SOLVERS.md: residual ≈ 1e-13).
    device : str, optional
        Torch device for ``solver="torch"`` (``"cpu"``, ``"cuda"``).
    seed : int, Generator or None
        Starting point of the product coupling (a saddle sits at 0).

    Attributes
    ----------
    w_ : ndarray (D,)
        Coefficients of :math:`f^*`; ``v_`` those of :math:`g^*` (None when one-sided).
    objective_ : float
        Objective value at ``(w_, v_)``.
    status_ : str
        ``"optimal"`` (anything else raises :class:`~rkbs.machines.cvx.SolverError`).
    residual_ : float
        Relative first-order residual (SOLVERS.md) at ``(w_, v_)`` — the solver's accuracy
        the certificates of :mod:`rkbs.verify` derive their tolerances from.
    residuals_ : dict
        Per side (``"x"``, ``"y"``) and ``"joint"``.
    pair_ : RKBSPair
        The RKBS pair (features, p).
    """

    def __init__(self, features: FeaturePair, *, p: float = 2.0, coupling: str = "additive",
                 loss: str = "squared", lam_x: float = 1.0, lam_y: float | None = 1.0,
                 reg="square", reg_y=None, solver: str = "clarabel", tol: float | None = None,
                 max_iter: int | None = None, polish: bool = True, device: str | None = None,
                 seed=None, max_outer: int = 300):
        if not isinstance(features, FeaturePair):
            raise ValueError(f"features must be a FeaturePair, got {type(features).__name__}")
        self.features = features
        self.p = check_exponent(p, allow_one=True)
        if coupling not in COUPLINGS:
            raise ValueError(f"unknown coupling {coupling!r}; valid: {', '.join(COUPLINGS)}")
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; valid: {', '.join(LOSSES)}")
        self.coupling, self.loss = coupling, loss
        self.lam_x = check_positive(lam_x, "lam_x")
        self.lam_y = None if lam_y is None else check_positive(lam_y, "lam_y")
        if self.lam_y is None and coupling != "additive":
            raise ValueError("a one-sided machine (lam_y=None) needs coupling='additive'")
        self.reg = parse_regularizer(reg)
        self.reg_y = self.reg if reg_y is None else parse_regularizer(reg_y)
        if solver not in SOLVERS:
            raise ValueError(f"unknown solver {solver!r}; valid: {', '.join(SOLVERS)}")
        if self.p == 1.0 and solver == "torch":
            raise ValueError("p = 1 (non-smooth counter-example) needs a cvxpy solver, not 'torch'")
        self.solver = solver
        self.tol = None if tol is None else check_positive(tol, "tol")
        self.max_iter = None if max_iter is None else check_int(max_iter, "max_iter", minimum=1)
        self.polish = bool(polish)
        self.device = device
        self.seed = seed
        self.max_outer = check_int(max_outer, "max_outer", minimum=1)

    # ----------------------------------------------------------------- fit
    @property
    def one_sided(self) -> bool:
        return self.lam_y is None

    @property
    def smooth(self) -> bool:
        """1 < p < ∞: both spaces smooth and strictly convex."""
        return 1.0 < self.p < math.inf

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
        x = Side(PX, self.p, self.lam_x, self.reg)
        y = None if self.one_sided else Side(PY, self.pair_.q_star, self.lam_y, self.reg_y)
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
        self.pair_ = RKBSPair(self.features, self.p)
        PX = np.asarray(to_numpy(self.features.transform_x(X)), dtype=float)
        PY = None if self.one_sided else np.asarray(to_numpy(self.features.transform_y(Y)),
                                                    dtype=float)
        self.X_fit_, self.Y_fit_, self.Z_, self.mask_ = X, Y, Z, mask
        self.Phi_X_, self.Phi_Y_ = PX, PY
        prob = self._build_problem(PX, PY, Z, mask)
        self.problem_ = prob
        # the row-softmax loss is invariant to a_i under the additive coupling: f* = 0
        self.active_ = ("y",) if (self.loss == "softmax" and self.coupling == "additive"
                                  and not self.one_sided) else tuple(prob.sides)
        t0 = time.perf_counter()
        if self.solver == "torch":
            w, v, info = self._fit_torch(PX, PY, Z, mask)
        else:
            w, v, info = self._fit_cvx(prob)
        self.solve_time_ = time.perf_counter() - t0
        self.w_ = np.asarray(w, dtype=float)
        self.v_ = None if v is None else np.asarray(v, dtype=float)
        self.solver_info_ = info
        self.objective_ = float(prob.objective(self.w_, self.v_))
        self.residuals_ = self.compute_residuals(self.w_, self.v_)
        self.residual_ = self.residuals_["joint"]
        self.status_ = "optimal"
        return self

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

    def _fit_cvx(self, prob):
        # default accuracy: 1e-8 (power cones); 1e-7 for the exponential-cone losses,
        # where Clarabel ends 'optimal_inaccurate' at 1e-8 on some blocks (measured)
        tol = (1e-8 if self.loss == "squared" else 1e-7) if self.tol is None else self.tol
        info = {"solver": self.solver, "tol": tol, "solves": []}
        polish = self.polish and self.smooth

        def block_solve(blocks, w, v):
            fixed = {s: c for s, c in (("x", w), ("y", v)) if s not in blocks and c is not None}
            coefs, inf = solve_cvxpy(prob, blocks=blocks, fixed=fixed, solver=self.solver,
                                     tol=tol, max_iter=self.max_iter)
            w, v = coefs["x"], coefs["y"]
            inf["residual_cvx"] = prob.residual(w, v, blocks)
            if polish:
                res = newton_solve(prob, w, v, blocks=blocks, tol=1e-13, max_iter=30)
                # keep the polished point only if it is better (it always is in practice)
                if res.residual < inf["residual_cvx"]:
                    w, v = res.w, res.v
                inf["residual_polished"] = res.residual
                inf["polish_steps"] = res.iterations
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
            raise SolverError(
                f"alternating block solves stopped after {len(res.history)} rounds with joint "
                f"residual {res.residual:.3g} > {target:g} (status {res.status!r})",
                status=res.status)
        return res.w, res.v, info

    def _fit_torch(self, PX, PY, Z, mask):
        import torch

        dev = torch.device(self.device or "cpu")

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
        if res.status != "optimal":
            raise SolverError(
                f"torch Newton solver returned status {res.status!r} with residual "
                f"{res.residual:.3g} > tol {tol:g} after {res.iterations} iterations",
                status=res.status)
        info = {"solver": "torch", "device": str(dev), "tol": tol,
                "iterations": res.iterations, "history": res.history}
        return to_numpy(res.w), None if res.v is None else to_numpy(res.v), info

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
        A = self.decision_function(X, Y)
        if self.loss == "squared":
            return A
        if self.loss == "logistic":
            return np.where(A >= 0, 1.0, -1.0)
        A2 = np.atleast_2d(A)
        E = np.exp(A2 - A2.max(axis=-1, keepdims=True))
        return E / E.sum(axis=-1, keepdims=True)

    def __repr__(self) -> str:
        return (f"BinaryKernelMachine(p={self.p:g}, coupling={self.coupling!r}, loss={self.loss!r},"
                f" lam_x={self.lam_x:g}, lam_y={self.lam_y}, reg={self.reg.name!r}, "
                f"solver={self.solver!r})")
