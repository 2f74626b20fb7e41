"""Scores of predictions against targets, as scikit-learn defines them (numpy only).

``scores(kind, targets, outputs)`` is what ``symgrad train``, ``fit`` and ``score`` report
beside the loss, by the kind of the loss (``metric_kind``):

    regression   r2 (1 - RSS/TSS; 0/0 -> 1 for a constant target met exactly, x/0 -> 0), rmse
    binary       accuracy (probability > 0.5 is class 1) and log_loss; targets 0 or 1
                 (bce with soft targets in (0, 1) has neither)
    multiclass   accuracy (the largest logit's class) and log_loss of the softmax

log_loss clips probabilities to [eps, 1 - eps], eps = float64's machine epsilon, as
``sklearn.metrics.log_loss`` does, so one confident miss is large but finite.
"""
from __future__ import annotations

import math

import numpy as np

EPS = float(np.finfo(np.float64).eps)


def metric_kind(loss: str) -> str:
    """'binary' for bce, 'multiclass' for ce, else 'regression' (any other loss)."""
    return {"bce": "binary", "ce": "multiclass"}.get(loss, "regression")


def scores(kind: str, targets: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
    """The metrics of ``kind`` (see the module docstring): targets per row (a value, 0/1, a
    class index); outputs per row (a prediction, a probability, a row of logits)."""
    targets, outputs = np.asarray(targets, np.float64), np.asarray(outputs, np.float64)
    if kind == "regression":
        return {"r2": r2(targets, outputs), "rmse": rmse(targets, outputs)}
    if kind == "binary":
        if not np.isin(targets, (0.0, 1.0)).all():
            return {}
        probabilities = np.column_stack([1.0 - outputs, outputs])
    else:
        probabilities = softmax(outputs.reshape(len(targets), -1))
    classes = targets.astype(np.int64)
    return {"accuracy": accuracy(classes, probabilities),
            "log_loss": log_loss(classes, probabilities)}


def r2(targets: np.ndarray, predictions: np.ndarray) -> float:
    residual_scale, residual = _sum_of_squares(targets - predictions)
    spread_scale, spread = _sum_of_squares(targets - _mean(targets))
    if residual != residual:  # a prediction not finite: nan, not the 0 of a constant target
        return math.nan
    if spread == 0.0:
        return 1.0 if residual == 0.0 else 0.0
    ratio = residual_scale / spread_scale  # squared by multiplying: inf, not OverflowError
    return 1.0 - ratio * ratio * (residual / spread)


def rmse(targets: np.ndarray, predictions: np.ndarray) -> float:
    scale, total = _sum_of_squares(targets - predictions)
    return scale * float(np.sqrt(total / max(len(targets), 1)))


def _sum_of_squares(values: np.ndarray) -> tuple[float, float]:
    """(scale, the sum of (values / scale)**2), scale the largest magnitude: a sum of squares
    that neither underflows nor overflows (1e-200 squared is 0 in float64, and R^2 read 1
    for a fit 1% off); scale 1 where that is 0 or not finite."""
    scale = _scale(values)
    return scale, float(np.sum((values / scale) ** 2))


def _mean(values: np.ndarray) -> float:
    """The mean, taken at a scale where the sum cannot overflow (values near 1e308)."""
    scale = _scale(values)
    return scale * float(np.mean(values / scale))


def _scale(values: np.ndarray) -> float:
    scale = float(np.max(np.abs(values), initial=0.0))
    return scale if 0.0 < scale < np.inf else 1.0


def accuracy(classes: np.ndarray, probabilities: np.ndarray) -> float:
    """The share of rows whose most probable class is theirs (ties: the lower class)."""
    return float(np.mean(np.argmax(probabilities, axis=1) == classes))


def log_loss(classes: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean -log p(true class), probabilities clipped to [EPS, 1 - EPS]."""
    chosen = probabilities[np.arange(len(classes)), classes]
    return float(-np.mean(np.log(np.clip(chosen, EPS, 1.0 - EPS))))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, the largest logit subtracted first (no overflow)."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
