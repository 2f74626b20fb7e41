"""dtype="float32": the kernels compute in float32 (no float64 left in the compiled code), agree
with the float32 numpy reference and with float64 to 1e-5, and train to float64's parameters."""
import re

import numpy as np
import pytest

import symgrad
from symgrad.errors import SymgradError
from symgrad.recipe import ModelRecipe, recipe_kernel
from support import MODELS, random_case

CASES = {name: (loss, params.split(), inputs.split()) for name, loss, params, inputs in MODELS}
# exp, tanh (expm1), softplus (log1p), elu, leaky_relu; floor, ceil, sign, heaviside, mod
CHECKED = ["sigmoid-neuron", "tanh-net", "exp-softplus", "steps"]


def compiled_ir(function, signature) -> str:
    """The LLVM IR of a compiled function's own code: not its wrappers for Python, which box
    what it returns as Python floats (doubles)."""
    ir = function.inspect_llvm(signature)
    return "".join(f for f in ir.split("\ndefine ")[1:]
                   if not any(w in f.split("\n")[0] for w in ("cpython", "cfunc.")))


def relative(value, reference) -> float:
    value, reference = np.asarray(value, np.float64), np.asarray(reference, np.float64)
    return float(np.max(np.abs(value - reference)) / np.max(np.abs(reference)))


@pytest.mark.parametrize("name", CHECKED)
def test_float32_values_agree_with_the_float32_reference_and_with_float64(name):
    loss, params, inputs = CASES[name]
    theta, data = random_case(params, inputs, rows=3000)
    single = symgrad.compile(loss, params, inputs, dtype="float32")
    reference = symgrad.compile(loss, params, inputs, dtype="float32", backend="numpy")
    double = symgrad.compile(loss, params, inputs, backend="numpy")
    (l32, g32), (r32, h32), (l64, g64) = (f(theta, data) for f in (single, reference, double))
    assert g32.dtype == h32.dtype == np.float32 and g64.dtype == np.float64
    assert relative(l32, l64) < 1e-5 and relative(r32, l64) < 1e-5
    assert relative(g32, g64) < 1e-5 and relative(h32, g64) < 1e-5   # of the largest entry
    assert relative(g32, h32) < 1e-5


MODEL = symgrad.Model.supervised("sigmoid(w*x + b_float32_only)", target="y", loss="bce",
                                 inputs=["x"])


@pytest.fixture(scope="module")
def logistic():
    """A float32 logistic model no other test compiles (so Numba compiles it here, and its
    LLVM IR can be read), and well-conditioned data for it."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=400)
    y = (rng.uniform(size=x.size) < 1 / (1 + np.exp(-(1.5 * x - 0.5)))).astype(float)
    return symgrad.compile(MODEL, dtype="float32"), np.column_stack([x, y])


@pytest.mark.parametrize("backend, optimizer, batch", [
    ("numba", symgrad.SGD(lr=0.5), None),                  # compiled epochs, full batch
    ("numba", symgrad.Momentum(lr=0.02), 40),              # compiled epochs, mini-batches
    ("numpy", symgrad.SGD(lr=0.5), None)],                 # the stepwise loop
    ids=["numba-sgd", "numba-momentum-batches", "numpy-sgd"])
def test_float32_training_reaches_float64s_parameters(logistic, backend, optimizer, batch):
    single, data = logistic
    if backend != "numba":
        single = symgrad.compile(MODEL, dtype="float32", backend=backend)
    double = symgrad.compile(MODEL, backend="numpy")  # float64, the same path: no compiling
    results = [symgrad.train(kernel, data, np.zeros(2), optimizer, epochs=300,
                             batch_size=batch, shuffle=True) for kernel in (single, double)]
    assert results[0].params.dtype == np.float32 and results[1].params.dtype == np.float64
    np.testing.assert_allclose(results[0].params, results[1].params, rtol=1e-5)
    assert results[0].history.dtype == np.float64  # the epochs' losses stay float64
    np.testing.assert_allclose(results[0].history, results[1].history, rtol=1e-5)


def test_the_compiled_float32_kernels_hold_no_float64(logistic):
    kernel, data = logistic
    kernel(np.array([0.1, 0.2]), data)
    kernel.evaluate(np.array([0.1, 0.2]), *kernel.columns(data))  # float64 theta: converted
    kernel.predict(np.array([0.1, 0.2]), data)
    symgrad.train(kernel, data, [0.0, 0.0], symgrad.Adam(lr=0.05), epochs=1, batch_size=64)
    module = kernel.module
    for function in (module._loss_and_gradient, module._predict):
        assert function.signatures, function
        for signature in function.signatures:
            assert "float64" not in str(signature)
            ir = compiled_ir(function, signature)  # every helper (vexp, ...) is inlined
            assert "float" in ir and "double" not in ir, function.py_func.__name__
    (signature,) = module._train_epochs.signatures   # theta, state, hyper, ..., the gradient
    theta, state, hyper, *_, grad, x, y = signature
    assert {str(a.dtype) for a in (theta, state, hyper, grad, x, y)} == {"float32"}
    ir = compiled_ir(module._train_epochs, signature)  # the batches' row loop: float32; only
    assert re.search(r"fmul [a-z ]*float ", ir)      # the epochs' losses add up in float64
    assert not re.search(r"fmul [a-z ]*double ", ir)
    assert len(re.findall(r"fadd [a-z ]*double ", ir)) <= 2


def test_float32_predictions_are_float32_and_agree(logistic):
    kernel, data = logistic
    theta = np.array([0.7, -0.3])
    values = kernel.predict(theta, data)
    assert values.dtype == np.float32
    assert relative(values, symgrad.compile(MODEL, backend="numpy").predict(theta, data)) < 1e-6


def test_float64_data_is_converted_once_for_training(monkeypatch):
    from symgrad.runtime import columns as runtime

    conversions = []
    readable = runtime._readable
    monkeypatch.setattr(runtime, "_readable", lambda array, what, dtype: conversions.append(
        (array.dtype, dtype)) or readable(array, what, dtype))
    loss, params, inputs = CASES["linear"]
    kernel = symgrad.compile(loss, params, inputs, dtype="float32", backend="numpy")
    theta, data = random_case(params, inputs, rows=100)
    symgrad.train(kernel, data, theta, symgrad.SGD(lr=0.01), epochs=20, batch_size=10)
    assert conversions == [(np.float64, np.float32)]
    n, columns = kernel.columns(data)
    assert all(c.dtype == np.float32 for c in columns)
    single = data.astype(np.float32)
    assert kernel.columns(single)[1][0].base is single  # float32 data: read in place


def test_values_beyond_float32s_range_are_named():
    loss, params, inputs = CASES["linear"]
    kernel = symgrad.compile(loss, params, inputs, dtype="float32", backend="numpy")
    data = np.array([[1.0, 2.0], [1e39, 0.0]])
    with pytest.raises(SymgradError, match=r"row 1, column 'x' is 1e\+39 \(not finite in "
                                           r"float32\)"):
        kernel([1.0, 0.0], data)


def test_the_first_row_beyond_float32s_range_is_named_whichever_column_holds_it():
    kernel = symgrad.compile("(a*x - y)**2", ["a"], ["x", "y"], dtype="float32",
                             backend="numpy")
    data = {"x": np.array([1.0, 1e39, 1.0]), "y": np.array([0.0, 1.0, -1e40])}
    with pytest.raises(SymgradError, match=r"^data row 1, column 'x' is 1e\+39"):
        kernel([1.0], data)
    data = {"x": np.array([1.0, 1e39, 1.0]), "y": np.array([-1e40, 1.0, 0.0])}
    with pytest.raises(SymgradError, match=r"^data row 0, column 'y' is -1e\+40"):
        kernel([1.0], data)


@pytest.mark.parametrize("dtype", [np.float32, np.dtype("float32"), "float32"])
def test_dtype_may_be_numpys_own(dtype):
    kernel = symgrad.compile("(a*x - y)**2", ["a"], ["x", "y"], dtype=dtype, backend="numpy")
    assert kernel.dtype == np.float32


@pytest.mark.parametrize("column, shown", [
    (["0", "1e400"], "'1e400' (not finite)"), ([1.0, None], "None (not finite)"),
    (np.array(["0", "1e39"]), "'1e39' (not finite in float32)")])
def test_cells_given_as_text_or_none_are_named_not_a_type_error(column, shown):
    kernel = symgrad.compile("(a*x - y)**2", ["a"], ["x", "y"], dtype="float32",
                             backend="numpy")
    with pytest.raises(SymgradError, match=re.escape(f"data row 1, column 'x' is {shown}")):
        kernel([1.0], {"x": column, "y": [1.0, 2.0]})


def test_fit_refuses_float32():
    with pytest.raises(SymgradError, match="fit computes in float64"):
        symgrad.compile("(a*x - y)**2", ["a"], ["x", "y"], dtype="float32", order=2)


def test_a_recipe_names_its_dtype():
    recipe = ModelRecipe("w*x + b", "y", backend="numpy")
    single = recipe_kernel(ModelRecipe("w*x + b", "y", backend="numpy", dtype="float32"),
                           ["x", "y"])
    assert recipe.dtype == "float64" and recipe_kernel(recipe, ["x", "y"]).dtype == np.float64
    assert single.dtype == np.float32 and "numpy.float32" in single.source


def test_the_float32_math_functions_are_within_a_few_ulp():
    from numba import njit

    from symgrad.runtime import numba_float32 as vector

    @njit(fastmath={"reassoc", "contract", "nsz"}, error_model="numpy")
    def each(x, out):
        for i in range(x.size):
            out[0, i], out[1, i] = vector.vexp(x[i]), vector.vexpm1(x[i])
            out[2, i] = vector.vtanh(x[i])
            u = abs(x[i]) / np.float32(120.0)
            out[3, i] = vector.vlog1p_unit(u) if u <= np.float32(1.0) else np.float32(np.nan)

    x = np.concatenate([np.random.default_rng(0).uniform(-110, 95, 20000),
                        np.linspace(-3, 3, 2001), [88.7228317, 88.7228394, -104.0, 0.0],
                        [np.inf, -np.inf, np.nan]]).astype(np.float32)
    out = np.empty((4, x.size), np.float32)
    each(x, out)
    wide = x.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        expected = [np.exp(wide), np.expm1(wide), np.tanh(wide), np.log1p(np.abs(wide) / 120)]
        expected[3][np.abs(wide) > 120] = np.nan     # log1p_unit's domain is [0, 1]
        rounded_all = [e.astype(np.float32) for e in expected]
    for values, exact, rounded in zip(out, expected, rounded_all):
        np.testing.assert_array_equal(np.isnan(values), np.isnan(rounded))
        np.testing.assert_array_equal(np.isinf(values), np.isinf(rounded))
        finite = np.isfinite(rounded) & (np.abs(rounded) > np.finfo(np.float32).tiny)
        ulp = np.spacing(np.abs(rounded[finite])).astype(np.float64)
        assert np.max(np.abs(values[finite] - exact[finite]) / ulp) <= 6
