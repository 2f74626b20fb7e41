"""CSV reading and writing with validation: a C parser for the numbers, errors by line and column.

A file is read from disk once: ``open_csv(path)`` gives a ``CsvSource`` (its name and bytes),
and ``read_header``, ``read_csv`` and ``read_labels`` each take one in place of a path, so a job
that needs a file's header, numbers and labels opens it once (a FIFO or a shell's ``<(...)``
can be read only once). Given a path, each of them opens the file itself::

    source = open_csv(path)
    header = read_header(source)
    table = read_csv(source, ["x", "y"])
    labels = read_labels(source, "species")

The numbers go through a C parser: for a file of 16 MiB or more, pyarrow's multithreaded CSV
reader when the optional ``csv`` extra is installed (about 1 s for 1,000,000 x 17 here), else
``numpy.loadtxt`` (about 5 s). A smaller file always goes to numpy: importing pyarrow (and the
pandas it pulls in) takes 0.4-0.5 s, longer than numpy takes to parse 16 MiB. Whatever pyarrow
refuses goes to numpy, which accepts a little more (spaces around numbers). Every line must have
the header's number of fields. Only when something is wrong does a slow ``csv`` scan run, to
name the first bad cell exactly: ``a.csv line 3, column y: 'abc' is not a number``. A number is
an ASCII decimal float (sign, digits, fraction, exponent; not '1_000' or other scripts' digits).
Lines are the file's own line numbers (the header is line 1). Non-finite values (nan, inf) are
refused the same way, and values beyond the range of a float32 model (``read_csv(...,
dtype='float32')``); blank lines are skipped; the text is UTF-8, with or without a BOM.

The delimiter is the source's: a comma, or a tab for a file named ``*.tsv``, unless given
(``open_csv(path, delimiter=";")``, the CLI's ``--delimiter``). The error that a column is
not found names a column one edit away, or the option that reads a header of one column that
holds another likely delimiter (a tab, ';', '|').
"""
from __future__ import annotations

import csv
import importlib.util
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Sequence

import numpy as np

from . import csvrows
from .errors import SymgradError, listed
from .recipe import ColumnIndex

DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
NOT_FINITE = re.compile(r"[+-]?(?:inf|infinity|nan)", re.IGNORECASE)  # as float() spells them
LINE_END = re.compile(rb"\r\n?|\n")
OTHER_DELIMITERS = ("\t", ";", "|")
PYARROW_FROM_BYTES = 16 << 20  # smaller files parse in numpy faster than pyarrow imports
NOT_DELIMITERS = set('".+-_`\'\\') | {"\r", "\n"}


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


@dataclass(frozen=True)
class CsvSource:
    """A CSV file's contents, read once: what the readers here take in place of a path."""
    name: str    # the file as the user named it
    data: bytes = field(repr=False)  # the file as read (UTF-8, perhaps with a BOM)
    delimiter: str = ","

    @cached_property
    def text(self) -> str:
        """The whole file as text, a BOM removed (decoded on first use)."""
        return _decoded(self.name, self.data)

    @property
    def first_line(self) -> str:
        """Line 1 as text, with its line end ('' for an empty file)."""
        end = LINE_END.search(self.data)
        return _decoded(self.name, self.data[:end.end()] if end else self.data)


def default_delimiter(path: str) -> str:
    """A tab for a file named *.tsv (any case), else a comma."""
    return "\t" if str(path).lower().endswith(".tsv") else ","


def checked_delimiter(delimiter: str | None, path: str = "") -> str:
    """The delimiter to read ``path`` with: as given ('tab' and '\\t' mean a tab), else the
    file name's default; SymgradError for one that cannot separate numbers."""
    if delimiter is None:
        return default_delimiter(path)
    delimiter = {"tab": "\t", "\\t": "\t"}.get(delimiter.lower(), delimiter)
    if len(delimiter) != 1 or delimiter.isalnum() or delimiter in NOT_DELIMITERS:
        raise SymgradError(f"--delimiter must be one character that is not part of a number "
                           f"or a quote (',', ';', '|', 'tab', ...), got {delimiter!r}")
    return delimiter


def open_csv(path: str, delimiter: str | None = None) -> CsvSource:
    """Read a CSV file (a FIFO too) once, else SymgradError; ``delimiter``: checked_delimiter."""
    delimiter = checked_delimiter(delimiter, path)
    try:
        with open(path, "rb") as handle:
            return CsvSource(name=path, data=handle.read(), delimiter=delimiter)
    except FileNotFoundError:
        raise SymgradError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SymgradError(f"{path} is a directory, not a CSV file") from None
    except OSError as err:
        raise SymgradError(f"{path}: {err.strerror}") from None


def _source(source: str | CsvSource) -> CsvSource:
    return source if isinstance(source, CsvSource) else open_csv(source)


def first_line_of(path: str) -> CsvSource:
    """Line 1 of a file, read alone, as a source (its delimiter by its name)."""
    try:
        with open(path, "rb") as handle:
            return CsvSource(name=path, data=handle.readline(),
                             delimiter=default_delimiter(path))
    except OSError:
        return open_csv(path)  # the same one-line error open_csv gives


def _decoded(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SymgradError(f"{name} is not UTF-8 text") from None


def read_header(source: str | CsvSource) -> tuple[str, ...]:
    """The column names of a CSV file (its first line; given a path, only that line is read,
    so the driver of a Dask run does not read whole partitions)."""
    source = first_line_of(source) if isinstance(source, str) else source
    first, name = source.first_line, source.name
    if not first.strip():
        raise SymgradError(f"{name} is empty" if not first else f"{name} line 1 is empty")
    try:
        header = tuple(cell.strip() for cell in
                       next(csv.reader([first], delimiter=source.delimiter)))
    except csv.Error as err:  # a name over csv.field_size_limit(), say
        raise SymgradError(f"{name} line 1: {err}") from None
    if any(not cell for cell in header):
        raise SymgradError(f"{name} line 1: empty column name")
    repeated = sorted(n for n, count in Counter(header).items() if count > 1)
    if repeated:
        raise SymgradError(f"{name} line 1: column {repeated[0]!r} appears twice")
    return header


def read_csv(source: str | CsvSource, numeric: Sequence[str], dtype: str = "float64") -> Table:
    """The named columns of a CSV file as float64 arrays; SymgradError on any bad input, a
    value beyond ``dtype``'s range (float32: what the model computes in) among them."""
    source = _source(source)
    header = read_header(source)
    _require_columns(source, header, numeric)
    twice = [n for n, count in Counter(numeric).items() if count > 1]
    if twice:
        raise SymgradError(f"{source.name}: column {twice[0]!r} is asked for twice "
                           f"(a feature listed twice, or the target as a feature)")
    usecols = [header.index(n) for n in numeric]
    values = _numbers(source, header, usecols)
    if values.shape[0] == 0:
        raise SymgradError(f"{source.name} has a header but no data rows")
    largest = float(np.finfo(dtype).max)
    if values.size and not -largest <= values.min() <= values.max() <= largest:  # nan, inf
        _raise_first_error(source, header, usecols, dtype)
    columns = {name: np.ascontiguousarray(values[:, j]) for j, name in enumerate(numeric)}
    return Table(name=source.name, header=header, columns=columns, rows=values.shape[0])


def _require_columns(source: CsvSource, header, names) -> None:
    missing = [n for n in names if n not in header]
    if missing:
        raise SymgradError(no_column(source, header, missing[0]))


def no_column(source: CsvSource, header, name: str, what: str = "column") -> str:
    """'a.csv has no column 'y' (columns: ...)', with a column one edit or a case away, the
    delimiter that would read a header of one column holding a tab, ';' or '|', or that the
    file looks like JSON (a PARAMS.json given as the data)."""
    message = f"{source.name} has no {what} {name!r} (columns: {listed(header)})"
    if close := ColumnIndex(header).close_to(name):
        message += f"; did you mean {close!r}?"
    others = [d.replace("\t", "tab") for d in OTHER_DELIMITERS
              if d != source.delimiter and d in header[0]]
    if len(header) == 1 and others:
        return f"{message}; its header reads as one column: read it with --delimiter '{others[0]}'"
    if header and header[0].lstrip().startswith(("{", "[")):
        return f"{message}; it looks like JSON (a PARAMS.json?), not a CSV file"
    return message


def _numbers(source: CsvSource, header, usecols) -> np.ndarray:
    """The usecols of every data row (rows x len(usecols)); no columns: only the rows counted."""
    if not usecols:
        return np.empty((sum(1 for _ in csvrows.rows(source, header)), 0))
    # pyarrow read a large file with a quote never closed with rows missing: quotes go to
    # the csv module (_read_quoted), which counts every row's fields
    large = len(source.data) >= PYARROW_FROM_BYTES and b'"' not in source.data
    reader = _read_pyarrow if large and importlib.util.find_spec("pyarrow") else _read_numpy
    return reader(source, header, usecols)


def _read_numpy(source: CsvSource, header, usecols) -> np.ndarray:
    if '"' in source.text:
        return _read_quoted(source, header, usecols)
    lines = _data_lines(source)
    if not lines:
        return np.empty((0, len(usecols)))
    comma = source.delimiter
    if any(line.count(comma) != len(header) - 1 for line in lines):
        _raise_first_error(source, header, usecols)
    try:
        values = np.loadtxt(lines, delimiter=comma, usecols=usecols, dtype=np.float64,
                            ndmin=2, comments=None)
    except ValueError:
        _raise_first_error(source, header, usecols)
    if values.shape[0] != len(lines):
        _raise_first_error(source, header, usecols)
    return values.reshape(len(lines), len(usecols))


def _read_quoted(source: CsvSource, header, usecols) -> np.ndarray:
    """A file with quotes, read by the csv module: a quoted field may hold the delimiter or a
    line break, and every row's fields are counted as the csv module reads them (numpy's
    reader let a row with an extra quoted field shift the columns after it)."""
    rows = []
    for where, fields in csvrows.rows(source, header):
        cells = [fields[j].strip() for j in usecols]
        for j, cell in zip(usecols, cells):
            _check_cell(cell, f"{where}, column {header[j]}")
        rows.append([float(cell) for cell in cells])
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(usecols))


def _read_pyarrow(source: CsvSource, header, usecols) -> np.ndarray:
    import pyarrow as pa
    from pyarrow import csv as pacsv
    if importlib.util.find_spec("pandas"):  # else pyarrow's reader imports it, losing a stop
        import pandas  # noqa: F401                signal (Ctrl-C) that lands meanwhile

    names = [header[j] for j in usecols]
    try:
        table = pacsv.read_csv(
            pa.BufferReader(source.data),
            read_options=pacsv.ReadOptions(column_names=list(header), skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=source.delimiter),
            convert_options=pacsv.ConvertOptions(
                include_columns=names, column_types={n: pa.float64() for n in names}))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return _read_numpy(source, header, usecols)  # stricter about spaces; or names the error
    return np.column_stack([table.column(n).to_numpy() for n in names])


def _data_lines(source: CsvSource) -> list[str]:
    lines = re.split(r"\r\n|\r|\n", source.text)  # not str.splitlines: \x0b, \x0c, \x85 are data
    return [line for line in lines[1:] if line.strip()]


def line_of_row(source: CsvSource, index: int) -> str:
    """'a.csv line 7': where data row ``index`` (from 0, blank lines skipped) starts."""
    for row, (where, _) in enumerate(csvrows.rows(source, read_header(source))):
        if row == index:
            return where
    return f"{source.name} data row {index + 1}"


def _raise_first_error(source: CsvSource, header, usecols, dtype: str = "float64"):
    """Scan with the csv module and raise for the first bad row or cell."""
    raise _first_error(source, header, usecols, dtype) or SymgradError(
        f"{source.name}: could not read the numbers (no single bad cell found)")


def _first_error(source: CsvSource, header, usecols, dtype="float64") -> SymgradError | None:
    try:
        for where, fields in csvrows.rows(source, header):
            for j in usecols:
                _check_cell(fields[j].strip(), f"{where}, column {header[j]}", dtype)
    except SymgradError as error:
        return error
    return None


def _check_cell(cell: str, where: str, dtype: str = "float64") -> None:
    """SymgradError unless the cell is a finite ASCII decimal number, within dtype's range.
    One below float64's range (1e-400) reads as 0, its nearest float64, as numpy, pandas and
    pyarrow read it."""
    shown = repr(cell) if len(cell) <= 40 else f"{cell[:30]!r}... ({len(cell):,} characters)"
    if NOT_FINITE.fullmatch(cell):
        raise SymgradError(f"{where}: {shown} is not finite")
    if not DECIMAL.fullmatch(cell):
        raise SymgradError(f"{where}: {shown} is not a number")
    if not math.isfinite(float(cell)):  # beyond float64's range: 1e999
        raise SymgradError(f"{where}: {shown} is not finite")
    largest = float(np.finfo(dtype).max)
    if not abs(float(cell)) <= largest:
        raise SymgradError(f"{where}: {shown} is beyond {dtype}'s range (largest "
                           f"{largest:.3g}), which the model computes in")


def read_labels(source: str | CsvSource, column: str) -> list[str]:
    """The cells of one column as text (class labels), with surrounding spaces removed; each
    must be non-empty and on one line."""
    source = _source(source)
    header = read_header(source)
    _require_columns(source, header, [column])
    j = header.index(column)
    labels = []
    for where, fields in csvrows.rows(source, header):
        label = fields[j].strip()
        if not label:
            raise SymgradError(f"{where}, column {column}: empty label")
        if "\n" in label or "\r" in label:
            raise SymgradError(f"{where}, column {column}: the label {label!r} spans lines")
        labels.append(label)
    return labels

