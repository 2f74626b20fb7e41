"""The symbolic side of layer chains: the unrolled model and the index-notation view.

``unrolled_model`` writes a chain as one scalar SymPy model (every weight a symbol W0_j_i, in
the flat order of ``layers.Chain.shapes``), which the ordinary pipeline derives and compiles;
``chain_formulas`` prints the forward pass and the backprop in the lectures' index notation
for ``symgrad derive``. Kept apart from ``layers`` so that handling a chain (parsing, shapes,
initialisation) does not import SymPy.
"""
from __future__ import annotations

from typing import Sequence

import sympy as sp

from ..errors import SymgradError
from ..functions import logsumexp
from ..losses import LOSSES
from .chain import Activation, Chain, Dense, rule_symbols
from ..model import Model


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
            raise SymgradError(f"{loss} needs a last layer of width 1 (one target column); "
                               f"{chain.text!r} ends with width {len(outputs)}")
        targets = [sp.Symbol("y")]
        per_row = LOSSES["bce" if loss == "bce" else "mse"](outputs[0], targets[0])
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
    return [sp.exp(v, evaluate=False) for v in _log_softmax(values)]


INDEX_LETTERS = "ijklmnpqrs"


def chain_formulas(chain: Chain, loss: str = "mse") -> list[str]:
    """The chain's forward pass and backprop in the seed-003 index notation, one per line."""
    lines, value, index, layer = [], "x_i", "i", -1
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
    if loss == "bce":  # the final sigmoid's slope cancels against the loss's: a - y
        lines = [f"L = -y*log({value}_0) - (1 - y)*log(1 - {value}_0)    (stable: softplus)",
                 f"delta{last}_{out} = {value}_{out} - y"]
    elif loss == "ce":
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
    z, a = rule_symbols()
    names = {z: sp.Symbol(f"z{layer}_{index}"), a: sp.Symbol(f"a{layer}_{index}")}
    text = sp.sstr(activation.derivative().xreplace(names))
    return text if text.replace("_", "").isalnum() else f"({text})"
