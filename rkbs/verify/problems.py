"""Test-problem factories for the representer checks (cvxpy's ``solver_test_helpers`` model).

Shared by ``proofs_numeric/claim_4_representer.py``, the representer-certificate figure
and the tests, so that every place that says "EDP via Taylor features, softmax targets"
means the same problem.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rkbs._checks import check_int, check_random_state
from rkbs.features import (
    PolynomialFeatures,
    PositiveRandomFeatures,
    RandomFourierFeatures,
    TaylorFeatures,
)
from rkbs.kernels import EDPKernel, PolynomialKernel, RBFKernel

__all__ = ["FEATURE_FAMILIES", "FittingProblem", "binary_targets", "feature_family"]

#: Feature families of the representer grid (issue 4): name -> description.
FEATURE_FAMILIES = {
    "EDP/Taylor": "EDP kernel, Taylor features of degree 3: D = C(d+3, 3)",
    "EDP/positive RF": "EDP kernel, 48 positive random features (FAVOR+)",
    "RBF/RFF": "RBF kernel (σ = 1), 48 random Fourier features",
    "polynomial/exact": "(q·k + 1)², exact multinomial features: D = C(d+2, 2)",
}


def binary_targets(loss: str, m: int, n: int, seed=None) -> np.ndarray:
    """Responses Z (m, n) for ``loss``: Gaussian (squared), signs (logistic) or rows of
    a softmax of Gaussians (softmax; each row a probability vector); any registered loss
    by its :meth:`~rkbs.machines.losses.Loss.sample_targets`."""
    from rkbs.machines.losses import get_loss

    rng = check_random_state(seed)
    obj = get_loss(loss)
    return np.asarray(obj.sample_targets(check_int(m, "m", minimum=1),
                                         check_int(n, "n", minimum=1), rng), dtype=float)


def feature_family(name: str, d: int, seed=None):
    """A feature pair of family ``name`` (see :data:`FEATURE_FAMILIES`) with untied random
    Gaussian query/key maps W_Q, W_K of shape (d, d) drawn from ``seed``."""
    if name not in FEATURE_FAMILIES:
        raise ValueError(f"unknown feature family {name!r}; valid: {', '.join(FEATURE_FAMILIES)}")
    rng = check_random_state(seed)
    WQ, WK = rng.standard_normal((d, d)), rng.standard_normal((d, d))
    if name == "EDP/Taylor":
        return TaylorFeatures(EDPKernel(W_Q=WQ, W_K=WK), degree=3)
    if name == "EDP/positive RF":
        return PositiveRandomFeatures(EDPKernel(W_Q=WQ, W_K=WK), 48, seed=rng)
    if name == "RBF/RFF":
        return RandomFourierFeatures(RBFKernel(W_Q=WQ, W_K=WK, sigma=1.0), 48, seed=rng)
    return PolynomialFeatures(PolynomialKernel(W_Q=WQ, W_K=WK, degree=2, c=1.0))


@dataclass
class FittingProblem:
    """One solver problem of a script's fitting grid: an unfitted machine and its data.

    Every figure script and claim module that fits machines lists its grid as
    ``fitting_problems(quick: bool) -> list[FittingProblem]`` and fits exactly those in
    ``main``, so a test can solve the full grids without drawing anything.

    Attributes
    ----------
    label : str
        What the problem is (kernel, p, loss, ...), unique within the grid.
    machine : object
        An unfitted machine (:class:`~rkbs.machines.BinaryKernelMachine`,
        :class:`~rkbs.machines.PairOperatorMachine` or
        :class:`~rkbs.machines.DualPairOperatorMachine`).
    X, Y, Z : arrays
        Data of ``machine.fit(X, Y, Z, mask)`` (Y None for a one-sided machine).
    mask : array or None
        Observed pairs.
    tol : float or None
        The relative first-order residual the fit must reach (``None``: the machine's
        own target, ``machine.tol`` or 1e-10).
    """

    label: str
    machine: object
    X: object
    Y: object
    Z: object
    mask: object = None
    tol: float | None = None

    @property
    def target(self) -> float:
        """The residual the fit must reach."""
        if self.tol is not None:
            return float(self.tol)
        tol = getattr(self.machine, "tol", None)
        return 1e-10 if tol is None else float(tol)

    def fit(self):
        """Fit the machine on the data; returns the fitted machine."""
        return self.machine.fit(self.X, self.Y, self.Z, self.mask)
