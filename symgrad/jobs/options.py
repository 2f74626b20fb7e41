"""What a training job is asked (``TrainOptions``, the CLI's train options) and what it answers
(``TrainOutcome``).

The options hold the run as the user gave it; ``TrainOptions.recipe`` is the part that builds
the model (``symgrad.recipe.ModelRecipe``), the only part a Dask worker receives.
"""
from __future__ import annotations

import signal
from dataclasses import dataclass, field

from ..recipe import ModelRecipe


@dataclass(frozen=True)
class TrainOptions:
    data: str
    model: str
    target: str
    features: tuple[str, ...] | None = None
    loss: str = "mse"
    reduction: str = "mean"
    init: str | None = None
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    epochs: int = 100
    batch_size: int | None = None  # None: full batch
    shuffle: bool = False
    seed: int = 0
    backend: str = "numba"
    out: str | None = None
    engine: str = "local"               # or "dask": full batch over a Dask cluster
    scheduler: str | None = None        # dask: a running scheduler's address
    workers: int | None = None          # dask: local worker processes (default: one per CPU)

    @property
    def recipe(self) -> ModelRecipe:
        """How the model is built from the data's header (an expression model's)."""
        return ModelRecipe(model=self.model, target=self.target, features=self.features,
                           loss=self.loss, reduction=self.reduction, backend=self.backend,
                           data=self.data)


@dataclass(frozen=True)
class TrainOutcome:
    document: dict              # what --out holds
    status: str                 # "trained", "diverged" or "interrupted"
    params: dict = field(default_factory=dict)
    signal: int = signal.SIGINT  # for "interrupted": the signal (SIGINT: Ctrl-C)

    @property
    def stopped_by(self) -> str:
        """'interrupted' for Ctrl-C, else 'stopped by SIGTERM' (or SIGHUP)."""
        return "interrupted" if self.signal == signal.SIGINT else \
            f"stopped by {signal.Signals(self.signal).name}"
