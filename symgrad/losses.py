"""Per-row losses: functions of a prediction and a target that return a SymPy expression.

A loss is just an expression, so any expression of the prediction is a loss too; these are the
named ones the CLI offers. Reduction over rows (mean or sum) is the kernel's business, not the
loss's. ``bce`` is written with logs of the probability; the stability rewrites turn
log(sigmoid(z)) into -softplus(-z), so it stays finite for any z when the model ends in a sigmoid.
A prediction of several outputs (``row_loss``) takes one target per output: a named loss is
summed over the outputs, and ``ce`` reads the outputs as logits of a softmax.
"""
from __future__ import annotations

import sympy as sp


def mse(prediction, target):
    """Squared error (prediction - target)**2, no 1/2 (PyTorch's MSELoss per row)."""
    return sp.sympify(prediction - target) ** 2


def mae(prediction, target):
    """Absolute error |prediction - target|."""
    return sp.Abs(prediction - target)


def bce(probability, target):
    """Binary cross-entropy of a probability against a 0/1 target."""
    return -(target * sp.log(probability) + (1 - target) * sp.log(1 - probability))


def ce(logits, targets):
    """Softmax cross-entropy of logits against targets (one-hot, or probabilities):
    -sum_k y_k log softmax(z)_k = (sum_k y_k) logsumexp(z) - sum_k y_k z_k, finite at any z."""
    from .functions import logsumexp

    return sp.Add(*targets) * logsumexp(*logits) - sp.Add(*(y * z for y, z in
                                                            zip(targets, logits)))


LOSSES = {"mse": mse, "mae": mae, "bce": bce}
OUTPUTS_LOSSES = (*LOSSES, "ce")  # the names a prediction of several outputs takes


def row_loss(loss, prediction, target):
    """The per-row loss of a prediction (an expression, or a tuple of outputs with a tuple
    of targets) under a named loss or a function of (prediction, target)."""
    from .errors import SymgradError

    if callable(loss):
        return loss(prediction, target)
    several = isinstance(prediction, tuple)
    names = OUTPUTS_LOSSES if several else tuple(LOSSES)
    if loss not in names:
        raise SymgradError(f"unknown loss {loss!r} (choose from {', '.join(names)}"
                           f"{'' if several else '; ce needs several outputs'})")
    if not several:
        return LOSSES[loss](prediction, target)
    if loss == "ce":
        return ce(prediction, target)
    return sp.Add(*(LOSSES[loss](p, t) for p, t in zip(prediction, target)))
