"""What the validation loss after every epoch costs (train's --validation, --early-stopping).

Logistic regression on 8 features: 2,000 training rows in mini-batches of 64, 500 validation
rows, Adam, --epochs epochs. Four in-process runs of the same training:
- symgrad.train without validation (whole epochs per compiled call);
- symgrad.train with validation (one compiled call per epoch, then the loss on the held-out
  rows);
- PyTorch eager: the same epochs and mini-batches, with and without an evaluation of the
  held-out loss under no_grad after each epoch (the usual hand-written loop).
Medians of --repeats runs (compiles excluded: each is run once first).

    python benchmarks/validation.py [--epochs 300] [--repeats 5]
"""
from __future__ import annotations

import argparse

import numpy as np

from timing import timed

FEATURES, ROWS, HELD, BATCH = 8, 2000, 500, 64


def data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(ROWS + HELD, FEATURES))
    w = rng.normal(size=FEATURES)
    y = (rng.random(ROWS + HELD) < 1 / (1 + np.exp(-(x @ w)))).astype(np.float64)
    rows = np.asfortranarray(np.column_stack([x, y]))
    return rows[:ROWS], rows[ROWS:]


def symgrad_runs(train_rows, held_rows, epochs):
    import symgrad
    from symgrad.optim import Adam

    names = [f"x{j}" for j in range(FEATURES)]
    model = symgrad.Model.supervised("sigmoid(dot(w, features) + b)", target="y", loss="bce",
                                     inputs=names)
    kernel = symgrad.compile(model)
    theta0 = np.zeros(len(kernel.params))

    def plain():
        return symgrad.train(kernel, train_rows, theta0, Adam(lr=0.01), epochs, BATCH)

    def validated():
        return symgrad.train(kernel, train_rows, theta0, Adam(lr=0.01), epochs, BATCH,
                             validation=held_rows)
    return plain, validated


def torch_runs(train_rows, held_rows, epochs):
    import torch

    X = torch.tensor(np.ascontiguousarray(train_rows[:, :-1]))
    y = torch.tensor(np.ascontiguousarray(train_rows[:, -1]))
    Xv = torch.tensor(np.ascontiguousarray(held_rows[:, :-1]))
    yv = torch.tensor(np.ascontiguousarray(held_rows[:, -1]))
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def run(validate):
        w = torch.zeros(FEATURES, dtype=torch.float64, requires_grad=True)
        b = torch.zeros((), dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([w, b], lr=0.01)
        for _ in range(epochs):
            for start in range(0, ROWS, BATCH):
                opt.zero_grad()
                loss = loss_fn(X[start:start + BATCH] @ w + b, y[start:start + BATCH])
                loss.backward()
                opt.step()
            if validate:
                with torch.no_grad():
                    loss_fn(Xv @ w + b, yv).item()
    return (lambda: run(False)), (lambda: run(True))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    train_rows, held_rows = data()
    ours = symgrad_runs(train_rows, held_rows, args.epochs)
    for run in ours:
        run()  # compile
    plain, validated = (timed(run, args.repeats)[0] for run in ours)
    print(f"{args.epochs} epochs, {ROWS} rows in batches of {BATCH}, {HELD} validation rows")
    print(f"symgrad, no validation      {plain * 1e3:9.1f} ms")
    print(f"symgrad, validation/epoch   {validated * 1e3:9.1f} ms   "
          f"({validated / plain:.2f}x the run without)")
    try:
        theirs = torch_runs(train_rows, held_rows, args.epochs)
    except ImportError:
        print("torch not installed (pip install '.[bench]'): no PyTorch figures")
        return
    t_plain, t_validated = (timed(run, args.repeats)[0] for run in theirs)
    print(f"PyTorch, no validation      {t_plain * 1e3:9.1f} ms   "
          f"({t_plain / plain:.1f}x symgrad's)")
    print(f"PyTorch, validation/epoch   {t_validated * 1e3:9.1f} ms   "
          f"({t_validated / validated:.1f}x symgrad's)")


if __name__ == "__main__":
    main()
