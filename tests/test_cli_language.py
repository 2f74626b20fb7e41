"""The expression language's general case on the command line: dot(w, features) over every
column, where(condition, a, b), the constant e beside a column named e, and derive's text
parsing back. Exact outcomes: models started at their exact solution keep it (a zero
gradient), so every column reached the kernel in its place."""
import json

import numpy as np
import pytest

from support import cli, one_line_error

WIDE = "a,b c,d,y\n1,2,3,21\n2,0,1,9\n0,1,1,8\n3,3,0,16\n"  # y = 2a + 3(b c) + 4d + 1


def write(path, text):
    path.write_text(text)
    return path


def test_dot_over_features_trains_one_entry_per_column_and_predicts(tmp_path):
    data = write(tmp_path / "wide.csv", WIDE)
    out = tmp_path / "params.json"
    result = cli("train", data, "--model", "dot(w, features) + b", "--target", "y",
                 "--init", "w[0]=2,w[1]=3,w[2]=4,b=1", "--epochs", "3", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["features"] == ["a", "b c", "d"]
    assert list(document["params"]) == ["b", "w[0]", "w[1]", "w[2]"]
    assert document["params"] == {"b": 1.0, "w[0]": 2.0, "w[1]": 3.0, "w[2]": 4.0}
    predicted = cli("predict", out, data)
    assert predicted.exit_code == 0, predicted.output
    assert [float(r.split(",")[-1]) for r in predicted.stdout.splitlines()[1:]] == \
        [21.0, 9.0, 8.0, 16.0]


def test_dot_reads_the_features_listed(tmp_path):
    data = write(tmp_path / "wide.csv", WIDE)
    out = tmp_path / "params.json"
    result = cli("train", data, "--model", "dot(w, features)", "--target", "y",
                 "--features", "d,a", "--epochs", "2", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["features"] == ["d", "a"] and list(document["params"]) == ["w[0]", "w[1]"]


def test_logistic_regression_on_every_column_learns_the_planted_weights(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(4000, 12))
    truth = rng.normal(size=12)
    labels = (rng.uniform(size=4000) < 1 / (1 + np.exp(-(x @ truth)))).astype(int)
    header = ",".join(f"c{j}" for j in range(12)) + ",label\n"
    rows = "".join(",".join(map(repr, map(float, r))) + f",{t}\n" for r, t in zip(x, labels))
    data = write(tmp_path / "logistic.csv", header + rows)
    out = tmp_path / "params.json"
    result = cli("train", data, "--model", "sigmoid(dot(w, features))", "--target", "label",
                 "--loss", "bce", "--optimizer", "adam", "--lr", "0.1", "--epochs", "300",
                 "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    learned = np.array([json.loads(out.read_text())["params"][f"w[{j}]"] for j in range(12)])
    assert np.corrcoef(learned, truth)[0, 1] > 0.98


@pytest.mark.parametrize("model, fragment", [
    ("dot(w, features) + w", "'w' is a vector (in dot) and also used as a number"),
    ("features*b", "features is the vector of feature columns"),
    ("dot(w + 1, features)", "dot takes two vectors"),
])
def test_vectors_are_used_only_in_dot(tmp_path, model, fragment):
    data = write(tmp_path / "wide.csv", WIDE)
    one_line_error(cli("train", data, "--model", model, "--target", "y"), fragment)


def test_a_column_named_features_is_written_in_backquotes(tmp_path):
    data = write(tmp_path / "f.csv", "features,y\n1,2\n2,4\n3,6\n")
    out = tmp_path / "params.json"
    result = cli("train", data, "--model", "w*`features`", "--target", "y", "--init", "w=2",
                 "--epochs", "2", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["params"] == {"w": 2.0}


@pytest.mark.parametrize("init", ["`p,q`=2,`a=b`=-1", "`a=b` = -1 , `p,q` = 2"])
def test_init_takes_backquoted_parameter_names_as_the_model_writes_them(tmp_path, init):
    data = write(tmp_path / "f.csv", "x,y\n1,1\n2,3\n")
    out = tmp_path / "params.json"
    result = cli("train", data, "--model", "`p,q`*x + `a=b`", "--target", "y", "--init", init,
                 "--epochs", "1", "--lr", "0", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["params"] == {"a=b": -1.0, "p,q": 2.0}


def test_an_unclosed_backquote_in_init_is_one_line(tmp_path):
    data = write(tmp_path / "f.csv", "x,y\n1,1\n2,3\n")
    one_line_error(cli("train", data, "--model", "w*x", "--target", "y", "--init", "`w=1"),
                   "--init: a '`' is never closed")


def test_where_trains_a_piecewise_model(tmp_path):
    data = write(tmp_path / "hinge.csv", "x,y\n-2,1\n-1,1\n1,3\n2,5\n")  # 1, then 2x + 1
    out = tmp_path / "params.json"
    result = cli("train", data, "--model", "where(x > 0, a*x + b, c)", "--target", "y",
                 "--init", "a=2,b=1,c=1", "--epochs", "3", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["params"] == {"a": 2.0, "b": 1.0, "c": 1.0}


def test_e_beside_a_column_named_e_is_refused_until_backquoted(tmp_path):
    data = write(tmp_path / "e.csv", "e,y\n1,2\n2,4\n")
    one_line_error(cli("train", data, "--model", "w*e", "--target", "y"),
                   "e in the model is the constant e", "`e`")
    result = cli("train", data, "--model", "w*`e`", "--target", "y", "--epochs", "1", "--quiet")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("expression", [
    "(where(x > b and not (a < 1 or x == 2), a*x, b) - y)**2",
    "(gamma(a)*x + lgamma(b) + e**a + sign(a)*floor(x) + mod(a*x, 2) - y)**2",
    "(`gamma`*digamma(a) + heaviside(x - a)*log1p(b) - y)**2",
])
def test_derive_prints_text_that_parses_back(expression):
    from symgrad import parse_expr

    result = cli("derive", expression, "--wrt", "a,b")
    assert result.exit_code == 0, result.output
    for line in result.stdout.splitlines():
        parse_expr(line.split(" = ", 1)[1])  # where(...), e, `gamma`, digamma: all parse


def test_derive_reads_dot_over_the_features_listed():
    result = cli("derive", "(dot(w, features) + b - y)**2", "--features", "x1,x2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split(" = ")[0] for line in lines] == ["d/b", "d/`w[0]`", "d/`w[1]`", "d/y"]
    assert lines[1] == "d/`w[0]` = 2*x1*(b + `w[0]`*x1 + `w[1]`*x2 - y)"
    by_w = cli("derive", "(dot(w, features) - y)**2", "--features", "x1,x2", "--wrt", "w")
    assert by_w.stdout.splitlines() == ["d/`w[0]` = 2*x1*(`w[0]`*x1 + `w[1]`*x2 - y)",
                                        "d/`w[1]` = 2*x2*(`w[0]`*x1 + `w[1]`*x2 - y)"]
    one_line_error(cli("derive", "dot(w, features)"), "derive --features a,b")


def test_derive_text_backquotes_a_name_starting_with_an_underscore():
    """derive's text parses back: `_x` needs its backquotes (a bare _x is refused)."""
    result = cli("derive", "w*`__class__` + `_x`*w", "--wrt", "w")
    assert result.exit_code == 0, result.stderr
    closed_form = result.stdout.split(" = ", 1)[1].strip()
    assert closed_form == "`__class__` + `_x`"
    assert cli("derive", f"v*({closed_form})", "--wrt", "v").exit_code == 0
