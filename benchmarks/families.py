"""Term families: a sum written out term by term, compiled as one loop against written out.

For six models, each a sum of ``terms`` terms that differ only in their parameters,
numbers and data columns (symgrad.families), mse against a target on 1,000,000 rows
(100,000 for linear, whose data has a column per term):

- fourier:  sum_k w_k*sin((k + 1)*x)
- bumps:    sum_k a_k*exp(-(x - m_k)**2/s)  (one width s shared by every term)
- hinges:   sum_k w_k*max(x - k/terms, 0)   (a linear spline, Piecewise in SymPy)
- linear:   sum_k w_k*x_k                   (a linear model written out feature by feature)
- poly:     sum_k w_k*x**(k + 2)            (a polynomial: each power the last times x)
- shifted:  sum_k w_k*(x - 0.5)**(k + 2)    (powers of an expression of x, computed per row)

each in a fresh process with an empty kernel cache: symgrad (its families as loops),
symgrad with families turned off (every term written out, as before them) and JAX
(jit of value_and_grad over a vectorized model). Each process reports its compile + first
call (import excluded for all three) and the median of --calls steady calls of loss and
gradient over the 1,000,000 rows. Ratios are to the written-out kernel and to JAX.

    python benchmarks/families.py [--terms 50,200] [--calls 5]
        [--models fourier,bumps,hinges,linear,poly,shifted]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROWS = 1_000_000

DATA = """
import numpy as np, statistics, time
rng = np.random.default_rng(0)
x = rng.uniform(0, 1, {rows})
y = np.sin(6 * x) + 0.1 * rng.normal(size={rows})
terms = {terms}
features = rng.uniform(-1, 1, ({rows}, terms)) if {model!r} == "linear" else None
"""

SYMGRAD = DATA + """
import sympy as sp, symgrad, symgrad.families
if {written_out}:
    symgrad.families.MIN_TERMS = 10 ** 9
X, Y = sp.symbols("x y")
w, m = sp.symbols(f"w0:{{terms}}"), sp.symbols(f"m0:{{terms}}")
columns = sp.symbols(f"x0:{{terms}}")
s = sp.Symbol("s")
models = {{
    "fourier": (sum(w[k] * sp.sin((k + 1) * X) for k in range(terms)), [*w]),
    "bumps": (sum(w[k] * sp.exp(-(X - m[k]) ** 2 / s) for k in range(terms)), [*w, *m, s]),
    "hinges": (sum(w[k] * sp.Piecewise((X - sp.Rational(k, terms), X > sp.Rational(k, terms)),
                                      (0, True)) for k in range(terms)), [*w]),
    "linear": (sum(w[k] * columns[k] for k in range(terms)), [*w]),
    "poly": (sum(w[k] * X ** (k + 2) for k in range(terms)), [*w]),
    "shifted": (sum(w[k] * (X - sp.Rational(1, 2)) ** (k + 2) for k in range(terms)), [*w]),
}}
prediction, params = models[{model!r}]
theta = np.concatenate([np.full(terms, 0.1), np.linspace(0, 1, terms), [0.05]]) \
    if {model!r} == "bumps" else np.full(terms, 0.1)
linear = {model!r} == "linear"
data = np.column_stack([features, y]) if linear else np.column_stack([x, y])
start = time.perf_counter()
f = symgrad.compile((prediction - Y) ** 2, params, [*columns, Y] if linear else [X, Y])
f(theta, data)
first = time.perf_counter() - start
calls = []
for _ in range({calls}):
    start = time.perf_counter()
    f(theta, data)
    calls.append(time.perf_counter() - start)
print(first, statistics.median(calls), "_fam0" in f.source)
"""

JAX = DATA + """
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
k = jnp.arange(terms)
def fourier(p, x):
    return jnp.sin(x[:, None] * (k + 1.0)) @ p
def bumps(p, x):
    a, m, s = p[:terms], p[terms:2 * terms], p[-1]
    return jnp.exp(-(x[:, None] - m) ** 2 / s) @ a
def hinges(p, x):
    knots = k / terms
    return jnp.where(x[:, None] > knots, x[:, None] - knots, 0.0) @ p
def linear(p, x):
    return x @ p
def poly(p, x):
    return x[:, None] ** (k + 2.0) @ p
def shifted(p, x):
    return (x[:, None] - 0.5) ** (k + 2.0) @ p
model = {{"fourier": fourier, "bumps": bumps, "hinges": hinges, "linear": linear,
          "poly": poly, "shifted": shifted}}[{model!r}]
x = features if {model!r} == "linear" else x
theta = np.concatenate([np.full(terms, 0.1), np.linspace(0, 1, terms), [0.05]]) \\
    if {model!r} == "bumps" else np.full(terms, 0.1)
step = jax.jit(jax.value_and_grad(lambda p, x, y: jnp.mean((model(p, x) - y) ** 2)))
start = time.perf_counter()
jax.block_until_ready(step(theta, x, y))
first = time.perf_counter() - start
calls = []
for _ in range({calls}):
    start = time.perf_counter()
    jax.block_until_ready(step(theta, x, y))
    calls.append(time.perf_counter() - start)
print(first, statistics.median(calls), False)
"""


def run(code: str) -> tuple[float, float, bool]:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "SYMGRAD_CACHE_DIR": cache}
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=env, check=False)
    if done.returncode:
        raise SystemExit(done.stderr.strip().splitlines()[-1])
    first, call, looped = done.stdout.split()
    return float(first), float(call), looped == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terms", default="50,200")
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--models", default="fourier,bumps,hinges,linear,poly,shifted")
    parser.add_argument("--no-jax", action="store_true")
    args = parser.parse_args()
    print(f"{'model':8}{'terms':>6} | first call (s): {'loops':>7}{'written':>8}{'JAX':>7} | "
          f"{'rows':>14} call (ms): {'loops':>7}{'written':>8}{'JAX':>7} | "
          f"loops/written, /JAX")
    for model in args.models.split(","):
        for terms in (int(t) for t in args.terms.split(",")):
            rows = ROWS // 10 if model == "linear" else ROWS
            options = dict(rows=rows, terms=terms, model=model, calls=args.calls)
            loops = run(SYMGRAD.format(written_out=False, **options))
            written = run(SYMGRAD.format(written_out=True, **options))
            jax = (float("nan"),) * 2 if args.no_jax else run(JAX.format(**options))[:2]
            assert loops[2] and not written[2], "the loops run did not loop, or the other did"
            calls = f"{loops[1] * 1e3:7.1f}{written[1] * 1e3:8.1f}{jax[1] * 1e3:7.1f}"
            print(f"{model:8}{terms:6} | {'':16}{loops[0]:7.2f}{written[0]:8.2f}{jax[0]:7.2f} | "
                  f"{rows:>14,}{'':11}{calls} | "
                  f"{loops[1] / written[1]:.2f}, {loops[1] / jax[1]:.2f}", flush=True)
    print(json.dumps({"rows": ROWS, "linear_rows": ROWS // 10, "calls": args.calls}))


if __name__ == "__main__":
    main()
