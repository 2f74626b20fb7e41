"""Kernel: the runtime wrapper of a generated scalar-model module: ``f(theta, data)``.

It validates theta and data, hands the generated ``loss_and_gradient`` column views (copies
only of data of another dtype: ``Reading``), adds the per-chunk sums, checks the data were
finite and applies the reduction; it is the ``Trainable`` (symgrad.trainable) the training
loop drives, with the capabilities its backend declares in the registry
(symgrad.codegen.BACKENDS). ``kernel_call`` (symgrad.runtime.calls) guards every call into
generated code; the second-order members are symgrad.runtime.second_order's. Imports neither
SymPy nor Numba.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ..errors import SymgradError, listed
from ..trainable import LOSS_ONLY, Capabilities
from .calls import kernel_call
from .columns import (Reading, array_columns, by_name, checked_theta, data_row,
                      mapping_columns, matrix, unmasked)
from .second_order import SecondOrder

ROWS_PER_CHUNK = 16_384
MAX_CHUNKS = 64


def chunks_for(n: int) -> int:
    """Into how many chunks a kernel cuts n rows: one below 2 x ROWS_PER_CHUNK (a small call
    runs in the caller's thread alone), at most MAX_CHUNKS. The per-chunk sums are added in
    order, so the result depends on n alone, never on the number of threads."""
    return max(1, min(n // ROWS_PER_CHUNK, MAX_CHUNKS))


class Kernel(SecondOrder):
    """A compiled loss and gradient: ``f(theta, data) -> (loss_value, grad)``.

    ``theta``: 1-D, in ``params`` order. ``data``: a 2-D array (rows x len(inputs); float64 or
    float32; C-ordered, Fortran-ordered or strided, used in place) or a mapping name -> 1-D
    array. A kernel of ``dtype`` float32 computes in float32 and reads float32 data in place,
    others converted (``train`` converts them once); a float64 kernel widens float32 data
    until that has cost about a compile (``Reading``). ``f.predict(theta, data)`` gives the
    model's output per row (Models with a prediction); ``f.source`` is the generated module.
    """

    def __init__(self, module, source: str, capabilities: Capabilities = Capabilities(),
                 cache_hit: bool = False, origin: tuple | None = None):
        self.module, self.source, self.cache_hit = module, source, cache_hit
        self.origin = origin  # (rebuild, backend, cache key): what a pickle names it by
        self.capabilities = capabilities   # its backend's, from the registry
        meta = module.META
        self.params: tuple[str, ...] = tuple(meta["params"])
        self.inputs: tuple[str, ...] = tuple(meta["inputs"])
        self.reduction: str = meta["reduction"]
        self.dtype = np.dtype(meta["dtype"])
        self._meta = meta
        self._nonzero = np.array(meta["nonzero"], dtype=np.intp)
        self._reading = Reading(self.dtype)

    def __reduce__(self):
        """Pickled (and copied) as its backend, cache key and generated module: unpickled by
        ``rebuild`` (symgrad.compiler.kernel_from) from the kernel cache where the key is, else
        from that module, cached first as a build is. As with any pickle, unpickle only what
        you trust: it carries code."""
        if self.origin is None:
            raise SymgradError("this kernel was not made by symgrad.compile: it cannot be "
                               "pickled")
        rebuild, backend, key = self.origin
        return rebuild, (backend, key, self.source)

    def __repr__(self):
        return f"<symgrad Kernel params={list(self.params)} inputs={list(self.inputs)}>"

    def __call__(self, theta, data=None):
        return self._checked(self.columns, self.evaluate, theta, data)

    def _checked(self, columns_of, evaluate, theta, data) -> tuple:
        """``evaluate``'s values on validated theta and columns (``columns_of(data)``), with
        a SymgradError naming the first non-finite cell if the data were not finite."""
        theta = self._theta(theta)
        n, columns = columns_of(data)
        *values, finite = evaluate(theta, n, columns)
        if not finite:
            raise SymgradError(self.non_finite_cell(data))
        return tuple(values)

    def columns(self, data) -> tuple[int, list]:
        """(rows, the validated 1-D column views the gradient kernel reads, then the 2-D data
        matrices of its inner products)."""
        return self._columns(data, self._meta["columns"], self._meta.get("matrices", ()))

    def evaluate(self, theta: np.ndarray, n: int, columns) -> tuple[float, np.ndarray, bool]:
        """(loss, grad, data were finite) on validated columns: the training loop's call
        (theta of another dtype is converted: a float32 kernel computes in float32)."""
        theta = np.asarray(theta).astype(self.dtype, copy=False)
        sums, scale = self._sums(self.module.loss_and_gradient, theta, n, columns)
        grad = np.zeros(len(self.params), dtype=self.dtype)
        grad[self._nonzero] = sums[1:-1] * scale
        return float(sums[0] * scale), grad, math.isfinite(sums[-1])

    def loss_at(self, theta, data=None) -> float:
        """The loss at theta on data, reduced (Trainable.loss_at); the data are not checked
        for non-finite values. Compiling one more function takes 0.5-1 s, so unless this
        process has compiled ``loss_and_gradient`` the loss comes from a function it has
        compiled: the training loop, summing without stepping, or a fit's Gauss-Newton or
        Hessian sums (the same loss, its terms added in another order)."""
        theta, module = self._theta(theta), self.module
        if not _compiled(module.loss_and_gradient):
            if _compiled(getattr(module, "train_epochs", None)):
                return self._loss_by_epoch_loop(theta, *self.columns(data))
            if self._meta.get("gauss_newton") and _compiled(module.gauss_newton_sums):
                return self.evaluate_gauss_newton(theta, *self.gauss_newton_columns(data))[0]
            if self._meta.get("hessian") and _compiled(module.hessian_sums):
                return self.evaluate_hessian(theta, *self.hessian_columns(data))[0]
        return self.evaluate(theta, *self.columns(data))[0]

    def _loss_by_epoch_loop(self, theta, n: int, columns) -> float:
        """One loss-only epoch in batches of ROWS_PER_CHUNK rows, as the chunks of
        ``evaluate`` (each batch's sum in the kernel's type, then added in float64)."""
        p, history = len(theta), np.zeros(1)
        with kernel_call():
            self.module.train_epochs(theta, np.zeros((1, p), self.dtype),
                                     np.zeros(1, self.dtype), LOSS_ONLY,
                                     np.arange(n, dtype=np.int64)[None, :], ROWS_PER_CHUNK,
                                     self.reduction == "mean", history,
                                     np.zeros(3, dtype=np.int64), np.zeros(p, self.dtype),
                                     *columns)
        return float(history[0])

    def _sums(self, function, theta, n: int, columns) -> tuple[np.ndarray, float]:
        """(a generated function's per-chunk sums added up, the reduction's scale)."""
        chunks = chunks_for(n)
        with kernel_call():
            sums = function(theta, n, chunks, *columns)
        sums = sums[0] if chunks == 1 else sums.sum(axis=0)
        return sums, 1.0 / n if self.reduction == "mean" else 1.0

    @property
    def prediction_inputs(self) -> tuple[str, ...]:
        """The inputs ``predict`` reads (not a column only the loss reads, as a weight)."""
        read = [*self._meta["prediction_columns"],
                *(j for m in self._meta.get("prediction_matrices", ()) for j in m)]
        return tuple(name for j, name in enumerate(self.inputs) if j in read)

    @property
    def has_prediction(self) -> bool:
        """Compiled from a Model with a prediction: ``predict`` works."""
        return bool(self._meta["has_prediction"])

    def train_epochs(self, theta, state, optimizer, orders, batch: int, history, counters,
                     columns) -> None:
        """Whole epochs in compiled code (capability ``compiled_epochs``): see the Numba
        backend's ``train_epochs`` for the counters. Serial code: no ``kernel_call`` lock.
        theta and state are updated in place, and must be C-contiguous (the compiled step
        reads them through pointers)."""
        if not (theta.flags.c_contiguous and state.flags.c_contiguous):
            raise SymgradError("train_epochs needs C-contiguous theta and state")
        self.module.train_epochs(theta, state, optimizer.hyper().astype(self.dtype),
                                 optimizer.KIND, orders, batch, self.reduction == "mean",
                                 history, counters, np.zeros(len(theta), self.dtype),
                                 *columns)  # the gradient's scratch

    def step_into(self, kind: int, theta, grad, state, hyper, step: int, theta_out,
                  state_out) -> bool:
        """The optimizer's guarded step as one compiled pass (capability ``compiled_step``):
        symgrad.runtime.numba_support.step_into."""
        return self.module.step_into(kind, theta, grad, state, hyper.astype(self.dtype),
                                     step, theta_out, state_out)

    def device_run(self, columns, n: int, batch: int, optimizer, theta, mean: bool):
        """The device-side training state ``symgrad.train`` drives (capability
        ``on_device``): symgrad.runtime.cuda_support.DeviceRun."""
        from .cuda_support import DeviceRun
        return DeviceRun(self.module, columns, n, batch, optimizer, theta, mean)

    def predict(self, theta, data=None) -> np.ndarray:
        """The model's prediction for every row of data: shape (rows,), or (rows, outputs)
        for a model with several outputs (a network's last layer)."""
        if not self._meta["has_prediction"]:
            raise SymgradError("this kernel was compiled from a bare loss; compile a Model "
                               "with a prediction to predict")
        n, columns = self._columns(self._named_by_prediction(data),
                                   self._meta["prediction_columns"],
                                   self._meta.get("prediction_matrices", ()))
        with kernel_call():
            values = self.module.predict(self._theta(theta), n, *columns)
        return values[:, 0] if values.shape[1] == 1 else values

    def _named_by_prediction(self, data):
        """A 2-D array as wide as the prediction's inputs (new data has no target column)
        as the mapping of those inputs; any other data as it is."""
        names = self.prediction_inputs
        if len(names) == len(self.inputs) or isinstance(by_name(data), Mapping) or \
                data is None:
            return data
        array = np.asarray(unmasked(data, "data", names))
        if array.ndim == 2 and array.shape[1] not in (len(names), len(self.inputs)):
            raise SymgradError(f"data has {array.shape[1]} columns; expected {len(names)} "
                               f"({listed(names)}) or {len(self.inputs)} "
                               f"({listed(self.inputs)})")
        if array.ndim != 2 or array.shape[1] != len(names):
            return data
        return dict(zip(names, array.T))

    def _theta(self, theta) -> np.ndarray:
        return checked_theta(theta, self.params, self.dtype)

    def _columns(self, data, wanted, matrices=()):
        """(rows, the 1-D column views the kernel reads, then its data matrices: each the
        columns of one inner product, rows x entries)."""
        if data is None:
            if self.inputs:
                raise SymgradError(f"data is required: columns {listed(self.inputs)}")
            return 1, []
        data = by_name(data)
        if isinstance(data, Mapping):
            names = [self.inputs[j] for j in (*wanted, *(j for m in matrices for j in m))]
            n, read = mapping_columns(data, names, self._reading)
            columns, cut = read[:len(wanted)], len(wanted)
            for m in matrices:  # a mapping's columns are separate arrays: stacked, a copy
                columns.append(np.column_stack(read[cut:cut + len(m)]))
                cut += len(m)
            return n, columns
        n, columns, array = array_columns(data, self.inputs, wanted, self._reading)
        return n, columns + [matrix(array, m) for m in matrices]

    def row_not_finite(self, theta, n: int, passes, data, name=data_row) -> str:
        """'data row 2 (x = -1, y = 1)': the first row where a pass (evaluate, its columns:
        the loss and gradient, the Gauss-Newton sums) alone is not finite at theta, found by
        halving the rows; '' where no row alone is (their sum overflows). ``name(i)`` says
        where row i is (a file's line, say)."""
        theta = self._theta(theta)

        def finite(lo: int, hi: int) -> bool:
            return all(np.isfinite(value).all() for evaluate, columns in passes
                       for value in evaluate(theta, hi - lo, [c[lo:hi] for c in columns]))
        lo, hi = 0, n
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if finite(lo, mid) else (lo, mid)
        if finite(lo, hi):
            return ""
        data = by_name(data)
        row = [data[column][lo] for column in self.inputs] if isinstance(data, Mapping) else \
            np.asarray(data)[lo]
        shown = ", ".join(f"{column} = {float(v):.6g}" for column, v in zip(self.inputs, row))
        return f"{name(lo)} ({shown if len(self.inputs) <= 8 else shown[:200] + ', ...'})"

    def non_finite_cell(self, data, name=data_row) -> str:
        """Where the first row holding a value that is not finite in the kernel's dtype
        has it (the first such column it reads), and the value as given."""
        data = by_name(data)
        columns = data if isinstance(data, Mapping) else \
            {column: np.asarray(data)[:, j] for j, column in enumerate(self.inputs)}
        read = [*self._meta["columns"], *(j for m in self._meta.get("matrices", ()) for j in m)]
        first = None  # (row, column, value)
        for column in (self.inputs[j] for j in dict.fromkeys(read)):
            values = np.asarray(columns[column])  # as given: strings, None, float64, ...
            with np.errstate(over="ignore"):  # beyond float32's range: inf in a float32 kernel
                bad = np.flatnonzero(~np.isfinite(values.astype(self.dtype)))
            if bad.size and (first is None or bad[0] < first[0]):
                value = values[bad[0]]
                first = bad[0], column, value.item() if isinstance(value, np.generic) else value
        if first is None:
            return "data is not finite"
        row, column, value = first
        kind = f"not finite in {self.dtype}" if np.isfinite(np.float64(value)) else "not finite"
        return f"{name(row)}, column {column!r} is {value!r} ({kind})"


def _compiled(function) -> bool:
    """A generated function (numba_driver's) has a compiled version in this process."""
    return bool(getattr(function, "compiled", None))

