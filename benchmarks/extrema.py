"""max of many arguments: compile + first call, symgrad against JAX.

The model is the upper envelope of n lines, ``(max(a_0*x + b_0, ..., a_{n-1}*x + b_{n-1}) - y)**2``
(2n parameters, mse on 10,000 rows). Each row of the table runs in fresh Python processes
with an empty kernel cache: symgrad's numba kernel, symgrad's numpy reference (its derivation
and code generation alone, no JIT), and JAX (jit of value_and_grad of ``jnp.max`` over the
stacked lines; import excluded for all). Before symgrad.extrema, SymPy's derivative of an
n-ary Max nested maxima: 12 arguments took 40 s and 31 never finished.

    python benchmarks/extrema.py [--arguments 3,12,31,100]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

DATA = """
import time, numpy as np
n = {n}
rng = np.random.default_rng(0)
x, y = rng.uniform(-2, 2, 10_000), rng.normal(size=10_000)
t = np.linspace(-1.5, 1.5, n)
theta = np.column_stack([2 * t, -t * t]).ravel()       # tangents of x**2: each line wins
"""

SYMGRAD = DATA + """
import symgrad
text = "(max(" + ", ".join(f"a{{k}}*x + b{{k}}" for k in range(n)) + ") - y)**2"
params = [f"{{v}}{{k}}" for k in range(n) for v in "ab"]
start = time.perf_counter()
f = symgrad.compile(text, params, ["x", "y"], backend={backend!r})
f(theta, np.column_stack([x, y]))
print(time.perf_counter() - start)
"""

JAX = DATA + """
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
def loss(p, x, y):
    lines = p[0::2][:, None] * x + p[1::2][:, None]
    return jnp.mean((jnp.max(lines, axis=0) - y) ** 2)
start = time.perf_counter()
jax.block_until_ready(jax.jit(jax.value_and_grad(loss))(theta, x, y))
print(time.perf_counter() - start)
"""


def run(code: str) -> float:
    with tempfile.TemporaryDirectory() as cache:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env={**os.environ, "SYMGRAD_CACHE_DIR": cache}, check=False)
    if done.returncode:
        raise SystemExit(done.stderr.strip().splitlines()[-1])
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arguments", default="3,12,31,100")
    args = parser.parse_args()
    print(f"{'arguments':>9} | compile + first call (s): {'numba':>7}{'numpy':>7}{'JAX':>7} | "
          f"numba/JAX")
    for n in (int(a) for a in args.arguments.split(",")):
        numba = run(SYMGRAD.format(n=n, backend="numba"))
        numpy = run(SYMGRAD.format(n=n, backend="numpy"))
        jax = run(JAX.format(n=n))
        print(f"{n:9} | {'':26}{numba:7.2f}{numpy:7.2f}{jax:7.2f} | {numba / jax:.1f}",
              flush=True)


if __name__ == "__main__":
    main()
