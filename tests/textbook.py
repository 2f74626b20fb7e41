"""Eight textbook curve fits (a stranger's trial of ``symgrad fit`` without --init): each a
model, its parameters, its input column, the inputs, the true values, a start near them
(curve_fit's p0 in the trial) and the noise added. ``data(name, seed)`` draws the rows.

Used by tests/test_fit.py and benchmarks/starts.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Curve:
    model: str                 # the prediction, over ``column`` and ``params``
    params: tuple[str, ...]    # in sorted order, as symgrad.fit orders them
    column: str
    inputs: np.ndarray
    true: tuple[float, ...]
    near: tuple[float, ...]    # a start near the answer
    noise: float
    predict: Callable          # (x, *params) -> the model written in numpy


_X = np.linspace(0.1, 10, 40)
_T = np.linspace(0, 20, 50)
CURVES = {
    "michaelis": Curve("Vm*S/(Km + S)", ("Km", "Vm"), "S", _X, (2.0, 5.0), (1.0, 1.0), 0.1,
                       lambda S, Km, Vm: Vm * S / (Km + S)),
    "logistic": Curve("K/(1 + exp(-r*(t - t0)))", ("K", "r", "t0"), "t", _T, (10.0, 0.8, 8.0),
                      (5.0, 0.5, 5.0), 0.2, lambda t, K, r, t0: K / (1 + np.exp(-r * (t - t0)))),
    "gompertz": Curve("A*exp(-B*exp(-k*t))", ("A", "B", "k"), "t", _T, (10.0, 5.0, 0.3),
                      (8.0, 3.0, 0.2), 0.2, lambda t, A, B, k: A * np.exp(-B * np.exp(-k * t))),
    "biexp": Curve("a1*exp(-k1*t) + a2*exp(-k2*t)", ("a1", "a2", "k1", "k2"), "t", _T,
                   (5.0, 2.0, 1.0, 0.1), (4.0, 1.0, 2.0, 0.05), 0.02,
                   lambda t, a1, a2, k1, k2: a1 * np.exp(-k1 * t) + a2 * np.exp(-k2 * t)),
    "gauss_line": Curve("A*exp(-(x - mu)**2/(2*sig**2)) + m*x + c", ("A", "c", "m", "mu", "sig"),
                        "x", np.linspace(-5, 5, 80), (3.0, 1.0, 0.2, 0.5, 0.8),
                        (2.0, 0.0, 0.0, 0.0, 1.0), 0.05,
                        lambda x, A, c, m, mu, sig:
                        A * np.exp(-(x - mu) ** 2 / (2 * sig ** 2)) + m * x + c),
    "power_offset": Curve("a*x**b + c", ("a", "b", "c"), "x", _X, (2.0, 1.5, -1.0),
                          (1.0, 1.0, 0.0), 0.3,
                          lambda x, a, b, c: a * x ** b + c),
    "hill": Curve("Vm*x**n/(K**n + x**n)", ("K", "Vm", "n"), "x", _X, (3.0, 8.0, 2.5),
                  (2.0, 5.0, 1.0), 0.1,
                  lambda x, K, Vm, n: Vm * x ** n / (K ** n + x ** n)),
    "damped_sine": Curve("A*exp(-g*t)*sin(w*t + p)", ("A", "g", "p", "w"), "t", _T,
                         (3.0, 0.15, 0.5, 1.3), (2.0, 0.1, 0.0, 1.25), 0.05,
                         lambda t, A, g, p, w: A * np.exp(-g * t) * np.sin(w * t + p)),
}


def data(name: str, seed: int = 42, rows: int | None = None) -> dict[str, np.ndarray]:
    """The curve's inputs (``rows`` of them, evenly spread over the same range, if given)
    and y = the true curve + noise * N(0, 1) from default_rng(seed)."""
    curve = CURVES[name]
    x = curve.inputs if rows is None else np.linspace(curve.inputs[0], curve.inputs[-1], rows)
    y = curve.predict(x, *curve.true)
    y = y + curve.noise * np.random.default_rng(seed).standard_normal(len(x))
    return {curve.column: x, "y": y}
