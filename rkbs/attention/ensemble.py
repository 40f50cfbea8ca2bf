r"""Batched-seed training: S seeds of one configuration trained as one vectorized model.

The S models are built from their seeds (same architecture, same attention kernel: random
features are drawn from the configuration's ``kernel_seed``, not from the training seed),
their parameters are stacked along a new leading *seed* axis
(:func:`torch.func.stack_module_state`) and the forward pass is the single model's
forward mapped over that axis (:func:`torch.func.vmap` of
:func:`torch.func.functional_call`). Seed s's loss depends only on its own parameter slice
and its own batch, so the gradient of :math:`\sum_s L_s` with respect to slice s is
:math:`\nabla L_s`, and Adam is elementwise: every seed follows the trajectory it follows
when trained alone (``seeds=[s]``). The tests hold this **bit for bit** (losses and
parameters), which is what lets a sweep train ten seeds for roughly the price of a few.

Each seed draws its training batches from its own generator ``default_rng([seed, 1])``
(``[seed, 2]`` for evaluation data), so the data a seed sees does not depend on which
other seeds share its ensemble either.

Early stopping is per seed: an evaluation every ``eval_every`` steps updates each seed's
best score; a seed *stops* when it meets ``target`` or after ``patience`` evaluations
without improvement, and its reported metrics (and, with ``keep_best``, its parameters)
are frozen at its best evaluation. Stopped seeds keep being computed (their slices are
simply ignored) until every seed has stopped or the step budget is spent.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from rkbs._backend import torch_threads

__all__ = ["SeedEnsemble", "EarlyStopping", "EnsembleResult", "train_ensemble", "seed_rng"]


def seed_rng(seed: int, stream: int) -> np.random.Generator:
    """The generator of stream ``stream`` (1 train batches, 2 evaluation) of seed ``seed``."""
    return np.random.default_rng([int(seed), int(stream)])


class SeedEnsemble:
    """S models of one architecture with stacked parameters; calls map over the seed axis.

    Parameters
    ----------
    build : callable
        ``build(seed) -> nn.Module``; every model must have the same parameter names and
        shapes.
    seeds : sequence of int
        The S seeds (order = the seed axis).

    Attributes
    ----------
    params : dict[str, Tensor]
        Stacked parameters, each (S, ...) and a leaf that requires grad.
    buffers : dict[str, Tensor]
        Stacked buffers.
    """

    def __init__(self, build: Callable[[int], nn.Module], seeds: Sequence[int]):
        seeds = [int(s) for s in seeds]
        if not seeds:
            raise ValueError("seeds must name at least one seed, got an empty sequence")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct, got {seeds}")
        models = [build(s) for s in seeds]
        shapes = [{k: tuple(v.shape) for k, v in m.state_dict().items()} for m in models]
        if any(s != shapes[0] for s in shapes):
            raise ValueError("build(seed) must give the same architecture for every seed")
        self.seeds = seeds
        self.params, self.buffers = stack_module_state(models)
        self.base = copy.deepcopy(models[0]).to("meta")

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)

    def map(self, fn: Callable, *args):
        """``vmap`` of ``fn(model_call, *args_s)`` over the seed axis of params and ``args``.

        ``model_call(*inputs)`` runs the single model with seed s's parameters; every
        tensor in ``args`` carries the seed axis first.
        """

        def one(p, b, *a):
            return fn(lambda *x: functional_call(self.base, (p, b), x), *a)

        return vmap(one)(self.params, self.buffers, *args)

    def __call__(self, *inputs):
        """Stacked outputs (S, ...) of the S models on stacked ``inputs`` (S, ...)."""
        return self.map(lambda model, *x: model(*x), *inputs)

    def member_state(self, i: int) -> dict:
        """Seed ``i``'s parameters and buffers as a ``state_dict`` (detached clones)."""
        out = {k: v[i].detach().clone() for k, v in self.params.items()}
        out.update({k: v[i].detach().clone() for k, v in self.buffers.items()})
        return out


@dataclass
class EarlyStopping:
    """Per-seed stopping rule on the evaluation metric ``key``.

    A seed improves when its score beats its best by more than ``min_delta`` (lower is
    better when ``mode="min"``); it stops when the score meets ``target`` (``<=`` for
    ``min``, ``>=`` for ``max``) or after ``patience`` evaluations without improvement.
    ``patience=None`` never stops on a plateau.
    """

    key: str
    mode: str = "min"
    target: float | None = None
    patience: int | None = None
    min_delta: float = 0.0

    def __post_init__(self):
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {self.mode!r}")

    def better(self, score: float, best: float) -> bool:
        if self.mode == "min":
            return score < best - self.min_delta
        return score > best + self.min_delta

    def reached(self, score: float) -> bool:
        if self.target is None:
            return False
        return score <= self.target if self.mode == "min" else score >= self.target


@dataclass
class EnsembleResult:
    """Outcome of :func:`train_ensemble`, one entry per seed (seed-axis order).

    Attributes
    ----------
    seeds : list of int
    best : list of dict
        Metrics of each seed's best evaluation, plus ``step`` (its step) and ``stopped``
        (``"target"``, ``"patience"`` or ``"budget"``).
    train_loss : ndarray (steps_run, S)
        Training loss of every seed at every step.
    history : list of dict
        Every evaluation: ``step`` and metric -> list over seeds.
    best_state : list of dict or None
        Each seed's parameters at its best evaluation (``keep_best=True``).
    steps_run : int
    wall_time_s : float
    final_state : list of dict
        Each seed's parameters at the end.
    """

    seeds: list
    best: list
    train_loss: np.ndarray
    history: list
    best_state: list | None
    steps_run: int
    wall_time_s: float
    final_state: list = field(default_factory=list)


def train_ensemble(build: Callable[[int], nn.Module], seeds: Sequence[int], *,
                   sample: Callable[[np.random.Generator], tuple],
                   loss: Callable, steps: int, lr: float = 1e-3,
                   evaluate: Callable[[SeedEnsemble], dict] | None = None,
                   eval_every: int = 100, stopping: EarlyStopping | None = None,
                   keep_best: bool = False, num_threads: int | None = 1,
                   adam_eps: float = 1e-8) -> EnsembleResult:
    r"""Train S seeds as one vectorized model with Adam.

    Parameters
    ----------
    build : callable
        ``build(seed) -> nn.Module``.
    seeds : sequence of int
    sample : callable
        ``sample(rng) -> (inputs, target)``: one training batch of one seed drawn from that
        seed's generator (:func:`seed_rng` stream 1); ``inputs`` is a tuple of tensors for
        the model, ``target`` a tensor. Batches of the S seeds are stacked along a new
        first axis.
    loss : callable
        ``loss(output, target) -> scalar tensor``: one seed's mean loss on its batch.
    steps : int
        Step budget.
    lr : float
        Adam learning rate (betas 0.9, 0.999, no weight decay).
    evaluate : callable, optional
        ``evaluate(ensemble) -> {metric: array (S,)}``, run under ``no_grad`` every
        ``eval_every`` steps and at the end.
    stopping : EarlyStopping, optional
        Per-seed early stopping on one metric of ``evaluate``.
    keep_best : bool
        Keep each seed's parameters at its best evaluation.
    num_threads : int or None
        torch intra-op threads while training (1: deterministic and fastest for small
        models on a shared CPU).

    Returns
    -------
    EnsembleResult
    """
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if stopping is not None and evaluate is None:
        raise ValueError("stopping needs an evaluate function")
    with torch_threads(num_threads):
        ens = SeedEnsemble(build, seeds)
        S = ens.n_seeds
        rngs = [seed_rng(s, 1) for s in ens.seeds]
        opt = torch.optim.Adam(list(ens.params.values()), lr=lr, eps=adam_eps,
                               foreach=False)

        def seed_loss(model, inputs, target):
            return loss(model(*inputs), target)

        n_best = [None] * S
        best_score = [math.inf if (stopping is None or stopping.mode == "min") else -math.inf
                      for _ in range(S)]
        strikes = [0] * S
        stopped = [None] * S
        best_state = [None] * S if keep_best else None
        history, losses = [], []
        t0 = time.perf_counter()

        def do_eval(step):
            with torch.no_grad():
                metrics = {k: np.asarray(v, dtype=float) for k, v in evaluate(ens).items()}
            history.append({"step": step, **{k: v.tolist() for k, v in metrics.items()}})
            for i in range(S):
                if stopped[i] is not None:
                    continue
                row = {k: float(v[i]) for k, v in metrics.items()}
                if stopping is None:
                    n_best[i] = {**row, "step": step}
                    continue
                score = row[stopping.key]
                if n_best[i] is None or stopping.better(score, best_score[i]):
                    best_score[i], strikes[i] = score, 0
                    n_best[i] = {**row, "step": step}
                    if keep_best:
                        best_state[i] = ens.member_state(i)
                else:
                    strikes[i] += 1
                if stopping.reached(score):
                    stopped[i] = "target"
                elif stopping.patience is not None and strikes[i] >= stopping.patience:
                    stopped[i] = "patience"

        step = 0
        for step in range(1, steps + 1):
            batches = [sample(r) for r in rngs]
            inputs = tuple(torch.stack([b[0][j] for b in batches])
                           for j in range(len(batches[0][0])))  # each (S, ...)
            target = torch.stack([b[1] for b in batches])  # (S, ...)
            per_seed = ens.map(seed_loss, inputs, target)  # (S,)
            opt.zero_grad(set_to_none=True)
            per_seed.sum().backward()
            opt.step()
            losses.append(per_seed.detach().numpy().copy())
            if evaluate is not None and (step % eval_every == 0 or step == steps):
                do_eval(step)
                if all(s is not None for s in stopped):
                    break
        for i in range(S):
            if stopped[i] is None:
                stopped[i] = "budget"
            if n_best[i] is None:
                n_best[i] = {"step": step}
            n_best[i]["stopped"] = stopped[i]
            if keep_best and best_state[i] is None:
                best_state[i] = ens.member_state(i)
        return EnsembleResult(seeds=list(ens.seeds), best=n_best,
                              train_loss=np.stack(losses), history=history,
                              best_state=best_state, steps_run=step,
                              wall_time_s=time.perf_counter() - t0,
                              final_state=[ens.member_state(i) for i in range(S)])
