"""symgrad.compile: a model in, a fast ``f(theta, data) -> (loss, grad)`` out.

The front end of the code generator, as a pipeline:

    key material -> cache hit? -> module            (no derivation, no SymPy import)
                 -> miss: Model -> derive -> lower -> KernelSpec -> backend source -> module

and ``Kernel`` is the runtime wrapper: it validates theta and data, hands the kernel column
views (never copies), adds the per-chunk sums, checks the data were finite, and applies the
reduction. This module imports neither SymPy nor Numba at import time.
"""
from __future__ import annotations

import json
import math
import sys
import threading
from collections.abc import Mapping
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np

from .codegen import BACKENDS, backend_module, require_runtime
from .codegen.cache import cache_key, load_or_build
from .errors import SymgradError

REDUCTIONS = ("mean", "sum")
DTYPES = ("float64", "float32")
ROWS_PER_CHUNK = 16_384


def compile(loss, params=None, inputs=None, *, backend: str = "numba",
            reduction: str = "mean", dtype: str = "float64") -> "Kernel":
    """Compile a loss (SymPy expression, Model or string) into a gradient kernel.

    ``params`` and ``inputs`` are sequences of names or Symbols (taken from the Model when one
    is given). The result ``f(theta, data)`` returns (loss, grad); see ``Kernel``.
    """
    params, inputs = _names(loss, params, "params"), _names(loss, inputs, "inputs")
    return compile_keyed(_key_material(loss), lambda: loss, params, inputs, backend=backend,
                         reduction=reduction, dtype=dtype)


def compile_keyed(key_material: str, build_loss, params: list[str], inputs: list[str], *,
                  backend: str = "numba", reduction: str = "mean",
                  dtype: str = "float64") -> "Kernel":
    """``compile`` for callers that can name their loss without building it: ``key_material``
    identifies it, and ``build_loss()`` (a Model, expression or string) runs only on a cache
    miss, so a hit imports no SymPy."""
    _check_option("backend", backend, tuple(BACKENDS))
    _check_option("reduction", reduction, REDUCTIONS)
    _check_option("dtype", dtype, DTYPES)
    require_runtime(backend)
    key = cache_key(key_material, json.dumps([params, inputs]), backend, reduction, dtype)

    def build() -> str:
        from .codegen.printer import source_with_safe_names

        lowered = lower_model(build_loss(), params, inputs)
        module = backend_module(backend)

        def generate(renames) -> str:
            spec = kernel_spec(lowered, renames, reduction, dtype)
            try:
                source = module.module_source(spec)
            except NotImplementedError as err:  # SymPy's printers: a construct they lack
                raise SymgradError(f"the {backend} backend cannot compile "
                                   f"{_unprintable(err)}") from None
            return source + f"\nMETA = {spec.meta()!r}\n"
        return source_with_safe_names(lowered.symbols, generate)

    module, source, hit = load_or_build(backend, key, build)
    return Kernel(module, source, cache_hit=hit)


class Lowered(NamedTuple):
    """A model derived and lowered, in the user's own symbols (before any renaming)."""
    params: tuple[str, ...]
    inputs: tuple[str, ...]
    symbols: tuple                # the model's parameters, then its inputs
    gradient: object              # Program: loss, then the non-zero partials
    nonzero: tuple[int, ...]
    prediction: object | None     # Program of the prediction, or None


def lower_model(loss, params: list[str], inputs: list[str]) -> Lowered:
    """Model -> derive -> lower: the programs every backend prints."""
    from .model import Model, symbols_named
    from .program import lower, lower_values
    from .reverse import derive

    if isinstance(loss, Model):
        model = Model(loss=loss.loss, params=symbols_named(params, loss.loss),
                      inputs=symbols_named(inputs, loss.loss), prediction=loss.prediction,
                      target=loss.target)
    else:
        model = Model.of(loss, params, inputs)
    gradient = derive(model)
    nonzero = tuple(k for k, p in enumerate(gradient.partials) if p != 0)
    program = lower(gradient)
    program = type(program)(program.params, program.inputs, program.temps,
                            (program.loss, *(program.partials[k] for k in nonzero)))
    prediction = None
    if model.prediction is not None:
        outputs = model.prediction if isinstance(model.prediction, tuple) else \
            (model.prediction,)
        prediction = lower_values(model, outputs)
    return Lowered(tuple(params), tuple(inputs), (*model.params, *model.inputs), program,
                   nonzero, prediction)


def kernel_spec(lowered: Lowered, renames: dict, reduction="mean", dtype="float64"):
    """The KernelSpec a backend writes a module from: the programs with symbols renamed."""
    from .codegen.spec import KernelSpec

    program = _renamed(lowered.gradient, renames)
    prediction = columns = None
    if lowered.prediction is not None:
        prediction = _renamed(lowered.prediction, renames)
        columns = _used_columns(prediction)
    return KernelSpec(params=lowered.params, inputs=lowered.inputs, gradient=program,
                      nonzero=lowered.nonzero, columns=_used_columns(program),
                      prediction=prediction, prediction_columns=columns or (),
                      reduction=reduction, dtype=dtype)


@contextmanager
def kernel_call():
    """Around a call into a generated module.

    Numba's workqueue threading layer (its fallback where neither TBB nor OpenMP loads) aborts
    the process when two threads launch parallel kernels at once, so calls are serialized
    until the layer is known to be another one. A Numba compile error on a first call is a
    SymgradError naming what Numba refused (one line)."""
    try:
        if _THREAD_SAFE_LAYER:
            yield
            return
        with _PARALLEL_LOCK:
            yield
            _note_threading_layer()
    except Exception as err:
        numba = sys.modules.get("numba")
        if numba is not None and isinstance(err, numba.core.errors.NumbaError):
            raise SymgradError(f"Numba could not compile the kernel: {_first_line(err)}") \
                from None
        raise


def _first_line(err: Exception) -> str:
    import re
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()
    return next((line.strip() for line in text.splitlines() if line.strip()), type(err).__name__)


def _note_threading_layer() -> None:
    global _THREAD_SAFE_LAYER
    numba = sys.modules.get("numba")
    try:
        _THREAD_SAFE_LAYER = numba is not None and numba.threading_layer() != "workqueue"
    except ValueError:  # no parallel kernel has run yet
        pass


_PARALLEL_LOCK = threading.RLock()
_THREAD_SAFE_LAYER = False


class Kernel:
    """A compiled loss and gradient: ``f(theta, data) -> (loss_value, grad)``.

    ``theta``: 1-D, in ``params`` order. ``data``: a 2-D array (rows x len(inputs); float64 or
    float32; C-ordered, Fortran-ordered or strided, used in place) or a mapping name -> 1-D
    array. ``f.predict(theta, data)`` gives the model's output per row (Models with a
    prediction); ``f.source`` is the generated module.
    """

    def __init__(self, module, source: str, cache_hit: bool = False):
        self.module, self.source, self.cache_hit = module, source, cache_hit
        meta = module.META
        self.params: tuple[str, ...] = tuple(meta["params"])
        self.inputs: tuple[str, ...] = tuple(meta["inputs"])
        self.reduction: str = meta["reduction"]
        self.dtype = np.dtype(meta["dtype"])
        self._meta = meta

    def __repr__(self):
        return f"<symgrad Kernel params={list(self.params)} inputs={list(self.inputs)}>"

    def __call__(self, theta, data=None):
        theta = self._theta(theta)
        n, columns = self.columns(data)
        loss, grad, finite = self.evaluate(theta, n, columns)
        if not finite:
            raise SymgradError(self._non_finite_cell(data))
        return loss, grad

    def columns(self, data) -> tuple[int, list]:
        """(rows, the validated 1-D column views the gradient kernel reads)."""
        return self._columns(data, self._meta["columns"])

    def evaluate(self, theta: np.ndarray, n: int, columns) -> tuple[float, np.ndarray, bool]:
        """(loss, grad, data were finite) on validated columns: the training loop's call."""
        chunks = max(1, min(n // ROWS_PER_CHUNK, 64))
        with kernel_call():
            sums = self.module.loss_and_gradient(theta, n, chunks, *columns).sum(axis=0)
        scale = 1.0 / n if self.reduction == "mean" else 1.0
        grad = np.zeros(len(self.params), dtype=self.dtype)
        grad[self._meta["nonzero"]] = sums[1:-1] * scale
        return float(sums[0] * scale), grad, math.isfinite(sums[-1])

    @property
    def compiled_training(self) -> bool:
        """Whether the backend runs whole epochs in compiled code (``train_epochs``)."""
        return hasattr(self.module, "train_epochs")

    @property
    def on_device(self) -> bool:
        """Whether training runs on a GPU (the backend's module has a ``DeviceRun``)."""
        return hasattr(self.module, "DeviceRun")

    def device_run(self, columns, n: int, batch: int, optimizer, theta, mean: bool):
        """The device-side training state ``symgrad.train`` drives (see cuda_support)."""
        return self.module.DeviceRun(self.module, columns, n, batch, optimizer, theta, mean)

    def predict(self, theta, data=None) -> np.ndarray:
        """The model's prediction for every row of data: shape (rows,), or (rows, outputs)
        for a model with several outputs (a network's last layer)."""
        if not self._meta["has_prediction"]:
            raise SymgradError("this kernel was compiled from a bare loss; compile a Model "
                               "with a prediction to predict")
        n, columns = self._columns(data, self._meta["prediction_columns"], for_prediction=True)
        with kernel_call():
            values = self.module.predict(self._theta(theta), n, *columns)
        return values[:, 0] if values.shape[1] == 1 else values

    def _theta(self, theta) -> np.ndarray:
        try:
            theta = np.asarray(theta, dtype=np.float64)
        except (TypeError, ValueError):
            raise SymgradError(f"theta must be numbers, one per parameter "
                               f"({', '.join(self.params)})") from None
        if theta.ndim != 1 or theta.shape[0] != len(self.params):
            raise SymgradError(f"theta has shape {theta.shape}; expected ({len(self.params)},) "
                               f"for params {', '.join(self.params)}")
        bad = np.flatnonzero(~np.isfinite(theta))
        if bad.size:
            raise SymgradError(f"theta[{bad[0]}] ({self.params[bad[0]]}) is {theta[bad[0]]}")
        return theta

    def _columns(self, data, wanted, for_prediction=False):
        """(rows, the 1-D column views the kernel reads)."""
        if data is None:
            if self.inputs:
                raise SymgradError(f"data is required: columns {', '.join(self.inputs)}")
            return 1, []
        if isinstance(data, Mapping):
            return _mapping_columns(data, [self.inputs[j] for j in wanted])
        return _array_columns(data, self.inputs, wanted, for_prediction)

    def _non_finite_cell(self, data) -> str:
        columns = data if isinstance(data, Mapping) else \
            {name: np.asarray(data)[:, j] for j, name in enumerate(self.inputs)}
        for j in self._meta["columns"]:
            name = self.inputs[j]
            values = np.asarray(columns[name])
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                return f"data row {bad[0]}, column {name!r} is {values[bad[0]]} (not finite)"
        return "data is not finite"


def _mapping_columns(data: Mapping, names: list[str]):
    missing = [n for n in names if n not in data]
    if missing:
        raise SymgradError(f"data has no column {missing[0]!r}")
    columns = [_as_float_column(data[n], n) for n in names]
    lengths = {len(c) for c in columns}
    if len(lengths) > 1:
        raise SymgradError(f"data columns differ in length: {sorted(lengths)}")
    n = lengths.pop() if lengths else _first_length(data)
    return _require_rows(n), columns


def _first_length(data: Mapping) -> int:
    for values in data.values():
        return len(values)
    raise SymgradError("data is empty")


def _array_columns(data, inputs, wanted, for_prediction):
    array = np.asarray(data)
    if array.ndim != 2:
        raise SymgradError(f"data must be 2-D (rows x columns); got shape {array.shape}")
    if array.dtype not in (np.float64, np.float32):
        array = _as_float(array, "data")
    width = array.shape[1]
    if width != len(inputs):
        raise SymgradError(f"data has {width} columns; expected {len(inputs)} "
                           f"({', '.join(inputs)})")
    return _require_rows(array.shape[0]), [array[:, j] for j in wanted]


def _as_float_column(values, name):
    column = np.asarray(values)
    if column.ndim != 1:
        raise SymgradError(f"data column {name!r} must be 1-D; got shape {column.shape}")
    return column if column.dtype in (np.float64, np.float32) else _as_float(column, name)


def _as_float(array, what):
    if np.iscomplexobj(array):
        raise SymgradError(f"{what} is complex (dtype {array.dtype}); symgrad computes in "
                           f"real numbers")
    try:
        return array.astype(np.float64)
    except (TypeError, ValueError):
        raise SymgradError(f"{what} is not numeric (dtype {array.dtype})") from None


def _require_rows(n: int) -> int:
    if n == 0:
        raise SymgradError("data has no rows")
    return n


def _check_option(name, value, allowed):
    if value not in allowed:
        raise SymgradError(f"unknown {name} {value!r} (choose from {', '.join(allowed)})")


def _names(loss, names, what) -> list[str]:
    from_model = getattr(loss, what, None)
    if names is None:
        if from_model is None:
            raise SymgradError(f"{what} is required unless loss is a Model")
        names = from_model
    if isinstance(names, str):
        raise SymgradError(f"{what} must be a sequence of names, not the string {names!r}")
    return [str(n) for n in names]


def _key_material(loss) -> str:
    if isinstance(loss, str):
        return "text:" + " ".join(loss.split())
    import sympy as sp  # the caller built SymPy objects, so SymPy is already imported

    from .model import sympified

    model_fields = ("loss", "prediction", "target")
    if all(hasattr(loss, f) for f in model_fields):
        return "model:" + "|".join(sp.srepr(getattr(loss, f)) for f in model_fields)
    return "expr:" + sp.srepr(sympified(loss, "the loss"))


def _unprintable(err: NotImplementedError) -> str:
    """The construct a SymPy printer refused, from its message ('Unsupported by <class ...>:
    DiracDelta' or ': <class 'sympy...Derivative'>')."""
    first = str(err).splitlines()[0] if str(err) else type(err).__name__
    construct = first.rsplit(": ", 1)[-1]
    return construct.removeprefix("<class '").removesuffix("'>").rsplit(".", 1)[-1]


def _renamed(program, renames):
    if not renames:
        return program
    sub = lambda e: e.xreplace(renames)  # noqa: E731
    return type(program)(tuple(sub(p) for p in program.params),
                         tuple(sub(s) for s in program.inputs),
                         tuple((t, sub(e)) for t, e in program.temps),
                         tuple(sub(e) for e in program.outputs))


def _used_columns(program) -> tuple[int, ...]:
    used = set().union(*(e.free_symbols for _, e in program.temps),
                       *(e.free_symbols for e in program.outputs))
    return tuple(j for j, s in enumerate(program.inputs) if s in used)
