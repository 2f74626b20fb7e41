"""Term families (symgrad.families): the terms of a sum that differ only in their parameters
and numbers compile to one loop on the numba backend, whatever their number. The numpy
reference writes every term out, so comparing the two checks the loops against independent
code, and 50-digit central differences check the gradient a second way. Training (compiled
epochs), prediction, float32 and the data check take the same path."""
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import symgrad
from symgrad import Model
from symgrad.families import MIN_TERMS, term_families
from symgrad.rewrite import stabilize
from tests.support import central_differences, close, trains_as_the_reference

x, y, s = sp.symbols("x y s")
w, a, m = (sp.symbols(f"{name}0:40") for name in "wam")


def sine_series(count=36):
    return sum(w[k] * sp.sin((k + 1) * x) for k in range(count))


def bumps(count=36):  # shared width s
    return sum(a[k] * sp.exp(-(x - m[k]) ** 2 / s) for k in range(count))


def hinges(count=36):  # a linear spline: one Piecewise per knot k/4
    return sum(w[k] * sp.Piecewise((x - sp.Rational(k, 4), x > sp.Rational(k, 4)), (0, True))
               for k in range(count))


CASES = [  # (name, prediction, loss, parameters)
    ("sine-mse", sine_series(), "mse", w[:36]),
    ("bumps-shared-width", bumps() + s * x, "mse", (*a[:36], *m[:36], s)),
    ("hinge-spline", hinges() + s, "mse", (*w[:36], s)),
    ("two-families-bce", symgrad.sigmoid(sine_series(34) + sum(
        a[k] * sp.tanh(x / (k + 1)) for k in range(33))), "bce", (*w[:34], *a[:33])),
]


def model_of(prediction, loss, params):
    return Model.supervised(prediction, y, loss, params=list(params), inputs=[x, y])


def case_data(count, rows=60, seed=0, binary=False):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 2, rows) if binary else rng.normal(size=rows)
    theta = rng.uniform(-0.8, 0.8, count)
    return theta, np.column_stack([rng.uniform(-2, 4, rows), target])


def families_of(model):
    return term_families(model, model.params).families


def test_families_are_found_and_their_terms_are_the_sum():
    series = families_of(Model.of((sine_series() - y) ** 2, w[:36], [x, y]))
    assert [f.size for f in series] == [35]  # w0*sin(x) has no number: not one of them
    assert sp.expand(sum(series[0].terms()) + w[0] * sp.sin(x) - sine_series()) == 0
    shared = families_of(Model.of((bumps() - y) ** 2, (*a[:36], *m[:36], s), [x, y]))
    assert len(shared) == 1 and shared[0].members[0] == (a[0], s, m[0])
    assert shared[0].constants == ()  # the -1 of every term stays a number


@pytest.mark.parametrize("loss", [
    sum(w[k] * sp.Symbol(f"x{k}") ** (k + 2) for k in range(36)),  # powers of varying columns
    sum(w[k] * sp.sin((k + 1) * x) for k in range(MIN_TERMS - 1)),  # too few
    sum(sp.sin((k + 1) * x) for k in range(36)) * s,       # no parameter in the terms
], ids=["powers", "few", "data-only"])
def test_what_is_not_a_family(loss):
    symbols = sorted(loss.free_symbols - {x}, key=str)
    inputs = [x, *(v for v in symbols if v.name.startswith("x"))]
    params = [v for v in symbols if v not in inputs]
    assert families_of(Model.of(loss, params, inputs)) == ()


@pytest.mark.parametrize("name, prediction, loss, params", CASES, ids=[c[0] for c in CASES])
def test_families_agree_with_the_written_out_reference(name, prediction, loss, params):
    model = model_of(prediction, loss, params)
    loops, reference = symgrad.compile(model), symgrad.compile(model, backend="numpy")
    assert "for _k in range(" in loops.source and "_fam" not in reference.source
    theta, data = case_data(len(params), binary=loss == "bce")
    value, grad = loops(theta, data)
    expected_value, expected_grad = reference(theta, data)
    assert close(value, expected_value)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(loops.predict(theta, data), reference.predict(theta, data),
                               rtol=1e-12, atol=1e-14)
    assert close(loops.loss_at(theta, data), expected_value)


@pytest.mark.parametrize("name, prediction, loss, params", CASES[1:3], ids=["bumps", "hinge"])
def test_families_agree_with_50_digit_central_differences(name, prediction, loss, params):
    model = model_of(prediction, loss, params)
    kernel = symgrad.compile(model)
    theta, data = case_data(len(params), rows=1, seed=3)
    theta[-1] = 1.3  # the bumps' width, or the spline's offset
    names = [p.name for p in params]  # the reference checks every one; here 3 per kind
    values = {**dict(zip(names, theta)), "x": data[0, 0], "y": data[0, 1]}
    checked = list(dict.fromkeys([*names[:3], *names[34:39], names[-1]]))
    expected = central_differences(model.loss, checked, values)
    _, grad = kernel(theta, data)
    for name in checked:
        assert close(grad[names.index(name)], expected[name]), name


def test_the_kernel_does_not_grow_with_the_number_of_terms():
    def source(count):
        return symgrad.compile(Model.of((sine_series(1) + sum(
            sp.Symbol(f"v{k}") * sp.sin((k + 2) * x) for k in range(count)) - y) ** 2,
            inputs=[x, y])).source.splitlines()
    short, long = source(40), source(300)
    assert len(short) == len(long)
    # both functions keep fast-math though the terms call sin: their tiles' sums vectorize
    assert sum("fastmath" in line for line in long if line.startswith("@njit")) == 2
    differing = [b for a, b in zip(short, long) if a != b]
    # the terms' numbers, the loops' bounds, the tiles' rows and where the partials are
    # stored differ
    assert all(line.startswith(("_fam0_c0 = ", "_fslots = ", "META = ",
                                "loss_and_gradient = chunked_sums("))
               or "_theta[" in line or "range(" in line or "_sums[_chunk" in line
               or "_grad[" in line or "_q < " in line or "_tile" in line or "_k * " in line
               or "np.empty(" in line or "np.zeros(" in line for line in differing), differing


def test_parameters_shared_by_terms_and_the_rest_of_the_model_add_up():
    # s is in every term and outside them; w's are each in one term and in an L2 penalty
    loss = (sum(w[k] * sp.exp(-s * (k + 1) * x) for k in range(34)) + s - y) ** 2 + \
        sum(v ** 2 for v in w[:34]) / 100
    params = [*w[:34], s]
    model = Model.of(loss, params, [x, y])
    assert families_of(model)
    loops, reference = symgrad.compile(model), symgrad.compile(model, backend="numpy")
    theta, data = case_data(len(params), seed=5)
    theta[-1] = 0.4
    np.testing.assert_allclose(loops(theta, data)[1], reference(theta, data)[1],
                               rtol=1e-10, atol=1e-14)


def test_families_beside_a_vector_block():
    features, u = sp.symbols("f0:5"), sp.symbols("u[0:5]")
    prediction = sum(e * f for e, f in zip(u, features)) + sine_series()
    model = Model.supervised(prediction, y, "mse", params=[*u, *w],
                             inputs=[*features, x, y])
    loops, reference = symgrad.compile(model), symgrad.compile(model, backend="numpy")
    assert "_dot0" in loops.source and "_fam0" in loops.source
    rng = np.random.default_rng(6)
    theta, data = rng.normal(size=len(loops.params)), rng.normal(size=(40, 7))
    np.testing.assert_allclose(loops(theta, data)[1], reference(theta, data)[1],
                               rtol=1e-10, atol=1e-14)


def test_float32_families_agree_with_float64():
    model = model_of(*CASES[1][1:])
    single, double = symgrad.compile(model, dtype="float32"), symgrad.compile(model)
    theta, data = case_data(len(CASES[1][3]), rows=500, seed=7)
    theta[-1] = 1.1
    np.testing.assert_allclose(single(theta, data)[1], double(theta, data)[1],
                               rtol=2e-4, atol=2e-5)


def test_training_families_follows_the_reference_step_for_step():
    model = model_of(*CASES[2][1:])
    theta, data = case_data(len(CASES[2][3]), rows=103, seed=8)
    trains_as_the_reference(model, data, theta, epochs=6, batch_size=16, shuffle=True, seed=2)


def test_a_non_finite_value_in_a_column_only_the_family_reads_is_named():
    kernel = symgrad.compile(model_of(sine_series(), "mse", w[:36]))
    theta, data = case_data(36)
    data[5, 0] = np.inf
    with pytest.raises(symgrad.SymgradError, match=r"row 5, column 'x' is inf"):
        kernel(theta, data)


def test_second_order_kernels_of_a_family_model():  # written out: fit's sums
    model = model_of(sine_series(33), "mse", w[:33])
    kernel = symgrad.compile(model, order=2)
    reference = symgrad.compile(model, order=2, backend="numpy")
    theta, data = case_data(33, seed=9)
    np.testing.assert_allclose(kernel(theta, data)[1], reference(theta, data)[1], rtol=1e-10)
    for got, expected in zip(kernel.gauss_newton(theta, data),
                             reference.gauss_newton(theta, data)):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-13)


FUNCTIONS = [sp.sin, sp.exp, sp.tanh, symgrad.sigmoid, lambda u: sp.log(1 + u ** 2)]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, len(FUNCTIONS) - 1), st.integers(MIN_TERMS, MIN_TERMS + 24),
       st.lists(st.fractions(-5, 5, max_denominator=7), min_size=2, max_size=2),
       st.booleans())
def test_the_family_terms_are_the_terms_of_the_sum(function, count, numbers, shared):
    """Whatever the template and numbers, the families' terms and the rest are the sum."""
    f, (p, q) = FUNCTIONS[function], (sp.Rational(n.numerator, n.denominator) for n in numbers)
    params = sp.symbols(f"w0:{count}")
    total = sum(params[k] * f((k + p) * x + (s if shared else q * k)) for k in range(count))
    model = Model.of(total - y, [*params, s] if shared else params, [x, y])
    found = term_families(model, model.params)
    # the terms k >= 1 with k + p > 1 are p0*f(c0*x + c1) (or + s) alike: they are a family
    assert found.families or sum(bool(k + p > 1) for k in range(1, count)) < MIN_TERMS
    rebuilt = found.model.loss.xreplace({fam.symbol: sum(fam.terms()) for fam in found.families})
    assert sp.expand(rebuilt - stabilize(model.loss)) == 0


def test_a_family_only_the_prediction_reads():
    z, b = sp.symbols("z b")  # z: a column only the prediction's terms read
    prediction = sum(w[k] * sp.sin((k + 2) * z) for k in range(34)) + b
    model = Model(loss=(b * x - y) ** 2 + sum(v ** 2 for v in w[:34]), params=(*w[:34], b),
                  inputs=(x, z, y), prediction=prediction, target=y)
    loops, reference = symgrad.compile(model), symgrad.compile(model, backend="numpy")
    assert "_fam0" in loops.source
    rng = np.random.default_rng(10)
    theta, data = rng.normal(size=35), rng.normal(size=(50, 3))
    np.testing.assert_allclose(loops(theta, data)[1], reference(theta, data)[1], rtol=1e-12)
    np.testing.assert_allclose(loops.predict(theta, data), reference.predict(theta, data),
                               rtol=1e-12, atol=1e-14)
