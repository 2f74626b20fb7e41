"""The general case of issue 14: SymPy's conditionals, steps and special functions compile on
both CPU backends with exact gradients, their conventions where no derivative exists, and the
helpers behind them (polygamma, floor, ceiling) against mpmath."""
import math

import mpmath
import numpy as np
import pytest
import sympy as sp

import symgrad
from symgrad import Model, SymgradError
from symgrad.codegen.numba_backend import HEADER as NUMBA_HEADER
from symgrad.codegen.numba_backend import NumbaPrinter
from symgrad.codegen.numpy_backend import HEADER as NUMPY_HEADER
from symgrad.codegen.numpy_backend import ReferencePrinter
from symgrad.codegen.printer import ScalarPrinter
from symgrad.functions import relu
from symgrad.primitives import CEILING, COT_PI, FLOOR

a, b, x, y = sp.symbols("a b x y")

# (name, prediction of a and b over the column x): SymPy objects, as a library user writes them
PREDICTIONS = [
    ("piecewise", sp.Piecewise((a * x, x > b), (b * x ** 2, True))),
    ("piecewise-and-or", sp.Piecewise((a * sp.exp(x), sp.And(x > 0, a > 0)),
                                      (b * x, sp.Or(x < -1, b > 0.5)), (a * b, True))),
    ("sign-floor-ceiling-mod", sp.sign(a * x - b) + a * sp.floor(3 * x) + b * sp.ceiling(x)
     + sp.Mod(a * x, 0.7) + sp.Mod(2 * x, b + 2)),
    ("heaviside", a * sp.Heaviside(x - b) + b * sp.Heaviside(a * x, 1)),
    ("gamma-of-parameters", sp.gamma(a + 2) * x + sp.loggamma(b * b + 0.5)
     + sp.digamma(b - 2) + sp.polygamma(1, a * a + 0.3)),
    # closed forms of first derivatives, differentiated again (a Hessian's entries)
    ("second-derivative-abs", sp.diff(sp.Abs(a * x - b) ** 2, a)),
    ("second-derivative-relu", sp.diff(relu(a * x - b) ** 2, a)),
    ("second-derivative-max", sp.diff(sp.Max(a * x, b) ** 2, a)),
    ("real-parts", sp.re(a * x) + sp.im(b) + sp.conjugate(b * x)),
]


def exact_gradient(loss, theta, rows, h=mpmath.mpf("1e-20")):
    """Central differences of the mean loss at 50 digits, from SymPy's own evaluation of
    the original expression (evalf): nothing of symgrad's derivation or printing."""
    def mean(av, bv):
        total = 0
        for xv, yv in rows:
            at = {a: av, b: bv, x: sp.Float(xv, 50), y: sp.Float(yv, 50)}
            total += loss.evalf(50, subs=at)
        return total / len(rows)
    point = [sp.Float(v, 50) for v in theta]
    step = sp.Float(h, 50)
    grad = [(mean(point[0] + step, point[1]) - mean(point[0] - step, point[1])) / (2 * step),
            (mean(point[0], point[1] + step) - mean(point[0], point[1] - step)) / (2 * step)]
    return float(mean(*point)), np.array([float(g) for g in grad])


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("name, prediction", PREDICTIONS, ids=[p[0] for p in PREDICTIONS])
def test_sympy_constructs_compile_with_exact_gradients(backend, name, prediction):
    rng = np.random.default_rng(7)
    theta = rng.uniform(-1.2, 1.2, size=2)
    data = np.column_stack([rng.uniform(-2, 2, 12), rng.uniform(-1, 1, 12)])
    model = Model.supervised(prediction, "y", "mse", params=["a", "b"], inputs=["x"])
    kernel = symgrad.compile(model, backend=backend)
    loss, grad = kernel(theta, {"x": data[:, 0], "y": data[:, 1]})
    exact_loss, exact = exact_gradient(symgrad.model.real_valued((prediction - y) ** 2),
                                       theta, data)
    assert loss == pytest.approx(exact_loss, rel=1e-12)
    np.testing.assert_allclose(grad, exact, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("prediction, at, expected", [
    (sp.Abs(a * x), 0.0, 0.0),                      # d|z|/dz = sign(0) = 0, as PyTorch
    (relu(a * x), 0.0, 0.0),                        # relu'(0) = 0
    (sp.Max(a * x, b), 0.5, 0.5),                   # a tie: half to each side, as PyTorch
    (sp.floor(a * x) + sp.sign(a * x) + sp.Heaviside(a * x), 1.0, 0.0),  # steps: 0
    (sp.Piecewise((a * x, a * x > 1), (3 * a * x, True)), 1.0, 3.0),  # at the switch: the
])                                                                   # branch taken
def test_derivatives_at_the_kinks_follow_pytorchs_conventions(backend, prediction, at,
                                                               expected):
    """d prediction / da at a = ``at``, x = 1 (one row; b = 0.5; the loss is the prediction)."""
    model = Model.of(prediction, params=["a", "b"], inputs=["x"])
    kernel = symgrad.compile(model, backend=backend)
    _, grad = kernel(np.array([at, 0.5]), {"x": np.array([1.0])})
    assert grad[0] == expected


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_steps_of_nan_are_nan_as_max_and_min_are(backend):
    # sign(sqrt(x - 5)) at x = 0 was -1 under numba (nan under numpy), Heaviside(nan) 1 on both:
    # a domain error inside a step was hidden
    steps = [sp.sign(sp.sqrt(a * x - 5)), sp.Heaviside(sp.sqrt(a * x - 5)),
             sp.Heaviside(sp.log(a * x - 5), 1), sp.sign(a * x), sp.Heaviside(a * x - 1)]
    for step in steps:
        kernel = symgrad.compile(step, ["a"], ["x"], backend=backend)
        values = [kernel(np.array([1.0]), np.array([[v]]))[0] for v in (0.0, -2.0, 1.0, 9.0)]
        expected = [float(step.subs({a: 1, x: v}).evalf()) if v > 5 or not
                    step.has(sp.Pow, sp.log) else math.nan for v in (0.0, -2.0, 1.0, 9.0)]
        np.testing.assert_array_equal(values, expected, err_msg=str(step))


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_a_branch_not_taken_cannot_make_the_gradient_nan(backend):
    """sqrt(x) and log(-x) are nan where their branch is not taken: JAX's where-gradient is nan
    there; symgrad's is the exact derivative of the branch taken."""
    loss = (sp.Piecewise((a * sp.sqrt(x), x > 0), (b * sp.log(-x), True)) - y) ** 2
    kernel = symgrad.compile(Model.of(loss, ["a", "b"], ["x", "y"]), backend=backend)
    data = {"x": np.array([-1.0, 4.0, -2.0, 9.0]), "y": np.array([0.0, 1.0, 2.0, 3.0])}
    value, grad = kernel(np.array([0.5, 0.3]), data)
    # rows x = 4 and 9 take a*sqrt(x): residuals 0 and -1.5; rows -1, -2 take b*log(-x)
    r = [0.3 * math.log(1.0) - 0.0, 0.3 * math.log(2.0) - 2.0]
    assert grad[0] == pytest.approx(2 * (-1.5) * 3 / 4, rel=1e-14)
    assert grad[1] == pytest.approx(2 * (r[0] * 0.0 + r[1] * math.log(2.0)) / 4, rel=1e-14)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_sinc_has_its_finite_derivatives_at_zero(backend):
    """SymPy's sinc' is cos(z)/z - sin(z)/z**2: nan at z = 0, where sinc is smooth (a row at
    t = 0 made every gradient of A*sinc(k*t) nan, and fit refused the data). Its series near
    0, closed forms beyond, against mpmath's derivatives of its own sinc at 50 digits."""
    rows = np.array([0.0, 1e-9, -0.3, 0.6666, -0.9999, 1.0001, 5.0, -7.0, 40.5])
    kernel = symgrad.compile(b * sp.sinc(a * x), ["a", "b"], ["x"], order=2, backend=backend)
    value, grad, hessian = kernel.hessian(np.array([1.5, 0.7]), rows[:, None])
    with mpmath.workdps(50):
        def mean(av, bv):
            return sum(bv * mpmath.sinc(av * mpmath.mpf(v)) for v in rows) / len(rows)
        point = (mpmath.mpf(1.5), mpmath.mpf(0.7))
        def d(order):
            return float(mpmath.diff(mean, point, order))
        gradient = [d((1, 0)), d((0, 1))]
        exact = [[d((2, 0)), d((1, 1))], [d((1, 1)), d((0, 2))]]
    assert value == pytest.approx(float(mean(*point)), rel=1e-14)
    np.testing.assert_allclose(grad, gradient, rtol=1e-12)
    np.testing.assert_allclose(hessian, exact, rtol=1e-11, atol=1e-14)


POLYGAMMA_POINTS = [1e-8, 0.1, 0.5, 1.0, 1.4616321449683622, 2.5, 7.3, 14.9, 15.1, 40.0, 1e3,
                    1e8, 1e300, -0.5, -1.3, -1.5, -2.7, -3.5, -10.25, -10.5, -99.5, -1e-6]


def polygamma_helpers(order):
    """The order's helper in each dialect, as the printers emit it."""
    found = {}
    for dialect, printer, header in (("python", ScalarPrinter, "import math\n"),
                                     ("numba", NumbaPrinter, NUMBA_HEADER),
                                     ("numpy", ReferencePrinter, NUMPY_HEADER)):
        name, source = printer().polygamma_helper(order)
        if dialect != "numpy":  # the series calls the cot helper
            source = COT_PI + source
        if dialect == "numba":
            source = source.replace("def ", "@njit(error_model=\"numpy\")\ndef ")
        namespace = {}
        exec(compile(header + "\n" + source, f"<{dialect}>", "exec"), namespace)
        found[dialect] = namespace[name]
    return found


@pytest.mark.parametrize("order", [0, 1, 2, 3, 5, 10, 20, 40, 60])  # 60: the language's last
def test_polygamma_helpers_match_mpmath(order):
    # at negative half-integers cot(pi x) is 0: computed as cos/sin, its 1e-16 error times
    # pi^(n+1) P_n'(0) was the whole value by order 20 (cot is now a tan of the exact offset)
    helpers = polygamma_helpers(order)
    for point in POLYGAMMA_POINTS:
        with mpmath.workdps(300):  # mpmath's reflection cancels ~100 digits at -99.5
            exact = mpmath.polygamma(order, mpmath.mpf(point))
            # the condition number: |x psi'(x) / psi(x)|, the error x's own rounding carries
            scale = abs(exact) + abs(point * mpmath.polygamma(order + 1, mpmath.mpf(point)))
        for dialect, helper in helpers.items():
            if math.isinf(float(exact)):  # beyond float64: psi_60(1e-8) ~ 60!/1e-488, which
                if dialect != "python":   # plain Python's float power raises for
                    value = float(helper(np.array([point]))[0]) if dialect == "numpy" \
                        else helper(point)
                    assert value == float(exact), (dialect, order, point, value)
                continue
            value = float(helper(np.array([point]))[0]) if dialect == "numpy" else helper(point)
            assert abs(value - float(exact)) <= 4e-15 * float(scale) + 1e-300, \
                (dialect, order, point, value, float(exact))
            if dialect == "numpy":  # the reference: mpmath's value, rounded once
                assert value == float(exact), (order, point, value, float(exact))
    for pole in (0.0, -1.0, -7.0):
        assert math.isnan(helpers["python"](pole)) and math.isnan(helpers["numba"](pole))


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_gamma_and_loggamma_at_their_poles_take_c99s_values(backend):
    # C99 (libm, scipy.special): tgamma(+-0) = +-inf, tgamma(-n) = nan, lgamma(-n) = +inf;
    # Python's math raises there, and the reference backend wrote nan for all of them
    at = np.array([0.0, -0.0, -1.0, -3.0, -2.5, 4.0, -1e-310, 1e-310])
    model = Model.supervised([sp.gamma(a * x), sp.loggamma(a * x)], ["g", "l"],
                             inputs=["x"])
    kernel = symgrad.compile(model, backend=backend)
    got = kernel.predict([1.0], {"x": at, "g": at, "l": at})
    with np.errstate(all="ignore"):  # 1/x overflows beside +-1e-310: gamma's sign is x's
        gammas = [math.inf, -math.inf, math.nan, math.nan, math.gamma(-2.5), 6.0, -math.inf,
                  math.inf]
    logs = [math.inf, math.inf, math.inf, math.inf, math.lgamma(-2.5), math.log(6.0),
            math.lgamma(1e-310), math.lgamma(1e-310)]
    np.testing.assert_allclose(got, np.column_stack([gammas, logs]), rtol=1e-14)
    assert np.signbit(got[1, 0])


def test_floor_and_ceiling_helpers_are_exact_floats():
    points = [-2.5, -2.3, -1e-17, -0.0, 0.0, 0.3, 0.9999999999999999, 2.0, 4.5e15 + 0.5, 1e300,
              -1e300, math.inf, -math.inf]
    space = {}
    exec(FLOOR["python"] + CEILING["python"], space)
    for v in points:
        assert space["floor"](v) == math.floor(v) if math.isfinite(v) else space["floor"](v) == v
        assert space["ceiling"](v) == math.ceil(v) if math.isfinite(v) else \
            space["ceiling"](v) == v
    assert math.isnan(space["floor"](math.nan)) and math.isnan(space["ceiling"](math.nan))


def test_dirac_delta_is_the_derivative_of_a_step_taken_as_zero():
    loss = (sp.diff(sp.Heaviside(a * x), a) + a * x - y) ** 2  # x*DiracDelta(a*x) + ...
    kernel = symgrad.compile(Model.of(loss, ["a"], ["x", "y"]), backend="numpy")
    value, grad = kernel(np.array([2.0]), {"x": np.array([1.0]), "y": np.array([1.0])})
    assert (value, grad[0]) == (1.0, 2.0)


def test_a_piecewise_without_otherwise_is_refused():
    with pytest.raises(SymgradError, match="no otherwise branch"):
        Model.of(sp.Piecewise((a * x, x > 0)), ["a"], ["x"])
