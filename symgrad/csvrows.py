"""A CSV file read row by row with the csv module, where its numbers need more than a C
parser (symgrad.data): quoted fields that hold the delimiter or a line break, each row named
by the file's own line it starts on, and a quote never closed said so."""
from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Iterator

from .errors import SymgradError

if TYPE_CHECKING:
    from .data import CsvSource


def rows(source: "CsvSource", header) -> Iterator[tuple[str, list[str]]]:
    """(where, fields) for each data row, 'a.csv line 3' naming it; blank lines skipped,
    SymgradError for a row with the wrong number of fields, or where the file ends inside a
    quoted field (the csv module reads '"7' on the last line as 7)."""
    reader = csv.reader(io.StringIO(source.text, newline=""), delimiter=source.delimiter)
    first, where = 2, source.name  # the line a row starts on: a quoted field may run over
    try:                           # several
        next(reader, None)
        first = reader.line_num + 1
        for fields in reader:
            where, first = f"{source.name} line {first}", reader.line_num + 1
            if not fields or len(fields) == 1 and not fields[0].strip():  # a blank line
                continue
            if len(fields) != len(header):
                raise SymgradError(f"{where}: {len(fields)} fields, expected {len(header)}"
                                   f"{_unclosed(fields)}")
            yield where, fields
        if source.text.count('"') % 2 and _ends_quoted(source):  # ('"7' read as 7)
            raise SymgradError(f"{where}: a quote is never closed")
    except csv.Error as err:  # a field over csv.field_size_limit(), say
        raise SymgradError(f"{source.name} line {first}: {err} (a quote never closed?)") \
            from None


def _ends_quoted(source: "CsvSource") -> bool:
    """Whether the file ends inside a quoted field (a quote in an unquoted one is text)."""
    try:
        for _ in csv.reader(io.StringIO(source.text, newline=""), strict=True,
                            delimiter=source.delimiter):
            pass
    except csv.Error as err:
        return "unexpected end of data" in str(err)
    return False


def _unclosed(fields) -> str:
    """A hint when a field holds line breaks: most likely a quote never closed."""
    return "; a quoted field runs over several lines (a quote never closed?)" \
        if any("\n" in f or "\r" in f for f in fields) else ""
