"""Optimizers: small frozen values (hyperparameters) and pure update rules.

An optimizer is a frozen dataclass of hyperparameters; ``hyper()`` packs them into a float
array and ``KIND`` names its rule. The rules themselves are plain functions of
(theta, grad, state, hyper, step) written with whole-array operations, so the same function
runs as numpy from Python and compiles unchanged inside Numba's training loop. For speed they
update ``theta`` and ``state`` in place; nothing else is touched.

Forms (all as in PyTorch for a constant learning rate; ``wd`` adds wd*theta to the gradient):
- SGD:       theta -= lr*g
- Momentum:  d = beta*d - lr*g; theta += d  (the lectures' form; PyTorch's v = beta*v + g,
             theta -= lr*v is the same sequence of iterates, d = -lr*v)
- Nesterov:  d = beta*d - lr*g; theta += beta*d - lr*g  (PyTorch's nesterov=True)
- Adam:      m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
             theta -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps)   (bias-corrected)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import SymgradError

# hyper layout: [lr, momentum, beta1, beta2, eps, weight_decay]
LR, MOMENTUM, BETA1, BETA2, EPS, WEIGHT_DECAY = range(6)
STATE_ROWS = 2


def sgd_rule(theta, grad, state, hyper, step):
    theta -= hyper[LR] * (grad + hyper[WEIGHT_DECAY] * theta)


def momentum_rule(theta, grad, state, hyper, step):
    g = grad + hyper[WEIGHT_DECAY] * theta
    state[0] = hyper[MOMENTUM] * state[0] - hyper[LR] * g
    theta += state[0]


def nesterov_rule(theta, grad, state, hyper, step):
    g = grad + hyper[WEIGHT_DECAY] * theta
    state[0] = hyper[MOMENTUM] * state[0] - hyper[LR] * g
    theta += hyper[MOMENTUM] * state[0] - hyper[LR] * g


def adam_rule(theta, grad, state, hyper, step):
    g = grad + hyper[WEIGHT_DECAY] * theta
    state[0] = hyper[BETA1] * state[0] + (1.0 - hyper[BETA1]) * g
    state[1] = hyper[BETA2] * state[1] + (1.0 - hyper[BETA2]) * g * g
    m_hat = state[0] / (1.0 - hyper[BETA1] ** step)
    v_hat = state[1] / (1.0 - hyper[BETA2] ** step)
    theta -= hyper[LR] * m_hat / (np.sqrt(v_hat) + hyper[EPS])


RULES = (sgd_rule, momentum_rule, nesterov_rule, adam_rule)  # indexed by an optimizer's KIND


@dataclass(frozen=True)
class Optimizer:
    lr: float = 0.01
    weight_decay: float = 0.0

    KIND = -1

    def __post_init__(self):
        for name, value in vars(self).items():
            if not (np.isfinite(value) and value >= 0):
                raise SymgradError(f"{name} must be a finite number >= 0, got {value}")

    def hyper(self) -> np.ndarray:
        values = np.zeros(6)
        values[LR], values[WEIGHT_DECAY] = self.lr, self.weight_decay
        for name, index in (("momentum", MOMENTUM), ("beta1", BETA1), ("beta2", BETA2),
                            ("eps", EPS)):
            values[index] = getattr(self, name, 0.0)
        return values

    def new_state(self, n_params: int) -> np.ndarray:
        return np.zeros((STATE_ROWS, n_params))

    def step(self, theta, grad, state, step: int) -> None:
        """Apply the rule once (in place), step counting from 1."""
        RULES[self.KIND](theta, grad, state, self.hyper(), step)


@dataclass(frozen=True)
class SGD(Optimizer):
    KIND = 0


@dataclass(frozen=True)
class Momentum(Optimizer):
    momentum: float = 0.9
    KIND = 1


@dataclass(frozen=True)
class Nesterov(Optimizer):
    momentum: float = 0.9
    KIND = 2


@dataclass(frozen=True)
class Adam(Optimizer):
    lr: float = 0.001
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    KIND = 3


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adam": Adam}


def optimizer(name: str, lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
    """The named optimizer with the CLI's hyperparameters (momentum is ignored where unused)."""
    if name not in OPTIMIZERS:
        raise SymgradError(f"unknown optimizer {name!r} (choose from {', '.join(OPTIMIZERS)})")
    cls = OPTIMIZERS[name]
    if cls in (Momentum, Nesterov):
        return cls(lr=lr, momentum=momentum, weight_decay=weight_decay)
    return cls(lr=lr, weight_decay=weight_decay)
