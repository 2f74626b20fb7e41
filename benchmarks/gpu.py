"""GPU: full-batch gradient steps of a logistic neuron on 100M rows, float32, data on the device.

Model: bce(sigmoid(w0*x0 + w1*x1 + b), y); each step reads the three float32 columns once
(12 bytes a row). Reported, medians of --repeats timed calls of --steps steps each:
- symgrad (backend="cuda", symgrad.train's device engine: the generated per-row kernel, the
  block reduction, the guarded SGD step on the device, one host sync per call);
- the memory-bound floor: one numba.cuda kernel that only reads and sums the three columns;
- torch CUDA autograd (float32, the same loss and SGD step) when torch sees a GPU;
- achieved bandwidth (12 bytes * rows / seconds per step) against the device's peak
  (2 * memory clock * bus width, from the device attributes).

    python benchmarks/gpu.py [--rows 100000000] [--steps 20] [--repeats 5]

Needs an NVIDIA GPU (or NUMBA_ENABLE_CUDASIM=1 and a small --rows, to check the script runs).
"""
from __future__ import annotations

import argparse
import math

import numpy as np
from numba import cuda, float32

from timing import timed

LOSS_MODEL = "sigmoid(w0*x0 + w1*x1 + b)"
BYTES_PER_ROW = 12


def data(rows: int):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 2)).astype(np.float32)
    y = (x[:, 0] - 0.5 * x[:, 1] + 0.1 * rng.normal(size=rows).astype(np.float32) > 0)
    return np.column_stack([x, y.astype(np.float32)])


def symgrad_steps(matrix, steps: int):
    import symgrad
    from symgrad.runtime.cuda_support import DeviceRun
    model = symgrad.Model.supervised(LOSS_MODEL, target="y", loss="bce", inputs=["x0", "x1"])
    kernel = symgrad.compile(model, backend="cuda", dtype="float32")
    n, columns = kernel.columns(matrix)
    run = DeviceRun(kernel.module, columns, n, n, symgrad.SGD(lr=0.5), np.zeros(3), True)
    history = np.empty(steps)
    state = {"steps": 0}

    def call():
        _, state["steps"], diverged = run.epochs(None, steps, history, state["steps"])
        assert diverged is None
        return history[-1]
    return call


@cuda.jit
def read_all(a, b, c, out):
    total = float32(0.0)
    for i in range(cuda.grid(1), a.shape[0], cuda.gridsize(1)):
        total += a[i] + b[i] + c[i]
    cuda.atomic.add(out, 0, total)


def floor_steps(matrix, steps: int):
    from symgrad.runtime.cuda_support import MAX_THREADS, blocks_for
    columns = [cuda.to_device(np.ascontiguousarray(matrix[:, j])) for j in range(3)]
    out = cuda.to_device(np.zeros(1, np.float32))
    launch = (blocks_for(len(matrix), MAX_THREADS), MAX_THREADS)

    def call():
        for _ in range(steps):
            read_all[launch](*columns, out)
        cuda.synchronize()
    return call


def torch_steps(matrix, steps: int):
    import torch
    if not torch.cuda.is_available():
        return None
    X = torch.from_numpy(np.ascontiguousarray(matrix[:, :2])).cuda()
    y = torch.from_numpy(np.ascontiguousarray(matrix[:, 2])).cuda()
    w = torch.zeros(2, device="cuda", requires_grad=True)
    b = torch.zeros(1, device="cuda", requires_grad=True)
    optimizer = torch.optim.SGD([w, b], lr=0.5)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def call():
        for _ in range(steps):
            optimizer.zero_grad()
            loss_fn(X @ w + b, y).backward()
            optimizer.step()
        torch.cuda.synchronize()
    return call


def peak_bandwidth() -> float:
    """Bytes per second: 2 (DDR) * memory clock * bus width, from the device's attributes
    (nan on the simulator, which has none)."""
    if not hasattr(cuda, "get_current_device"):
        return math.nan
    device = cuda.get_current_device()
    return 2 * device.MEMORY_CLOCK_RATE * 1e3 * device.GLOBAL_MEMORY_BUS_WIDTH / 8


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not cuda.is_available():
        raise SystemExit("no CUDA GPU here (set NUMBA_ENABLE_CUDASIM=1 with a small --rows to "
                         "check the script on the simulator)")
    matrix = data(args.rows)
    per_step = {}
    for name, make in (("symgrad cuda", symgrad_steps), ("floor (read 3 columns)", floor_steps),
                       ("torch cuda", torch_steps)):
        try:
            call = make(matrix, args.steps)
        except ImportError:
            call = None
        if call is None:
            print(f"  {name}: not available")
            continue
        seconds, _ = timed(call, args.repeats, warm_up=True)
        per_step[name] = seconds / args.steps
    name = cuda.get_current_device().name if hasattr(cuda, "get_current_device") else "simulator"
    print(f"{args.rows:,} rows x 3 float32 columns, full-batch SGD steps; device: "
          f"{name.decode() if isinstance(name, bytes) else name}")
    peak = peak_bandwidth()
    moved = BYTES_PER_ROW * args.rows
    for name, seconds in per_step.items():
        bandwidth = moved / seconds
        print(f"  {name:24s} {seconds * 1e3:9.3f} ms/step  {bandwidth / 1e9:8.1f} GB/s  "
              f"{bandwidth / peak:6.1%} of peak ({peak / 1e9:.0f} GB/s)")
    ours = per_step["symgrad cuda"]
    for name in ("floor (read 3 columns)", "torch cuda"):
        if name in per_step:
            print(f"  symgrad / {name}: {ours / per_step[name]:.2f}")
    assert math.isfinite(ours)


if __name__ == "__main__":
    main()
