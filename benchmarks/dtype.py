"""float32 against float64: loss + gradient on 1M rows, and training runs, same model and data.

The model is benchmarks/kernel.py's logistic neuron (MSE, 16 features), the data
Fortran-ordered (contiguous columns: the row loop vectorizes). The float32 kernel
(``symgrad.compile(..., dtype="float32")``) reads a float32 copy of the data, made once, as
``symgrad.train`` makes it; the float64 kernel reads the float64 data. Figures are medians of
--repeats runs after a warm-up call (compiles), the two dtypes' runs interleaved (the load of a
shared machine drifts); ratios are float64 time / float32 time.

- loss + gradient: one call on --rows rows (all threads);
- minibatch training: --epochs epochs of batches of 256 rows, shuffled, Adam, on --train-rows
  rows (the compiled epoch loop, one thread);
- full-batch training: 20 steps of SGD on --rows rows (one parallel kernel call a step);
and the largest relative difference of the two kernels' losses, gradients and final parameters.

    python benchmarks/dtype.py [--rows 1000000] [--train-rows 100000] [--epochs 5] [--repeats 7]
"""
from __future__ import annotations

import argparse

import numpy as np

import symgrad
from kernel import INPUTS, LOSS, PARAMS, make_data
from timing import timed


def interleaved(runs: dict, repeats: int) -> dict:
    """{name: (median seconds, last result)} of each run, one call of each in turn."""
    timings = {name: [] for name in runs}
    results = {name: run() for name, run in runs.items()}  # warm-up: compiles
    for _ in range(repeats):
        for name, run in runs.items():
            seconds, results[name] = timed(run, 1)
            timings[name].append(seconds)
    return {name: (float(np.median(timings[name])), results[name]) for name in runs}


def relative(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def row(label: str, double: float, single: float) -> None:
    print(f"{label:<48} {double * 1e3:>9.2f} {single * 1e3:>9.2f} ms   x{double / single:.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--train-rows", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    theta, data = make_data(args.rows)
    data = np.asfortranarray(data)
    kernels = {dtype: symgrad.compile(LOSS, PARAMS, INPUTS, dtype=dtype)
               for dtype in ("float64", "float32")}
    sets = {"float64": data, "float32": data.astype(np.float32, order="F")}  # once
    print(f"{'':<48} {'float64':>9} {'float32':>9}      ratio")

    calls = interleaved({d: lambda d=d: kernels[d](theta, sets[d]) for d in kernels},
                        args.repeats)
    row(f"loss + gradient, {args.rows:,} rows", calls["float64"][0], calls["float32"][0])
    converting = timed(lambda: kernels["float32"](theta, data), args.repeats, warm_up=True)[0]
    print(f"  (float32 kernel on the float64 data, converted every call: "
          f"{converting * 1e3:.2f} ms)")

    small = {dtype: sets[dtype][:args.train_rows] for dtype in sets}
    start = np.zeros(len(PARAMS))
    batches = interleaved({d: lambda d=d: symgrad.train(
        kernels[d], small[d], start, symgrad.Adam(lr=0.01), epochs=args.epochs,
        batch_size=256, shuffle=True) for d in kernels}, args.repeats)
    row(f"train: {args.epochs} epochs of batches of 256, {args.train_rows:,} rows",
        batches["float64"][0], batches["float32"][0])
    full = interleaved({d: lambda d=d: symgrad.train(
        kernels[d], sets[d], start, symgrad.SGD(lr=0.5), epochs=20) for d in kernels},
        args.repeats)
    row(f"train: 20 full-batch steps, {args.rows:,} rows", full["float64"][0],
        full["float32"][0])

    (loss64, grad64), (loss32, grad32) = calls["float64"][1], calls["float32"][1]
    trained = [relative(runs["float32"][1].params, runs["float64"][1].params)
               for runs in (batches, full)]
    print(f"relative difference, float32 from float64: loss {relative(loss32, loss64):.1e}, "
          f"gradient {relative(grad32, grad64):.1e} (of its largest entry), parameters after "
          f"minibatch training {trained[0]:.1e}, after full-batch {trained[1]:.1e}")


if __name__ == "__main__":
    main()
