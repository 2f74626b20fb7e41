"""Hostile and pathological input, as a new user might type it: one line and a non-zero exit,
nothing lost, nothing that hangs or grows without bound, right numbers for every legal name.
(Cache security: test_cache_security.py; CSV and PARAMS.json input: test_hardening_io.py.)"""
import errno
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from click.testing import CliRunner

import symgrad
from cli import main
from symgrad import ParseError, SymgradError, parse_expr
from support import central_differences

ROOT = Path(__file__).resolve().parent.parent


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, *fragments, status=2):
    assert result.exit_code == status, (result.exit_code, result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("symgrad: error: "), result.stderr
    assert all(f in lines[0] for f in fragments), lines[0]
    return lines[0]


@pytest.fixture
def hours(tmp_path):
    path = tmp_path / "hours.csv"
    path.write_text("x,y\n1,2\n2,4\n3,6\n")
    return path


# --- data loss ----------------------------------------------------------------------------

def test_out_that_is_the_data_file_is_refused_before_anything_happens(tmp_path, hours):
    before = hours.read_bytes()
    os.symlink(hours, tmp_path / "link.csv")
    for out in (hours, tmp_path / "link.csv", tmp_path / "." / "hours.csv"):
        one_line_error(cli("train", hours, "--model", "w*x", "--target", "y", "--out", out),
                       "is the data file", "refusing")
    assert hours.read_bytes() == before


def test_predict_out_that_is_an_input_is_refused(tmp_path, hours):
    params = tmp_path / "p.json"
    assert cli("train", hours, "--model", "w*x", "--target", "y", "--out", params,
               "--quiet").exit_code == 0
    saved = params.read_bytes()
    one_line_error(cli("predict", params, hours, "--out", hours), "is the data file")
    one_line_error(cli("predict", params, hours, "--out", params), "is the params file")
    assert params.read_bytes() == saved and hours.read_text().startswith("x,y\n1,2")


def test_an_empty_or_unwritable_out_is_refused_before_training(tmp_path, hours):
    one_line_error(cli("train", hours, "--model", "w*x", "--target", "y", "--out", ""),
                   "--out is an empty path")
    one_line_error(cli("train", hours, "--model", "w*x", "--target", "y", "--out",
                       tmp_path / "missing" / "p.json"), "no folder")


def test_replacing_out_keeps_its_permissions(tmp_path, hours):
    out = tmp_path / "p.json"
    out.write_text("{}")
    out.chmod(0o600)
    assert cli("train", hours, "--model", "w*x", "--target", "y", "--out", out,
               "--quiet").exit_code == 0
    assert out.stat().st_mode & 0o777 == 0o600 and json.loads(out.read_text())["params"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    from symgrad.files import write_atomically
    out = tmp_path / "p.json"
    out.write_text("old")

    def disk_full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(SymgradError, match="cannot write .*No space left on device"):
        write_atomically(out, "new " * 1000)
    assert out.read_text() == "old" and os.listdir(tmp_path) == ["p.json"]


def test_a_write_past_the_file_size_limit_is_one_line(tmp_path, hours):
    out = tmp_path / "p.json"
    out.write_text("old")

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))
    command = [sys.executable, "-m", "cli", "train", str(hours), "--model", "w*x", "--target",
               "y", "--out", str(out), "--quiet"]
    warm = subprocess.run(command[:-3] + ["--quiet"], cwd=ROOT, capture_output=True, timeout=300)
    assert warm.returncode == 0  # the kernel cached: the limited run writes only --out
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                            preexec_fn=limit)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "cannot write" in line and "too large" in line.lower()
    assert out.read_text() == "old" and sorted(os.listdir(tmp_path)) == ["hours.csv", "p.json"]


def signal_after_progress(args, signum, env=None):
    process = subprocess.Popen([sys.executable, "-m", "cli", *map(str, args)], cwd=ROOT,
                               env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    while "epoch" not in (line := process.stderr.readline()):
        assert line, "the process ended before it reported progress"
    sent = time.monotonic()
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    return process.returncode, time.monotonic() - sent, stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_save_like_ctrl_c(tmp_path, hours, signum):
    out = tmp_path / "p.json"
    code, latency, stderr = signal_after_progress(
        ["train", hours, "--model", "w*x", "--target", "y", "--epochs", "10000000000",
         "--lr", "0.001", "--out", out], signum)
    assert code == 128 + signum and latency < 2.0, stderr
    document = json.loads(out.read_text())
    assert document["interrupted"] is True and 0 < document["epochs"] < 10**10
    assert len(document["history"]) <= 1000  # kept in bounded memory, not 10^10 slots
    assert document["history"][-1][0] == document["epochs"]
    assert f"stopped by {signal.Signals(signum).name}" in stderr


def test_history_is_bounded_and_keeps_the_last_epoch():
    from symgrad.training import History
    history = History(capacity=100)
    for start in range(0, 10_000, 37):
        stop = min(start + 37, 10_000)
        history.extend(np.arange(start + 1, stop + 1, dtype=float))  # loss = epoch number
    epochs, losses = history.arrays()
    assert len(epochs) <= 101 and epochs[-1] == 10_000 and losses[-1] == 10_000
    assert np.array_equal(epochs, losses) and np.all(np.diff(epochs) > 0)
    full = History(capacity=100)
    full.extend(np.arange(1.0, 51.0))
    assert np.array_equal(full.arrays()[0], np.arange(1, 51))  # below capacity: every epoch


@pytest.mark.parametrize("args, fragment", [
    (["--seed", "-1"], "-1 is not in the range"),
    (["--model", "dense(10**20)"], "unknown layer 'dense(10**20)'"),
    (["--model", "dense(1000000000)"], "dense width must be 1 to 1,000,000"),
    (["--model", "dense(1000000) -> tanh -> dense(1000000) -> dense(1)"], "at most 100,000,000"),
    (["--model", "w*x*sqrt(-1)"], "complex or undefined constant"),
])
def test_sizes_and_seeds_are_refused_before_allocating(hours, args, fragment):
    options = {"--model": "w*x", **dict(zip(args[::2], args[1::2]))}
    result = cli("train", hours, "--target", "y", *[v for kv in options.items() for v in kv])
    one_line_error(result, fragment)


def test_a_header_of_50000_columns_reads_in_linear_time(tmp_path):
    from symgrad.data import read_header
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(50_000)) + "\n" + ",".join("1" * 50_000))
    started = time.monotonic()
    assert len(read_header(str(path))) == 50_000 and time.monotonic() - started < 2.0


@pytest.mark.parametrize("theta, data, fragment", [
    ("abc", np.ones((2, 2)), "theta must be numbers"),
    ({"w": 1.0}, np.ones((2, 2)), "theta must be numbers"),
    ([1.0], np.ones((2, 2), dtype=complex), "data is complex"),
])
def test_kernel_calls_with_wrong_types_are_symgrad_errors(theta, data, fragment):
    f = symgrad.compile("(w*x - y)**2", ["w"], ["x", "y"], backend="numpy")
    with pytest.raises(SymgradError, match=fragment):
        f(theta, data)


def test_library_train_refuses_a_negative_seed():
    f = symgrad.compile("(w*x - y)**2", ["w"], ["x", "y"], backend="numpy")
    with pytest.raises(SymgradError, match="seed must be an integer >= 0"):
        symgrad.train(f, np.ones((3, 2)), [0.0], symgrad.SGD(0.1), 1, shuffle=True, seed=-1)


# --- wrong numbers: every name the parser accepts ------------------------------------------

NAMES = ["loss", "gradient", "math", "t0", "t_0", "vexp", "vtanh", "vexpm1", "guarded_step",
         "step_into", "META", "np", "numpy", "njit", "prange", "loss_and_gradient", "predict",
         "batch_sums", "train_epochs", "range", "float", "logsumexp2", "functools", "cuda"]
BUILTIN_NAMES = ["min", "max", "abs", "len", "sum",  # function names: SymPy symbols only
                 "w_0", "w__0"]  # Numba's parfor lowering once merged these two


def test_python_format_is_right_for_a_parameter_named_loss():
    result = cli("derive", "loss*x**2", "--wrt", "loss,x", "--format", "python")
    namespace = {}
    exec(result.output, namespace)
    value, gradient = namespace["loss_and_gradient"](3.0, 2.0)
    assert value == 12.0 and gradient == {"loss": 4.0, "x": 12.0}


@pytest.mark.parametrize("name", NAMES)
def test_every_format_is_right_whatever_the_names(name):
    text = f"tanh({name}*x) + exp({name})*x**2 + logsumexp({name}, x)"
    values = {name: 0.3, "x": -0.7}
    expected = central_differences(parse_expr(text), [name, "x"], values)
    namespace = {}
    exec(cli("derive", text, "--wrt", f"{name},x", "--format", "python").output, namespace)
    _, gradient = namespace["loss_and_gradient"](values[name], values["x"])
    document = json.loads(cli("derive", text, "--wrt", f"{name},x", "--format", "json").output)
    symbols = {name: sp.Symbol(name), "x": sp.Symbol("x")}
    for wrt in (name, "x"):
        closed = sp.sympify(document["gradient"][wrt], locals=symbols)
        assert gradient[wrt] == pytest.approx(expected[wrt], rel=1e-12)
        assert float(closed.evalf(30, subs={symbols[k]: v for k, v in values.items()})) == \
            pytest.approx(expected[wrt], rel=1e-12)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_kernels_accept_names_the_generated_code_uses(backend):
    params = NAMES + BUILTIN_NAMES
    x, y = sp.symbols("x y")
    p = {n: sp.Symbol(n) for n in params}
    helpers = sp.tanh(p["vtanh"] * x) + sp.exp(p["vexp"] * x / 4) + symgrad.sigmoid(p["math"]) \
        + symgrad.softplus(p["range"] * x)
    expr = (sum(s * x ** (k % 3) for k, s in enumerate(p.values())) * helpers - y) ** 2
    f = symgrad.compile(expr, params, ["x", "y"], backend=backend)
    theta = np.linspace(-0.5, 0.5, len(params))
    data = np.array([[0.3, 1.0], [-1.2, 0.5]])
    value, grad = f(theta, data)
    rows = [dict(zip(["x", "y"], row)) for row in data]
    point = dict(zip(params, theta))
    expected = np.mean([[*central_differences(expr, params, {**point, **r}).values()]
                        for r in rows], axis=0)
    np.testing.assert_allclose(grad, expected, rtol=1e-10)


# --- hangs and resource bombs --------------------------------------------------------------

BOMBS = ["2**2**2**2**2**2", "x**9**9**9", "10**(10**10)", "(-2)**(10**10)",
         "**".join(["w"] * 400), "1" * 5000, "x**(10**100000)"]


@pytest.mark.parametrize("text", BOMBS, ids=lambda t: t[:20])
def test_exponent_bombs_are_refused_at_once(text):
    started = time.monotonic()
    with pytest.raises(ParseError) as info:
        parse_expr(text)
    assert time.monotonic() - started < 2.0 and "\n" not in str(info.value)


def test_bombs_from_the_cli_are_one_line(hours):
    for text in BOMBS[:4]:
        one_line_error(cli("derive", text), "column")
        one_line_error(cli("train", hours, "--model", f"w*x + {text}", "--target", "y"),
                       "column")


def test_a_500_term_sum_derives_trains_and_predicts(tmp_path, hours):
    model = " + ".join(f"w{k % 7}*x**{k % 5}/{k + 1}" for k in range(500))
    derived = cli("derive", f"({model} - y)**2", "--wrt", "w0,w1")
    assert derived.exit_code == 0 and derived.output.count("d/") == 2
    out = tmp_path / "p.json"
    trained = cli("train", hours, "--model", model, "--target", "y", "--epochs", "3",
                  "--lr", "1e-4", "--out", out, "--quiet")
    assert trained.exit_code == 0, trained.stderr
    predicted = cli("predict", out, hours)
    assert predicted.exit_code == 0 and len(predicted.output.splitlines()) == 4


@pytest.mark.slow
def test_a_10000_term_sum_parses_derives_and_compiles():
    text = "(" + " + ".join(f"{k % 9 + 1}*w{k % 3}*(x - {k})**2" for k in range(10_000)) + \
        " - y)**2"
    f = symgrad.compile(text, ["w0", "w1", "w2"], ["x", "y"], backend="numpy")
    theta, data = np.array([0.1, -0.2, 0.3]), np.array([[0.5, 1.0], [2.0, -1.0]])
    value, grad = f(theta, data)
    # the same sum, term by term, in numpy: k*(x - k)**2 weights per parameter
    k = np.arange(10_000)
    per_param = [np.array([np.sum((k % 9 + 1)[k % 3 == j] * (x - k[k % 3 == j]) ** 2)
                           for x in data[:, 0]]) for j in range(3)]
    residual = sum(t * s for t, s in zip(theta, per_param)) - data[:, 1]
    assert value == pytest.approx(np.mean(residual ** 2), rel=1e-10)
    np.testing.assert_allclose(grad, [np.mean(2 * residual * s) for s in per_param], rtol=1e-10)


def test_a_thousand_unary_minuses_and_deep_nesting():
    assert parse_expr("-" * 1000 + "x") == sp.Symbol("x")
    assert parse_expr("-" * 999 + "x") == -sp.Symbol("x")
    with pytest.raises(ParseError, match="too many nested"):
        parse_expr("sin(" * 150 + "x" + ")" * 150)
    deep = "sin(" * 90 + "x" + ")" * 90  # within the bound: derives and compiles
    f = symgrad.compile(f"({deep} - y)**2", [], ["x", "y"], backend="numpy")
    assert np.isfinite(f([], np.array([[0.5, 0.1]]))[0])


def test_a_megabyte_expression_is_one_line_or_a_result():
    text = " + ".join(["x"] * 350_000)  # 1.4 MB
    started = time.monotonic()
    assert parse_expr(text) == 350_000 * sp.Symbol("x")
    assert time.monotonic() - started < 30


# --- the library: SymgradError for everything it refuses ---------------------------------

a, x, y = sp.symbols("a x y")
UNSUPPORTED = [
    ("sign", (sp.sign(a * x) - y) ** 2, "sign"),
    ("piecewise", (sp.Piecewise((a * x, x > 0), (0, True)) - y) ** 2, "Piecewise"),
    ("undefined function", (sp.Function("f")(a * x) - y) ** 2, "undefined function f"),
    ("list", [a * x, y], "not a list"),
    ("matrix", sp.Matrix([a * x - y]), "scalar expression"),
    ("condition", a * x > y, "not a condition"),
    ("heaviside", (sp.Heaviside(a * x) - y) ** 2, "DiracDelta"),
    ("gamma", (sp.gamma(a) * x - y) ** 2, "polygamma"),
    ("complex", (sp.I * a * x - y) ** 2, "complex"),
    ("derivative", sp.Derivative(a * x ** 2, x), "unevaluated Derivative"),
    ("object", object(), "not a object"),
]


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("name, loss, fragment", UNSUPPORTED, ids=[c[0] for c in UNSUPPORTED])
def test_unsupported_input_is_a_symgrad_error(name, loss, fragment, backend):
    with pytest.raises(SymgradError) as info:
        f = symgrad.compile(loss, ["a"], ["x", "y"], backend=backend)
        f(np.array([0.5]), np.array([[1.0, 2.0]]))
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_the_numpy_backend_maps_math_functions_over_columns():
    f = symgrad.compile((sp.erf(a * x) + sp.erfc(x) - y) ** 2, ["a"], ["x", "y"], backend="numpy")
    g = symgrad.compile((sp.erf(a * x) + sp.erfc(x) - y) ** 2, ["a"], ["x", "y"])
    data = np.array([[1.0, 2.0], [0.3, -1.0]])
    np.testing.assert_allclose(f([0.5], data)[1], g([0.5], data)[1], rtol=1e-12)


@pytest.mark.parametrize("warm", [False, True])
def test_compile_is_thread_safe(tmp_path, monkeypatch, warm):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "cache"))
    loss = f"(sigmoid(w*x + b) - y)**2 + {int(warm)}*0 + w**2/{1000 + int(warm)}"
    if warm:
        symgrad.compile(loss, ["w", "b"], ["x", "y"])
    data = np.random.default_rng(0).normal(size=(1000, 2))
    results, errors = [], []

    def work():
        try:
            f = symgrad.compile(loss, ["w", "b"], ["x", "y"])
            results.append(f(np.array([0.1, 0.2]), data))
        except Exception as err:  # noqa: BLE001 - the test reports whatever a thread hit
            errors.append(repr(err))
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4
    assert all(r[0] == results[0][0] and np.array_equal(r[1], results[0][1]) for r in results)


def test_two_threads_on_numbas_workqueue_layer_do_not_abort(tmp_path):
    script = """
import threading, numpy as np, symgrad
f = symgrad.compile("(sigmoid(w*x + b) - y)**2", ["w", "b"], ["x", "y"])
data = np.random.default_rng(0).normal(size=(200_000, 2))
values = []
def work():
    for _ in range(20):
        values.append(f(np.array([0.1, 0.2]), data)[0])
threads = [threading.Thread(target=work) for _ in range(2)]
[t.start() for t in threads]; [t.join() for t in threads]
import numba
print(len(values), len(set(values)), numba.threading_layer())
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "NUMBA_THREADING_LAYER": "workqueue"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["40", "1", "workqueue"]


# --- found by trying it as a stranger ------------------------------------------------------

def test_out_that_is_a_fifo_is_written_into_not_replaced(tmp_path, hours):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    result = cli("train", hours, "--model", "w*x", "--target", "y", "--out", fifo, "--quiet")
    reader.join(timeout=60)
    assert result.exit_code == 0 and json.loads(received[0])["params"]
    assert stat_is_fifo(fifo)


def stat_is_fifo(path) -> bool:
    import stat
    return stat.S_ISFIFO(os.lstat(path).st_mode)


def test_a_broken_link_as_out_is_refused_before_training(tmp_path, hours):
    os.symlink(tmp_path / "a", tmp_path / "b")
    os.symlink(tmp_path / "b", tmp_path / "a")
    one_line_error(cli("train", hours, "--model", "w*x", "--target", "y", "--out",
                       tmp_path / "a"), "broken or looping symbolic link")


def test_a_link_planted_in_the_cache_never_redirects_a_write(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "cache"))
    loss = "(w*x - y)**2 + w**2/12345"
    first = symgrad.compile(loss, ["w"], ["x", "y"], backend="numpy")
    path = Path(first.module.__file__)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    path.unlink()
    os.symlink(victim, path)
    sys.modules.pop(first.module.__name__)
    again = symgrad.compile(loss, ["w"], ["x", "y"], backend="numpy")
    assert victim.read_text() == "precious" and not again.cache_hit
    assert not path.is_symlink() and path.read_text().startswith(again.source[:20])


def test_rows_split_only_at_line_ends(tmp_path):
    path = tmp_path / "vt.csv"
    path.write_text("x,y\n1,2\x0b3,4\n5,6\n")
    one_line_error(cli("train", path, "--model", "w*x", "--target", "y", "--backend", "numpy"),
                   "line 2: 3 fields, expected 2")


@pytest.mark.parametrize("args, fragment", [
    (["--model", "dense(2) -> dense(1)", "--features", "x,x"], "'x' is asked for twice"),
    (["--model", "dense(2) -> dense(1)", "--features", "x,y"], "'y' is asked for twice"),
    (["--model", "dense(2) -> tanh -> dense(1) -> log_softmax"], "goes with --loss ce"),
    (["--model", "w*x*1e308*10", "--backend", "numpy"], "beyond the float64 range"),
    (["--model", "w*x*tanh(10**400)"], "beyond the float64 range"),
])
def test_more_one_line_refusals(hours, args, fragment):
    one_line_error(cli("train", hours, "--target", "y", *args), fragment)


def test_softmax_under_mse_is_refused_by_derive_too():
    one_line_error(cli("derive", "dense(3) -> log_softmax", "--loss", "mse"), "goes with --loss ce")


def test_processes_racing_to_create_the_key_all_read_it(tmp_path):
    script = "from symgrad.codegen.cache import current_store; current_store()"
    env = {**os.environ, "SYMGRAD_KEY_FILE": str(tmp_path / "k" / "cache.key"),
           "SYMGRAD_CACHE_DIR": str(tmp_path / "cache")}
    running = [subprocess.Popen([sys.executable, "-c", script], env=env, text=True,
                                stderr=subprocess.PIPE) for _ in range(6)]
    errors = [p.communicate(timeout=120)[1] for p in running]
    assert not any("warning" in e for e in errors), errors
    assert (tmp_path / "k" / "cache.key").stat().st_size == 32


def test_library_names_given_as_a_string_are_refused():
    with pytest.raises(SymgradError, match="must be a sequence"):
        symgrad.Model.supervised("w*x0", target="y", loss="mse", inputs="x0")
    with pytest.raises(ParseError, match="expected an expression string"):
        parse_expr(5)
