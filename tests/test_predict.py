"""`symgrad predict`'s CSV in and out (symgrad/jobs/predict.py): the data file read once (a
FIFO works), names and labels quoted where CSV needs it, a header line and one line per row,
and a model that reads no data column predicting once per row."""
import csv
import io
import json
import math

import pytest

from support import cli, fifo, one_line_error


@pytest.fixture
def params_w(tmp_path, hours):
    """A trained w*x model's PARAMS.json."""
    out = tmp_path / "params.json"
    trained = cli("train", hours, "--model", "w*x", "--target", "y", "--init", "w=1",
                  "--epochs", "3", "--out", out, "--quiet")
    assert trained.exit_code == 0, trained.stderr
    return out


def test_predict_reads_a_fifo_like_a_regular_file(tmp_path, params_w):
    text = "x,y\n4,0\n\n-1.5,0\n"
    regular = tmp_path / "new.csv"
    regular.write_text(text)
    expected = cli("predict", params_w, regular)
    assert expected.exit_code == 0, expected.stderr
    with fifo(tmp_path / "new.fifo", text) as path:
        result = cli("predict", params_w, path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == expected.stdout


def test_a_params_file_given_as_the_data_is_named_json(params_w):
    # "params.json has no column 'x' (columns: {)": the JSON's first line read as a header
    one_line_error(cli("predict", params_w, params_w),
                   "has no column 'x' (columns: {); it looks like JSON (a PARAMS.json?), not "
                   "a CSV file")


def csv_rows(text):
    return list(csv.reader(io.StringIO(text, newline="")))


def test_predict_quotes_a_column_name_with_a_comma(tmp_path):
    params = tmp_path / "p.json"
    params.write_text(json.dumps({"model": "w*x + v*`a,b`", "target": "y",
                                  "features": ["a,b", "x"], "params": {"v": 0.5, "w": 2.0}}))
    data = tmp_path / "d.csv"
    data.write_text('"a,b",x,y\n1,2,3\n\n4,0.1,6\n')
    result = cli("predict", params, data)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == '"a,b",x,prediction'
    assert csv_rows(result.stdout) == [["a,b", "x", "prediction"], ["1.0", "2.0", "4.5"],
                                       ["4.0", "0.1", "2.2"]]


def test_a_feature_named_prediction_keeps_the_output_readable(tmp_path):
    """The output's own column takes a trailing _, so symgrad can read what it wrote."""
    params = tmp_path / "p.json"
    params.write_text(json.dumps({"model": "w*prediction", "target": "y",
                                  "features": ["prediction"], "params": {"w": 2.0}}))
    data = tmp_path / "d.csv"
    data.write_text("prediction,y\n1,3\n")
    result = cli("predict", params, data)
    assert result.exit_code == 0, result.stderr
    assert csv_rows(result.stdout) == [["prediction", "prediction_"], ["1.0", "2.0"]]


def test_predict_quotes_class_labels(tmp_path):
    params = tmp_path / "p.json"
    params.write_text(json.dumps({
        "model": "dense(2)", "loss": "ce", "target": "cls", "features": ["x"],
        "params": {"W0": [[1.0], [-1.0]], "b0": [0.0, 0.0]}, "classes": ['say "hi"', "a, b"]}))
    data = tmp_path / "d.csv"
    data.write_text("x\n1\n-2\n3\n")
    result = cli("predict", params, data)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == 'x,prediction\n1.0,"say ""hi"""\n-2.0,"a, b"\n3.0,"say ""hi"""\n'


def test_predict_writes_a_header_line_and_one_line_per_row(tmp_path, params_w):
    data = tmp_path / "d.csv"
    data.write_bytes(b"x\r\n0.1\r\n\r\n1e-300\r\n-7\r\n")
    result = cli("predict", params_w, data)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.split("\n")
    assert lines[-1] == "" and len(lines) - 1 == 1 + 3 and "\r" not in result.stdout
    assert lines[0] == "x,prediction"
    w = json.loads(params_w.read_text())["params"]["w"]
    for line, x in zip(lines[1:4], [0.1, 1e-300, -7.0]):
        cells = line.split(",")
        assert float(cells[0]) == x and float(cells[1]) == w * x  # repr: float64 round-trips


def test_a_model_of_no_column_predicts_one_value_per_row(tmp_path, hours):
    out = tmp_path / "params.json"
    trained = cli("train", hours, "--model", "a + b", "--target", "y", "--epochs", "20",
                  "--out", out, "--quiet")
    assert trained.exit_code == 0, trained.stderr
    document = json.loads(out.read_text())
    assert document["features"] == []
    constant = repr(document["params"]["a"] + document["params"]["b"])
    predicted = cli("predict", out, hours)
    assert predicted.exit_code == 0, predicted.stderr
    assert predicted.stdout == "prediction\n" + f"{constant}\n" * 3
    other = tmp_path / "other.csv"
    other.write_text("q,name\n1,a\n\n2,b\n")  # any columns: only the rows count
    assert cli("predict", out, other).stdout == "prediction\n" + f"{constant}\n" * 2
    empty = tmp_path / "empty.csv"
    empty.write_text("x,y\n")
    one_line_error(cli("predict", out, empty), "has a header but no data rows")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("x,y\n1,2\n3\n")
    one_line_error(cli("predict", out, ragged), "line 3: 1 fields, expected 2")


def test_a_prediction_that_overflows_is_written_and_warned_of_by_line(tmp_path, params_w):
    # w*x with x = 1.7e308: the output overflows to inf. predict writes the row as computed and
    # one warning names the first such row by the file's own line (a blank line counted);
    # score says the same beside its inf loss
    data = tmp_path / "new.csv"
    data.write_text("x,y\n1,2\n\n1.7e308,3\n-1.7e308,1\n")
    w = json.loads(params_w.read_text())["params"]["w"]
    assert abs(w) > 1.06  # so w * 1.7e308 overflows
    again = tmp_path / "again.csv"  # a warning is given once per message and process
    again.write_text(data.read_text())
    for command, path in (("predict", data), ("score", again)):
        result = cli(command, params_w, path)
        assert result.exit_code == 0, result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert f"not finite in 2 rows (first: {path} line 4, " in result.stderr
    rows = list(csv.reader(io.StringIO(cli("predict", params_w, data).stdout)))
    assert [float(r[-1]) for r in rows[1:]][1:] == [math.copysign(math.inf, w),
                                                      -math.copysign(math.inf, w)]
    data.write_text("x,y\n1,2\n")
    assert cli("predict", params_w, data).stderr == ""  # finite outputs: no warning
    data.write_text("x,y\n1,2\n1e200,0\n")  # a finite output whose square overflows
    result = cli("score", params_w, data)
    assert result.exit_code == 0 and "loss inf" in result.stdout
    assert "the loss is not finite although every output is" in result.stderr
