"""Scale-out on Dask: full-batch runs over several files on a LocalCluster (two worker
processes) equal single-machine runs on the concatenated file; bad input names its file and
row; a worker killed mid-run is replaced and its partition recomputed; dask stays optional."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from cli import main
from symgrad.errors import SymgradError
from symgrad.jobs import FitOptions, TrainOptions, fit_file, train_file
from support import signal_after_progress

distributed = pytest.importorskip("distributed", reason="the dask extra is in the test extra")
pytestmark = pytest.mark.dask

MODEL = "sigmoid(w0*x0 + w1*x1 + b)"


@pytest.fixture(scope="module")
def cluster():
    import logging
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.ERROR) as c:
        yield c


@pytest.fixture
def files(tmp_path):
    """Three partitions of unequal size, and their concatenation."""
    rng = np.random.default_rng(1)
    lines, paths = [], []
    for k, rows in enumerate((17, 5, 30)):
        x = rng.normal(size=(rows, 2))
        y = (x[:, 0] - 0.5 * x[:, 1] + 0.3 * rng.normal(size=rows) > 0).astype(float)
        body = [f"{float(a)!r},{float(b)!r},{float(c)!r}" for a, b, c in zip(x[:, 0], x[:, 1], y)]
        (tmp_path / "parts").mkdir(exist_ok=True)
        path = tmp_path / "parts" / f"part{k}.csv"
        path.write_text("x0,x1,y\n" + "\n".join(body) + "\n")
        paths.append(path)
        lines += body
    whole = tmp_path / "all.csv"
    whole.write_text("x0,x1,y\n" + "\n".join(lines) + "\n")
    return str(tmp_path / "parts" / "*.csv"), str(whole), paths


def options(data, **extra):
    base = dict(data=data, model=MODEL, target="y", loss="bce", lr=0.5, epochs=30)
    return TrainOptions(**{**base, **extra})


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_full_batch_equals_one_machine_on_the_concatenated_file(cluster, files, optimizer,
                                                                monkeypatch):
    monkeypatch.setattr("symgrad.distributed.FAN_IN", 2)  # a reduction tree of two levels
    pattern, whole, _ = files
    spread = train_file(options(pattern, optimizer=optimizer, engine="dask",
                                scheduler=cluster.scheduler_address))
    single = train_file(options(whole, optimizer=optimizer))
    assert spread.status == single.status == "trained"
    for name, value in single.params.items():
        assert spread.params[name] == pytest.approx(value, rel=1e-9, abs=1e-12)
    ours = np.array(spread.document["history"])
    np.testing.assert_allclose(ours, np.array(single.document["history"]), rtol=1e-9)
    assert spread.document["engine"] == "dask"


@pytest.mark.parametrize("loss, l2", [("bce", 1.0), ("mse", 0.0)])
def test_fit_sums_each_pass_over_the_cluster_as_one_machine_does(cluster, files, loss, l2):
    pattern, whole, _ = files
    settings = dict(model=MODEL, target="y", loss=loss, l2=l2, l2_exclude=("b",) if l2 else ())
    spread = fit_file(FitOptions(data=pattern, engine="dask",
                                 scheduler=cluster.scheduler_address, **settings))
    single = fit_file(FitOptions(data=whole, **settings))
    assert spread.fit.converged and single.fit.converged
    assert spread.fit.method == single.fit.method == ("newton" if loss == "bce" else "lm")
    np.testing.assert_allclose(spread.fit.params, single.fit.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(spread.fit.stderr, single.fit.stderr, rtol=1e-9)
    assert spread.document["rows"] == single.document["rows"] == 52


def test_cli_with_a_scheduler_address(cluster, files, tmp_path):
    pattern, whole, _ = files
    out = tmp_path / "p.json"
    result = CliRunner().invoke(main, ["train", pattern, "--engine", "dask", "--scheduler",
                                       cluster.scheduler_address, "--model", MODEL, "--target",
                                       "y", "--loss", "bce", "--lr", "0.5", "--epochs", "5",
                                       "--init", "w0=1,w1=-1,b=0", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    single = train_file(options(whole, epochs=5, init="w0=1,w1=-1,b=0"))
    saved = json.loads(out.read_text())["params"]
    assert saved == pytest.approx(single.params, rel=1e-9)


@pytest.mark.parametrize("cell, message", [
    ("abc", "part1.csv line 3, column x1: 'abc' is not a number"),
    ("nan", "part1.csv line 3, column x1: 'nan' is not finite"),
])
def test_bad_input_in_one_file_names_the_file_and_row(cluster, files, cell, message):
    pattern, _, paths = files
    lines = paths[1].read_text().splitlines()
    x0, _, y = lines[2].split(",")
    lines[2] = f"{x0},{cell},{y}"
    paths[1].write_text("\n".join(lines) + "\n")
    with pytest.raises(SymgradError) as info:
        train_file(options(pattern, engine="dask", scheduler=cluster.scheduler_address))
    assert message in str(info.value)


def test_a_worker_killed_mid_run_is_replaced_and_its_partition_recomputed(cluster, files):
    from symgrad.distributed import DaskData
    from symgrad.jobs import checked_header

    _, _, paths = files
    first = str(paths[0])
    recipe, header = options(first, engine="dask").recipe, checked_header(first, "y")
    with distributed.Client(cluster.scheduler_address) as client:
        data = DaskData(client, [str(p) for p in paths], recipe, header)
        theta = np.array([0.3, -0.2, 0.1])
        before = data.sums(theta)
        victim = client.who_has(data.parts)[data.parts[0].key][0]  # holds a partition
        pid = client.run(os.getpid, workers=[victim])[victim]
        os.kill(pid, signal.SIGKILL)
        after = data.sums(theta)
        client.wait_for_workers(2, timeout=60)
    assert after[-2] == data.rows == 52
    np.testing.assert_allclose(after, before, rtol=1e-12)


@pytest.mark.parametrize("extra, message", [
    (dict(batch_size=8), "trains full batch"),
    (dict(shuffle=True), "trains full batch"),
    (dict(model="dense(3) -> tanh -> dense(1)"), "layer chains train on one machine"),
    (dict(data="/nonexistent/*.csv"), "no files match"),
])
def test_refusals(extra, message):
    base = options("x.csv", engine="dask")
    with pytest.raises(SymgradError, match=message):
        train_file(TrainOptions(**{**base.__dict__, **extra}))


def test_unreachable_scheduler_is_one_line_exit_2(files):
    pattern, _, _ = files
    result = CliRunner().invoke(main, ["train", pattern, "--engine", "dask", "--scheduler",
                                       "tcp://127.0.0.1:9", "--model", MODEL, "--target", "y"])
    assert result.exit_code == 2 and "cannot reach the Dask scheduler" in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_during_dask_training_saves_and_says_which_signal(cluster, files, tmp_path,
                                                                   signum):
    pattern, _, _ = files
    out = tmp_path / "p.json"
    code, _, stderr = signal_after_progress(
        ["train", pattern, "--engine", "dask", "--scheduler", cluster.scheduler_address,
         "--model", MODEL, "--target", "y", "--epochs", "10000000", "--out", out], signum)
    said = "interrupted" if signum == signal.SIGINT else "stopped by SIGTERM"
    assert code == 128 + signum and f"symgrad: error: {said} after" in stderr, stderr
    assert "Traceback" not in stderr and "exception" not in stderr, stderr  # distributed's
    assert json.loads(out.read_text())["interrupted"] is True


def test_a_stop_while_the_cluster_starts_closes_it_then_stops(monkeypatch):
    from symgrad import distributed as scale_out
    from symgrad.stopping import Stopped, stop_signals_raise
    events = []

    class Starting:  # a LocalCluster that is sent SIGTERM while it starts
        def __init__(self, **_):
            os.kill(os.getpid(), signal.SIGTERM)
            events.append("started")

        def __enter__(self):
            return self

        def __exit__(self, *_):
            events.append("closed")

    monkeypatch.setattr(distributed, "LocalCluster", Starting)
    monkeypatch.setattr(distributed, "Client", lambda cluster: Starting())
    with pytest.raises(Stopped) as stop, stop_signals_raise():
        with scale_out.dask_client(None, 1):
            events.append("used")
    assert stop.value.signum == signal.SIGTERM
    assert events == ["started", "started", "closed", "closed"]


def test_import_symgrad_never_imports_dask():
    code = ("import sys, symgrad, symgrad.jobs, cli; "
            "assert not {'dask', 'distributed'} & set(sys.modules), 'dask imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
