"""Independent ways to evaluate a gradient, shared by the tests.

- ``program_values``: runs the generated Python source (the CSE'd program, symgrad's printer).
- ``closed_form_values``: evaluates the closed forms with SymPy's arbitrary-precision evalf.
- ``central_differences``: differentiates the *original* loss numerically at 50 digits, so it
  shares nothing with symgrad's derivation, rewrites or printer.
"""
from __future__ import annotations

import math

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
