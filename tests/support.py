"""What several test modules share: independent ways to evaluate a gradient, and the table of
scalar models every backend is checked on (``MODELS``, ``random_case``).

- ``program_values``: runs the generated Python source (the CSE'd program, symgrad's printer).
- ``closed_form_values``: evaluates the closed forms with SymPy's arbitrary-precision evalf.
- ``central_differences``: differentiates the *original* loss numerically at 50 digits, so it
  shares nothing with symgrad's derivation, rewrites or printer.
"""
from __future__ import annotations

import math

import numpy as np
import sympy as sp

from symgrad import closed_forms, lower
from symgrad.codegen.python_source import python_source

DIGITS = 50


def program_function(gradient):
    namespace: dict = {}
    exec(compile(python_source(lower(gradient)), "<symgrad>", "exec"), namespace)
    return namespace["loss_and_gradient"]


def program_values(gradient, values):
    model = gradient.model
    names = [s.name for s in (*model.params, *model.inputs)]
    loss, partials = program_function(gradient)(**{n: values[n] for n in names})
    return loss, partials


def _subs(expr, values):
    return {s: sp.Float(values[s.name], DIGITS) for s in expr.free_symbols}


def closed_form_values(gradient, values):
    return {p.name: float(e.evalf(DIGITS, subs=_subs(e, values)))
            for p, e in closed_forms(gradient).items()}


def central_differences(loss, names, values, h=1e-15):
    out = {}
    for name in names:
        up, down = dict(values), dict(values)
        up[name] = sp.Float(values[name], DIGITS) + sp.Float(h, DIGITS)
        down[name] = sp.Float(values[name], DIGITS) - sp.Float(h, DIGITS)
        f_up = loss.evalf(DIGITS, subs={s: sp.Float(up[s.name], DIGITS) for s in loss.free_symbols})
        f_down = loss.evalf(DIGITS, subs={s: sp.Float(down[s.name], DIGITS)
                                          for s in loss.free_symbols})
        out[name] = float((f_up - f_down) / (2 * sp.Float(h, DIGITS)))
    return out


def close(a, b, rel=1e-10, abs_=1e-12):
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


# The table of scalar models every backend is checked on (kernel, cuda, PTX tests).
MODELS = [  # (name, loss, params, inputs)
    ("linear", "(w*x + b - y)**2", "w b", "x y"),
    ("cubic", "(a + b*x + c*x**2 + d*x**3 - y)**2", "a b c d", "x y"),
    ("sigmoid-neuron", "(sigmoid(w0*x0 + w1*x1 + b) - y)**2", "w0 w1 b", "x0 x1 y"),
    ("tanh-net", "(v0*tanh(u0*x + c0) + v1*tanh(u1*x + c1) - y)**2", "u0 u1 c0 c1 v0 v1", "x y"),
    ("abs", "abs(w*x + b - y)", "w b", "x y"),
    ("relu", "(relu(w*x + b) - y)**2", "w b", "x y"),
    ("log-sum-exp", "logsumexp(w0*x, w1*x, b) - w0*x", "w0 w1 b", "x"),
    ("bce", "bce(sigmoid(w0*x0 + w1*x1 + b), y)", "w0 w1 b", "x0 x1 y"),
    ("exp-softplus", "exp(-w*x) + softplus(b*x) + leaky_relu(w - b) + elu(b*x - w)", "w b", "x"),
    ("max-min", "(max(w*x, 0.5, b) - min(y, w))**2", "w b", "x y"),
]
IDS = [m[0] for m in MODELS]


def random_case(params, inputs, rows=40, seed=0):
    rng = np.random.default_rng(seed)
    theta = rng.uniform(-1.5, 1.5, size=len(params))
    data = rng.uniform(-2, 2, size=(rows, len(inputs)))
    if "y" in inputs:
        data[:, inputs.index("y")] = rng.uniform(0.05, 0.95, size=rows)  # bce needs 0 < y < 1
    return theta, data
