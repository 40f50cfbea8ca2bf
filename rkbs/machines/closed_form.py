r"""Closed forms for p = 2, squared loss, R(t) = t² (linear algebra only; theory §3–§4).

An independent cross-check of the cvxpy and Newton solvers.

**One-sided (kernel ridge regression).** With observed counts :math:`r_i = \sum_j M_{ij}`
and row sums :math:`s_i = \sum_j M_{ij}Z_{ij}`, the minimizer of
:math:`\tfrac12\sum_{ij}M_{ij}(a_i - Z_{ij})^2 + \lambda\lVert w\rVert_2^2`,
:math:`a = \Phi_X w`, is :math:`w = \Phi_X^\top\alpha` with

.. math:: (K + 2\lambda\,\operatorname{diag}(1/r))\,\alpha = s / r, \qquad K = \Phi_X\Phi_X^\top,

symmetric positive definite: Cholesky (``scipy.linalg.cho_factor``). With every pair
observed this is scikit-learn's ``KernelRidge(alpha=2λ/n)`` on the row means.

**Additive binary ridge.** :math:`\tfrac12\sum M_{ij}(a_i + b_j - Z_{ij})^2 + \lambda_X\lVert w\rVert^2
+ \lambda_Y\lVert v\rVert^2`: the normal equations in (w, v),

.. math::

    \begin{pmatrix}\Phi_X^\top\operatorname{diag}(r)\Phi_X + 2\lambda_X I & \Phi_X^\top M\Phi_Y\\
    \Phi_Y^\top M^\top\Phi_X & \Phi_Y^\top\operatorname{diag}(c)\Phi_Y + 2\lambda_Y I\end{pmatrix}
    \begin{pmatrix}w\\ v\end{pmatrix} = \begin{pmatrix}\Phi_X^\top s\\ \Phi_Y^\top t\end{pmatrix}

(symmetric positive definite, size 2D: Cholesky) or, when m + n < 2D, the kernel form
:math:`(I + B\,\mathcal G)\tilde\alpha = \tilde c` in the score space, with
:math:`B = [[\operatorname{diag}(r), M], [M^\top, \operatorname{diag}(c)]]`,
:math:`\mathcal G = \operatorname{diag}(K_X/2\lambda_X, K_Y/2\lambda_Y)`,
:math:`\tilde c = (s, t)`, :math:`(w, v) = (\Phi_X^\top\tilde\alpha_X/2\lambda_X,
\Phi_Y^\top\tilde\alpha_Y/2\lambda_Y)`. That matrix is not symmetric, so it is solved by
LU (``scipy.linalg.lu_factor``), never by a Cholesky or ``assume_a='pos'`` solve.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from rkbs._backend import to_numpy
from rkbs._checks import check_array, check_positive

__all__ = ["kernel_ridge_coefficients", "one_sided_ridge", "additive_ridge"]


def kernel_ridge_coefficients(K, z, alpha: float):
    r"""Solve :math:`(K + \alpha I)\,c = z` by Cholesky; K (n, n) symmetric PSD, z (n,) or (n, k).

    Raises
    ------
    ValueError
        If K is not square or not symmetric (relative asymmetry > 1e-12: a Cholesky
        reads one triangle only and would silently solve another system).
    """
    K = np.asarray(to_numpy(check_array(K, "K")), dtype=float)
    alpha = check_positive(alpha, "alpha")
    if K.shape[0] != K.shape[1]:
        raise ValueError(f"K must be square, got shape {K.shape}")
    asym = np.linalg.norm(K - K.T) / max(np.linalg.norm(K), 1e-300)
    # 1e-12: a Gram matrix Φ Φᵀ is symmetric to a few ulps (≈ 1e-15 relative)
    if asym > 1e-12:
        raise ValueError(f"K must be symmetric for a Cholesky solve; relative asymmetry {asym:.3g}")
    z = np.asarray(to_numpy(z), dtype=float)
    if z.shape[0] != K.shape[0]:
        raise ValueError(f"z has {z.shape[0]} rows but K is {K.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("z contains NaN or inf")
    A = K.copy(order="F")  # LAPACK's layout: the factorization then needs no copy
    A.flat[::A.shape[0] + 1] += alpha  # K + αI without an n × n identity
    # inputs were checked finite above; the factorization may overwrite its private copy
    cf = sla.cho_factor(A, lower=True, overwrite_a=True, check_finite=False)
    return sla.cho_solve(cf, z, check_finite=False)


def _counts(Z, mask):
    Z = np.asarray(to_numpy(Z), dtype=float)
    M = np.ones(Z.shape, bool) if mask is None else np.asarray(to_numpy(mask), bool)
    Mf = M.astype(float)
    return Z, Mf, Mf.sum(1), Mf.sum(0), (Mf * Z).sum(1), (Mf * Z).sum(0)


def one_sided_ridge(Phi_X, Z, mask=None, lam: float = 1.0):
    r"""Kernel ridge regression on the rows of Z (module docstring): returns (w (D,), α (m,)).

    Rows without observed pairs get :math:`\alpha_i = 0`.
    """
    Phi = np.asarray(to_numpy(Phi_X), dtype=float)
    lam = check_positive(lam, "lam")
    Z, Mf, r, _, s, _ = _counts(Z, mask)
    obs = r > 0
    P = Phi[obs]
    A = P @ P.T
    A += A.T  # exact symmetry (round-off of the product is ≤ a few ulps); numpy
    A *= 0.5  # buffers the overlapping transpose, so the in-place sum is safe
    A.flat[::A.shape[0] + 1] += 2.0 * lam / r[obs]  # + 2λ diag(1/r), no n × n diagonal
    # A is exactly symmetric, so Aᵀ (a Fortran-ordered view) is the same matrix in
    # LAPACK's layout: factor it in place, without the copy a C-ordered input costs
    cf = sla.cho_factor(A.T, lower=True, overwrite_a=True)
    alpha = np.zeros(Phi.shape[0])
    alpha[obs] = sla.cho_solve(cf, s[obs] / r[obs])
    return Phi.T @ alpha, alpha


def additive_ridge(Phi_X, Phi_Y, Z, mask=None, lam_x: float = 1.0, lam_y: float = 1.0,
                   *, method: str = "auto"):
    r"""Additive binary ridge (module docstring): returns (w (D_X,), v (D_Y,)).

    ``method``: ``"primal"`` (Cholesky on the 2D normal equations), ``"kernel"`` (LU
    on the (m + n) score-space system) or ``"auto"`` (the smaller one).
    """
    PX = np.asarray(to_numpy(Phi_X), dtype=float)
    PY = np.asarray(to_numpy(Phi_Y), dtype=float)
    lam_x, lam_y = check_positive(lam_x, "lam_x"), check_positive(lam_y, "lam_y")
    Z, Mf, r, c, s, t = _counts(Z, mask)
    m, n = Z.shape
    Dx, Dy = PX.shape[1], PY.shape[1]
    if method == "auto":
        method = "primal" if Dx + Dy <= m + n else "kernel"
    if method == "primal":
        H = np.block([
            [PX.T @ (r[:, None] * PX) + 2 * lam_x * np.eye(Dx), PX.T @ Mf @ PY],
            [PY.T @ Mf.T @ PX, PY.T @ (c[:, None] * PY) + 2 * lam_y * np.eye(Dy)],
        ])
        H = 0.5 * (H + H.T)
        sol = sla.cho_solve(sla.cho_factor(H, lower=True), np.concatenate([PX.T @ s, PY.T @ t]))
        return sol[:Dx], sol[Dx:]
    if method != "kernel":
        raise ValueError(f"method must be 'auto', 'primal' or 'kernel', got {method!r}")
    B = np.block([[np.diag(r), Mf], [Mf.T, np.diag(c)]])
    Gm = np.zeros((m + n, m + n))
    Gm[:m, :m] = PX @ PX.T / (2 * lam_x)
    Gm[m:, m:] = PY @ PY.T / (2 * lam_y)
    lu = sla.lu_factor(np.eye(m + n) + B @ Gm)
    at = sla.lu_solve(lu, np.concatenate([s, t]))
    return PX.T @ at[:m] / (2 * lam_x), PY.T @ at[m:] / (2 * lam_y)
