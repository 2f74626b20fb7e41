"""The layer engine's plan: a chain as steps, the layout every engine shares, and ONE walker.

Backprop in the seed-003 index notation, one layer at a time:

    forward   z^l = a^(l-1) W^l.T + b^l,  a^l = f(z^l)
    backward  delta^l = dL/dz^l = f'(z^l) * (delta^(l+1) W^(l+1))   (delta_j = f'(net_j)
              * sum_k delta_k w_kj),  dL/dW^l = delta^l.T a^(l-1),  dL/db^l = sum_rows delta^l

``plan`` turns the chain into four kinds of step. ``Product``: z = a W.T (its bias is added by
the step after it). ``Elementwise``: a = f(z + b), whose backward pass forms
delta = dA * f'(z, a).
``Bias``: z + b, for a dense layer followed directly by another. ``Loss``: the loss of the last
values (plus their pending bias) and its gradient dO.

``Walk`` is the one interpreter of the plan (autodidax's ``eval_jaxpr`` over ``impl_rules``):
it knows the order of the steps, what each saves for the backward pass and which gradient slot
each fills; an engine hands it a ``Primitives`` object that knows the device (numpy + Numba on
the CPU, kernel launches on CUDA). What the walker saves is opaque to it: each primitive
returns what it will need back. Per step kind, the forward rule and its chain rule sit side by
side (``forward_Product`` / ``backward_Product``), in the tables ``FORWARD`` and ``BACKWARD``.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Protocol

import numpy as np

from ..codegen.cache import cache_key, load_or_build
from ..errors import SymgradError
from ..trainable import Capabilities
from .chain import Activation, Chain, Dense


class Product(NamedTuple):
    layer: int               # z = a @ W[layer].T


class Bias(NamedTuple):
    layer: int               # z + b[layer]


class Elementwise(NamedTuple):
    activation: Activation
    bias: int | None         # the layer whose bias it adds, if it follows a dense layer


class Loss(NamedTuple):
    bias: int | None


class WeightProduct(NamedTuple):
    """dL/dW[layer] = delta.T inputs, deferred (the CPU engine's; FusedSGD folds its update into
    it), with each factor's sum of squares where the pass that wrote it summed them (else
    None)."""
    layer: int
    delta: np.ndarray
    inputs: np.ndarray
    delta_squares: float | None
    input_squares: float | None


def plan(chain: Chain, loss: str = "mse") -> list:
    """The chain as steps; every dense layer's bias is added by the step after its product.
    Under bce the final sigmoid is the loss's (bce of logits, stable: softplus(z) - y*z)."""
    steps, pending, layer = [], None, 0
    layers = chain.layers[:-1] if loss == "bce" else chain.layers
    for item in layers:
        if isinstance(item, Dense):
            if pending is not None:
                steps.append(Bias(pending))
            steps.append(Product(layer))
            pending, layer = layer, layer + 1
        elif isinstance(item, Activation):
            steps.append(Elementwise(item, pending))
            pending = None
    return steps + [Loss(pending)]


class ChainLayout:
    """What every engine of a chain shares: the plan of steps, the flat parameter layout
    (``views``), and ``symgrad.train``'s view of the data (``params``, ``columns``)."""

    capabilities = Capabilities()  # each engine declares its own
    reduction = "mean"
    dtype = np.dtype(np.float64)   # the CPU engine's; CudaNetwork may be float32

    def __init__(self, chain: Chain, fan_in: int, loss: str):
        if loss == "mse" and chain.output is not None:
            raise SymgradError(f"{chain.output} with mse is available for small nets only")
        self.chain, self.fan_in, self.loss = chain, fan_in, loss
        self.shapes = chain.shapes(fan_in)
        ends = np.cumsum([math.prod(shape) for _, shape in self.shapes])
        self._pieces = [(slice(end - math.prod(shape), end), shape)
                        for end, (_, shape) in zip(ends.tolist(), self.shapes)]
        self.size = int(ends[-1])
        self.params = tuple(f"theta{k}" for k in range(self.size))
        self.steps = plan(chain, loss)

    def columns(self, data):
        """(rows, [X, y]): features C-ordered for the GEMMs; targets (class indices for ce)."""
        data = np.asarray(data, dtype=np.float64)
        return data.shape[0], [np.ascontiguousarray(data[:, :self.fan_in]),
                               np.ascontiguousarray(data[:, self.fan_in])]

    def loss_at(self, theta, data) -> float:
        """The mean loss at theta on data (Trainable.loss_at)."""
        return float(self.evaluate(np.asarray(theta, np.float64), *self.columns(data))[0])

    def views(self, flat) -> list:
        """The layers' arrays (W0, b0, W1, ...) as views of a flat parameter vector (a numpy
        or a device array)."""
        return [flat[piece].reshape(shape) for piece, shape in self._pieces]

    @property
    def activations(self) -> list[Activation]:
        return list({a.name: a for a in self.chain.layers if isinstance(a, Activation)}.values())


class Workspace:
    """Scratch arrays kept between calls, one per key and shape, made by ``allocate(shape)``
    (numpy's or the device's): a fresh 2 MB array per step costs its page faults every time,
    about 10% of a CPU step here."""

    def __init__(self, allocate):
        self.allocate, self.arrays = allocate, {}

    def __call__(self, key, shape):
        array = self.arrays.get((key, shape))
        if array is None:
            array = self.arrays[(key, shape)] = self.allocate(shape)
        return array


class Primitives(Protocol):
    """What an engine supplies to the walker, for one pass. ``index`` is the step's place in
    the plan (an engine keys its scratch arrays by it); a ``bias`` of None means the layer has
    none (its z is then an earlier step's output, which must not be written); a ``d_bias`` is
    the gradient slot a bias sum goes into, None where there is no bias. ``kept`` values are
    the primitive's own, handed back to it by the backward pass."""

    def product(self, index, values, weights):
        """(kept, values @ weights.T)."""

    def add_bias(self, index, values, bias):
        """values + bias."""

    def activate(self, index, activation, z, bias):
        """(kept, f(z + bias))."""

    def loss(self, output, bias, y, d_bias):
        """(the loss sum, or None where it stays on the device; dL/d output)."""

    def weight_gradient(self, layer, delta, kept, d_weights) -> None:
        """d_weights = delta.T inputs (or a promise of it)."""

    def back_product(self, index, delta, weights):
        """delta @ weights."""

    def bias_gradient(self, delta, d_bias) -> None:
        """d_bias = the column sums of delta."""

    def activation_gradient(self, index, activation, delta, kept, d_bias):
        """dZ = delta * f'(z, a), its column sums into d_bias (if any); returns dZ."""


class Walk:
    """One pass of a layout's plan with one engine's primitives over the layers' arrays
    (``params``, and ``grads`` for a gradient: views as ``ChainLayout.views`` gives them)."""

    def __init__(self, layout: ChainLayout, ops: Primitives, params, grads=None):
        self.steps, self.ops, self.params, self.grads = layout.steps, ops, params, grads

    def gradient(self, X, y):
        """The loss as the primitives give it; the gradient lands in grads."""
        saved, output, bias = self.forward(X)
        loss, delta = self.ops.loss(output, bias, y, self._d_bias(self.steps[-1].bias))
        self.backward(saved, delta)
        return loss

    def forward(self, X):
        """(what each step kept, the last values, their pending bias or None)."""
        saved, values = [], X
        for index, step in enumerate(self.steps[:-1]):
            kept, values = FORWARD[type(step)](self, index, step, values)
            saved.append(kept)
        return saved, values, self._bias(self.steps[-1].bias)

    def backward(self, saved, delta) -> None:
        """delta = dL/d(the last values) flows back through the steps, filling grads."""
        for index in reversed(range(len(saved))):
            step = self.steps[index]
            delta = BACKWARD[type(step)](self, index, step, delta, saved[index])

    # Product: z = a W.T;  dW = delta.T a, and delta W for the step before (if any)
    def forward_Product(self, index, step, values):
        return self.ops.product(index, values, self.params[2 * step.layer])

    def backward_Product(self, index, step, delta, kept):
        self.ops.weight_gradient(step.layer, delta, kept, self.grads[2 * step.layer])
        if index == 0:
            return delta
        return self.ops.back_product(index, delta, self.params[2 * step.layer])

    # Bias: z + b;  db = the column sums of delta, which passes through
    def forward_Bias(self, index, step, values):
        return None, self.ops.add_bias(index, values, self.params[2 * step.layer + 1])

    def backward_Bias(self, index, step, delta, kept):
        self.ops.bias_gradient(delta, self.grads[2 * step.layer + 1])
        return delta

    # Elementwise: a = f(z + b);  delta * f'(z, a), and db its column sums
    def forward_Elementwise(self, index, step, values):
        return self.ops.activate(index, step.activation, values, self._bias(step.bias))

    def backward_Elementwise(self, index, step, delta, kept):
        return self.ops.activation_gradient(index, step.activation, delta, kept,
                                            self._d_bias(step.bias))

    def _bias(self, layer):
        return None if layer is None else self.params[2 * layer + 1]

    def _d_bias(self, layer):
        return None if layer is None else self.grads[2 * layer + 1]


# The rules by step kind, as autodidax's impl_rules: (walk, index, step, values) -> (kept,
# values) forward; (walk, index, step, delta, kept) -> delta backward.
FORWARD = {Product: Walk.forward_Product, Bias: Walk.forward_Bias,
           Elementwise: Walk.forward_Elementwise}
BACKWARD = {Product: Walk.backward_Product, Bias: Walk.backward_Bias,
            Elementwise: Walk.backward_Elementwise}


def generated_kernels(dialect: str, activation: Activation | None = None):
    """The cached module of an activation's kernels, or (None) of the loss kernels, generated
    by codegen.layer_kernels in a dialect ("numba" or "cuda"); a cache hit needs no SymPy."""
    def build() -> str:
        from ..codegen import layer_kernels
        if activation is None:
            return layer_kernels.loss_source(dialect)
        return layer_kernels.activation_source(activation, dialect)
    name = "loss" if activation is None else activation.name
    return load_or_build(f"{dialect}_layers", cache_key(dialect, "layer-kernels", name),
                         build)[0]
