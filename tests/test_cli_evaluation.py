"""The practitioner's loop on the command line: --validation (a fraction, stratified, or a
file), metrics against scikit-learn's on the same predictions, --early-stopping, predict
--proba, score, bce with text labels, TSV and --delimiter, --plot."""
import json
import sys

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score

from support import cli, one_line_error

LOGISTIC = "sigmoid(wa*a + wb*b + c)"


def write_classes(path, n=240, seed=1, labels=("no", "yes"), sep=","):
    """Two features and a two-class label drawn from a logistic model (not separable)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    p = 1 / (1 + np.exp(-(1.5 * x[:, 0] - 2 * x[:, 1] + 0.4)))
    y = rng.random(n) < p
    lines = [sep.join(["a", "b", "label"])]
    lines += [sep.join([repr(float(r[0])), repr(float(r[1])), labels[int(c)]])
              for r, c in zip(x, y)]
    path.write_text("\n".join(lines) + "\n")
    return path, x, np.array([labels[int(c)] for c in y])


def write_decay(path, n=150, seed=2, sep=","):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 5, n)
    y = 2 * np.exp(-0.7 * t) + 0.1 + rng.normal(size=n) * 0.02
    path.write_text(f"t{sep}y\n" + "".join(f"{float(a)!r}{sep}{float(b)!r}\n"
                                            for a, b in zip(t, y)))
    return path, t, y


def predicted(params, data, *options):
    result = cli("predict", params, data, *options)
    assert result.exit_code == 0, result.stderr
    rows = [line.split(",") for line in result.stdout.splitlines()]
    return rows[0], rows[1:]


def test_fraction_split_is_stratified_recorded_and_scored(tmp_path):
    data, _, labels = write_classes(tmp_path / "d.csv")
    out = tmp_path / "p.json"
    result = cli("fit", data, "--model", LOGISTIC, "--target", "label", "--loss", "bce",
                 "--validation", "0.25", "--seed", "3", "--out", out)
    assert result.exit_code == 0, result.stderr
    document = json.loads(out.read_text())
    counts = {c: int(np.sum(labels == c)) for c in ("no", "yes")}
    held = sum(round(0.25 * k) for k in counts.values())  # each class gives round(F * count)
    assert document["validation"] == {"fraction": 0.25, "seed": 3, "stratified": True,
                                      "rows": held}
    assert document["rows"] == len(labels) - held and document["classes"] == ["no", "yes"]
    # the parts' accuracies add up to the whole file's, from predict's labels and sklearn
    _, rows = predicted(out, data)
    whole = accuracy_score(labels, [r[-1] for r in rows])
    metrics = document["metrics"]
    parts = (metrics["train"]["accuracy"] * document["rows"] +
             metrics["validation"]["accuracy"] * held) / len(labels)
    assert parts == pytest.approx(whole, abs=1e-12)
    assert "validation loss" in result.stderr and "accuracy" in result.stderr  # the summary


def test_validation_file_metrics_equal_sklearns_on_the_same_predictions(tmp_path):
    train, _, train_labels = write_classes(tmp_path / "train.csv", seed=4)
    held, _, held_labels = write_classes(tmp_path / "held.csv", n=90, seed=5)
    out = tmp_path / "p.json"
    result = cli("train", train, "--model", LOGISTIC, "--target", "label", "--loss", "bce",
                 "--optimizer", "adam", "--lr", "0.05", "--epochs", "200",
                 "--validation", held, "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    document = json.loads(out.read_text())
    assert document["validation"] == {"file": str(held), "rows": 90}
    for part, path, truth in (("train", train, train_labels), ("validation", held, held_labels)):
        header, rows = predicted(out, path, "--proba")
        assert header == ["a", "b", "prediction", "p_yes"]
        p = np.array([float(r[-1]) for r in rows])
        metrics = document["metrics"][part]
        assert metrics["accuracy"] == pytest.approx(accuracy_score(truth == "yes", p > 0.5))
        assert metrics["log_loss"] == pytest.approx(log_loss(truth == "yes", p), rel=1e-12)
        assert metrics["loss"] == pytest.approx(metrics["log_loss"], rel=1e-9)  # bce is it
        assert [r[2] for r in rows] == ["yes" if v > 0.5 else "no" for v in p]
    # the history holds the validation loss beside the training loss, epoch by epoch
    assert all(len(row) == 3 and row[2] is not None for row in document["history"])
    assert document["history"][-1][2] == pytest.approx(document["metrics"]["validation"]["loss"],
                                                       rel=1e-12)


def test_regression_metrics_and_score_match_sklearn(tmp_path):
    data, t, y = write_decay(tmp_path / "d.csv")
    other, t2, y2 = write_decay(tmp_path / "o.csv", n=60, seed=9)
    out = tmp_path / "p.json"
    result = cli("fit", data, "--model", "A*exp(-k*t) + c", "--target", "y", "--init",
                 "A=1,k=1", "--validation", other, "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    document = json.loads(out.read_text())
    _, rows = predicted(out, other)
    guess = np.array([float(r[-1]) for r in rows])
    validation = document["metrics"]["validation"]
    assert validation["r2"] == pytest.approx(r2_score(y2, guess), rel=1e-12)
    assert validation["rmse"] == pytest.approx(np.sqrt(mean_squared_error(y2, guess)), rel=1e-12)
    assert validation["loss"] == pytest.approx(validation["rmse"] ** 2, rel=1e-12)  # mse
    scored = cli("score", out, other, "--json")
    assert scored.exit_code == 0, scored.stderr
    assert json.loads(scored.stdout) == {"rows": 60, **validation}
    text = cli("score", out, other)
    assert text.stdout.splitlines()[0] == "rows 60" and "r2 " in text.stdout


def test_early_stopping_keeps_the_best_epoch(tmp_path):
    train, _, _ = write_classes(tmp_path / "train.csv", n=60, seed=6)
    held, _, _ = write_classes(tmp_path / "held.csv", n=200, seed=7)
    common = ["--model", LOGISTIC, "--target", "label", "--loss", "bce", "--optimizer",
              "adam", "--lr", "0.3", "--quiet"]
    out = tmp_path / "p.json"
    result = cli("train", train, *common, "--epochs", "2000", "--validation", held,
                 "--early-stopping", "15", "--out", out)
    assert result.exit_code == 0, result.stderr
    document = json.loads(out.read_text())
    stop = document["early_stopping"]
    best = stop["best_epoch"]
    assert stop["stopped"] and stop["patience"] == 15 and document["epochs"] == best + 15
    losses = [row[2] for row in document["history"]]
    assert min(losses) == losses[best - 1] and all(v > losses[best - 1] for v in losses[best:])
    again = tmp_path / "again.json"  # the same run stopped at the best epoch: its parameters
    assert cli("train", train, *common, "--epochs", best, "--out", again).exit_code == 0
    assert json.loads(again.read_text())["params"] == document["params"]


def test_multiclass_probabilities_sum_to_one(tmp_path):
    import shutil
    from pathlib import Path
    iris = tmp_path / "iris.csv"
    shutil.copy(Path(__file__).parent.parent / "examples" / "data" / "iris.csv", iris)
    out = tmp_path / "p.json"
    result = cli("train", iris, "--model", "dense(3)", "--target", "species", "--loss", "ce",
                 "--optimizer", "adam", "--lr", "0.05", "--epochs", "300",
                 "--validation", "0.2", "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    document = json.loads(out.read_text())
    assert document["validation"]["rows"] == 30  # 10 of each of the 3 classes of 50
    header, rows = predicted(out, iris, "--proba")
    assert header[-4:] == ["prediction", "p_setosa", "p_versicolor", "p_virginica"]
    p = np.array([[float(v) for v in r[-3:]] for r in rows])
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    assert [r[-4] for r in rows] == [document["classes"][k] for k in p.argmax(axis=1)]
    assert document["metrics"]["validation"]["accuracy"] >= 0.8


def test_bce_text_labels_round_trip_through_predict_and_score(tmp_path):
    data, _, labels = write_classes(tmp_path / "d.csv", labels=("cat", "dog"))
    out = tmp_path / "p.json"
    result = cli("train", data, "--model", "dense(4) -> tanh -> dense(1) -> sigmoid",
                 "--target", "label", "--loss", "bce", "--optimizer", "adam", "--lr", "0.05",
                 "--epochs", "150", "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    document = json.loads(out.read_text())
    assert document["classes"] == ["cat", "dog"]
    _, rows = predicted(out, data)
    guesses = [r[-1] for r in rows]
    assert set(guesses) <= {"cat", "dog"}
    scored = json.loads(cli("score", out, data, "--json").stdout)
    assert scored["accuracy"] == pytest.approx(accuracy_score(labels, guesses))
    assert scored["accuracy"] == pytest.approx(document["metrics"]["train"]["accuracy"])


def test_tsv_and_delimiters(tmp_path):
    tsv, _, _ = write_decay(tmp_path / "d.tsv", sep="\t")
    semi, _, _ = write_decay(tmp_path / "d.txt", sep=";")
    outs = []
    for path, extra in ((tsv, []), (semi, ["--delimiter", ";"])):
        out = tmp_path / f"{path.suffix[1:]}.json"
        result = cli("fit", path, "--model", "A*exp(-k*t) + c", "--target", "y", "--init",
                     "A=1,k=1", *extra, "--out", out, "--quiet")
        assert result.exit_code == 0, result.stderr
        outs.append(json.loads(out.read_text())["params"])
    assert outs[0] == outs[1]  # the same numbers, read with either separator
    _, rows = predicted(tmp_path / "tsv.json", tsv)
    assert len(rows) == 150
    as_tab = tmp_path / "tab.csv"
    as_tab.write_text(tsv.read_text())
    one_line_error(cli("fit", as_tab, "--model", "A*exp(-k*t)", "--target", "y"),
                   "has no target column 'y'", "--delimiter 'tab'")
    one_line_error(cli("fit", tsv, "--model", "A*t", "--target", "y", "--delimiter", "."),
                   "--delimiter must be one character")


@pytest.mark.parametrize("args, fragment", [
    (["--validation", "1.5"], "--validation takes a fraction between 0 and 1"),
    (["--validation", "0.001"], "leaves no validation rows"),
    (["--validation", "missing.csv"], "missing.csv: no such file"),
    (["--early-stopping", "3"], "--early-stopping needs --validation"),
])
def test_bad_evaluation_options_are_one_line(tmp_path, args, fragment, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data, _, _ = write_decay(tmp_path / "d.csv", n=20)
    one_line_error(cli("train", data, "--model", "A*exp(-k*t)", "--target", "y", *args),
                   fragment)


def test_validation_file_with_an_unseen_class_and_proba_on_a_regressor(tmp_path):
    data, _, _ = write_classes(tmp_path / "d.csv")
    odd, _, _ = write_classes(tmp_path / "odd.csv", n=30, labels=("no", "maybe"))
    one_line_error(cli("fit", data, "--model", LOGISTIC, "--target", "label", "--loss", "bce",
                       "--validation", odd), "'maybe', not one of the classes trained on")
    decay, _, _ = write_decay(tmp_path / "e.csv")
    out = tmp_path / "p.json"
    assert cli("fit", decay, "--model", "A*exp(-k*t)", "--target", "y", "--init", "A=1,k=1",
               "--out", out, "--quiet").exit_code == 0
    one_line_error(cli("predict", out, decay, "--proba"), "--proba is for classifiers")


def test_plot_writes_a_png_and_refuses_the_inputs(tmp_path):
    from matplotlib.image import imread
    data, _, _ = write_decay(tmp_path / "d.csv")
    for command, extra in (("fit", ["--init", "A=1,k=1", "--validation", "0.2"]),
                           ("train", ["--epochs", "50", "--lr", "0.1"])):
        png = tmp_path / f"{command}.png"
        result = cli(command, data, "--model", "A*exp(-k*t) + c", "--target", "y", *extra,
                     "--plot", png, "--quiet")
        assert result.exit_code == 0, result.stderr
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        height, width = imread(png).shape[:2]
        assert height == 450 and width == (1100 if command == "fit" else 650)
    one_line_error(cli("fit", data, "--model", "A*t", "--target", "y", "--plot", data),
                   "--plot", "is the data file")


def test_plot_without_matplotlib_is_a_one_line_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails
    data, _, _ = write_decay(tmp_path / "d.csv")
    out, png = tmp_path / "p.json", tmp_path / "p.png"
    result = cli("fit", data, "--model", "A*exp(-k*t) + c", "--target", "y", "--init",
                 "A=1,k=1", "--out", out, "--plot", png, "--quiet")
    assert result.exit_code == 0 and out.exists() and not png.exists()
    assert "pip install 'symgrad[plot]'" in result.stderr
    assert result.stderr.count("\n") == 1


def test_split_rows_holds_out_round_f_of_each_class():
    from symgrad.jobs.evaluation import split_rows
    labels = np.array([0.0] * 7 + [1.0] * 13 + [2.0] * 4)
    train, held = split_rows(len(labels), 0.3, 5, labels)
    assert sorted(np.concatenate([train, held]).tolist()) == list(range(len(labels)))
    assert [int(np.sum(labels[held] == c)) for c in (0, 1, 2)] == [2, 4, 1]
    again = split_rows(len(labels), 0.3, 5, labels)
    assert all((a == b).all() for a, b in zip((train, held), again))  # the seed repeats it
    assert not np.array_equal(held, split_rows(len(labels), 0.3, 6, labels)[1])


@pytest.mark.parametrize("name, decay", [("rmsprop", "0.1"), ("adagrad", None), ("adamw", None),
                                         ("sgd", "0.5")])
def test_optimizers_and_weight_decay_from_the_cli(tmp_path, name, decay):
    """The CLI's run equals symgrad.train with the same optimizer (PyTorch's defaults, adamw's
    weight decay 0.01 unless given), and PARAMS.json records every hyperparameter."""
    import symgrad
    from symgrad.optim import OPTIMIZERS
    data, t, y = write_decay(tmp_path / "d.csv", n=40)
    out = tmp_path / "p.json"
    extra = ["--weight-decay", decay] if decay else []
    result = cli("train", data, "--model", "a*t + b", "--target", "y", "--optimizer", name,
                 "--lr", "0.05", "--epochs", "30", "--batch-size", "8", "--init", "a=0,b=0",
                 *extra, "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    document = json.loads(out.read_text())
    expected_decay = float(decay) if decay else (0.01 if name == "adamw" else 0.0)
    assert document["optimizer"]["name"] == name
    assert document["optimizer"]["weight_decay"] == expected_decay
    optimizer = OPTIMIZERS[name](lr=0.05, weight_decay=expected_decay)
    model = symgrad.Model.supervised("a*t + b", target="y", loss="mse", inputs=["t"])
    reference = symgrad.train(symgrad.compile(model, backend="numpy"), np.column_stack([t, y]),
                              [0.0, 0.0], optimizer, epochs=30, batch_size=8)
    ours = [document["params"]["a"], document["params"]["b"]]
    np.testing.assert_allclose(ours, reference.params, rtol=1e-10)


def test_float32_training_and_prediction_agree_with_float64(tmp_path):
    data, t, _ = write_decay(tmp_path / "d.csv", n=80)
    params, predictions = {}, {}
    for dtype in ("float32", "float64"):
        out = tmp_path / f"{dtype}.json"
        result = cli("train", data, "--model", "A*exp(-k*t) + c", "--target", "y", "--init",
                     "A=1,k=1", "--optimizer", "adam", "--lr", "0.05", "--epochs", "300",
                     "--dtype", dtype, "--out", out, "--quiet")
        assert result.exit_code == 0, result.stderr
        document = json.loads(out.read_text())
        assert document["dtype"] == dtype
        params[dtype] = np.array([document["params"][n] for n in ("A", "c", "k")])
        _, rows = predicted(out, data)
        predictions[dtype] = np.array([float(r[-1]) for r in rows])
    np.testing.assert_allclose(params["float32"], params["float64"], rtol=1e-5)
    np.testing.assert_allclose(predictions["float32"], predictions["float64"], rtol=1e-5)
    assert not np.array_equal(params["float32"], params["float64"])  # it did run in float32
    assert np.array_equal(params["float32"].astype(np.float32), params["float32"])


def test_a_value_beyond_float32s_range_is_named_by_file_and_line(tmp_path):
    # finite in float64, inf in float32: refused as the CSV reader refuses a bad cell, by
    # the file's own line, when training in float32 and when predicting with that model
    data = tmp_path / "d.csv"
    data.write_text("t,y\n1,2\n\n2,3e38\n3,-5e38\n")
    one_line_error(cli("train", data, "--model", "a*t", "--target", "y", "--dtype", "float32"),
                   f"{data} line 5, column y: '-5e38' is beyond float32's range")
    data.write_text("t,y\n1,2\n2,4\n")
    out = tmp_path / "p.json"
    result = cli("train", data, "--model", "a*t", "--target", "y", "--dtype", "float32",
                 "--epochs", "2", "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    new = tmp_path / "new.csv"
    new.write_text("t\n1\n1e39\n")
    one_line_error(cli("predict", out, new), f"{new} line 3, column t: '1e39' is beyond")
    assert cli("predict", out, data).exit_code == 0


def test_float32_is_refused_where_it_is_not_computed(tmp_path):
    data, _, _ = write_classes(tmp_path / "d.csv", n=30)
    one_line_error(cli("train", data, "--model", "dense(2) -> dense(1) -> sigmoid", "--target",
                       "label", "--loss", "bce", "--dtype", "float32"),
                   "layer chains compute in float32 on the cuda backend only; on the CPU "
                   "they compute in float64")
    result = cli("fit", data, "--model", LOGISTIC, "--target", "label", "--dtype", "float32")
    one_line_error(result, "No such option '--dtype'")


@pytest.mark.parametrize("stage", ["run_metrics", "plot"])
def test_a_stop_while_measuring_or_drawing_still_saves_and_says_interrupted(tmp_path, stage,
                                                                            monkeypatch):
    """Ctrl-C after training, while the metrics are computed or the plot drawn: --out holds
    the trained parameters and the run ends as interrupted (exit 130), not as a failure."""
    from symgrad.jobs import evaluation, plots

    def stop(*_args, **_kwargs):
        raise KeyboardInterrupt
    if stage == "run_metrics":
        monkeypatch.setattr(evaluation, "run_metrics", stop)
    else:
        monkeypatch.setattr(plots, "plot_training", stop)
    data, _, _ = write_decay(tmp_path / "d.csv", n=30)
    out = tmp_path / "p.json"
    result = cli("train", data, "--model", "a*t + b", "--target", "y", "--epochs", "20",
                 "--validation", "0.2", "--plot", tmp_path / "p.png", "--out", out, "--quiet")
    assert result.exit_code == 130, (result.stderr, result.exception)
    assert "interrupted after 20 epochs; parameters saved to" in result.stderr
    document = json.loads(out.read_text())
    assert document["epochs"] == 20 and set(document["params"]) == {"a", "b"}
    assert ("metrics" in document) == (stage == "plot")


@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_regression_metrics_do_not_underflow_or_overflow(scale):
    """R^2 and RMSE of values near float64's ends: their squares are 0 or inf, and R^2
    read 1 for predictions 1% off."""
    from symgrad.metrics import r2, rmse
    targets, predictions = np.array([1.0, 2.0, 3.1]), np.array([1.0, 2.0, 3.0]) * 1.01
    assert r2(targets * scale, predictions * scale) == pytest.approx(
        r2_score(targets, predictions), rel=1e-12)
    assert rmse(targets * scale, predictions * scale) == pytest.approx(
        scale * mean_squared_error(targets, predictions) ** 0.5, rel=1e-12)
    assert r2(targets * scale, 0 * targets + 0.07) == (-np.inf if scale < 1 else pytest.approx(
        r2_score(targets, 0 * targets + 0.07 / scale)))  # far worse than the mean


def test_r2_near_the_top_of_float64():
    """The mean of values near 1e308 overflowed before any scaling (R^2 nan)."""
    from symgrad.metrics import r2
    targets, predictions = np.array([1.0, 2.0, 3.1]), np.array([1.0, 2.0, 3.0]) * 1.01
    assert r2(targets * 1e307, predictions * 1e307) == pytest.approx(
        r2_score(targets, predictions), rel=1e-12)


def test_a_target_whose_squares_underflow_is_warned_about(tmp_path):
    data = tmp_path / "tiny.csv"
    data.write_text("x,y\n1,1e-200\n2,2e-200\n3,3.1e-200\n")
    result = cli("fit", data, "--model", "a*x", "--target", "y")
    assert "squared errors of that size underflow to 0" in result.stderr
    assert "R^2 1," not in result.stdout


@pytest.mark.parametrize("command", ["fit", "train"])
def test_a_validation_row_the_model_cannot_evaluate_is_scored_not_finite(tmp_path, command):
    # sqrt of a negative x in the validation file: its metrics are not finite (null in
    # PARAMS.json); the summary says so instead of a traceback, and R^2 is not called 0
    data, held, out = tmp_path / "d.csv", tmp_path / "v.csv", tmp_path / "p.json"
    data.write_text("x,y\n1,2\n2,4\n3,6\n")
    held.write_text("x,y\n1,2\n-1,2\n")
    result = cli(command, data, "--model", "a*sqrt(x)", "--target", "y", "--validation",
                 held, "--out", out, *(("--epochs", "3") if command == "train" else ()))
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr
    validation = json.loads(out.read_text())["metrics"]["validation"]
    assert validation == {"loss": None, "r2": None, "rmse": None}
    shown = result.stderr.split("validation ")[-1]
    assert shown.startswith(("loss not finite", "loss nan")) and "R^2 0" not in shown
    # and a warning names the row by the validation file's line
    assert f"not finite in 1 row (first: {held} line 3, nan)" in result.stderr


@pytest.mark.parametrize("command", ["fit", "train"])
def test_a_held_out_row_the_model_cannot_evaluate_is_named_by_its_files_line(tmp_path,
                                                                             command):
    from symgrad.jobs.evaluation import split_rows
    rows = 40
    seed = next(s for s in range(100) if 30 in split_rows(rows, 0.25, s)[1])
    x = np.linspace(1, 5, rows)
    x[30] = -2.0  # data row 31, file line 32: held out by that seed, sqrt of a negative
    data, out = tmp_path / "d.csv", tmp_path / "p.json"
    data.write_text("x,y\n" + "".join(f"{v},{2 * abs(v) ** 0.5}\n" for v in x.tolist()))
    result = cli(command, data, "--model", "a*sqrt(x)", "--target", "y", "--validation",
                 "0.25", "--seed", str(seed), "--out", out,
                 *(("--epochs", "3") if command == "train" else ()))
    assert result.exit_code == 0, result.stderr
    assert f"validation loss is not finite: the model's output is not finite in 1 row " \
           f"(first: {data} line 32, nan)" in result.stderr


def test_score_json_is_strict_json_with_null_for_a_score_that_is_not_finite(tmp_path):
    data, held, out = tmp_path / "d.csv", tmp_path / "v.csv", tmp_path / "p.json"
    data.write_text("x,y\n1,2\n2,4\n3,6\n")
    held.write_text("x,y\n1,2\n-1,2\n")  # sqrt(-1): the held-out loss is not finite
    assert cli("fit", data, "--model", "a*sqrt(x)", "--target", "y", "--out", out,
               "--backend", "numpy").exit_code == 0
    result = cli("score", out, held, "--json")
    assert result.exit_code == 0, result.stderr
    assert "NaN" not in result.stdout and "Infinity" not in result.stdout
    scores = json.loads(result.stdout)
    assert scores["rows"] == 2 and scores["loss"] is None and scores["r2"] is None
    assert "not finite" in result.stderr


def test_numeric_labels_are_classes_by_value_for_ce_as_for_bce(tmp_path):
    """1, 1.0 and 01 are one class (they were three for ce, and a model trained on 1
    refused 1.0 in the file it scored); text labels stay text."""
    from symgrad.jobs.labels import encoded_labels
    from symgrad.data import open_csv
    path = tmp_path / "l.csv"
    path.write_text("x,label\n1,2\n2,1.0\n3,0\n4,01\n5,1\n6,1e0\n7,cat\n")
    indices, classes = encoded_labels(open_csv(str(path)), "label", 7)
    assert classes == ["0", "1.0", "2", "cat"]  # each class as first written
    assert indices.tolist() == [2, 1, 0, 1, 1, 1, 3]
    again, _ = encoded_labels(open_csv(str(path)), "label", 7, ["0", "1", "2", "cat"])
    assert again.tolist() == indices.tolist()
