"""GPU: full-batch gradient steps of a logistic neuron on 100M rows x 16 features, float32.

Model: bce(sigmoid(w0*x0 + ... + w15*x15 + b), y); each step reads the 17 float32 columns
once (68 bytes a row). Reported, medians of --repeats timed calls of --steps steps each:
- symgrad (backend="cuda", symgrad.train's device engine: the generated per-row kernel, the
  block reduction, the guarded SGD step on the device, one host sync per call);
- torch CUDA autograd (float32, the same loss and SGD step) when torch sees a GPU;
- achieved bandwidth (68 bytes * rows / seconds per step) against the device's copy
  bandwidth measured in the same run (a device-to-device copy of 4 GiB, bytes read plus
  bytes written, the median of 10) and its nominal peak (2 * memory clock * bus width).
  The copy is the ceiling: a pass that only reads can exceed it slightly (no write turns).

    python benchmarks/gpu.py [--rows 100000000] [--steps 20] [--repeats 5]

Needs an NVIDIA GPU (or NUMBA_ENABLE_CUDASIM=1 and a small --rows, to check the script runs).
"""
from __future__ import annotations

import argparse
import math

import numpy as np
from numba import config, cuda

from timing import timed

SIMULATED = bool(config.ENABLE_CUDASIM)

FEATURES = 16
NAMES = [f"x{j}" for j in range(FEATURES)]
LOSS_MODEL = "sigmoid(" + " + ".join(f"w{j}*{x}" for j, x in enumerate(NAMES)) + " + b)"
BYTES_PER_ROW = 4 * (FEATURES + 1)


def data(rows: int):
    """rows x 17 float32: 16 features, then a 0/1 label (generated in slices of 10M rows)."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=FEATURES).astype(np.float32)
    matrix = np.empty((rows, FEATURES + 1), np.float32)
    for begin in range(0, rows, 10_000_000):
        x = rng.standard_normal(size=(min(10_000_000, rows - begin), FEATURES),
                                dtype=np.float32)
        matrix[begin:begin + len(x), :FEATURES] = x
        matrix[begin:begin + len(x), FEATURES] = x @ w > 0
    return matrix


def symgrad_steps(matrix, steps: int):
    import symgrad
    from symgrad.runtime.cuda_support import DeviceRun
    model = symgrad.Model.supervised(LOSS_MODEL, target="y", loss="bce", inputs=NAMES)
    kernel = symgrad.compile(model, backend="cuda", dtype="float32")
    n, columns = kernel.columns(matrix)
    run = DeviceRun(kernel.module, columns, n, n, symgrad.SGD(lr=0.5),
                    np.zeros(FEATURES + 1), True)
    history = np.empty(steps)
    state = {"steps": 0}

    def call():
        _, state["steps"], diverged = run.epochs(None, steps, history, state["steps"])
        assert diverged is None
        return history[-1]
    return call


def copy_bandwidth(gib: float = 4.0, repeats: int = 10) -> float:
    """Bytes per second of a device-to-device copy, counting bytes read and written (median
    of ``repeats``, timed with CUDA events)."""
    words = int(gib * 2**30) // 8
    source = cuda.to_device(np.arange(words, dtype=np.float64))
    target = cuda.device_array_like(source)
    times = []
    for _ in range(repeats + 1):
        start, end = cuda.event(), cuda.event()
        start.record()
        target.copy_to_device(source)
        end.record()
        end.synchronize()
        times.append(cuda.event_elapsed_time(start, end) / 1e3)
    assert target[words - 1] == words - 1
    return 2 * 8 * words / float(np.median(times[1:]))


def torch_steps(matrix, steps: int):
    import torch
    if not torch.cuda.is_available():
        return None
    X = torch.from_numpy(np.ascontiguousarray(matrix[:, :FEATURES])).cuda()
    y = torch.from_numpy(np.ascontiguousarray(matrix[:, FEATURES])).cuda()
    w = torch.zeros(FEATURES, device="cuda", requires_grad=True)
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
    for name, make in (("symgrad cuda", symgrad_steps), ("torch cuda", torch_steps)):
        try:
            call = make(matrix, args.steps)
        except Exception as error:  # a peer that cannot run says why; the others still run
            print(f"  {name}: {type(error).__name__}: {error}")
            call = None
        if call is None:
            print(f"  {name}: not available")
            continue
        seconds, _ = timed(call, args.repeats, warm_up=True)
        per_step[name] = seconds / args.steps
    name = cuda.get_current_device().name if hasattr(cuda, "get_current_device") else "simulator"
    copy = copy_bandwidth() if not SIMULATED else math.nan
    print(f"{args.rows:,} rows x {FEATURES + 1} float32 columns, full-batch SGD steps; device: "
          f"{name.decode() if isinstance(name, bytes) else name}")
    peak = peak_bandwidth()
    print(f"  device-to-device copy: {copy / 1e9:.0f} GB/s (read + written); nominal peak "
          f"{peak / 1e9:.0f} GB/s")
    moved = BYTES_PER_ROW * args.rows
    for name, seconds in per_step.items():
        bandwidth = moved / seconds
        print(f"  {name:24s} {seconds * 1e3:9.3f} ms/step  {bandwidth / 1e9:8.1f} GB/s  "
              f"{bandwidth / copy:6.1%} of the copy's")
    ours = per_step["symgrad cuda"]
    for name in ("torch cuda",):
        if name in per_step:
            print(f"  symgrad / {name}: {ours / per_step[name]:.2f}")
    assert math.isfinite(ours)


if __name__ == "__main__":
    main()
