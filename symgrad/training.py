"""The training loop: epochs of (mini-)batches over a ``Trainable``, an optimizer's rule.

``train`` runs in one of three engines, chosen from the kernel's declared ``capabilities``
(symgrad.trainable) and the batch size:
- compiled (``compiled_epochs``): whole epochs inside Numba (``kernel.train_epochs``): batching,
  the serial batch kernel and the update rule, no Python per step. Calls are sized to last
  about 0.1 s (never past 0.2 s once measured), so progress is reported and Ctrl-C is honoured.
- stepwise: a Python loop calling the kernel once per step; used for batches of
  ``PARALLEL_BATCH`` rows or more, where one step costs milliseconds, and for kernels without a
  compiled loop (numpy, the CPU layer engine). The update is ``kernel.step_into`` where
  ``compiled_step`` is declared, else ``Optimizer.step``; with ``fused_sgd`` and plain SGD it
  is the kernel's ``fused_step`` (symgrad.layers.fused_sgd) instead of gradient + update.
- device (``on_device``): ``kernel.device_run`` (runtime.cuda_support.DeviceRun; a layer
  chain's NetworkRun): data, parameters and optimizer state stay on the GPU, every step is
  kernel launches, and the host syncs once per call (sized like the compiled engine's).
All take the same row orders (numpy's ``default_rng(seed).permutation`` per epoch when
shuffling, data order otherwise), so they follow the same path. History holds one value per
epoch: the mean (or, for reduction "sum", the total) of the per-row loss over the epoch, each
batch's loss taken before its update. Divergence (a non-finite loss, gradient or step) stops
training with the last finite parameters; Ctrl-C stops it with the current ones.
"""
from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .errors import SymgradError
from .history import History
from .optim import SGD, Optimizer
from .trainable import Trainable

PARALLEL_BATCH = 32_768   # rows per step from which one parallel kernel call beats a serial loop
TARGET_SECONDS = 0.1      # wall time of one compiled call
MAX_ORDER_CELLS = 4_000_000


@dataclass(frozen=True)
class TrainResult:
    params: np.ndarray
    history: np.ndarray          # the loss of each completed epoch (see History past 1M epochs)
    steps: int
    diverged_epoch: int | None   # 0-based epoch in which training diverged
    interrupted: bool
    completed: int | None = None            # epochs completed (default: len(history))
    stop_signal: int | None = None          # the signal that interrupted it (SIGINT: Ctrl-C)
    history_epochs: np.ndarray | None = None  # 1-based epoch of each history value
    validation_history: np.ndarray | None = None  # with validation data: (epoch, loss) rows
    best_epoch: int | None = None           # with validation data: its lowest loss (1-based)
    stopped_early: bool = False             # early stopping ended the run

    @property
    def epochs(self) -> int:
        return len(self.history) if self.completed is None else self.completed

    @property
    def epoch_numbers(self) -> np.ndarray:
        """The 1-based epoch each value of ``history`` belongs to."""
        if self.history_epochs is not None:
            return self.history_epochs
        return np.arange(1, len(self.history) + 1)


def train(kernel, data, theta0, optimizer: Optimizer, epochs: int, batch_size: int | None = None,
          shuffle: bool = False, seed: int = 0,
          progress: Callable[[int, float], None] | None = None,
          validation=None, patience: int | None = None) -> TrainResult:
    """Train ``theta0`` on ``data`` for ``epochs`` epochs; batch_size None means full batch.

    With ``validation`` (data like ``data``), the loss on it is taken after every epoch
    (``validation_history``, ``best_epoch``); with ``patience`` too, training stops once it
    has not improved for that many epochs, and ``params`` are those of the best epoch
    (early stopping; whatever ended the run)."""
    _check_arguments(kernel, optimizer, epochs, batch_size, seed)
    if patience is not None and (validation is None or isinstance(patience, bool) or
                                 not isinstance(patience, (int, np.integer)) or patience < 1):
        raise SymgradError("patience must be an integer >= 1, with validation data")
    from .runtime.columns import checked_theta  # (float32 in float32)
    theta = checked_theta(theta0, kernel.params, getattr(kernel, "dtype", np.float64), "theta0")
    n, columns = kernel.columns(data)
    _refuse_non_finite(kernel, data, columns)
    batch = n if batch_size is None else min(batch_size, n)
    run = _Run(kernel, columns, n, batch, optimizer, theta,
               np.random.default_rng(seed) if shuffle else None)
    engine = run.device if kernel.capabilities.on_device else \
        run.compiled if _compiled_engine(kernel, batch) else run.stepwise
    watch = None if validation is None else _Validation(kernel, validation, patience)
    interrupted, stop_signal = False, None
    try:
        while run.done < epochs and run.diverged is None and not (watch and watch.stopped):
            engine(1 if watch else min(run.chunk, epochs - run.done))
            if watch is not None and run.done > watch.epochs:
                watch.check(run.theta, run.done)
            if progress is not None and run.done:
                progress(run.done, run.history.last)
    except KeyboardInterrupt as stop:  # Ctrl-C, or stopping.Stopped for SIGTERM / SIGHUP
        interrupted, stop_signal = True, getattr(stop, "signum", signal.SIGINT)
    numbers, losses = run.history.arrays()
    result = TrainResult(params=run.theta, history=losses, steps=run.steps,
                         diverged_epoch=run.diverged, interrupted=interrupted,
                         completed=run.done, history_epochs=numbers, stop_signal=stop_signal)
    return result if watch is None else watch.finished(result)


def _refuse_non_finite(kernel, data, columns) -> None:
    """A NaN or inf cell is refused before training, as a call is (which names the cell);
    a run would only report its loss diverging at epoch 0."""
    if all(np.isfinite(column).all() for column in columns):
        return
    describe = getattr(kernel, "non_finite_cell", None)
    raise SymgradError(describe(data) if describe else "data has a NaN or inf cell")


class _Validation:
    """The loss on validation data after each epoch; the best epoch and its parameters."""

    def __init__(self, kernel, data, patience: int | None):
        self.kernel, self.patience = kernel, patience
        self.n, self.columns = kernel.columns(data)
        _refuse_non_finite(kernel, data, self.columns)
        self.history, self.epochs = History(), 0
        self.best, self.best_epoch, self.best_theta = np.inf, None, None

    @property
    def stopped(self) -> bool:
        return self.patience is not None and self.best_epoch is not None and \
            self.epochs - self.best_epoch >= self.patience

    def check(self, theta: np.ndarray, epoch: int) -> None:
        """Record the loss at the parameters after ``epoch`` (nan counts as no better)."""
        loss = float(self.kernel.evaluate(theta, self.n, self.columns)[0])
        self.history.extend(np.array([loss]))
        self.epochs = epoch
        if loss < self.best or self.best_epoch is None:
            self.best, self.best_epoch, self.best_theta = loss, epoch, theta.copy()

    def finished(self, result: TrainResult) -> TrainResult:
        """The result with the validation record; early stopping: the best parameters."""
        from dataclasses import replace

        kept = np.column_stack(self.history.arrays())
        best = self.best_theta if self.patience is not None and \
            self.best_theta is not None else result.params
        return replace(result, params=best, validation_history=kept,
                       best_epoch=self.best_epoch, stopped_early=self.stopped)


def _check_arguments(kernel, optimizer, epochs, batch_size, seed) -> None:
    if not isinstance(kernel, Trainable):
        raise SymgradError(f"kernel must be compiled (symgrad.compile(...), a layer chain's "
                           f"ChainModel.compile()), not {type(kernel).__name__}")
    if not isinstance(optimizer, Optimizer):
        raise SymgradError(f"optimizer must be an Optimizer (symgrad.SGD(lr), Adam(lr), ...), "
                           f"not {type(optimizer).__name__}")
    for name, value, low in (("epochs", epochs, 1), ("batch_size", batch_size, 1),
                             ("seed", seed, 0)):
        if value is None and name == "batch_size":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise SymgradError(f"{name} must be an integer >= {low}, got {value!r}")


def compile_training(kernel, data, batch_size: int | None = None,
                     optimizer: Optimizer | None = None, validating: bool = False) -> None:
    """Compile now what ``train`` will run on this data (Numba compiles on first call);
    ``validating``: the loss on validation data too."""
    from .runtime.calls import kernel_call

    n, columns = kernel.columns(data)
    batch = n if batch_size is None else min(batch_size, n)
    with kernel_call():
        _compile_engine(kernel, batch, n, columns, optimizer or SGD())
        if validating:
            kernel.evaluate(np.zeros(len(kernel.params)), 1, [c[:1] for c in columns])


def _compile_engine(kernel, batch: int, n: int, columns, optimizer: Optimizer) -> None:
    """One call of each compiled function train will use, on zeros (nothing is trained)."""
    zeros = np.zeros(len(kernel.params), kernel.dtype)
    state = optimizer.new_state(len(zeros)).astype(kernel.dtype)
    if _compiled_engine(kernel, batch):
        kernel.train_epochs(zeros, state, optimizer, np.zeros((1, n), dtype=np.int64), batch,
                            np.empty(0), np.zeros(3, dtype=np.int64), columns)
        return
    kernel.evaluate(zeros, 1, [c[:1] for c in columns])
    if kernel.capabilities.compiled_step:  # compiled once per machine, then cached by Numba
        kernel.step_into(optimizer.KIND, zeros, zeros, state, optimizer.hyper(), 1,
                         zeros.copy(), state.copy())


def _updater(kernel, optimizer):
    """The optimizer's guarded step as ``(theta, grad, state, step) -> (theta', state')``, or
    None, with nothing changed, if a new value would not be finite. Compiled where the kernel
    declares it: one pass into a spare pair of arrays, which the caller adopts (the old pair
    becomes the next spare)."""
    if not kernel.capabilities.compiled_step:
        return lambda theta, grad, state, step: \
            (theta, state) if optimizer.step(theta, grad, state, step) else None
    hyper, spare = optimizer.hyper(), []

    def update(theta, grad, state, step):
        if not spare:
            spare.extend((np.empty_like(theta), np.empty_like(state)))
        theta_out, state_out = spare
        if not kernel.step_into(optimizer.KIND, theta, grad, state, hyper, step, theta_out,
                                state_out):
            return None
        spare[:] = theta, state
        return theta_out, state_out
    return update


def _compiled_engine(kernel, batch: int) -> bool:
    return kernel.capabilities.compiled_epochs and batch < PARALLEL_BATCH


class _Run:
    """The mutable state of one training run, advanced a chunk of epochs at a time."""

    def __init__(self, kernel, columns, n, batch, optimizer, theta, rng):
        self.kernel, self.columns, self.n, self.batch = kernel, columns, n, batch
        self.optimizer, self.theta, self.rng = optimizer, theta, rng
        self.history, self.losses = History(), np.empty(0)
        self.state = optimizer.new_state(len(theta)).astype(theta.dtype)  # theta's type
        self.done, self.steps, self.diverged, self.chunk = 0, 0, None, 1
        self.update = _updater(kernel, optimizer)
        self.fused = kernel.fused_step(optimizer) if kernel.capabilities.fused_sgd else None
        self.device_state = None

    def loss_buffer(self, count: int) -> np.ndarray:
        """Scratch room for the losses of the next ``count`` epochs (grown, never shrunk)."""
        if len(self.losses) < count:
            self.losses = np.full(count, np.nan)
        return self.losses[:count]

    def orders(self, count: int) -> np.ndarray:
        if self.rng is None:
            return np.arange(self.n, dtype=np.int64)[None, :]
        return np.stack([self.rng.permutation(self.n) for _ in range(count)])

    def compiled(self, count: int) -> None:
        count = min(count, max(1, MAX_ORDER_CELLS // self.n)) if self.rng is not None else count
        counters = np.zeros(3, dtype=np.int64)
        counters[1] = self.steps
        losses = self.loss_buffer(count)
        start = time.perf_counter()
        try:
            self.kernel.train_epochs(self.theta, self.state, self.optimizer, self.orders(count),
                                     self.batch, losses, counters, self.columns)
        finally:  # counters are right even if Ctrl-C lands as the call returns
            self.steps = int(counters[1])
            if counters[2]:
                self.diverged = self.done + int(counters[0])
            self.completed(losses[:int(counters[0])])
        self._resize(count, time.perf_counter() - start)

    def device(self, count: int) -> None:
        """``count`` epochs on the GPU; theta is copied back after each call, so Ctrl-C (which
        lands while the host waits) keeps the parameters of the last finished call."""
        if self.device_state is None:
            self.device_state = self.kernel.device_run(
                self.columns, self.n, self.batch, self.optimizer, self.theta,
                self.kernel.reduction == "mean")
        start = time.perf_counter()
        orders = None
        if self.rng is not None:
            count = min(count, max(1, MAX_ORDER_CELLS // self.n))
            orders = self.orders(count)
        losses = self.loss_buffer(count)
        done, steps, diverged = self.device_state.epochs(orders, count, losses, self.steps)
        self.theta, self.steps = self.device_state.params(), steps
        if diverged is not None:
            self.diverged = self.done + diverged
        self.completed(losses[:done])
        self._resize(count, time.perf_counter() - start)

    def stepwise(self, count: int) -> None:
        start = time.perf_counter()
        for order in self.orders(count) if self.rng is not None else [None] * count:
            loss = self._epoch(order)
            if loss is None:
                self.diverged = self.done
                return
            self.completed(np.array([loss]))
        self._resize(count, time.perf_counter() - start)

    def completed(self, losses: np.ndarray) -> None:
        """Count and record epochs that finished, with their losses."""
        self.history.extend(losses)
        self.done += len(losses)

    def _epoch(self, order) -> float | None:
        """One epoch; its loss, or None if a step would have diverged."""
        total = 0.0
        for begin in range(0, self.n, self.batch):
            end = min(begin + self.batch, self.n)
            rows = slice(begin, end) if order is None else order[begin:end]
            loss = self._step(end - begin, [c[rows] for c in self.columns])
            if loss is None:
                return None
            self.steps += 1
            total += loss * (end - begin if self.kernel.reduction == "mean" else 1)
        return total / self.n if self.kernel.reduction == "mean" else total

    def _step(self, n: int, columns) -> float | None:
        """One update on a batch: its loss, or None (nothing changed) if it would diverge."""
        if self.fused is not None:
            return self.fused(self.theta, n, columns)
        loss, grad, _ = self.kernel.evaluate(self.theta, n, columns)
        updated = self.update(self.theta, grad, self.state, self.steps + 1) \
            if np.isfinite(loss) else None
        if updated is None:
            return None
        self.theta, self.state = updated
        return loss

    def _resize(self, count: int, seconds: float) -> None:
        """Size the next call to last about TARGET_SECONDS."""
        per_epoch = max(seconds / max(count, 1), 1e-9)
        self.chunk = max(1, min(int(TARGET_SECONDS / per_epoch), 10 * count + 10))
