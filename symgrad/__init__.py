"""symgrad: models and losses as SymPy expressions -> symbolic gradients -> fast kernels.

The pipeline, one frozen value per stage:

    parse -> Model -> derive -> Gradient -> lower -> Program -> codegen -> Kernel

This module re-exports the public API lazily: ``import symgrad`` loads neither SymPy nor
Numba, so a cached ``symgrad.compile`` of a string loss starts fast and the CLI's help is
instant. Each name is imported from its module on first use.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "Gradient": "reverse", "derive": "reverse",
    "DerivationError": "errors", "ParseError": "errors", "SymgradError": "errors",
    "elu": "functions", "leaky_relu": "functions", "logsumexp": "functions",
    "relu": "functions", "sigmoid": "functions", "softplus": "functions",
    "bce": "losses", "mae": "losses", "mse": "losses",
    "Model": "model", "parse_expr": "parse", "Program": "program", "lower": "program",
    "closed_forms": "views", "render": "views",
    "compile": "compiler", "Kernel": "runtime.kernel",
    "SGD": "optim", "Momentum": "optim", "Nesterov": "optim", "Adam": "optim",
    "AdamW": "optim", "RMSprop": "optim", "Adagrad": "optim",
    "train": "training", "TrainResult": "training", "read_csv": "data",
    "fit": "fitting", "Fit": "fitting",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'symgrad' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
