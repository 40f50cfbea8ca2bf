r"""Pure binary-kernel functions on already mapped queries and keys.

Every function takes ``Q`` of shape ``(..., n, d)`` and ``K`` of shape ``(..., m, d)``
(numpy arrays or torch tensors; leading batch axes allowed, e.g. heads) and returns
``(..., n, m)``. Nothing is ever symmetrized: entry ``[i, j]`` is
:math:`\kappa(q_i, k_j)` computed as written, also when ``Q is K``.

The ``*_log`` functions return :math:`\log\kappa` for the kernels that exponentiate,
which is how attention and every stable downstream computation consume them.
"""

from __future__ import annotations

from rkbs._backend import namespace

__all__ = [
    "dot_products",
    "edp_log",
    "rbf_log",
    "intersection_log",
    "polynomial",
    "linear",
]

# Max number of elements of the (n, m, d) broadcast used by the intersection kernel.
_CHUNK_ELEMENTS = 2**24


def dot_products(Q, K):
    r"""All pairwise inner products :math:`u_{ij} = q_i \cdot k_j`, shape ``(..., n, m)``."""
    xp = namespace(Q, K)
    return xp.matmul(Q, xp.matrix_transpose(K))


def edp_log(Q, K):
    r"""Log of the exponentiated dot product (softmax) kernel.

    .. math:: \log \kappa(q, k) = q \cdot k, \qquad \kappa(q, k) = \exp(q\cdot k)

    (Wright & Gonzalez 2021, eq. (9).)
    """
    return dot_products(Q, K)


def rbf_log(Q, K, sigma: float = 1.0):
    r"""Log of the Gaussian RBF kernel.

    .. math:: \log \kappa(q, k) = -\frac{\lVert q - k\rVert^2}{2\sigma^2},

    with :math:`\lVert q-k\rVert^2 = \lVert q\rVert^2 + \lVert k\rVert^2 - 2 q\cdot k`
    clipped at 0 against round-off.
    """
    xp = namespace(Q, K)
    qq = xp.sum(Q * Q, axis=-1)[..., :, None]
    kk = xp.sum(K * K, axis=-1)[..., None, :]
    sq = xp.clip(qq + kk - 2.0 * dot_products(Q, K), 0.0, None)
    return sq * (-0.5 / sigma**2)


def intersection_log(Q, K):
    r"""Log of the exponentiated intersection kernel.

    .. math:: \log \kappa(q, k) = \sum_{l=1}^{d} \min(q_l, k_l)

    Computed by broadcasting over ``(n, m, d)`` in row chunks so that memory stays
    bounded (at most ``2**24`` elements per chunk).
    """
    xp = namespace(Q, K)
    return row_chunked(
        Q, K.shape[-2], Q.shape[-1],
        lambda q: xp.sum(xp.minimum(q[..., :, None, :], K[..., None, :, :]), axis=-1))


def row_chunked(Q, m: int, width: int, block):
    """``block(Q[..., rows, :])`` -> (..., rows, m) over row chunks of Q (..., n, ·),
    concatenated to (..., n, m); a chunk's (..., rows, m, width) broadcast holds at most
    ``2**24`` elements, so pairwise reductions keep their memory bounded."""
    xp = namespace(Q)
    n = Q.shape[-2]
    batch = 1
    for s in Q.shape[:-2]:
        batch *= s
    rows = max(1, _CHUNK_ELEMENTS // max(1, batch * m * width))
    parts = [block(Q[..., start : start + rows, :]) for start in range(0, n, rows)]
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=-2)


def polynomial(Q, K, degree: int = 2, c: float = 1.0):
    r"""Polynomial kernel :math:`\kappa(q, k) = (q\cdot k + c)^m` with ``m = degree``."""
    return (dot_products(Q, K) + c) ** degree


def linear(Q, K):
    r"""Linear (scaled dot product) kernel :math:`\kappa(q, k) = q\cdot k`."""
    return dot_products(Q, K)
