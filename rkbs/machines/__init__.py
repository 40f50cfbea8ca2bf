"""Regularized binary kernel machines over RKBS pairs (theory §3)."""

from rkbs.machines.binary import BinaryKernelMachine
from rkbs.machines.closed_form import additive_ridge, kernel_ridge_coefficients, one_sided_ridge
from rkbs.machines.cvx import SolverError
from rkbs.machines.losses import (
    LOSSES,
    EntrywiseLoss,
    Loss,
    check_loss_targets,
    get_loss,
    loss_curvature,
    loss_cvxpy,
    loss_gradient,
    loss_names,
    loss_value,
    masked_row_softmax,
    predict_from_scores,
    register_loss,
)
from rkbs.machines.pair_dual import DualPairOperatorMachine, side_kernels
from rkbs.machines.pair_operator import PairOperatorMachine, plot_coefficients
from rkbs.machines.protocol import ON_FAILURE, SolverResult
from rkbs.machines.select import PAIR_SOLVERS, choose_pair_solver, make_pair_machine

__all__ = [
    "BinaryKernelMachine",
    "SolverError",
    "additive_ridge",
    "kernel_ridge_coefficients",
    "one_sided_ridge",
    "LOSSES",
    "Loss",
    "EntrywiseLoss",
    "get_loss",
    "loss_names",
    "register_loss",
    "check_loss_targets",
    "loss_curvature",
    "loss_cvxpy",
    "loss_gradient",
    "loss_value",
    "masked_row_softmax",
    "predict_from_scores",
    "PairOperatorMachine",
    "DualPairOperatorMachine",
    "side_kernels",
    "plot_coefficients",
    "PAIR_SOLVERS",
    "choose_pair_solver",
    "make_pair_machine",
    "ON_FAILURE",
    "SolverResult",
]
