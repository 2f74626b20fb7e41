"""MLP 100-1024-1024-20 (tanh, softmax cross-entropy), float64, batch 256, SGD: one epoch on
8,192 rows, symgrad's layer engine against PyTorch CPU in the same process.

Seconds per epoch are medians of --repeats epochs after one warm-up epoch; both start from
the same parameters and the script checks they end at the same place (1e-8). Also reported:
symgrad's derive + compile time for the chain, cold (empty kernel cache) and warm.

    python benchmarks/network.py [--repeats 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

CHAIN = "dense(1024) -> tanh -> dense(1024) -> tanh -> dense(20) -> log_softmax"
ROWS, FEATURES, CLASSES, BATCH, LR = 8192, 100, 20, 256, 0.01


def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(ROWS, FEATURES))
    labels = rng.integers(0, CLASSES, size=ROWS)
    return X, labels


def symgrad_epochs(theta, X, labels, repeats):
    import symgrad
    from symgrad.layers import parse_chain
    from symgrad.network import NetworkKernel
    kernel = NetworkKernel(parse_chain(CHAIN), FEATURES, "ce")
    matrix = np.column_stack([X, labels])
    theta = theta.copy()
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        theta = symgrad.train(kernel, matrix, theta, symgrad.SGD(lr=LR), epochs=1,
                              batch_size=BATCH).params
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:]), theta


def torch_epochs(theta, X, labels, repeats):
    import torch
    from torch import nn
    torch.set_default_dtype(torch.float64)
    net = nn.Sequential(nn.Linear(FEATURES, 1024), nn.Tanh(), nn.Linear(1024, 1024), nn.Tanh(),
                        nn.Linear(1024, CLASSES), nn.LogSoftmax(dim=1))
    with torch.no_grad():
        start = 0
        for layer in (net[0], net[2], net[4]):
            for p in (layer.weight, layer.bias):
                p.copy_(torch.from_numpy(theta[start:start + p.numel()].reshape(p.shape)))
                start += p.numel()
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    loss_fn = nn.NLLLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(labels)
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        for begin in range(0, ROWS, BATCH):
            optimizer.zero_grad()
            loss = loss_fn(net(Xt[begin:begin + BATCH]), yt[begin:begin + BATCH])
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
    flat = np.concatenate([p.detach().numpy().ravel() for layer in (net[0], net[2], net[4])
                           for p in (layer.weight, layer.bias)])
    return statistics.median(times[1:]), flat, torch.get_num_threads()


def compile_seconds(cache: str) -> float:
    script = ("from symgrad.layers import parse_chain\n"
              "from symgrad.network import NetworkKernel\n"
              "import numpy as np, symgrad\n"
              f"k = NetworkKernel(parse_chain({CHAIN!r}), {FEATURES}, 'ce')\n"
              f"m = np.column_stack([np.zeros((4, {FEATURES})), np.zeros(4)])\n"
              f"symgrad.train(k, m, np.zeros(k.size), symgrad.SGD(lr=0.1), epochs=1)\n")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", script], check=True,
                   env={**os.environ, "SYMGRAD_CACHE_DIR": cache})
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from symgrad.layers import init_params, parse_chain
    X, labels = data()
    theta = init_params(parse_chain(CHAIN), FEATURES, seed=0)
    with tempfile.TemporaryDirectory() as cache:
        cold, warm = compile_seconds(cache), compile_seconds(cache)
    ours, ours_theta = symgrad_epochs(theta, X, labels, args.repeats)
    print(f"MLP 100-1024-1024-20, float64, batch {BATCH}, {ROWS:,} rows, SGD lr {LR}; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    print(f"  symgrad layer engine: {ours:.3f} s/epoch")
    try:
        theirs, torch_theta, threads = torch_epochs(theta, X, labels, args.repeats)
    except ImportError:
        print("  (torch not installed: pip install '.[bench]')")
    else:
        print(f"  PyTorch CPU ({threads} threads): {theirs:.3f} s/epoch; symgrad / PyTorch = "
              f"{ours / theirs:.2f} (target <= 1.0)")
        drift = np.abs(ours_theta - torch_theta).max()
        print(f"  same parameters after {args.repeats + 1} epochs: max |difference| {drift:.1e}")
    print(f"  derive + compile (new process, first epoch on 4 rows): cold cache {cold:.1f} s, "
          f"warm {warm:.1f} s")


if __name__ == "__main__":
    main()
