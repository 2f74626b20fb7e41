"""symgrad.runtime.numba_driver: one compiled version for every data layout, and the rows
shared among threads without changing a bit of the result."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import symgrad
from symgrad.runtime import numba_driver
from symgrad.runtime.kernel import ROWS_PER_CHUNK

ROOT = Path(__file__).resolve().parent.parent


def fresh_kernel(tag: str):
    """A model no other test compiles, so its module counts only this test's compiles."""
    return symgrad.compile(symgrad.Model.supervised(f"sigmoid(w*x0 + v_{tag}*x1 + b)",
                                                    target="y", loss="mse",
                                                    inputs=["x0", "x1"]))


def layouts(data: np.ndarray, inputs) -> dict:
    wide = np.zeros((data.shape[0] * 2, data.shape[1]))
    wide[::2] = data
    return {"C": data, "F": np.asfortranarray(data), "strided rows": wide[::2],
            "dict": {name: data[:, j].copy() for j, name in enumerate(inputs)}}


def test_one_compiled_version_serves_every_layout():
    f = fresh_kernel("layouts")
    data = np.random.default_rng(0).normal(size=(500, 3))
    theta = np.array([0.1, -0.2, 0.3])
    results = {name: f(theta, value) for name, value in layouts(data, f.inputs).items()}
    predictions = {name: f.predict(theta, value) for name, value in layouts(data, f.inputs).items()}
    assert len(f.module._loss_and_gradient.signatures) == 1
    assert len(f.module._predict.signatures) == 1
    first = results["C"]
    for loss, grad in results.values():  # one compiled function: the same bits
        assert loss == first[0] and np.array_equal(grad, first[1])
    for values in predictions.values():
        assert np.array_equal(values, predictions["C"])


def test_float32_data_is_widened_until_that_costs_a_compile(monkeypatch):
    """float32 data for a float64 kernel: widened copies (the same values, so the same bits)
    and no compile, until the copies have cost WIDENING_BUDGET; then read in place by one more
    compiled version, which serves every layout too and agrees."""
    from symgrad.runtime import columns as runtime

    f = fresh_kernel("float32")
    data = np.random.default_rng(1).normal(size=(300, 3))
    theta = np.array([0.4, 0.2, -0.3])
    single = data.astype(np.float32)
    widened = f(theta, single.astype(np.float64))
    for value in (single, np.asfortranarray(single), {n: single[:, j] for j, n in
                                                       enumerate(f.inputs)}):
        loss, grad = f(theta, value)
        assert loss == widened[0] and np.array_equal(grad, widened[1])
    assert len(f.module._loss_and_gradient.signatures) == 1
    assert 0 < f._reading.widening < runtime.WIDENING_BUDGET
    monkeypatch.setattr(runtime, "WIDENING_BUDGET", f._reading.widening)
    assert f.columns(single)[1][0].base is single  # the budget spent: read in place
    loss32, grad32 = f(theta, single)
    f(theta, np.asfortranarray(single))
    assert len(f.module._loss_and_gradient.signatures) == 2
    assert loss32 == pytest.approx(widened[0], rel=1e-12)
    np.testing.assert_allclose(grad32, widened[1], rtol=1e-12)


def test_float32_data_read_in_place_computes_in_float64(monkeypatch):
    """Arithmetic on data alone (x**3, sin(x)) runs in float64 after a float64 kernel starts
    reading float32 in place, as on the widened copies: the same predictions to the bit."""
    from symgrad.runtime import columns as runtime

    f = symgrad.compile(symgrad.Model.supervised("a*sin(x) + b*x**3 + exp(x/4)", target="y",
                                                 inputs=["x"]))
    data = np.random.default_rng(3).normal(size=(2000, 2)).astype(np.float32) * 4
    theta = np.array([0.5, 0.2])
    widened = f.predict(theta, data)
    monkeypatch.setattr(runtime, "WIDENING_BUDGET", 0.0)
    assert f.columns(data)[1][0].base is data
    assert np.array_equal(f.predict(theta, data), widened)
    assert np.array_equal(widened, f.predict(theta, data.astype(np.float64)))


@pytest.mark.parametrize("rows", [5 * ROWS_PER_CHUNK + 17, 64 * ROWS_PER_CHUNK + 3])
def test_the_thread_count_does_not_change_a_bit(monkeypatch, rows):
    f = fresh_kernel("threads")
    data = np.random.default_rng(2).normal(size=(rows, 3))
    theta = np.array([0.3, -0.1, 0.2])
    answers = []
    for threads in ("1", "2", "3", "7"):
        monkeypatch.setenv("NUMBA_NUM_THREADS", threads)
        answers.append((f(theta, data), f.predict(theta, data)))
    (loss, grad), values = answers[0]
    for (other_loss, other_grad), other_values in answers[1:]:
        assert other_loss == loss and np.array_equal(other_grad, grad)
        assert np.array_equal(other_values, values)


def test_the_small_call_path_agrees_with_the_threaded_path():
    """Pieces below two chunks run serially in the caller's thread; their sums, weighted by
    their rows, equal one threaded call over all the rows to 1e-12."""
    f = fresh_kernel("pieces")
    rows = 7 * ROWS_PER_CHUNK + 5
    data = np.random.default_rng(3).normal(size=(rows, 3))
    theta = np.array([0.2, 0.5, -0.4])
    loss, grad = f(theta, data)
    cuts = list(range(0, rows, 2 * ROWS_PER_CHUNK - 1)) + [rows]
    pieces = [(b - a, f(theta, data[a:b])) for a, b in zip(cuts, cuts[1:])]
    assert all(n < 2 * ROWS_PER_CHUNK for n, _ in pieces)
    assert sum(n * piece[0] for n, piece in pieces) / rows == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(sum(n * piece[1] for n, piece in pieces) / rows, grad,
                               rtol=1e-12)


def test_a_small_call_never_wakes_a_thread(monkeypatch):
    f = fresh_kernel("small")
    data = np.random.default_rng(4).normal(size=(10, 3))

    def no_pool():
        raise AssertionError("a 10-row call used the thread pool")
    monkeypatch.setattr(numba_driver, "_pool", no_pool)
    monkeypatch.setenv("NUMBA_NUM_THREADS", "4")
    loss, grad = f(np.array([0.1, 0.2, 0.3]), data)
    assert np.isfinite(loss) and f.predict(np.array([0.1, 0.2, 0.3]), data).shape == (10,)


@pytest.mark.parametrize("value, expected", [("3", 3), ("", None), ("zero", None), ("0", None)])
def test_the_thread_count_follows_numba_num_threads(monkeypatch, value, expected):
    monkeypatch.setenv("NUMBA_NUM_THREADS", value)
    count = numba_driver.thread_count()
    assert count == expected if expected else count >= 1


def test_predict_after_train_compiles_nothing(tmp_path):
    """train compiles the model's predict while it trains; predict then loads every function
    it runs from the kernel cache: no file in the cache is written or changed."""
    cache, out = tmp_path / "cache", tmp_path / "params.json"
    env = {**os.environ, "SYMGRAD_CACHE_DIR": str(cache)}
    data = ROOT / "examples" / "data" / "sensor.csv"
    command = [sys.executable, "-m", "cli"]
    subprocess.run([*command, "train", str(data), "--model", "sigmoid(w0*x0 + w1*x1 + b)",
                    "--target", "y", "--epochs", "50", "--out", str(out)], env=env, check=True,
                   capture_output=True, cwd=ROOT)
    before = {p.name: p.stat().st_mtime_ns for p in cache.rglob("*")}
    assert any(name.startswith(("numba_", )) and "_predict" in name for name in before)
    done = subprocess.run([*command, "predict", str(out), str(data)], env=env, check=True,
                          capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.splitlines()[0] == "x0,x1,prediction"
    assert len(done.stdout.splitlines()) == 13
    assert {p.name: p.stat().st_mtime_ns for p in cache.rglob("*")} == before


def test_a_stop_while_caching_predicts_kernel_ends_the_wait_not_the_run(monkeypatch, capsys):
    """The run's --out is saved before the predict compile is joined: a stop signal in the
    join ends the wait with a warning, and the run goes on to report what it saved."""
    import signal
    import threading

    from symgrad.jobs.setups import compiling_predict
    from symgrad.stopping import stop_signals_raise

    kernel = fresh_kernel("joined")
    release = threading.Event()
    monkeypatch.setattr(kernel, "predict", lambda *_: release.wait(30))
    data = np.zeros((4, 3), order="F")
    started = time.perf_counter()
    with stop_signals_raise():
        with compiling_predict(kernel, data, np.zeros(len(kernel.params))):
            threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()
        body_ended = True
    release.set()
    assert body_ended and time.perf_counter() - started < 10
    assert "stopped while caching the kernel predict uses, after the run was saved" in \
        capsys.readouterr().err


def test_a_warm_expression_model_trains_fits_and_predicts_without_sympy(tmp_path):
    """The CLI keys an expression model's kernel by its recipe and the CSV header: on a cache
    hit no model is built, so SymPy is never imported (the first run builds it)."""
    data = str(ROOT / "examples" / "data" / "sensor.csv")
    out = str(tmp_path / "params.json")
    script = ("import sys\n"
              "from symgrad.jobs import TrainOptions, train_file\n"
              "from symgrad.jobs.fit import fit_file\n"
              "from symgrad.jobs.options import FitOptions\n"
              "from symgrad.jobs.predict import predict_file\n"
              f"train_file(TrainOptions(data={data!r}, model='sigmoid(w0*x0 + w1*x1 + b)', "
              f"target='y', epochs=10, out={out!r}))\n"
              f"lines = predict_file({out!r}, {data!r}).splitlines()\n"
              f"fit_file(FitOptions(data={data!r}, model='w0*x0 + w1*x1 + b', target='y'))\n"
              "print(len(lines), 'sympy' in sys.modules)\n")
    env = {**os.environ, "SYMGRAD_CACHE_DIR": str(tmp_path / "cache")}
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           env=env, timeout=300, cwd=ROOT) for _ in range(2)]
    assert [run.stdout.strip() for run in runs] == ["13 True", "13 False"], runs[1].stderr


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_epoch_loop_calls_the_optimizer_step_without_linking_it(dtype):
    """The step is a C entry point compiled once per machine: the epoch loop declares its
    symbol and defines none of the step's code (linked in, it was 0.35 s of every compile)."""
    from symgrad.optim import Adam
    from symgrad.training import train

    f = symgrad.compile("(a*x + b - y)**2", ["a", "b"], ["x", "y"], dtype=dtype)
    data = np.column_stack([np.arange(8.0), 2 * np.arange(8.0) + 1])
    result = train(f, data, [0.0, 0.0], Adam(lr=0.1), epochs=300)
    assert result.params == pytest.approx([2.0, 1.0], abs=0.05)  # it trained
    llvm = "\n".join(f.module._train_epochs.inspect_llvm().values())
    assert f"@symgrad_guarded_step_{dtype}(" in llvm
    defined = [line for line in llvm.splitlines() if line.startswith("define")]
    assert defined and not any("guarded_step" in line for line in defined)


THREADS_TRAINING = """
import threading, numpy as np, symgrad
from symgrad.optim import Adam
from symgrad.training import train

x = np.linspace(0.0, 1.0, 50)
results = {}

def run(k):
    f = symgrad.compile(f"(a*x + b + {k}.0 - y)**2", ["a", "b"], ["x", "y"])
    data = np.column_stack([x, 3.0 * x + 1.0 + k])
    results[k] = train(f, data, [0.0, 0.0], Adam(lr=0.05), epochs=2000).params

threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(all(np.allclose(results[k], [3.0, 1.0], atol=1e-3) for k in range(4)))
"""


def test_threads_training_at_once_link_the_step_once(tmp_path):
    """Four threads of a fresh process train four models at the same time: the step's entry
    point is compiled and registered once, and every run trains."""
    env = {**os.environ, "SYMGRAD_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-c", THREADS_TRAINING], capture_output=True,
                         text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True"]


def test_the_kernel_compiler_asks_for_wide_vectors_and_changes_no_result():
    """KernelCompiler marks each function it lowers to vectorize 512 bits wide (a tuning
    attribute: on a CPU without AVX-512 it changes nothing) and computes what Numba's own
    compiler computes, here a fast-math sum whose lanes the width decides."""
    from numba import njit

    def total(values):
        s = 0.0
        for i in range(values.shape[0]):
            s += values[i] * values[i]
        return s

    wide = njit(pipeline_class=numba_driver.KernelCompiler, fastmath=True)(total)
    plain = njit(fastmath=True)(total)
    values = np.random.default_rng(1).normal(size=1001)
    assert wide(values) == pytest.approx(plain(values), rel=1e-13)
    assert wide(values) == pytest.approx(float(values @ values), rel=1e-13)
    [ir] = wide.inspect_llvm().values()
    [plain_ir] = plain.inspect_llvm().values()
    assert '"prefer-vector-width"="512"' in ir
    assert '"prefer-vector-width"' not in plain_ir
