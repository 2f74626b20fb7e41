"""What several test modules share: independent ways to evaluate a gradient, the table of
scalar models every backend is checked on (``MODELS``, ``random_case``), the names generated
code uses (``GENERATED_CODE_NAMES``), and the command line's test harness (``cli``,
``one_line_error``, ``fifo``).

- ``program_values``: runs the generated Python source (the CSE'd program, symgrad's printer).
- ``closed_form_values``: evaluates the closed forms with SymPy's arbitrary-precision evalf.
- ``central_differences``: differentiates the *original* loss numerically at 50 digits, so it
  shares nothing with symgrad's derivation, rewrites or printer.
"""
from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import sympy as sp
from click.testing import CliRunner

from cli import main
from symgrad import closed_forms, lower
from symgrad.codegen.python_source import python_source

DIGITS = 50


def program_function(gradient):
    namespace: dict = {}
    exec(compile(python_source(lower(gradient)), "<symgrad>", "exec"), namespace)
    return namespace["loss_and_gradient"]


def program_values(gradient, values):
    model = gradient.model
    names = [s.name for s in (*model.params, *model.inputs)]
    loss, partials = program_function(gradient)(**{n: values[n] for n in names})
    return loss, partials


def _subs(expr, values):
    return {s: sp.Float(values[s.name], DIGITS) for s in expr.free_symbols}


def closed_form_values(gradient, values):
    return {p.name: float(e.evalf(DIGITS, subs=_subs(e, values)))
            for p, e in closed_forms(gradient).items()}


def central_differences(loss, names, values, h=1e-15):
    out = {}
    for name in names:
        up, down = dict(values), dict(values)
        up[name] = sp.Float(values[name], DIGITS) + sp.Float(h, DIGITS)
        down[name] = sp.Float(values[name], DIGITS) - sp.Float(h, DIGITS)
        f_up = loss.evalf(DIGITS, subs={s: sp.Float(up[s.name], DIGITS) for s in loss.free_symbols})
        f_down = loss.evalf(DIGITS, subs={s: sp.Float(down[s.name], DIGITS)
                                          for s in loss.free_symbols})
        out[name] = float((f_up - f_down) / (2 * sp.Float(h, DIGITS)))
    return out


def close(a, b, rel=1e-10, abs_=1e-12):
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def numba_agrees_with_numpy(model, theta, data, *args):
    """symgrad.compile(model, *args) on numba and on the numpy reference: the loss agrees to
    1e-10 relative and the gradient to 1e-10 (1e-14 absolute). Returns the gradient."""
    import symgrad
    compiled, reference = (symgrad.compile(model, *args, backend=b) for b in ("numba", "numpy"))
    value, grad = compiled(theta, data)
    expected_value, expected_grad = reference(theta, data)
    assert close(value, expected_value), (value, expected_value)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-14)
    return grad


def trains_as_the_reference(model, data, theta, **settings):
    """Adam(lr=0.05) training on numba follows the numpy reference step for step."""
    import symgrad
    from symgrad.optim import Adam
    from symgrad.training import train
    runs = [train(symgrad.compile(model, backend=b), data, theta, Adam(lr=0.05), **settings)
            for b in ("numba", "numpy")]
    np.testing.assert_allclose(runs[0].params, runs[1].params, rtol=1e-10)
    np.testing.assert_allclose(runs[0].history, runs[1].history, rtol=1e-10)


# The table of scalar models every backend is checked on (kernel, cuda, PTX tests).
MODELS = [  # (name, loss, params, inputs)
    ("linear", "(w*x + b - y)**2", "w b", "x y"),
    ("cubic", "(a + b*x + c*x**2 + d*x**3 - y)**2", "a b c d", "x y"),
    ("sigmoid-neuron", "(sigmoid(w0*x0 + w1*x1 + b) - y)**2", "w0 w1 b", "x0 x1 y"),
    ("tanh-net", "(v0*tanh(u0*x + c0) + v1*tanh(u1*x + c1) - y)**2", "u0 u1 c0 c1 v0 v1", "x y"),
    ("abs", "abs(w*x + b - y)", "w b", "x y"),
    ("relu", "(relu(w*x + b) - y)**2", "w b", "x y"),
    ("log-sum-exp", "logsumexp(w0*x, w1*x, b) - w0*x", "w0 w1 b", "x"),
    ("bce", "bce(sigmoid(w0*x0 + w1*x1 + b), y)", "w0 w1 b", "x0 x1 y"),
    ("exp-softplus", "exp(-w*x) + softplus(b*x) + leaky_relu(w - b) + elu(b*x - w)", "w b", "x"),
    ("max-min", "(max(w*x, 0.5, b) - min(y, w))**2", "w b", "x y"),
    ("inverse-trig", "(asin(w*x/4) + acos(b*x/4) + atan(w*x) + atan2(w, 1 + x*x) - y)**2",
     "w b", "x y"),
    ("hyperbolic", "(sinh(w*x) + cosh(b*x)/10 + asinh(w*x) + atanh(b*x/4) + acosh(2 + (w*x)**2)"
     " - y)**2", "w b", "x y"),
    ("erf-log-base", "(erf(w*x + b) + erfc(w - x) + log(2 + (b*x)**2, 3) - y)**2", "w b", "x y"),
    ("where", "(where(w*x > b, w*x, b*x**2) - y)**2", "w b", "x y"),
    # sqrt(x) is nan where x < 0, in the branch not taken: the gradient must stay finite
    ("where-and-or", "(where(x > 0 and (w < 1 or x < 1), w*sqrt(x), b*x) - y)**2", "w b", "x y"),
    ("steps", "(w*floor(2*x) + b*ceil(x) + sign(w*x - b) + heaviside(x - w) + mod(w*x, 0.7)"
     " + mod(3*x, b + 2) - y)**2", "w b", "x y"),
    ("gamma", "(gamma(w + 2)*x + lgamma(b*b + 0.5) + digamma(b - 2) + e**(w*x) - y)**2",
     "w b", "x y"),
    ("polygamma-log1p", "(polygamma(2, w*w + 1) + polygamma(1, b - 2.5) + log1p(w*w*x*x)"
     " + expm1(b*x) - y)**2", "w b", "x y"),
]
IDS = [m[0] for m in MODELS]


def random_case(params, inputs, rows=40, seed=0):
    rng = np.random.default_rng(seed)
    theta = rng.uniform(-1.5, 1.5, size=len(params))
    data = rng.uniform(-2, 2, size=(rows, len(inputs)))
    if "y" in inputs:
        data[:, inputs.index("y")] = rng.uniform(0.05, 0.95, size=rows)  # bce needs 0 < y < 1
    return theta, data


# Names the generated code (Python, Numba and numpy kernels) uses itself: every one must still
# work as a user's parameter name.
GENERATED_CODE_NAMES = [
    "loss", "gradient", "math", "t0", "t_0", "vexp", "vtanh", "vexpm1", "guarded_step",
    "step_into", "META", "np", "numpy", "njit", "prange", "loss_and_gradient", "predict",
    "batch_sums", "train_epochs", "range", "float", "logsumexp2", "functools", "cuda",
    "GUARDED_STEP", "link_guarded_step"]


# --- the command line ----------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent  # the repository: ``python -m cli`` runs here


def cli(*args):
    """``symgrad ARGS`` through click's CliRunner; paths and numbers may be given as they are."""
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, *fragments, status=2):
    """A refusal as the command line gives it: exit status 2 (or status), nothing on stdout,
    one line on stderr starting 'symgrad: error: ' and holding every fragment. Returns it."""
    assert result.exit_code == status, (result.exit_code, result.stdout, result.stderr,
                                        result.exception)
    assert result.stderr.startswith("symgrad: error: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == "", (result.stdout,
                                                                      result.stderr)
    line = result.stderr.rstrip("\n")
    assert all(f in line for f in fragments), line
    return line


def signal_after_progress(args, signum, env=None):
    """``python -m cli ARGS`` sent signum once it reports an epoch on stderr: (its status,
    the seconds it took to end after the signal, its stderr)."""
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
