"""CSV loading: 1,000,000 rows x 16 features + target, numpy.loadtxt vs pyarrow (optional).

Writes a temporary CSV with full-precision numbers (%.17g, 343 MB), then times
symgrad.read_csv with each reader (median of --repeats) and checks both read the same values.

    python benchmarks/csv_load.py [--rows 1000000] [--repeats 3]
"""
from __future__ import annotations

import argparse
import importlib.util
import tempfile
from pathlib import Path

import numpy as np

from symgrad import data as csvdata
from timing import timed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    names = [f"x{k}" for k in range(16)] + ["y"]
    values = np.random.default_rng(0).normal(size=(args.rows, len(names)))
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "big.csv")
        with open(path, "w") as handle:
            handle.write(",".join(names) + "\n")
            np.savetxt(handle, values, delimiter=",", fmt="%.17g")
        size = Path(path).stat().st_size / 1e6
        print(f"{args.rows:,} rows x {len(names)} columns, {size:.0f} MB")
        readers = {"numpy.loadtxt": csvdata._read_numpy}
        if importlib.util.find_spec("pyarrow"):
            readers["pyarrow.csv"] = csvdata._read_pyarrow
        else:
            print("(pyarrow not installed: pip install '.[csv]')")
        for name, reader in readers.items():
            original = csvdata.importlib.util.find_spec
            csvdata.importlib.util.find_spec = lambda module, r=reader: (
                original(module) if r is csvdata._read_pyarrow else None)
            try:
                seconds, table = timed(lambda: csvdata.read_csv(path, names), args.repeats)
            finally:
                csvdata.importlib.util.find_spec = original
            assert np.array_equal(table.matrix(names), values)
            print(f"  {name:<15}{seconds:7.2f} s  ({args.rows / seconds / 1e6:.2f} M rows/s)")


if __name__ == "__main__":
    main()
