"""Reading PARAMS.json (symgrad/jobs/params_file.py): every key predict reads has the right
type, or one line names the key and what it holds instead; a good document still predicts."""
import json

import pytest

from support import cli, one_line_error

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
    (document(dtype="float16"), 'dtype must be "float32" or "float64", not "float16"'),
    (document(dtype=None), 'dtype must be "float32" or "float64", not null'),
    (document(dtype=32), 'dtype must be "float32" or "float64", not 32'),
    (document(classes="ab"), "classes must be a list of strings, not a string"),
    (document(classes=["a", 2]), "classes[1] must be a one-line string, not a number"),
    ("[1, 2]", "is not a PARAMS.json written by symgrad train or fit (not a JSON object)"),
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
    one_line_error(cli("predict", params, data), message)


def test_a_good_params_document_still_predicts(tmp_path):
    params = tmp_path / "p.json"
    params.write_text(document(params={"w": 2}, classes=["a"]))  # an int is a number
    data = tmp_path / "d.csv"
    data.write_text("x\n3\n")
    result = cli("predict", params, data)
    assert result.exit_code == 0 and result.stdout == "x,prediction\n3.0,6.0\n", result.stderr
