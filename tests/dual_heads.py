"""Head-like data for the dual pair-operator solver tests, shared by the test modules.

``head_data`` draws LayerNorm-like states and the (causal) maps of a planted bilinear head;
``dual_problem`` builds the exact-EDP dual problem on them.
"""

from __future__ import annotations

import numpy as np
import torch

from rkbs.kernels import EDPKernel
from rkbs.machines import side_kernels
from rkbs.machines.pair_dual import DualPairProblem, _gram_blocks


def head_data(S: int = 3, L: int = 8, D: int = 16, d: int | None = None, seed: int = 0,
              causal: bool = True):
    """States X (S, L, D), maps P (S, L, L) of a planted bilinear head of width d (default
    D): :math:`P = \\operatorname{softmax}(X W_Q^\\top W_K X^\\top/\\sqrt d)`, masked
    causally when ``causal``; returns ``X, P, mask``."""
    d = D if d is None else d
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(S, L, D))
    X = (X - X.mean(-1, keepdims=True)) / X.std(-1, keepdims=True)
    Wq, Wk = rng.normal(size=(2, d, D)) * 2.0 / np.sqrt(D)
    H = np.einsum("sid,ed,ef,sjf->sij", X, Wq, Wk, X) / np.sqrt(d)
    mask = np.ones((S, L, L), bool)
    if causal:
        mask &= np.tril(np.ones((L, L), bool))
    H = np.where(mask, H, -np.inf)
    P = np.exp(H - H.max(-1, keepdims=True))
    P /= P.sum(-1, keepdims=True)
    return X, P, mask


def dual_problem(X, Z, mask, loss: str = "softmax", lam: float = 1e-2) -> DualPairProblem:
    """The exact-EDP dual problem (side Grams of the tied EDP kernels) on states X."""
    kx, ky = side_kernels(EDPKernel(dim=X.shape[-1]))
    Xt = torch.as_tensor(X)
    return DualPairProblem(GX=_gram_blocks(kx, Xt, Xt), GY=_gram_blocks(ky, Xt, Xt),
                           Z=torch.as_tensor(Z), mask=torch.as_tensor(mask), loss=loss,
                           lam=lam)
