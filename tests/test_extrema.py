"""max and min of many arguments: built in linear time, differentiated with ties shared, and
compiled to code whose size grows linearly with the number of arguments."""
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

import symgrad
from symgrad import extrema
from symgrad.parse import parse_expr
from symgrad.program import lower
from support import central_differences, close, numba_agrees_with_numpy, program_values

a, b, c, d, x = sp.symbols("a b c d x")


def many(kind: str, n: int) -> str:
    return f"({kind}(" + ", ".join(f"a{k}*x + b{k}" for k in range(n)) + ") - y)**2"


def names(n: int) -> list[str]:
    return [f"{v}{k}" for k in range(n) for v in "ab"]


def test_construction_flattens_drops_repeats_and_folds_numbers():
    assert type(extrema.Max(a, b, c)) is extrema.Max
    assert extrema.Max(a, extrema.Max(b, c, x), sp.Max(c, d)).args == (a, b, c, d, x)
    assert parse_expr("max(max(a, b, c), d)") == extrema.Max(a, b, c, d)  # ties share alike
    assert extrema.Max(a, b, a) == sp.Max(a, b) and type(extrema.Max(a, b, a)) is sp.Max
    assert extrema.Max(a, b, 1, 3, -2) == extrema.Max(a, b, 3)
    assert extrema.Min(a, b, 1, 3, -2) == extrema.Min(a, b, -2)
    assert extrema.Max(a, b, sp.oo) == sp.oo and extrema.Min(a, b, -sp.oo) == -sp.oo
    assert extrema.Max(a, b, c, -sp.oo).args == (a, b, c)
    assert extrema.Max(1, 5, 2) == 5
    assert extrema.Max(a, b, c).subs({a: 1, b: 4, c: 2}) == 4
    assert str(extrema.Max(a, b, c)) == "Max(a, b, c)"        # printed as SymPy's


def test_the_language_and_sympy_input_both_build_the_linear_classes():
    assert type(parse_expr("max(a, b, c)")) is extrema.Max
    assert type(parse_expr("min(a, b, c, d)")) is extrema.Min
    assert type(parse_expr("max(a, b)")) is sp.Max
    model = symgrad.Model.of(sp.Max(a * x, b * x, c * x) + sp.Min(a, b, c), ["a", "b", "c"],
                             ["x"])
    assert {type(t) for t in model.loss.args} == {extrema.Max, extrema.Min}
    direct = symgrad.Model(loss=sp.Max(a * x, b * x, c * x) ** 2, params=(a, b, c), inputs=(x,),
                           prediction=(sp.Min(a, b, c), sp.Max(a, b)))
    assert type(direct.loss.base) is extrema.Max
    assert [type(p) for p in direct.prediction] == [extrema.Min, sp.Max]
    # built twice: SymPy's cache must not hand back the parent that holds its own Max
    for _ in range(2):
        nested = symgrad.Model(loss=(sp.Max(a * x, b * x, c * x) - x) ** 2, params=(a, b, c),
                               inputs=(x,))
        assert {type(n) for n in sp.preorder_traversal(nested.loss)
                if isinstance(n, sp.Max)} == {extrema.Max}


@pytest.mark.parametrize("kind", ["max", "min"])
def test_gradient_matches_central_differences_and_the_reference(kind):
    n = 5
    rng = np.random.default_rng(11)
    t = np.linspace(-1.5, 1.5, n) + rng.normal(scale=0.01, size=n)
    sign = 1 if kind == "max" else -1               # tangents of sign*x**2: each one wins
    theta = np.column_stack([2 * sign * t, -sign * t * t]).ravel()   # somewhere in [-2, 2]
    data = np.column_stack([rng.uniform(-2, 2, 30), rng.normal(size=30)])
    text, params = many(kind, n), names(n)
    grad = numba_agrees_with_numpy(text, theta, data, params, ["x", "y"])
    assert np.count_nonzero(grad) == 2 * n                       # every argument won rows
    row = dict(zip(params, theta)) | {"x": data[0, 0], "y": data[0, 1]}
    gradient = symgrad.derive(text, params, ["x", "y"])
    exact = central_differences(gradient.model.loss, params, row)
    _, partials = program_values(gradient, row)
    for name in params:
        assert close(float(partials[name]), exact[name], rel=1e-10, abs_=1e-12), name


def test_ties_share_the_derivative_equally():
    """At a three-way tie each argument gets 1/3 (SymPy's binary rule gives 1/2 each at a
    two-way tie, and is kept); the shares add up to the derivative of the maximum."""
    for text, expected in (("max(a*x, b*x, c*x, d*x - 5)", [1 / 3, 1 / 3, 1 / 3, 0]),
                           ("min(a*x, b*x, c*x, d*x + 5)", [1 / 3, 1 / 3, 1 / 3, 0]),
                           # arguments with numbers: SymPy's cse rewrites Eq(t + 1, m) as
                           # Eq(t, m - 1), which is not the same comparison in floats
                           ("max(a*x + 0.1, b*x + 0.1, c*x - 0.2, d*x + 0.1)", [1 / 3] * 2 +
                            [0, 1 / 3]),
                           ("max(a*x, b*x)", [1 / 2, 1 / 2])):
        params = ["a", "b", "c", "d"][:len(expected)]
        theta, data = np.full(len(params), 0.3), np.array([[1.0]])  # (0.3 + 0.1) - 0.1 != 0.3
        for backend in ("numba", "numpy"):
            _, grad = symgrad.compile(text, params, ["x"], backend=backend)(theta, data)
            np.testing.assert_allclose(grad, expected, rtol=1e-15)


def test_code_grows_linearly_with_the_number_of_arguments():
    """SymPy's own rule nests maxima (12 arguments took 40 s to compile, 31 never finished);
    here the program's operations grow in proportion to the arguments."""
    sizes = {}
    for n in (10, 40):
        program = lower(symgrad.derive(many("max", n), names(n), ["x", "y"]))
        sizes[n] = sum(sp.count_ops(e) for _, e in program.temps) + \
            sum(sp.count_ops(e) for e in program.outputs)
    assert sizes[40] <= 4.5 * sizes[10]


def test_forty_arguments_compile_and_agree_with_the_reference():
    n = 40
    rng = np.random.default_rng(5)
    theta, data = rng.normal(size=2 * n), rng.normal(size=(50, 2))
    numba_agrees_with_numpy(many("max", n), theta, data, names(n), ["x", "y"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=3, max_size=8),
       st.sampled_from([extrema.Max, extrema.Min]))
def test_derivative_is_the_argmax_indicator_shared_over_ties(values, cls):
    symbols = sp.symbols(f"z0:{len(values)}")
    node = cls(*symbols)
    at = dict(zip(symbols, values))
    target = max(values) if cls is extrema.Max else min(values)
    winners = [v == target for v in values]
    for i, s in enumerate(symbols):
        share = float(extrema.derivative(node, node.args.index(s)).subs(at))
        assert share == (1 / sum(winners) if winners[i] else 0.0)


def test_closed_forms_of_a_wide_max_are_right_and_bounded(tmp_path):
    """Written out, each partial of a max of n arguments repeats it n times (n**3 terms in
    all): 8 arguments still print (untidied, and equal to the program's values), 60 are
    refused in one line that points to --format python, which names shared parts."""
    from symgrad.views import closed_forms
    from support import cli, closed_form_values, one_line_error

    n = 8
    gradient = symgrad.derive(many("max", n), names(n), ["x", "y"])
    forms = closed_forms(gradient)
    assert any(sp.count_ops(e) > 100 for e in forms.values())
    row = {**{p: 0.1 * k - 0.3 for k, p in enumerate(names(n))}, "x": 0.7, "y": 0.2}
    _, partials = program_values(gradient, row)
    by_closed_form = closed_form_values(gradient, row)
    for name in names(n):
        assert close(by_closed_form[name], float(partials[name])), name
    wide = many("max", 60)
    one_line_error(cli("derive", wide), "terms long written out", "--format python")
    result = cli("derive", wide, "--format", "python")
    assert result.exit_code == 0 and result.output.count(" == t") >= 60  # one indicator each


@pytest.mark.parametrize("model", [
    "(max(sqrt(x0), x1) - y)**2",            # arguments that are expressions: helper calls
    "(max(a*sqrt(x0), x1) - y)**2",          # arguments that are names (CSE's): the builtin
    "(min(a*sqrt(x0), x1, a*x1 + 1) - y)**2",
    "(max(a*log(x0), 0.5) - y)**2 + min(a, x1)"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_nan_argument_makes_max_and_min_nan_as_on_numpy(model, dtype):
    """sqrt or log of a negative value inside a max or min: NaN, as numpy's maximum gives
    (Python's max(0.5, nan) is 0.5, which made the loss finite on numba alone)."""
    data = np.array([[-1.0, 0.5, 0.0], [4.0, 1.0, 0.5], [2.0, -1.0, 0.3]], dtype=dtype)
    theta = np.array([1.0], dtype=dtype)
    for backend in ("numba", "numpy"):
        f = symgrad.compile(model, ["a"], ["x0", "x1", "y"], backend=backend)
        assert np.isnan(f(theta, data)[0]), backend
        finite = f(theta, data[1:])
        assert np.isfinite(finite[0]) and np.all(np.isfinite(finite[1])), backend
    numba_agrees_with_numpy(model, np.array([1.0]), data[1:].astype(np.float64), ["a"],
                            ["x0", "x1", "y"])


def test_the_device_helpers_for_max_and_min_propagate_nan():
    """numba.cuda compiles no builtin max of floats: the CUDA kernels fold Max and Min into
    these helpers (printer.EXTREMA_HELPERS), which must give NaN for a NaN either side."""
    from symgrad.codegen.cuda_backend import CudaPrinter
    printer = CudaPrinter()
    printed = printer.doprint(sp.Max(a, b, c)) + " " + printer.doprint(sp.Min(a, b))
    assert "larger(" in printed and "smaller(" in printed
    namespace = {}
    for source in printer.helpers.values():
        exec(source.split("\n", 1)[1], namespace)  # without the device decorator
    nan = float("nan")
    for f, ordered in ((namespace["larger"], max), (namespace["smaller"], min)):
        assert np.isnan(f(nan, 1.0)) and np.isnan(f(1.0, nan)) and np.isnan(f(nan, nan))
        assert f(2.0, -3.0) == f(-3.0, 2.0) == ordered(2.0, -3.0)
