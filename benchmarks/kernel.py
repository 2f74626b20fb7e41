"""Loss + gradient of the logistic neuron (MSE) on 2,000,000 x 16 float64, against the peers.

All in one process, same data: symgrad (numba backend; the faster of a C-ordered and a
Fortran-ordered copy), a hand-written numpy gradient, sympy.lambdify of the same gradient,
torch autograd and jax.jit(jax.value_and_grad) (x64, device arrays) when installed (the
``bench`` extra), and the memory-bound floor: the fastest of several single passes that sum
every element of the 2M x 17 array (a prange over the flat array, over rows, per-column
accumulators, numpy's sum, a prange over the rows of the Fortran-ordered copy, and the flat
array in symgrad's own threads with 512-bit vectors, as its kernels are compiled). Times are
medians of --repeats runs (lambdify: one run).
Then the cache-hit start-up: a fresh Python process that imports symgrad, compiles the same
loss (cache hit) and calls it once, wall time, median of 3.

    python benchmarks/kernel.py [--rows 2000000] [--repeats 7]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from timing import timed

FEATURES = 16
PARAMS = [f"w{k}" for k in range(FEATURES)] + ["b"]
INPUTS = [f"x{k}" for k in range(FEATURES)] + ["y"]
LOSS = f"(sigmoid({' + '.join(f'w{k}*x{k}' for k in range(FEATURES))} + b) - y)**2"


def median_seconds(fn, repeats: int) -> float:
    """Median of ``repeats`` calls after one warm-up call (compilation, caches, page faults)."""
    return timed(fn, repeats, warm_up=True)[0]


def make_data(rows: int):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(rows, FEATURES + 1))
    data[:, -1] = rng.uniform(size=rows)
    theta = rng.normal(size=FEATURES + 1) * 0.3
    return theta, data


def numpy_by_hand(theta, data):
    X, y = data[:, :FEATURES], data[:, FEATURES]
    s = 1.0 / (1.0 + np.exp(-(X @ theta[:FEATURES] + theta[FEATURES])))
    r = s - y
    t = (2.0 / len(y)) * r * s * (1.0 - s)
    return float(r @ r) / len(y), np.concatenate([t @ X, [t.sum()]])


def floor_passes(data, fortran):
    """Single streaming passes that read every element of the rows x 17 array once and sum
    it: the memory-bound floor of any loss + gradient kernel over that data. Several ways of
    writing one are timed, on either layout, and the fastest is the floor (the machine
    decides which)."""
    from numba import njit, prange
    from symgrad.runtime.numba_driver import KernelCompiler
    from symgrad.runtime.kernel import chunks_for

    @njit(parallel=True, fastmath=True)
    def flat(values):  # the array as one contiguous vector, a prange reduction
        total = 0.0
        for i in prange(values.shape[0]):
            total += values[i]
        return total

    @njit(parallel=True, fastmath=True)
    def by_rows(array):  # a prange over rows, the row's columns inside
        total = 0.0
        for i in prange(array.shape[0]):
            for j in range(array.shape[1]):
                total += array[i, j]
        return total

    @njit(parallel=True, fastmath=True)
    def per_column(array, chunks):  # per-chunk accumulators, one per column
        n, totals = array.shape[0], np.zeros(chunks)
        for c in prange(chunks):
            acc = np.zeros(array.shape[1])
            for i in range(c * n // chunks, (c + 1) * n // chunks):
                for j in range(array.shape[1]):
                    acc[j] += array[i, j]
            totals[c] = acc.sum()
        return totals.sum()

    @njit(nogil=True, fastmath=True, pipeline_class=KernelCompiler)
    def flat_chunk(_theta, n, chunks, first, last, sums, values):  # as symgrad's kernels run
        for c in range(first, last):  # (unsigned indices: no wraparound, plain vector loads)
            total = 0.0
            for i in range(np.uint64(c * n // chunks), np.uint64((c + 1) * n // chunks)):
                total += values[i]
            sums[c, 0] = total

    import numba
    chunks, vector = numba.get_num_threads(), data.reshape(-1)
    pieces, pool = chunks_for(vector.shape[0]), ThreadPoolExecutor(chunks)

    def in_threads():  # the chunks shared among threads as symgrad shares them
        sums, bounds = np.empty((pieces, 1)), np.linspace(0, pieces, chunks + 1).astype(int)
        list(pool.map(lambda k: flat_chunk(vector, vector.shape[0], pieces, bounds[k],
                                           bounds[k + 1], sums, vector), range(chunks)))
        return sums.sum()
    return {"prange over the flat array": lambda: flat(vector),
            "prange over rows": lambda: by_rows(data),
            "per-chunk column accumulators": lambda: per_column(data, chunks),
            "numpy sum": lambda: data.sum(),
            "prange over the Fortran-ordered copy's rows": lambda: by_rows(fortran),
            "the flat array in symgrad's threads, 512-bit": in_threads}


def lambdified(theta, data):
    import sympy as sp
    import symgrad
    gradient = symgrad.derive(LOSS, PARAMS, INPUTS)
    forms = [symgrad.functions.to_builtins(e, keep=()) for e in
             symgrad.closed_forms(gradient).values()]
    f = sp.lambdify([sp.Symbol(n) for n in PARAMS + INPUTS], forms, modules="numpy")
    columns = [data[:, j] for j in range(data.shape[1])]
    return lambda: [np.mean(g) for g in f(*theta, *columns)]


def torch_runner(theta, data):
    import torch
    torch.set_default_dtype(torch.float64)
    X = torch.from_numpy(np.ascontiguousarray(data[:, :FEATURES]))
    y = torch.from_numpy(np.ascontiguousarray(data[:, FEATURES]))

    def run():
        w = torch.tensor(theta[:FEATURES], requires_grad=True)
        b = torch.tensor(theta[FEATURES], requires_grad=True)
        loss = ((torch.sigmoid(X @ w + b) - y) ** 2).mean()
        loss.backward()
        return loss.item(), w.grad.numpy(), b.grad.item()
    return run


def jax_runner(theta, data):
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def loss(params, X, y):
        return jnp.mean((jax.nn.sigmoid(X @ params[:FEATURES] + params[FEATURES]) - y) ** 2)
    step = jax.jit(jax.value_and_grad(loss))
    X = jax.device_put(np.ascontiguousarray(data[:, :FEATURES]))
    y = jax.device_put(np.ascontiguousarray(data[:, FEATURES]))
    p = jax.device_put(theta)
    return lambda: jax.block_until_ready(step(p, X, y))


def cache_hit_seconds(cache: str) -> float:
    script = ("import numpy as np, symgrad\n"
              f"f = symgrad.compile({LOSS!r}, {PARAMS!r}, {INPUTS!r})\n"
              f"f(np.zeros({len(PARAMS)}), np.ones((100, {len(INPUTS)})))\n")
    env = {**os.environ, "SYMGRAD_CACHE_DIR": cache}
    subprocess.run([sys.executable, "-c", script], env=env, check=True)  # fill the cache
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", script], env=env, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--skip-lambdify", action="store_true")
    args = parser.parse_args()

    import numba
    import symgrad

    theta, data = make_data(args.rows)
    fortran = np.asfortranarray(data)
    f = symgrad.compile(LOSS, PARAMS, INPUTS)
    expected = numpy_by_hand(theta, data)
    for array in (data, fortran):
        loss, grad = f(theta, array)
        assert abs(loss - expected[0]) <= 1e-10 * abs(expected[0])
        assert np.allclose(grad, expected[1], rtol=1e-9, atol=1e-14)
    print(f"{args.rows:,} rows x {FEATURES} features, float64; {numba.get_num_threads()} threads; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")

    floors = {name: median_seconds(run, args.repeats)
              for name, run in floor_passes(data, fortran).items()}
    print("floor candidates (one pass summing every element), ms: " +
          ", ".join(f"{name} {seconds * 1e3:.1f}" for name, seconds in floors.items()))
    fastest = min(floors, key=floors.get)
    rows = {f"floor: {fastest}": floors[fastest],
            "symgrad numba, C-ordered": median_seconds(lambda: f(theta, data), args.repeats),
            "symgrad numba, F-ordered": median_seconds(lambda: f(theta, fortran), args.repeats),
            "numpy by hand": median_seconds(lambda: numpy_by_hand(theta, data), args.repeats)}
    for name, make in (("torch autograd", torch_runner), ("jax.jit(value_and_grad)", jax_runner)):
        try:
            rows[name] = median_seconds(make(theta, data), args.repeats)
        except ImportError:
            print(f"({name}: not installed; pip install '.[bench]')")
    if not args.skip_lambdify:
        rows["sympy.lambdify"] = median_seconds(lambdified(theta, data), 1)

    symgrad_best = min(rows["symgrad numba, C-ordered"], rows["symgrad numba, F-ordered"])
    floor_s, jax_s = rows[next(iter(rows))], rows.get("jax.jit(value_and_grad)")
    print(f"{'':52}{'ms':>10}{'/ floor':>9}{'symgrad x':>11}")
    for name, seconds in rows.items():
        print(f"{name:52}{seconds * 1e3:>10.1f}{seconds / floor_s:>9.2f}"
              f"{seconds / symgrad_best:>11.2f}")
    if jax_s:
        print(f"symgrad best / JAX = {symgrad_best / jax_s:.2f} (target <= 0.5); "
              f"symgrad best / floor = {symgrad_best / floor_s:.2f} (target <= 1.3)")
    with tempfile.TemporaryDirectory() as cache:
        print(f"cache-hit start-up (new process: imports + compile + first call): "
              f"{cache_hit_seconds(cache):.2f} s wall (target <= 1.0)")


if __name__ == "__main__":
    main()
