"""CSV loading, both readers (numpy.loadtxt and pyarrow): values, and every bad input named
by file, line and column; one source read once serves header, numbers and labels (a FIFO
works); rows split only at line ends; a 50,000-column header read in linear time."""
import signal
import time

import numpy as np
import pytest

from symgrad import SymgradError
from symgrad import data as csvdata
from support import cli, fifo, one_line_error


GOOD = [
    ("x,y\n1,2\n3,4\n", {"x": [1, 3], "y": [2, 4]}),
    ("x, y\n1, 2\n3 ,4\n", {"x": [1, 3], "y": [2, 4]}),                  # spaces
    ("\ufeffx,y\n1,2\n", {"x": [1], "y": [2]}),                           # BOM
    ("x,y\n1,2\n\n3,4\n\n", {"x": [1, 3], "y": [2, 4]}),                  # blank lines
    ('x,y,name\n1,2,"a, b"\n3,4,c\n', {"x": [1, 3], "y": [2, 4]}),        # quoted text column
    ("x,y\n1e-3,-2.5E2\n0.1,7\n", {"x": [1e-3, 0.1], "y": [-250, 7]}),
    ('x,name,y\n1,"a\nb",2\n2,cd,3\n', {"x": [1, 2], "y": [2, 3]}),     # a line break, quoted
    ('x,name,y\r\n1,"a\r\nb",2\r\n2,cd,3\r\n', {"x": [1, 2], "y": [2, 3]}),
    ('x,y\n"1.5",2\n3," 4"\n', {"x": [1.5, 3], "y": [2, 4]}),            # quoted numbers
    ("x,y\n0e-500,1e-320\n1,1e-400\n", {"x": [0, 1], "y": [1e-320, 0]}),  # nearest float64s
]


@pytest.mark.parametrize("content, expected", GOOD, ids=range(len(GOOD)))
def test_reads_the_numbers(tmp_path, reader, content, expected):
    path = tmp_path / "a.csv"
    path.write_text(content, encoding="utf-8")
    table = csvdata.read_csv(str(path), ["x", "y"])
    assert table.rows == len(expected["x"])
    for name, values in expected.items():
        np.testing.assert_array_equal(table.columns[name], values)
    assert table.matrix(["y", "x"]).flags.f_contiguous


BAD = [
    ("x,y\n1,2\n2,abc\n", "a.csv line 3, column y: 'abc' is not a number"),
    ("x,y\n1,2\n2\n", "a.csv line 3: 1 fields, expected 2"),
    ("x,y\n1,2,3\n", "a.csv line 2: 3 fields, expected 2"),
    ("x,y\n1,nan\n", "a.csv line 2, column y: 'nan' is not finite"),
    ("x,y\n1,2\n-inf,2\n", "a.csv line 3, column x: '-inf' is not finite"),
    ("x,y\n1,\n", "a.csv line 2, column y: '' is not a number"),
    ("", "a.csv is empty"),
    ("x,y\n", "a.csv has a header but no data rows"),
    ("x,x\n1,2\n", "a.csv line 1: column 'x' appears twice"),
    ("x,,y\n1,2,3\n", "a.csv line 1: empty column name"),
    ("x,z\n1,2\n", "a.csv has no column 'y' (columns: x, z)"),
    # strict cells: what float() alone would accept is named
    ("x,y\n1,2\n1_000,4\n", "a.csv line 3, column x: '1_000' is not a number"),
    ("x,y\n1,2\n\u0661\u0662\u0663,4\n",  # Arabic-Indic digits
     "a.csv line 3, column x: '\u0661\u0662\u0663' is not a number"),
    ("x,y\n1,\uff11\n", "a.csv line 2, column y: '\uff11' is not a number"),  # fullwidth 1
    ("x,y\n1,0x10\n", "a.csv line 2, column y: '0x10' is not a number"),
    ("x,y\n1,Infinity\n", "a.csv line 2, column y: 'Infinity' is not finite"),
    ("x,y\n+NaN,1\n", "a.csv line 2, column x: '+NaN' is not finite"),
    ("x,y\n1,1e999\n", "a.csv line 2, column y: '1e999' is not finite"),
    ("x,y\n.5,5.\n+1E+2,-0\n-.25e-1,7\n2,abc\n", "a.csv line 5, column y: 'abc' is not a number"),
    # with quotes in the file, every row's fields are still counted (none shift the columns)
    ('x,y,note\n1,2,"ok"\n3,"4",extra,6\n', "a.csv line 3: 4 fields, expected 3"),
    ('x,y,z\n"1",2\n', "a.csv line 2: 2 fields, expected 3"),
    ('x,y\n"1",2\n,\n', "a.csv line 3, column x: '' is not a number"),
    ('x,y\n1,2\n"2,4\n3,6\n', "a.csv line 3: 1 fields, expected 2; a quoted field runs over "
                              "several lines (a quote never closed?)"),
    ('x,y\n1,2\n2,"7\n', "a.csv line 3: a quote is never closed"),  # (read as 7)
    ('x,y\n1,2\n2,"7', "a.csv line 3: a quote is never closed"),
]


@pytest.mark.parametrize("content, message", BAD, ids=[m for _, m in BAD])
def test_bad_input_names_file_line_and_column(tmp_path, reader, content, message):
    path = tmp_path / "a.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SymgradError) as info:
        csvdata.read_csv(str(path), ["x", "y"])
    assert str(info.value) == str(tmp_path / message)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(SymgradError, match="no such file"):
        csvdata.read_csv(str(tmp_path / "nope.csv"), ["x"])
    with pytest.raises(SymgradError, match="is a directory"):
        csvdata.read_csv(str(tmp_path), ["x"])


def test_columns_not_asked_for_may_hold_anything(tmp_path, reader):
    path = tmp_path / "a.csv"
    path.write_text("label,x\ncat,1\ndog,2\n")
    assert list(csvdata.read_csv(str(path), ["x"]).columns["x"]) == [1.0, 2.0]


def test_open_csv_names_what_is_wrong(tmp_path):
    with pytest.raises(SymgradError, match="no such file"):
        csvdata.open_csv(str(tmp_path / "nope.csv"))
    with pytest.raises(SymgradError, match="is a directory"):
        csvdata.open_csv(str(tmp_path))
    for content in (b"x,\xe9\n1,2\n", b"x,y\n1,\xe9\n"):
        (tmp_path / "latin1.csv").write_bytes(content)
        with pytest.raises(SymgradError, match="latin1.csv is not UTF-8 text"):
            csvdata.read_csv(str(tmp_path / "latin1.csv"), ["x", "y"])


def test_one_source_serves_header_numbers_and_labels(tmp_path):
    text = "\ufeffx,cls\n1,a\n\n2,b\n"
    with fifo(tmp_path / "d.fifo", text) as path:
        source = csvdata.open_csv(str(path))
        assert csvdata.read_header(source) == ("x", "cls")
        assert csvdata.read_csv(source, ["x"]).columns["x"].tolist() == [1.0, 2.0]
        assert csvdata.read_labels(source, "cls") == ["a", "b"]
    assert source.name == str(path) and csvdata.read_csv(source, ["x"]).name == str(path)


def test_ascii_decimal_spellings_are_read(tmp_path, reader):
    path = tmp_path / "a.csv"
    path.write_text("x,y\n.5,5.\n+1E+2,-0\n-.25e-1,7\n")
    table = csvdata.read_csv(str(path), ["x", "y"])
    assert table.columns["x"].tolist() == [0.5, 100.0, -0.025]
    assert table.columns["y"].tolist() == [5.0, 0.0, 7.0]


def test_a_label_on_two_lines_is_refused(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('x,cls\n1,a\n2,"b\nc"\n')
    with pytest.raises(SymgradError, match=r"line 3, column cls: the label 'b\\nc' spans lines"):
        csvdata.read_labels(str(path), "cls")


def test_reading_no_column_counts_the_rows(tmp_path, reader):
    path = tmp_path / "a.csv"
    path.write_text("x,y\n1,abc\n\n2,3\n")
    table = csvdata.read_csv(str(path), [])
    assert table.rows == 2 and table.columns == {} and table.matrix([]).shape == (2, 0)
    assert np.array_equal(csvdata.read_csv(str(path), ["x"]).columns["x"], [1.0, 2.0])


def test_rows_split_only_at_line_ends(tmp_path):
    path = tmp_path / "vt.csv"
    path.write_text("x,y\n1,2\x0b3,4\n5,6\n")
    one_line_error(cli("train", path, "--model", "w*x", "--target", "y", "--backend", "numpy"),
                   "line 2: 3 fields, expected 2")


def test_a_header_of_50000_columns_reads_in_linear_time(tmp_path):
    from symgrad.data import read_header
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(50_000)) + "\n" + ",".join("1" * 50_000))
    started = time.monotonic()
    assert len(read_header(str(path))) == 50_000 and time.monotonic() - started < 2.0


def test_a_small_file_is_read_without_importing_pyarrow(tmp_path):
    """Importing pyarrow (and pandas) takes longer than numpy takes to parse a small file."""
    import subprocess
    import sys
    path = tmp_path / "small.csv"
    path.write_text("x,y\n1,2\n3,4\n")
    code = ("import sys\nfrom symgrad import data\n"
            f"print(data.read_csv({str(path)!r}, ['x', 'y']).matrix(['x', 'y']).tolist(), "
            "sorted({'pyarrow', 'pandas'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[[1.0,", "2.0],", "[3.0,", "4.0]]", "[]"]


def test_a_stop_while_pandas_is_first_imported_for_pyarrow_is_not_lost(tmp_path):
    """pyarrow's reader imports pandas in C code that drops a KeyboardInterrupt raised
    meanwhile (the run went on); symgrad imports it first, where the stop propagates."""
    import subprocess
    import sys
    pytest.importorskip("pyarrow")
    pytest.importorskip("pandas")
    path = tmp_path / "a.csv"
    path.write_text("x,y\n1,2\n3,4\n")
    code = f"""
import importlib.abc, os, signal, sys
from symgrad import data, stopping
data.PYARROW_FROM_BYTES = 0
class SignalOnPandas(importlib.abc.MetaPathFinder):  # SIGTERM as pandas starts importing
    def find_spec(self, name, path, target=None):
        if name == "pandas.core":
            os.kill(os.getpid(), signal.SIGTERM)
sys.meta_path.insert(0, SignalOnPandas())
try:
    with stopping.stop_signals_raise():
        data.read_csv({str(path)!r}, ["x", "y"])
    print("read on")
except stopping.Stopped as stop:
    print("stopped", stop.signum)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["stopped", str(int(signal.SIGTERM))], out


def test_a_large_file_with_a_quote_never_closed_loses_no_row(tmp_path, monkeypatch):
    """pyarrow read such a file (past PYARROW_FROM_BYTES) with rows missing; a file with a
    quote is read by the csv module whatever its size."""
    monkeypatch.setattr(csvdata, "PYARROW_FROM_BYTES", 0)
    path = tmp_path / "a.csv"
    rows = [f"{k},{2 * k}" for k in range(5000)]
    rows[10] = '"' + rows[10]
    path.write_text("x,y\n" + "\n".join(rows) + "\n")
    with pytest.raises(SymgradError, match="line 12: .*a quote never closed"):
        csvdata.read_csv(str(path), ["x", "y"])


@pytest.mark.parametrize("cell, why", [("2" * 100_000, "is not finite"),
                                       ("a" * 1_000, "is not a number")])
def test_a_long_bad_cell_is_shown_shortened(tmp_path, cell, why):
    path = tmp_path / "long.csv"
    path.write_text(f"x,y\n1,{cell}\n2,4\n")
    with pytest.raises(SymgradError) as info:
        csvdata.read_csv(str(path), ["x", "y"])
    message = str(info.value)
    assert f"({len(cell):,} characters) {why}" in message and len(message) < len(str(path)) + 120


def test_read_csv_refuses_a_value_beyond_the_dtypes_range_by_line(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("x,y\n1,2\n3,4e38\n")
    assert csvdata.read_csv(str(path), ["x", "y"]).columns["y"][1] == 4e38
    with pytest.raises(SymgradError, match=r"a.csv line 3, column y: '4e38' is beyond "
                                           r"float32's range \(largest 3.4e\+38\)"):
        csvdata.read_csv(str(path), ["x", "y"], "float32")
    assert csvdata.read_csv(str(path), ["x"], "float32").rows == 2  # a column not read
