"""sinh, cosh and tanh whose assumptions cost nothing (symgrad.hyperbolic): SymPy's functions
under the same names, equal to them, differentiated as they are, and never asking SymPy for
im(z) mod pi, which for a long sum it answers with polynomial gcds (minutes at 200 terms)."""
import numpy as np
import pytest
import sympy as sp
import sympy.core.mod

import symgrad
from symgrad import hyperbolic
from symgrad.parse import parse_expr
from support import central_differences, close, numba_agrees_with_numpy, program_values

x, y = sp.symbols("x y")
r = sp.Symbol("r", real=True)
PAIRS = [(hyperbolic.sinh, sp.sinh), (hyperbolic.cosh, sp.cosh), (hyperbolic.tanh, sp.tanh)]


def long_sum(n: int) -> str:
    return " + ".join(f"w{k}*x{k}" for k in range(n))


def names(n: int) -> tuple[list[str], list[str]]:
    return [f"w{k}" for k in range(n)], [f"x{k}" for k in range(n)] + ["y"]


@pytest.fixture
def no_mod(monkeypatch):
    """SymPy's Mod may not be evaluated: that is the slow question the classes avoid."""
    def refuse(cls, *args):
        raise AssertionError(f"Mod evaluated: {args}")
    monkeypatch.setattr(sympy.core.mod.Mod, "eval", classmethod(refuse))


@pytest.mark.parametrize("ours, theirs", PAIRS)
def test_equal_to_sympys_function_both_ways_and_hashed_alike(ours, theirs):
    assert ours(x) == theirs(x) and theirs(x) == ours(x)
    assert hash(ours(x)) == hash(theirs(x)) and ours(x) != theirs(y)
    assert str(ours(x + 1)) == str(theirs(x + 1))
    assert {ours(x): 1}[theirs(x)] == 1


@pytest.mark.parametrize("ours, theirs", PAIRS)
def test_the_parser_builds_ours_and_sympys_simplifications_still_apply(ours, theirs):
    assert type(parse_expr(f"{theirs.__name__}(x)")) is ours
    assert parse_expr(f"{theirs.__name__}(0)") == 0 if ours is not hyperbolic.cosh else 1
    negated = ours(-x)  # SymPy's sign rules, through our class
    assert negated == (theirs(x) if ours is hyperbolic.cosh else -theirs(x))


@pytest.mark.parametrize("ours, theirs", PAIRS)
def test_the_derivative_is_sympys_and_built_from_our_classes(ours, theirs):
    derivative = ours(x**2).diff(x)
    assert sp.simplify(derivative - theirs(x**2).diff(x)) == 0
    assert all(type(f) in (hyperbolic.sinh, hyperbolic.cosh, hyperbolic.tanh)
               for f in derivative.atoms(sp.Function))


def test_assumptions_answered_from_the_argument_alone():
    assert hyperbolic.tanh(r).is_real and hyperbolic.tanh(r).is_finite
    assert hyperbolic.cosh(r).is_positive and hyperbolic.sinh(r).is_real
    assert hyperbolic.tanh(x).is_real is None and hyperbolic.cosh(x).is_positive is None
    assert hyperbolic.tanh(x).is_finite is None


@pytest.mark.parametrize("form", ["log(cosh(S - y))", "(tanh(S) - y)**3",
                                  "(tanh(S) - y)*(tanh(S) - y)", "sqrt(cosh(S) + y)",
                                  "(y - sinh(S))**4"])
def test_long_sums_build_and_derive_without_asking_for_im_mod_pi(form, no_mod):
    params, inputs = names(200)
    gradient = symgrad.derive(form.replace("S", long_sum(200)), params, inputs)
    assert len(gradient.partials) == 200


@pytest.mark.parametrize("form", ["log(cosh(S - y))", "(tanh(S) - y)**3",
                                  "sinh(S)**2 - y*cosh(S)"])
def test_the_gradient_agrees_two_ways(form):
    params, inputs = names(4)
    model = symgrad.Model.of(form.replace("S", long_sum(4)), params, inputs)
    rng = np.random.default_rng(3)
    theta, data = rng.normal(size=4) * 0.5, rng.normal(size=(57, 5)) * 0.7
    numba_agrees_with_numpy(model, theta, data)
    values = {**dict(zip(params, theta)), **dict(zip(inputs, data[0]))}
    _, partials = program_values(symgrad.derive(model), values)
    exact = central_differences(model.loss, params, values)
    assert all(close(float(partials[n]), exact[n]) for n in params)


def test_a_sympy_built_model_gets_our_classes(no_mod):
    params, inputs = names(120)
    w, xs = sp.symbols(params), sp.symbols(inputs[:-1])
    loss = sp.log(sp.cosh(sp.Add(*(a * b for a, b in zip(w, xs))) - y, evaluate=False),
                  evaluate=False)  # SymPy's own evaluation of it would be the slow one
    model = symgrad.Model(loss=loss, params=tuple(w), inputs=(*xs, y))
    assert type(model.loss.args[0]) is hyperbolic.cosh
    assert model.loss == loss


def test_subs_with_sympys_function_as_the_key_replaces_ours():
    """SymPy's subs compares classes; ours answer for SymPy's of the same argument."""
    w, t = sp.symbols("w t")
    assert parse_expr("tanh(w*x) + 3*sinh(x)").subs(sp.tanh(w * x), t) == t + 3 * sp.sinh(x)
    gradient = symgrad.derive("(tanh(w*x) - y)**2", ["w"], ["x", "y"])
    closed = symgrad.closed_forms(gradient)[w]
    assert not closed.subs(sp.tanh(w * x), t).has(sp.tanh)
    assert parse_expr("cosh(x)**2").subs(sp.cosh(x), 2) == 4
