"""The layer engine on CUDA: a chain's loss and gradient as kernel launches on device arrays.

The same plan of steps as the CPU engine (network.py), with every piece a numba.cuda kernel:

    gemm           C = op(A) op(B), op(X) = X or X.T: tiles of TILE x TILE in shared memory,
                   one thread per output element (forward z = a W.T, delta W, delta.T a)
    activation     generated per activation from SymPy's f and f' by the shared printer (the
                   CUDA dialect: helpers become device functions): forward a = f(z + b),
                   backward dZ = dA * f'(z, a); one thread per element (grid-stride)
    column_sums    a bias gradient: one thread per column adds its rows in order
                   (deterministic, no atomics)
    ce_rows/mse_rows  one thread per row: the row's loss (max-shifted log-sum-exp for ce)
                   and dO = (softmax - onehot) / n, or 2 (o - y) / n
    finish         (cuda_support) adds the rows' losses in a fixed order, flags a non-finite one

``CudaNetwork`` has the interface ``symgrad.train`` uses; its ``device_run`` is a
``NetworkRun``: data, theta, optimizer state and gradient on the device, a step is ~5 launches
per layer plus the optimizer's two (cuda_support's rules, unchanged), and the host syncs once
per call, as for scalar models. Accumulation is in float64. No cuBLAS: numba.cuda has none,
and the tiled kernel keeps the backend free of new dependencies (it is far from cuBLAS's speed
on large layers; see the README).
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda, float64

from .network import Act, Bias, ChainLayout, Product
from ..codegen.cache import cache_key, load_or_build
from ..runtime.cuda_support import (MAX_THREADS, REDUCE_THREADS, SIMULATED, DeviceRun, blocks_for, finish,
                           require_device)

TILE = 4 if SIMULATED else 16


@cuda.jit
def gemm(A, B, C, trans_a, trans_b, flags):
    """C = op(A) @ op(B); op(X) is X.T when its flag is set."""
    if flags[0] != 0:
        return
    tile_a = cuda.shared.array((TILE, TILE), float64)
    tile_b = cuda.shared.array((TILE, TILE), float64)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    row, col = cuda.blockIdx.y * TILE + ty, cuda.blockIdx.x * TILE + tx
    rows, cols = C.shape
    depth = A.shape[0] if trans_a else A.shape[1]
    total = 0.0
    for start in range(0, depth, TILE):
        k = start + tx
        tile_a[ty, tx] = 0.0
        if row < rows and k < depth:
            tile_a[ty, tx] = A[k, row] if trans_a else A[row, k]
        k = start + ty
        tile_b[ty, tx] = 0.0
        if col < cols and k < depth:
            tile_b[ty, tx] = B[col, k] if trans_b else B[k, col]
        cuda.syncthreads()
        for i in range(TILE):
            total += tile_a[ty, i] * tile_b[i, tx]
        cuda.syncthreads()
    if row < rows and col < cols:
        C[row, col] = total


@cuda.jit
def column_sums(D, out, flags):
    if flags[0] != 0:
        return
    for j in range(cuda.grid(1), D.shape[1], cuda.gridsize(1)):
        total = 0.0
        for i in range(D.shape[0]):
            total += D[i, j]
        out[j] = total


@cuda.jit
def add_bias(Z, b, out, flags):
    if flags[0] != 0:
        return
    width = Z.shape[1]
    for e in range(cuda.grid(1), Z.shape[0] * width, cuda.gridsize(1)):
        i = e // width
        j = e - i * width
        out[i, j] = Z[i, j] + b[j]


@cuda.jit
def gather(X, y, order, start, Xb, yb, flags):
    """Rows order[start + i] of (X, y) into (Xb, yb): a shuffled batch, contiguous."""
    if flags[0] != 0:
        return
    width = X.shape[1]
    for e in range(cuda.grid(1), Xb.shape[0] * width, cuda.gridsize(1)):
        i = e // width
        j = e - i * width
        row = order[start + i]
        Xb[i, j] = X[row, j]
        if j == 0:
            yb[i] = y[row]


@cuda.jit
def ce_rows(O, b, labels, row_loss, dO, scale, flags):
    if flags[0] != 0:
        return
    width = O.shape[1]
    for i in range(cuda.grid(1), O.shape[0], cuda.gridsize(1)):
        m = -math.inf
        for j in range(width):
            m = O[i, j] + b[j] if O[i, j] + b[j] > m else m
        total = 0.0
        for j in range(width):
            e = math.exp(O[i, j] + b[j] - m)
            dO[i, j] = e
            total += e
        label = int(labels[i])
        row_loss[i, 0] = m + math.log(total) - (O[i, label] + b[label])
        for j in range(width):
            dO[i, j] = (dO[i, j] / total - (1.0 if j == label else 0.0)) * scale


@cuda.jit
def mse_rows(O, b, y, row_loss, dO, scale, flags):
    if flags[0] != 0:
        return
    for i in range(cuda.grid(1), O.shape[0], cuda.gridsize(1)):
        loss = 0.0
        for j in range(O.shape[1]):
            r = O[i, j] + b[j] - y[i]
            loss += r * r
            dO[i, j] = 2.0 * r * scale
        row_loss[i, 0] = loss


def activation_source(activation) -> str:
    """forward(Z, b, keep, A, flags) and backward(dA, Z, A, dZ, flags) of one activation."""
    from ..codegen.cuda_backend import CudaPrinter
    from ..codegen.layer_kernels import activation_rules

    printer = CudaPrinter()
    value, slope, writes_z = activation_rules(activation, printer)
    forward = ["z = Z[i, j] + b[j]", *(["keep[i, j] = z"] if writes_z else []),
               f"A[i, j] = {value}"]
    backward = ["z = Z[i, j]", "a = A[i, j]", f"dZ[i, j] = dA[i, j] * ({slope})"]
    return (f"import math\n\nfrom numba import cuda\n\nWRITES_Z = {writes_z}\n\n\n"
            f"{printer.helper_block()}"
            f"{_elementwise('forward', 'Z, b, keep, A', 'Z', forward)}\n\n"
            f"{_elementwise('backward', 'dA, Z, A, dZ', 'dZ', backward)}")


def _elementwise(name: str, args: str, shaped: str, body: list[str]) -> str:
    """A kernel running body for every element (i, j) of the 2-D array ``shaped``."""
    lines = ["@cuda.jit", f"def {name}({args}, flags):", "    if flags[0] != 0:", "        return",
             f"    width = {shaped}.shape[1]",
             f"    for e in range(cuda.grid(1), {shaped}.shape[0] * width, cuda.gridsize(1)):",
             "        i = e // width", "        j = e - i * width",
             *(f"        {line}" for line in body)]
    return "\n".join(lines) + "\n"


class CudaNetwork(ChainLayout):
    """A chain's loss and gradient on the GPU, with ``symgrad.train``'s interface; training
    runs as a ``NetworkRun`` (``on_device``). ``evaluate`` and ``predict`` copy their
    arguments to the device each call (the library's entry points)."""

    on_device = True

    def __init__(self, chain, fan_in: int, loss: str):
        require_device()
        super().__init__(chain, fan_in, loss)
        self.kernels = {a.name: _activation_kernels(a) for a in self.activations}
        self._workspace: dict = {}
        self._no_partials = cuda.to_device(np.zeros(1, dtype=np.int64))  # finish: loss only

    def evaluate(self, theta, n, columns):
        X, y = (cuda.to_device(np.ascontiguousarray(c, dtype=np.float64)) for c in columns)
        grad, losses = cuda.device_array(self.size), cuda.device_array(1)
        flags = cuda.to_device(np.zeros(3, dtype=np.int64))
        self.gradient(cuda.to_device(np.asarray(theta, dtype=np.float64)), grad, X, y, losses,
                      0, flags)
        return float(losses.copy_to_host()[0]) / n, grad.copy_to_host(), True

    def predict(self, theta, X) -> np.ndarray:
        """The last layer's values (the logits, for ce): rows x width."""
        flags = cuda.to_device(np.zeros(3, dtype=np.int64))
        X = cuda.to_device(np.ascontiguousarray(X, dtype=np.float64))
        params = self.views(cuda.to_device(np.asarray(theta, dtype=np.float64)))
        _, output, bias = self._forward(X, params, flags)
        return output.copy_to_host() + bias.copy_to_host()

    def device_run(self, columns, n, batch, optimizer, theta, mean):
        return NetworkRun(self, columns, n, batch, optimizer, theta, mean)

    def gradient(self, theta, grad, X, y, losses, slot, flags) -> None:
        """Launches only: grad <- the batch's mean gradient, losses[slot] <- its loss sum."""
        params, grads = self.views(theta), self.views(grad)
        saved, output, bias = self._forward(X, params, flags)
        rows = output.shape[0]
        d_out = self._buffer("d_out", output.shape)
        row_loss = self._buffer("row_loss", (rows, 1))
        loss_rows = ce_rows if self.loss == "ce" else mse_rows
        loss_rows[_grid(rows)](output, bias, y, row_loss, d_out, 1.0 / rows, flags)
        finish[1, REDUCE_THREADS](row_loss, rows, 1.0, self._no_partials, grad, losses, slot,
                                  flags)
        if self.steps[-1].bias is not None:
            column_sums[_grid(output.shape[1])](d_out, grads[2 * self.steps[-1].bias + 1], flags)
        self._backward(saved, d_out, params, grads, flags)

    def _forward(self, X, params, flags):
        saved, values = [], X
        for index, step in enumerate(self.steps[:-1]):
            if isinstance(step, Product):
                saved.append(values)
                weights = params[2 * step.layer]
                z = self._buffer(("z", index), (values.shape[0], weights.shape[0]))
                _gemm(values, weights, z, False, True, flags)
                values = z
            elif isinstance(step, Bias):
                saved.append(None)
                out = self._buffer(("b", index), values.shape)
                add_bias[_grid(values.size)](values, params[2 * step.layer + 1], out, flags)
                values = out
            else:
                kernels = self.kernels[step.activation.name]
                keep = self._buffer(("keep", index), values.shape)
                a = self._buffer(("a", index), values.shape)
                kernels.forward[_grid(values.size)](values, self._bias(step.bias, params, values),
                                                    keep, a, flags)
                saved.append((keep if kernels.WRITES_Z else a, a))
                values = a
        return saved, values, self._bias(self.steps[-1].bias, params, values)

    def _backward(self, saved, delta, params, grads, flags) -> None:
        for index in reversed(range(len(saved))):
            step, values = self.steps[index], saved[index]
            if isinstance(step, Product):
                _gemm(delta, values, grads[2 * step.layer], True, False, flags)
                if index > 0:
                    previous = self._buffer(("delta", index), values.shape)
                    _gemm(delta, params[2 * step.layer], previous, False, False, flags)
                    delta = previous
            elif isinstance(step, Bias):
                column_sums[_grid(delta.shape[1])](delta, grads[2 * step.layer + 1], flags)
            else:
                z, a = values
                d_z = self._buffer(("d_z", index), delta.shape)
                self.kernels[step.activation.name].backward[_grid(delta.size)](delta, z, a, d_z,
                                                                               flags)
                if step.bias is not None:
                    column_sums[_grid(delta.shape[1])](d_z, grads[2 * step.bias + 1], flags)
                delta = d_z

    def _bias(self, layer, params, values):
        if layer is not None:
            return params[2 * layer + 1]
        return self._buffer(("zeros", values.shape[1]), (values.shape[1],), zeros=True)

    def _buffer(self, key, shape, zeros=False):
        """A device array kept between steps (one per key and shape)."""
        array = self._workspace.get((key, shape))
        if array is None:
            array = self._workspace[(key, shape)] = \
                cuda.to_device(np.zeros(shape)) if zeros else cuda.device_array(shape)
        return array


class NetworkRun(DeviceRun):
    """``DeviceRun`` for a chain: the data (features, targets) copied once; a shuffled batch is
    gathered into contiguous rows on the device; a step is ``CudaNetwork.gradient``, then the
    optimizer's rule."""

    def __init__(self, network: CudaNetwork, columns, n, batch, optimizer, theta, mean):
        self._start(n, batch, optimizer, theta, mean, np.dtype(np.float64))
        self.network = network
        self.X, self.y = (cuda.to_device(np.ascontiguousarray(c, dtype=np.float64))
                          for c in columns)
        self.batch_X = cuda.device_array((batch, self.X.shape[1]))
        self.batch_y = cuda.device_array(batch)

    def _step(self, order, indexed, start, count, losses, slot, step):
        if indexed:
            X, y = self.batch_X[:count], self.batch_y[:count]
            gather[_grid(count * self.X.shape[1])](self.X, self.y, order, start, X, y,
                                                    self.flags)
        else:
            X, y = self.X[start:start + count], self.y[start:start + count]
        self.network.gradient(self.theta, self.grad, X, y, losses, slot, self.flags)
        self._update(step)



def _gemm(A, B, C, trans_a, trans_b, flags) -> None:
    rows, cols = C.shape
    grid = (-(-cols // TILE), -(-rows // TILE))
    gemm[grid, (TILE, TILE)](A, B, C, trans_a, trans_b, flags)


def _grid(size: int) -> tuple[int, int]:
    return blocks_for(size, MAX_THREADS), MAX_THREADS


def _activation_kernels(activation):
    key = cache_key("cuda-activation-kernels", activation.name)
    return load_or_build("cuda_layers", key, lambda: activation_source(activation))[0]
