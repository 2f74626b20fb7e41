"""Optimizers: small frozen values (hyperparameters) and pure update rules.

An optimizer is a frozen dataclass of hyperparameters; ``hyper()`` packs them into a float
array, ``new_state(n)`` makes its state, and ``KIND`` indexes its ``UpdateRule`` in ``RULES``:
a pure function (theta, grad, m, v, hyper, step) -> (theta', m', v') of arithmetic only, so
the same function updates whole arrays at once in numpy, single elements inside Numba's loops
(``runtime/numba_support.py``, one fused pass) and on the GPU (``runtime/cuda_support.py``;
hence ``** 0.5``: numba.cuda has no ``np.sqrt``). ``Optimizer.step`` applies it to a parameter
vector and its state, and commits nothing when the result is not finite: the training loops'
divergence guard.

Forms (all as in PyTorch for a constant learning rate, with PyTorch's defaults; g is the
gradient plus wd*theta, PyTorch's L2 weight decay, for all but AdamW; docs/optimizers.md):
- SGD:       theta -= lr*g
- Momentum:  d = beta*d - lr*g; theta += d  (the lectures' form; PyTorch's v = beta*v + g,
             theta -= lr*v is the same sequence of iterates, d = -lr*v)
- Nesterov:  d = beta*d - lr*g; theta += beta*d - lr*g  (PyTorch's nesterov=True)
- Adam:      m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
             theta -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps)   (bias-corrected)
- RMSprop:   s = alpha*s + (1-alpha)*g^2; theta -= lr*g / (sqrt(s) + eps)
             (PyTorch's momentum=0, centered=False; s is the m row)
- Adagrad:   s = s + g^2; theta -= lr*g / (sqrt(s) + eps)  (lr_decay=0, initial sum 0)
- AdamW:     theta *= 1 - lr*wd (decoupled decay: g is the raw gradient), then Adam's step;
             Adam's rule with the decay in the hyper slot DECOUPLED_DECAY, so KIND is Adam's
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np

from .errors import SymgradError

# hyper layout: [lr, momentum, beta1, beta2, eps, weight_decay (L2: added to the gradient),
# alpha (RMSprop's smoothing), decoupled_decay (AdamW's: theta shrinks by lr*decay)]
LR, MOMENTUM, BETA1, BETA2, EPS, WEIGHT_DECAY, ALPHA, DECOUPLED_DECAY = range(8)
HYPER_SIZE = 8
STATE_ROWS = 2  # every state is (m, v) rows: compiled loops take one layout (see UpdateRule)


def sgd_rule(theta, grad, m, v, hyper, step):
    return theta - hyper[LR] * (grad + hyper[WEIGHT_DECAY] * theta), m, v


def momentum_rule(theta, grad, m, v, hyper, step):
    d = hyper[MOMENTUM] * m - hyper[LR] * (grad + hyper[WEIGHT_DECAY] * theta)
    return theta + d, d, v


def nesterov_rule(theta, grad, m, v, hyper, step):
    g = grad + hyper[WEIGHT_DECAY] * theta
    d = hyper[MOMENTUM] * m - hyper[LR] * g
    return theta + hyper[MOMENTUM] * d - hyper[LR] * g, d, v


def adam_rule(theta, grad, m, v, hyper, step):
    """Adam, and AdamW: an optimizer sets at most one of its L2 decay (WEIGHT_DECAY) and its
    decoupled decay (DECOUPLED_DECAY); a zero one changes nothing (theta*1.0 is theta)."""
    g = grad + hyper[WEIGHT_DECAY] * theta
    theta = theta * (1.0 - hyper[LR] * hyper[DECOUPLED_DECAY])
    m = hyper[BETA1] * m + (1.0 - hyper[BETA1]) * g
    v = hyper[BETA2] * v + (1.0 - hyper[BETA2]) * g * g
    m_hat = m / (1.0 - hyper[BETA1] ** step)
    v_hat = v / (1.0 - hyper[BETA2] ** step)
    return theta - hyper[LR] * m_hat / (v_hat ** 0.5 + hyper[EPS]), m, v


def rmsprop_rule(theta, grad, m, v, hyper, step):
    g = grad + hyper[WEIGHT_DECAY] * theta
    m = hyper[ALPHA] * m + (1.0 - hyper[ALPHA]) * g * g
    return theta - hyper[LR] * g / (m ** 0.5 + hyper[EPS]), m, v


def adagrad_rule(theta, grad, m, v, hyper, step):
    g = grad + hyper[WEIGHT_DECAY] * theta
    m = m + g * g
    return theta - hyper[LR] * g / (m ** 0.5 + hyper[EPS]), m, v


DECAY_RATES = ("momentum", "beta1", "beta2", "alpha")  # each in [0, 1), as PyTorch's betas


class UpdateRule(NamedTuple):
    """An update rule and how many of the state rows (m, then v) it reads and writes; the
    compiled steps leave the others untouched."""
    update: Callable
    state_rows: int


RULES = (UpdateRule(sgd_rule, 0), UpdateRule(momentum_rule, 1),  # indexed by KIND
         UpdateRule(nesterov_rule, 1), UpdateRule(adam_rule, 2),
         UpdateRule(rmsprop_rule, 1), UpdateRule(adagrad_rule, 1))


@dataclass(frozen=True)
class Optimizer:
    lr: float = 0.01
    weight_decay: float = 0.0

    KIND = -1

    def __post_init__(self):
        for name, value in vars(self).items():
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer,
                                                                 np.floating)):
                raise SymgradError(f"{name} must be a number, not {value!r}"[:120])
            if name == "eps" and not value > 0:  # (sqrt(v) + eps is 0 where the gradient is)
                raise SymgradError(f"eps must be a finite number above 0, got {value}: the "
                                   f"step divides by sqrt(v) + eps, 0/0 where the gradient is 0")
            if not (np.isfinite(value) and value >= 0):
                raise SymgradError(f"{name} must be a finite number >= 0, got {value}")
            if name in DECAY_RATES and value >= 1:  # 1: nothing ever decays (Adam divides
                raise SymgradError(f"{name} must be in [0, 1), got {value}")  # by 1 - beta1)

    def hyper(self) -> np.ndarray:
        values = np.zeros(HYPER_SIZE)
        values[LR], values[WEIGHT_DECAY] = self.lr, self.weight_decay
        for name, index in (("momentum", MOMENTUM), ("beta1", BETA1), ("beta2", BETA2),
                            ("eps", EPS), ("alpha", ALPHA)):
            values[index] = getattr(self, name, 0.0)
        return values

    def new_state(self, n_params: int) -> np.ndarray:
        """The rule's state for n parameters: STATE_ROWS rows of zeros."""
        return np.zeros((STATE_ROWS, n_params))

    def step(self, theta, grad, state, step: int) -> bool:
        """Apply the rule once in place (step counts from 1). If the new values are not all
        finite, change nothing and return False."""
        new = RULES[self.KIND].update(theta, grad, state[0], state[1], self.hyper(), step)
        if not all(np.isfinite(values).all() for values in new):
            return False
        theta[:], state[0][:], state[1][:] = new
        return True


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


@dataclass(frozen=True)
class AdamW(Adam):
    """Adam with decoupled weight decay (PyTorch's AdamW): theta shrinks by lr*weight_decay
    before each step, and the moments see the raw gradient."""
    weight_decay: float = 0.01

    def hyper(self) -> np.ndarray:
        values = super().hyper()
        values[DECOUPLED_DECAY], values[WEIGHT_DECAY] = values[WEIGHT_DECAY], 0.0
        return values


@dataclass(frozen=True)
class RMSprop(Optimizer):
    alpha: float = 0.99
    eps: float = 1e-8
    KIND = 4


@dataclass(frozen=True)
class Adagrad(Optimizer):
    eps: float = 1e-10
    KIND = 5


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adam": Adam,
              "rmsprop": RMSprop, "adagrad": Adagrad, "adamw": AdamW}


def optimizer(name: str, lr: float, momentum: float = 0.9, weight_decay: float | None = None):
    """The named optimizer with the CLI's hyperparameters (momentum is ignored where unused).
    weight_decay None: the optimizer's own default (AdamW's 0.01, the others' 0)."""
    if name not in OPTIMIZERS:
        raise SymgradError(f"unknown optimizer {name!r} (choose from {', '.join(OPTIMIZERS)})")
    cls = OPTIMIZERS[name]
    options = {"lr": lr} if weight_decay is None else {"lr": lr, "weight_decay": weight_decay}
    if cls in (Momentum, Nesterov):
        options["momentum"] = momentum
    return cls(**options)
