"""Per-row losses: functions of a prediction and a target that return a SymPy expression.

A loss is just an expression, so any expression of the prediction is a loss too; these are the
named ones the CLI offers. Reduction over rows (mean or sum) is the kernel's business, not the
loss's. ``bce`` is written with logs of the probability; the stability rewrites turn
log(sigmoid(z)) into -softplus(-z), so it stays finite for any z when the model ends in a sigmoid.
"""
from __future__ import annotations

import sympy as sp


def mse(prediction, target):
    """Squared error (prediction - target)**2, no 1/2 (PyTorch's MSELoss per row)."""
    return (prediction - target) ** 2


def mae(prediction, target):
    """Absolute error |prediction - target|."""
    return sp.Abs(prediction - target)


def bce(probability, target):
    """Binary cross-entropy of a probability against a 0/1 target."""
    return -(target * sp.log(probability) + (1 - target) * sp.log(1 - probability))


LOSSES = {"mse": mse, "mae": mae, "bce": bce}
