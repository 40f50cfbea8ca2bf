"""What every machine shares: the failure policy and scikit-learn parameter handling.

**Failure policy.** A solve that ends without reaching its tolerance raises
:class:`~rkbs.machines.cvx.SolverError`, whose message names the status and the residual
reached; with ``on_failure="warn"`` the machine keeps the solver's last point, records the
status in ``status_`` and warns (``RuntimeWarning``) with the same message. The three
machines (:class:`~rkbs.machines.BinaryKernelMachine`,
:class:`~rkbs.machines.PairOperatorMachine`,
:class:`~rkbs.machines.DualPairOperatorMachine`) follow it.

**Problems.** Every solver works on a problem object with the same interface —
``objective(x)``, ``gradient(x)``, ``residual(x)`` (the optimality measure the solver
stops on) and the loss Hessian in the scores as a root (``hessian_root``) or through
``score_hessian``/``hvp`` — where x is (w, v) for
:class:`~rkbs.machines.problem.BinaryProblem`, the operator A for
:class:`~rkbs.machines.pair_operator_solvers.PairProblem` and the coefficients C for
:class:`~rkbs.machines.pair_dual.DualPairProblem`. The Hessian itself comes from the
loss object (:meth:`rkbs.machines.losses.Loss.hessian_terms`). Every solver returns a
:class:`SolverResult` and backtracks with :func:`rkbs.machines.linesearch.backtrack`;
cvxpy options come from :func:`rkbs.machines.cvx.solver_options`.

**Parameters.** :class:`ParamsMixin` gives ``get_params``/``set_params`` from the
constructor's signature, so :func:`sklearn.base.clone` works (constructors store their
arguments unchanged).
"""

from __future__ import annotations

import inspect
import math
import warnings
from dataclasses import dataclass, field

from rkbs.machines.cvx import SolverError

__all__ = ["ON_FAILURE", "ParamsMixin", "SolverResult", "check_on_failure", "solver_failed"]

#: Choices of ``on_failure``.
ON_FAILURE = ("raise", "warn")


def check_on_failure(on_failure: str) -> str:
    """Validate ``on_failure`` (``"raise"`` or ``"warn"``)."""
    if on_failure not in ON_FAILURE:
        raise ValueError(f"on_failure must be 'raise' or 'warn', got {on_failure!r}")
    return on_failure


def solver_failed(on_failure: str, message: str, status: str, stacklevel: int = 3) -> None:
    """Apply the failure policy: raise :class:`SolverError` or warn with ``message``."""
    if on_failure == "raise":
        raise SolverError(message + " (on_failure='warn' keeps the point with a warning)",
                          status=status)
    warnings.warn(message, RuntimeWarning, stacklevel=stacklevel)


class ParamsMixin:
    """scikit-learn's ``get_params``/``set_params`` from the ``__init__`` signature."""

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [n for n, p in sig.parameters.items()
                if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]

    def get_params(self, deep: bool = True) -> dict:
        """Constructor parameters by name (``deep`` adds ``name__sub`` entries of nested
        objects that have ``get_params``)."""
        out = {}
        for name in self._param_names():
            val = getattr(self, name)
            out[name] = val
            if deep and hasattr(val, "get_params") and not isinstance(val, type):
                out.update({f"{name}__{k}": v for k, v in val.get_params().items()})
        return out

    def set_params(self, **params):
        """Set constructor parameters (validated as by the constructor); returns self."""
        if not params:
            return self
        valid = set(self._param_names())
        bad = sorted(set(k.split("__")[0] for k in params) - valid)
        if bad:
            raise ValueError(f"invalid parameter(s) {bad} for {type(self).__name__}; "
                             f"valid: {sorted(valid)}")
        current = {n: getattr(self, n) for n in self._param_names()}
        nested = {k: v for k, v in params.items() if "__" in k}
        current.update({k: v for k, v in params.items() if "__" not in k})
        fresh = type(self)(**current)  # validates
        self.__dict__.update(fresh.__dict__)
        for k, v in nested.items():
            head, sub = k.split("__", 1)
            obj = getattr(self, head)
            if not hasattr(obj, "set_params"):
                raise ValueError(f"cannot set {k!r}: {head}={type(obj).__name__} has no "
                                 "set_params; pass a new object as the parameter instead")
            obj.set_params(**{sub: v})
        return self


@dataclass
class SolverResult:
    """The outcome of every solver of the machines (one type).

    Attributes
    ----------
    solution : object
        The solver's variable: ``{"x": w, "y": v}`` (binary Newton), the operator A
        (D_x, D_y) (primal pair-operator solvers, float64 numpy) or the coefficients C
        (S, m, n) (dual solver, a tensor).
    residual : float
        The solver's optimality measure at ``solution`` (relative first-order residual,
        proximal-gradient residual for the nuclear norm, fixed-point residual for the dual).
    status : str
        ``"optimal"`` or why not (``"max_iter"``, ``"stalled"``, ``"not_converged"``,
        ``"round_off_floor"``, a cvxpy status).
    n_iter : int
    history : list
        Residual after each iteration (or (phase, residual) pairs).
    objective, seconds, grad_norm : float
        NaN where a solver does not report them.
    solver : str
    info : dict
        Solver-specific extras (e.g. the dual's scores and residual floor).
    """

    solution: object
    residual: float
    status: str
    n_iter: int
    history: list = field(default_factory=list)
    objective: float = math.nan
    solver: str = ""
    seconds: float = math.nan
    grad_norm: float = math.nan
    info: dict = field(default_factory=dict)

    @property
    def w(self):
        """Binary problems: the X-side coefficients."""
        return self.solution["x"]

    @property
    def v(self):
        """Binary problems: the Y-side coefficients (None when one-sided)."""
        return self.solution.get("y")

    @property
    def A(self):
        """Pair-operator problems: the solution itself."""
        return self.solution

    @property
    def iterations(self) -> int:
        return self.n_iter
