"""The NIST StRD nonlinear least-squares problems, parsed from ``tests/data/nist/*.dat``.

Each file gives the data, two starting points, the certified parameter values with their
standard deviations, and the certified residual sum of squares; the loader reads all of these
from the file. Only the model is written here by hand (``MODELS``), in symgrad's
expression language, from the file's "Model:" section: parameters ``b1..bK``, predictor ``x``.

Nelson is the one problem with two predictors and a transformed response: its model is
``log(y) = b1 - b2*x1*exp(-b3*x2)``, so its ``x`` has two columns (``inputs`` names them
``x1``, ``x2``) and its ``y`` is the log of the file's response, the quantity the certified
values fit.

``dof`` is the number of observations less the number of parameters. It equals each file's
"Degrees of Freedom" except in Rat43, which prints 9 instead of 15 - 4 = 11. That is a misprint:
Rat43's own "Residual Standard Deviation" is sqrt(RSS/11).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data" / "nist"

_GAUSS = "b1*exp(-b2*x) + b3*exp(-(x - b4)**2/b5**2) + b6*exp(-(x - b7)**2/b8**2)"
_LANCZOS = "b1*exp(-b2*x) + b3*exp(-b4*x) + b5*exp(-b6*x)"
_CUBIC = "(b1 + b2*x + b3*x**2 + b4*x**3)/(1 + b5*x + b6*x**2 + b7*x**3)"

MODELS = {  # in NIST's order (lower, average, higher difficulty)
    "Misra1a": "b1*(1 - exp(-b2*x))",
    "Chwirut2": "exp(-b1*x)/(b2 + b3*x)",
    "Chwirut1": "exp(-b1*x)/(b2 + b3*x)",
    "Lanczos3": _LANCZOS,
    "Gauss1": _GAUSS,
    "Gauss2": _GAUSS,
    "DanWood": "b1*x**b2",
    "Misra1b": "b1*(1 - (1 + b2*x/2)**(-2))",
    "Kirby2": "(b1 + b2*x + b3*x**2)/(1 + b4*x + b5*x**2)",
    "Hahn1": _CUBIC,
    "Nelson": "b1 - b2*x1*exp(-b3*x2)",
    "MGH17": "b1 + b2*exp(-x*b4) + b3*exp(-x*b5)",
    "Lanczos1": _LANCZOS,
    "Lanczos2": _LANCZOS,
    "Gauss3": _GAUSS,
    "Misra1c": "b1*(1 - (1 + 2*b2*x)**(-0.5))",
    "Misra1d": "b1*b2*x*(1 + b2*x)**(-1)",
    "Roszman1": "b1 - b2*x - atan(b3/(x - b4))/pi",
    "ENSO": ("b1 + b2*cos(2*pi*x/12) + b3*sin(2*pi*x/12)"
             " + b5*cos(2*pi*x/b4) + b6*sin(2*pi*x/b4)"
             " + b8*cos(2*pi*x/b7) + b9*sin(2*pi*x/b7)"),
    "MGH09": "b1*(x**2 + x*b2)/(x**2 + x*b3 + b4)",
    "Thurber": _CUBIC,
    "BoxBOD": "b1*(1 - exp(-b2*x))",
    "Rat42": "b1/(1 + exp(b2 - b3*x))",
    "MGH10": "b1*exp(b2/(x + b3))",
    "Eckerle4": "(b1/b2)*exp(-0.5*((x - b3)/b2)**2)",
    "Rat43": "b1/(1 + exp(b2 - b3*x))**(1/b4)",
    "Bennett5": "b1*(b2 + x)**(-1/b3)",
}


@dataclass(frozen=True)
class Problem:
    """One StRD problem. ``x`` and ``y`` are read-only float64 arrays (``x`` is 1-D, or one
    column per name in ``inputs``); they are left out of ``==`` and ``hash``."""
    name: str
    difficulty: str                       # "lower" | "average" | "higher"
    model: str                            # symgrad expression in params and inputs
    params: tuple[str, ...]               # ("b1", "b2", ...)
    x: np.ndarray = field(repr=False, compare=False)
    y: np.ndarray = field(repr=False, compare=False)
    starts: tuple[tuple[float, ...], tuple[float, ...]]
    certified: tuple[float, ...]
    certified_stderr: tuple[float, ...]
    rss: float                            # certified residual sum of squares
    dof: int                              # degrees of freedom, observations - parameters
    inputs: tuple[str, ...] = ("x",)      # the predictors' names in ``model``


def _lines(header: str, what: str) -> slice:
    """The 0-based slice of the file's lines that its header says hold ``what``."""
    first, last = re.search(rf"{what}\s+\(lines\s+(\d+)\s+to\s+(\d+)\)", header).groups()
    return slice(int(first) - 1, int(last))


def _value(text: str, label: str) -> str:
    return re.search(rf"{label}:\s*(\S+)", text).group(1)


@cache
def problem(name: str) -> Problem:
    """The problem ``name`` (e.g. "Misra1a"), parsed from its .dat file."""
    if name not in MODELS:
        raise KeyError(f"no NIST StRD problem {name!r}; known: {', '.join(MODELS)}")
    text = (DATA / f"{name}.dat").read_text()
    lines = text.splitlines()

    rows = [line.split() for line in lines[_lines(text, "Starting Values")]]
    params = tuple(row[0] for row in rows)
    assert all(re.fullmatch(r"b\d+", p) and row[1] == "=" for p, row in zip(params, rows)), name
    start1, start2, certified, stderr = (tuple(float(row[i]) for row in rows) for i in range(2, 6))

    data = np.array([line.split() for line in lines[_lines(text, "Data")]], dtype=np.float64)
    assert len(data) == int(_value(text, "Number of Observations")), name
    y, x = data[:, 0], (data[:, 1] if data.shape[1] == 2 else data[:, 1:])
    inputs = ("x",) if x.ndim == 1 else tuple(f"x{i + 1}" for i in range(x.shape[1]))
    if name == "Nelson":  # the model is for log(y)
        y = np.log(y)
    x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
    x.setflags(write=False)
    y.setflags(write=False)

    return Problem(
        name=name,
        difficulty=re.search(r"(\w+) Level of Difficulty", text).group(1).lower(),
        model=MODELS[name],
        params=params,
        x=x,
        y=y,
        starts=(start1, start2),
        certified=certified,
        certified_stderr=stderr,
        rss=float(_value(text, "Residual Sum of Squares")),
        dof=len(y) - len(params),
        inputs=inputs,
    )


def problems() -> list[Problem]:
    """All 27 problems, in NIST's order (by difficulty, then as NIST lists them)."""
    return [problem(name) for name in MODELS]
