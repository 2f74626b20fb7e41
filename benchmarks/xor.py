"""xor (lecture 003): the whole `symgrad train` process against a PyTorch eager loop.

Linear(2,3) -> sigmoid -> Linear(3,1), MSE, SGD lr 0.01, 50,000 epochs, batch 1, no shuffle.
PyTorch: one run in process (about 20 s). symgrad: the CLI as a user runs it, warm kernel
cache, wall time of the whole process, median of --repeats.

    python benchmarks/xor.py [--repeats 5] [--skip-torch]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "examples" / "data" / "xor.csv"


def torch_seconds() -> float:
    import torch
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Sigmoid(), torch.nn.Linear(3, 1))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    start = time.perf_counter()
    for _ in range(50_000):
        for k in range(4):
            optimizer.zero_grad()
            loss = ((net(X[k:k + 1]) - y[k:k + 1]) ** 2).mean()
            loss.backward()
            optimizer.step()
    return time.perf_counter() - start


def cli_seconds(repeats: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "cli", "train", str(DATA), "--model",
                   "dense(3) -> sigmoid -> dense(1)", "--target", "label", "--batch-size", "1",
                   "--epochs", "50000", "--out", str(Path(tmp) / "xor.json"), "--quiet"]
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)  # warm the cache
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-torch", action="store_true")
    args = parser.parse_args()
    ours = cli_seconds(args.repeats)
    print(f"symgrad train (whole process, warm cache): {ours:.2f} s")
    if not args.skip_torch:
        theirs = torch_seconds()
        print(f"PyTorch eager loop (in process): {theirs:.1f} s; symgrad is {theirs / ours:.0f}x "
              f"faster (target >= 20x)")


if __name__ == "__main__":
    main()
