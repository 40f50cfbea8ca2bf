r"""TensorSketch random features of the polynomial kernel (Pham & Pagh 2013).

For :math:`\kappa(q, k) = (q\cdot k + c)^m` append :math:`\sqrt c` to each side,
:math:`\tilde u = (u, \sqrt c)`, so that :math:`\kappa = (\tilde q\cdot\tilde k)^m =
\langle \tilde q^{\otimes m}, \tilde k^{\otimes m}\rangle`. TensorSketch is a
CountSketch of the tensor power computed without forming it: with independent hash
functions :math:`h_j: [d'] \to [D]` and signs :math:`s_j: [d'] \to \{\pm1\}`,
j = 1..m, the CountSketches :math:`C_j(\tilde u)_t = \sum_{i: h_j(i) = t} s_j(i)\tilde u_i`
are combined by circular convolution,

.. math::

    \varphi(u) = \mathrm{FFT}^{-1}\Big(\prod_{j=1}^m \mathrm{FFT}\big(C_j(\tilde u)\big)\Big),

which is the CountSketch of :math:`\tilde u^{\otimes m}` under the hash
:math:`\sum_j h_j(i_j) \bmod D` and sign :math:`\prod_j s_j(i_j)`. The estimator
:math:`\varphi(q)\cdot\varphi(k)` is unbiased (Pham & Pagh 2013, Lemma 2 and §3).
scikit-learn's ``PolynomialCountSketch`` implements the same estimator (used as a peer
in the tests).
"""

from __future__ import annotations

import math

import numpy as np

from rkbs._backend import is_torch_array, namespace
from rkbs.features.random import SignedRandomFeaturePair
from rkbs.kernels.base import PolynomialKernel

__all__ = ["TensorSketchFeatures"]


def _rfft(x, n):
    if is_torch_array(x):
        import torch

        return torch.fft.rfft(x, n=n, dim=-1)
    return np.fft.rfft(x, n=n, axis=-1)


def _irfft(x, n):
    if is_torch_array(x):
        import torch

        return torch.fft.irfft(x, n=n, dim=-1)
    return np.fft.irfft(x, n=n, axis=-1)


class TensorSketchFeatures(SignedRandomFeaturePair):
    r"""TensorSketch features of :math:`(q\cdot k + c)^m` (Pham & Pagh 2013).

    .. math::

        \varphi(u) = \mathrm{FFT}^{-1}\Big(\prod_{j=1}^{m}\mathrm{FFT}(C_j(u, \sqrt c))\Big)
        \in \mathbb R^D,\qquad \mathbb E\,\varphi(q)\cdot\varphi(k) = (q\cdot k + c)^m.

    Each CountSketch :math:`C_j` is applied as a product with a ``(d', D)`` matrix that
    has one signed 1 per row, so the map is differentiable in torch. Degree 0 gives the
    constant features :math:`1/\sqrt D`.

    Parameters
    ----------
    kernel : PolynomialKernel
    n_components : int
        Output dimension D ≥ 1.
    seed : int, Generator or None
    """

    _kernel_type = PolynomialKernel

    def _state_bytes(self, d: int) -> int:
        # dense (m, d', D) sketch matrices
        return self.kernel.degree * (d + 1) * int(self.n_components) * 8

    def _draw(self, d, rng):
        m, D = self.kernel.degree, self.n_components
        d_ext = d + (1 if self.kernel.c > 0 else 0)
        self.hashes_ = rng.integers(0, D, size=(m, d_ext))
        self.signs_ = rng.choice(np.array([-1.0, 1.0]), size=(m, d_ext))
        S = np.zeros((m, d_ext, D))
        for j in range(m):
            S[j, np.arange(d_ext), self.hashes_[j]] = self.signs_[j]
        self.sketch_matrices_ = S

    def _features(self, U):
        self._check_input(U)
        xp = namespace(U)
        D, m = self.n_components, self.kernel.degree
        if m == 0:
            return xp.ones((*U.shape[:-1], D), dtype=U.dtype,
                           device=getattr(U, "device", None)) / math.sqrt(D)
        if self.kernel.c > 0:
            one = U[..., :1] * 0.0 + math.sqrt(self.kernel.c)
            U = xp.concat([U, one], axis=-1)
        S = self._param("sketch_matrices_", U)
        if m == 1:
            return xp.matmul(U, S[0])
        prod = None
        for j in range(m):
            F = _rfft(xp.matmul(U, S[j]), D)
            prod = F if prod is None else prod * F
        return _irfft(prod, D)
