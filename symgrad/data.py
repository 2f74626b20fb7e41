"""CSV loading with validation: a C parser for the numbers, errors by line and column.

The numbers go through a C parser: pyarrow's multithreaded CSV reader when the optional
``csv`` extra is installed (about 1 s for 1,000,000 x 17 here), else ``numpy.loadtxt`` (about
5 s); whatever pyarrow refuses goes to numpy, which accepts a little more (spaces around numbers). Every line must have the header's number of fields. Only when something is wrong does a
slow ``csv`` scan run, to name the first bad cell exactly:
``a.csv line 3, column y: 'abc' is not a number``. Lines are the file's own line numbers (the
header is line 1). Non-finite values (nan, inf) are refused the same way; blank lines are skipped.
"""
from __future__ import annotations

import csv
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import SymgradError


@dataclass(frozen=True)
class Table:
    name: str                       # the file as the user named it
    header: tuple[str, ...]
    columns: dict[str, np.ndarray]  # the columns that were asked for, float64
    rows: int

    def matrix(self, names: Sequence[str]) -> np.ndarray:
        """The named columns side by side, Fortran-ordered (each column contiguous)."""
        out = np.empty((self.rows, len(names)), order="F")
        for j, name in enumerate(names):
            out[:, j] = self.columns[name]
        return out


def read_header(path: str) -> tuple[str, ...]:
    """The column names of a CSV file (its first line)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            first = handle.readline()
    except FileNotFoundError:
        raise SymgradError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SymgradError(f"{path} is a directory, not a CSV file") from None
    except UnicodeDecodeError:
        raise SymgradError(f"{path} is not UTF-8 text") from None
    except OSError as err:
        raise SymgradError(f"{path}: {err.strerror}") from None
    if not first.strip():
        raise SymgradError(f"{path} is empty" if not first else f"{path} line 1 is empty")
    header = tuple(name.strip() for name in next(csv.reader([first])))
    if any(not name for name in header):
        raise SymgradError(f"{path} line 1: empty column name")
    repeated = sorted({n for n in header if header.count(n) > 1})
    if repeated:
        raise SymgradError(f"{path} line 1: column {repeated[0]!r} appears twice")
    return header


def read_csv(path: str, numeric: Sequence[str]) -> Table:
    """The named columns of a CSV file as float64 arrays; SymgradError on any bad input."""
    header = read_header(path)
    missing = [n for n in numeric if n not in header]
    if missing:
        raise SymgradError(f"{path} has no column {missing[0]!r} (columns: {', '.join(header)})")
    usecols = [header.index(n) for n in numeric]
    reader = _read_pyarrow if importlib.util.find_spec("pyarrow") else _read_numpy
    values = reader(path, header, usecols)
    if values.shape[0] == 0:
        raise SymgradError(f"{path} has a header but no data rows")
    if not np.isfinite(values).all():
        _raise_first_error(path, header, usecols)
    columns = {name: np.ascontiguousarray(values[:, j]) for j, name in enumerate(numeric)}
    return Table(name=path, header=header, columns=columns, rows=values.shape[0])


def _read_numpy(path, header, usecols) -> np.ndarray:
    lines = _data_lines(path)
    if not lines:
        return np.empty((0, len(usecols)))
    if '"' not in "".join(lines[:1000]) and any(l.count(",") != len(header) - 1 for l in lines):
        _raise_first_error(path, header, usecols)
    try:
        values = np.loadtxt(lines, delimiter=",", usecols=usecols, dtype=np.float64,
                            ndmin=2, comments=None, quotechar='"')
    except ValueError:
        _raise_first_error(path, header, usecols)
    if values.shape[0] != len(lines):
        _raise_first_error(path, header, usecols)
    return values.reshape(len(lines), len(usecols))


def _read_pyarrow(path, header, usecols) -> np.ndarray:
    import pyarrow as pa
    from pyarrow import csv as pacsv

    names = [header[j] for j in usecols]
    try:
        table = pacsv.read_csv(
            path, read_options=pacsv.ReadOptions(column_names=list(header), skip_rows=1),
            convert_options=pacsv.ConvertOptions(
                include_columns=names, column_types={n: pa.float64() for n in names}))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return _read_numpy(path, header, usecols)  # stricter about spaces; or names the error
    return np.column_stack([table.column(n).to_numpy() for n in names]) if names else \
        np.empty((table.num_rows, 0))


def _data_lines(path) -> list[str]:
    return [line for line in Path(path).read_text(encoding="utf-8-sig").splitlines()[1:]
            if line.strip()]


def _raise_first_error(path, header, usecols):
    """Scan with the csv module and raise for the first bad row or cell."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = csv.reader(handle)
        next(rows)
        for fields in rows:
            where = f"{path} line {rows.line_num}"
            if not fields:
                continue
            if len(fields) != len(header):
                raise SymgradError(f"{where}: {len(fields)} fields, expected {len(header)}")
            for j in usecols:
                _check_cell(fields[j].strip(), f"{where}, column {header[j]}")
    raise SymgradError(f"{path}: could not read the numbers (no single bad cell found)")


def _check_cell(cell: str, where: str) -> None:
    try:
        value = float(cell)
    except ValueError:
        raise SymgradError(f"{where}: {cell!r} is not a number") from None
    if not np.isfinite(value):
        raise SymgradError(f"{where}: {cell!r} is not finite")


def read_labels(path: str, column: str) -> list[str]:
    """The cells of one column as text (class labels), with surrounding spaces removed."""
    header = read_header(path)
    if column not in header:
        raise SymgradError(f"{path} has no column {column!r} (columns: {', '.join(header)})")
    j = header.index(column)
    labels = []
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = csv.reader(handle)
        next(rows)
        for fields in rows:
            if not fields:
                continue
            if len(fields) != len(header):
                raise SymgradError(f"{path} line {rows.line_num}: {len(fields)} fields, "
                                   f"expected {len(header)}")
            label = fields[j].strip()
            if not label:
                raise SymgradError(f"{path} line {rows.line_num}, column {column}: empty label")
            labels.append(label)
    return labels
