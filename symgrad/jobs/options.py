"""What a training job is asked (``TrainOptions``, the CLI's train options) and what it answers
(``TrainOutcome``); the same for a fit (``FitOptions``, ``FitOutcome``).

The options hold the run as the user gave it; ``TrainOptions.recipe`` is the part that builds
the model (``symgrad.recipe.ModelRecipe``), the only part a Dask worker receives.
"""
from __future__ import annotations

import signal
from dataclasses import dataclass, field

from .. import stopping
from ..recipe import ModelRecipe


@dataclass(frozen=True)
class RunOptions:
    """What every run on a CSV file is asked: the model, its data, where it runs and writes."""
    data: str
    model: str
    target: str
    features: tuple[str, ...] | None = None
    loss: str = "mse"
    init: str | None = None
    seed: int = 0
    backend: str = "numba"
    out: str | None = None
    engine: str = "local"               # or "dask": over a Dask cluster, one file a partition
    scheduler: str | None = None        # dask: a running scheduler's address
    workers: int | None = None          # dask: local worker processes (default: one per CPU)
    validation: str | None = None       # a fraction of the rows (as text), or a CSV file
    delimiter: str | None = None        # None: a tab for *.tsv, else a comma
    plot: str | None = None             # a PNG of the loss curve (and a 1-D fit's curve)


@dataclass(frozen=True)
class TrainOptions(RunOptions):
    reduction: str = "mean"
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    epochs: int = 100
    batch_size: int | None = None  # None: full batch
    shuffle: bool = False
    weight_decay: float | None = None  # None: the optimizer's default (AdamW's 0.01, else 0)
    dtype: str = "float64"             # what the kernels compute in (chains: float32 on cuda)
    early_stopping: int | None = None  # patience in epochs (needs validation)

    @property
    def recipe(self) -> ModelRecipe:
        """How the model is built from the data's header (an expression model's)."""
        return ModelRecipe(model=self.model, target=self.target, features=self.features,
                           loss=self.loss, reduction=self.reduction, backend=self.backend,
                           data=self.data, dtype=self.dtype)


@dataclass(frozen=True)
class TrainOutcome:
    document: dict              # what --out holds
    status: str                 # "trained", "diverged" or "interrupted"
    params: dict = field(default_factory=dict)
    signal: int = signal.SIGINT  # for "interrupted": the signal (SIGINT: Ctrl-C)
    summary: str = ""           # "trained N epochs, final loss ...; train loss ..., ..."

    @property
    def stopped_by(self) -> str:
        """'interrupted' for Ctrl-C, else 'stopped by SIGTERM' (or SIGHUP)."""
        return stopping.stopped_by(self.signal)


@dataclass(frozen=True)
class FitOptions(RunOptions):
    method: str = "auto"
    l2: float = 0.0
    l2_exclude: tuple[str, ...] = ()
    tol: float = 1e-10
    max_iter: int = 1000
    starts: int | None = None           # None: starts.DEFAULT_STARTS, or 1 if --init gives all

    @property
    def recipe(self) -> ModelRecipe:
        """The model's recipe: kernels that sum over the rows, with second derivatives."""
        return ModelRecipe(model=self.model, target=self.target, features=self.features,
                           loss=self.loss, reduction="sum", backend=self.backend,
                           data=self.data, order=2)


@dataclass(frozen=True)
class FitOutcome:
    document: dict              # what --out holds
    fit: object                 # symgrad.fitting.Fit
    summary: str                # the line after the parameters: method, iterations, quality

    @property
    def status(self) -> str:
        """"converged", "not converged" or "interrupted"."""
        return "interrupted" if self.fit.interrupted else \
            "converged" if self.fit.converged else "not converged"
