"""`symgrad train` and `symgrad predict` from the command line: the seed runs, PARAMS.json,
bad input (one line, non-zero exit, nothing lost), sizes refused before allocating, a FIFO as
the data file, divergence and Ctrl-C."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from support import fifo, one_line_error

ROOT = Path(__file__).resolve().parent.parent


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_hours_sgd_from_the_cli(tmp_path, hours):
    out = tmp_path / "params.json"
    result = run("train", hours, "--model", "w*x", "--target", "y", "--init", "w=1",
                 "--batch-size", "1", "--epochs", "10", "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    document = json.loads(out.read_text())
    assert document["epochs"] == 10 and document["steps"] == 30 and not document["diverged"]
    assert document["features"] == ["x"] and document["target"] == "y"
    four = write(tmp_path / "four.csv", "x\n4\n")
    predicted = run("predict", out, four)
    assert predicted.exit_code == 0 and predicted.stdout == "x,prediction\n4.0,7.804863933862125\n"


def test_params_json_is_self_contained_and_history_is_capped(tmp_path, hours):
    out = tmp_path / "params.json"
    result = run("train", hours, "--model", "w*x + b", "--target", "y", "--epochs", "5000",
                 "--lr", "0.05", "--optimizer", "momentum", "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    document = json.loads(out.read_text())
    assert set(document["params"]) == {"b", "w"} and document["epochs"] == 5000
    assert len(document["history"]) == 1000
    assert document["history"][0][0] == 1 and document["history"][-1][0] == 5000
    assert document["final_loss"] == document["history"][-1][1] < 1e-6
    assert result.stdout.splitlines()[0].startswith("b = ")


def test_loss_expression_and_sse(tmp_path, hours):
    out1, out2 = tmp_path / "a.json", tmp_path / "b.json"
    run("train", hours, "--model", "w*x", "--target", "y", "--loss", "(yhat - y)**2",
        "--reduction", "sum", "--epochs", "3", "--init", "w=0", "--lr", "0.01", "--out", out1,
        "--quiet")
    run("train", hours, "--model", "w*x", "--target", "y", "--loss", "sse", "--epochs", "3",
        "--init", "w=0", "--lr", "0.01", "--out", out2, "--quiet")
    first, second = (json.loads(p.read_text()) for p in (out1, out2))
    assert first["params"] == second["params"] and second["reduction"] == "sum"


def test_predict_ignores_a_text_target_and_gives_probabilities_for_bce(tmp_path):
    data = write(tmp_path / "d.csv", "x,label\n-2,0\n-1,0\n1,1\n2,1\n")
    out = tmp_path / "p.json"
    trained = run("train", data, "--model", "sigmoid(w*x + b)", "--target", "label",
                  "--loss", "bce", "--epochs", "200", "--lr", "0.5", "--out", out, "--quiet")
    assert trained.exit_code == 0, trained.stderr
    new = write(tmp_path / "new.csv", "label,x\nabc,-3\nxyz,3\n")
    target = tmp_path / "pred.csv"
    result = run("predict", out, new, "--out", target)
    assert result.exit_code == 0 and result.stdout == ""
    lines = target.read_text().splitlines()
    assert lines[0] == "x,prediction" and len(lines) == 3
    low, high = (float(line.split(",")[1]) for line in lines[1:])
    assert 0 < low < 0.1 < 0.9 < high < 1


BAD = [  # (file content, extra args, message)
    ("x,y\n1,2\n2,abc\n", [], "line 3, column y: 'abc' is not a number"),
    ("x,y\n1,2\n2\n", [], "line 3: 1 fields, expected 2"),
    ("x,y\n1,nan\n", [], "line 2, column y: 'nan' is not finite"),
    ("x,y\n1,2\ninf,3\n", [], "line 3, column x: 'inf' is not finite"),
    ("", [], "is empty"),
    ("x,y\n", [], "has a header but no data rows"),
    ("x,z\n1,2\n", [], "no target column 'y'"),
    ("x,Y\n1,2\n", [], "no target column 'y' (columns: x, Y); did you mean 'Y'?"),
    ("x,y\n1,2\n", ["--features", "X"], "feature 'X' is not a column of"),
    ("x,y\n1,2\n", ["--features", "x,q"], "feature 'q' is not a column"),
    ("x,y\n1,2\n", ["--features", "x,y"], "--features lists the target column 'y'"),
    ("x,z,y\n1,2,3\n", ["--model", "a*x + b", "--features", "z"],
     "that --features leaves out: add it to --features"),
    ("x,y\n1,0\n2,2\n", ["--model", "sigmoid(a*x)", "--loss", "bce"],
     "--loss bce needs targets in [0, 1]; 'y' is 2.0 at "),
    ("x,y\n1,0\n\n2,2\n", ["--model", "sigmoid(a*x)", "--loss", "bce"],
     "a.csv line 4"),  # (the blank line counted, as the file's lines are)
    ("x,y\n1,2\n", ["--model", "w*x +"], "syntax error"),
    ("x,y\n1,2\n", ["--model", "frobnicate(w*x)"], "unknown function at column 1: 'frobnicate'"),
    ("x,y\n1,2\n", ["--model", "w*y"], "the model uses the target column 'y'"),
    ("x,y\n1,2\n", ["--loss", "(yhat - y"], "syntax error"),
    ("x,y\n1,2\n", ["--loss", "(w - y)**2"], "does not use yhat"),
    ("x,y\n1,2\n", ["--init", "w=abc"], "--init expects name=number pairs"),
    ("x,y\n1,2\n", ["--init", "w=1_0"], "--init expects name=number pairs, got 'w=1_0'"),
    ("x,y\n1,2\n", ["--init", "w=1,w=5"], "--init names 'w' twice"),
    ("x,y\n1,2\n", ["--init", "w=1,,b=2"], "--init: an empty item in 'w=1,,b=2'"),
    ("x,y\n1,2\n", ["--workers", "3"], "--workers is for --engine dask"),
    ("x,y\n1,2\n", ["--engine", "dask", "--workers", "3", "--scheduler", "tcp://h:1"],
     "--workers sizes a local cluster; with --scheduler"),
    ("x,y\n1,2\n", ["--init", "w=1e-400"], "--init: 'w=1e-400' is below float64's range"),
    ("x,y\n1,2\n", ["--init", "w=1e400"], "--init: 'w=1e400' is beyond float64's range"),
    ("x,y\n1,2\n", ["--init", "w=nan"], "--init: 'w=nan' is not a finite number"),
    ("x,y\n1,2\n", ["--init", "w=-Inf"], "--init: 'w=-Inf' is not a finite number"),
    ("x,y\n1,2\n", ["--model", "w*x*exp(1000)"],
     "the constant exp(1000) (in the model or its derivatives) is beyond float64's range"),
    ("x,y\n1,2\n", ["--model", "w*x*1e300", "--dtype", "float32"],
     "the constant 1.00000e+300 (in the model or its derivatives) is beyond float32's"),
    ("x,y\n1,2\n", ["--model", "w*x*1e-50", "--dtype", "float32"],  # (w never moved)
     "is below float32's range: the kernels would compute it as 0"),
    ("x,y\n1,2\n", ["--init", "w=1e39", "--dtype", "float32"],
     "--init w=1e+39 is beyond float32's range (about 3.4e+38)"),
    ("x,y\n1,2\n", ["--model", "3*x"], "the model has no parameters: every name in it is a"),
    ("x,y\n1,2\n", ["--model", "3"], "the model has no parameters: it is a constant"),
    ("x,y\n1,2\n", ["--init", "q=1"], "--init names 'q', which is not a parameter"),
    ("x,y\n1,2\n", ["--batch-size", "0"], "expected a positive integer or 'full'"),
    ("x,y\n1,2\n", ["--optimizer", "lbfgs"], "'lbfgs' is not one of"),
]


def test_a_batch_size_is_a_whole_number_as_other_options_take_one(tmp_path):
    data = write(tmp_path / "d.csv", "x,y\n" + "".join(f"{x},{2 * x + 1}\n" for x in range(20)))
    sizes = {}
    for given in ("1e1", "10"):
        out = tmp_path / f"{given}.json"
        assert run("train", data, "--model", "w*x + b", "--target", "y", "--epochs", "2",
                   "--batch-size", given, "--out", out, "--quiet").exit_code == 0
        sizes[given] = json.loads(out.read_text())["batch_size"]
    assert sizes == {"1e1": 10, "10": 10}
    one_line_error(run("train", data, "--model", "w*x + b", "--target", "y", "--batch-size",
                       "2.5"), "expected a positive integer or 'full', got '2.5'")


def test_a_summed_final_loss_says_so_beside_the_mean_train_loss(tmp_path):
    data = write(tmp_path / "d.csv", "x,y\n" + "".join(f"{x},{2 * x + 1}\n" for x in range(8)))
    summed = run("train", data, "--model", "w*x + b", "--target", "y", "--loss", "sse",
                 "--epochs", "3", "--lr", "0.001")
    assert summed.exit_code == 0 and "(summed over the rows); train loss" in summed.stderr
    mean = run("train", data, "--model", "w*x + b", "--target", "y", "--epochs", "3")
    assert "summed" not in mean.stderr


@pytest.mark.parametrize("content, extra, message", BAD, ids=[b[2][:30] for b in BAD])
def test_bad_input_is_one_line_with_nonzero_exit_and_writes_nothing(tmp_path, content, extra,
                                                                     message):
    data = write(tmp_path / "a.csv", content)
    out = tmp_path / "params.json"
    result = run("train", data, "--model", "w*x", "--target", "y", "--out", out, "--quiet",
                 *extra)  # a repeated option: click keeps the last
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr and not out.exists()


def test_an_error_naming_many_columns_or_parameters_stays_short(tmp_path):
    header = [f"x{i}" for i in range(300)] + ["y"]
    data = write(tmp_path / "wide.csv", ",".join(header) + "\n" + ",".join("1" * 301) + "\n")
    model = " + ".join(f"w{i}*x{i}" for i in range(300))
    for extra, fragment in ((["--target", "z"], "x10, x11, ... (301 in all))"),
                            (["--target", "y", "--init", "q=1"], "w108, ... (300 in all))")):
        result = run("train", data, "--model", model, "--quiet", *extra)
        assert result.exit_code == 2 and fragment in result.stderr, result.stderr
        assert len(result.stderr) < 300 and result.stderr.count("\n") == 1


def test_missing_data_file(tmp_path):
    result = run("train", tmp_path / "nope.csv", "--model", "w*x", "--target", "y")
    assert result.exit_code == 2 and "no such file" in result.stderr


@pytest.mark.parametrize("content, message", [
    ("{", "is not a PARAMS.json"), ('{"model": "w*x"}', "needs model, target"),
])
def test_predict_refuses_bad_params_files(tmp_path, hours, content, message):
    result = run("predict", write(tmp_path / "p.json", content), hours)
    assert result.exit_code == 2 and message in result.stderr and result.stdout == ""


def test_divergence_exits_1_and_keeps_finite_parameters(tmp_path):
    data = write(tmp_path / "d.csv", "x,y\n" + "".join(f"{i},{i}\n" for i in range(1, 30)))
    out = tmp_path / "params.json"
    result = run("train", data, "--model", "w*x", "--target", "y", "--lr", "1",
                 "--epochs", "100000", "--init", "w=0", "--out", out, "--quiet")
    assert result.exit_code == 1 and "diverged at epoch" in result.stderr
    document = json.loads(out.read_text())  # strict JSON: no NaN anywhere
    assert document["diverged"] is True and document["diverged_epoch"] >= 1
    assert abs(document["params"]["w"]) < 1e308


def interrupt_after(args, wait_for: str, cache: Path, delay: float = 0.0):
    env = {**os.environ, "SYMGRAD_CACHE_DIR": str(cache)}
    # A shell runs background jobs (CI may be one) with SIGINT ignored, and children inherit
    # that; give the child the default disposition, as a terminal's foreground job has.
    process = subprocess.Popen([sys.executable, "-m", "cli", *map(str, args)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    started = time.monotonic()
    while wait_for:  # skip anything else on stderr (a library's warning, say)
        line = process.stderr.readline()
        assert line, "the process ended before it reported progress"
        if wait_for in line:
            break
    time.sleep(delay)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    return process.returncode, time.monotonic() - sent, stderr, time.monotonic() - started


def test_ctrl_c_during_training_saves_the_current_parameters(tmp_path):
    data = write(tmp_path / "d.csv", "x,y\n" + "".join(f"{i / 100},{i / 50}\n" for i in range(200)))
    out = tmp_path / "params.json"
    code, latency, stderr, _ = interrupt_after(
        ["train", data, "--model", "w*x + b", "--target", "y", "--epochs", "100000000",
         "--batch-size", "1", "--out", out], "epoch", tmp_path / "cache")
    assert code == 130 and latency < 2.0, stderr
    document = json.loads(out.read_text())
    assert document["interrupted"] is True and 0 < document["epochs"] < 100000000
    assert "interrupted after" in stderr


@pytest.mark.parametrize("command", ["train", "fit"])
def test_ctrl_c_during_compilation_saves_the_initial_parameters(tmp_path, command):
    out = tmp_path / "params.json"
    data = write(tmp_path / "d.csv", "x,y\n1,2\n2,4\n")
    # 200 powers of ten functions of x, 20 of each: fewer than a term family's 32, so written
    # out, about 6 s of compiling; the stop comes once the run says it is compiling
    functions = ["sin(x)", "cos(x)", "tanh(x)", "exp(-x)", "atan(x)", "erf(x)", "sigmoid(x)",
                 "log(1 + x*x)", "sqrt(1 + x*x)", "softplus(x)"]
    model = "tanh(w*x + b) + " + " + ".join(f"a{k}*{functions[k % 10]}**{k // 10 + 2}"
                                            for k in range(200))
    code, latency, stderr, _ = interrupt_after(
        [command, data, "--model", model, "--target", "y", "--init", "w=0.5", "--out", out],
        "compiling the model's kernels", tmp_path / "fresh-cache")
    assert code == 130 and latency < 2.0, stderr
    assert "SIGINT while compiling; initial parameters saved to" in stderr
    document = json.loads(out.read_text())
    assert document["params"]["w"] == 0.5
    if command == "train":
        assert document["interrupted"] is True and document["epochs"] == 0
    else:
        assert document["converged"] is False and document["iterations"] == 0


def test_a_long_compile_is_announced_unless_quiet(monkeypatch, capsys):
    """Compiling that outlasts COMPILE_NOTICE_AFTER gets one line on stderr (with a progress
    report asked for); a quick compile or a quiet run prints nothing."""
    from symgrad.jobs import setups

    monkeypatch.setattr(setups, "COMPILE_NOTICE_AFTER", 0.05)
    for announce, block, said in ((True, 0.5, True), (False, 0.5, False), (True, 0, False)):
        with setups.compiling(lambda: None, "p.json", False, announce):
            time.sleep(block)
        time.sleep(0.2)  # a notice left running would fire now
        err = capsys.readouterr().err
        assert ("compiling the model's kernels" in err) is said, err
        assert ("saves the initial parameters" in err) is said


@pytest.mark.parametrize("args, fragment", [
    (["--seed", "-1"], "-1 is not in the range"),
    (["--model", "dense(10**20)"], "dense takes a whole number of units, 1 to 1,000,000: "
                                   "got 'dense(10**20)'"),
    (["--model", "dense(-1) -> dense(1)"], "dense takes a whole number of units"),
    (["--model", "dense(1000000000)"], "dense width must be 1 to 1,000,000"),
    (["--model", "dense(1000000) -> tanh -> dense(1000000) -> dense(1)"], "at most 100,000,000"),
    (["--model", "w*x*sqrt(-1)"], "complex or undefined constant"),
])
def test_sizes_and_seeds_are_refused_before_allocating(hours, args, fragment):
    options = {"--model": "w*x", **dict(zip(args[::2], args[1::2]))}
    result = run("train", hours, "--target", "y", *[v for kv in options.items() for v in kv])
    one_line_error(result, fragment)


@pytest.mark.parametrize("args, fragment", [
    (["--model", "dense(2) -> dense(1)", "--features", "x,x"], "'x' is asked for twice"),
    (["--model", "dense(2) -> dense(1)", "--features", "x,y"], "'y' is asked for twice"),
    (["--model", "dense(2) -> tanh -> dense(1) -> log_softmax"], "goes with --loss ce"),
    (["--model", "w*x*1e308*10", "--backend", "numpy"], "beyond the float64 range"),
    (["--model", "w*x*tanh(10**400)"], "beyond the float64 range"),
    (["--model", "w*x", "--optimizer", "adam", "--momentum", "0.5"],
     "--momentum is for --optimizer momentum or nesterov, not adam"),
])
def test_more_one_line_refusals(hours, args, fragment):
    one_line_error(run("train", hours, "--target", "y", *args), fragment)


def test_train_names_an_underscored_number(tmp_path):
    data = write(tmp_path / "a.csv", "x,y\n1,2\n1_000,4\n")
    result = run("train", data, "--model", "w*x", "--target", "y", "--quiet")
    one_line_error(result, f"{data} line 3, column x: '1_000' is not a number")


def test_train_reads_a_fifo_like_a_regular_file(tmp_path, hours):
    args = ["--model", "w*x + b", "--target", "y", "--epochs", "5", "--quiet"]
    assert run("train", hours, *args, "--out", tmp_path / "a.json").exit_code == 0
    with fifo(tmp_path / "hours.fifo", hours.read_text()) as path:
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


TYPO_DATA = "x,temperature,y\n1,2,3\n2,3,5\n3,1,4\n"


@pytest.mark.parametrize("model, typed, column", [
    ("a*exp(-k*X) + c", "X", "x"),                        # case
    ("w*Temperature + b", "Temperature", "temperature"),  # case, a long name
    ("w*temprature + b", "temprature", "temperature"),    # a letter left out
    ("w*temperatures + b", "temperatures", "temperature"),  # one added
    ("w*tempreature + b", "tempreature", "temperature"),  # two neighbours swapped
    ("w*temperatvre + b", "temperatvre", "temperature"),  # one replaced
])
def test_a_misspelt_column_is_refused_with_did_you_mean(tmp_path, model, typed, column):
    data = write(tmp_path / "typo.csv", TYPO_DATA)
    result = run("train", data, "--model", model, "--target", "y", "--epochs", "2")
    one_line_error(result, f"{typed!r} in the model is not a column of {data}; did you mean "
                           f"{column!r}?")


@pytest.mark.parametrize("model", [
    "w*x + b",                  # w, b: one letter from x and y, but short names are parameters
    "w*x + temp*temperature",   # 'temp' is four edits from 'temperature'
    "slope*x + bias",
])
def test_parameters_that_merely_resemble_columns_still_train(tmp_path, model):
    data = write(tmp_path / "typo.csv", TYPO_DATA)
    result = run("train", data, "--model", model, "--target", "y", "--epochs", "2", "--quiet")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr


def test_a_parameter_one_edit_from_a_column_the_model_also_names_trains(tmp_path):
    """w100 beside x100 (weights numbered as their features) is a weight, not x100 misspelt;
    w102, whose x102 the model does not name, still reads as a typo."""
    data = write(tmp_path / "wide.csv", "x100,x101,x102,y\n1,2,3,4\n2,3,1,5\n3,1,2,4\n")
    result = run("train", data, "--model", "w100*x100 + w101*x101", "--target", "y",
                 "--epochs", "2", "--quiet")
    assert result.exit_code == 0, result.output
    result = run("train", data, "--model", "w100*x100 + w102", "--target", "y", "--epochs", "2")
    one_line_error(result, "'w102' in the model is not a column of")
    data = write(tmp_path / "t.csv", "temp,temp1,y\n1,2,2\n2,3,4\n3,1,7\n")
    for model, typed in (("a*temp + c*tmep**2", "tmep"), ("a*temp1 + c*tmp1", "tmp1")):
        result = run("train", data, "--model", model, "--target", "y", "--epochs", "2")
        one_line_error(result, f"{typed!r} in the model is not a column of")


def test_a_model_of_no_column_warns_and_trains_a_constant(tmp_path):
    data = write(tmp_path / "typo.csv", TYPO_DATA)
    out = tmp_path / "params.json"
    result = run("train", data, "--model", "c", "--target", "y", "--lr", "0.5", "--epochs", "200",
                 "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stderr.strip().splitlines() == [
        f"symgrad: warning: the model reads no column of {data} besides the target: it fits a "
        f"constant"]
    assert json.loads(out.read_text())["params"]["c"] == pytest.approx(4.0, rel=1e-6)


QUOTED_DATA = "mean radius,2nd,class,y\n1,2,0,3\n2,3,1,6\n3,1,0,4\n4,2,1,7\n"


def test_columns_that_are_no_identifiers_are_written_in_backquotes(tmp_path):
    """y is the sum of the three columns: started at that exact solution, training keeps it
    (a zero gradient), so the columns reached the kernel in the right places; predict reads
    them back by name and writes the names as CSV needs."""
    data = write(tmp_path / "quoted.csv", QUOTED_DATA)
    out = tmp_path / "params.json"
    model = "w*`mean radius` + v*`2nd` + u*`class` + b"
    result = run("train", data, "--model", model, "--target", "y", "--init", "w=1,v=1,u=1,b=0",
                 "--epochs", "3", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["features"] == ["mean radius", "2nd", "class"]
    assert document["params"] == {"b": 0.0, "u": 1.0, "v": 1.0, "w": 1.0}  # already exact
    predicted = run("predict", out, data)
    assert predicted.exit_code == 0, predicted.output
    lines = predicted.stdout.splitlines()
    assert lines[0] == "mean radius,2nd,class,prediction"
    assert [float(line.split(",")[-1]) for line in lines[1:]] == [3.0, 6.0, 4.0, 7.0]


def test_a_chain_names_backquoted_features(tmp_path):
    data = write(tmp_path / "quoted.csv", QUOTED_DATA)
    result = run("train", data, "--model", "dense(2) -> tanh -> dense(1)", "--target", "y",
                 "--features", "`mean radius`,`2nd`", "--epochs", "2", "--quiet")
    assert result.exit_code == 0, result.output


def test_derive_prints_backquoted_names_back_in_backquotes():
    from symgrad import parse_expr

    result = run("derive", "(w*`mean radius` + b - y)**2", "--wrt", "w,b")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "d/w = 2*`mean radius`*(b + `mean radius`*w - y)"
    written = result.stdout.splitlines()[0].split(" = ")[1]
    assert parse_expr(written).free_symbols == parse_expr("w*`mean radius` + b - y").free_symbols


def test_derive_writes_backquoted_names_as_latex_text():
    result = run("derive", "(`my weight`*`a_b#` - y)**2", "--wrt", "`my weight`",
                 "--format", "latex")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (r"\frac{\partial L}{\partial \text{my weight}} = "
                                     r"2 \text{a\_b\#} \left(\text{a\_b\#} \text{my weight} - y\right)")


def test_a_repeated_list_option_is_one_list_and_a_repeated_value_the_last(tmp_path, hours):
    # '--init a=5 --init b=7' kept b=7 alone, silently
    result = run("train", hours, "--model", "a*x + b", "--target", "y", "--init", "a=5",
                 "--init=b=7", "--lr", "0", "--epochs", "2", "--epochs", "1", "--quiet",
                 "--out", tmp_path / "p.json")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["a = 5.0", "b = 7.0"]
    assert json.loads((tmp_path / "p.json").read_text())["epochs"] == 1
