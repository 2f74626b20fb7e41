"""The layer engine on the CPU: ``CpuNetwork``, the plan walked over numpy GEMMs and Numba kernels.

Each matrix product is one BLAS call (numpy ``matmul`` into a scratch array kept between calls);
each activation and the loss is one generated Numba pass (codegen.layer_kernels) that also sums
its bias gradient and the squares of what it wrote. The weight gradients are not formed in the
backward pass: ``CpuPrimitives.weight_gradient`` defers each as a ``WeightProduct``, which
``evaluate`` multiplies out into the gradient array and ``FusedSGD`` (fused_sgd.py) folds its
update into. ``CpuNetwork`` has the interface ``symgrad.train`` uses, so the ordinary training
loop drives it, one step per batch, or ``fused_step`` for plain SGD.
"""
from __future__ import annotations

import numpy as np

from ..optim import SGD
from ..trainable import Capabilities
from .chain import Chain
from .fused_sgd import FusedSGD
from .plan import ChainLayout, Walk, WeightProduct, Workspace, generated_kernels


class CpuNetwork(ChainLayout):
    """Loss and gradient of a chain on (features, targets) on the CPU, with
    ``symgrad.train``'s interface: ``params``, ``columns(data)``, ``evaluate(theta, n,
    columns)``; ``predict``; ``fused_step`` (``capabilities.fused_sgd``) and the compiled
    optimizer step ``step_into`` (``capabilities.compiled_step``)."""

    capabilities = Capabilities(compiled_step=True, fused_sgd=True)

    def __init__(self, chain: Chain, fan_in: int, loss: str):
        super().__init__(chain, fan_in, loss)
        self.gradient = np.empty(self.size)
        self.grads = self.views(self.gradient)
        self.buffer = Workspace(np.empty)           # the scratch arrays the steps write into
        self.losses = generated_kernels("numba")
        self.kernels = {a.name: generated_kernels("numba", a) for a in self.activations}

    def evaluate(self, theta, n, columns):
        """(loss, grad, True). The gradient array is reused by the next call: copy it to keep."""
        loss, products = self.loss_and_deltas(theta, n, columns)
        self.weight_gradients(products)
        return loss, self.gradient, True

    def weight_gradients(self, products) -> None:
        """dL/dW = delta.T a of each WeightProduct, into the gradient array."""
        with np.errstate(over="ignore", invalid="ignore"):
            for product in products:
                np.matmul(product.delta.T, product.inputs, out=self.grads[2 * product.layer])

    def loss_and_deltas(self, theta, n, columns):
        """(loss, [WeightProduct, ...]): the forward and backward passes short of the weight
        gradients, dL/dW = delta.T a, which the caller forms (or folds into its update). The
        bias gradients are in the gradient array (see ``evaluate``)."""
        X, y = columns
        ops = CpuPrimitives(self, self.buffer, 1.0 / n)
        with np.errstate(over="ignore", invalid="ignore"):  # divergence: the callers' guards
            loss = Walk(self, ops, self.views(theta), self.grads).gradient(X, y)
        return loss / n, ops.products

    def step_into(self, kind: int, theta, grad, state, hyper, step: int, theta_out,
                  state_out) -> bool:
        """The optimizer's guarded step as one compiled pass (runtime.numba_support)."""
        from ..runtime.numba_support import step_into
        return step_into(kind, theta, grad, state, hyper, step, theta_out, state_out)

    def fused_step(self, optimizer):
        """A training step that updates theta in place, for the rules that fold into the weight
        GEMMs (plain SGD: ``FusedSGD``); None for the others."""
        return FusedSGD(self, optimizer) if isinstance(optimizer, SGD) else None

    def predict(self, theta, X) -> np.ndarray:
        """The last layer's values (the logits, for ce): rows x width."""
        ops = CpuPrimitives(self, lambda key, shape: np.empty(shape), 1.0)
        walk = Walk(self, ops, self.views(theta))
        _, output, bias = walk.forward(np.ascontiguousarray(X, dtype=np.float64))
        return output + ops.bias(bias, output)


class CpuPrimitives:
    """The walker's primitives on the CPU, for one pass (see plan.Primitives). ``buffer(key,
    shape)`` gives the array a step writes into. ``squares`` is the sum of squares of the array
    the last primitive wrote along the chain, where its kernel summed them (None: unknown); the
    deferred weight products carry it for FusedSGD's bound."""

    def __init__(self, network: CpuNetwork, buffer, scale: float):
        self.network, self.buffer, self.scale = network, buffer, scale
        self.squares: float | None = None
        self.products: list[WeightProduct] = []      # last layer first

    def product(self, index, values, weights):
        kept, self.squares = (values, self.squares), None
        z = self.buffer(("z", index), (len(values), len(weights)))
        return kept, np.matmul(values, weights.T, out=z)

    def add_bias(self, index, values, bias):
        self.squares = None
        return np.add(values, bias, out=self.buffer(("b", index), values.shape))

    def activate(self, index, activation, z, bias):
        kernels = self.network.kernels[activation.name]
        if bias is None and kernels.WRITES_Z:  # it would overwrite an earlier step's output
            z = self._copy(("copy", index), z)
        a = self.buffer(("a", index), z.shape)
        self.squares = kernels.forward(z, self.bias(bias, z), a)
        return (z, a), a

    def loss(self, output, bias, y, d_bias):
        kernel = getattr(self.network.losses, self.network.loss)
        d_out = self.buffer("d_out", output.shape)
        d_bias = self._d_bias(d_bias, "d_bias", output)
        self.squares = None
        return kernel(output, self.bias(bias, output), y, d_out, d_bias, self.scale), d_out

    def weight_gradient(self, layer, delta, kept, d_weights) -> None:
        inputs, input_squares = kept
        self.products.append(WeightProduct(layer, delta, inputs, self.squares, input_squares))

    def back_product(self, index, delta, weights):
        self.squares = None
        out = self.buffer(("delta", index), (len(delta), weights.shape[1]))
        return np.matmul(delta, weights, out=out)

    def bias_gradient(self, delta, d_bias) -> None:
        np.sum(delta, axis=0, out=d_bias)

    def activation_gradient(self, index, activation, delta, kept, d_bias):
        z, a = kept
        d_z = self.buffer(("d_z", index), delta.shape)
        d_b = self._d_bias(d_bias, ("d_b", index), delta)
        self.squares = self.network.kernels[activation.name].backward(delta, z, a, d_z, d_b)
        return d_z

    def _copy(self, key, values):
        copy = self.buffer(key, values.shape)
        copy[:] = values
        return copy

    def bias(self, bias, values):
        """The bias to add: the layer's, or zeros where it has none."""
        return bias if bias is not None else np.zeros(values.shape[1])

    def _d_bias(self, d_bias, key, values):
        """Where a kernel sums a bias gradient: its slot, or scratch where there is none."""
        return d_bias if d_bias is not None else self.buffer(key, values.shape[1:])
