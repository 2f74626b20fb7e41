"""KernelSpec: everything a backend needs to write a kernel module, and nothing else.

The front end builds it from a Model (derive, lower, rename); a backend turns it into the
source of one Python module with ``loss_and_gradient(theta, n, chunks, *columns)`` returning
per-chunk sums (loss, each non-zero partial, then a finiteness check of the data), and, when
the model has a prediction, ``predict(theta, n, *columns)`` returning one value per row.
``meta`` is written into the module, so a cached module is usable without deriving again.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..program import Program


@dataclass(frozen=True)
class KernelSpec:
    params: tuple[str, ...]                    # the caller's names, in theta order
    inputs: tuple[str, ...]                    # the caller's names, in data-column order
    gradient: Program                          # outputs: loss, then the non-zero partials
    nonzero: tuple[int, ...]                   # theta indexes of those partials
    columns: tuple[int, ...]                   # input indexes the gradient kernel reads
    prediction: Program | None = None          # outputs: the prediction
    prediction_columns: tuple[int, ...] = ()   # input indexes the prediction reads
    reduction: str = "mean"
    dtype: str = "float64"

    def meta(self) -> dict:
        return {"params": list(self.params), "inputs": list(self.inputs),
                "nonzero": list(self.nonzero), "columns": list(self.columns),
                "has_prediction": self.prediction is not None,
                "prediction_columns": list(self.prediction_columns),
                "reduction": self.reduction, "dtype": self.dtype}

    def gradient_inputs(self) -> list:
        """The input symbols the gradient kernel reads, in its argument order."""
        return [self.gradient.inputs[j] for j in self.columns]

    def prediction_inputs(self) -> list:
        """The input symbols the prediction reads, in its argument order."""
        return [self.prediction.inputs[j] for j in self.prediction_columns]
