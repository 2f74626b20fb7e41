"""The whitelist parser: what it builds, and every refusal names the offending token."""
import math

import numpy as np
import pytest
import sympy as sp

import symgrad
from symgrad import ParseError, logsumexp, parse_expr, sigmoid
from symgrad.errors import SymgradError
from symgrad.parse import FUNCTIONS, parse_names

_T = np.linspace(0, 5, 40)
DECAY_ROWS = np.column_stack([_T, 2.5 * np.exp(-0.8 * _T) + 0.4])

x, y, w, b = sp.symbols("x y w b")

ACCEPTED = [
    ("(sigmoid(w*x + b) - y)**2", (sigmoid(w * x + b) - y) ** 2),
    ("x^3 + x^2", x**3 + x**2),                    # ^ is power, with power's precedence
    ("-y*log(x)", -y * sp.log(x)),
    ("0.5*(w*x - y)**2", sp.Rational(1, 2) * (w * x - y) ** 2),
    ("abs(x) + Abs(y)", sp.Abs(x) + sp.Abs(y)),
    ("max(x, y, 0)", sp.Max(x, y, 0)),
    ("logsumexp(x, y)", logsumexp(x, y)),
    ("2*pi*x", 2 * sp.pi * x),
    ("+x", x),
    # backquotes: any column name, exactly as written (as pandas' DataFrame.query)
    ("w*`mean radius` + b", w * sp.Symbol("mean radius") + b),
    ("`2nd` - `a-b` + `class` + `x`", sp.Symbol("2nd") - sp.Symbol("a-b") + sp.Symbol("class") + x),
    ("`sigmoid`*`pi`", sp.Symbol("sigmoid") * sp.Symbol("pi")),  # a column, not the function
    ("`température`**2", sp.Symbol("température") ** 2),
]

REFUSED = [
    ("x.real", "attribute access", "'x.real'"),
    ("__import__('os')", "names starting with '_'", "'__import__'"),
    ("x.__class__", "attribute access", "'x.__class__'"),
    ("x[0]", "subscripts", "'x[0]'"),
    ("lambda: 1", "lambda", "'lambda: 1'"),
    ("foo(x)", "unknown function", "'foo'"),
    ("eval('1')", "unknown function", "'eval'"),
    ("(lambda: 0)()", "lambda", "'lambda: 0'"),
    ("x if y else w", "conditional", "'x if y else w'"),
    ("x < y", "comparisons", "'x < y'"),
    ("x and y", "boolean", "'x and y'"),
    ("exp(x, base=2)", "keyword arguments", "'2'"),
    ("sigmoid(*x)", "starred", "'*x'"),
    ("sigmoid(x, y)", "sigmoid takes 1 argument", "'sigmoid(x, y)'"),
    ("sigmoid + 1", "used without arguments", "'sigmoid'"),
    ("'abc'", "only numbers", "\"'abc'\""),
    ("1e999", "out of range", "'1e999'"),
    ("w*1e-400*x", "out of range", "'1e-400'"),  # not read as 0
    ("log(w*x, 0)", "base must be positive and not 1", "'log(w*x, 0)'"),  # not read as 0
    ("log(w*x, 2 - 1.0)", "base must be positive and not 1", "column 1"),
    ("polygamma(1.5, x)", "order must be a whole number from 0 to 60, not 3/2", "column 1"),
    ("polygamma(k, x)", "order must be a whole number from 0 to 60, not k", "column 1"),
    ("polygamma(61, x)", "order must be a whole number from 0 to 60, not 61", "column 1"),
    ("polygamma(-1, x)", "order must be a whole number from 0 to 60, not -1", "column 1"),
    ("mod(w*x, 0*w)", "by zero", "'mod(w*x, 0*w)'"),
    ("w*température", "goes in backquotes", "column 7: 'é'"),
    ("x @ y", "operator MatMult", "'x @ y'"),
    ("~x", "operator Invert", "'~x'"),
    ("[x]", "lists", "'[x]'"),
    ("import os", "syntax error", "column"),
    ("x +", "syntax error", "column"),
    ("", "empty", ""),
    ("_x + 1", "names starting with '_'", "'_x'"),
    ("w*`mean radius", "'`' was never closed", "'`mean radius'"),
    ("w*``", "1 to 256 printable characters", "'``'"),
    ("`a\tb`", "1 to 256 printable characters", "'`a\\tb`'"),
    ("`f`(x)", "not a function", "'`f`(x)'"),
    ("`x`.real", "not a function or an object", "'`x`.real'"),
    ("`" + "n" * 257 + "`", "1 to 256 printable characters", "column 1"),
]


@pytest.mark.parametrize("text, expected", ACCEPTED, ids=[t for t, _ in ACCEPTED])
def test_accepts(text, expected):
    assert parse_expr(text) == expected


@pytest.mark.parametrize("text, reason, token", REFUSED, ids=[t or "empty" for t, *_ in REFUSED])
def test_refuses_with_a_one_line_reason(text, reason, token):
    with pytest.raises(ParseError) as info:
        parse_expr(text)
    message = str(info.value)
    assert reason in message and token in message and "\n" not in message


def test_columns_count_the_users_text():
    with pytest.raises(ParseError, match="column 9"):
        parse_expr("x^2 + y^foo(x)")  # foo starts at column 9 of what the user typed


def test_never_evaluates_user_text(monkeypatch):
    import builtins
    monkeypatch.setattr(builtins, "eval", lambda *a, **k: pytest.fail("eval called"))
    monkeypatch.setattr(sp, "sympify", lambda *a, **k: pytest.fail("sympify called"))
    assert parse_expr("sigmoid(w*x) + 1") == sigmoid(w * x) + 1


def test_a_name_that_needs_backquotes_says_so():
    with pytest.raises(ParseError, match=r"not a valid name: 'λ' \(a name with other "
                                         r"characters goes in backquotes: `λ`\)"):
        parse_names("a,λ")
    assert parse_names("`λ`") == ("λ",)
    with pytest.raises(ParseError, match=r"lambda expressions \(lambda as a name goes in "
                                         r"backquotes: `lambda`\) not allowed"):
        parse_expr("N0*exp(-lambda*t)")
    assert parse_expr("N0*exp(-`lambda`*t)").free_symbols == {sp.Symbol(n) for n in
                                                              ("N0", "lambda", "t")}


@pytest.mark.parametrize("text, ok", [("w0,w1,b", ("w0", "w1", "b")), (" a , b ", ("a", "b")),
                                      ("a b", None), ("", None), ("1a", None), ("x.y", None),
                                      ("`mean radius`, x", ("mean radius", "x")),
                                      ("`a,b`,c", ("a,b", "c")), ("`a", None), ("``", None),
                                      ("`a`b", None)])
def test_parse_names(text, ok):
    if ok is None:
        with pytest.raises(ParseError):
            parse_names(text)
    else:
        assert parse_names(text) == ok


LANGUAGE = {  # the functions and their arities: derived from the registry, pinned here
    **dict.fromkeys(["sigmoid", "softplus", "relu", "tanh", "exp", "sqrt", "abs", "Abs",
                     "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh",
                     "acosh", "atanh", "erf", "erfc", "log1p", "expm1", "gamma", "lgamma",
                     "loggamma", "digamma", "sign", "floor", "ceil", "ceiling"], (1, 1)),
    "log": (1, 2), "atan2": (2, 2), "sinc": (1, 1), "heaviside": (1, 2), "Heaviside": (1, 2),
    "mod": (2, 2), "Mod": (2, 2), "polygamma": (2, 2),
    "leaky_relu": (1, 2), "elu": (1, 2), "logsumexp": (1, math.inf),
    **dict.fromkeys(["max", "Max", "min", "Min"], (2, math.inf)),
    **dict.fromkeys(["mse", "mae", "bce"], (2, 2)),
}


def test_the_language_is_the_registrys():
    assert {name: (s.min_args, s.max_args) for name, s in FUNCTIONS.items()} == LANGUAGE


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_function_takes_the_arguments_its_signature_says(name):
    signature = FUNCTIONS[name]
    args = ["2", "y", "w", "b"] if name == "polygamma" else ["x", "y", "w", "b"]  # (n, x)
    for count in range(signature.min_args, int(min(signature.max_args, 4)) + 1):
        parse_expr(f"{name}({', '.join(args[:count])})")
    too_many = [] if signature.max_args == math.inf else [int(signature.max_args) + 1]
    for count in (signature.min_args - 1, *too_many):
        with pytest.raises(ParseError, match=f"{name} takes"):
            parse_expr(f"{name}({', '.join(args[:count])})")


def test_a_complex_part_that_sympy_introduces_is_read_as_real():
    """abs(exp(z)) evaluates to exp(re(z)), and re(w**2) to re(w)**2 - im(w)**2: symgrad
    computes in real numbers, so the parsed expression is exp(-w**2) (Hypothesis found the
    DerivationError 'no derivative rule for re')."""
    parsed = parse_expr("abs(exp(-(w)**2)) + 1")
    w = sp.Symbol("w")
    assert parsed == sp.exp(-w ** 2) + 1
    gradient = symgrad.derive("abs(exp(-(w)**2)) + 1", ["w"])
    assert symgrad.closed_forms(gradient)[w].equals(-2 * w * sp.exp(-w ** 2))


@pytest.mark.parametrize("call", [
    lambda: symgrad.fit("(e*exp(-k*t) + c - y)**2", ["e", "k", "c"], ["t", "y"], DECAY_ROWS,
                        backend="numpy"),
    lambda: symgrad.compile("(pi*x - 1)**2", ["pi"], ["x"], backend="numpy"),
    lambda: symgrad.Model.supervised("pi*t + c", "y", params=["pi", "c"], inputs=["t", "y"]),
    lambda: symgrad.Model.of("(a*x - e)**2", ["a"], ["x", "e"])])
def test_a_name_listed_that_the_string_reads_as_a_constant_is_refused(call):
    # e*exp(-k*t) + c with params e, k, c fitted 2.718*exp(-k*t) + c: e never moved
    with pytest.raises(SymgradError, match=r"is listed as a name, but the expression reads "
                                           r"(e|pi) as the constant .*: write `(e|pi)` \(in "
                                           r"backquotes\) where the name is meant"):
        call()


def test_a_constants_name_in_backquotes_is_a_parameter():
    fitted = symgrad.fit("(`e`*exp(-k*t) + c - y)**2", ["e", "k", "c"], ["t", "y"], DECAY_ROWS,
                         backend="numpy")
    np.testing.assert_allclose(fitted.params, [2.5, 0.8, 0.4], rtol=1e-9)


def test_sinc_is_in_the_language_and_fits_through_zero():
    # sin(x)/x, 1 at 0, with finite derivatives there (symgrad's sinc_d)
    t = np.linspace(-10, 10, 41)
    rows = np.column_stack([t, 2 * np.sinc(0.8 * t / np.pi)])
    fitted = symgrad.fit("(A*sinc(k*t) - y)**2", ["A", "k"], ["t", "y"], rows, [1.0, 1.0])
    np.testing.assert_allclose(fitted.params, [2.0, 0.8], rtol=1e-9)
