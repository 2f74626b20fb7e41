"""Time to first result: symgrad's cold and warm start against JAX and sympy.lambdify.

Every row runs in fresh Python processes (medians of --repeats), each with its own empty
kernel cache unless the row says "warm" (then the cache was filled by an earlier process):

- the README's quick-start command (``symgrad train`` on examples/data/sensor.csv), cold
  and warm, and ``symgrad predict`` right after it (does it compile? it should not);
- compile + first call in-process of a Fourier model ``sum_k w_k*sin(k*x)`` of 3, 50, 200
  and 1,000 terms (mse on 1,000 rows): symgrad cold and warm (a second process, cache hit),
  JAX (import + jit of value_and_grad + first call; JAX keeps no cache between processes) and
  sympy.lambdify of symgrad's gradient (lambdify + first call);
- in one process, the first call on each other data layout after a C-ordered one
  (Fortran order, a dict of columns, float32): the compile each would cost;
- a 10-row call repeated 20,000 times (inside an optimizer's loop): median and 99th
  percentile, symgrad against JAX.

    python benchmarks/startup.py [--repeats 3] [--terms 3,50,200,1000]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUICK_START = ["train", str(ROOT / "examples/data/sensor.csv"), "--model",
               "sigmoid(w0*x0 + w1*x1 + b)", "--target", "y", "--init", "w0=1,w1=1,b=0",
               "--epochs", "20000"]

SYMGRAD = """
import time, numpy as np
start = time.perf_counter()
import symgrad
terms = {terms}
loss = "(" + " + ".join(f"w{{k}}*sin({{k + 1}}*x)" for k in range(terms)) + " - y)**2"
f = symgrad.compile(loss, [f"w{{k}}" for k in range(terms)], ["x", "y"])
x = np.linspace(0, 3, 1000)
f(np.full(terms, 0.1), np.column_stack([x, np.sin(x)]))
print(time.perf_counter() - start, f.cache_hit)
"""

JAX = """
import time, numpy as np
start = time.perf_counter()
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
k = jnp.arange(1, {terms} + 1.0)
def loss(w, x, y):
    return jnp.mean((jnp.sin(x[:, None] * k) @ w - y) ** 2)
step = jax.jit(jax.value_and_grad(loss))
x = np.linspace(0, 3, 1000)
jax.block_until_ready(step(np.full({terms}, 0.1), x, np.sin(x)))
print(time.perf_counter() - start, False)
"""

LAMBDIFY = """
import time, numpy as np
start = time.perf_counter()
import sympy as sp, symgrad
terms = {terms}
loss = "(" + " + ".join(f"w{{k}}*sin({{k + 1}}*x)" for k in range(terms)) + " - y)**2"
params = [f"w{{k}}" for k in range(terms)]
gradient = symgrad.derive(loss, params, ["x", "y"])
forms = list(symgrad.closed_forms(gradient).values())
f = sp.lambdify([sp.Symbol(n) for n in params + ["x", "y"]], forms, modules="numpy")
x = np.linspace(0, 3, 1000)
[np.mean(g) for g in f(*np.full(terms, 0.1), x, np.sin(x))]
print(time.perf_counter() - start, False)
"""

LAYOUTS = """
import time, numpy as np, symgrad
f = symgrad.compile("(sigmoid(w0*x0 + w1*x1 + b) - y)**2", ["w0", "w1", "b"], ["x0", "x1", "y"])
data = np.random.default_rng(0).normal(size=(1000, 3))
theta = np.array([0.1, 0.2, 0.3])
layouts = {"C-ordered": data, "Fortran-ordered": np.asfortranarray(data),
           "dict of columns": {n: data[:, j].copy() for j, n in enumerate(f.inputs)},
           "float32": data.astype(np.float32)}
first = {}
for name, value in layouts.items():
    start = time.perf_counter()
    f(theta, value)
    first[name] = time.perf_counter() - start
print(first)
"""

SMALL = """
import time, numpy as np
import symgrad, jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
f = symgrad.compile("(sigmoid(w0*x0 + w1*x1 + b) - y)**2", ["w0", "w1", "b"], ["x0", "x1", "y"])
step = jax.jit(jax.value_and_grad(lambda t, X, y: jnp.mean(
    (jax.nn.sigmoid(X @ t[:2] + t[2]) - y) ** 2)))
data = np.random.default_rng(0).normal(size=(10, 3))
theta = np.array([0.1, 0.2, 0.3])
X, y = np.ascontiguousarray(data[:, :2]), np.ascontiguousarray(data[:, 2])
def symgrad_call():
    return f(theta, data)
def jax_call():
    value, grad = step(theta, X, y)
    return float(value), np.asarray(grad)
out = {}
for name, call in (("symgrad", symgrad_call), ("jax", jax_call)):
    call()
    times = []
    for _ in range(20000):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    times.sort()
    out[name] = (times[len(times) // 2], times[int(len(times) * 0.99)], sum(times) / len(times))
print(out)
"""


def run(code: str, cache: str) -> str:
    env = {**os.environ, "SYMGRAD_CACHE_DIR": cache}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=False, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"benchmark process failed:\n{done.stderr[-2000:]}")
    return done.stdout.strip().splitlines()[-1]


def wall(command: list[str], cache: str) -> float:
    env = {**os.environ, "SYMGRAD_CACHE_DIR": cache}
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - start


def quick_start(repeats: int) -> None:
    symgrad = [sys.executable, "-m", "cli"]
    cold, warm, predict = [], [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as folder:
            out = str(Path(folder) / "params.json")
            cache = str(Path(folder) / "cache")
            cold.append(wall([*symgrad, *QUICK_START, "--out", out], cache))
            warm.append(wall([*symgrad, *QUICK_START, "--out", out], cache))
            files = len(list(Path(cache, "__pycache__").glob("*.nbi")))
            predict.append(wall([*symgrad, "predict", out, QUICK_START[1]], cache))
            compiled = len(list(Path(cache, "__pycache__").glob("*.nbi"))) - files
    print(f"README quick start, empty cache   {statistics.median(cold):6.2f} s wall (target <= 2.0)")
    print(f"README quick start, warm cache    {statistics.median(warm):6.2f} s wall (target <= 0.8)")
    print(f"symgrad predict after train       {statistics.median(predict):6.2f} s wall; "
          f"functions it compiled: {compiled}")


def first_results(terms: list[int], repeats: int, peers: bool) -> None:
    print(f"\n{'compile + first call, in a fresh process':44}{'cold':>8}{'warm':>8}"
          f"{'JAX':>8}{'lambdify':>10}{'cold/JAX':>10}{'warm/JAX':>10}")
    for count in terms:
        cold, warm = [], []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as cache:
                cold.append(float(run(SYMGRAD.format(terms=count), cache).split()[0]))
                seconds, hit = run(SYMGRAD.format(terms=count), cache).split()
                assert hit == "True", "the second process should hit the cache"
                warm.append(float(seconds))
        jax = lambdify = float("nan")
        if peers:
            jax = statistics.median(float(run(JAX.format(terms=count), "").split()[0])
                                    for _ in range(repeats))
            lambdify = float(run(LAMBDIFY.format(terms=count), tempfile.gettempdir()).split()[0]) \
                if count <= 200 else float("nan")
        c, w = statistics.median(cold), statistics.median(warm)
        print(f"{f'{count} terms':44}{c:8.2f}{w:8.2f}{jax:8.2f}{lambdify:10.2f}"
              f"{c / jax:10.2f}{w / jax:10.2f}")


def layouts() -> None:
    with tempfile.TemporaryDirectory() as cache:
        first = json.loads(run(LAYOUTS, cache).replace("'", '"'))
    print("\nfirst call on each layout, one process: " +
          ", ".join(f"{name} {seconds * 1e3:.1f} ms" for name, seconds in first.items()))


def small_calls() -> None:
    with tempfile.TemporaryDirectory() as cache:
        out = json.loads(run(SMALL, cache).replace("'", '"').replace("(", "[").replace(")", "]"))
    (sm, sp, smean), (jm, jp, _) = out["symgrad"], out["jax"]
    print(f"\n10-row calls (20,000): symgrad median {sm * 1e6:.1f} us, p99 {sp * 1e6:.1f} us "
          f"(p99/median {sp / sm:.1f}, target <= 3), mean {smean * 1e6:.1f} us; "
          f"JAX median {jm * 1e6:.1f} us, p99 {jp * 1e6:.1f} us; symgrad/JAX median "
          f"{sm / jm:.2f} (target <= 1)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--terms", default="3,50,200,1000")
    parser.add_argument("--no-peers", action="store_true", help="symgrad's rows only")
    args = parser.parse_args()
    quick_start(args.repeats)
    first_results([int(t) for t in args.terms.split(",")], args.repeats, not args.no_peers)
    layouts()
    if not args.no_peers:
        small_calls()


if __name__ == "__main__":
    main()
