r"""The pair-operator model: kernel learning with a bilinear operator between feature spaces.

theory §3 (pair-operator model) and §4 (its representer form). With a feature pair
:math:`(\Phi_X, \Phi_Y)` the model scores a pair by

.. math:: h_A(x, y) = \langle \Phi_X(x), A\, \Phi_Y(y)\rangle, \qquad A \in \mathbb{R}^{D_x\times D_y},

and learns A from responses :math:`z_{ij}` on observed pairs Ω:

.. math::

    \min_A \sum_{(i,j)\in\Omega} \ell\bigl(z_{ij}, h_A(x_i, y_j)\bigr) + \lambda R(A),
    \qquad R \in \{\lVert A\rVert_F^2,\ \textstyle\sum_{kl}|A_{kl}|^p,\ \lVert A\rVert_*\}.

This is how a Transformer learns its kernel: with linear features the attention logit
:math:`x^\top W_Q^\top W_K y/\sqrt d` is :math:`h_A` for :math:`A = W_Q^\top W_K/\sqrt d`
of rank ≤ d, and the nuclear norm is the convex relaxation of that rank bound (Wright &
Gonzalez 2021, §3–4). For :math:`R = \lVert A\rVert_F^2` the first-order condition gives
the representer form

.. math::

    A^\star = \Phi_X^\top C\, \Phi_Y, \qquad C = -\frac{G}{2\lambda}, \qquad
    G_{ij} = \frac{\partial \ell}{\partial h}(z_{ij}, h_{A^\star}(x_i, y_j))\ (0 \text{ off } Ω),

and for the row-softmax loss :math:`G = \operatorname{softmax}(H^\star) - P`, so C is
attention-shaped (:func:`plot_coefficients` shows it beside the map it was fitted to).
"""

from __future__ import annotations

import numpy as np

from rkbs._backend import check_device, is_torch_array, to_numpy
from rkbs._checks import check_array, check_exponent, check_int, check_positive
from rkbs.features.base import FeaturePair
from rkbs.machines.losses import check_loss_targets, get_loss, loss_gradient, predict_from_scores
from rkbs.machines.pair_operator_solvers import (
    PairProblem,
    solve_cvxpy,
    solve_torch_nuclear,
    solve_torch_smooth,
)
from rkbs.machines.protocol import ParamsMixin, check_on_failure, solver_failed

__all__ = ["PairOperatorMachine", "plot_coefficients"]

REGULARIZERS = ("frobenius", "lp", "nuclear")
SOLVERS = ("torch", "clarabel", "scs")


def _check_points(X, name: str):
    """X of shape (m, d) or (S, m, d) -> (array, batched?)."""
    if X is None:
        raise ValueError(f"{name} is required")
    ndim = X.ndim if hasattr(X, "ndim") else np.asarray(X).ndim
    if ndim not in (2, 3):
        raise ValueError(
            f"{name} must have shape (m, d) or (S, m, d), got shape "
            f"{tuple(X.shape) if hasattr(X, 'shape') else np.asarray(X).shape}"
        )
    if is_torch_array(X):
        X = X.detach()
    return check_array(X, name, ndim=ndim), ndim == 3


def _as_batch(X):
    return X if X.ndim == 3 else X[None]


def prepare_maps(loss: str, X, Y, Z, mask=None):
    """Validate the data of a pair-operator fit and give it a leading map axis S.

    X (m, d_x) | (S, m, d_x), Y (n, d_y) | (S, n, d_y) and Z (m, n) | (S, m, n) must be all
    unbatched or all batched with matching shapes; Z and ``mask`` are checked for ``loss``
    (:func:`~rkbs.machines.losses.check_loss_targets`).

    Returns
    -------
    Xb, Yb : arrays (S, m, d_x), (S, n, d_y), numpy or torch as given (detached)
    Zb, Mb : float64 / bool numpy arrays (S, m, n)
    batched : bool
        Whether the input had the map axis.
    """
    X, bx = _check_points(X, "X")
    Y, by = _check_points(Y, "Y")
    if is_torch_array(Z):
        Z = Z.detach()
    Z, mask = check_loss_targets(loss, Z, mask)
    if not (bx == by == (Z.ndim == 3)) or Z.ndim not in (2, 3):
        raise ValueError(
            "X, Y and Z must be all unbatched ((m, d_x), (n, d_y), (m, n)) or all batched "
            f"((S, m, d_x), (S, n, d_y), (S, m, n)); got X {tuple(X.shape)}, "
            f"Y {tuple(Y.shape)}, Z {tuple(Z.shape)}"
        )
    Xb, Yb = _as_batch(X), _as_batch(Y)
    Zb = to_numpy(Z).astype(np.float64)
    Mb = to_numpy(mask).astype(bool)
    Zb, Mb = (Zb, Mb) if Zb.ndim == 3 else (Zb[None], Mb[None])
    if (Xb.shape[0], Xb.shape[1], Yb.shape[1]) != Zb.shape or Yb.shape[0] != Zb.shape[0]:
        raise ValueError(
            f"Z must have shape (S, m, n) = ({Xb.shape[0]}, {Xb.shape[1]}, {Yb.shape[1]}) "
            f"matching X {tuple(X.shape)} and Y {tuple(Y.shape)}; got Z {tuple(Z.shape)}"
        )
    return Xb, Yb, Zb, Mb, Z.ndim == 3


def fit_features_if_needed(features: FeaturePair, Xb, Yb) -> None:
    """Fit a data-dependent feature pair (Nyström, ...) on all points of (S, m, d) maps."""
    if not features.fitted and not features.auto_fit:
        features.fit(Xb.reshape(-1, Xb.shape[-1]), Yb.reshape(-1, Yb.shape[-1]))


def assemble_operator(PX, C, PY):
    r""":math:`A = \sum_s \Phi_X^{(s)\top} C_s \Phi_Y^{(s)}` from features (S, m, D_x),
    (S, n, D_y) and coefficients (S, m, n) (numpy; unbatched 2-d inputs too)."""
    if PX.ndim == 2:
        return PX.T @ C @ PY
    return np.einsum("smk,smn,snl->kl", PX, C, PY)


class PairOperatorMachine(ParamsMixin):
    r"""Regularized pair-operator model :math:`h_A(x, y) = \Phi_X(x)^\top A\,\Phi_Y(y)`.

    Parameters
    ----------
    features : FeaturePair
        Any feature pair (exact, Taylor, random, Nyström); fitted on the training points
        by :meth:`fit` if it is not fitted yet.
    loss : {"softmax", "squared", "logistic"}
        Row-softmax cross-entropy (targets are rows of probabilities, e.g. attention
        maps), squared loss, or logistic loss (targets ±1). See :mod:`rkbs.machines.losses`.
    regularizer : {"frobenius", "lp", "nuclear"}
        :math:`\lVert A\rVert_F^2`, entrywise :math:`\sum|A_{kl}|^p`, or :math:`\lVert A\rVert_*`.
    lam : float
        Regularization weight λ > 0.
    p : float
        Exponent of the entrywise ℓ^p regularizer, 1 < p < ∞ (ignored otherwise, but
        validated).
    solver : {"torch", "clarabel", "scs"}
        ``"torch"``: L-BFGS (strong Wolfe) + damped Newton in float64 for Frobenius/ℓ^p, FISTA
        with singular-value thresholding for the nuclear norm (first order: slow when the
        features are ill-conditioned; prefer ``"clarabel"`` there); ``"clarabel"``/``"scs"``:
        cvxpy (status other than optimal raises :class:`SolverError`).
    tol : float
        Target relative first-order residual (torch), or the interior-point/SCS
        tolerances (clipped at 1e-10 for Clarabel, 1e-8 for SCS).
    max_iter : int, optional
        Iteration cap (default: 500 L-BFGS + Newton iterations, 20000 FISTA iterations,
        the solver's own for cvxpy).
    device : str
        Torch device of the torch solver ("cpu", "cuda", ...).
    verbose : bool
        Print solver progress.
    solver_options : dict, optional
        Extra keyword arguments for the cvxpy solver (override the tolerances).
    on_failure : {"raise", "warn"}
        A torch solve that misses ``tol`` raises :class:`SolverError` naming the status and
        residual, or (``"warn"``) keeps the last iterate with a ``RuntimeWarning`` and
        ``status_ = "not_converged"`` (:mod:`rkbs.machines.protocol`).

    Attributes
    ----------
    A_ : ndarray (D_x, D_y)
        Fitted operator (float64 numpy).
    objective_ : float
        :math:`F(A)` at the solution (recomputed in float64 for every solver).
    status_ : str
        ``"optimal"``, ``"round_off_floor"`` (torch: Newton stalled above ``tol`` but below
        the estimated round-off floor of the computed residual, ``residual_floor_``;
        counted as converged) or ``"not_converged"`` (torch: residual above ``tol``, with a
        warning).
    residual_floor_ : float or None
        Torch solver, when it stopped above ``tol``: the estimated round-off floor of the
        residual (:meth:`~rkbs.machines.pair_operator_solvers.PairProblem.residual_floor`).
    residual_ : float
        Relative first-order residual
        :math:`\lVert\nabla L + \lambda\nabla R\rVert/(\lVert\nabla L\rVert + \lVert\lambda\nabla R\rVert)`
        (nuclear: proximal-gradient residual, see :mod:`.pair_operator_solvers`).
    gradient_norm_ : float
        Absolute :math:`\lVert\nabla L + \lambda\nabla R\rVert_F` (nuclear: the norm of the
        proximal-gradient map), the numerator of ``residual_``; error bounds use it.
    n_iter_ : int
    coefficients_ : ndarray, shape like Z, or None
        Representer coefficients :math:`C = -G/(2\lambda)` (Frobenius only); also
        ``coef_`` (the name every machine uses).
    solve_seconds_ : float
        Wall time of the solve; also ``solve_time_``.
    fit_maps_ : tuple of ndarrays
        The training data with a map axis: X (S, m, d_x), Y (S, n, d_y), Z and mask
        (S, m, n) (what :func:`rkbs.verify.certify` checks the representer form on).
    residual_kind_ : str
        ``"gradient"``: ``residual_`` is the relative first-order residual in A.

    Examples
    --------
    >>> import numpy as np
    >>> from rkbs import TaylorFeatures
    >>> from rkbs.machines import PairOperatorMachine
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(8, 3)), rng.normal(size=(8, 3))
    >>> P = np.exp(X @ Y.T); P /= P.sum(1, keepdims=True)
    >>> m = PairOperatorMachine(TaylorFeatures(degree=2), lam=1e-2).fit(X, Y, P)
    >>> m.residual_ < 1e-9
    True
    """

    def __init__(
        self,
        features: FeaturePair,
        *,
        loss: str = "softmax",
        regularizer: str = "frobenius",
        lam: float = 1e-2,
        p: float = 2.0,
        solver: str = "torch",
        tol: float = 1e-10,
        max_iter: int | None = None,
        device: str = "cpu",
        verbose: bool = False,
        solver_options: dict | None = None,
        on_failure: str = "raise",
    ):
        if not isinstance(features, FeaturePair):
            raise ValueError(f"features must be a FeaturePair, got {type(features).__name__}")
        get_loss(loss)  # a registered name or a Loss; raises naming the valid ones
        if regularizer not in REGULARIZERS:
            raise ValueError(
                f"unknown regularizer {regularizer!r}; valid: {', '.join(REGULARIZERS)}"
            )
        if solver not in SOLVERS:
            raise ValueError(f"unknown solver {solver!r}; valid: {', '.join(SOLVERS)}")
        check_positive(lam, "lam")
        check_exponent(p, "p")
        check_positive(tol, "tol")
        if max_iter is not None:
            check_int(max_iter, "max_iter", minimum=1)
        check_on_failure(on_failure)
        # stored unchanged (sklearn.base.clone)
        self.features, self.loss, self.regularizer = features, loss, regularizer
        self.lam, self.p, self.solver, self.tol = lam, p, solver, tol
        self.max_iter, self.device, self.verbose = max_iter, device, verbose
        self.solver_options, self.on_failure = solver_options, on_failure

    # ------------------------------------------------------------------ features
    def _phi(self, X, side: str):
        """Features of (S, m, d) points -> numpy/torch (S, m, D)."""
        S, m, d = X.shape
        flat = X.reshape(S * m, d)
        F = self.features.transform_x(flat) if side == "x" else self.features.transform_y(flat)
        return F.reshape(S, m, F.shape[-1])

    def transform(self, X, Y):
        r"""Feature arrays :math:`(\Phi_X(X), \Phi_Y(Y))` as float64 numpy, batch axis kept."""
        X, bx = _check_points(X, "X")
        Y, by = _check_points(Y, "Y")
        if bx != by:
            raise ValueError(f"X and Y must both be batched or both not: X {tuple(X.shape)}, "
                             f"Y {tuple(Y.shape)}")
        if bx and X.shape[0] != Y.shape[0]:
            raise ValueError(f"X and Y must have the same number of maps S, got X "
                             f"{tuple(X.shape)} and Y {tuple(Y.shape)}")
        PX, PY = self._phi(_as_batch(X), "x"), self._phi(_as_batch(Y), "y")
        PX, PY = to_numpy(PX).astype(np.float64), to_numpy(PY).astype(np.float64)
        return (PX, PY) if bx else (PX[0], PY[0])

    # ----------------------------------------------------------------------- fit
    def _problem(self, X, Y, Z, mask):
        import torch

        Xb, Yb, Zb, Mb, batched = prepare_maps(self.loss, X, Y, Z, mask)
        fit_features_if_needed(self.features, Xb, Yb)
        dev = check_device(self.device)
        kw = {"dtype": torch.float64, "device": dev}
        PX = torch.as_tensor(self._phi(Xb, "x"), **kw)
        PY = torch.as_tensor(self._phi(Yb, "y"), **kw)
        return PairProblem(
            PX=PX, PY=PY, Z=torch.as_tensor(Zb, **kw),
            mask=torch.as_tensor(Mb, device=dev), loss=self.loss,
            regularizer=self.regularizer, lam=self.lam, p=self.p,
        ), batched

    def fit(self, X, Y, Z, mask=None):
        r"""Fit A on points X (m, d_x) | (S, m, d_x), Y (n, d_y) | (S, n, d_y), targets Z.

        Parameters
        ----------
        X, Y : arrays (numpy or torch)
            Query-side and key-side points; with a leading axis S, one map per slice
            (the loss is summed over the S maps, one A is shared).
        Z : array (m, n) or (S, m, n)
            Responses: rows of probabilities (softmax), reals (squared) or ±1 (logistic).
        mask : bool array like Z, optional
            Observed pairs Ω (all by default).

        Returns
        -------
        self
        """
        prob, batched = self._problem(X, Y, Z, mask)
        if self.solver == "torch":
            if self.regularizer == "nuclear":
                sol = solve_torch_nuclear(prob, tol=self.tol, max_iter=self.max_iter or 20000,
                                          verbose=self.verbose)
            else:
                sol = solve_torch_smooth(prob, tol=self.tol, max_iter=self.max_iter or 500,
                                         verbose=self.verbose)
            if sol.status not in ("optimal", "round_off_floor"):
                solver_failed(self.on_failure,
                              f"PairOperatorMachine ({sol.solver}) stopped with status "
                              f"{sol.status!r} at residual {sol.residual:.3e} > "
                              f"tol={self.tol:.1e} after {sol.n_iter} iterations", sol.status)
        else:
            sol = solve_cvxpy(prob, solver=self.solver, tol=self.tol, max_iter=self.max_iter,
                              verbose=self.verbose, solver_options=self.solver_options)
        self.A_ = sol.A
        self.objective_ = sol.objective
        self.status_ = sol.status
        self.residual_ = sol.residual
        self.residual_floor_ = (sol.info or {}).get("residual_floor")
        self.gradient_norm_ = sol.grad_norm
        self.n_iter_ = sol.n_iter
        self.solver_name_ = sol.solver
        self.solve_seconds_ = self.solve_time_ = sol.seconds
        self.history_ = sol.history
        self.n_features_ = prob.shape
        self.residual_kind_ = "gradient"
        self.fit_maps_ = self._training_maps(X, Y, Z, mask)
        if self.regularizer == "frobenius":
            import torch

            At = torch.as_tensor(sol.A, dtype=prob.PX.dtype, device=prob.PX.device)
            G = loss_gradient(self.loss, prob.Z, prob.scores(At), prob.mask)
            C = (-G / (2.0 * self.lam)).cpu().numpy()
            self.coefficients_ = C if batched else C[0]
        else:
            self.coefficients_ = None
        self.coef_ = self.coefficients_
        return self

    def _training_maps(self, X, Y, Z, mask):
        Xb, Yb, Zb, Mb, _ = prepare_maps(self.loss, X, Y, Z, mask)
        return (to_numpy(Xb).astype(np.float64), to_numpy(Yb).astype(np.float64), Zb, Mb)

    # ------------------------------------------------- certificate protocol
    def side_kernels(self):
        r"""The Gram kernels :math:`(k_X, k_Y)` of the feature maps (see
        :func:`~rkbs.machines.side_kernels`)."""
        from rkbs.machines.pair_dual import side_kernels

        return side_kernels(self.features)

    @property
    def solution_(self):
        """The solver's variable: the operator A (D_x, D_y)."""
        self._check_fitted()
        return self.A_

    def with_solution(self, A):
        """A shallow copy whose fitted operator is ``A`` (D_x, D_y), e.g. a perturbed
        optimum for a certificate's negative control; nothing else is refitted."""
        import copy

        self._check_fitted()
        A = np.asarray(A, dtype=np.float64)
        if A.shape != self.A_.shape:
            raise ValueError(f"A must have shape {self.A_.shape}, got {A.shape}")
        out = copy.copy(self)
        out.A_ = A
        return out

    # ------------------------------------------------------------------ predict
    def _check_fitted(self):
        if not hasattr(self, "A_"):
            raise ValueError("PairOperatorMachine is not fitted: call fit(X, Y, Z) first")

    def decision_function(self, X, Y):
        r"""Logits :math:`H = \Phi_X(X)\,A\,\Phi_Y(Y)^\top`, shape (m, n) or (S, m, n) (numpy)."""
        self._check_fitted()
        PX, PY = self.transform(X, Y)
        return PX @ self.A_ @ np.swapaxes(PY, -1, -2)

    def predict(self, X, Y):
        r"""Softmax rows of H (softmax loss), :math:`\sigma(H)` (logistic), or H (squared)."""
        return predict_from_scores(self.loss, self.decision_function(X, Y))

    def representer_operator(self, X, Y):
        r""":math:`\sum_s \Phi_X^{(s)\top} C_s \Phi_Y^{(s)}` from :attr:`coefficients_` on the
        training points (equals ``A_`` up to the solver's residual; Frobenius only)."""
        self._check_fitted()
        if self.coefficients_ is None:
            raise ValueError("coefficients_ exist only for the Frobenius regularizer")
        PX, PY = self.transform(X, Y)
        return assemble_operator(PX, self.coefficients_, PY)

    def __repr__(self) -> str:
        return (f"PairOperatorMachine(features={self.features!r}, loss={self.loss!r}, "
                f"regularizer={self.regularizer!r}, lam={self.lam:g}, p={self.p:g}, "
                f"solver={self.solver!r})")


# the plot helper lives in rkbs.plotting (one home for all drawing); old name kept
from rkbs.plotting import plot_coefficients  # noqa: E402, F401
