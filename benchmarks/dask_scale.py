"""Dask scale-out: full-batch gradient steps over CSV partitions, rows per second against the
number of local worker processes, and the engine's per-step overhead.

The data: --files CSV files of --rows rows each (logistic neuron, 16 features), written once
to a temporary folder. For each worker count, a LocalCluster is started, the partitions are
loaded (timed apart), then --steps full-batch steps are timed (median of --repeats); rows/s =
total rows / seconds per step. The overhead is the time of a step on 1-row files (the kernel's
work is nil, so it is scheduling: one task per partition plus the reduction tree, theta out,
one vector back). The single-process engine on the same rows is the baseline.

    python benchmarks/dask_scale.py [--files 8] [--rows 250000] [--steps 5] [--repeats 3]
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from timing import timed

FEATURES = 16
MODEL = f"sigmoid({' + '.join(f'w{k}*x{k}' for k in range(FEATURES))} + b)"


def write_files(folder: Path, files: int, rows: int) -> str:
    rng = np.random.default_rng(0)
    header = ",".join([f"x{k}" for k in range(FEATURES)] + ["y"])
    for k in range(files):
        x = rng.normal(size=(rows, FEATURES))
        y = (x.sum(axis=1) > 0).astype(float)
        np.savetxt(folder / f"part{k:03d}.csv", np.column_stack([x, y]), delimiter=",",
                   header=header, comments="", fmt="%.6f")
    return str(folder / "*.csv")


def options(pattern: str):
    from symgrad.jobs import TrainOptions
    return TrainOptions(data=pattern, model=MODEL, target="y", loss="bce", lr=0.1, epochs=1,
                        engine="dask")


def dask_step_seconds(pattern: str, workers: int, steps: int, repeats: int):
    from distributed import Client, LocalCluster
    from symgrad.distributed import DaskData, data_files
    from symgrad.jobs import checked_header

    files = data_files(pattern)
    first = options(files[0])
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        start = time.perf_counter()
        data = DaskData(client, files, first.recipe, checked_header(files[0], first.target))
        load = time.perf_counter() - start
        theta = np.zeros(FEATURES + 1)
        data.sums(theta)  # warm: every worker has compiled
        seconds, _ = timed(lambda: [data.sums(theta) for _ in range(steps)], repeats)
    return load, seconds / steps, data.rows


def local_step_seconds(pattern: str, steps: int, repeats: int):
    import symgrad
    from symgrad.data import read_csv
    from symgrad.distributed import data_files
    from symgrad.jobs import checked_header
    from symgrad.recipe import training_model

    files = data_files(pattern)
    first = options(files[0])
    model, features = training_model(first.recipe, checked_header(files[0], first.target))
    names = [s.name for s in model.inputs]
    matrix = np.vstack([read_csv(f, names).matrix(names) for f in files])
    kernel = symgrad.compile(model)
    theta = np.zeros(FEATURES + 1)
    kernel(theta, matrix)
    seconds, _ = timed(lambda: [kernel(theta, matrix) for _ in range(steps)], repeats)
    return seconds / steps, len(matrix)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--rows", type=int, default=250_000)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as big, tempfile.TemporaryDirectory() as tiny:
        pattern = write_files(Path(big), args.files, args.rows)
        local, rows = local_step_seconds(pattern, args.steps, args.repeats)
        print(f"{args.files} files x {args.rows:,} rows x {FEATURES} features, full-batch steps")
        print(f"  single process (numba, parallel):  {local * 1e3:8.1f} ms/step  "
              f"{rows / local / 1e6:7.1f} M rows/s")
        for workers in args.workers:
            load, step, rows = dask_step_seconds(pattern, workers, args.steps, args.repeats)
            print(f"  dask, {workers} worker process(es):     {step * 1e3:8.1f} ms/step  "
                  f"{rows / step / 1e6:7.1f} M rows/s  (loading the files: {load:.1f} s)")
        overhead_pattern = write_files(Path(tiny), args.files, 1)
        for workers in args.workers:
            _, step, _ = dask_step_seconds(overhead_pattern, workers, args.steps, args.repeats)
            print(f"  per-step overhead, {args.files} one-row partitions, {workers} worker(s): "
                  f"{step * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
