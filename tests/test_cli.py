"""`symgrad derive` through click's CliRunner: formats, defaults, and one-line errors; every
format right whatever the names (those the generated code uses too)."""
import json
import math
import subprocess
import sys

import pytest
import sympy as sp
from click.testing import CliRunner

from cli import main
from symgrad import parse_expr, relu, sigmoid, softplus
from support import GENERATED_CODE_NAMES, central_differences, one_line_error

NEURON = "(sigmoid(w*x + b) - y)**2"


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_text_is_one_line_per_parameter_in_sigmoid_form():
    result = run("derive", NEURON, "--wrt", "w")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "d/w = 2*x*(1 - sigmoid(b + w*x))*(-y + sigmoid(b + w*x))*sigmoid(b + w*x)"]


def test_wrt_given_twice_is_one_list():
    result = run("derive", "a*x**2 + b", "--wrt", "a", "--wrt=b")
    assert result.stdout.splitlines() == ["d/a = x**2", "d/b = 1"]


def test_default_wrt_is_every_symbol_sorted():
    result = run("derive", NEURON)
    assert [line.split(" = ")[0] for line in result.stdout.splitlines()] == \
        ["d/b", "d/w", "d/x", "d/y"]
    assert "exp" not in result.stdout


def test_leading_minus_expression():
    result = run("derive", "-y*log(sigmoid(w*x)) - (1 - y)*log(1 - sigmoid(w*x))", "--wrt", "w")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "d/w = x*(-y + sigmoid(w*x))"


def test_latex():
    result = run("derive", NEURON, "--wrt", "w,b", "--format", "latex")
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith(r"\frac{\partial L}{\partial w} = ")
    assert r"\sigma\left(b + w x\right)" in lines[0]


@pytest.mark.parametrize("expression", [
    "bce(sigmoid(w*x + b), y) + relu(c*x) + softplus(c) + leaky_relu(w) + elu(c*b)",
    # log1p and expm1 were written as such: sympify read them as undefined functions
    "(log1p(w*x) - y)**2 + expm1(b*c)*x",
])
def test_json_closed_forms_parse_with_sympify_and_are_correct(expression):
    result = run("derive", expression, "--wrt", "w,b,c", "--format", "json")
    document = json.loads(result.stdout)
    assert set(document) == {"loss", "gradient"} and list(document["gradient"]) == ["w", "b", "c"]
    names = {"sigmoid": sigmoid, "softplus": softplus, "relu": relu}
    loss = sp.sympify(document["loss"], locals=names)
    point = {sp.Symbol(n): v for n, v in dict(w=0.3, b=-0.7, c=1.1, x=0.9, y=1.0).items()}
    for name, text in document["gradient"].items():
        assert "_" not in text and "t0" not in text  # closed forms, no temporaries
        form = sp.sympify(text, locals=names)
        h = sp.Float("1e-20", 50)
        up = loss.evalf(50, subs={**point, sp.Symbol(name): point[sp.Symbol(name)] + h})
        down = loss.evalf(50, subs={**point, sp.Symbol(name): point[sp.Symbol(name)] - h})
        numeric = float((up - down) / (2 * h))
        assert math.isclose(float(form.evalf(30, subs=point)), numeric, rel_tol=1e-12)


def test_python_format_runs_as_pasted():
    result = run("derive", NEURON, "--wrt", "w,b", "--format", "python")
    namespace = {}
    exec(result.stdout, namespace)
    loss, gradient = namespace["loss_and_gradient"](w=0.5, b=-0.2, x=2.0, y=1.0)
    s = 1 / (1 + math.exp(-(0.5 * 2.0 - 0.2)))
    assert math.isclose(loss, (s - 1) ** 2, rel_tol=1e-14)
    assert math.isclose(gradient["w"], 2 * (s - 1) * s * (1 - s) * 2.0, rel_tol=1e-14)


EDGES = [  # (expression, parameters, a row): values that overflow or leave a domain
    ("(where(x > 0, w*sqrt(x), b*x) - y)**2", {"w": 1.0, "b": 2.0}, {"x": -1.0, "y": 0.5}),
    ("(where(x > 0, w*log(x), b) - y)**2", {"w": 1.0, "b": 2.0}, {"x": -1.0, "y": 0.5}),
    ("exp(a*x) + cosh(a) + expm1(a)", {"a": 1000.0}, {"x": 1.0}),
    ("x**a + log(x*a) + 1/(x*a)", {"a": 0.5}, {"x": 0.0}),
    ("sqrt(a*x) + acosh(a) + atanh(2*a)", {"a": 0.5}, {"x": -1.0}),
    ("gamma(a) + lgamma(-a) + erf(a)/(a - 200) + x", {"a": 200.0}, {"x": 1.0}),
    ("mod(x, a) + relu(a)*x", {"a": 0.0}, {"x": 1.0}),
]


@pytest.mark.parametrize("expression, params, row", EDGES, ids=[e[0] for e in EDGES])
def test_python_format_computes_as_the_kernel_where_values_leave_their_domain(
        expression, params, row):
    """Python's math raises (sqrt(-1), exp(1000), 1/0) where the kernels give nan or inf;
    shared temporaries are taken before a where picks among them, so a guarded branch
    raised too. The printed function computes with numpy, as the kernels do."""
    import numpy as np

    import symgrad
    namespace = {}
    result = run("derive", expression, "--wrt", ",".join(params), "--format", "python")
    exec(result.stdout, namespace)
    loss, gradient = namespace["loss_and_gradient"](**params, **row)
    kernel = symgrad.compile(expression, list(params), list(row), backend="numpy")
    k_loss, k_gradient = kernel(np.array(list(params.values())), np.array([list(row.values())]))
    np.testing.assert_allclose([loss, *(gradient[p] for p in params)],
                               [k_loss, *k_gradient], rtol=1e-12)
    assert set(gradient) == set(params)


def test_python_format_computes_every_row_given_arrays():
    import numpy as np
    namespace = {}
    exec(run("derive", NEURON, "--wrt", "w,b", "--format", "python").stdout, namespace)
    x, y = np.array([-1.0, 0.0, 3.0]), np.array([0.0, 1.0, 1.0])
    loss, gradient = namespace["loss_and_gradient"](0.5, -0.2, x, y)
    for k in range(3):
        one, partials = namespace["loss_and_gradient"](0.5, -0.2, x[k], y[k])
        assert loss[k] == one and gradient["w"][k] == partials["w"]


def test_json_backquotes_a_name_it_also_uses_as_a_function_or_constant():
    """Written bare, a parameter `exp` beside exp(b) (or `pi` beside pi) made every string
    ambiguous: sympify with the symbols map failed ('Symbol' object is not callable)."""
    text = "(`exp`*x + exp(b) - y)**2 + `pi`*pi*x + `gamma`*x"
    document = json.loads(run("derive", text, "--format", "json").stdout)
    assert "`exp`*x" in document["loss"] and "exp(b)" in document["loss"]
    assert "pi*`pi`*x" in document["loss"] and "gamma*x" in document["loss"]
    names = {"exp": 0.3, "b": -0.2, "x": 0.7, "y": 0.1, "pi": 1.5, "gamma": 2.0}
    expected = central_differences(parse_expr(text), list(names), names)
    read = {f"{n}_": sp.Symbol(n) for n in names}
    for name, form in document["gradient"].items():
        unquoted = form.replace("`exp`", "exp_").replace("`pi`", "pi_").replace("gamma", "gamma_")
        value = sp.sympify(unquoted, locals=read).subs({sp.Symbol(n): v for n, v in names.items()})
        assert float(value) == pytest.approx(expected[name], rel=1e-12), name


@pytest.mark.parametrize("args, reason", [
    (["derive", "foo(x)"], "unknown function at column 1: 'foo'"),
    (["derive", "x +* y"], "syntax error"),
    (["derive", "x.__class__"], "attribute access"),
    (["derive", "__import__('os').system('true')"], "names starting with '_'"),
    (["derive", "__import__('os')"], "names starting with '_'"),
    (["derive", "x", "--wrt", "a b"], "not a valid name"),
    (["derive", "x", "--format", "xml"], "'xml' is not one of"),
    (["derive"], "Missing argument"),
    (["derive", "2 + 3"], "nothing to differentiate"),
    (["derive", "a*x + b", "--wrt", "a,,b"], "an empty name in 'a,,b'"),
    (["derive", "a*x + b", "--wrt", "a,"], "an empty name in 'a,'"),
    (["derive", "a*x + b", "--loss", "bce"], "--loss bce is for a layer chain"),
])
def test_bad_input_is_one_line_and_status_2(args, reason):
    result = run(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and reason in result.stderr
    assert "Traceback" not in result.stderr


def test_console_script_entry_point_runs_in_a_subprocess():
    result = subprocess.run([sys.executable, "-m", "cli", "derive", "x*w", "--wrt", "w"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout == "d/w = x\n"


def test_python_format_is_right_for_a_parameter_named_loss():
    result = run("derive", "loss*x**2", "--wrt", "loss,x", "--format", "python")
    namespace = {}
    exec(result.output, namespace)
    value, gradient = namespace["loss_and_gradient"](3.0, 2.0)
    assert value == 12.0 and gradient == {"loss": 4.0, "x": 12.0}


@pytest.mark.parametrize("name", GENERATED_CODE_NAMES)
def test_every_format_is_right_whatever_the_names(name):
    text = f"tanh({name}*x) + exp({name})*x**2 + logsumexp({name}, x)"
    values = {name: 0.3, "x": -0.7}
    expected = central_differences(parse_expr(text), [name, "x"], values)
    namespace = {}
    exec(run("derive", text, "--wrt", f"{name},x", "--format", "python").output, namespace)
    _, gradient = namespace["loss_and_gradient"](values[name], values["x"])
    document = json.loads(run("derive", text, "--wrt", f"{name},x", "--format", "json").output)
    symbols = {name: sp.Symbol(name), "x": sp.Symbol("x")}
    for wrt in (name, "x"):
        closed = sp.sympify(document["gradient"][wrt], locals=symbols)
        assert gradient[wrt] == pytest.approx(expected[wrt], rel=1e-12)
        assert float(closed.evalf(30, subs={symbols[k]: v for k, v in values.items()})) == \
            pytest.approx(expected[wrt], rel=1e-12)


def test_softmax_under_mse_is_refused_by_derive_too():
    one_line_error(run("derive", "dense(3) -> log_softmax", "--loss", "mse"), "goes with --loss ce")


@pytest.mark.parametrize("model", ["sigmoid(w*x + b)", "dense(2) -> tanh -> dense(1)"])
def test_numba_disable_jit_is_refused_in_one_line(tmp_path, model):
    """With Numba's JIT off the numba backend cannot run (its exp and optimizer step exist only
    compiled): one line naming the variable and the way out, never a Numba traceback."""
    import os
    data = tmp_path / "d.csv"
    data.write_text("x,y\n0,0.1\n1,0.7\n2,0.9\n")
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1", "SYMGRAD_CACHE_DIR": str(tmp_path / "c")}
    done = subprocess.run([sys.executable, "-m", "cli", "train", str(data), "--model", model,
                           "--target", "y", "--epochs", "2"], capture_output=True, text=True,
                          env=env, cwd=str(tmp_path), timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "symgrad: error: backend numba: NUMBA_DISABLE_JIT is set, and the numba backend needs "
        "Numba's compiler; unset it, or use the numpy backend"]
