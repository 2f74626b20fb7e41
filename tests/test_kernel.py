"""symgrad.compile: the Numba backend against the numpy reference backend and against
central differences of the loss evaluated at 40 digits (mpmath), on a table of models; every
name the generated code uses works as a parameter; what the library refuses is a one-line
SymgradError; compiling and calling from several threads."""
import math
import re
import threading
import warnings

import mpmath
import numpy as np
import pytest
import sympy as sp

import symgrad
from symgrad import Model, ParseError, SymgradError
from symgrad.functions import to_builtins
from support import GENERATED_CODE_NAMES, IDS, MODELS, central_differences, random_case

def exact_gradient(loss_text, params, inputs, theta, data, h=mpmath.mpf("1e-18")):
    """Central differences of the mean loss, evaluated with mpmath at 40 digits."""
    expr = to_builtins(symgrad.parse_expr(loss_text), keep=())
    symbols = [sp.Symbol(n) for n in (*params, *inputs)]
    f = sp.lambdify(symbols, expr, modules="mpmath")
    with mpmath.workdps(40):
        def mean_loss(values):
            return sum(f(*values, *(mpmath.mpf(v) for v in row)) for row in data) / len(data)
        point = [mpmath.mpf(v) for v in theta]
        grad = []
        for k in range(len(params)):
            up, down = list(point), list(point)
            up[k] += h
            down[k] -= h
            grad.append(float((mean_loss(up) - mean_loss(down)) / (2 * h)))
        return float(mean_loss(point)), np.array(grad)


@pytest.mark.parametrize("name, loss, params, inputs", MODELS, ids=IDS)
def test_numba_and_numpy_agree_and_match_central_differences(name, loss, params, inputs):
    params, inputs = params.split(), inputs.split()
    theta, data = random_case(params, inputs)
    fast = symgrad.compile(loss, params, inputs)
    reference = symgrad.compile(loss, params, inputs, backend="numpy")
    loss_fast, grad_fast = fast(theta, data)
    loss_ref, grad_ref = reference(theta, data)
    assert loss_fast == pytest.approx(loss_ref, rel=1e-10)
    np.testing.assert_allclose(grad_fast, grad_ref, rtol=1e-10, atol=1e-13)
    exact_loss, exact = exact_gradient(loss, params, inputs, theta, data)
    assert loss_fast == pytest.approx(exact_loss, rel=1e-12)
    np.testing.assert_allclose(grad_fast, exact, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_ref, exact, rtol=1e-10, atol=1e-12)


def layouts(data):
    wide = np.zeros((data.shape[0] * 2, data.shape[1] * 3))
    wide[::2, ::3] = data
    return {"C": np.ascontiguousarray(data), "F": np.asfortranarray(data),
            "strided": wide[::2, ::3], "float32": data.astype(np.float32)}


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_every_layout_and_a_mapping_give_the_same_result(backend):
    params, inputs = ["w0", "w1", "b"], ["x0", "x1", "y"]
    theta, data = random_case(params, inputs, rows=1000)
    f = symgrad.compile(MODELS[2][1], params, inputs, backend=backend)
    expected = f(theta, data)
    for name, array in layouts(data).items():
        loss, grad = f(theta, array)
        tol = 1e-6 if name == "float32" else 1e-12
        assert loss == pytest.approx(f(theta, array.astype(np.float64))[0], rel=1e-12), name
        np.testing.assert_allclose(grad, expected[1], rtol=tol, atol=tol, err_msg=name)
    mapping = {n: data[:, j] for j, n in enumerate(inputs)}
    np.testing.assert_allclose(f(theta, mapping)[1], expected[1], rtol=1e-12)


def test_float32_data_gives_the_float64_values():
    f = symgrad.compile("(w*x - y)**2", ["w"], ["x", "y"])
    data = np.array([[1, 2], [2, 4], [3, 6]], dtype=np.float32)
    assert f(np.array([1.0]), data)[1][0] == pytest.approx(2 * (1 * -1 + 2 * -2 + 3 * -3) / 3)


@pytest.mark.parametrize("z", [-1000.0, -700.0, -30.0, 30.0, 700.0, 1000.0])
def test_extreme_logits_give_finite_values(z):
    losses = ["bce(sigmoid(w*x), y)", "(sigmoid(w*x) - y)**2", "softplus(w*x) - y*w*x",
              "logsumexp(w*x, -w*x, y) - w*x", "-y*log(sigmoid(w*x)) - (1-y)*log(1-sigmoid(w*x))"]
    data = np.array([[1.0, 0.0], [1.0, 1.0]])
    for loss in losses:
        for backend in ("numba", "numpy"):
            value, grad = symgrad.compile(loss, ["w"], ["x", "y"], backend=backend)([z], data)
            assert math.isfinite(value) and np.isfinite(grad).all(), (loss, backend)


def test_extreme_logits_agree_between_backends():
    data = np.array([[1.0, 0.0], [1.0, 1.0], [-1.0, 1.0]])
    for z in (-1000.0, -40.0, 40.0, 1000.0):
        fast = symgrad.compile("bce(sigmoid(w*x), y)", ["w"], ["x", "y"])([z], data)
        ref = symgrad.compile("bce(sigmoid(w*x), y)", ["w"], ["x", "y"], backend="numpy")([z], data)
        assert fast[0] == pytest.approx(ref[0], rel=1e-12)
        assert fast[1][0] == pytest.approx(ref[1][0], rel=1e-12, abs=1e-300)


def test_unused_names_give_zero_gradient_and_ignored_columns():
    f = symgrad.compile("(w*x - y)**2", ["w", "unused"], ["x", "ignored", "y"])
    data = np.array([[1.0, np.nan, 2.0], [2.0, np.inf, 4.0]])
    loss, grad = f([1.0, 5.0], data)
    assert loss == pytest.approx((1 + 4) / 2) and grad[1] == 0.0
    assert grad[0] == pytest.approx((2 * 1 * -1 + 2 * 2 * -2) / 2)


def test_scalar_expression_without_inputs():
    f = symgrad.compile("x*y + x**2", ["x", "y"], [])
    loss, grad = f([3.0, -2.0])
    assert loss == 3.0 and list(grad) == [2 * 3.0 - 2.0, 3.0]
    g = symgrad.compile("x*y + x**2", ["x", "y"], ["dummy"])  # micrograd style, a dummy column
    assert list(g([3.0, -2.0], np.zeros((5, 1)))[1]) == [4.0, 3.0]


def test_sum_reduction():
    data = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])
    mean = symgrad.compile("(w*x - y)**2", ["w"], ["x", "y"])
    total = symgrad.compile("(w*x - y)**2", ["w"], ["x", "y"], reduction="sum")
    assert total([1.0], data)[0] == pytest.approx(3 * mean([1.0], data)[0])
    assert total([1.0], data)[1][0] == pytest.approx(-2.0 - 8.0 - 18.0)


def test_symbol_names_that_collide_with_generated_code():
    names = ["n", "np", "math", "sum", "max", "_theta", "lambda"]
    symbols = sp.symbols(names)
    loss = sp.Add(*(s * (k + 1) for k, s in enumerate(symbols[:-1]))) ** 2 * symbols[-1]
    for backend in ("numba", "numpy"):
        f = symgrad.compile(loss, symbols[:-1], symbols[-1:], backend=backend)
        theta = np.arange(1.0, 7.0)
        s = sum((k + 1) * v for k, v in enumerate(theta))
        value, grad = f(theta, np.array([[2.0]]))
        assert value == pytest.approx(2 * s**2)
        np.testing.assert_allclose(grad, [2 * 2 * s * (k + 1) for k in range(6)])


def test_predict_and_source():
    model = Model.supervised("sigmoid(w*x + b)", target="y", loss="mse", inputs=["x"])
    data = np.array([[0.5, 1.0], [-1.0, 0.0]])
    for backend in ("numba", "numpy"):
        f = symgrad.compile(model, backend=backend)
        expected = 1 / (1 + np.exp(-(0.3 * data[:, 0] - 0.1)))
        np.testing.assert_allclose(f.predict([-0.1, 0.3], data), expected, rtol=1e-14)
        # numba: serial functions (the threads' share), wrapped by the names the Kernel calls
        assert re.search(r"def _?loss_and_gradient\(", f.source)
        assert re.search(r"def _?predict\(", f.source)
        assert f.params == ("b", "w") and f.inputs == ("x", "y")


BAD_CALLS = [  # (description, call, message)
    ("wrong width", lambda f: f([1.0, 0.0], np.zeros((3, 3))), "data has 3 columns; expected 2"),
    ("theta length", lambda f: f([1.0], np.zeros((3, 2))), "theta has shape (1,); expected (2,)"),
    ("nan data", lambda f: f([1.0, 0.0], np.array([[1.0, 2.0], [np.nan, 1.0]])),
     "data row 1, column 'x' is nan"),
    ("inf data", lambda f: f([1.0, 0.0], {"x": np.array([1.0, np.inf]), "y": np.ones(2)}),
     "data row 1, column 'x' is inf"),
    ("missing column", lambda f: f([1.0, 0.0], {"x": np.ones(2)}), "data has no column 'y'"),
    ("no rows", lambda f: f([1.0, 0.0], np.zeros((0, 2))), "data has no rows"),
    ("1-D data", lambda f: f([1.0, 0.0], np.zeros(4)), "data must be 2-D"),
    ("text data", lambda f: f([1.0, 0.0], np.array([["a", "b"]])), "not numeric"),
    ("nan theta", lambda f: f([np.nan, 0.0], np.zeros((1, 2))), "theta[0] (w) is nan"),
    ("masked data", lambda f: f([1.0, 0.0], np.ma.masked_invalid([[1.0, 2.0], [np.nan, 1.0]])),
     "data has masked cells (row 1, column 'x' first)"),
    ("masked column", lambda f: f([1.0, 0.0], {"x": np.ones(2), "y": np.ma.masked_equal(
        [1.0, 0.0], 0.0)}), "data column 'y' has masked cells (row 1 first)"),
]


def test_a_masked_array_with_nothing_masked_is_read_as_its_values():
    f = symgrad.compile("(w*x + b - y)**2", ["w", "b"], ["x", "y"])
    data = np.array([[1.0, 2.0], [3.0, 1.0]])
    (loss, grad), (expected, expected_grad) = (f([1.0, 0.5], d) for d in
                                               (np.ma.masked_array(data), data))
    assert loss == expected and np.array_equal(grad, expected_grad)


@pytest.mark.parametrize("what, call, message", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_calls_raise_value_errors_naming_the_problem(what, call, message):
    f = symgrad.compile("(w*x + b - y)**2", ["w", "b"], ["x", "y"])
    with pytest.raises(ValueError) as info:
        call(f)
    assert message in str(info.value)


@pytest.mark.parametrize("kwargs, message", [
    (dict(params=["w", "x"], inputs=["x", "y"]), "'x' listed both as parameter and as input"),
    (dict(params=["w"], inputs=["x"]), "unknown names in the loss: 'y'"),
    (dict(params=["w"], inputs=["x", "y"], backend="fortran"), "unknown backend 'fortran'"),
    (dict(params=["w"], inputs=["x", "y"], reduction="max"), "unknown reduction 'max'"),
    (dict(params="w", inputs=["x", "y"]), "must be a sequence of names"),
])
def test_bad_compiles_raise_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        symgrad.compile("(w*x - y)**2", **kwargs)


def test_library_names_given_as_a_string_are_refused():
    with pytest.raises(SymgradError, match="must be a sequence"):
        symgrad.Model.supervised("w*x0", target="y", loss="mse", inputs="x0")
    with pytest.raises(ParseError, match="expected an expression string"):
        symgrad.parse_expr(5)


@pytest.mark.parametrize("theta, data, fragment", [
    ("abc", np.ones((2, 2)), "theta must be real numbers, one per parameter \\(w\\); got not"),
    ({"w": 1.0}, np.ones((2, 2)), "theta must be real numbers"),
    (np.array(["1"]), np.ones((2, 2)), "theta must be real numbers"),  # (was read as 1)
    ([1 + 2j], np.ones((2, 2)), "got complex numbers"),  # (was cast to 1, with a warning)
    ([1.0], np.ones((2, 2), dtype=complex), "data is complex"),
    # read as int64 nanoseconds: a loss of 1e36
    ([1.0], {"x": np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[D]"),
             "y": np.ones(2)}, r"x holds dates \(dtype datetime64\[D\]\); give numbers"),
    ([1.0], {"x": np.array([1, 2], dtype="timedelta64[s]"), "y": np.ones(2)},
     "x holds durations"),
])
def test_kernel_calls_with_wrong_types_are_symgrad_errors(theta, data, fragment):
    f = symgrad.compile("(w*x - y)**2", ["w"], ["x", "y"], backend="numpy")
    with pytest.raises(SymgradError, match=fragment):
        f(theta, data)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_constant_the_kernel_would_compute_as_inf_is_refused(backend):
    # exp(1000) is no literal, so the parser's range check passed it, and every call gave inf
    with pytest.raises(SymgradError, match=r"the constant exp\(1000\) \(in the model or its "
                                           r"derivatives\) is beyond float64's range: the "
                                           r"kernels would compute it as inf"):
        symgrad.compile("(exp(1000)*w*x - y)**2", ["w"], ["x", "y"], backend=backend)
    for loss, message in (("1e300*(w*x - y)**2", "1.00000e\\+300 .* is beyond float32's"),
                          ("(1e-50*w*x - y)**2", "1.00000e-50 .* is below float32's range: "
                                                 "the kernels would compute it as 0")):
        with pytest.raises(SymgradError, match=f"the constant {message}"):
            symgrad.compile(loss, ["w"], ["x", "y"], backend=backend, dtype="float32")
    with pytest.raises(SymgradError, match=r"exp\(-1000\) .* is below float64's range"):
        symgrad.compile("(exp(-1000)*w*x - y)**2", ["w"], ["x", "y"], backend=backend)
    edge = symgrad.compile("(exp(700)*1e-300*w*x + 1e-320*x - y)**2", ["w"], ["x", "y"],
                           backend=backend)  # (a subnormal 1e-320 is a number still)
    assert math.isfinite(edge([1.0], np.ones((2, 2)))[0])


def test_a_float32_kernel_refuses_a_theta_beyond_float32_not_casting_it_to_inf():
    f = symgrad.compile("(w*x - y)**2", ["w"], ["x", "y"], backend="numpy", dtype="float32")
    data = np.ones((2, 2), dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy cast warning on the way
        with pytest.raises(SymgradError, match=r"theta\[0\] \(w\) is 1e\+40, beyond "
                                               r"float32's range \(about 3.4e\+38\)"):
            f([1e40], data)
    assert f([1e38], data)[0] > 0 and f([True], data)[0] == 0


a, x, y = sp.symbols("a x y")
UNSUPPORTED = [
    ("piecewise without otherwise", (sp.Piecewise((a * x, x > 0)) - y) ** 2,
     "no otherwise branch"),
    ("zeta", (sp.zeta(a) * x - y) ** 2, "no derivative rule for zeta"),
    ("zeta of an expression", (sp.zeta(a * x) - y) ** 2, "no derivative rule for zeta"),
    ("bessel", (sp.besselj(0, a * x) - y) ** 2, "cannot compile besselj"),
    # its derivative by a holds a hyper of Tuples, which a temporary replaced: raw TypeError
    ("upper gamma", (sp.uppergamma(a, x) - y) ** 2, "backend cannot compile"),
    ("lower gamma", (sp.lowergamma(a, x) - y) ** 2, "backend cannot compile"),
    ("polygamma of a parameter's order", (sp.polygamma(a, x) - y) ** 2, "polygamma"),
    ("undefined function", (sp.Function("f")(a * x) - y) ** 2, "undefined function f"),
    ("list", [a * x, y], "not a list"),
    ("matrix", sp.Matrix([a * x - y, a]), "scalar expression"),
    ("condition", a * x > y, "not a condition"),
    ("complex", (sp.I * a * x - y) ** 2, "complex"),
    ("derivative", sp.Derivative(a * x ** 2, x), "unevaluated Derivative"),
    ("object", object(), "not a object"),
]


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("name, loss, fragment", UNSUPPORTED, ids=[c[0] for c in UNSUPPORTED])
def test_unsupported_input_is_a_symgrad_error(name, loss, fragment, backend):
    with pytest.raises(SymgradError) as info:
        f = symgrad.compile(loss, ["a"], ["x", "y"], backend=backend)
        f(np.array([0.5]), np.array([[1.0, 2.0]]))
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_the_numpy_backend_maps_math_functions_over_columns():
    f = symgrad.compile((sp.erf(a * x) + sp.erfc(x) - y) ** 2, ["a"], ["x", "y"], backend="numpy")
    g = symgrad.compile((sp.erf(a * x) + sp.erfc(x) - y) ** 2, ["a"], ["x", "y"])
    data = np.array([[1.0, 2.0], [0.3, -1.0]])
    np.testing.assert_allclose(f([0.5], data)[1], g([0.5], data)[1], rtol=1e-12)


BUILTIN_NAMES = ["min", "max", "abs", "len", "sum",  # function names: SymPy symbols only
                 "w_0", "w__0"]  # Numba's parfor lowering once merged these two


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_kernels_accept_names_the_generated_code_uses(backend):
    params = GENERATED_CODE_NAMES + BUILTIN_NAMES
    x, y = sp.symbols("x y")
    p = {n: sp.Symbol(n) for n in params}
    helpers = sp.tanh(p["vtanh"] * x) + sp.exp(p["vexp"] * x / 4) + symgrad.sigmoid(p["math"]) \
        + symgrad.softplus(p["range"] * x)
    expr = (sum(s * x ** (k % 3) for k, s in enumerate(p.values())) * helpers - y) ** 2
    f = symgrad.compile(expr, params, ["x", "y"], backend=backend)
    theta = np.linspace(-0.5, 0.5, len(params))
    data = np.array([[0.3, 1.0], [-1.2, 0.5]])
    value, grad = f(theta, data)
    rows = [dict(zip(["x", "y"], row)) for row in data]
    point = dict(zip(params, theta))
    expected = np.mean([[*central_differences(expr, params, {**point, **r}).values()]
                        for r in rows], axis=0)
    np.testing.assert_allclose(grad, expected, rtol=1e-10)


@pytest.mark.parametrize("warm", [False, True])
def test_compile_is_thread_safe(tmp_path, monkeypatch, warm):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "cache"))
    loss = f"(sigmoid(w*x + b) - y)**2 + {int(warm)}*0 + w**2/{1000 + int(warm)}"
    if warm:
        symgrad.compile(loss, ["w", "b"], ["x", "y"])
    data = np.random.default_rng(0).normal(size=(1000, 2))
    results, errors = [], []

    def work():
        try:
            f = symgrad.compile(loss, ["w", "b"], ["x", "y"])
            results.append(f(np.array([0.1, 0.2]), data))
        except Exception as err:  # noqa: BLE001 - the test reports whatever a thread hit
            errors.append(repr(err))
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4
    assert all(r[0] == results[0][0] and np.array_equal(r[1], results[0][1]) for r in results)


def test_two_threads_calling_one_kernel_at_once_get_the_same_answer():
    """Each call shares its chunks among symgrad's threads: calls from two threads at once
    (four chunks each, interleaved in one pool) give the same bits as a call alone."""
    f = symgrad.compile("(sigmoid(w*x + b) - y)**2", ["w", "b"], ["x", "y"])
    data = np.random.default_rng(0).normal(size=(4 * 16_384, 2))
    alone = f(np.array([0.1, 0.2]), data)
    values, errors = [], []

    def work():
        try:
            for _ in range(20):
                values.append(f(np.array([0.1, 0.2]), data))
        except Exception as err:  # noqa: BLE001 - the test reports whatever a thread hit
            errors.append(repr(err))
    threads = [threading.Thread(target=work) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and len(values) == 40
    assert all(v[0] == alone[0] and np.array_equal(v[1], alone[1]) for v in values)


@pytest.mark.parametrize("loss, fast", [
    ("(a*sin(b*x) - y)**2", False), ("(a*x**2.5 + b - y)**2", False),
    ("(a*log(x) + b - y)**2", False), ("(sigmoid(a*x + b) - y)**2", True),
    ("(tanh(a*x) + b*x**(-2) - y)**2", True), ("(a*sqrt(x) + b - y)**2", True)])
def test_fast_math_only_where_a_row_loop_can_vectorize(loss, fast):
    """A scalar libm call stops LLVM vectorizing the row loop; fast-math is then dropped (it
    only cost compile time). exp, tanh, sqrt and integer powers vectorize and keep it."""
    source = symgrad.compile(loss, ["a", "b"], ["x", "y"]).source
    heads = dict((name, options) for options, name in
                 re.findall(r"@njit\((.*?)\)\ndef (\w+)", source))
    assert ("fastmath" in heads["_loss_and_gradient"]) == fast
    assert ("fastmath" in heads["_train_epochs"]) == fast
    for name in ("_loss_and_gradient", "_train_epochs"):  # and 512-bit vectors likewise
        assert ("KernelCompiler" in heads[name]) == fast
        assert ("ScalarCallCompiler" in heads[name]) == (not fast)


def test_term_families_calling_sin_keep_fast_math_at_the_default_width():
    """A family's tiles vectorize their sums whatever the terms call (fast-math kept), but
    at 512 bits a sum of 40 sin terms ran 8% slower: LLVM's default width there."""
    loss = "(" + " + ".join(f"a{k}*sin({k + 1}*x)" for k in range(40)) + " - y)**2"
    source = symgrad.compile(loss, [f"a{k}" for k in range(40)], ["x", "y"]).source
    head = re.search(r"@njit\((.*?)\)\ndef _loss_and_gradient", source).group(1)
    assert "fastmath" in head and "pipeline_class=ScalarCallCompiler" in head


def test_a_helper_making_a_libm_call_tunes_its_callers_for_scalar_calls():
    """Its callers lose fast-math and 512-bit vectors; a function making none keeps both."""
    from symgrad.codegen.numba_backend import tuned_for_scalar_calls
    fast = ('@njit(nogil=True, pipeline_class=KernelCompiler, '
            'fastmath={"reassoc", "contract", "nsz"})\n')
    source = ('@njit(inline="always")\ndef wave(z):\n    return math.atan(z)\n\n\n'
              f'{fast}def _uses(x):\n    return wave(x)\n\n\n'
              f'{fast}def _free(x):\n    return x * 2.0\n\n\nMETA = 1\n')
    out = tuned_for_scalar_calls(source)
    assert '@njit(nogil=True, pipeline_class=ScalarCallCompiler)\ndef _uses' in out
    assert f'{fast}def _free' in out


def test_a_negative_integer_power_of_zero_is_inf_on_both_backends():
    """1/(x - 1)**3 at x = 1: inf, as numpy gives (Numba's integer power raised
    ZeroDivisionError there whatever the error model)."""
    data = np.array([[1.0, 2.0], [2.0, 1.0]])
    for backend in ("numba", "numpy"):
        kernel = symgrad.compile("(a/(x - 1)**3 + a*b/x**2 - y)**2", ["a", "b"], ["x", "y"],
                                 backend=backend)
        value, grad = kernel(np.array([1.0, 0.5]), data)
        assert value == np.inf and np.isinf(grad[0]), backend


def test_small_integer_powers_of_arithmetic_are_products_and_agree():
    """b**2..b**4 of a short arithmetic base print as products (Numba compiles a function of
    its own for ``**``); a base with a call keeps ``**`` (a product would repeat the call)."""
    loss = "(w*x - y)**2 + (w + x)**3*0.1 + (w - y)**4*0.01 + sin(w*x)**2"
    fast = symgrad.compile(loss, ["w"], ["x", "y"])
    reference = symgrad.compile(loss, ["w"], ["x", "y"], backend="numpy")
    source = fast.source
    assert "**" not in source[source.index("def _loss_and_gradient"):source.index("\nMETA")]
    from symgrad.codegen.numba_backend import NumbaPrinter
    x = sp.Symbol("x")
    assert NumbaPrinter().doprint(sp.sin(x)**2 + (x + 1)**5) == "(x + 1)**5 + math.sin(x)**2"
    data = np.random.default_rng(5).normal(size=(50, 2))
    for w in (-1.5, 0.3, 2.0):
        (a, g), (b, h) = fast([w], data), reference([w], data)
        assert a == pytest.approx(b, rel=1e-12)
        np.testing.assert_allclose(g, h, rtol=1e-12)


def test_a_data_frame_is_read_by_its_column_names_not_their_order():
    # a frame ordered (y, x) was read by position: x taken for y, silently wrong numbers
    import pandas as pd
    kernel = symgrad.compile("(a*x - y)**2", ["a"], ["x", "y"])
    frame = pd.DataFrame({"y": [2.0, 4.0], "x": [1.0, 2.0]})
    assert kernel(np.array([2.0]), frame)[0] == 0.0
    assert symgrad.fit("(a*x - y)**2", ["a"], ["x", "y"], frame).params[0] == \
        pytest.approx(2.0, rel=1e-12)
    model = symgrad.compile(Model.supervised("a*x0 + b*x1", target="y", loss="mse",
                                             inputs=["x0", "x1"]))
    shuffled = pd.DataFrame({"x1": [1.0], "x0": [0.0], "y": [5.0]})
    assert model.predict(np.array([0.5, -0.3]), shuffled)[0] == pytest.approx(-0.3)
    with pytest.raises(SymgradError, match="data has no column 'x'"):
        kernel(np.array([2.0]), pd.DataFrame({"p": [1.0], "q": [2.0]}))
    with pytest.raises(SymgradError, match="two columns named 'x'"):
        kernel(np.array([2.0]), pd.DataFrame([[1.0, 2.0, 3.0]], columns=["x", "y", "x"]))


def test_read_only_and_writeable_columns_in_any_order_never_make_an_ambiguous_call():
    # a read-only column (a pandas frame's) compiled a second version; a later call with
    # writeable C-ordered columns fitted both and raised Numba's 'Ambiguous overloading'
    kernel = symgrad.compile("(a*x + b - y)**2", ["a", "b"], ["x", "y"])
    theta, x = np.array([1.0, 0.0]), np.linspace(0, 1, 10)
    writeable = {"x": np.array(list(x)), "y": 2 * x + 1}
    read_only = {name: column.copy() for name, column in writeable.items()}
    for column in read_only.values():
        column.flags.writeable = False
    expected = kernel(theta, writeable)
    loss, grad = kernel(theta, read_only)
    assert loss == expected[0] and np.array_equal(grad, expected[1])
    mixed = {"x": read_only["x"], "y": writeable["y"]}
    assert kernel(theta, mixed)[0] == expected[0]
    assert kernel(theta, writeable)[0] == expected[0]  # C-ordered: fits both versions
    assert kernel(theta, np.column_stack([x, 2 * x + 1]))[0] == pytest.approx(expected[0])
    with pytest.raises(SymgradError, match="data row 0, column 'x' is inf"):
        kernel(theta, np.array([[np.inf, 1.0]]))


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_a_kernel_pickles_and_copies(backend):
    import copy
    import pickle
    kernel = symgrad.compile("(a*exp(-k*x) + c - y)**2", ["a", "k", "c"], ["x", "y"],
                             backend=backend, order=2)
    theta, data = np.array([1.0, 0.5, 0.1]), np.random.default_rng(3).normal(size=(40, 2))
    for twin in (pickle.loads(pickle.dumps(kernel)), copy.deepcopy(kernel)):
        assert twin.params == kernel.params and twin.inputs == kernel.inputs
        assert twin(theta, data)[0] == kernel(theta, data)[0]
        np.testing.assert_array_equal(twin.hessian(theta, data)[2],
                                      kernel.hessian(theta, data)[2])


def test_a_pickled_kernel_loads_in_a_process_with_another_cache(tmp_path):
    import pickle
    import subprocess
    import sys
    kernel = symgrad.compile("(a*x + b - y)**2", ["a", "b"], ["x", "y"], backend="numpy")
    (tmp_path / "kernel.pkl").write_bytes(pickle.dumps(kernel))
    script = ("import pickle, numpy as np; k = pickle.load(open('kernel.pkl', 'rb')); "
              "print(k(np.array([2.0, 1.0]), np.array([[1.0, 0.0], [2.0, 1.0]]))[0])")
    env = {**__import__("os").environ, "SYMGRAD_CACHE_DIR": str(tmp_path / "elsewhere")}
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert float(out.stdout) == kernel(np.array([2.0, 1.0]),
                                       np.array([[1.0, 0.0], [2.0, 1.0]]))[0] == 12.5
    assert list((tmp_path / "elsewhere").glob("numpy_*.py"))  # cached there, signed



@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_factorial_of_data_is_gamma_of_one_more_and_uppergamma_of_a_whole_order_works(backend):
    # factorial failed to compile (numba) or at call time (numpy: an integer wanted)
    b = sp.Symbol("b")
    data = np.array([[3.0, 1.0], [2.5, 0.0], [0.5, 2.0]])
    kernel = symgrad.compile((a * sp.factorial(x) + b - y) ** 2, [a, b], [x, y],
                             backend=backend)
    residuals = [1.5 * math.gamma(t + 1) + 2.0 - target for t, target in data]
    loss, grad = kernel(np.array([1.5, 2.0]), data)
    assert loss == pytest.approx(np.mean(np.square(residuals)), rel=1e-13)
    assert grad[1] == pytest.approx(2 * np.mean(residuals), rel=1e-13)
    expr = (sp.uppergamma(2, a * x) - y) ** 2
    upper = symgrad.compile(expr, [a], [x, y], backend=backend)
    expected = np.mean([(float(mpmath.gammainc(2, 0.7 * t)) - target) ** 2 for t, target in data])
    assert upper(np.array([0.7]), data)[0] == pytest.approx(expected, rel=1e-12)
    exact = np.mean([central_differences(expr, ["a"], {"a": 0.7, "x": t, "y": target})["a"]
                     for t, target in data])
    assert upper(np.array([0.7]), data)[1][0] == pytest.approx(exact, rel=1e-10)


def test_predict_reads_an_array_without_the_target_column():
    # new data has no target: a 1-column array was refused, 'expected 2 (x, y)'
    kernel = symgrad.compile(Model.supervised("a*log(x) + b*z", target="y", loss="mse",
                                              inputs=["x", "z"]))
    features = np.array([[2.0, 1.0], [3.0, -1.0]])
    theta = np.array([2.0, 0.5])
    expected = 2.0 * np.log(features[:, 0]) + 0.5 * features[:, 1]
    np.testing.assert_allclose(kernel.predict(theta, features), expected, rtol=1e-15)
    with_target = np.column_stack([features, [9.0, 9.0]])
    np.testing.assert_array_equal(kernel.predict(theta, with_target),
                                  kernel.predict(theta, features))
    with pytest.raises(SymgradError, match=r"data has 1 columns; expected 2 \(x, z\) or 3"):
        kernel.predict(theta, features[:, :1])
