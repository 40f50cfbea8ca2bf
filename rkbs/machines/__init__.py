"""Regularized binary kernel machines over RKBS pairs (MATH.md §3)."""

from rkbs.machines.losses import (
    LOSSES,
    check_loss_targets,
    loss_cvxpy,
    loss_gradient,
    loss_value,
)

__all__ = [
    "LOSSES",
    "check_loss_targets",
    "loss_cvxpy",
    "loss_gradient",
    "loss_value",
]
