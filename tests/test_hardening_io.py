"""Input and output at the edges of `symgrad train` and `symgrad predict`: the data file read
once (a FIFO works), number cells checked strictly, predict's CSV quoted where it must be and
one line per row, PARAMS.json checked key by key, and models that read no data column."""
import csv
import io
import json
import os
import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest
from click.testing import CliRunner

from cli import main
from symgrad import SymgradError
from symgrad import data as csvdata

HOURS = "x,y\n1,2\n2,4\n3,6\n"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result, message):
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("symgrad: error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


@contextmanager
def fifo(path, text):
    """A FIFO at path: its first reader gets text; any later reader gets end of file at once,
    as from a used-up pipe such as bash's <(...)."""
    os.mkfifo(path)
    stop = threading.Event()

    def serve():
        try:
            with open(path, "w") as handle:  # waits for the first reader
                handle.write(text)
            while not stop.is_set():
                try:
                    os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # a reader waits: EOF
                except OSError:  # no reader now
                    time.sleep(0.005)
        except OSError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        stop.set()
        unblock = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # in case nobody ever read it
        thread.join(timeout=10)
        os.close(unblock)


@pytest.fixture
def params_w(tmp_path):
    """A trained w*x model's PARAMS.json."""
    data, out = tmp_path / "hours.csv", tmp_path / "params.json"
    data.write_text(HOURS)
    trained = run("train", data, "--model", "w*x", "--target", "y", "--init", "w=1",
                  "--epochs", "3", "--out", out, "--quiet")
    assert trained.exit_code == 0, trained.stderr
    return out


# 1. The data file is read once: a FIFO (or <(...)) works like a regular file.

def test_predict_reads_a_fifo_like_a_regular_file(tmp_path, params_w):
    text = "x,y\n4,0\n\n-1.5,0\n"
    regular = tmp_path / "new.csv"
    regular.write_text(text)
    expected = run("predict", params_w, regular)
    assert expected.exit_code == 0, expected.stderr
    with fifo(tmp_path / "new.fifo", text) as path:
        result = run("predict", params_w, path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == expected.stdout


def test_one_source_serves_header_numbers_and_labels(tmp_path):
    text = "\ufeffx,cls\n1,a\n\n2,b\n"
    with fifo(tmp_path / "d.fifo", text) as path:
        source = csvdata.open_csv(str(path))
        assert csvdata.read_header(source) == ("x", "cls")
        assert csvdata.read_csv(source, ["x"]).columns["x"].tolist() == [1.0, 2.0]
        assert csvdata.read_labels(source, "cls") == ["a", "b"]
    assert source.name == str(path) and csvdata.read_csv(source, ["x"]).name == str(path)


def test_open_csv_names_what_is_wrong(tmp_path):
    with pytest.raises(SymgradError, match="no such file"):
        csvdata.open_csv(str(tmp_path / "nope.csv"))
    with pytest.raises(SymgradError, match="is a directory"):
        csvdata.open_csv(str(tmp_path))
    for content in (b"x,\xe9\n1,2\n", b"x,y\n1,\xe9\n"):
        (tmp_path / "latin1.csv").write_bytes(content)
        with pytest.raises(SymgradError, match="latin1.csv is not UTF-8 text"):
            csvdata.read_csv(str(tmp_path / "latin1.csv"), ["x", "y"])


def test_train_reads_a_fifo_like_a_regular_file(tmp_path):
    args = ["--model", "w*x + b", "--target", "y", "--epochs", "5", "--quiet"]
    regular = tmp_path / "hours.csv"
    regular.write_text(HOURS)
    assert run("train", regular, *args, "--out", tmp_path / "a.json").exit_code == 0
    with fifo(tmp_path / "hours.fifo", HOURS) as path:
        result = run("train", path, *args, "--out", tmp_path / "b.json")
    assert result.exit_code == 0, result.stderr
    first, second = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert first["params"] == second["params"] and first["history"] == second["history"]


def test_train_reads_a_fifo_for_a_classifier(tmp_path):
    text = "x,cls\n-2,a\n-1,a\n1,b\n2,b\n"
    with fifo(tmp_path / "d.fifo", text) as path:
        result = run("train", path, "--model", "dense(2)", "--target", "cls", "--loss", "ce",
                     "--epochs", "2", "--quiet", "--out", tmp_path / "p.json")
    assert result.exit_code == 0, result.stderr
    assert json.loads((tmp_path / "p.json").read_text())["classes"] == ["a", "b"]


# 2. Cells are ASCII decimal numbers: what float() alone would accept is named.



def test_ascii_decimal_spellings_are_read(tmp_path, reader):
    path = tmp_path / "a.csv"
    path.write_text("x,y\n.5,5.\n+1E+2,-0\n-.25e-1,7\n")
    table = csvdata.read_csv(str(path), ["x", "y"])
    assert table.columns["x"].tolist() == [0.5, 100.0, -0.025]
    assert table.columns["y"].tolist() == [5.0, 0.0, 7.0]


def test_train_names_an_underscored_number(tmp_path):
    data = tmp_path / "a.csv"
    data.write_text("x,y\n1,2\n1_000,4\n")
    result = run("train", data, "--model", "w*x", "--target", "y", "--quiet")
    assert_one_line_error(result, f"{data} line 3, column x: '1_000' is not a number")


def test_a_label_on_two_lines_is_refused(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('x,cls\n1,a\n2,"b\nc"\n')
    with pytest.raises(SymgradError, match=r"line 4, column cls: the label 'b\\nc' spans lines"):
        csvdata.read_labels(str(path), "cls")


# 3 and 6. predict's CSV: quoted where needed, a header line and one line per row.

def csv_rows(text):
    return list(csv.reader(io.StringIO(text, newline="")))


def test_predict_quotes_a_column_name_with_a_comma(tmp_path):
    params = tmp_path / "p.json"
    params.write_text(json.dumps({"model": "w*x", "target": "y", "features": ["a,b", "x"],
                                  "params": {"w": 2.0}}))
    data = tmp_path / "d.csv"
    data.write_text('"a,b",x,y\n1,2,3\n\n4,0.1,6\n')
    result = run("predict", params, data)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == '"a,b",x,prediction'
    assert csv_rows(result.stdout) == [["a,b", "x", "prediction"], ["1.0", "2.0", "4.0"],
                                       ["4.0", "0.1", "0.2"]]


def test_predict_quotes_class_labels(tmp_path):
    params = tmp_path / "p.json"
    params.write_text(json.dumps({
        "model": "dense(2)", "loss": "ce", "target": "cls", "features": ["x"],
        "params": {"W0": [[1.0], [-1.0]], "b0": [0.0, 0.0]}, "classes": ['say "hi"', "a, b"]}))
    data = tmp_path / "d.csv"
    data.write_text("x\n1\n-2\n3\n")
    result = run("predict", params, data)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == 'x,prediction\n1.0,"say ""hi"""\n-2.0,"a, b"\n3.0,"say ""hi"""\n'


def test_predict_writes_a_header_line_and_one_line_per_row(tmp_path, params_w):
    data = tmp_path / "d.csv"
    data.write_bytes(b"x\r\n0.1\r\n\r\n1e-300\r\n-7\r\n")
    result = run("predict", params_w, data)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.split("\n")
    assert lines[-1] == "" and len(lines) - 1 == 1 + 3 and "\r" not in result.stdout
    assert lines[0] == "x,prediction"
    w = json.loads(params_w.read_text())["params"]["w"]
    for line, x in zip(lines[1:4], [0.1, 1e-300, -7.0]):
        cells = line.split(",")
        assert float(cells[0]) == x and float(cells[1]) == w * x  # repr: float64 round-trips


# 4. PARAMS.json: every key predict reads has the right type, or one line names it.

BIG = "1" + "0" * 400  # json.loads reads it as an int that float() cannot hold
GOOD = {"model": "w*x", "target": "y", "features": ["x"], "params": {"w": 1.5}}


def document(**changes):
    return json.dumps({**GOOD, **changes})


def number(text):
    """The GOOD document with w's value spelled as text (JSON that json.dumps would not write)."""
    return document(params={"w": 0}).replace('"w": 0', f'"w": {text}')


PARAMS_BAD = [
    (document(params={"w": "abc"}), "params.w must be a finite number, not a string"),
    (document(params={"w": None}), "params.w must be a finite number, not null"),
    (document(params={"w": True}), "params.w must be a finite number, not true"),
    (number(BIG), "params.w must be a finite number, not a number beyond float64's range"),
    (number("NaN"), "params.w must be a finite number, not NaN"),
    (number("-Infinity"), "params.w must be a finite number, not -Infinity"),
    (document(params={"w\nv": "abc"}), 'params["w\\nv"] must be a finite number'),
    (document(params=[1.5]), "params must be an object, not a list"),
    (document(params=None), "params must be an object, not null"),
    (document(model=3), "model must be a string, not a number"),
    (document(model=["w*x"]), "model must be a string, not a list"),
    (document(model=None), "model must be a string, not null"),
    (document(target=1), "target must be a string, not a number"),
    (document(features="x"), "features must be a list of strings, not a string"),
    (document(features=None), "features must be a list of strings, not null"),
    (document(features=[1]), "features[0] must be a string, not a number"),
    (document(features=7), "features must be a list of strings, not a number"),
    (document(loss=["mse"]), "loss must be a string, not a list"),
    (document(classes="ab"), "classes must be a list of strings, not a string"),
    (document(classes=["a", 2]), "classes[1] must be a one-line string, not a number"),
    ("[1, 2]", "is not a PARAMS.json written by symgrad train (not a JSON object)"),
    ("null", "(not a JSON object)"),
    ('"w"', "(not a JSON object)"),
    ("[" * 100_000 + "]" * 100_000, "(nested too deeply)"),
    ('{"a": ' * 100_000 + "1" + "}" * 100_000, "(nested too deeply)"),
    ("1" * 5000, "is not a PARAMS.json written by symgrad train"),
    ("\xff", "is not a PARAMS.json written by symgrad train"),
]
CHAIN = {"model": "dense(2)", "loss": "ce", "target": "cls", "features": ["x"],
         "params": {"W0": [[1.0], [-1.0]], "b0": [0.0, 0.0]}, "classes": ["a", "b"]}
CHAIN_BAD = [
    ({"params": {"W0": [[1.0], [-1.0, "abc"]], "b0": [0, 0]}},
     "params.W0[1][1] must be a finite number, not a string"),
    ({"params": {"W0": [[1.0], [None]], "b0": [0, 0]}}, "params.W0[1][0] must be a finite number"),
    ({"params": {"W0": [[1.0], [1.0]], "b0": "ab"}}, "params.b0 must be a finite number"),
    ({"params": {"W0": [[1.0], [1.0, 2.0]], "b0": [0, 0]}},
     "params.W0 is not an array (its lists differ in length or depth)"),
    ({"params": {"W0": [[1.0], [[1.0]]], "b0": [0, 0]}}, "params.W0 is not an array"),
    ({"classes": ["a"]}, "classes must be 2 labels, one per output of the last layer"),
    ({"classes": None}, "classes must be a list of strings, not null"),
    ({"classes": ["a", "b\nc"]}, "classes[1] must be a one-line string, not a string with a "
                                 "line break"),
    ({"features": []}, "features is empty; a layer chain reads at least one column"),
]
PARAMS_BAD += [(json.dumps({**CHAIN, **changes}), message) for changes, message in CHAIN_BAD]
PARAMS_BAD.append((json.dumps({k: v for k, v in CHAIN.items() if k != "classes"}),
                   "classes must be 2 labels"))


@pytest.mark.parametrize("text, message", PARAMS_BAD, ids=[m[:40] for _, m in PARAMS_BAD])
def test_predict_names_the_bad_params_key(tmp_path, text, message):
    params = tmp_path / "p.json"
    params.write_text(text, encoding="latin-1" if text == "\xff" else "utf-8")
    data = tmp_path / "d.csv"
    data.write_text("x,cls\n1,a\n")
    assert_one_line_error(run("predict", params, data), message)


def test_a_good_params_document_still_predicts(tmp_path):
    params = tmp_path / "p.json"
    params.write_text(document(params={"w": 2}, classes=["a"]))  # an int is a number
    data = tmp_path / "d.csv"
    data.write_text("x\n3\n")
    result = run("predict", params, data)
    assert result.exit_code == 0 and result.stdout == "x,prediction\n3.0,6.0\n", result.stderr


# 5. A model that reads no data column predicts once per row.

def test_a_model_of_no_column_predicts_one_value_per_row(tmp_path):
    data, out = tmp_path / "hours.csv", tmp_path / "params.json"
    data.write_text(HOURS)
    trained = run("train", data, "--model", "a + b", "--target", "y", "--epochs", "20",
                  "--out", out, "--quiet")
    assert trained.exit_code == 0, trained.stderr
    document = json.loads(out.read_text())
    assert document["features"] == []
    constant = repr(document["params"]["a"] + document["params"]["b"])
    predicted = run("predict", out, data)
    assert predicted.exit_code == 0, predicted.stderr
    assert predicted.stdout == "prediction\n" + f"{constant}\n" * 3
    other = tmp_path / "other.csv"
    other.write_text("q,name\n1,a\n\n2,b\n")  # any columns: only the rows count
    assert run("predict", out, other).stdout == "prediction\n" + f"{constant}\n" * 2
    empty = tmp_path / "empty.csv"
    empty.write_text("x,y\n")
    assert_one_line_error(run("predict", out, empty), "has a header but no data rows")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("x,y\n1,2\n3\n")
    assert_one_line_error(run("predict", out, ragged), "line 3: 1 fields, expected 2")


def test_reading_no_column_counts_the_rows(tmp_path, reader):
    path = tmp_path / "a.csv"
    path.write_text("x,y\n1,abc\n\n2,3\n")
    table = csvdata.read_csv(str(path), [])
    assert table.rows == 2 and table.columns == {} and table.matrix([]).shape == (2, 0)
    assert np.array_equal(csvdata.read_csv(str(path), ["x"]).columns["x"], [1.0, 2.0])
