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


def symgrad_epoch(X, labels):
    """One epoch of symgrad.train from theta; returns the new theta."""
    import symgrad
    from symgrad.layers import parse_chain
    from symgrad.layers.cpu import CpuNetwork
    kernel = CpuNetwork(parse_chain(CHAIN), FEATURES, "ce")
    matrix = np.column_stack([X, labels])

    def epoch(theta):
        return symgrad.train(kernel, matrix, theta, symgrad.SGD(lr=LR), epochs=1,
                             batch_size=BATCH).params
    return epoch


def torch_epoch(theta, X, labels):
    """One epoch of the same net in PyTorch, started from theta; returns (epoch, flat params)."""
    import torch
    from torch import nn
    torch.set_default_dtype(torch.float64)
    net = nn.Sequential(nn.Linear(FEATURES, 1024), nn.Tanh(), nn.Linear(1024, 1024), nn.Tanh(),
                        nn.Linear(1024, CLASSES), nn.LogSoftmax(dim=1))
    layers = (net[0], net[2], net[4])
    load_params(layers, theta)
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    loss_fn = nn.NLLLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(labels)

    def epoch():
        for begin in range(0, ROWS, BATCH):
            optimizer.zero_grad()
            loss = loss_fn(net(Xt[begin:begin + BATCH]), yt[begin:begin + BATCH])
            loss.backward()
            optimizer.step()

    def params():
        return np.concatenate([p.detach().numpy().ravel() for layer in layers
                               for p in (layer.weight, layer.bias)])
    return epoch, params


def load_params(layers, theta) -> None:
    """Copy symgrad's flat theta (W0, b0, W1, ...) into torch Linear layers (any device)."""
    import torch
    with torch.no_grad():
        start = 0
        for layer in layers:
            for p in (layer.weight, layer.bias):
                values = torch.from_numpy(theta[start:start + p.numel()].reshape(p.shape))
                p.copy_(values.to(p.device))
                start += p.numel()


def seconds(call):
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def compile_seconds(cache: str) -> float:
    script = ("from symgrad.layers import parse_chain\n"
              "from symgrad.layers.cpu import CpuNetwork\n"
              "import numpy as np, symgrad\n"
              f"k = CpuNetwork(parse_chain({CHAIN!r}), {FEATURES}, 'ce')\n"
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
    from symgrad.runtime.blas import bundled_dgemm
    route = "numpy's bundled cblas_dgemm" if bundled_dgemm() else "numpy (no bundled BLAS found)"
    print(f"MLP 100-1024-1024-20, float64, batch {BATCH}, {ROWS:,} rows, SGD lr {LR}; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    print(f"  symgrad's SGD step rides on the weight GEMMs through {route}")
    ours_epoch = symgrad_epoch(X, labels)
    try:
        theirs_epoch, theirs_params = torch_epoch(theta, X, labels)
    except ImportError:
        theirs_epoch = None
        print("  (torch not installed: pip install '.[bench]')")
    ours, theirs = [], []
    for _ in range(args.repeats + 1):  # interleaved, so both see the same machine load
        elapsed, theta = seconds(lambda: ours_epoch(theta))
        ours.append(elapsed)
        if theirs_epoch is not None:
            theirs.append(seconds(theirs_epoch)[0])
    ours_median = statistics.median(ours[1:])
    print(f"  symgrad layer engine: {ours_median:.3f} s/epoch")
    if theirs_epoch is not None:
        import torch
        theirs_median = statistics.median(theirs[1:])
        ratios = [a / b for a, b in zip(ours[1:], theirs[1:])]
        print(f"  PyTorch CPU ({torch.get_num_threads()} threads): {theirs_median:.3f} s/epoch; "
              f"symgrad / PyTorch = {ours_median / theirs_median:.2f} (median of per-epoch "
              f"ratios {statistics.median(ratios):.2f}; target <= 1.0)")
        drift = np.abs(theta - theirs_params()).max()
        print(f"  same parameters after {args.repeats + 1} epochs: max |difference| {drift:.1e}")
    print(f"  derive + compile (new process, first epoch on 4 rows): cold cache {cold:.1f} s, "
          f"warm {warm:.1f} s")


if __name__ == "__main__":
    main()
