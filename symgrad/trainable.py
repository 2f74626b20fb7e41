"""The contract between ``symgrad.train`` and what it trains: ``Trainable`` and ``Capabilities``.

Every engine (a scalar model's ``Kernel``, the layer engines ``CpuNetwork`` and ``CudaNetwork``)
provides the members of ``Trainable``; what more it can do it declares in
``capabilities``, and the training loop picks its engine from that declaration alone (it never
probes with ``hasattr``):

    compiled_epochs  ``train_epochs(theta, state, optimizer, orders, batch, history, counters,
                     columns)``: whole epochs of mini-batches in compiled code; the compiled
                     loop's kind LOSS_ONLY sums the loss without stepping (``loss_at``)
    compiled_step    ``step_into(kind, theta, grad, state, hyper, step, theta_out,
                     state_out)``: the optimizer's guarded step (rule ``optim.RULES[kind]``) as
                     one compiled pass into theta_out/state_out; False if not all finite
    on_device        ``device_run(columns, n, batch, optimizer, theta, mean)``: a run whose
                     data, parameters and optimizer state stay on a GPU
    fused_sgd        ``fused_step(optimizer)``: plain SGD folded into the gradient's GEMMs
    compiles_in_background  functions compile on their first call, and that call may run in
                     another thread while compiled code runs (train compiles predict so)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

LOSS_ONLY = -2  # not an optimizer's rule (optim.RULES): the epoch loop only sums the loss


@dataclass(frozen=True)
class Capabilities:
    """What a Trainable offers beyond loss and gradient (see the module docstring)."""
    compiled_epochs: bool = False
    compiled_step: bool = False
    on_device: bool = False
    fused_sgd: bool = False
    compiles_in_background: bool = False


@runtime_checkable
class Trainable(Protocol):
    params: tuple[str, ...]      # one name per entry of theta
    reduction: str               # "mean" or "sum" of the per-row loss
    dtype: np.dtype              # of theta, the optimizer state and the arithmetic
    capabilities: Capabilities

    def columns(self, data) -> tuple[int, list]:
        """(rows, the validated columns ``evaluate`` reads) of a data set."""

    def evaluate(self, theta: np.ndarray, n: int, columns) -> tuple[float, np.ndarray, bool]:
        """(loss, gradient, whether the data were finite) on n rows of columns."""

    def loss_at(self, theta: np.ndarray, data) -> float:
        """The loss at theta on a data set, reduced as ``evaluate``'s: the figure a run
        reports after training or fitting, computed without compiling anything new where
        the engine can."""
