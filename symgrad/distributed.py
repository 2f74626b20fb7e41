"""Scale-out: full-batch training on a Dask cluster, the data split by file across its workers.

The gradient of a mean loss is a map-reduce. Each CSV file is one partition: a task reads it
on a worker, which keeps it (the driver holds the futures, so Dask keeps them in worker memory
and recomputes one from its file if its worker is lost). Each step sends theta to every
partition; a task there runs the compiled kernel (built from the model's ``ModelRecipe`` and
the data's header, compiled once per worker process, from symgrad's kernel cache when the
workers share a disk) and returns [loss sum, gradient sums,
rows, data check]; the partial sums are added in a tree of tasks on the workers (FAN_IN at a
time); the driver receives one vector, divides by the row count and applies the optimizer's
guarded step. So a step equals one step of single-machine full-batch training on the
concatenated files, up to the order of floating-point additions.

Only full-batch training is offered (GD, momentum, Nesterov, Adam on all rows every step):
mini-batches across partitions would need a global row order and a round trip per batch, and
local steps + averaging is a different algorithm. Dask is an optional extra; nothing here is
imported by ``import symgrad``.
"""
from __future__ import annotations

import glob
import logging
import os
import signal
from contextlib import ExitStack, contextmanager

import numpy as np

from . import stopping
from .errors import SymgradError
from .recipe import ModelRecipe

RETRIES = 2            # a task whose worker dies is run again elsewhere up to this many times
FAN_IN = 8             # partial sums added per task of the reduction tree (each task costs
                       # milliseconds of scheduling; the vectors are tiny)
_WORKER_KERNELS: dict = {}   # per worker process: (recipe, header) -> compiled kernel


def data_files(pattern: str) -> list[str]:
    """The CSV files a pattern names, sorted (a plain path names itself)."""
    files = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
    if not files:
        raise SymgradError(f"no files match {pattern!r}")
    return files


@contextmanager
def dask_client(scheduler: str | None, workers: int | None):
    """A client of the cluster at ``scheduler``, or of a new local cluster of ``workers``
    single-threaded worker processes (closed on exit)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SymgradError('--engine dask needs Dask: pip install "symgrad[dask]"') from None
    with ExitStack() as stack:
        with stopping.deferred():  # a stop here takes effect once there is a cluster to close
            if scheduler is not None:
                client = stack.enter_context(_scheduler_client(Client, scheduler))
            else:
                cluster = stack.enter_context(LocalCluster(
                    n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                    processes=True, dashboard_address=None, silence_logs=logging.ERROR))
                client = stack.enter_context(Client(cluster))
        yield client


def _scheduler_client(Client, scheduler: str):
    try:
        return Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as err:
        raise SymgradError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None


class DaskData:
    """The partitions of a training set on a cluster, and the map-reduce over them."""

    def __init__(self, client, files: list[str], recipe: ModelRecipe, header):
        self.client, self.recipe, self.header = client, recipe, header
        self.parts = client.map(_load, files, recipe=recipe, header=header, retries=RETRIES)
        counts = self._gather(client.map(_row_count, self.parts, retries=RETRIES))
        self.rows = int(sum(counts))

    def sums(self, theta: np.ndarray) -> np.ndarray:
        """[loss, gradient..., rows, data check] summed over every partition."""
        return self.reduced(_sums, theta)

    def reduced(self, task, theta: np.ndarray, **options) -> np.ndarray:
        """task(partition, theta, recipe, header, **options) summed over every partition."""
        level = self.client.map(task, self.parts, theta=theta, recipe=self.recipe,
                                header=self.header, retries=RETRIES, **options)
        while len(level) > 1:
            groups = [level[i:i + FAN_IN] for i in range(0, len(level), FAN_IN)]
            level = [self.client.submit(_add, *group, retries=RETRIES) if len(group) > 1
                     else group[0] for group in groups]
        return self._gather(level)[0]

    def _gather(self, futures):
        from distributed import KilledWorker
        stopping.waited(lambda seconds: _finished(futures, seconds))
        try:
            return self.client.gather(futures)
        except KilledWorker as err:
            raise SymgradError(f"a Dask worker died {RETRIES + 1} times running {err.task!r}; "
                               f"giving up") from None


def _finished(futures, seconds: float) -> bool:
    """Whether every future has finished (or failed) within the next ``seconds``."""
    from distributed import wait
    try:
        wait(futures, timeout=seconds)
    except TimeoutError:
        return False
    return True


def train_on_dask(data: DaskData, theta0, optimizer, epochs: int, mean: bool, progress=None):
    """Full-batch training over the cluster's partitions: one map-reduce and one guarded
    optimizer step on the driver per epoch. Returns a symgrad.training.TrainResult."""
    from .training import TrainResult

    theta = np.array(theta0, dtype=np.float64)
    state = optimizer.new_state(len(theta))
    history, done, diverged, stop_signal = np.full(epochs, np.nan), 0, None, None
    try:
        while done < epochs:
            total = data.sums(theta)
            if total[-2] != data.rows:  # never train on part of the data without saying so
                raise SymgradError(f"the cluster summed {int(total[-2])} of {data.rows} rows")
            scale = 1.0 / total[-2] if mean else 1.0
            loss, grad = total[0] * scale, total[1:-2] * scale
            if not np.isfinite(total[-1]):
                raise SymgradError("the data holds a value that is not finite")
            if not np.isfinite(loss) or not optimizer.step(theta, grad, state, done + 1):
                diverged = done
                break
            history[done] = loss
            done += 1
            if progress is not None:
                progress(done, float(loss))
    except KeyboardInterrupt as stop:  # Ctrl-C, or stopping.Stopped for SIGTERM / SIGHUP
        stop_signal = getattr(stop, "signum", signal.SIGINT)
    return TrainResult(params=theta, history=history[:done].copy(), steps=done,
                       diverged_epoch=diverged, interrupted=stop_signal is not None,
                       stop_signal=stop_signal)


def _worker_kernel(recipe: ModelRecipe, header):
    """The kernel for this recipe and header, compiled once per worker process."""
    key = (recipe, header)
    if key not in _WORKER_KERNELS:
        from .recipe import recipe_kernel
        kernel = recipe_kernel(recipe, header)
        _WORKER_KERNELS[key] = (kernel, list(kernel.inputs))
    return _WORKER_KERNELS[key]


def _load(path: str, recipe: ModelRecipe, header):
    """One file's data matrix, the kernel's inputs in order (runs on a worker; kept there)."""
    from .data import read_csv
    kernel, inputs = _worker_kernel(recipe, header)
    table = read_csv(path, inputs)  # bad cells, nan and inf included, name the file and line
    matrix = table.matrix(inputs)
    kernel.columns(matrix)  # checked once, here
    return matrix


def _row_count(part) -> int:
    return part.shape[0]


def _sums(part, theta, recipe: ModelRecipe, header) -> np.ndarray:
    """This partition's [loss, gradient..., rows, data check], as sums over its rows."""
    kernel, _ = _worker_kernel(recipe, header)
    n, columns = kernel.columns(part)
    loss, grad, finite = kernel.evaluate(theta, n, columns)
    scale = n if kernel.reduction == "mean" else 1.0
    return np.concatenate([[loss * scale], grad * scale, [n, 0.0 if finite else np.nan]])


def _fit_sums(part, theta, recipe: ModelRecipe, header, kind: str) -> np.ndarray:
    """This partition's sums for one of symgrad.fit's quantities (``DaskObjective``),
    flattened, then [rows, data check]. The recipe's kernel sums over rows (order 2)."""
    kernel, _ = _worker_kernel(recipe, header)
    if kind == "loss_grad":
        n, columns = kernel.columns(part)
        *values, finite = kernel.evaluate(theta, n, columns)
    elif kind == "hessian":
        n, columns = kernel.hessian_columns(part)
        *values, finite = kernel.evaluate_hessian(theta, n, columns)
    else:
        n, columns = kernel.gauss_newton_columns(part)
        *values, finite = kernel.evaluate_gauss_newton(theta, n, columns)
    flat = [np.ravel(v) for v in values]
    return np.concatenate([*flat, [n, 0.0 if finite else np.nan]])


class DaskObjective:
    """symgrad.fit's one-pass sums (solvers.Objective) over a cluster's partitions: each
    quantity is a map over the partitions and a tree of additions on the workers; the
    driver receives one vector per pass and takes the step."""

    def __init__(self, data: DaskData, size: int, least_squares: bool, has_hessian: bool,
                 residuals_per_row: int = 1, kinked: bool = False):
        self.data, self.size, self.rows = data, size, data.rows
        self.least_squares, self.has_hessian, self.kinked = least_squares, has_hessian, kinked
        self.factored = False  # the sums come back from the partitions, never J's rows
        self.observations = self.rows * residuals_per_row

    def loss_grad(self, theta):
        total = self._total("loss_grad", theta)
        return float(total[0]), total[1:1 + self.size]

    def hessian(self, theta):
        p, total = self.size, self._total("hessian", theta)
        return float(total[0]), total[1:1 + p], total[1 + p:1 + p + p * p].reshape(p, p)

    def gauss_newton(self, theta):
        p, total = self.size, self._total("gauss_newton", theta)
        return float(total[0]), total[1:1 + p * p].reshape(p, p), total[1 + p * p:1 + p * p + p]

    def _total(self, kind: str, theta) -> np.ndarray:
        total = self.data.reduced(_fit_sums, theta, kind=kind)
        if total[-2] != self.rows:  # never fit part of the data without saying so
            raise SymgradError(f"the cluster summed {int(total[-2])} of {self.rows} rows")
        if not np.isfinite(total[-1]):
            raise SymgradError("the data holds a value that is not finite")
        return total[:-2]


def _add(*sums: np.ndarray) -> np.ndarray:
    return np.sum(sums, axis=0)
