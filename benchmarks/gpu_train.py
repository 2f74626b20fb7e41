"""GPU: training on the device (symgrad.train with a backend="cuda" kernel) against torch CUDA.

Two runs, each timed end to end (data already on the host; symgrad copies it to the device
once per call of symgrad.train, which is included; torch's tensors are made on the device
before the clock starts), medians of --repeats after a warm-up:
- the lectures' sensor neuron: sigma(w0*x0 + w1*x1 + b), MSE, 12 rows, 20,000 full-batch SGD
  epochs (lr 0.01, float64): a launch-bound run;
- a logistic model on --rows rows (bce(sigmoid(w.x + b)), 16 features), full-batch SGD,
  --steps steps, float32 and float64: a memory-bound run.
Peers: torch CUDA eager (forward, backward, update per step) and the same step captured once
in a CUDA graph and replayed (torch's fastest honest loop for a fixed step); symgrad on the
CPU for the sensor neuron; for the logistic model, symgrad's steps alone too (a DeviceRun
made once, the data already on the device, as torch's is). Each prints steps per second and symgrad's ratio, and how far
the final parameters are apart.

    python benchmarks/gpu_train.py [--rows 1000000] [--steps 200] [--repeats 5]

Needs an NVIDIA GPU.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from timing import timed

ROOT = Path(__file__).resolve().parent.parent
SENSOR = ROOT / "examples" / "data" / "sensor.csv"
FEATURES = 16


def sensor_data():
    import symgrad
    return symgrad.read_csv(str(SENSOR), ["x0", "x1", "y"]).matrix(["x0", "x1", "y"])


def logistic_data(rows):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, FEATURES))
    w = rng.normal(size=FEATURES)
    y = (X @ w + 0.5 * rng.normal(size=rows) > 0).astype(np.float64)
    return np.column_stack([X, y])


def symgrad_run(model, data, theta0, lr, steps, backend, dtype="float64"):
    import symgrad
    kernel = symgrad.compile(model, backend=backend, dtype=dtype)

    def call():
        result = symgrad.train(kernel, data, theta0, symgrad.SGD(lr=lr), epochs=steps)
        assert result.diverged_epoch is None
        return np.asarray(result.params, dtype=np.float64)
    return call


def symgrad_device_steps(model, data, theta0, lr, steps, dtype):
    """The steps alone: a DeviceRun made once (data on the device), theta reset each call."""
    import symgrad
    from numba import cuda

    from symgrad.runtime.cuda_support import DeviceRun
    kernel = symgrad.compile(model, backend="cuda", dtype=dtype)
    n, columns = kernel.columns(data)
    run = DeviceRun(kernel.module, columns, n, n, symgrad.SGD(lr=lr), np.asarray(theta0), True)
    start, history = cuda.to_device(np.asarray(theta0, dtype=dtype)), np.empty(steps)

    def call():
        run.theta.copy_to_device(start)
        done, _, diverged = run.epochs(None, steps, history, 0)
        assert done == steps and diverged is None
        return run.params().astype(np.float64)
    return call


def torch_run(forward_loss, X, y, theta0, lr, steps, graph: bool, dtype):
    """forward_loss(X, y, w, b) -> loss; theta0 = (w..., b); returns a call giving the params."""
    import torch
    if not torch.cuda.is_available():
        raise ImportError("torch sees no CUDA GPU")
    X = torch.tensor(X, dtype=dtype, device="cuda")
    y = torch.tensor(y, dtype=dtype, device="cuda")
    w = torch.zeros(len(theta0) - 1, dtype=dtype, device="cuda", requires_grad=True)
    b = torch.zeros((), dtype=dtype, device="cuda", requires_grad=True)
    forward_loss(X, y, w, b).backward()          # the gradients' buffers, before any capture

    def step():
        """Plain SGD by hand (torch's SGD cannot be captured in a graph): the same update."""
        w.grad.zero_()
        b.grad.zero_()
        forward_loss(X, y, w, b).backward()
        with torch.no_grad():
            w.sub_(lr * w.grad)
            b.sub_(lr * b.grad)

    def reset():
        with torch.no_grad():
            w.copy_(torch.tensor(theta0[:-1], dtype=dtype))
            b.fill_(float(theta0[-1]))
    replay = step
    if graph:
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):
                step()
        torch.cuda.current_stream().wait_stream(stream)
        captured = torch.cuda.CUDAGraph()
        with torch.cuda.graph(captured):
            step()
        replay = captured.replay

    def call():
        reset()
        for _ in range(steps):
            replay()
        torch.cuda.synchronize()
        return np.concatenate([w.detach().cpu().double().numpy(),
                               [float(b.detach().cpu())]])
    return call


def compare(title, runs, steps, repeats):
    print(title)
    seconds, params = {}, {}
    for name, make in runs:
        try:
            call = make()
        except ImportError as error:
            print(f"  {name}: not available ({error})")
            continue
        seconds[name], params[name] = timed(call, repeats, warm_up=True)
    ours = next(iter(seconds))
    for name, s in seconds.items():
        gap = np.abs(params[name] - params[ours]).max()
        print(f"  {name:34s} {s * 1e3:10.2f} ms  {steps / s:12,.0f} steps/s  "
              f"{s / seconds[ours]:6.2f}x symgrad's time  |params - symgrad's| {gap:.1e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import symgrad
    import torch

    sensor = sensor_data()
    neuron = symgrad.Model.supervised("sigmoid(w0*x0 + w1*x1 + b)", target="y", loss="mse",
                                      inputs=["x0", "x1"])
    theta0 = [0.0, 1.0, 1.0]            # b, w0, w1 (the model's sorted parameters)
    torch_theta0 = [1.0, 1.0, 0.0]      # w0, w1, b

    def mse(X, y, w, b):
        return ((torch.sigmoid(X @ w + b) - y) ** 2).mean()
    f64 = torch.float64
    compare(f"sensor neuron: 12 rows, {args.epochs:,} full-batch SGD epochs, float64", [
        ("symgrad cuda (symgrad.train)",
         lambda: _b_last(symgrad_run(neuron, sensor, theta0, 0.01, args.epochs, "cuda"))),
        ("symgrad numba CPU (symgrad.train)",
         lambda: _b_last(symgrad_run(neuron, sensor, theta0, 0.01, args.epochs, "numba"))),
        ("torch cuda eager", lambda: torch_run(mse, sensor[:, :2], sensor[:, 2], torch_theta0,
                                               0.01, args.epochs, False, f64)),
        ("torch cuda graph replay", lambda: torch_run(mse, sensor[:, :2], sensor[:, 2],
                                                      torch_theta0, 0.01, args.epochs, True,
                                                      f64)),
    ], args.epochs, max(1, args.repeats // 2))

    data = logistic_data(args.rows)
    names = [f"x{j}" for j in range(FEATURES)]
    text = "sigmoid(" + " + ".join(f"w{j}*x{j}" for j in range(FEATURES)) + " + b)"
    logistic = symgrad.Model.supervised(text, target="y", loss="bce", inputs=names)
    order = [str(p) for p in symgrad.compile(logistic, backend="numpy").params]
    start = {name: 0.0 for name in order}
    theta_sym = [start[name] for name in order]

    def bce(X, y, w, b):
        return torch.nn.functional.binary_cross_entropy_with_logits(X @ w + b, y)
    for dtype, torch_dtype in (("float32", torch.float32), ("float64", torch.float64)):
        def ours(dtype=dtype):
            call = symgrad_run(logistic, data, theta_sym, 0.5, args.steps, "cuda", dtype)
            return lambda: _by_name(call(), order, names)
        compare(f"logistic model: {args.rows:,} rows x {FEATURES} features, {args.steps} "
                f"full-batch SGD steps, {dtype}", [
                    ("symgrad cuda (symgrad.train)", ours),
                    ("symgrad cuda, the steps alone", lambda dtype=dtype: _by_name_call(
                        symgrad_device_steps(logistic, data, theta_sym, 0.5, args.steps, dtype),
                        order, names)),
                    ("torch cuda eager", lambda d=torch_dtype: torch_run(
                        bce, data[:, :FEATURES], data[:, FEATURES], [0.0] * (FEATURES + 1),
                        0.5, args.steps, False, d)),
                    ("torch cuda graph replay", lambda d=torch_dtype: torch_run(
                        bce, data[:, :FEATURES], data[:, FEATURES], [0.0] * (FEATURES + 1),
                        0.5, args.steps, True, d)),
                ], args.steps, args.repeats)


def _b_last(call):
    """symgrad's (b, w0, w1) as torch's (w0, w1, b)."""
    return lambda: np.roll(call(), -1)


def _by_name_call(call, order, names):
    return lambda: _by_name(call(), order, names)


def _by_name(params, order, names):
    by_name = dict(zip(order, params))
    return np.array([by_name[f"w{j}"] for j in range(len(names))] + [by_name["b"]])


if __name__ == "__main__":
    main()
