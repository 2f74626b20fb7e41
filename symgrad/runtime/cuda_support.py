"""The CUDA runtime: launch sizes, the block reduction, the device optimizer step, DeviceRun.

Generated CUDA modules call into it, and ``DeviceRun`` trains with data, parameters and
optimizer state kept on the device.

One training step is four launches on one stream, none waiting for the host (two where the
sums are at most FUSED_SUMS: ``finish_step`` does the last three in one block):

    partial_sums (generated)  one thread per row (grid-stride), each block's sums in shared
                              memory, tree-reduced, one row of ``partials`` per block
    add_block_sums            one block per output: sums the blocks' rows in a fixed order
                              (deterministic, unlike atomics), writes the gradient and the
                              step's loss; a non-finite loss or data row raises ``flags[1]``
    check_step                would any new parameter or state value be non-finite? -> flags[1]
    apply_step                if flags[1]: record the step in flags[2], set flags[0], change
                              nothing; else apply symgrad.optim's rule, unchanged, per element

Every kernel returns at once when flags[0] is set, so a diverged run idles until the host
looks. The host copies back the per-step losses, the flags and theta once per call of
``DeviceRun.epochs`` (sized by the training loop to about 0.1 s of work), not per step.

Under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, set before Numba is imported) every
thread is a Python thread, so blocks are 4 threads and grids 2 blocks there; the kernels are
the same.
"""
from __future__ import annotations

import importlib
import math
import os

import numpy as np
from numba import config, cuda, float64

from ..errors import SymgradError
from ..optim import RULES

SIMULATED = bool(config.ENABLE_CUDASIM)


def _quiet_small_grids() -> None:
    """Small grids are by design here (a 3-parameter update is one block): Numba's
    low-occupancy warning on every such launch (seen on an H100) is noise to a user. Kept
    where the user asked for it (NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS)."""
    if "NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS" in os.environ:
        return
    for name in ("numba.core.config", "numba.cuda.core.config"):  # Numba's, numba-cuda's
        try:
            importlib.import_module(name).CUDA_LOW_OCCUPANCY_WARNINGS = 0
        except ImportError:
            pass


_quiet_small_grids()

MAX_THREADS = 4 if SIMULATED else 256
MAX_BLOCKS = 2 if SIMULATED else 2048
SHARED_BYTES = 32 * 1024          # of shared memory per block for the partial sums


def require_device() -> None:
    """Refuse, in one line, a machine with neither a CUDA GPU nor the simulator."""
    if not cuda.is_available():
        raise SymgradError("backend cuda: no CUDA GPU is available here (numba.cuda found "
                           "none); set NUMBA_ENABLE_CUDASIM=1 to run on Numba's simulator")


def threads_for(sums: int) -> int:
    """Threads per block: a power of two whose float64 sums fit in SHARED_BYTES."""
    threads = MAX_THREADS
    while threads > 1 and threads * sums * 8 > SHARED_BYTES:
        threads //= 2
    return threads


def blocks_for(rows: int, threads: int) -> int:
    return max(1, min(MAX_BLOCKS, -(-rows // threads)))


REDUCE_THREADS = MAX_THREADS


@cuda.jit(device=True)
def _block_total(partials, blocks, k, shared, tid):
    """Column k of the blocks' sums, added by this block in a fixed order (every thread gets
    the total; every thread must call it)."""
    total = 0.0
    for b in range(tid, blocks, REDUCE_THREADS):
        total += partials[b, k]
    shared[tid] = total
    cuda.syncthreads()
    width = REDUCE_THREADS // 2
    while width > 0:
        if tid < width:
            shared[tid] += shared[tid + width]
        cuda.syncthreads()
        width //= 2
    total = shared[0]
    cuda.syncthreads()   # shared is free again when this returns
    return total


@cuda.jit(device=True)
def _record_total(total, k, width, scale, nonzero, grad, losses, slot, flags):
    """Put column k's total where it goes: the loss (k = 0, kept unscaled in losses[slot]), a
    partial (into grad, times scale), or the data check (the last column); a non-finite loss
    or data check raises flags[1]."""
    if k == 0:
        losses[slot] = total
    elif k <= nonzero.shape[0]:
        grad[nonzero[k - 1]] = total * scale
    if k == 0 or k == width - 1:
        if not math.isfinite(total):  # a non-finite loss, or a non-finite data value
            flags[1] = 1


@cuda.jit
def add_block_sums(partials, blocks, scale, nonzero, grad, losses, slot, flags):
    """Block k adds column k of the blocks' sums and records it (``_record_total``)."""
    if flags[0] != 0:
        return
    shared = cuda.shared.array(REDUCE_THREADS, float64)
    k, tid = cuda.blockIdx.x, cuda.threadIdx.x
    total = _block_total(partials, blocks, k, shared, tid)
    if tid == 0:
        _record_total(total, k, partials.shape[1], scale, nonzero, grad, losses, slot, flags)


_sgd, _momentum, _nesterov, _adam, _rmsprop, _adagrad = \
    (cuda.jit(device=True)(rule.update) for rule in RULES)


@cuda.jit(device=True)
def _rule_values(kind, theta, grad, m, v, hyper, step):
    """The rule RULES[kind] (one branch per rule of symgrad.optim.RULES; every state has both
    rows on the device, so m and v are always passed)."""
    if kind == 0:
        return _sgd(theta, grad, m, v, hyper, step)
    if kind == 1:
        return _momentum(theta, grad, m, v, hyper, step)
    if kind == 2:
        return _nesterov(theta, grad, m, v, hyper, step)
    if kind == 4:
        return _rmsprop(theta, grad, m, v, hyper, step)
    if kind == 5:
        return _adagrad(theta, grad, m, v, hyper, step)
    return _adam(theta, grad, m, v, hyper, step)  # kind 3: Adam and AdamW


@cuda.jit(device=True)
def _check_values(kind, theta, grad, state, hyper, step, flags, first, stride):
    """flags[1] <- 1 if any new parameter or state value would not be finite."""
    for k in range(first, theta.shape[0], stride):
        t, m, v = _rule_values(kind, theta[k], grad[k], state[0, k], state[1, k], hyper, step)
        if not (math.isfinite(t) and math.isfinite(m) and math.isfinite(v)):
            flags[1] = 1


@cuda.jit(device=True)
def _apply_values(kind, theta, grad, state, hyper, step, first, stride):
    for k in range(first, theta.shape[0], stride):
        t, m, v = _rule_values(kind, theta[k], grad[k], state[0, k], state[1, k], hyper, step)
        theta[k] = t
        state[0, k] = m
        state[1, k] = v


@cuda.jit
def check_step(kind, theta, grad, state, hyper, step, flags):
    if flags[0] != 0:
        return
    _check_values(kind, theta, grad, state, hyper, step, flags, cuda.grid(1), cuda.gridsize(1))


@cuda.jit
def apply_step(kind, theta, grad, state, hyper, step, flags):
    if flags[0] != 0:
        return
    if flags[1] != 0:
        flags[2] = step
        flags[0] = 1
        return
    _apply_values(kind, theta, grad, state, hyper, step, cuda.grid(1), cuda.gridsize(1))


FUSED_SUMS = 64  # at most this many sums: the step's last three launches are one block's


@cuda.jit
def finish_step(partials, blocks, scale, nonzero, grad, losses, slot, kind, theta, state,
                hyper, step, flags):
    """add_block_sums, check_step and apply_step in one block: each column added in turn,
    then the check, then the update (a block barrier between them, where the three launches
    had the kernel boundaries). For few sums, where launches cost more than the work."""
    if flags[0] != 0:
        return
    shared = cuda.shared.array(REDUCE_THREADS, float64)
    tid = cuda.threadIdx.x
    width = partials.shape[1]
    for k in range(width):
        total = _block_total(partials, blocks, k, shared, tid)
        if tid == 0:
            _record_total(total, k, width, scale, nonzero, grad, losses, slot, flags)
    cuda.syncthreads()
    _check_values(kind, theta, grad, state, hyper, step, flags, tid, REDUCE_THREADS)
    cuda.syncthreads()
    if flags[1] != 0:
        if tid == 0:
            flags[2] = step
            flags[0] = 1
        return
    _apply_values(kind, theta, grad, state, hyper, step, tid, REDUCE_THREADS)


class DeviceRun:
    """Training state on the device: the data columns (copied once), theta, the optimizer's
    state and the gradient; ``epochs`` runs whole epochs and syncs once at the end.
    ``_step`` is the part a subclass replaces (``layers.cuda.NetworkRun``: a layer chain)."""

    def __init__(self, module, columns, n: int, batch: int, optimizer, theta, mean: bool):
        self._start(n, batch, optimizer, theta, mean, np.dtype(module.META["dtype"]))
        self.module = module
        self.columns = device_rows(columns, self.dtype, n)
        self.nonzero = cuda.to_device(np.asarray(module.META["nonzero"], dtype=np.int64))
        self.blocks = blocks_for(batch, module.THREADS)
        self.partials = cuda.device_array((self.blocks, module.SUMS))

    def _start(self, n, batch, optimizer, theta, mean, dtype) -> None:
        """The optimizer's side, the same for every kind of run."""
        self.n, self.batch, self.mean = n, batch, mean
        self.kind, self.dtype = optimizer.KIND, dtype
        self.theta = _to_device(theta, dtype)
        self.state = cuda.to_device(optimizer.new_state(len(theta)).astype(dtype))
        self.grad = cuda.to_device(np.zeros(len(theta), dtype=dtype))
        self.hyper = cuda.to_device(optimizer.hyper())
        self.flags = cuda.to_device(np.zeros(3, dtype=np.int64))
        self.param_blocks = blocks_for(len(theta), MAX_THREADS)
        self.identity = cuda.to_device(np.zeros(1, dtype=np.int64))

    def epochs(self, orders, count: int, history: np.ndarray, steps: int):
        """Run ``count`` epochs (orders: one row order per epoch, or None for file order);
        fill ``history``; return (epochs done, steps done in all, diverged epoch or None)."""
        per_epoch = -(-self.n // self.batch)
        losses = cuda.device_array(count * per_epoch)
        for epoch in range(count):
            order = self.identity if orders is None else cuda.to_device(orders[epoch])
            for j, start in enumerate(range(0, self.n, self.batch)):
                self._step(order, orders is not None, start, min(self.batch, self.n - start),
                           losses, epoch * per_epoch + j, steps + epoch * per_epoch + j + 1)
        flags, sums = self.flags.copy_to_host(), losses.copy_to_host()
        finished = count * per_epoch                     # steps this call completed
        if flags[0]:
            finished = int(flags[2]) - steps - 1
        done = finished // per_epoch
        epoch_sums = sums[:done * per_epoch].reshape(done, per_epoch).sum(axis=1)
        history[:done] = epoch_sums / self.n if self.mean else epoch_sums
        return done, steps + finished, (done if flags[0] else None)

    def params(self) -> np.ndarray:
        return self.theta.copy_to_host()  # of the kernel's dtype, as on the CPU

    def _step(self, order, indexed, start, count, losses, slot, step):
        module, threads = self.module, self.module.THREADS
        module.partial_sums[self.blocks, threads](self.theta, order, indexed, start, count,
                                                   self.partials, self.columns)
        scale = 1.0 / count if self.mean else 1.0
        if module.SUMS <= FUSED_SUMS:
            finish_step[1, REDUCE_THREADS](self.partials, self.blocks, scale, self.nonzero,
                                           self.grad, losses, slot, self.kind, self.theta,
                                           self.state, self.hyper, step, self.flags)
            return
        add_block_sums[module.SUMS, REDUCE_THREADS](self.partials, self.blocks, scale,
                                                    self.nonzero, self.grad, losses, slot,
                                                    self.flags)
        self._update(step)

    def _update(self, step) -> None:
        """The optimizer's rule on theta, unless a loss or a new value was not finite."""
        launch = (self.param_blocks, MAX_THREADS)
        args = (self.kind, self.theta, self.grad, self.state, self.hyper, step, self.flags)
        check_step[launch](*args)
        apply_step[launch](*args)


def host_sums(kernel, sums: int, threads: int, dtype: str, theta, n: int, columns):
    """One call's sums from host arrays (copied to the device each call), as a (1, sums)
    host array: what ``symgrad.compile(..., backend="cuda")(theta, data)`` runs."""
    blocks = blocks_for(n, threads)
    partials = cuda.device_array((blocks, sums))
    kernel[blocks, threads](_to_device(theta, dtype), cuda.to_device(np.zeros(1, np.int64)),
                            False, 0, n, partials, device_rows(columns, dtype, n))
    return partials.copy_to_host().sum(axis=0, keepdims=True)


def host_predict(kernel, outputs: int, dtype: str, theta, n: int, columns) -> np.ndarray:
    return host_rows(kernel, (outputs,), dtype, theta, n, columns)


def host_rows(kernel, shape: tuple, dtype: str, theta, n: int, columns) -> np.ndarray:
    """A kernel writing one value of ``shape`` per row, from host arrays: rows x shape."""
    out = cuda.device_array((n, *shape), dtype)
    kernel[blocks_for(n, MAX_THREADS), MAX_THREADS](
        _to_device(theta, dtype), n, out, device_rows(columns, dtype, n))
    return out.copy_to_host()


def device_rows(columns, dtype, n: int):
    """The data columns as the rows of one (columns, n) device array, the generated kernels'
    ``_columns``, copied row by row (no stacked copy on the host)."""
    rows = cuda.device_array((len(columns), n), dtype)
    for k, column in enumerate(columns):
        rows[k].copy_to_device(np.ascontiguousarray(np.broadcast_to(column, n), dtype=dtype))
    return rows


def _to_device(values, dtype):
    return cuda.to_device(np.ascontiguousarray(values, dtype=dtype))
