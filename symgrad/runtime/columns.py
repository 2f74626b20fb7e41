"""How a kernel reads its data: a 2-D array (its columns as views, or a copy of the kernel's
dtype), a mapping name -> 1-D array, or a data frame read by column name; masked cells and
non-numeric columns refused. ``Reading`` decides when float32 data are widened for a float64
kernel. Used by ``Kernel`` (symgrad.runtime.kernel) and the scikit-learn estimators."""
from __future__ import annotations

import math
import numbers
import time
from collections.abc import Mapping

import numpy as np

from ..errors import SymgradError, listed

WIDENING_BUDGET = 0.25  # seconds: about what compiling a float64 kernel's float32 version takes


def data_row(index: int) -> str:
    """Where row ``index`` of the data is, as a message says it: 'data row 2' (from 0)."""
    return f"data row {index}"


def by_name(data):
    """A data frame (pandas, polars: ``columns`` and columns by name) as the mapping of its
    columns, read by name as a dict is; its column order says nothing (it was read by
    position, silently wrong for a frame ordered y, x). Anything else as it is."""
    names = getattr(data, "columns", None)
    if names is None or isinstance(data, np.ndarray) or not hasattr(data, "__getitem__"):
        return data
    names = [str(n) for n in names]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise SymgradError(f"the data frame has two columns named {twice!r}")
    return {name: np.asarray(data[key]) for name, key in zip(names, data.columns)}


def mapping_columns(data: Mapping, names: list[str], reading):
    missing = [n for n in names if n not in data]
    if missing:
        raise SymgradError(f"data has no column {missing[0]!r}")
    columns = [_as_float_column(data[n], n, reading) for n in names]
    lengths = {len(c) for c in columns}
    if len(lengths) > 1:
        raise SymgradError(f"data columns differ in length: {sorted(lengths)}")
    n = lengths.pop() if lengths else _first_length(data)
    return _require_rows(n), columns


def _first_length(data: Mapping) -> int:
    for values in data.values():
        return len(values)
    raise SymgradError("data is empty")


def array_columns(data, inputs, wanted, reading):
    array = np.asarray(unmasked(data, "data", inputs))
    if array.ndim != 2:
        raise SymgradError(f"data must be 2-D (rows x columns); got shape {array.shape}")
    array = reading(array, "data")
    width = array.shape[1]
    if width != len(inputs):
        raise SymgradError(f"data has {width} columns; expected {len(inputs)} "
                           f"({listed(inputs)})")
    return _require_rows(array.shape[0]), [array[:, j] for j in wanted], array


def matrix(array, columns) -> np.ndarray:
    """The data columns of one inner product, rows x entries: a view where they are adjacent
    and in order (the features before or after the target), else a copy."""
    first = columns[0]
    if list(columns) == list(range(first, first + len(columns))):
        return array[:, first:first + len(columns)]
    return np.ascontiguousarray(array[:, list(columns)])


def _as_float_column(values, name, reading):
    column = np.asarray(unmasked(values, f"data column {name!r}"))
    if column.ndim != 1:
        raise SymgradError(f"data column {name!r} must be 1-D; got shape {column.shape}")
    return reading(column, name)


def unmasked(values, what: str, names=()):
    """values, refused if a numpy masked array with a masked cell (np.asarray would read the
    value under the mask as data); ``names``: a 2-D array's columns."""
    if np.ma.isMaskedArray(values) and np.ma.getmaskarray(values).any():
        row, *column = np.argwhere(np.ma.getmaskarray(values))[0]
        where = f"row {row}" + (f", column {names[column[0]]!r}"
                                if column and column[0] < len(names) else "")
        raise SymgradError(f"{what} has masked cells ({where} first): fill them "
                           f"(.filled(value)) or drop their rows")
    return values


class Reading:
    """How a kernel takes a data array: of its dtype, in place; of another numeric type, as a
    copy of its dtype. Except float32 data for a float64 kernel: Numba would compile a version
    of each function for float32 arrays on their first call (0.2-0.45 s), so they are widened
    to a float64 copy (the same values) until this kernel's copies have cost WIDENING_BUDGET
    seconds, and read in place after that. A ski rental: a first call never waits for that
    compile, and a long run on large float32 data pays at most about twice the better choice.
    Once compiled (and cached), that version serves the calls that read in place."""

    def __init__(self, dtype):
        self.dtype, self.widening = np.dtype(dtype), 0.0  # seconds spent widening float32

    def __call__(self, array, what: str):
        widen = array.dtype == np.float32 and self.dtype == np.float64
        if widen and self.widening >= WIDENING_BUDGET:
            return array
        start = time.perf_counter()
        readable = _readable(array, what, self.dtype)
        if widen:
            self.widening += time.perf_counter() - start
        return readable


def _readable(array, what, dtype):
    """The array itself if of dtype, else a copy of dtype (refused if not numeric)."""
    if array.dtype == dtype:
        return array
    if np.iscomplexobj(array):
        raise SymgradError(f"{what} is complex (dtype {array.dtype}); symgrad computes in "
                           f"real numbers")
    if array.dtype.kind in "mM":  # (astype reads them as int64 nanoseconds: a loss of 1e36)
        held = "dates" if array.dtype.kind == "M" else "durations"
        raise SymgradError(f"{what} holds {held} (dtype {array.dtype}); give numbers (days or "
                           f"seconds since a start, say)")
    try:
        with np.errstate(over="ignore"):  # float64 beyond float32's range: inf, reported
            return array.astype(dtype)    # by the data check
    except (TypeError, ValueError):
        raise SymgradError(f"{what} is not numeric (dtype {array.dtype})") from None


def _require_rows(n: int) -> int:
    if n == 0:
        raise SymgradError("data has no rows")
    return n


def checked_theta(theta, params, dtype, what: str = "theta") -> np.ndarray:
    """``theta`` as a 1-D array of ``dtype`` with one real, finite number per parameter (in
    ``dtype``'s range: 1e39 is refused for float32, not cast to inf), or a SymgradError
    naming the first that is not."""
    try:
        given = np.asarray(theta)
    except (TypeError, ValueError, OverflowError):
        given = np.asarray(None)
    if given.dtype.kind == "O" and given.size and all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in given.flat):
        given = np.array([_float(v) for v in given.flat]).reshape(given.shape)  # 10**400
    if given.dtype.kind not in "biuf":
        kind = "complex numbers" if given.dtype.kind == "c" else "not numbers"
        raise SymgradError(f"{what} must be real numbers, one per parameter "
                           f"({listed(params)}); got {kind}")
    values = given.astype(np.float64)
    if values.ndim != 1 or values.shape[0] != len(params):
        raise SymgradError(f"{what} has shape {values.shape}; expected ({len(params)},) for "
                           f"params {listed(params)}")
    most = float(np.finfo(dtype).max)
    outside = ~(np.abs(values) <= most)
    if outside.any():
        bad = int(np.flatnonzero(outside)[0])
        beyond = f", beyond {np.dtype(dtype).name}'s range (about {most:.2g})" \
            if np.isfinite(values[bad]) else ""
        raise SymgradError(f"{what}[{bad}] ({params[bad]}) is {values[bad]:g}{beyond}")
    return values.astype(dtype)


def _float(value) -> float:
    """A Python number as a float64: inf where it is an int beyond float64's range."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf
