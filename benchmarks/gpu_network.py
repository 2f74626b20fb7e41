"""GPU: the network benchmark's MLP (100-1024-1024-20, tanh, softmax cross-entropy, SGD) on the
device: symgrad's device layer engine against torch CUDA, at --batch and --dtype.

Seconds per epoch on --rows rows, medians of --repeats epochs after a warm-up epoch; both
start from the same parameters and the script prints how far apart they end.

    python benchmarks/gpu_network.py [--rows 8192] [--repeats 5] [--width 1024] [--batch 256]
                                     [--dtype float64]

Needs an NVIDIA GPU (or NUMBA_ENABLE_CUDASIM=1 with e.g. --rows 16 --width 8 --repeats 1, to
check that the script runs).
"""
from __future__ import annotations

import argparse

import numpy as np
from numba import cuda

from network import load_params
from timing import timed

FEATURES, CLASSES, LR = 100, 20, 0.01


def chain_text(width: int) -> str:
    return f"dense({width}) -> tanh -> dense({width}) -> tanh -> dense({CLASSES}) -> log_softmax"


def symgrad_epoch(text, matrix, theta, batch, dtype):
    """One epoch per call on the device (the run keeps theta there between calls)."""
    import symgrad
    from symgrad.layers.cuda import CudaNetwork
    from symgrad.layers import parse_chain
    network = CudaNetwork(parse_chain(text), FEATURES, "ce", dtype)
    n, columns = network.columns(matrix)
    run = network.device_run(columns, n, min(batch, n), symgrad.SGD(lr=LR), theta, True)
    state = {"steps": 0}

    def call():
        _, state["steps"], diverged = run.epochs(None, 1, np.empty(1), state["steps"])
        assert diverged is None
    return call, run.params


def torch_epoch(width, matrix, theta, batch, dtype):
    import torch
    if not torch.cuda.is_available():
        return None, None
    from torch import nn
    layers = [nn.Linear(FEATURES, width), nn.Linear(width, width), nn.Linear(width, CLASSES)]
    net = nn.Sequential(layers[0], nn.Tanh(), layers[1], nn.Tanh(), layers[2],
                        nn.LogSoftmax(dim=1)).to(getattr(torch, dtype)).cuda()
    load_params(layers, theta)
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    X = torch.from_numpy(np.ascontiguousarray(matrix[:, :FEATURES], dtype=dtype)).cuda()
    y = torch.from_numpy(matrix[:, FEATURES].astype(np.int64)).cuda()

    def call():
        for begin in range(0, len(matrix), batch):
            optimizer.zero_grad()
            nn.functional.nll_loss(net(X[begin:begin + batch]), y[begin:begin + batch]).backward()
            optimizer.step()
        torch.cuda.synchronize()

    def params():
        return np.concatenate([p.detach().cpu().numpy().ravel() for layer in layers
                               for p in (layer.weight, layer.bias)])
    return call, params


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8192)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    args = parser.parse_args()
    if not cuda.is_available():
        raise SystemExit("no CUDA GPU here (set NUMBA_ENABLE_CUDASIM=1 with small sizes to "
                         "check the script on the simulator)")
    from symgrad.layers import init_params, parse_chain
    text = chain_text(args.width)
    rng = np.random.default_rng(0)
    matrix = np.column_stack([rng.normal(size=(args.rows, FEATURES)),
                              rng.integers(0, CLASSES, args.rows)])
    theta = init_params(parse_chain(text), FEATURES, seed=0)
    ours, our_params = symgrad_epoch(text, matrix, theta, args.batch, args.dtype)
    try:
        theirs, their_params = torch_epoch(args.width, matrix, theta, args.batch, args.dtype)
    except ImportError:
        theirs = their_params = None
    print(f"MLP {FEATURES}-{args.width}-{args.width}-{CLASSES}, {args.dtype}, batch {args.batch}, "
          f"{args.rows:,} rows, SGD lr {LR}")
    seconds, _ = timed(ours, args.repeats, warm_up=True)
    print(f"  symgrad device layer engine: {seconds:.4f} s/epoch")
    if theirs is None:
        print("  torch cuda: not available")
        return
    their_seconds, _ = timed(theirs, args.repeats, warm_up=True)
    print(f"  torch cuda: {their_seconds:.4f} s/epoch; symgrad / torch = "
          f"{seconds / their_seconds:.2f}")
    print(f"  same parameters after {args.repeats + 1} epochs: max |difference| "
          f"{np.abs(our_params() - their_params()).max():.1e}")


if __name__ == "__main__":
    main()
