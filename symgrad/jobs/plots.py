"""``--plot FILE.png``: the loss curve of a run (training and validation), and for a fit on
one input column the data and the fitted curve beside it.

Drawn with matplotlib's object API (a ``Figure`` rendered by Agg: no pyplot, no display, no
global state) from the optional ``plot`` extra; without matplotlib the run goes on and a
one-line warning says how to get it. The PNG is written atomically, after --out.
"""
from __future__ import annotations

import io

import numpy as np

from ..errors import warn
from ..files import write_atomically

DECADES = 100.0     # a curve whose positive values span this factor is drawn on a log scale
GRID_POINTS = 400   # points on a fitted curve


def plotted(draw, path: str) -> int | None:
    """Run ``draw`` (a plot_* call); if a stop signal (Ctrl-C, SIGTERM, SIGHUP) lands while it
    runs, say the plot was not written and return the signal (the run's --out is already
    saved), else None."""
    import signal

    try:
        draw()
    except KeyboardInterrupt as stop:
        warn(f"interrupted while drawing: {path} not written")
        return getattr(stop, "signum", signal.SIGINT)
    return None


def plot_training(path: str, history: list) -> None:
    """The loss per epoch: history rows [epoch, training loss, validation loss or None]."""
    curves = _curves(history, ["training", "validation"])
    _write(path, lambda figure: _loss_panel(figure.add_subplot(1, 1, 1), curves, "epoch"))


def plot_fit(path: str, steps: list, fitted=None) -> None:
    """The loss per iteration ([iteration, loss] rows); with ``fitted`` (x, y, held-out x,
    held-out y, grid, curve, names) a second panel of the data and the fitted curve."""
    curves = _curves(steps, ["summed loss"])

    def draw(figure):
        panels = 2 if fitted is not None else 1
        _loss_panel(figure.add_subplot(1, panels, 1), curves, "iteration")
        if fitted is not None:
            _fit_panel(figure.add_subplot(1, 2, 2), *fitted)
    _write(path, draw, wide=fitted is not None)


def _curves(rows: list, names: list[str]) -> dict:
    """{name: (x, y)} of each column after the first, leaving out missing values."""
    curves = {}
    for k, name in enumerate(names, start=1):
        points = [(row[0], row[k]) for row in rows if len(row) > k and row[k] is not None]
        if points:
            curves[name] = tuple(np.array(v, dtype=np.float64) for v in zip(*points))
    return curves


def _loss_panel(axes, curves: dict, unit: str) -> None:
    for name, (x, y) in curves.items():
        axes.plot(x, y, label=name, marker="o" if len(x) < 30 else None)
    values = np.concatenate([y for _, y in curves.values()]) if curves else np.empty(0)
    positive = values[values > 0]
    if len(positive) == len(values) and len(values) and \
            positive.max() > DECADES * positive.min():
        axes.set_yscale("log")
    axes.set_xlabel(unit)
    axes.set_ylabel("loss")
    axes.set_title("loss")
    axes.grid(True, alpha=0.3)
    if len(curves) > 1:
        axes.legend()


def _fit_panel(axes, x, y, held_x, held_y, grid, curve, names) -> None:
    axes.scatter(x, y, s=10, alpha=0.6, label="data")
    if held_x is not None:
        axes.scatter(held_x, held_y, s=10, alpha=0.6, label="validation")
    axes.plot(grid, curve, color="black", label="fit")
    axes.set_xlabel(names[0])
    axes.set_ylabel(names[1])
    axes.set_title("data and fitted curve")
    axes.legend()


def _write(path: str, draw, wide: bool = False) -> None:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        warn(f"--plot needs matplotlib (pip install 'symgrad[plot]'); {path} not written")
        return
    figure = Figure(figsize=(11 if wide else 6.5, 4.5), layout="tight")
    draw(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    write_atomically(path, buffer.getvalue())


def fitted_curve(kernel, theta, train, validation, names) -> tuple:
    """plot_fit's ``fitted`` for a model of one input column: the parts' points and the
    model on a grid across them."""
    xs = [train.data[:, 0]] + ([validation.data[:, 0]] if validation is not None else [])
    low, high = min(float(x.min()) for x in xs), max(float(x.max()) for x in xs)
    grid = np.linspace(low, high, GRID_POINTS)
    curve = kernel.predict(theta, np.column_stack([grid, np.zeros_like(grid)]))
    held = (validation.data[:, 0], validation.targets) if validation is not None else (None, None)
    return (train.data[:, 0], train.targets, *held, grid, curve, names)
