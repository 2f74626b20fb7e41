"""Scalar-unrolled networks: a dense net written out as one SymPy expression per unit.

Every weight is its own symbol (W0_j_i: layer 0, unit j, input i), so the whole model is a
plain expression the derivation stage handles like any other. This is the reference path for
small nets and the stress test for derivation speed; big nets use the layer path instead.
"""
from __future__ import annotations

from typing import Callable, Sequence

import sympy as sp

from .functions import logsumexp
from .model import Model


def dense(inputs: Sequence[sp.Expr], width: int, layer: int):
    """The affine outputs W x + b of one layer, and the parameter symbols it introduced."""
    weights = [[sp.Symbol(f"W{layer}_{j}_{i}") for i in range(len(inputs))] for j in range(width)]
    biases = [sp.Symbol(f"b{layer}_{j}") for j in range(width)]
    outputs = [sp.Add(*(w * x for w, x in zip(row, inputs)), bias)
               for row, bias in zip(weights, biases)]
    return outputs, [w for row in weights for w in row] + biases


def unrolled_mlp(widths: Sequence[int], activation: Callable = sp.tanh,
                 loss: str = "ce") -> Model:
    """widths[0] inputs, hidden layers with ``activation``, a linear last layer.

    ``loss="ce"`` is softmax cross-entropy against one-hot targets y0, y1, ...
    (logsumexp(z) - sum_k y_k z_k); ``loss="mse"`` is the summed squared error.
    """
    inputs = list(sp.symbols(f"x0:{widths[0]}"))
    targets = list(sp.symbols(f"y0:{widths[-1]}"))
    values, params = inputs, []
    for layer, width in enumerate(widths[1:]):
        values, layer_params = dense(values, width, layer)
        params += layer_params
        if layer < len(widths) - 2:
            values = [activation(v) for v in values]
    if loss == "ce":
        per_row = logsumexp(*values) - sp.Add(*(y * z for y, z in zip(targets, values)))
    else:
        per_row = sp.Add(*((z - y) ** 2 for y, z in zip(targets, values)))
    return Model(loss=per_row, params=tuple(params), inputs=tuple(inputs + targets))
