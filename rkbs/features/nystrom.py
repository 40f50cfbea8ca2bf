r"""Asymmetric Nyström features of a binary kernel.

Landmarks :math:`\tilde X = (\tilde x_1..\tilde x_{r_x})` on the query side and
:math:`\tilde Y = (\tilde y_1..\tilde y_{r_y})` on the key side give the cross block
:math:`M = K(\tilde X, \tilde Y) = U\Sigma V^\top` (thin SVD). The features

.. math::

    \varphi_X(x) = K(x, \tilde Y)\, V \Sigma^{-1/2}, \qquad
    \varphi_Y(y) = K(\tilde X, y)^\top U \Sigma^{-1/2}

give :math:`\varphi_X(x)\cdot\varphi_Y(y) = K(x, \tilde Y)\, M^{+} K(\tilde X, y)`:
exact on landmark pairs (:math:`M M^+ M = M`) and exact everywhere when the landmarks
are the full point sets and M is invertible. The kernel itself is reproduced, also
when it is asymmetric or indefinite. (A symmetric Nyström that takes singular values
of an indefinite block as eigenvalues, e.g. scikit-learn's ``Nystroem``, reproduces
:math:`|K|` instead of K; the tests check that this one does not.)

Singular or ill-conditioned cross blocks are handled by a documented truncated
pseudo-inverse: singular values :math:`\sigma_i \le \text{rcond}\cdot\sigma_1` are
dropped (``rcond`` defaults to :math:`\max(r_x, r_y)\,\varepsilon`, numpy's
``matrix_rank`` rule); the feature dimension is the retained rank ``rank_``, and a
:class:`NystromRankWarning` says how many were dropped (rank-deficient landmarks, e.g.
duplicates). An all-zero (or non-finite) block raises ``ValueError``.
"""

from __future__ import annotations

import warnings

import numpy as np

from rkbs._backend import asarray_like, namespace
from rkbs._checks import check_allocation, check_pair_arrays, check_positive, itemsize
from rkbs.features.base import FeaturePair
from rkbs.kernels.base import BinaryKernel

__all__ = ["NystromFeatures", "NystromRankWarning"]


class NystromRankWarning(UserWarning):
    """The landmark cross block is rank-deficient or ill-conditioned (see the message)."""


#: Condition number of the retained block above which the features warn: round-off in
#: the features grows like cond * eps, i.e. beyond 1e10 fewer than 6 digits remain.
_COND_WARN = 1e10


class NystromFeatures(FeaturePair):
    r"""Asymmetric Nyström feature pair from landmarks on each side.

    .. math::

        \varphi_X(x) = K(x, \tilde Y) V_r \Sigma_r^{-1/2},\quad
        \varphi_Y(y) = K(\tilde X, y)^\top U_r \Sigma_r^{-1/2},\quad
        K(\tilde X, \tilde Y) = U\Sigma V^\top

    Parameters
    ----------
    kernel : BinaryKernel
        Any binary kernel (asymmetric and indefinite ones included).
    landmarks_x : array (r_x, d_x)
        Query-side landmarks (raw inputs; the kernel's W_Q is applied).
    landmarks_y : array (r_y, d_y)
        Key-side landmarks (raw inputs; W_K is applied).
    rcond : float, optional
        Relative cut-off for singular values (default ``max(r_x, r_y) * eps``).
    max_memory : float, optional
        Memory limit (bytes) of the size guards (the cross block, its SVD, feature rows).

    Attributes
    ----------
    singular_values_ : array (min(r_x, r_y),)
        All singular values of the cross block.
    rank_ : int
        Number retained (= ``n_features_``).
    condition_number_ : float
        :math:`\sigma_1/\sigma_{\text{rank}}` of the retained block; above 1e10 a
        :class:`NystromRankWarning` says how many digits are at risk and what to do.
    """

    exact = False
    auto_fit = True

    def __init__(self, kernel: BinaryKernel, landmarks_x, landmarks_y, *, rcond=None,
                 max_memory: float | None = None):
        super().__init__(kernel, max_memory=max_memory)
        self.landmarks_x, self.landmarks_y = check_pair_arrays(landmarks_x, landmarks_y)
        self.rcond = None if rcond is None else check_positive(rcond, "rcond")
        rx, ry = self.landmarks_x.shape[0], self.landmarks_y.shape[0]
        # cross block, U, V^T and the projections: about 4 blocks of (r_x, r_y)
        check_allocation(4 * rx * ry * itemsize(self.landmarks_x.dtype),
                         f"the Nyström cross block of ({rx}, {ry}) landmarks", max_memory)
        Ql = kernel.queries(self.landmarks_x)
        Kl = kernel.keys(self.landmarks_y)
        if Ql.shape[-1] != Kl.shape[-1]:
            raise ValueError(
                f"mapped landmarks disagree: queries {tuple(Ql.shape)}, keys {tuple(Kl.shape)}"
            )
        self._Ql, self._Kl = Ql, Kl

    def n_features_for(self, d: int) -> int:
        return min(self.landmarks_x.shape[0], self.landmarks_y.shape[0])

    def _fit_dim(self, d):
        if d != self._Ql.shape[-1]:
            raise ValueError(
                f"the landmarks map to dimension {self._Ql.shape[-1]}, got inputs of mapped "
                f"dimension {d}"
            )
        M = self.kernel.from_qk(self._Ql, self._Kl)
        xp = namespace(M)
        if not bool(xp.all(xp.isfinite(M))):
            raise ValueError(
                f"the landmark cross block K(X~, Y~) of the {self.kernel.name} kernel has NaN "
                "or inf entries (the kernel overflows on these landmarks): use landmarks of "
                "smaller norm, float64, or a kernel scale that keeps |log κ| below ~700"
            )
        U, s, Vt = xp.linalg.svd(M, full_matrices=False)
        rx, ry = M.shape
        eps = np.finfo(np.float32 if "float32" in str(M.dtype) else np.float64).eps
        rcond = self.rcond if self.rcond is not None else max(rx, ry) * eps
        s_max = float(s[0])
        if not s_max > 0:
            raise ValueError(
                f"the landmark cross block K(X~, Y~) of shape {(rx, ry)} is zero: no features "
                "can be built from these landmarks"
            )
        keep = int(xp.sum(s > rcond * s_max))
        if keep < min(rx, ry):
            warnings.warn(
                f"the landmark cross block K(X~, Y~) of shape {(rx, ry)} has numerical rank "
                f"{keep} < {min(rx, ry)}: {min(rx, ry) - keep} singular values <= "
                f"rcond * sigma_1 = {rcond * s_max:.3g} were dropped, so the features have "
                f"D = {keep} and reproduce K(x, Y~) M^+ K(X~, y) on the retained rank. "
                "Remove duplicate or nearly collinear landmarks, or set rcond explicitly",
                NystromRankWarning,
                stacklevel=4,
            )
        cond = s_max / float(s[keep - 1])
        if cond > _COND_WARN:
            warnings.warn(
                f"the retained landmark block K(X~, Y~) has condition number {cond:.2e} > "
                f"{_COND_WARN:.0e}: the features carry Sigma^(-1/2) up to "
                f"{cond ** 0.5:.1e} times sigma_1^(-1/2), so values away from the landmarks "
                f"can lose about {np.log10(cond):.0f} of the 16 significant digits. Pass a "
                "larger rcond (e.g. rcond=1e-8) or use fewer, better-spread landmarks",
                NystromRankWarning,
                stacklevel=4,
            )
        self.condition_number_ = cond
        inv_sqrt = 1.0 / xp.sqrt(s[:keep])
        self.singular_values_ = s
        self.rank_ = keep
        self.proj_x_ = xp.matrix_transpose(Vt[:keep, :]) * inv_sqrt  # (r_y, rank)
        self.proj_y_ = U[:, :keep] * inv_sqrt  # (r_x, rank)
        self.n_features_ = keep

    def map_q(self, Q):
        r""":math:`\varphi_X(q) = K(q, \tilde Y) V_r\Sigma_r^{-1/2}`, ``(..., n, d) -> (..., n, rank)``."""
        self._ensure_fitted(Q.shape[-1])
        xp = namespace(Q)
        Kq = self.kernel.from_qk(Q, asarray_like(self._Kl, Q))
        return xp.matmul(Kq, asarray_like(self.proj_x_, Q))

    def map_k(self, K):
        r""":math:`\varphi_Y(k) = K(\tilde X, k)^\top U_r\Sigma_r^{-1/2}`, ``(..., m, d) -> (..., m, rank)``."""
        self._ensure_fitted(K.shape[-1])
        xp = namespace(K)
        Kk = self.kernel.from_qk(asarray_like(self._Ql, K), K)  # (..., r_x, m)
        return xp.matmul(xp.matrix_transpose(Kk), asarray_like(self.proj_y_, K))

    def __repr__(self) -> str:
        return (
            f"NystromFeatures(kernel={self.kernel.name}, landmarks=({self.landmarks_x.shape[0]}"
            f", {self.landmarks_y.shape[0]}), rank={getattr(self, 'rank_', 'unfitted')})"
        )
