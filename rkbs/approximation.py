r"""Universal approximation of binary functions by :math:`q(t)\cdot k(s)`.

The paper's claim 6 (Wright & Gonzalez, arXiv:2106.01506, §5): for compact
:math:`X, Y` and continuous :math:`F: X\times Y\to\mathbb R`, for every ε > 0 there are
two-layer networks :math:`q, k` of width ``m`` with ``r`` outputs such that

.. math:: \sup_{t\in X,\, s\in Y} \big| F(t, s) - q(t)\cdot k(s) \big| < \varepsilon ,

hence every positive continuous binary kernel :math:`\exp F` is approximated by the
attention-shaped :math:`\exp(q(t)\cdot k(s))`, with

.. math:: \frac{|\exp F - \exp(q\cdot k)|}{\exp F} \le e^{\delta} - 1,
          \qquad \delta = \sup |F - q\cdot k| .

This module fits such networks (torch, float64, seeded, full-batch L-BFGS on a
training grid), measures the sup-error on a held-out grid, and gives a lower bound
that *no* rank-``r`` model can beat on that grid (Eckart–Young–Mirsky):

.. math:: \max_{ij} |F_{ij} - M_{ij}| \;\ge\; \frac{\|F - M\|_F}{\sqrt{n_t n_s}}
          \;\ge\; \sqrt{\frac{\sum_{i>r} \sigma_i(F)^2}{n_t n_s}}
          \quad \text{for every } M \text{ of rank} \le r .

torch is imported inside the functions only, so ``import rkbs`` stays torch-free.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rkbs._backend import torch_threads
from rkbs._checks import (
    check_allocation,
    check_array,
    check_finite_scalar,
    check_int,
    check_positive,
    check_random_state,
)

__all__ = [
    "ApproximationTarget",
    "PairNetworkFit",
    "approximation_sweep",
    "approximation_targets",
    "fit_pair_network",
    "product_grid",
    "rank_lower_bound",
]

_ACTIVATIONS = ("tanh", "relu", "softplus", "linear")


# ----------------------------------------------------------------------------- grids
def product_grid(n: int, d: int, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    r"""Tensor-product grid of ``n`` equispaced points per axis on :math:`[low, high]^d`.

    Parameters
    ----------
    n : int
        Points per axis (``n >= 2``; both endpoints are included).
    d : int
        Dimension.
    low, high : float
        The cube's bounds.

    Returns
    -------
    ndarray of shape (n**d, d)
        Rows are the grid points, last axis varying fastest.
    """
    n = check_int(n, "n", minimum=2)
    d = check_int(d, "d", minimum=1)
    low, high = check_finite_scalar(low, "low"), check_finite_scalar(high, "high")
    if not high > low:
        raise ValueError(f"need low < high, got low={low}, high={high}")
    check_allocation(2 * n**d * d * 8, f"a product grid of {n}**{d} points in {d} dimensions")
    axis = np.linspace(low, high, n)
    mesh = np.meshgrid(*([axis] * d), indexing="ij")
    return np.stack([g.ravel() for g in mesh], axis=1)


# --------------------------------------------------------------------------- targets
@dataclass(frozen=True)
class ApproximationTarget:
    r"""A continuous binary function :math:`F: [low, high]^d \times [low, high]^d \to \mathbb R`.

    Attributes
    ----------
    name : str
        Short identifier.
    func : callable
        ``func(T, S)`` with ``T`` (n_t, d), ``S`` (n_s, d) numpy arrays returns the
        ``(n_t, n_s)`` matrix :math:`F(t_i, s_j)`.
    dim : int
        Input dimension ``d`` of both arguments.
    formula : str
        The formula, for tables and plot legends.
    low, high : float
        The compact domain is the cube :math:`[low, high]^d` on both sides.
    """

    name: str
    func: Callable[[np.ndarray, np.ndarray], np.ndarray]
    dim: int
    formula: str
    low: float = -1.0
    high: float = 1.0

    def __call__(self, T, S) -> np.ndarray:
        T = np.asarray(check_array(T, "T"), dtype=np.float64)
        S = np.asarray(check_array(S, "S"), dtype=np.float64)
        for A, nm in ((T, "T"), (S, "S")):
            if A.shape[1] != self.dim:
                raise ValueError(f"target {self.name!r} takes {self.dim}-d points, "
                                 f"got {nm} of shape {A.shape}")
        return self.func(T, S)

    def grid(self, n: int) -> np.ndarray:
        """:func:`product_grid` with ``n`` points per axis on this target's domain."""
        return product_grid(n, self.dim, self.low, self.high)


def _smooth(T, S):
    # sin(pi t s) + cos(pi (t - s)) / 2 : analytic, not a finite sum of products of
    # low degree; the singular values decay fast but never vanish.
    t, s = T[:, :1], S[:, :1].T
    return np.sin(np.pi * t * s) + 0.5 * np.cos(np.pi * (t - s))


def _distance(T, S):
    diff = T[:, None, :] - S[None, :, :]
    return np.sqrt(np.sum(diff * diff, axis=-1))


def _log_rbf(T, S, sigma=1.0):
    diff = T[:, None, :] - S[None, :, :]
    return -np.sum(diff * diff, axis=-1) / (2.0 * sigma**2)


def _kink(T, S):
    # max(t, s): continuous, gradient jumps across the diagonal t = s.
    return np.maximum(T[:, :1], S[:, :1].T)


def approximation_targets() -> dict[str, ApproximationTarget]:
    r"""The continuous targets of the universal-approximation check.

    Returns
    -------
    dict of str to ApproximationTarget
        - ``"smooth"``: :math:`\sin(\pi t s) + \tfrac12\cos(\pi(t - s))` on
          :math:`[-1, 1]` (non-separable, analytic);
        - ``"distance"``: :math:`\|t - s\|_2` on :math:`[-1, 1]^2` (a metric; not
          differentiable on the diagonal);
        - ``"log_rbf"``: :math:`-\|t - s\|^2/(2\sigma^2)`, σ = 1, on :math:`[-1, 1]^2`
          (the log of an RBF kernel, so :math:`\exp F` is the RBF kernel);
        - ``"kink"``: :math:`\max(t, s)` on :math:`[-1, 1]` (discontinuous gradient).
    """
    return {
        "smooth": ApproximationTarget("smooth", _smooth, 1, "sin(πts) + cos(π(t−s))/2"),
        "distance": ApproximationTarget("distance", _distance, 2, "‖t − s‖₂"),
        "log_rbf": ApproximationTarget("log_rbf", _log_rbf, 2, "−‖t − s‖²/2"),
        "kink": ApproximationTarget("kink", _kink, 1, "max(t, s)"),
    }


def rank_lower_bound(F, rank: int) -> float:
    r"""Lower bound on :math:`\max_{ij}|F_{ij} - M_{ij}|` over all matrices of rank ≤ r.

    .. math:: \max_{ij} |F_{ij} - M_{ij}| \ge \sqrt{\textstyle\sum_{i>r}\sigma_i(F)^2
              \,/\, (n_t n_s)}

    (the maximum entry bounds the root-mean-square entry, and Eckart–Young–Mirsky gives
    the smallest Frobenius error at rank r). Any :math:`q(t)\cdot k(s)` with
    :math:`q, k` of r outputs evaluated on a grid is such an ``M``.

    Parameters
    ----------
    F : array of shape (n_t, n_s)
    rank : int

    Returns
    -------
    float
    """
    F = np.asarray(check_array(F, "F"), dtype=np.float64)
    rank = check_int(rank, "rank", minimum=0)
    sv = np.linalg.svd(F, compute_uv=False)
    tail = float(np.sum(sv[rank:] ** 2))
    return math.sqrt(tail / F.size)


# -------------------------------------------------------------------------- networks
@dataclass
class PairNetworkFit:
    r"""Two fitted two-layer networks :math:`q: \mathbb R^{d_t}\to\mathbb R^r`,
    :math:`k: \mathbb R^{d_s}\to\mathbb R^r`.

    .. math:: q(t) = A_2\,\sigma(A_1 t + a_1) + a_2, \qquad
              k(s) = B_2\,\sigma(B_1 s + b_1) + b_2 ,

    with hidden width ``m`` and activation σ. Produced by :func:`fit_pair_network`.

    Attributes
    ----------
    width, rank : int
    activation : str
    params : dict of str to torch.Tensor
        ``"A1" (m, d_t), "a1" (m,), "A2" (r, m), "a2" (r,)`` and likewise ``B*, b*``.
    train_loss : float
        Final mean squared error on the training grid.
    n_iter : int
        L-BFGS iterations used.
    seconds : float
        Wall time of the fit.
    """

    width: int
    rank: int
    activation: str
    params: dict = field(repr=False)
    train_loss: float = math.nan
    n_iter: int = 0
    seconds: float = 0.0

    def _tower(self, X, prefix_w: str, prefix_b: str):
        import torch

        P = self.params
        X = torch.as_tensor(np.asarray(X, dtype=np.float64), dtype=P[prefix_w + "1"].dtype)
        H = _activate(X @ P[prefix_w + "1"].T + P[prefix_b + "1"], self.activation)
        return H @ P[prefix_w + "2"].T + P[prefix_b + "2"]

    def queries(self, T) -> np.ndarray:
        """:math:`q(t_i)`, shape ``(n_t, r)``."""
        import torch

        with torch.no_grad():
            return self._tower(T, "A", "a").numpy()

    def keys(self, S) -> np.ndarray:
        """:math:`k(s_j)`, shape ``(n_s, r)``."""
        import torch

        with torch.no_grad():
            return self._tower(S, "B", "b").numpy()

    def predict(self, T, S) -> np.ndarray:
        r""":math:`q(t_i)\cdot k(s_j)`, shape ``(n_t, n_s)``."""
        return self.queries(T) @ self.keys(S).T


def _activate(Z, activation: str):
    import torch

    if activation == "tanh":
        return torch.tanh(Z)
    if activation == "relu":
        return torch.relu(Z)
    if activation == "softplus":
        return torch.nn.functional.softplus(Z)
    return Z  # "linear": no hidden nonlinearity (a negative control)


def _init_params(d_t: int, d_s: int, width: int, rank: int, rng: np.random.Generator,
                 input_scale: float) -> dict[str, np.ndarray]:
    # Hidden weights N(0, input_scale^2 / d) and biases U[-input_scale, input_scale] put
    # the tanh kinks across the unit cube; output weights N(0, 1/m) (LeCun scaling).
    p = {}
    for W, b, d in (("A", "a", d_t), ("B", "b", d_s)):
        p[W + "1"] = rng.normal(0.0, input_scale / math.sqrt(d), size=(width, d))
        p[b + "1"] = rng.uniform(-input_scale, input_scale, size=width)
        p[W + "2"] = rng.normal(0.0, 1.0 / math.sqrt(width), size=(rank, width))
        p[b + "2"] = np.zeros(rank)
    return p


def _hidden_numpy(X: np.ndarray, W: np.ndarray, b: np.ndarray, activation: str) -> np.ndarray:
    Z = X @ W.T + b
    if activation == "tanh":
        return np.tanh(Z)
    if activation == "relu":
        return np.maximum(Z, 0.0)
    if activation == "softplus":
        return np.logaddexp(0.0, Z)
    return Z


def _best_output_layers(F, T, S, init, rank, activation, rcond=1e-7) -> dict:
    r"""Optimal output layers for fixed hidden layers (closed form, reduced-rank LS).

    With hidden features plus a constant column, :math:`\tilde H_q` (n_t, m+1) and
    :math:`\tilde H_k` (n_s, m+1), the model is :math:`\tilde H_q C \tilde H_k^\top`
    with :math:`C = \tilde A^\top \tilde B` of rank ≤ r. Writing
    :math:`\tilde H = U \Sigma V^\top` (singular values below ``rcond`` times the largest
    dropped), the model ranges over :math:`U_q X U_k^\top` with rank X ≤ r, and the best X
    in Frobenius norm is the rank-r truncated SVD of :math:`U_q^\top F U_k`
    (Eckart–Young–Mirsky).
    """
    out = {}
    bases = []
    for X, W, b in ((T, "A", "a"), (S, "B", "b")):
        H = _hidden_numpy(X, init[W + "1"], init[b + "1"], activation)
        H = np.concatenate([H, np.ones((H.shape[0], 1))], axis=1)
        U, s, Vt = np.linalg.svd(H, full_matrices=False)
        keep = s > rcond * s[0]
        bases.append((U[:, keep], s[keep], Vt[keep].T))
    (Uq, sq, Vq), (Uk, sk, Vk) = bases
    P, sig, Rt = np.linalg.svd(Uq.T @ F @ Uk, full_matrices=False)
    r_eff = min(rank, sig.size)
    root = np.sqrt(sig[:r_eff])
    for (_U, s, V), L, W, b in (((Uq, sq, Vq), P[:, :r_eff], "A", "a"),
                               ((Uk, sk, Vk), Rt[:r_eff].T, "B", "b")):
        Wt = np.zeros((V.shape[0], rank))  # (m+1, r); unused ranks stay zero
        Wt[:, :r_eff] = (V / s) @ (L * root)
        out[W + "2"] = Wt[:-1].T.copy()
        out[b + "2"] = Wt[-1].copy()
    return out


def fit_pair_network(
    F,
    T,
    S,
    *,
    width: int,
    rank: int,
    activation: str = "tanh",
    max_iter: int = 500,
    train_hidden: bool = True,
    input_scale: float = 2.0,
    seed=0,
) -> PairNetworkFit:
    r"""Fit :math:`q(t)\cdot k(s)` to a binary function sampled on a product grid.

    Minimizes the mean squared error

    .. math:: \frac{1}{n_t n_s} \sum_{i,j} \big(F(t_i, s_j) - q(t_i)\cdot k(s_j)\big)^2

    over the parameters of two two-layer networks (see :class:`PairNetworkFit`) with
    full-batch L-BFGS (strong-Wolfe line search) in float64. The product structure is
    used: the model matrix is :math:`Q K^\top` with :math:`Q` (n_t, r), :math:`K` (n_s, r).

    The hidden layers start random; the output layers start at their exact optimum for
    those hidden layers (a reduced-rank least-squares problem solved by two SVDs), so
    the frozen-hidden-layer model (``train_hidden=False``) is solved exactly and
    L-BFGS, which only decreases the loss, starts from the best random-feature fit.

    Parameters
    ----------
    F : array of shape (n_t, n_s)
        Target values :math:`F(t_i, s_j)`.
    T : array of shape (n_t, d_t)
        First-argument points.
    S : array of shape (n_s, d_s)
        Second-argument points.
    width : int
        Hidden width ``m`` of each network.
    rank : int
        Output dimension ``r`` (the rank of :math:`q\cdot k` on any grid).
    activation : {"tanh", "relu", "softplus", "linear"}
        Hidden activation; ``"linear"`` removes the nonlinearity (then
        :math:`q(t)\cdot k(s)` is an affine-bilinear form, a negative control).
    max_iter : int
        L-BFGS iterations.
    train_hidden : bool
        ``False`` freezes the random hidden layers (a random-feature model: only the
        output layers are trained).
    input_scale : float
        Scale of the random initialization of the hidden layers.
    seed : int, Generator or None
        Initialization seed (numpy draws, so fits are reproducible).

    Returns
    -------
    PairNetworkFit
    """
    import torch

    F = np.asarray(check_array(F, "F"), dtype=np.float64)
    T = np.asarray(check_array(T, "T"), dtype=np.float64)
    S = np.asarray(check_array(S, "S"), dtype=np.float64)
    if F.shape != (T.shape[0], S.shape[0]):
        raise ValueError(f"F must have shape (len(T), len(S)) = {(T.shape[0], S.shape[0])}, "
                         f"got {F.shape}")
    width = check_int(width, "width", minimum=1)
    rank = check_int(rank, "rank", minimum=1)
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    input_scale = check_positive(input_scale, "input_scale")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {activation!r}")
    rng = check_random_state(seed)

    init = _init_params(T.shape[1], S.shape[1], width, rank, rng, input_scale)
    init.update(_best_output_layers(F, T, S, init, rank, activation))
    params = {k: torch.tensor(v, dtype=torch.float64) for k, v in init.items()}
    trainable = [k for k in params if train_hidden or k[1] == "2"]
    for k in trainable:
        params[k].requires_grad_(True)
    fit = PairNetworkFit(width, rank, activation, params)
    Tt, St = torch.as_tensor(T), torch.as_tensor(S)
    Ft = torch.as_tensor(F)

    def loss_fn():
        Q = fit._tower(Tt, "A", "a")  # (n_t, r)
        K = fit._tower(St, "B", "b")  # (n_s, r)
        return torch.mean((Q @ K.T - Ft) ** 2)

    opt = torch.optim.LBFGS([params[k] for k in trainable], lr=1.0, max_iter=max_iter,
                            history_size=50, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-12, tolerance_change=1e-16)

    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    t0 = time.perf_counter()
    # The matrices are tiny (at most a few hundred rows): intra-op threads only add
    # synchronization cost, badly so on a loaded machine. One thread, restored after.
    with torch_threads(1):
        opt.step(closure)
    fit.seconds = time.perf_counter() - t0
    for k in trainable:
        params[k].requires_grad_(False)
    with torch.no_grad():
        fit.train_loss = float(loss_fn())
    fit.n_iter = int(opt.state[opt._params[0]].get("n_iter", 0))
    return fit


# ----------------------------------------------------------------------------- sweep
def approximation_sweep(
    target: ApproximationTarget,
    sizes: Sequence[tuple[int, int]],
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    activation: str = "tanh",
    max_iter: int = 500,
    restarts: int = 1,
    train_hidden: bool = True,
    seed=0,
) -> list[dict]:
    r"""Fit :math:`q\cdot k` to ``target`` for each (width, rank) and measure errors.

    Training uses a product grid of ``n_train`` points per axis; errors are measured on
    a *different* product grid of ``n_test`` points per axis (held out: only the cube's
    corners coincide when ``n_test - 1`` is not a multiple of ``n_train - 1``).

    Parameters
    ----------
    target : ApproximationTarget
    sizes : sequence of (width, rank)
    n_train, n_test : int, optional
        Grid points per axis (defaults: 40 / 97 in 1-d, 12 / 19 in 2-d).
    activation, max_iter, train_hidden
        As in :func:`fit_pair_network`.
    restarts : int
        Independent initializations per size; the one with the lowest *training* loss
        is kept (the test grid is never used for selection).
    seed : int, Generator or None

    Returns
    -------
    list of dict
        One row per size with keys ``target, width, rank, sup_error`` (held-out
        :math:`\max|F - q\cdot k|`), ``rms_error``, ``train_rmse``,
        ``rank_lower_bound`` (:func:`rank_lower_bound` on the test grid),
        ``exp_rel_error`` (held-out :math:`\max |e^F - e^{q\cdot k}|/e^F`),
        ``exp_bound`` (:math:`e^{\delta} - 1` with δ the sup-error), ``n_iter``,
        ``seconds``.
    """
    rng = check_random_state(seed)
    restarts = check_int(restarts, "restarts", minimum=1)
    one_d = target.dim == 1
    n_train = n_train or (40 if one_d else 12)
    n_test = n_test or (97 if one_d else 19)
    T_tr = target.grid(n_train)
    T_te = target.grid(n_test)
    F_tr = target(T_tr, T_tr)
    F_te = target(T_te, T_te)
    rows = []
    for width, rank in sizes:
        best = None
        for _ in range(restarts):
            fit = fit_pair_network(F_tr, T_tr, T_tr, width=width, rank=rank,
                                   activation=activation, max_iter=max_iter,
                                   train_hidden=train_hidden, seed=rng)
            if best is None or fit.train_loss < best.train_loss:
                best = fit
        pred = best.predict(T_te, T_te)
        err = F_te - pred
        sup = float(np.max(np.abs(err)))
        rows.append({
            "target": target.name,
            "width": int(width),
            "rank": int(rank),
            "sup_error": sup,
            "rms_error": float(np.sqrt(np.mean(err**2))),
            "train_rmse": math.sqrt(best.train_loss),
            "rank_lower_bound": rank_lower_bound(F_te, rank),
            "exp_rel_error": float(np.max(np.abs(np.expm1(-err)))),
            "exp_bound": math.expm1(sup),
            "n_iter": best.n_iter,
            "seconds": best.seconds,
        })
    return rows
