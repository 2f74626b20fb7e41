"""symgrad.fit against its peers: large least squares, logistic regression, and NIST StRD.

All in one process, peers side by side on the same data:

1. Nonlinear least squares, --rows x 16 (default 2,000,000): a logistic neuron
   sigmoid(w.x + b) fitted by MSE to a noisy neuron target (true weights of magnitude
   0.2-1, y = sigmoid(w.x + b) + 0.05 N(0,1), so the optimum is well defined), from zeros.
   symgrad.fit (Levenberg-Marquardt on J^T J summed in one pass, no rows x params Jacobian):
   the cold first call (an empty kernel cache: derivation + Numba compilation included),
   then the warm median of --repeats. Against scipy.optimize.least_squares with the exact
   dense rows x 17 Jacobian written by hand in numpy, method "lm" (MINPACK lmder) and
   "trf", xtol=ftol=gtol=1e-12 (scipy's 1e-8 defaults stop short of 1e-8 agreement).
   Agreement: max over parameters of |scipy - symgrad| / |symgrad|.
   Peak extra memory: before each call, after gc.collect() and glibc's malloc_trim(0) (freed
   heap pages returned, so they cannot hide a peak), the peak resident set is reset (on Linux,
   "5" written to /proc/self/clear_refs sets VmHWM to the current VmRSS); after the call,
   VmHWM - VmRSS(before) is the most memory the call held beyond the data already resident
   (the largest over the timed calls).

2. L2-regularized logistic regression, --rows x 16, binary targets: symgrad.fit (bce,
   l2=1, intercept b unpenalized: damped Newton on the exact Hessian) against scikit-learn's
   LogisticRegression(C=1, solver="lbfgs"), the same objective. sklearn's tol is tuned
   (untimed runs, tol = 1e-6, 1e-8, ...) to the largest that agrees with symgrad to 1e-6
   relative; that tol and sklearn's default (tol=1e-4, max_iter=100) are timed.

3. The 27 NIST StRD nonlinear problems x 2 starts (tests/nist.py), in-process, warm: each
   model compiled by one untimed fit, then each fit's median of --repeats. Beside it,
   scipy.optimize.least_squares(method="lm") with default settings and (a) finite-difference
   Jacobians (curve_fit's default), (b) exact Jacobians from sympy.diff + lambdify (built
   once, untimed). Digits = -log10(max relative error) against the certified parameters
   (>= 6 counts) and standard errors (>= 4 counts); scipy's standard errors are
   sqrt(diag(s^2 (J^T J)^-1)) at its solution, s^2 = 2 cost / (n - p), computed from the SVD
   of its J (as curve_fit does). Lanczos1's certified standard errors are beyond float64
   (RSS 1.4e-25, below the rounding of its residuals), so no float64 fit reaches 4 digits.

    python benchmarks/fit.py [--rows N] [--repeats 3] [--skip-large] [--skip-nist]
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from timing import timed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

FEATURES = 16
FEATURE_NAMES = [f"x{k}" for k in range(FEATURES)]
WEIGHTS = [f"w{k}" for k in range(FEATURES)] + ["b"]  # scipy's and sklearn's order
NEURON = "sigmoid(" + " + ".join(f"w{k}*x{k}" for k in range(FEATURES)) + " + b)"
TIGHT = dict(xtol=1e-12, ftol=1e-12, gtol=1e-12)
MiB = 2 ** 20


# --- measuring ----------------------------------------------------------------------------

def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def release_freed_memory() -> None:
    """Return the pages glibc keeps after free() to the system (a no-op elsewhere)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def peak_extra(fn):
    """(seconds, peak resident bytes beyond those resident before, result) of one call; the
    bytes are None where /proc/self/clear_refs is unavailable (not Linux)."""
    release_freed_memory()
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        before = _status_kib("VmRSS")
    except OSError:
        before = None
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    extra = None if before is None else (_status_kib("VmHWM") - before) * 1024
    return seconds, extra, result


def measured(fn, repeats: int):
    """(median seconds, largest peak extra bytes, last result) of ``repeats`` calls."""
    runs = [peak_extra(fn) for _ in range(repeats)]
    extras = [r[1] for r in runs if r[1] is not None]
    return (statistics.median(r[0] for r in runs), max(extras) if extras else None,
            runs[-1][2])


@contextlib.contextmanager
def empty_kernel_cache():
    """symgrad's kernel cache pointed at a new empty directory: the next compile is cold."""
    previous = os.environ.get("SYMGRAD_CACHE_DIR")
    with tempfile.TemporaryDirectory() as directory:
        os.environ["SYMGRAD_CACHE_DIR"] = directory
        try:
            yield
        finally:
            if previous is None:
                del os.environ["SYMGRAD_CACHE_DIR"]
            else:
                os.environ["SYMGRAD_CACHE_DIR"] = previous


def max_relative(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def mib(nbytes) -> str:
    return "n/a" if nbytes is None else f"{nbytes / MiB:,.0f}"


# --- 1. nonlinear least squares on a logistic neuron ---------------------------------------

def neuron_data(rows: int, binary: bool, seed: int):
    """(data, true weights in WEIGHTS order): columns x0..x15, y; C-ordered float64."""
    rng = np.random.default_rng(seed)
    true = rng.uniform(0.2, 1.0, size=FEATURES + 1) * rng.choice([-1.0, 1.0], FEATURES + 1)
    data = np.empty((rows, FEATURES + 1))
    data[:, :FEATURES] = rng.normal(size=(rows, FEATURES))
    p = 1.0 / (1.0 + np.exp(-(data[:, :FEATURES] @ true[:FEATURES] + true[FEATURES])))
    data[:, FEATURES] = (rng.uniform(size=rows) < p) if binary else \
        p + 0.05 * rng.normal(size=rows)
    return data, true


def neuron_model(loss: str):
    from symgrad.model import Model
    return Model.supervised(NEURON, "y", loss=loss, inputs=[*FEATURE_NAMES, "y"])


def in_weight_order(result) -> np.ndarray:
    named = result.named()
    return np.array([named[n] for n in WEIGHTS])


def neuron_residuals(data):
    """fun and the exact dense Jacobian of sigmoid(X w + b) - y, as a careful user writes
    them in numpy (no temporaries the size of J beyond J itself)."""
    X, y = data[:, :FEATURES], data[:, FEATURES]

    def prediction(theta):
        return 1.0 / (1.0 + np.exp(-(X @ theta[:FEATURES] + theta[FEATURES])))

    def fun(theta):
        return prediction(theta) - y

    def jac(theta):
        s = prediction(theta)
        slope = s * (1.0 - s)
        J = np.empty((len(y), FEATURES + 1))
        np.multiply(X, slope[:, None], out=J[:, :FEATURES])
        J[:, FEATURES] = slope
        return J
    return fun, jac


def least_squares_section(rows: int, repeats: int, scipy_repeats: int) -> None:
    import symgrad
    from scipy.optimize import least_squares

    data, _ = neuron_data(rows, binary=False, seed=1)
    model, start = neuron_model("mse"), np.zeros(FEATURES + 1)
    print(f"\n1. Nonlinear least squares: sigmoid(w.x + b), MSE, {rows:,} x {FEATURES} "
          f"(data {data.nbytes / MiB:,.0f} MiB), start zeros")

    def fit():
        return symgrad.fit(model, data=data, theta0=start)
    with empty_kernel_cache():
        cold_s, cold_extra, result = peak_extra(fit)
    warm_s, warm_extra, result = measured(fit, repeats)
    assert result.converged and result.method == "lm", (result.method, result.reason)
    ours = in_weight_order(result)

    fun, jac = neuron_residuals(data)
    rows_out = []
    for method in ("lm", "trf"):
        seconds, extra, res = measured(
            lambda: least_squares(fun, start, jac=jac, method=method, **TIGHT), scipy_repeats)
        rows_out.append((f"scipy least_squares {method}, exact J", seconds, extra,
                         f"nfev {res.nfev}, njev {res.njev}, status {res.status}",
                         max_relative(res.x, ours)))

    print(f"   {'':38}{'s':>8}{'scipy/sg':>10}{'extra MiB':>11}  agreement  iterations")
    print(f"   {'symgrad.fit, cold (empty cache)':38}{cold_s:>8.2f}{'':>10}{mib(cold_extra):>11}")
    print(f"   {'symgrad.fit, warm':38}{warm_s:>8.2f}{'':>10}{mib(warm_extra):>11}"
          f"  {'':9}  {result.iterations} (lm), loss {result.loss:.10g}")
    for name, seconds, extra, detail, agreement in rows_out:
        print(f"   {name:38}{seconds:>8.2f}{seconds / warm_s:>10.1f}{mib(extra):>11}"
              f"  {agreement:9.1e}  {detail}")
    print(f"   symgrad: median of {repeats} warm; scipy: median of {scipy_repeats}, "
          f"{', '.join(f'{k}={v:g}' for k, v in TIGHT.items())}; agreement = max relative "
          f"parameter difference from symgrad (target 1e-8)")


# --- 2. logistic regression ----------------------------------------------------------------

def sklearn_fit(X, y, **settings):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(C=1.0, solver="lbfgs", **settings).fit(X, y)


def sklearn_weights(estimator) -> np.ndarray:
    return np.r_[estimator.coef_[0], estimator.intercept_[0]]


def logistic_section(rows: int, repeats: int, peer_repeats: int) -> None:
    import symgrad

    data, _ = neuron_data(rows, binary=True, seed=2)
    X, y = np.ascontiguousarray(data[:, :FEATURES]), data[:, FEATURES].copy()
    model = neuron_model("bce")
    print(f"\n2. Logistic regression: bce + l2/2 ||w||^2 (l2=1, b unpenalized), "
          f"{rows:,} x {FEATURES}, binary y")

    def fit():
        return symgrad.fit(model, data=data, l2=1.0, l2_exclude=["b"])
    ours_s, result = timed(fit, repeats, warm_up=True)
    assert result.converged, result.reason
    ours = in_weight_order(result)

    tuned = None
    for tol in (1e-6, 1e-8, 1e-10, 1e-12, 1e-14):
        estimator = sklearn_fit(X, y, tol=tol, max_iter=10_000)
        if max_relative(sklearn_weights(estimator), ours) <= 1e-6:
            tuned = tol
            break
    settings = [("sklearn lbfgs, default tol=1e-4, max_iter=100", {})]
    if tuned is not None:
        settings.insert(0, (f"sklearn lbfgs, tol={tuned:g} (tuned), max_iter=10000",
                            dict(tol=tuned, max_iter=10_000)))
    else:
        print("   (no sklearn tol down to 1e-14 reached 1e-6 agreement)")

    print(f"   {'':50}{'s':>8}{'sk/sg':>8}  agreement  iterations")
    print(f"   {'symgrad.fit (' + result.method + ')':50}{ours_s:>8.2f}{'':>8}  {'':9}"
          f"  {result.iterations}")
    for name, kwargs in settings:
        seconds, estimator = timed(lambda: sklearn_fit(X, y, **kwargs), peer_repeats)
        print(f"   {name:50}{seconds:>8.2f}{seconds / ours_s:>8.1f}  "
              f"{max_relative(sklearn_weights(estimator), ours):9.1e}  {estimator.n_iter_[0]}")
    print(f"   symgrad: median of {repeats} warm; sklearn: median of {peer_repeats}; "
          f"agreement = max relative difference of (w, b) from symgrad (target 1e-6)")


# --- 3. NIST StRD ----------------------------------------------------------------------------

def digits(value, certified) -> float:
    """-log10 of the largest relative error, 0 for non-finite values, at most 16."""
    value, certified = np.asarray(value, dtype=float), np.asarray(certified, dtype=float)
    if not np.all(np.isfinite(value)):
        return 0.0
    error = float(np.max(np.abs(value - certified) / np.abs(certified)))
    return 16.0 if error == 0 else min(16.0, max(0.0, -math.log10(error)))


def sympy_residuals(problem):
    """The residual and its exact Jacobian (sympy.diff, lambdify to numpy) of a problem."""
    import sympy as sp

    symbols = {n: sp.Symbol(n) for n in (*problem.params, *problem.inputs)}
    expression = sp.sympify(problem.model, locals=symbols)
    arguments = [symbols[n] for n in (*problem.params, *problem.inputs)]
    model = sp.lambdify(arguments, expression, modules="numpy")
    partials = sp.lambdify(arguments, [sp.diff(expression, symbols[p]) for p in problem.params],
                           modules="numpy")
    columns = list(problem.x.reshape(len(problem.y), -1).T)
    y = problem.y

    def fun(theta):
        return model(*theta, *columns) - y

    def jac(theta):
        return np.column_stack([np.broadcast_to(np.asarray(c, dtype=float), y.shape)
                                for c in partials(*theta, *columns)])
    return fun, jac


def scipy_stderr(res, rows: int) -> np.ndarray:
    """sqrt(diag(s^2 (J^T J)^-1)) at scipy's solution, through the SVD of its J."""
    p = len(res.x)
    try:
        _, s, vt = np.linalg.svd(res.jac, full_matrices=False)
    except np.linalg.LinAlgError:
        return np.full(p, np.inf)
    if s[-1] <= 0 or not np.all(np.isfinite(s)):
        return np.full(p, np.inf)
    covariance = (vt.T / s ** 2) @ vt * (2 * res.cost / (rows - p))
    return np.sqrt(np.diag(covariance))


def scipy_nist_fit(fun, start, jac):
    from scipy.optimize import least_squares
    try:
        return least_squares(fun, np.array(start), jac=jac, method="lm")
    except (ValueError, np.linalg.LinAlgError):  # e.g. residuals not finite at the start
        return None


def nist_section(repeats: int) -> None:
    import symgrad
    from symgrad.model import Model
    import nist

    print(f"\n3. NIST StRD, 27 problems x 2 starts, default settings; ms = median of {repeats} "
          f"in-process fits (symgrad warm)")
    print(f"   {'problem':10}{'start':>5} | {'symgrad: dig  se    ms':>23} | "
          f"{'scipy fd: dig  se    ms':>24} | {'scipy exact: dig  se    ms':>27}")
    table = []
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for problem in nist.problems():
            model = Model.supervised(problem.model, "y", params=list(problem.params),
                                     inputs=[*problem.inputs, "y"])
            data = np.column_stack([problem.x.reshape(len(problem.y), -1), problem.y])
            fun, jac = sympy_residuals(problem)
            symgrad.fit(model, data=data, theta0=problem.starts[0])  # compile (untimed)
            rows = len(problem.y)
            for number, start in enumerate(problem.starts, 1):
                line = [problem.name, number]
                seconds, result = timed(
                    lambda: symgrad.fit(model, data=data, theta0=start), repeats)
                line += [digits(result.params, problem.certified),
                         digits(result.stderr, problem.certified_stderr), seconds * 1e3]
                for jacobian in ("2-point", jac):
                    seconds, res = timed(lambda: scipy_nist_fit(fun, start, jacobian), repeats)
                    line += [0.0, 0.0, seconds * 1e3] if res is None else \
                        [digits(res.x, problem.certified),
                         digits(scipy_stderr(res, rows), problem.certified_stderr),
                         seconds * 1e3]
                table.append(line)
                print(f"   {line[0]:10}{line[1]:>5} | {line[2]:>10.1f}{line[3]:>5.1f}"
                      f"{line[4]:>8.2f} | {line[5]:>11.1f}{line[6]:>5.1f}{line[7]:>8.2f} | "
                      f"{line[8]:>14.1f}{line[9]:>5.1f}{line[10]:>8.2f}", flush=True)
    nist_totals(table)


def nist_totals(table) -> None:
    total = len(table)
    print(f"   {'':15}   {'params >= 6 digits':>20}{'stderr >= 4':>13}{'both':>6}"
          f"{'total ms':>10}{'median ms':>11}{'median time / symgrad':>23}")
    for name, first in (("symgrad", 2), ("scipy fd (lm)", 5), ("scipy exact (lm)", 8)):
        params = [row[first] >= 6 for row in table]
        stderr = [row[first + 1] >= 4 for row in table]
        both = sum(p and s for p, s in zip(params, stderr))
        ms = [row[first + 2] for row in table]
        ratio = statistics.median(row[first + 2] / row[4] for row in table)
        print(f"   {name:18}{sum(params):>14} / {total}{sum(stderr):>8} / {total}{both:>6}"
              f"{sum(ms):>10.1f}{statistics.median(ms):>11.2f}{ratio:>23.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peer-repeats", type=int, default=None,
                        help="repeats for scipy and sklearn in sections 1-2 (default --repeats)")
    parser.add_argument("--skip-large", action="store_true", help="skip sections 1 and 2")
    parser.add_argument("--skip-nist", action="store_true", help="skip section 3")
    args = parser.parse_args()
    peer_repeats = args.repeats if args.peer_repeats is None else args.peer_repeats

    import numba
    import scipy
    import sklearn
    import symgrad  # noqa: F401  (imported before timing)
    print(f"numba {numba.__version__} ({numba.get_num_threads()} threads), scipy "
          f"{scipy.__version__}, scikit-learn {sklearn.__version__}, numpy {np.__version__}; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (a shared machine)")
    start = time.perf_counter()
    if not args.skip_large:
        least_squares_section(args.rows, args.repeats, peer_repeats)
        logistic_section(args.rows, args.repeats, peer_repeats)
    if not args.skip_nist:
        nist_section(args.repeats)
    print(f"\n(total {time.perf_counter() - start:.0f} s; load average now "
          f"{os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
