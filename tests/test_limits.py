"""Size bounds of the parser and the deriver: exponent bombs and deep nesting refused at once
in one line; 500- and 10,000-term sums, a thousand unary minuses and a megabyte expression
parsed, derived and compiled to the right numbers in bounded time."""
import time

import numpy as np
import pytest
import sympy as sp

import symgrad
from symgrad import ParseError, SymgradError, parse_expr
from support import cli, one_line_error

A, X = sp.symbols("a x")

BOMBS = ["2**2**2**2**2**2", "x**9**9**9", "10**(10**10)", "(-2)**(10**10)",
         "**".join(["w"] * 400), "1" * 5000, "x**(10**100000)",
         "(x*0.5)**100000000000000000000", "(w*3/7*x)**(10**9)"]  # SymPy powers the number


@pytest.mark.parametrize("text", BOMBS, ids=lambda t: t[:20])
def test_exponent_bombs_are_refused_at_once(text):
    started = time.monotonic()
    with pytest.raises(ParseError) as info:
        parse_expr(text)
    assert time.monotonic() - started < 2.0 and "\n" not in str(info.value)


def test_bombs_from_the_cli_are_one_line(hours):
    for text in BOMBS[:4]:
        one_line_error(cli("derive", text), "column")
        one_line_error(cli("train", hours, "--model", f"w*x + {text}", "--target", "y"),
                       "column")


def test_a_500_term_sum_derives_trains_and_predicts(tmp_path, hours):
    model = " + ".join(f"w{k % 7}*x**{k % 5}/{k + 1}" for k in range(500))
    derived = cli("derive", f"({model} - y)**2", "--wrt", "w0,w1")
    assert derived.exit_code == 0 and derived.output.count("d/") == 2
    out = tmp_path / "p.json"
    trained = cli("train", hours, "--model", model, "--target", "y", "--epochs", "3",
                  "--lr", "1e-4", "--out", out, "--quiet")
    assert trained.exit_code == 0, trained.stderr
    predicted = cli("predict", out, hours)
    assert predicted.exit_code == 0 and len(predicted.output.splitlines()) == 4


@pytest.mark.slow
def test_a_10000_term_sum_parses_derives_and_compiles():
    text = "(" + " + ".join(f"{k % 9 + 1}*w{k % 3}*(x - {k})**2" for k in range(10_000)) + \
        " - y)**2"
    f = symgrad.compile(text, ["w0", "w1", "w2"], ["x", "y"], backend="numpy")
    theta, data = np.array([0.1, -0.2, 0.3]), np.array([[0.5, 1.0], [2.0, -1.0]])
    value, grad = f(theta, data)
    # the same sum, term by term, in numpy: k*(x - k)**2 weights per parameter
    k = np.arange(10_000)
    per_param = [np.array([np.sum((k % 9 + 1)[k % 3 == j] * (x - k[k % 3 == j]) ** 2)
                           for x in data[:, 0]]) for j in range(3)]
    residual = sum(t * s for t, s in zip(theta, per_param)) - data[:, 1]
    assert value == pytest.approx(np.mean(residual ** 2), rel=1e-10)
    np.testing.assert_allclose(grad, [np.mean(2 * residual * s) for s in per_param], rtol=1e-10)


def test_a_thousand_unary_minuses_and_deep_nesting():
    assert parse_expr("-" * 1000 + "x") == sp.Symbol("x")
    assert parse_expr("-" * 999 + "x") == -sp.Symbol("x")
    with pytest.raises(ParseError, match="too many nested"):
        parse_expr("sin(" * 150 + "x" + ")" * 150)
    deep = "sin(" * 90 + "x" + ")" * 90  # within the bound: derives and compiles
    f = symgrad.compile(f"({deep} - y)**2", [], ["x", "y"], backend="numpy")
    assert np.isfinite(f([], np.array([[0.5, 0.1]]))[0])


@pytest.mark.parametrize("build", [
    lambda e: sp.sin(e) + X / 10,                                      # calls
    lambda e: sp.Add(e, sp.Mul(2, A ** 2, evaluate=False), evaluate=False)])  # an unflattened sum
def test_a_sympy_expression_nested_too_deep_is_refused_in_one_line(build):
    # the string parser bounds its nesting; a SymPy expression 300 levels deep raised a
    # RecursionError from srepr or free_symbols. Within the bound it compiles
    deep = A * X
    for _ in range(300):
        deep = build(deep)
    for call in (lambda: symgrad.compile(deep, ["a"], ["x"], backend="numpy"),
                 lambda: symgrad.Model(loss=deep, params=(A,), inputs=(X,)),
                 lambda: symgrad.Model.supervised(deep, "y", inputs=["x", "y"])):
        with pytest.raises(SymgradError, match=r"nested \d+ levels deep, more than 150"):
            call()
    within = A * X
    for _ in range(70):
        within = build(within)
    f = symgrad.compile(within, ["a"], ["x"], backend="numpy", order=2)
    assert np.isfinite(f.hessian(np.array([0.7]), np.array([[0.3]]))[2]).all()


def test_a_megabyte_expression_is_one_line_or_a_result():
    text = " + ".join(["x"] * 350_000)  # 1.4 MB
    started = time.monotonic()
    assert parse_expr(text) == 350_000 * sp.Symbol("x")
    assert time.monotonic() - started < 30


def test_numbers_beyond_int64_compile_as_their_floats():
    """1e300 and 1e-300 are read exactly (10**300, 1/10**300); Numba cannot type such integer
    literals, so the kernels print the floats they stand for. Both backends agree."""
    loss = "(1e300*b + 1e-300*w*x + 3*x - y)**2"
    theta, data = np.array([1e-300, 2e300]), np.array([[1.0, 2.0], [3.0, 1.0]])
    (value, grad), (expected_value, expected_grad) = (
        symgrad.compile(loss, ["b", "w"], ["x", "y"], backend=b)(theta, data)
        for b in ("numba", "numpy"))
    assert value == expected_value == 120.5
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12)
    assert np.isfinite(grad).all()


@pytest.mark.parametrize("function", ["tanh", "cosh", "sinh"])
def test_a_hyperbolic_function_of_a_long_sum_squared_builds_at_once(function):
    """SymPy asks whether a term of (f(S) - y) is infinite when it squares it, and for a
    hyperbolic f of a long sum S answers with polynomial gcds: 5 s at 38 terms, a
    RecursionError at 200. symgrad's own sinh, cosh and tanh answer it from their argument
    (symgrad.hyperbolic)."""
    inner = " + ".join(f"a{k}*sin({k + 1}*x)" for k in range(200))
    started = time.monotonic()
    parsed = parse_expr(f"({function}({inner}) - y)**2")
    model = symgrad.Model.supervised(f"{function}({inner})", "y", "mse", inputs=["x", "y"])
    from symgrad.recipe import row_loss           # the CLI's --loss "(yhat - y)**2"
    written = row_loss("(yhat - y)**2", model.prediction, "y")
    assert time.monotonic() - started < 3.0
    assert parsed == model.loss == written and parsed.exp == 2
