"""symgrad: models and losses as SymPy expressions -> symbolic gradients -> fast kernels.

The pipeline, one frozen value per stage:

    parse -> Model -> derive -> Gradient -> lower -> Program -> codegen -> source / kernel

This module re-exports the public API.
"""
from .derive import Gradient, derive
from .errors import DerivationError, ParseError, SymgradError
from .functions import elu, leaky_relu, logsumexp, relu, sigmoid, softplus
from .losses import bce, mae, mse
from .model import Model
from .parse import parse_expr
from .program import Program, lower
from .views import closed_forms, render

__version__ = "0.1.0"

__all__ = [
    "DerivationError", "Gradient", "Model", "ParseError", "Program", "SymgradError",
    "bce", "closed_forms", "derive", "elu", "leaky_relu", "logsumexp", "lower", "mae", "mse",
    "parse_expr", "relu", "render", "sigmoid", "softplus",
]
