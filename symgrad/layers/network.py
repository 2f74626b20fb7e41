"""The layer engine: a dense network's loss and gradient with BLAS GEMMs and fused kernels.

Backprop in the seed-003 index notation, one layer at a time:

    forward   z^l = a^(l-1) W^l.T + b^l,  a^l = f(z^l)
    backward  delta^l = dL/dz^l = f'(z^l) * (delta^(l+1) W^(l+1))   (delta_j = f'(net_j)
              * sum_k delta_k w_kj),  dL/dW^l = delta^l.T a^(l-1),  dL/db^l = sum_rows delta^l

The chain is first turned into a plan of four kinds of step. ``Product``: z = a W.T, one BLAS
call (its bias is added by the step after it). ``Act``: a = f(z + b), one generated Numba pass,
whose backward pass forms delta = dA * f'(z, a) and sums the bias gradient in the same sweep.
``Bias``: z + b, for a dense layer followed directly by another. ``Loss``: the loss of the last
values (plus their pending bias) and its gradient, one pass. Matrix products write into views
of the flat gradient. ``NetworkKernel`` has the interface ``symgrad.train`` uses, so the
ordinary training loop drives it, one step per batch. For plain SGD it also offers a fused step
(``FusedSGD``): each weight update rides on its gradient's GEMM, W <- W - lr delta.T a in one
BLAS call, so the largest arrays are neither stored as a gradient nor swept by an update pass.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..runtime.blas import gemm_update
from ..codegen.cache import cache_key, load_or_build
from ..errors import SymgradError
from .chain import Activation, Chain, Dense
from ..optim import sgd_rule
from ..stopping import deferred


class Product(NamedTuple):
    layer: int               # z = a @ W[layer].T


class Bias(NamedTuple):
    layer: int               # z + b[layer]


class Act(NamedTuple):
    activation: Activation
    bias: int | None         # the layer whose bias it adds, if it follows a dense layer


class Loss(NamedTuple):
    bias: int | None


class WeightProduct(NamedTuple):
    """dL/dW[layer] = delta.T inputs, with each factor's sum of squares where the pass that
    wrote it summed them (else None)."""
    layer: int
    delta: np.ndarray
    inputs: np.ndarray
    delta_squares: float | None
    input_squares: float | None


def plan(chain: Chain) -> list:
    """The chain as steps; every dense layer's bias is added by the step after its product."""
    steps, pending, layer = [], None, 0
    for item in chain.layers:
        if isinstance(item, Dense):
            if pending is not None:
                steps.append(Bias(pending))
            steps.append(Product(layer))
            pending, layer = layer, layer + 1
        elif isinstance(item, Activation):
            steps.append(Act(item, pending))
            pending = None
    return steps + [Loss(pending)]


class ChainLayout:
    """What every engine of a chain shares: the plan of steps, the flat parameter layout
    (``views``), and ``symgrad.train``'s view of the data (``params``, ``columns``)."""

    compiled_training = False
    on_device = False
    reduction = "mean"

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
        self.dtype = np.dtype(np.float64)
        self.steps = plan(chain)

    def columns(self, data):
        """(rows, [X, y]): features C-ordered for the GEMMs; targets (class indices for ce)."""
        data = np.asarray(data, dtype=np.float64)
        return data.shape[0], [np.ascontiguousarray(data[:, :self.fan_in]),
                               np.ascontiguousarray(data[:, self.fan_in])]

    def views(self, flat) -> list:
        """The layers' arrays (W0, b0, W1, ...) as views of a flat parameter vector (a numpy
        or a device array)."""
        return [flat[piece].reshape(shape) for piece, shape in self._pieces]

    @property
    def activations(self) -> list[Activation]:
        return list({a.name: a for a in self.chain.layers if isinstance(a, Activation)}.values())


class NetworkKernel(ChainLayout):
    """Loss and gradient of a chain on (features, targets) on the CPU, with
    ``symgrad.train``'s interface: ``params``, ``columns(data)``, ``evaluate(theta, n,
    columns)``; and ``predict``."""

    def __init__(self, chain: Chain, fan_in: int, loss: str):
        super().__init__(chain, fan_in, loss)
        self.gradient = np.empty(self.size)
        self.grads = self.views(self.gradient)
        self._workspace: dict = {}
        self.module = _kernels("loss", None)
        self.kernels = {a.name: _kernels("activation", a) for a in self.activations}

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
        params = self.views(theta)
        with np.errstate(over="ignore", invalid="ignore"):  # divergence: the callers' guards
            saved, output, bias = self._forward(X, params, self._buffer)
            d_out = self._buffer("d_out", output.shape)
            d_bias = self._buffer("d_bias", output.shape[1:])
            loss_kernel = self.module.ce if self.loss == "ce" else self.module.mse
            loss = loss_kernel(output, bias, y, d_out, d_bias, 1.0 / n)
            return loss / n, self._backward(saved, d_out, d_bias, params, self.grads)

    def fused_step(self, optimizer):
        """A training step that updates theta in place, for the rules that fold into the weight
        GEMMs (plain SGD: ``FusedSGD``); None for the others."""
        return FusedSGD(self, optimizer) if optimizer.KIND == 0 else None

    def predict(self, theta, X) -> np.ndarray:
        """The last layer's values (the logits, for ce): rows x width."""
        _, output, bias = self._forward(np.ascontiguousarray(X, dtype=np.float64),
                                        self.views(theta), lambda key, shape: np.empty(shape))
        return output + bias

    def _forward(self, X, params, buffer):
        """(saved values per step, the last values, their pending bias). ``buffer(key, shape)``
        gives the array a step writes into."""
        saved, values, squares = [], X, None
        for index, step in enumerate(self.steps[:-1]):
            if isinstance(step, Product):
                saved.append((values, squares))
                squares = None
                weights = params[2 * step.layer]
                values = np.matmul(values, weights.T,
                                   out=buffer(("z", index), (len(values), len(weights))))
            elif isinstance(step, Bias):
                saved.append(None)
                values = np.add(values, params[2 * step.layer + 1],
                                out=buffer(("b", index), values.shape))
            else:
                kernels, z = self.kernels[step.activation.name], values
                if step.bias is None and kernels.WRITES_Z:  # it would overwrite the input
                    z = buffer(("copy", index), values.shape)
                    z[:] = values
                a = buffer(("a", index), z.shape)
                squares = kernels.forward(z, self._bias(step.bias, params, z), a)
                saved.append((z, a))
                values = a
        return saved, values, self._bias(self.steps[-1].bias, params, values)

    def _backward(self, saved, delta, d_bias, params, grads) -> list:
        """delta flows back; each bias gradient was summed by the pass that produced delta.
        Returns every dense layer's WeightProduct, last first."""
        products, squares = [], None
        if self.steps[-1].bias is not None:
            grads[2 * self.steps[-1].bias + 1][:] = d_bias
        for index in reversed(range(len(saved))):
            step, values = self.steps[index], saved[index]
            if isinstance(step, Product):
                inputs, input_squares = values
                products.append(WeightProduct(step.layer, delta, inputs, squares, input_squares))
                if index > 0:
                    delta = np.matmul(delta, params[2 * step.layer],
                                      out=self._buffer(("delta", index), inputs.shape))
                    squares = None
            elif isinstance(step, Bias):
                np.sum(delta, axis=0, out=grads[2 * step.layer + 1])
            else:
                z, a = values
                d_z = self._buffer(("d_z", index), delta.shape)
                d_b = self._buffer(("d_b", index), delta.shape[1:])
                squares = self.kernels[step.activation.name].backward(delta, z, a, d_z, d_b)
                if step.bias is not None:
                    grads[2 * step.bias + 1][:] = d_b
                delta = d_z
        return products

    def _buffer(self, key, shape) -> np.ndarray:
        """A scratch array kept between calls (one per key and shape): a fresh 2 MB array
        per step costs its page faults every time, about 10% of the step here."""
        array = self._workspace.get((key, shape))
        if array is None:
            array = self._workspace[(key, shape)] = np.empty(shape)
        return array

    def _bias(self, layer, params, values):
        return params[2 * layer + 1] if layer is not None else np.zeros(values.shape[1])


class FusedSGD:
    """Plain SGD on a NetworkKernel, each weight update folded into its gradient product:
    W <- (1 - lr*wd) W - lr delta.T a is one BLAS call (``blas.gemm_update``), so the weight
    gradient is never stored and no update pass runs; biases take the SGD rule as usual.

    The divergence guard (nothing changes unless every new value is finite) cannot look at
    values before the BLAS call writes them, so it proves them finite instead: each layer keeps
    a bound on max|W|, grown every step by a bound on the change: by Cauchy-Schwarz,
    |lr sum_k delta_ki a_kj| <= lr |delta|_F |a|_F (the sums of squares come from the kernels
    that wrote the factors, else one BLAS dot; a nan or inf in them propagates). While every bound stays below LIMIT no entry can overflow; past
    it the bound is measured again, and if still past, the step takes the unfused path
    (gradient, then the checked update), which finds divergence exactly as the other rules do.
    """

    LIMIT = 1e300

    def __init__(self, kernel: NetworkKernel, optimizer):
        self.kernel, self.optimizer, self.hyper = kernel, optimizer, optimizer.hyper()
        self.decay = 1.0 - optimizer.lr * optimizer.weight_decay
        self.bounds: dict = {}                      # layer -> bound on max |W|
        self.state = optimizer.new_state(0)

    def __call__(self, theta, n, columns) -> float | None:
        """One step on a batch of n rows: its loss, or None with theta unchanged."""
        loss, products = self.kernel.loss_and_deltas(theta, n, columns)
        if not np.isfinite(loss):
            return None
        params, grads = self.kernel.views(theta), self.kernel.grads
        biases = [(params[k], sgd_rule(params[k], grads[k], 0, 0, self.hyper, 0)[0])
                  for k in (2 * p.layer + 1 for p in products)]
        if not all(np.isfinite(new).all() for _, new in biases):
            return None
        bounds = self._bounds(params, products)
        if bounds is None:
            return loss if self._checked_step(theta, products) else None
        with deferred():
            for p in products:
                gemm_update(params[2 * p.layer], p.delta, p.inputs, -self.optimizer.lr,
                            self.decay)
            for bias, new in biases:
                bias[:] = new
            self.bounds = bounds
        return loss

    def _bounds(self, params, products) -> dict | None:
        """The layers' bounds after this step, or None if one could pass LIMIT."""
        bounds = {}
        for p in products:
            change = self.optimizer.lr * np.sqrt(squares(p.delta, p.delta_squares)
                                                 * squares(p.inputs, p.input_squares))
            bound = abs(self.decay) * self.bounds.get(p.layer, np.inf) + change
            if not bound <= self.LIMIT:             # also catches nan: measure, then decide
                bound = abs(self.decay) * largest(params[2 * p.layer]) + change
            if not bound <= self.LIMIT:
                return None
            bounds[p.layer] = bound
        return bounds

    def _checked_step(self, theta, products) -> bool:
        self.kernel.weight_gradients(products)
        self.bounds = {}
        return self.optimizer.step(theta, self.kernel.gradient, self.state, 1)


def squares(values: np.ndarray, known: float | None) -> float:
    """The sum of squares of values (inf or nan if any value is): known, or one BLAS dot."""
    return known if known is not None else float(np.vdot(values, values))


def largest(values: np.ndarray) -> float:
    """max |values|; nan if any value is nan (no temporary array)."""
    return float(np.maximum(values.max(), -values.min()))


def _kernels(kind: str, activation: Activation | None):
    """The cached kernel module for one activation, or the loss kernels."""
    from ..codegen import layer_kernels

    if activation is None:
        return load_or_build("layers", cache_key("loss-kernels"), layer_kernels.loss_source)[0]
    key = cache_key("activation-kernels", activation.name)
    return load_or_build("layers", key, lambda: layer_kernels.activation_source(activation))[0]


UNROLL_PARAMS = 32  # nets this small run unrolled (see README: compile time grows fast)


class ChainModel:
    """A chain compiled for training and prediction, whichever engine its size picks.

    Nets with at most UNROLL_PARAMS parameters are unrolled into one scalar SymPy model and
    go through the ordinary pipeline (fused per-row kernel, whole epochs in compiled code):
    the fastest per step, but Numba's compile time grows steeply with the unrolled program
    (measured: 13 parameters ~10 s, 131 ~19 s, 403 ~91 s, once per model, then cached).
    Larger nets use NetworkKernel (GEMMs + fused elementwise kernels). Targets: a numeric
    column for mse, class indices for ce (one-hot columns for the unrolled engine).
    """

    def __init__(self, chain: Chain, features, loss: str, backend: str = "numba"):
        self.chain, self.features, self.loss, self.backend = chain, list(features), loss, backend
        self.size = sum(int(np.prod(s)) for _, s in chain.shapes(len(self.features)))
        self.unrolled = self.size <= UNROLL_PARAMS
        self.width = chain.dense[-1].width
        self.kernel = None

    def compile(self):
        """The kernel symgrad.train drives (compiled on first call, then cached)."""
        if self.kernel is None:
            self.kernel = self._unrolled_kernel() if self.unrolled else \
                self._layer_engine()(self.chain, len(self.features), self.loss)
        return self.kernel

    def _layer_engine(self):
        """The layer engine's class for the backend (cuda's is imported only when asked for)."""
        if self.backend != "cuda":
            return NetworkKernel
        from ..codegen import require_runtime
        require_runtime("cuda")
        from .cuda import CudaNetwork
        return CudaNetwork

    def _unrolled_kernel(self):
        """The unrolled model, compiled; keyed by the chain's text, so a cache hit needs no
        SymPy (the model is built only to compile it)."""
        from ..kernel import compile_keyed

        def build():
            from .symbolic import unrolled_model
            return unrolled_model(self.chain, self.features, self.loss)
        params = [f"{name}_{'_'.join(map(str, index))}"
                  for name, shape in self.chain.shapes(len(self.features))
                  for index in np.ndindex(*shape)]
        targets = [f"y{k}" for k in range(self.width)] if self.loss == "ce" else ["y"]
        key = f"chain:{self.chain.text}|{self.loss}|{','.join(self.features)}"
        return compile_keyed(key, build, params, [*self.features, *targets],
                             backend=self.backend)

    def matrix(self, X, targets) -> np.ndarray:
        """The data matrix the kernel trains on: features, then the targets as it wants them."""
        if self.loss == "ce" and self.unrolled:
            targets = np.eye(self.width)[np.asarray(targets, dtype=np.int64)]
        return np.column_stack([X, targets])

    def outputs(self, theta, X) -> np.ndarray:
        """The last layer's values per row: (rows,) for one output, else (rows, width)."""
        kernel = self.compile()
        if self.unrolled:
            return kernel.predict(theta, {name: X[:, j] for j, name in enumerate(self.features)})
        values = kernel.predict(theta, X)
        return values[:, 0] if values.shape[1] == 1 else values
