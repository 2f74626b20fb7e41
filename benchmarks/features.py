"""Compile time and call time of a logistic model over 2, 20 and 200 features.

symgrad compiles ``sigmoid(dot(w, features) + b)`` with bce, as ``symgrad train`` does: ``w``
is a vector block (symgrad.blocks), its inner product and gradient loops in the kernel. The
unrolled row is the same model written with one scalar parameter per feature
(``w0*f0 + w1*f1 + ... + b``: straight-line code, what symgrad compiled before blocks). The
peer is JAX: ``jit`` of ``value_and_grad`` of the same mean loss (x64). Each cold figure is a fresh process with an
empty symgrad cache, timed from after the data are made (importing, model construction,
derivation, code generation and Numba's compile for symgrad; importing, tracing and XLA's
compile for JAX), the median of --repeats; the call figures are medians of 21 calls of loss +
gradient on --rows rows in one process, then the median over --repeats.

    python benchmarks/features.py [--widths 2 20 200] [--repeats 3] [--rows 100000]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

SYMGRAD_RUN = r'''
import json, sys, time
import numpy as np
width, rows, unrolled = int(sys.argv[1]), int(sys.argv[2]), len(sys.argv) > 3
rng = np.random.default_rng(0)
data = np.column_stack([rng.normal(size=(rows, width)), rng.integers(0, 2, rows)])
theta = rng.normal(size=width + 1) * 0.1
start = time.perf_counter()
from symgrad.model import Model
import symgrad
names = [f"f{k}" for k in range(width)]
text = "sigmoid(dot(w, features) + b)"
if unrolled:
    text = "sigmoid(" + " + ".join(f"w{k}*f{k}" for k in range(width)) + " + b)"
model = Model.supervised(text, "y", "bce", inputs=names)
kernel = symgrad.compile(model)
kernel(theta, data[:100])
cold = time.perf_counter() - start
times = []
for _ in range(21):
    t = time.perf_counter(); kernel(theta, data); times.append(time.perf_counter() - t)
print(json.dumps({"cold": cold, "call": sorted(times)[10]}))
'''

JAX_RUN = r'''
import json, sys, time
import numpy as np
width, rows = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
X, y = rng.normal(size=(rows, width)), rng.integers(0, 2, rows).astype(float)
theta = rng.normal(size=width + 1) * 0.1
start = time.perf_counter()
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
def loss(theta, X, y):
    z = X @ theta[:-1] + theta[-1]
    return jnp.mean(jax.nn.softplus(z) - y * z)
f = jax.jit(jax.value_and_grad(loss))
jax.block_until_ready(f(theta, X, y))
cold = time.perf_counter() - start
times = []
for _ in range(21):
    t = time.perf_counter(); jax.block_until_ready(f(theta, X, y)); times.append(time.perf_counter() - t)
print(json.dumps({"cold": cold, "call": sorted(times)[10]}))
'''


def fresh_run(script: str, width: int, rows: int, *extra: str) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "SYMGRAD_CACHE_DIR": cache, "NUMBA_CACHE_DIR": cache}
        out = subprocess.run([sys.executable, "-c", script, str(width), str(rows), *extra],
                             env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[2, 20, 200])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    runners = (("vector", SYMGRAD_RUN, ()), ("unrolled", SYMGRAD_RUN, ("unrolled",)),
               ("jax", JAX_RUN, ()))
    print("cold: seconds from a fresh process with an empty cache to the first gradient; "
          f"call: ms per loss + gradient on {args.rows:,} rows; ratios to JAX")
    print(f"{'features':>8} {'form':>9} {'cold s':>8} {'ratio':>6} {'call ms':>9} {'ratio':>6}")
    for width in args.widths:
        runs = {name: [fresh_run(script, width, args.rows, *extra) for _ in range(args.repeats)]
                for name, script, extra in runners}
        cold = {k: statistics.median(r["cold"] for r in v) for k, v in runs.items()}
        call = {k: statistics.median(r["call"] for r in v) * 1e3 for k, v in runs.items()}
        for name in runs:
            print(f"{width:>8} {name:>9} {cold[name]:>8.2f} {cold[name] / cold['jax']:>6.2f} "
                  f"{call[name]:>9.3f} {call[name] / call['jax']:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
