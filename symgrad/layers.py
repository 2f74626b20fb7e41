"""Layer chains: ``"dense(16) -> tanh -> dense(3)"`` as a frozen value, and its two lowerings.

A Chain is a sequence of Dense(width) layers (W of shape (width, fan_in), b of width, as in
PyTorch's Linear) and elementwise activations (any one-argument function of the expression
language), optionally ending in softmax or log_softmax. Parameters are named W0, b0, W1, b1,
... and laid out flat in that order, each W row-major, so a theta vector means the same thing
to both lowerings:
- ``unrolled_model``: every weight a scalar symbol (W0_j_i), the whole net one SymPy expression
  that the ordinary pipeline derives and compiles into a fused per-row kernel; best for small
  nets (the unrolled program grows with the number of weights);
- the layer engine in ``network.py``: GEMMs in numpy (BLAS), the elementwise activations and
  the loss as generated Numba kernels, backprop in the seed-003 index notation.
With ``ce`` the last dense layer gives the logits; a final softmax or log_softmax is implied
and may be written (as in PyTorch's Linear -> LogSoftmax with NLLLoss).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import sympy as sp

from .errors import ParseError, SymgradError
from .functions import logsumexp
from .model import Model
from .parse import FUNCTIONS
from .reverse import local_derivative

OUTPUT_LAYERS = ("softmax", "log_softmax")
ACTIVATIONS = tuple(name for name, s in FUNCTIONS.items()  # callable with one argument
                    if s.min_args == 1 and s.max_args <= 2 and name != "Abs")
DENSE = re.compile(r"dense\(\s*(\d+)\s*\)\Z")
Z, A = sp.symbols("z a")  # an activation's input and output, for its rules


@dataclass(frozen=True)
class Dense:
    width: int


@dataclass(frozen=True)
class Activation:
    name: str

    def value(self, z: sp.Expr) -> sp.Expr:
        return FUNCTIONS[self.name].build(z)

    def derivative(self) -> sp.Expr:
        """f'(z) written with the output a = f(z) wherever the node's rule reuses the node."""
        value = self.value(Z)
        return local_derivative(value, 0).xreplace({value: A})


@dataclass(frozen=True)
class Chain:
    text: str
    layers: tuple

    @property
    def dense(self) -> list[Dense]:
        return [layer for layer in self.layers if isinstance(layer, Dense)]

    @property
    def output(self) -> str | None:
        """'softmax' or 'log_softmax' when the chain ends in one."""
        last = self.layers[-1]
        return last if isinstance(last, str) else None

    def shapes(self, fan_in: int) -> list[tuple[str, tuple[int, ...]]]:
        """(name, shape) of every parameter, in flat order."""
        shapes = []
        for k, layer in enumerate(self.dense):
            shapes += [(f"W{k}", (layer.width, fan_in)), (f"b{k}", (layer.width,))]
            fan_in = layer.width
        return shapes


def is_chain(text: str) -> bool:
    return "->" in text or text.strip().startswith("dense(")


def parse_chain(text: str) -> Chain:
    """A Chain from 'dense(3) -> sigmoid -> dense(1)'; ParseError naming the bad layer."""
    parts = [part.strip() for part in text.split("->")]
    layers = []
    for position, part in enumerate(parts, start=1):
        layers.append(_layer(part, position, last=position == len(parts)))
    if not any(isinstance(layer, Dense) for layer in layers):
        raise ParseError(f"layer chain {text!r} has no dense(N) layer")
    return Chain(text=" -> ".join(parts), layers=tuple(layers))


def _layer(part: str, position: int, last: bool):
    match = DENSE.match(part)
    if match:
        width = int(match.group(1))
        if width < 1:
            raise ParseError(f"layer {position}: dense width must be at least 1, got {width}")
        return Dense(width)
    if part in OUTPUT_LAYERS:
        if not last:
            raise ParseError(f"layer {position}: {part} must be the last layer")
        return part
    if part not in ACTIVATIONS:
        known = "dense(N), " + ", ".join(ACTIVATIONS)
        raise ParseError(f"layer {position}: unknown layer {part!r} (known: {known}, "
                         f"softmax, log_softmax)")
    return Activation(part)


def init_params(chain: Chain, fan_in: int, seed: int) -> np.ndarray:
    """PyTorch Linear's initialisation: W and b uniform in +-1/sqrt(fan_in), from the seed."""
    rng = np.random.default_rng(seed)
    parts = []
    for name, shape in chain.shapes(fan_in):  # each W, then its b with the same bound
        if name.startswith("W"):
            bound = 1.0 / np.sqrt(shape[1])
        parts.append(rng.uniform(-bound, bound, size=shape).ravel())
    return np.concatenate(parts)


def unflatten(chain: Chain, fan_in: int, theta) -> dict[str, np.ndarray]:
    """theta as named arrays: {'W0': (width, fan_in), 'b0': (width,), ...}."""
    out, start = {}, 0
    for name, shape in chain.shapes(fan_in):
        size = int(np.prod(shape))
        out[name] = np.asarray(theta[start:start + size]).reshape(shape)
        start += size
    return out


def flatten(chain: Chain, fan_in: int, named: dict) -> np.ndarray:
    parts = []
    for name, shape in chain.shapes(fan_in):
        value = np.asarray(named.get(name), dtype=np.float64)
        if value.shape != shape:
            raise SymgradError(f"parameter {name} has shape {value.shape}; expected {shape}")
        parts.append(value.ravel())
    return np.concatenate(parts)


def unrolled_model(chain: Chain, features: Sequence[str], loss: str) -> Model:
    """The chain as one scalar SymPy model. Inputs: the features, then the targets: y for mse
    (one output), or one-hot y0..y(K-1) for ce. Outputs: ``prediction`` is the last layer."""
    values, flat, index = [sp.Symbol(f) for f in features], [], 0
    for layer in chain.layers:
        if isinstance(layer, Dense):
            values, (weights, biases) = dense(values, layer.width, index)
            flat += weights + biases
            index += 1
        elif isinstance(layer, Activation):
            values = [layer.value(v) for v in values]
    if loss == "ce":
        targets = list(sp.symbols(f"y0:{len(values)}"))
        per_row = logsumexp(*values) - sp.Add(*(y * z for y, z in zip(targets, values)))
        prediction = tuple(values)
    else:
        outputs = _softmax(values) if chain.output == "softmax" else \
            _log_softmax(values) if chain.output == "log_softmax" else values
        if len(outputs) != 1:
            raise SymgradError(f"mse needs a last layer of width 1 (one target column); "
                               f"{chain.text!r} ends with width {len(outputs)}")
        targets = [sp.Symbol("y")]
        per_row = (outputs[0] - targets[0]) ** 2
        prediction = outputs[0]
    inputs = tuple(sp.Symbol(f) for f in features) + tuple(targets)
    return Model(loss=per_row, params=tuple(flat), inputs=inputs, prediction=prediction)


def dense(inputs: Sequence[sp.Expr], width: int, layer: int):
    """W x + b of one layer, and its parameter symbols (weights row-major, then biases)."""
    weights = [[sp.Symbol(f"W{layer}_{j}_{i}") for i in range(len(inputs))] for j in range(width)]
    biases = [sp.Symbol(f"b{layer}_{j}") for j in range(width)]
    outputs = [sp.Add(*(w * x for w, x in zip(row, inputs)), bias)
               for row, bias in zip(weights, biases)]
    return outputs, ([w for row in weights for w in row], biases)


def _log_softmax(values):
    total = logsumexp(*values)
    return [v - total for v in values]


def _softmax(values):
    return [sp.exp(v) for v in _log_softmax(values)]


INDEX_LETTERS = "ijklmnpqrs"


def chain_formulas(chain: Chain, loss: str = "mse") -> list[str]:
    """The chain's forward pass and backprop in the seed-003 index notation, one per line."""
    lines, value, index, layer, kernel_letter = [], "x_i", "i", -1, 0
    for item in chain.layers:
        if isinstance(item, Dense):
            layer += 1
            out = INDEX_LETTERS[layer + 1]
            lines.append(f"z{layer}_{out} = sum_{index} W{layer}_{out}{index}*{value} + "
                         f"b{layer}_{out}    ({out} < {item.width})")
            value, index = f"z{layer}_{out}", out
        elif isinstance(item, Activation):
            formula = sp.sstr(item.value(sp.Symbol(value)))
            value = f"a{layer}_{index}" if layer >= 0 else f"a_{index}"
            lines.append(f"{value} = {formula}")
    lines += _backprop(chain, loss, layer)
    return lines


def _backprop(chain: Chain, loss: str, last: int) -> list[str]:
    inputs = {}  # dense layer -> the activation right after it, if any
    for item in chain.layers:
        if isinstance(item, Dense):
            inputs[len(inputs)] = None
        elif isinstance(item, Activation) and inputs:
            inputs[len(inputs) - 1] = item
    out, final = INDEX_LETTERS[last + 1], inputs.get(last)
    value = f"a{last}" if final is not None else f"z{last}"
    slope = "" if final is None else "*" + _slope(final, last, out)
    if loss == "ce":
        lines = [f"L = logsumexp_{out}({value}_{out}) - {value}_y    (y: the class index)",
                 f"delta{last}_{out} = (softmax_{out}({value}) - onehot(y)_{out}){slope}"]
    else:
        lines = [f"L = ({value}_0 - y)**2",
                 f"delta{last}_{out} = 2*({value}_{out} - y){slope}"]
    for layer in range(last, -1, -1):
        letter, below = INDEX_LETTERS[layer + 1], INDEX_LETTERS[layer]
        feed = f"a{layer - 1}_{below}" if layer > 0 and inputs.get(layer - 1) else \
            (f"z{layer - 1}_{below}" if layer > 0 else f"x_{below}")
        lines += [f"d/W{layer}_{letter}{below} = delta{layer}_{letter}*{feed}",
                  f"d/b{layer}_{letter} = delta{layer}_{letter}"]
        if layer > 0:
            act = inputs.get(layer - 1)
            slope = "" if act is None else _slope(act, layer - 1, below) + "*"
            lines.append(f"delta{layer - 1}_{below} = {slope}sum_{letter} "
                         f"delta{layer}_{letter}*W{layer}_{letter}{below}")
    return lines


def _slope(activation: Activation, layer: int, index: str) -> str:
    names = {Z: sp.Symbol(f"z{layer}_{index}"), A: sp.Symbol(f"a{layer}_{index}")}
    text = sp.sstr(activation.derivative().xreplace(names))
    return text if text.replace("_", "").isalnum() else f"({text})"
