"""symgrad.fit and the second-order kernels (compile(..., order=2)).

The Hessian and the Gauss-Newton sums are checked two independent ways: against 50-digit
central differences of the original loss (second differences; first differences of the
residual), and the Numba kernels against the numpy reference. Fits are checked against
NIST's certified nonlinear-regression results (tests/nist.py) and against scikit-learn.
"""
import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, settings, strategies as st

import symgrad
from support import DIGITS, IDS, MODELS, random_case
from symgrad.errors import SymgradError
from symgrad import solvers, uncertainty
from symgrad.fitting import KernelObjective, fit_objective
from symgrad.model import Model

import nist
import textbook


def _loss_values(loss, params, inputs, theta, data):
    """The summed loss at 50 digits, as a function of parameter values (mp Floats)."""
    expression = symgrad.parse_expr(loss) if isinstance(loss, str) else loss
    symbols = {s.name: s for s in expression.free_symbols}
    rows = [{symbols[n]: sp.Float(v, DIGITS) for n, v in zip(inputs, row) if n in symbols}
            for row in data]

    def total(values):
        point = {symbols[n]: v for n, v in zip(params, values) if n in symbols}
        return sum(expression.evalf(DIGITS, subs={**point, **row}) for row in rows)
    return total


def hessian_by_differences(loss, params, inputs, theta, data, h=1e-12):
    total = _loss_values(loss, params, inputs, theta, data)
    h = sp.Float(h, DIGITS)
    base = [sp.Float(v, DIGITS) for v in theta]
    size = len(params)
    hessian = np.zeros((size, size))
    for j in range(size):
        for k in range(j, size):
            value = 0
            for sj, sk, sign in ((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)):
                point = list(base)
                point[j] += sj * h
                point[k] += sk * h
                value += sign * total(point)
            hessian[j, k] = hessian[k, j] = float(value / (4 * h * h))
    return hessian


def _close(a, b, rel=1e-10):
    scale = max(np.max(np.abs(b)), 1e-300)
    np.testing.assert_allclose(a, b, rtol=rel, atol=rel * scale)


@pytest.mark.parametrize("name, loss, params, inputs", MODELS, ids=IDS)
def test_the_reference_hessian_matches_50_digit_central_differences(name, loss, params,
                                                                    inputs):
    params, inputs = params.split(), inputs.split()
    theta, data = random_case(params, inputs, rows=3, seed=7)
    f = symgrad.compile(loss, params, inputs, backend="numpy", reduction="sum", order=2)
    value, grad, hessian = f.hessian(theta, data)
    assert np.allclose(hessian, hessian.T)
    _close(hessian, hessian_by_differences(loss, params, inputs, theta, data))
    expected_loss, expected_grad = f(theta, data)  # the first-order program: another path
    assert math.isclose(value, expected_loss, rel_tol=1e-12)
    _close(grad, expected_grad, rel=1e-12)


NUMBA_CASES = ["bce"]  # Gauss-Newton on numba: the layouts test, MGH10; all: 50 digits above


@pytest.mark.parametrize("name", NUMBA_CASES)
def test_numba_second_order_kernels_agree_with_the_reference(name):
    _, loss, params, inputs = MODELS[IDS.index(name)]
    params, inputs = params.split(), inputs.split()
    theta, data = random_case(params, inputs, rows=50_000, seed=3)
    kernels = [symgrad.compile(loss, params, inputs, backend=b, order=2)
               for b in ("numba", "numpy")]
    (l1, g1, h1), (l2, g2, h2) = (k.hessian(theta, data) for k in kernels)
    assert math.isclose(l1, l2, rel_tol=1e-10)
    _close(g1, g2)
    _close(h1, h2)
    if kernels[1].least_squares:
        for a, b in zip(kernels[0].gauss_newton(theta, data), kernels[1].gauss_newton(theta, data)):
            _close(np.asarray(a), np.asarray(b))


def test_gauss_newton_sums_match_differences_of_the_residuals():
    # two residuals per row, weighted: (a*exp(-k*x) - y)**2 + 4*(k - 1)**2 is a sum of squares
    loss = "(a*exp(-k*x) - y)**2 + 4*(k*x - 1)**2"
    params, inputs = ["a", "k"], ["x", "y"]
    theta, data = random_case(params, inputs, rows=4, seed=2)
    f = symgrad.compile(loss, params, inputs, backend="numpy", reduction="sum", order=2)
    assert f.least_squares
    rss, jtj, jtr = f.gauss_newton(theta, data)
    loss_value, grad = f(theta, data)
    assert math.isclose(rss, loss_value, rel_tol=1e-12)
    _close(2 * jtr, grad, rel=1e-12)
    # J by 50-digit central differences of each residual, rows x residuals
    a, k, x, y = sp.symbols("a k x y")
    residuals = [a * sp.exp(-k * x) - y, 2 * (k * x - 1)]
    h = sp.Float(1e-15, DIGITS)
    rows = []
    for row in data:
        for r in residuals:
            at = {x: sp.Float(row[0], DIGITS), y: sp.Float(row[1], DIGITS)}
            point = {a: sp.Float(theta[0], DIGITS), k: sp.Float(theta[1], DIGITS)}
            rows.append([float((r.evalf(DIGITS, subs={**at, **point, p: point[p] + h})
                                - r.evalf(DIGITS, subs={**at, **point, p: point[p] - h}))
                               / (2 * h)) for p in (a, k)])
    jacobian = np.array(rows)
    _close(jtj, jacobian.T @ jacobian)


WEIGHTED = [  # (loss, the residuals sqrt(w)*f it is the sum of squares of, as SymPy reads them)
    ("wt*(a*exp(-k*x) - y)**2", "sqrt(wt)*(a*exp(-k*x) - y)"),
    ("(a*exp(-k*x) - y)**2/wt + 3*exp(-x)*(k - 1)**2", None),  # exp(-x): a weight too
    ("0.5*wt*x**2*(a*exp(-k*x) - y)**4", "sqrt(0.5*wt)*x*(a*exp(-k*x) - y)**2"),
    ("sqrt(wt)*(a*exp(-k*x) - y)**2", "wt**(1/4)*(a*exp(-k*x) - y)"),
    ("wt*((a*exp(-k*x) - y)**2 + (k - 1)**2)", None),  # a weight of a sum: two squares
]


@pytest.mark.parametrize("loss, first", WEIGHTED,
                         ids=["times", "over", "power", "root", "sum"])
def test_a_weight_column_keeps_a_loss_least_squares(loss, first):
    # w * f**2 with w a column (or 1/w, or a factor no real data makes negative): residuals
    # sqrt(w)*f; J^T J checked against 50-digit differences of the first residual's sum
    params, inputs = ["a", "k"], ["x", "y", "wt"]
    theta, data = random_case(params, inputs, rows=5, seed=4)
    data[:, 2] = np.abs(data[:, 2]) + 0.1
    kernels = [symgrad.compile(loss, params, inputs, backend=b, reduction="sum", order=2)
               for b in ("numpy", "numba")]
    assert all(k.least_squares for k in kernels)
    (rss, jtj, jtr), numba = (k.gauss_newton(theta, data) for k in kernels)
    for ours, reference in zip(numba, (rss, jtj, jtr)):
        _close(np.asarray(ours), np.asarray(reference))
    loss_value, grad = kernels[0](theta, data)
    assert math.isclose(rss, loss_value, rel_tol=1e-12)
    _close(2 * jtr, grad, rel=1e-12)
    if first is not None:  # one residual a row: J^T J from the residual's differences
        residual = symgrad.parse_expr(first)
        jacobian = np.array([[float(v) for v in row] for row in
                             _residual_jacobian(residual, params, inputs, theta, data)])
        _close(jtj, jacobian.T @ jacobian)


def _residual_jacobian(residual, params, inputs, theta, data, h=1e-15):
    symbols = {s.name: s for s in residual.free_symbols}
    h = sp.Float(h, DIGITS)
    for row in data:
        at = {symbols[n]: sp.Float(v, DIGITS) for n, v in zip(inputs, row) if n in symbols}
        point = {symbols[n]: sp.Float(v, DIGITS) for n, v in zip(params, theta)}
        yield [(residual.evalf(DIGITS, subs={**at, **point, p: point[p] + h})
                - residual.evalf(DIGITS, subs={**at, **point, p: point[p] - h})) / (2 * h)
               for p in point]


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("loss", ["(1 + 1e-300)*(a*x - y)**2",
                                  "1e200*(a*x - y)**2 + 1e-200*(a*x - y)**2"])
def test_a_coefficient_whose_exact_root_is_huge_still_compiles(loss, backend):
    # sqrt((10**400 + 1)/10**200) stayed a root of a 400-digit integer, printed as inf
    f = symgrad.compile(loss, ["a"], ["x", "y"], backend=backend, reduction="sum", order=2)
    data = np.array([[1.0, 2.0], [2.0, 1.0], [0.5, 0.3]])
    rss, _, jtr = f.gauss_newton([1.5], data)
    loss_value, grad = f([1.5], data)
    assert math.isclose(rss, loss_value, rel_tol=1e-14) and np.allclose(2 * jtr, grad, rtol=1e-14)


def test_a_weighted_fit_is_curve_fit_with_sigma_standard_errors_included():
    from scipy.optimize import curve_fit
    rng = np.random.default_rng(1)
    x, s = np.linspace(0, 4, 60), rng.uniform(0.05, 0.5, 60)
    y = 2.5 * np.exp(-1.3 * x) + 0.4 + rng.normal(size=60) * s
    expected, cov = curve_fit(lambda t, a, k, c: a * np.exp(-k * t) + c, x, y, p0=[1, 1, 0],
                              sigma=s)
    for loss, weight in (("wt*(a*exp(-k*x) + c - y)**2", 1 / s ** 2),
                         ("(a*exp(-k*x) + c - y)**2/wt", s ** 2)):
        fit = symgrad.fit(loss, ["a", "k", "c"], ["x", "y", "wt"],
                          {"x": x, "y": y, "wt": weight}, [1, 1, 0])
        assert fit.method == "lm" and fit.converged
        assert np.allclose(fit.params, expected, rtol=1e-6)
        assert np.allclose(fit.stderr, np.sqrt(np.diag(cov)), rtol=1e-5)


def test_two_squares_a_row_are_two_observations_as_curve_fit_stacks_them():
    # 20 rows of (t, y1, u, y2): the same 40 points curve_fit sees stacked; s^2 = RSS over
    # 40 - 3 degrees of freedom, not 20 - 3
    from scipy.optimize import curve_fit
    rng = np.random.default_rng(3)
    t, u = np.linspace(0, 2, 20), np.linspace(2, 4, 20)
    model = lambda x, a, k, c: a * np.exp(-k * x) + c  # noqa: E731
    y1, y2 = (model(x, 2.5, 1.3, 0.4) + rng.normal(0, 0.03, 20) for x in (t, u))
    expected, cov = curve_fit(model, np.concatenate([t, u]), np.concatenate([y1, y2]),
                              p0=[1, 1, 0])
    fit = symgrad.fit("(a*exp(-k*t) + c - y1)**2 + (a*exp(-k*u) + c - y2)**2",
                      ["a", "k", "c"], ["t", "u", "y1", "y2"],
                      {"t": t, "u": u, "y1": y1, "y2": y2}, [1, 1, 0])
    assert fit.dof == 37 and np.allclose(fit.params, expected, rtol=1e-6)
    assert np.allclose(fit.stderr, np.sqrt(np.diag(cov)), rtol=1e-5)


def test_a_constant_weight_of_any_size_changes_neither_the_fit_nor_its_errors():
    # 1e-310 (subnormal sums): the scaled J^T J overflowed to inf and eigh raised
    rng = np.random.default_rng(1)
    x = np.linspace(0, 4, 60)
    data = {"x": x, "y": 2.5 * np.exp(-1.3 * x) + 0.4 + rng.normal(size=60) * 0.05}
    fits = [symgrad.fit("wt*(a*exp(-k*x) + c - y)**2", ["a", "k", "c"], ["x", "y", "wt"],
                        {**data, "wt": np.full(60, w)}, [1, 1, 0]) for w in (1.0, 1e-310, 1e300)]
    for fit in fits[1:]:
        assert fit.converged and not fit.warnings
        assert np.allclose(fit.params, fits[0].params, rtol=1e-7)
        assert np.allclose(fit.stderr, fits[0].stderr, rtol=1e-6)


def test_a_weight_the_data_make_negative_is_refused_by_row_and_column():
    x = np.linspace(0, 4, 30)
    data = {"x": x, "y": 2 * x + 1, "wt": np.ones(30)}
    data["wt"][17] = -0.5
    for loss in ("wt*(a*x + c - y)**2", "sqrt(wt)*(a*x + c - y)**2"):
        with pytest.raises(SymgradError, match=r"row 17, column 'wt' is -0.5: .* >= 0 "
                           r"\(a loss that means it: --method newton"):
            symgrad.fit(loss, ["a", "c"], ["x", "y", "wt"], data)
    data["wt"][17] = 0.0  # a zero weight drops the row; dividing by it does not
    assert symgrad.fit("wt*(a*x + c - y)**2", ["a", "c"], ["x", "y", "wt"], data).converged
    with pytest.raises(SymgradError, match=r"data row 17, column 'wt' is 0.0: .* > 0 \("):
        symgrad.fit("(a*x + c - y)**2/wt", ["a", "c"], ["x", "y", "wt"], data)


@pytest.mark.parametrize("method", ["newton", "lbfgs"])
def test_a_loss_that_means_a_negative_weight_is_fitted_by_the_method_asked_for(method):
    # the refusal above advises --method newton; that fit used to end in the same refusal
    # when its standard errors read the Gauss-Newton columns. They come from the Hessian
    x = np.linspace(0, 4, 30)
    y = 2 * x + 1 + 0.1 * np.random.default_rng(3).normal(size=30)
    wt = np.ones(30)
    wt[17] = -0.5
    result = symgrad.fit("wt*(a*x + c - y)**2", ["a", "c"], ["x", "y", "wt"],
                         {"x": x, "y": y, "wt": wt}, method=method)
    assert result.converged and result.rss is None, result.reason
    design = np.column_stack([x, np.ones(30)])
    hessian = 2 * design.T @ (wt[:, None] * design)           # the summed loss's Hessian
    np.testing.assert_allclose(result.params, np.linalg.solve(hessian / 2, design.T @ (wt * y)),
                               rtol=1e-9)
    np.testing.assert_allclose(result.stderr, np.sqrt(np.diag(np.linalg.inv(hessian))),
                               rtol=1e-9)


@pytest.mark.parametrize("loss", ["wt*a*(a*x - y)**2", "(a*x - y)**2 + wt"])
def test_a_factor_that_holds_a_parameter_is_not_a_weight(loss):
    f = symgrad.compile(loss, ["a"], ["x", "y", "wt"], backend="numpy", order=2)
    assert not f.least_squares


@pytest.mark.parametrize("weight", ["1 + t", "1/(1 + t)", "sqrt(t + 1)", "t + t**2 + 1"])
def test_a_weight_expression_is_one_weighted_square_as_curve_fit_weighs_it(weight):
    # (1 + t)*f**2 was expanded to f**2 + t*f**2: two observations a row (dof 797 for 400
    # rows, standard errors sqrt(397/797) too small) and t >= 0 demanded of the data
    rng = np.random.default_rng(3)
    t = np.linspace(-0.5, 10, 400)
    y = 3 * np.exp(-0.7 * t) + 0.5 + rng.normal(0, 0.05, 400)
    w = {"1 + t": 1 + t, "1/(1 + t)": 1 / (1 + t), "sqrt(t + 1)": np.sqrt(t + 1),
         "t + t**2 + 1": t + t ** 2 + 1}[weight]
    result = symgrad.fit(f"({weight})*(a*exp(-b*t) + c - y)**2", ["a", "b", "c"], ["t", "y"],
                         {"t": t, "y": y}, [1.0, 0.1, 0.0])
    columns = np.column_stack([np.exp(-result.params[1] * t),
                               -t * result.params[0] * np.exp(-result.params[1] * t),
                               np.ones_like(t)]) * np.sqrt(w)[:, None]
    residuals = (result.params[0] * np.exp(-result.params[1] * t) + result.params[2] - y)
    rss = float(np.sum(w * residuals ** 2))
    stderr = np.sqrt(np.diag(np.linalg.inv(columns.T @ columns)) * rss / 397)
    assert result.method == "lm" and result.converged and result.dof == 397
    weighted = np.sqrt(w) * residuals  # at the optimum: J^T r is 0 within rounding
    assert np.max(np.abs(columns.T @ weighted)) < \
        1e-9 * np.linalg.norm(columns) * np.linalg.norm(weighted)
    np.testing.assert_allclose(result.stderr, stderr, rtol=1e-8)


def test_a_weight_expression_negative_in_a_row_stops_the_fit_and_says_so():
    t = np.linspace(-2, 3, 50)
    with pytest.raises(SymgradError, match="a weight of a least-squares loss is negative"):
        symgrad.fit("(1 + t)*(a*t + c - y)**2", ["a", "c"], ["t", "y"],
                    {"t": t, "y": 2 * t}, [1.0, 0.0])
    meant = symgrad.fit("(1 + t)*(a*t + c - y)**2", ["a", "c"], ["t", "y"],
                        {"t": t, "y": 2 * t + 1}, [1.0, 0.0], method="newton")
    assert meant.params == pytest.approx([2.0, 1.0], rel=1e-9)


@pytest.mark.parametrize("unrolled", [True, False])
def test_both_numba_gauss_newton_layouts_equal_the_reference(unrolled, monkeypatch, tmp_path):
    # three residuals per row, each with its own Jacobian columns (c only in the last)
    loss = "(a*exp(-k*x) - y)**2 + 4*(k*x - 1)**2 + 0.5*(c*y - x)**2"
    if not unrolled:  # the loops' layout, in a cache of its own (the key does not see it)
        monkeypatch.setattr("symgrad.codegen.numba_second_order.UNROLLED_JACOBIAN", 1)
        monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
        loss += " + 0*a"  # another key, so no module this process loaded before is reused
    theta, data = random_case(["a", "k", "c"], ["x", "y"], rows=40_000, seed=5)
    numba, numpy = (symgrad.compile(loss, ["a", "k", "c"], ["x", "y"], backend=b, order=2)
                    for b in ("numba", "numpy"))
    assert ("_jtj = np.zeros" in numba.source) != unrolled
    for ours, reference in zip(numba.gauss_newton(theta, data), numpy.gauss_newton(theta, data)):
        _close(np.asarray(ours), np.asarray(reference))


def test_the_prediction_jacobian_per_row():
    model = Model.supervised("a*exp(-k*t) + c*sigmoid(t - k)", "y", inputs=["t", "y"])
    theta, data = np.array([2.0, 0.5, 0.3]), _decay(rows=300)
    f = symgrad.compile(model, backend="numpy", order=2, reduction="sum")
    jacobian = f.jacobian(theta, data)
    assert jacobian.shape == (300, 3)
    # its J^T J is the Gauss-Newton sums' (the residual is prediction - y): another program
    _close(jacobian.T @ jacobian, f.gauss_newton(theta, data)[1], rel=1e-12)
    h = 1e-6  # and central differences of the prediction, to float64's accuracy
    for k in range(3):
        step = np.eye(3)[k] * h
        slope = (f.predict(theta + step, data) - f.predict(theta - step, data)) / (2 * h)
        np.testing.assert_allclose(jacobian[:, k], slope, rtol=1e-7, atol=1e-9)


def test_the_jacobian_reads_new_data_without_the_target_as_predict_does():
    model = Model.supervised("a*exp(-k*t) + c", "y", inputs=["t", "y"])
    theta, data = np.array([2.0, 0.5, 0.3]), _decay(rows=30)
    f = symgrad.compile(model, backend="numpy", order=2, reduction="sum")
    np.testing.assert_array_equal(f.jacobian(theta, data[:, :1]), f.jacobian(theta, data))
    np.testing.assert_array_equal(f.predict(theta, data[:, :1]), f.predict(theta, data))
    for width in (0, 3):
        with pytest.raises(SymgradError, match=rf"data has {width} columns; expected 1 \(t\) "
                                               rf"or 2 \(t, y\)"):
            f.predict(theta, np.ones((4, width)))


def test_the_jacobian_of_several_outputs():
    a, b, t = sp.symbols("a b t")
    model = Model.supervised((a * t, b * t + a * a), ["y0", "y1"], inputs=["t", "y0", "y1"])
    f = symgrad.compile(model, backend="numpy", order=2)
    jacobian = f.jacobian([3.0, 2.0], np.array([[1.0, 0, 0], [5.0, 0, 0]]))
    np.testing.assert_array_equal(jacobian, [[[1, 0], [6, 1]], [[5, 0], [6, 5]]])


def test_the_mean_reduction_divides_second_order_sums_by_the_rows():
    theta, data = random_case(["w", "b"], ["x", "y"], rows=100, seed=1)
    total, mean = (symgrad.compile("(w*x + b - y)**2", ["w", "b"], ["x", "y"], order=2,
                                   reduction=r, backend="numpy") for r in ("sum", "mean"))
    _close(mean.hessian(theta, data)[2], total.hessian(theta, data)[2] / 100)
    _close(mean.gauss_newton(theta, data)[1], total.gauss_newton(theta, data)[1] / 100)


def test_a_where_inside_a_nonlinearity_has_an_exact_hessian():
    loss = "(sigmoid(w*x + where(z > 0, c, 0)) - y)**2"
    theta, data = random_case(["w", "c"], ["x", "z", "y"], rows=3, seed=8)
    f = symgrad.compile(loss, ["w", "c"], ["x", "z", "y"], backend="numpy", reduction="sum",
                        order=2)
    _close(f.hessian(theta, data)[2],
           hessian_by_differences(loss, ["w", "c"], ["x", "z", "y"], theta, data))


def test_the_hessian_is_finite_where_a_branch_not_taken_is_not():
    # sqrt(x) at x < 0 in the branch not taken: its second derivative must not leak a nan
    loss = "(where(x > 0, w*sqrt(x), b*x) - y)**2"
    f = symgrad.compile(loss, ["w", "b"], ["x", "y"], order=2, backend="numpy", reduction="sum")
    data = np.array([[-1.0, 0.5], [2.0, 1.0]])
    _, grad, hessian = f.hessian(np.array([0.3, -0.2]), data)
    assert np.all(np.isfinite(hessian)) and np.all(np.isfinite(grad))
    expected = hessian_by_differences(loss, ["w", "b"], ["x", "y"], [0.3, -0.2], data)
    _close(hessian, expected)


@pytest.mark.parametrize("call, message", [
    (lambda: symgrad.compile("(w*x - y)**2", ["w"], ["x", "y"], order=3), "unknown order 3"),
    (lambda: symgrad.compile("w*x", ["w"], ["x"]).hessian([1.0], [[1.0]]),
     "compile it with order=2"),
    (lambda: symgrad.compile("log(1 + exp(w*x))", ["w"], ["x"], order=2, backend="numpy")
     .gauss_newton([1.0], [[1.0]]), "not a sum of squares"),
    (lambda: symgrad.compile("(w*x - y)**2", ["w"], ["x", "y"], order=2, backend="numpy")
     .jacobian([1.0], [[1.0, 2.0]]), "Model with a prediction"),
])
def test_second_order_refusals_are_symgrad_errors(call, message):
    with pytest.raises(SymgradError, match=message):
        call()


def test_no_dense_hessian_beyond_the_limit_and_fit_uses_lbfgs():
    size = symgrad.runtime.second_order.HESSIAN_LIMIT + 2
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, size))
    y = (x @ rng.normal(size=size) > 0).astype(float)
    names = [f"x{k}" for k in range(size)]
    prediction = "sigmoid(" + " + ".join(f"w{k}*x{k}" for k in range(size)) + ")"
    model = Model.supervised(prediction, "y", loss="bce", inputs=[*names, "y"])
    result = symgrad.fit(model, data=np.column_stack([x, y]), l2=1.0, backend="numpy")
    assert result.method == "lbfgs" and result.converged
    assert np.all(np.isnan(result.stderr)) and "no standard errors" in result.warnings[0]
    tight = symgrad.fit(model, data=np.column_stack([x, y]), l2=1.0, backend="numpy",
                        method="lbfgs", tol=1e-14)
    np.testing.assert_allclose(result.params, tight.params, rtol=1e-8, atol=1e-10)
    with pytest.raises(SymgradError, match="use lbfgs"):
        symgrad.fit(model, data=np.column_stack([x, y]), method="newton", backend="numpy")


# --- NIST StRD: certified nonlinear regression -------------------------------------------

def _nist_fit(problem, start, backend="numpy"):
    model = Model.supervised(problem.model, "y", params=list(problem.params),
                             inputs=[*problem.inputs, "y"])
    data = np.column_stack([problem.x.reshape(len(problem.y), -1), problem.y])
    return symgrad.fit(model, data=data, theta0=start, backend=backend)


def _digits(value, certified):
    return -np.log10(np.max(np.abs(np.asarray(value) - certified) / np.abs(certified)))


# Lanczos1's certified RSS (1.4e-25) lies below float64's rounding of its residuals (~1e-13
# each), so s^2 = RSS/dof, and with it every standard error, has ~3 significant digits in
# float64 arithmetic, however the fit is done; its parameters are checked to 10 digits.
FLOAT64_BOUND_STDERR = {"Lanczos1": 2.5}


@pytest.mark.parametrize("problem", nist.problems(), ids=lambda p: p.name)
def test_nist_certified_values_from_both_starts_with_default_settings(problem):
    for start in problem.starts:
        result = _nist_fit(problem, start)
        assert result.converged, (problem.name, start, result.reason)
        assert _digits(result.params, problem.certified) >= 6, (problem.name, start)
        assert _digits(result.stderr, problem.certified_stderr) >= \
            FLOAT64_BOUND_STDERR.get(problem.name, 4), (problem.name, start)
        assert math.isclose(result.rss, problem.rss, rel_tol=1e-6, abs_tol=1e-20)
        assert result.dof == problem.dof


@pytest.mark.parametrize("name", ["MGH10"])
def test_nist_on_numba_equals_the_reference(name):
    problem = nist.problem(name)
    reference = _nist_fit(problem, problem.starts[0])
    result = _nist_fit(problem, problem.starts[0], backend="numba")
    assert _digits(result.params, problem.certified) >= 6
    # the same optimum up to rounding: within a millionth of a standard error
    assert np.all(np.abs(result.params - reference.params) <= 1e-6 * reference.stderr)
    np.testing.assert_allclose(result.stderr, reference.stderr, rtol=1e-6)
    # and the Numba prediction Jacobian, per row, equals the reference's
    model = Model.supervised(problem.model, "y", params=list(problem.params),
                             inputs=[*problem.inputs, "y"])
    data = np.column_stack([problem.x, problem.y])
    jacobians = [symgrad.compile(model, backend=b, order=2, reduction="sum")
                 .jacobian(result.params, data) for b in ("numba", "numpy")]
    np.testing.assert_allclose(*jacobians, rtol=1e-12)


# --- against scikit-learn -----------------------------------------------------------------

def _regression_data(rows=500, width=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, width))
    return x, rng.normal(size=width), rng


def test_mse_on_a_linear_model_equals_linear_regression():
    linear_model = pytest.importorskip("sklearn.linear_model")
    x, w, rng = _regression_data()
    y = x @ w + 0.7 + 0.1 * rng.normal(size=len(x))
    names = [f"x{k}" for k in range(x.shape[1])]
    model = Model.supervised(" + ".join(f"w{k}*{n}" for k, n in enumerate(names)) + " + b",
                             "y", inputs=[*names, "y"])
    result = symgrad.fit(model, data=np.column_stack([x, y]))
    expected = linear_model.LinearRegression().fit(x, y)
    fitted = result.named()
    assert result.method == "lm" and result.converged
    np.testing.assert_allclose([fitted[f"w{k}"] for k in range(4)], expected.coef_, rtol=1e-8)
    assert math.isclose(fitted["b"], expected.intercept_, rel_tol=1e-8)
    # the textbook standard errors of ordinary least squares: s^2 (X^T X)^-1
    design = np.column_stack([np.ones(len(x)), x])
    s2 = np.sum((y - design @ np.r_[expected.intercept_, expected.coef_]) ** 2) / (len(x) - 5)
    textbook = np.sqrt(np.diag(s2 * np.linalg.inv(design.T @ design)))
    np.testing.assert_allclose(result.stderr, textbook, rtol=1e-8)  # params: b, w0..w3


def test_bce_with_l2_equals_logistic_regression():
    linear_model = pytest.importorskip("sklearn.linear_model")
    x, w, rng = _regression_data(rows=800, width=5, seed=4)
    y = (x @ w + 0.5 + rng.normal(size=len(x)) > 0).astype(float)
    names = [f"x{k}" for k in range(x.shape[1])]
    prediction = "sigmoid(" + " + ".join(f"w{k}*{n}" for k, n in enumerate(names)) + " + b)"
    model = Model.supervised(prediction, "y", loss="bce", inputs=[*names, "y"])
    result = symgrad.fit(model, data=np.column_stack([x, y]), l2=1.0, l2_exclude=["b"],
                         backend="numpy")
    expected = linear_model.LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(x, y)
    fitted = result.named()
    assert result.method == "newton" and result.converged
    np.testing.assert_allclose([fitted[f"w{k}"] for k in range(5)], expected.coef_[0],
                               rtol=1e-6)
    assert math.isclose(fitted["b"], expected.intercept_[0], rel_tol=1e-6)


# --- the engine's promises -----------------------------------------------------------------

def _decay(rows=200, seed=1):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 10, rows)
    return np.column_stack([t, 2.5 * np.exp(-0.4 * t) + 0.3 + 0.02 * rng.normal(size=rows)])


DECAY = Model.supervised("a*exp(-k*t) + c", "y", inputs=["t", "y"])


def test_an_interrupted_fit_keeps_its_best_point():
    kernel = symgrad.compile(DECAY, backend="numpy", reduction="sum", order=2)
    objective = KernelObjective(kernel, _decay())
    seen = []

    def stop_at_the_third_step(progress):
        seen.append(progress.loss)
        if progress.iterations == 3:
            raise KeyboardInterrupt

    result = fit_objective(objective, kernel.params, [1.0, 1.0, 1.0],
                           report=stop_at_the_third_step)
    assert result.interrupted and not result.converged and result.iterations == 3
    assert result.loss == seen[-1] == min(seen)
    assert math.isclose(objective.loss_grad(result.params)[0], result.loss, rel_tol=1e-12)


def test_not_converged_within_max_iter_is_said():
    result = symgrad.fit(DECAY, data=_decay(), theta0=[1.0, 1.0, 1.0], max_iter=2,
                         backend="numpy")
    assert not result.converged and result.iterations == 2
    assert "not converged in 2 iterations" in result.reason


def test_a_poisson_likelihood_whose_loss_is_negative_converges_by_newton():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 2, size=500)
    y = rng.poisson(np.exp(0.5 + 0.8 * x)).astype(float)
    model = Model.supervised("a + b*x", "y", inputs=["x", "y"],
                             loss=lambda eta, target: sp.exp(eta) - target * eta)
    result = symgrad.fit(model, data=np.column_stack([x, y]), backend="numpy")
    assert result.method == "newton" and result.converged and result.loss < 0
    a, b = result.params
    rate = np.exp(a + b * x)  # the score equations of Poisson regression hold
    assert abs(np.sum(rate - y)) < 1e-9 * np.sum(y)
    assert abs(np.sum(x * (rate - y))) < 1e-9 * np.sum(x * y)
    # the likelihood's standard errors: the inverse Fisher information
    fisher = np.array([[np.sum(rate), np.sum(x * rate)], [np.sum(x * rate), np.sum(x * x * rate)]])
    np.testing.assert_allclose(result.stderr, np.sqrt(np.diag(np.linalg.inv(fisher))),
                               rtol=1e-8)


def test_a_start_where_the_loss_is_not_finite_is_refused():
    model = Model.supervised("log(w*t)", "y", inputs=["t", "y"])
    with pytest.raises(SymgradError, match="not finite at the initial parameters"):
        symgrad.fit(model, data=_decay()[1:], theta0=[-1.0], backend="numpy")


@pytest.mark.parametrize("method", ["lm", "newton", "lbfgs"])
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_a_row_whose_loss_is_not_finite_at_the_start_is_named(method, backend):
    # sqrt of a negative x is nan whatever a is: the error names the first such row (found
    # by halving the rows) before the advice about the start
    x = np.linspace(1, 4, 40)
    x[[23, 31]] = -2.0
    data = {"x": x, "y": np.sqrt(np.abs(x))}
    model = Model.supervised("a*sqrt(x)", "y", inputs=["x"])
    with pytest.raises(SymgradError, match=r"^data row 23 \(x = -2, y = 1.41421\): the loss "
                                           r"or its (gradient|derivatives) (is|are) not "
                                           r"finite at the initial parameters"):
        symgrad.fit(model, data=data, theta0=[1.0], method=method, backend=backend)
    x[[23, 31]] = 2.0  # and where every row is finite, the fit runs
    assert symgrad.fit(model, data=data, theta0=[1.0], method=method).converged


def test_a_row_whose_weight_expression_is_negative_is_named():
    # (x2 - 3)*(f - y)**2: the loss and gradient are finite where x2 < 3, the residual
    # sqrt(x2 - 3)*(f - y) is not; the Gauss-Newton pass names the row
    data = {"x1": np.array([1.0, 2, 3, 4]), "x2": np.array([5.0, 4, 1, 6]),
            "y": np.array([2.0, 3, 4, 5])}
    model = Model.of("(x2 - 3)*(a*log(x1) + b*x2 - y)**2", ["a", "b"], ["x1", "x2", "y"])
    with pytest.raises(SymgradError, match=r"^data row 2 \(x1 = 3, x2 = 1, y = 4\): "):
        symgrad.fit(model, data=data, theta0=[1.0, 1.0])


def test_a_loss_without_a_minimum_is_not_called_converged():
    result = symgrad.fit("a*t + b - y", ["a", "b"], ["t", "y"], _decay(), [0.0, 0.0],
                         backend="numpy")
    assert not result.converged and "no minimum" in result.reason


def test_a_step_overshooting_past_the_edge_from_far_inside_is_no_edge():
    # from D = 1e300 the run stalls at D = 1.9e276, where a step along D overshoots to
    # -1.8e276: it was "D at its edge ... check the model and the data (a sign?)"
    t = np.linspace(-10, 10, 41)
    rows = np.column_stack([t, 2 * np.sinc(0.8 * t / np.pi)])
    far = symgrad.fit("(A*sinc(k*t) + sqrt(D) - y)**2", ["A", "D", "k"], ["t", "y"], rows,
                      [1.0, 1e300, 1.0], method="lm")
    assert not far.converged and "at its edge" not in far.reason, far.reason
    assert far.params[1] > 1e200


def test_lbfgs_whose_line_search_meets_nan_goes_on_along_one_parameter():
    # log(b*x) on y = -100 + log(x): b is 3.7e-44; lbfgs's line search met nan (b < 0) from
    # b = 6.8e-21 and stopped there, blaming the domain's edge. A shorter move of b alone
    # lowers the loss, so the run goes on from there, and reaches b
    x = np.linspace(0.5, 3, 40)
    fitted = symgrad.fit("(log(b*x) - y)**2", ["b"], ["x", "y"],
                         np.column_stack([x, -100 + np.log(x)]), method="lbfgs")
    assert fitted.converged and fitted.params[0] == pytest.approx(np.exp(-100), rel=1e-9)


@pytest.mark.parametrize("method", ["auto", "newton"])
def test_separable_classes_under_bce_are_no_minimum_unless_penalized(method):
    # the loss falls towards 0 as a grows: at a = 8e3 it is 1e-308, its gradient and Hessian
    # 0 in float64, and the fit said "converged (the gradient is zero)". (lbfgs stops earlier,
    # at a loss of 1e-55 whose curvature is not 0, "converged": not caught)
    t = np.linspace(0, 5, 30)
    data = np.column_stack([t, (t > 2.5).astype(float)])
    loss = ("bce(sigmoid(a*t + b), y)", ["a", "b"], ["t", "y"], data)
    separated = symgrad.fit(*loss, method=method)
    assert not separated.converged and "no minimum" in separated.reason, separated.reason
    assert "--l2" in separated.reason and separated.params[0] > 10
    penalized = symgrad.fit(*loss, method=method, l2=0.01)
    assert penalized.converged and 1 < penalized.params[0] < 10, penalized.reason


@pytest.mark.parametrize("method", ["lm", "newton"])
def test_a_tol_below_float64s_resolution_converges_where_nothing_can_be_resolved(method):
    # tol 1e-300 asks for more than float64 holds: the run ends at the same optimum,
    # converged because no further reduction is possible, not 'too badly scaled'
    fits = [symgrad.fit(DECAY, data=_decay(), theta0=[1.0, 0.1, 0.0], method=method, tol=tol)
            for tol in (1e-8, 1e-300)]
    assert fits[1].converged and "float64" in fits[1].reason, fits[1].reason
    np.testing.assert_allclose(fits[1].params, fits[0].params, rtol=1e-9)


@pytest.mark.parametrize("method", ["lm", "newton"])
def test_an_optimum_beyond_1e100_that_the_data_determine_is_converged(method):
    # data of size 1e100: the parameters are as large, and their standard errors far smaller
    rng = np.random.default_rng(4)
    t = np.linspace(0, 1, 40)
    y = (2 * t + 1 + 0.01 * rng.normal(size=t.size)) * 1e100
    model = Model.supervised("a*t + b", "y", inputs=["t"])
    result = symgrad.fit(model, data={"t": t, "y": y}, theta0=[1.0, 1.0], method=method)
    assert result.converged, result.reason
    exact = np.linalg.lstsq(np.c_[t, np.ones_like(t)], y, rcond=None)[0]
    np.testing.assert_allclose(result.params, exact, rtol=1e-10)


SCALED_DECAY = Model.supervised("a*exp(-k*t) + c", "y", inputs=["t", "y"])


@settings(max_examples=25, deadline=None)
@given(exponent=st.integers(min_value=-140, max_value=140),
       method=st.sampled_from(["lm", "newton"]))
def test_a_nonlinear_fit_is_the_same_whatever_the_scale_of_the_data(exponent, method):
    # a and c come out at the data's scale, k does not: the diagonal of J^T J spans
    # scale**2 (1e280 here). Each scale gives the fit of the unscaled data, step for step
    # (a floor relative to the largest diagonal once froze a, c or k: 4 digits off at 1e60,
    # stalled at 1e-100, 'badly scaled' at 1e100; the first radius overflowed at 1e150)
    data, scale = _decay(rows=30, seed=2), 10.0 ** exponent
    data[:, 1] *= scale
    units = np.array([scale, scale, 1.0])                 # a, c, k (sorted)
    unscaled = symgrad.fit(SCALED_DECAY, data=_decay(rows=30, seed=2), method=method,
                           theta0=[2.0, 0.5, 0.3])
    result = symgrad.fit(SCALED_DECAY, data=data, method=method, theta0=[2.0, 0.5, 0.3] * units)
    assert result.converged, result.reason
    np.testing.assert_allclose(result.params / units, unscaled.params, rtol=1e-9)
    np.testing.assert_allclose(result.stderr / units, unscaled.stderr, rtol=1e-6)
    assert abs(result.iterations - unscaled.iterations) <= 1


@settings(max_examples=40, deadline=None)
@given(y_exponent=st.integers(min_value=-290, max_value=290),
       t_exponent=st.integers(min_value=-140, max_value=140),
       method=st.sampled_from(["lm", "lbfgs"]))
def test_a_decay_held_as_j_is_fitted_at_any_scale_float64_holds(y_exponent, t_exponent,
                                                                method):
    # residuals of 1e+-290 and derivatives dr/dk of y * t: their squares and products leave
    # float64; restated in units near 1 (symgrad.scaling) each is the unscaled fit, rescaled.
    # (dr/dk itself must be a float64: |y_exponent + t_exponent| below ~300)
    assume(abs(y_exponent + t_exponent) <= 290)
    data = _decay(rows=30, seed=2)
    units = np.array([10.0 ** y_exponent, 10.0 ** y_exponent, 10.0 ** -t_exponent])
    unscaled = symgrad.fit(SCALED_DECAY, data=data, method=method, theta0=[2.0, 0.5, 0.3])
    result = symgrad.fit(SCALED_DECAY, data=data * [10.0 ** t_exponent, 10.0 ** y_exponent],
                         method=method, theta0=[2.0, 0.5, 0.3] * units)
    assert result.converged and not result.warnings, (result.reason, result.warnings)
    # lbfgs stops where the loss changed by less than tol**2 (1e-16 of it), which leaves the
    # parameters within ~1e-8 of the optimum: the two runs stop at points 1.3e-8 apart
    # (y_exponent -58, t_exponent -18 on this AVX2 machine)
    close = 1e-8 if method == "lm" else 1e-7
    np.testing.assert_allclose(result.params / units, unscaled.params, rtol=close)
    np.testing.assert_allclose(result.stderr / units, unscaled.stderr, rtol=1e-7)


def test_the_unscaled_decay_fit_is_scipys():
    scipy_optimize = pytest.importorskip("scipy.optimize")  # in the test extra (scikit-learn)
    t, y = _decay(rows=30, seed=2).T
    reference = scipy_optimize.least_squares(lambda p: p[0] * np.exp(-p[2] * t) + p[1] - y,
                                             [2.0, 0.5, 0.3], method="lm", xtol=1e-15,
                                             ftol=1e-15, gtol=1e-15).x    # a, c, k
    result = symgrad.fit(SCALED_DECAY, data=np.column_stack([t, y]), theta0=[2.0, 0.5, 0.3])
    np.testing.assert_allclose(result.params, reference, rtol=1e-9)


@pytest.mark.parametrize("method", ["lm", "lbfgs"])
def test_residuals_whose_squares_underflow_are_fitted_as_the_unscaled_data(method):
    # residuals of 1e-300 square to 0 in float64: the fit said "converged" at its start.
    # Least squares holding J run in units where r and J are near 1 (symgrad.scaling)
    data = _decay(rows=30)
    unscaled = symgrad.fit(SCALED_DECAY, data=data, theta0=[1.0, 0.0, 0.3], method=method)
    data[:, 1] *= 1e-300
    result = symgrad.fit(SCALED_DECAY, data=data, theta0=[1e-300, 0.0, 0.3], method=method)
    units = np.array([1e-300, 1e-300, 1.0])                                    # a, c, k
    assert result.converged and result.iterations > 0, result.reason
    np.testing.assert_allclose(result.params / units, unscaled.params, rtol=1e-9)
    np.testing.assert_allclose(result.stderr / units, unscaled.stderr, rtol=1e-8)
    assert result.loss == 0.0  # ~1e-600: below float64, as the unscaled loss x 1e-600


def test_a_loss_that_is_zero_at_the_start_says_what_that_can_mean():
    # Newton's Hessian is the kernel's sums: residuals of 1e-300 square to 0 there, nothing
    # can be fitted, and the reason says so
    data = _decay(rows=30)
    data[:, 1] *= 1e-300
    result = symgrad.fit(SCALED_DECAY, data=data, theta0=[1e-300, 0.0, 0.3], method="newton")
    assert result.iterations == 0 and "underflow float64" in result.reason
    assert "rescale the data" in result.reason


@pytest.mark.parametrize(("y", "t", "method"), [(1e-140, 1e-30, "lm"), (1e-140, 1e-30, "lbfgs"),
                                                (1e60, 1.0, "lbfgs"), (1e-100, 1.0, "lbfgs")])
def test_a_derivative_whose_square_underflows_still_moves_its_parameter(y, t, method):
    # k of a*exp(-k*t) + c with y of 1e-140 and t of 1e-30: dr/dk ~1e-170 squares to 0, and
    # k stayed at its start ("converged", a 33% off); L-BFGS's scalar initial Hessian could
    # not span 1e60 between its parameters either
    data = _decay(rows=30)
    unscaled = symgrad.fit(SCALED_DECAY, data=data, theta0=[1.0, 0.0, 0.3])
    units = np.array([y, y, 1 / t])                                            # a, c, k
    result = symgrad.fit(SCALED_DECAY, data=data * [t, y],
                         theta0=np.array([1.0, 0.0, 0.3]) * units, method=method)
    assert result.converged, result.reason
    np.testing.assert_allclose(result.params / units, unscaled.params, rtol=1e-8)
    np.testing.assert_allclose(result.stderr / units, unscaled.stderr, rtol=1e-7)


def test_a_hessian_that_overflows_at_the_answer_ends_the_fit_not_in_a_traceback():
    # a Gaussian on x of size 1e50 and y of 1e120: the exact Hessian's terms overflow, and
    # the saddle check's eigh raised LinAlgError through the CLI; the fit is the unscaled one
    x = np.linspace(0, 10, 60)
    y = 3 * np.exp(-(x - 5) ** 2 / 4.5) + 0.03 * np.random.default_rng(0).normal(size=60)
    model = Model.supervised("a*exp(-(x - m)**2/(2*s**2))", "y", inputs=["x", "y"])
    unscaled = symgrad.fit(model, data=np.column_stack([x, y]), theta0=[2.5, 4.5, 2.0])
    units = np.array([1e120, 1e50, 1e50])                                     # a, m, s
    result = symgrad.fit(model, data=np.column_stack([x * 1e50, y * 1e120]),
                         theta0=[2.5, 4.5, 2.0] * units)
    assert result.converged, result.reason
    np.testing.assert_allclose(result.params / units, unscaled.params, rtol=1e-9)


@settings(max_examples=30, deadline=None)
@given(x_exponent=st.integers(min_value=-140, max_value=140),
       y_exponent=st.integers(min_value=-140, max_value=140))
def test_a_lines_standard_errors_are_the_same_whatever_the_scale(x_exponent, y_exponent):
    # x of 1e-100, y of 1e60: the slope is 2e160 and its variance ~1e316 overflows; it was
    # called 'no minimum' (its standard error inf), and x of 1e120 with y of 1e-60 got inf
    # standard errors. Standard errors come from the scaled inverse, taken at the centre of
    # J^T J's diagonal: each is the unscaled fit's, rescaled
    rng = np.random.default_rng(5)
    x = np.linspace(1, 3, 30)
    y = 2 * x + 1 + 0.1 * rng.normal(size=30)
    model = Model.supervised("m*x + b", "y", inputs=["x", "y"])
    unscaled = symgrad.fit(model, data=np.column_stack([x, y]))
    result = symgrad.fit(model, data=np.column_stack([x * 10.0 ** x_exponent,
                                                      y * 10.0 ** y_exponent]))
    units = np.array([10.0 ** y_exponent, 10.0 ** (y_exponent - x_exponent)])     # b, m
    assert result.converged and not result.warnings, (result.reason, result.warnings)
    np.testing.assert_allclose(result.params / units, unscaled.params, rtol=1e-9)
    np.testing.assert_allclose(result.stderr / units, unscaled.stderr, rtol=1e-9)


@pytest.mark.parametrize("method", ["lm", "newton", "lbfgs"])
@pytest.mark.parametrize("model, edge", [("sqrt(D)*x", 0.0), ("D**0.5*x + c", 0.0),
                                         ("sqrt(D - 1)*x", 1.0)])
def test_a_fit_pinned_at_the_edge_of_the_models_domain_says_so(model, edge, method):
    # the data want D < edge, outside sqrt's domain: every start creeps to the edge, where a
    # step lower is nan. lm said the derivatives were "too badly scaled" and to start
    # elsewhere; Newton (whose exact Hessian curves down there) "converged"; L-BFGS said
    # only that its line search found no lower loss
    data = np.array([[1, -1], [2, -2.1], [3, -2.9], [4, -4.2]], dtype=float)
    result = symgrad.fit(Model.supervised(model, "y", inputs=["x", "y"]), data=data,
                         method=method)
    assert not result.converged and 0 <= result.params[0] - edge < 1e-10, result.params
    prefix = "no step lowers the loss where it is defined: moving D to "
    assert result.reason.startswith(prefix), result.reason
    assert "with D at its edge" in result.reason and "badly scaled" not in result.reason
    value = float(result.reason[len(prefix):].split()[0])
    assert value < edge and value != result.params[0], result.reason  # digits enough to tell
    assert np.isnan(symgrad.compile(Model.supervised(model, "y", inputs=["x", "y"]))  # it
                    .loss_at(np.r_[value, result.params[1:]], data))


def test_an_exact_fit_takes_its_standard_errors_from_float64s_rounding():
    # constant y: a goes to ~1e-18, where k moves no prediction; an RSS of 0 gave all three
    # a standard error of 0 (curve_fit: an infinite covariance). A noiseless decay is
    # determined to rounding's size, not to 0
    model = Model.supervised("a*exp(-k*t) + c", "y", inputs=["t", "y"])
    t = np.arange(1.0, 8.0)
    flat = symgrad.fit(model, data=np.column_stack([t, np.full(7, 2.0)]),
                       theta0=[0.01, 1.5, -0.5])
    fitted, errors = dict(zip(flat.names, flat.params)), dict(zip(flat.names, flat.stderr))
    assert flat.converged and abs(fitted["a"]) < 1e-12 and fitted["c"] == pytest.approx(2.0)
    assert errors["k"] > 10 * abs(fitted["k"]) and 0 < errors["c"] < 1e-14, errors
    exact = symgrad.fit(model, data=np.column_stack([t, 3 * np.exp(-0.5 * t) + 1]))
    np.testing.assert_allclose(exact.params, [3.0, 1.0, 0.5], rtol=1e-12)
    assert np.all((exact.stderr > 0) & (exact.stderr < 1e-13 * np.abs(exact.params)))
    for fit in (flat, exact):
        assert any("exact to float64's rounding" in w for w in fit.warnings), fit.warnings
    noisy = symgrad.fit(model, data=_decay())
    assert not any("rounding" in w for w in noisy.warnings)


def test_targets_whose_squares_overflow_are_fitted_and_their_starts_compared():
    # y of 3e200: the loss is inf in float64, so the starts were not compared ("0 reached it"
    # beside "only 1 of 8 reached this loss"), and an intercept of 1e196 (zero within its
    # error) beside a slope of 3e200 was called a run-off ("the loss has no minimum").
    # Both are judged where the fit ran, in units where the residuals are near 1
    rng = np.random.default_rng(5)
    x = np.linspace(1, 5, 20)
    y = 3.4 * x * (1 + 0.01 * np.sin(7 * x)) + 0.01 * rng.normal(size=20)
    model = Model.supervised("a*x + c", "y", inputs=["x", "y"])
    unscaled = symgrad.fit(model, data=np.column_stack([x, y]))
    result = symgrad.fit(model, data=np.column_stack([x, y * 1e200]))
    assert result.converged and result.reason == unscaled.reason, result.reason
    assert np.isinf(result.loss) and result.starts == 8 and result.reached == 8
    assert result.loss_log2 == pytest.approx(np.log2(unscaled.loss) + 2 * np.log2(1e200),
                                             rel=1e-12)
    np.testing.assert_allclose(result.params / 1e200, unscaled.params, rtol=1e-9)
    np.testing.assert_allclose(result.stderr / 1e200, unscaled.stderr, rtol=1e-9)
    assert not any("reached this loss" in w for w in result.warnings)


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_a_decay_of_targets_far_outside_float64_s_squares_is_fitted_from_its_starts(scale):
    # y of 1e-200: every start's loss read 0 (its squares underflow), so all tied and the
    # first was kept (k -0.002, R^2 0.8, 'converged'); y of 1e200: k ran off to 1e200 in
    # units taken at a start where a was 1e200 too small, and that was called converged
    data = _decay(rows=50, seed=3)
    unscaled = symgrad.fit(DECAY, data=data)
    result = symgrad.fit(DECAY, data=np.column_stack([data[:, 0], data[:, 1] * scale]))
    assert result.converged and result.loss_log2 == pytest.approx(
        np.log2(unscaled.loss) + 2 * np.log2(scale), abs=1e-6)
    np.testing.assert_allclose(result.params / [scale, scale, 1], unscaled.params, rtol=1e-7)
    if scale > 1:  # the CLI's first start (0.1 N(0, 1)) alone: k runs off, and says so
        one = symgrad.fit(DECAY, data=np.column_stack([data[:, 0], data[:, 1] * scale]),
                          theta0=0.1 * np.random.default_rng(0).standard_normal(3))
        assert not one.converged and "no minimum" in one.reason, one.reason


def test_starts_whose_losses_overflow_are_ranked_by_their_log2():
    from symgrad.starts import _lowest, _same

    fits = [_fit_at(loss, log2) for loss, log2 in ((np.inf, 700.5), (np.inf, 690.25),
                                                    (np.inf, np.nan), (np.inf, 690.25))]
    assert _lowest(fits) is fits[1] and _same(fits[3], fits[1]) and not _same(fits[0], fits[1])
    assert not _same(fits[2], fits[1])
    finite = _fit_at(5.0, np.nan)
    assert _lowest(fits + [finite]) is finite and not _same(fits[1], finite)


def _fit_at(loss, log2):
    return symgrad.Fit(params=np.zeros(1), names=("a",), method="lm", loss=loss,
                       iterations=1, converged=True, reason="", stderr=np.zeros(1),
                       covariance=None, rows=1, loss_log2=log2)


def test_a_variance_beyond_float64_is_inf_in_the_covariance_and_its_error_finite():
    x = np.linspace(1, 3, 30) * 1e-100
    y = (2e100 * x + 1 + 0.1 * np.random.default_rng(5).normal(size=30)) * 1e60
    result = symgrad.fit(Model.supervised("m*x + b", "y", inputs=["x", "y"]),
                         data=np.column_stack([x, y]))
    assert np.isinf(result.covariance[1, 1]) and 1e157 < result.stderr[1] < 1e159


def test_a_finite_loss_whose_curvature_overflows_says_so():
    # Newton's Hessian is the kernel's sums, whose squares of 1e155 overflow
    x = np.linspace(1, 2, 10) * 1e155
    with pytest.raises(SymgradError, match=r"the loss is finite \(.*\) but its curvature .* "
                       r"overflows float64 .* rescale the data or the parameters"):
        symgrad.fit(Model.supervised("m*x + b", "y", inputs=["x", "y"]),
                    data=np.column_stack([x, 2e-155 * x + 1]), theta0=[1.0, 1e-155],
                    method="newton")


def test_a_line_whose_curvature_overflows_is_fitted_in_scaled_units():
    x = np.linspace(1, 2, 10) * 1e155
    result = symgrad.fit(Model.supervised("m*x + b", "y", inputs=["x", "y"]),
                         data=np.column_stack([x, 2e-155 * x + 1]), theta0=[1.0, 1e-155])
    assert result.converged and result.method == "lm", result.reason
    np.testing.assert_allclose(result.params, [1.0, 2e-155], rtol=1e-12)        # b, m


class StoppedDuringAPass(KernelObjective):
    """Ctrl-C in the middle of the pass with the given number (counting from 1)."""

    def __init__(self, kernel, data, at: int):
        super().__init__(kernel, data)
        self.at, self.count = at, 0

    def residual_rows(self, theta):
        self.count += 1
        if self.count == self.at:
            raise KeyboardInterrupt
        return super().residual_rows(theta)


@pytest.mark.parametrize("at", [1, 2])
def test_an_interrupted_fit_is_not_called_unbounded(at):
    # Ctrl-C during the first pass (the loss not yet known: inf) or the second (parameters of
    # 1e150 at a start far from the optimum): neither says the loss has no minimum
    kernel = symgrad.compile(SCALED_DECAY, backend="numpy", reduction="sum", order=2)
    data = _decay(rows=30)
    data[:, 1] *= 1e150
    objective = StoppedDuringAPass(kernel, data, at)
    assert objective.factored
    result = fit_objective(objective, kernel.params, [20e150, 5e150, 3.0])
    assert result.interrupted and result.reason == "interrupted", result.reason
    assert result.iterations == 0 and not result.converged


@pytest.mark.parametrize("method, expression, leaves", [
    ("lm", "a*sin(k*t)", True), ("newton", "a*sin(k*t)", True),
    ("lm", "a*sin(k*t) + c", True),
    ("newton", "a*sin(k*t) + c", False)])  # c moves first; Newton's own step then curves off
def test_a_fit_from_a_saddle_walks_off_it_to_the_minimum(method, expression, leaves):
    # from zeros a*sin(k*t) has g = 0 (and with + c, lm reaches a = k = 0 after moving c):
    # the exact Hessian there is indefinite, and the fit leaves along its falling direction
    t = np.linspace(0.1, 3, 50)
    data = np.column_stack([t, 3 * np.sin(0.8 * t)])
    model = Model.supervised(expression, "y", inputs=["t", "y"])
    seen = []
    result = symgrad.fit(model, data=data, method=method, backend="numpy",
                         report=lambda p: seen.append(p.reason))
    fitted = dict(zip(result.names, result.params))
    assert result.converged and ("left a saddle point" in seen) == leaves
    assert abs(fitted["a"]) == pytest.approx(3.0, rel=1e-8)  # (a, k) and (-a, -k) are one fit
    assert fitted["a"] * fitted["k"] == pytest.approx(2.4, rel=1e-8)
    assert result.loss == pytest.approx(0.0, abs=1e-20)


def test_a_stationary_start_without_negative_curvature_says_start_elsewhere():
    # a*b*c*t from zeros: the gradient and the whole Hessian vanish (a third-order saddle),
    # no direction of negative curvature to leave along; a fit from several starts (the
    # default without theta0) leaves it from the others
    t = np.linspace(0.1, 3, 20)
    args = ("(a*b*c*t - y)**2", ["a", "b", "c"], ["t", "y"], np.column_stack([t, 2 * t]))
    stuck = symgrad.fit(*args, backend="numpy", starts=1)
    assert not stuck.converged and stuck.iterations == 0 and list(stuck.params) == [0, 0, 0]
    assert "not positive definite" in stuck.reason and "start elsewhere" in stuck.reason
    left = symgrad.fit(*args, backend="numpy")
    assert left.converged and left.start > 0 and left.starts == 8
    assert np.prod(left.params) == pytest.approx(2, rel=1e-12)


def test_a_product_that_must_flip_its_sign_passes_through_the_saddle():
    # a*b*t + c from a = b = 1 on a falling line: lm's J^T J cannot turn a*b through 0, the
    # fit stalls at a = b = 0 ("no step lowers the loss"); the exact Hessian there is
    # indefinite, and the fit walks on along its falling direction to the minimum
    rng = np.random.default_rng(4)
    t, s = np.linspace(0, 4, 40), rng.uniform(0.1, 0.4, 40)
    data = {"t": t, "y": 3 * np.exp(-0.8 * t) + 0.5 + rng.normal(size=40) * s, "w": s ** -2}
    loss = "w*(a*b*t + c - y)**2"
    slope, intercept = np.polyfit(t, data["y"], 1, w=1 / s)
    for start in ([1, 1, 0], [1, -1, 0]):
        fitted = symgrad.fit(loss, ["a", "b", "c"], ["t", "y", "w"], data, start)
        assert fitted.method == "lm" and fitted.converged
        assert fitted.params[0] * fitted.params[1] == pytest.approx(slope, rel=1e-8)
        assert fitted.params[2] == pytest.approx(intercept, rel=1e-8)


def test_a_zero_gradient_start_with_positive_curvature_is_the_minimum():
    data = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])  # sum y = sum ty = 0
    result = symgrad.fit(Model.supervised("a*t + b", "y", inputs=["t", "y"]), data=data,
                         backend="numpy")
    assert result.converged and result.reason == "the gradient is zero"
    assert result.iterations == 0 and list(result.params) == [0.0, 0.0]


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("order", [["a", "b", "c"], ["a", "c", "b"]])
def test_a_parameter_the_loss_does_not_use_stays_where_it_started(backend, order):
    # (rounding noise along a flat direction, divided by its zero eigenvalue, threw it to
    # -7e9 on numba)
    result = symgrad.fit("(a*t + b - y)**2", order, ["t", "y"], _decay(),
                         [1.0, 0.0, 0.25] if order[2] == "c" else [1.0, 0.25, 0.0],
                         backend=backend)
    assert result.converged and dict(zip(result.names, result.params))["c"] == 0.25


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_collinear_columns_get_no_step_along_the_combination_the_data_do_not_see(backend):
    # u*t + v*s with s = t: only u + v is determined; from equal starts, the steps move
    # both alike (none of the rounding-noise step along u - v), to the least-squares sum
    rng = np.random.default_rng(0)
    t = np.linspace(0, 3, 30)
    data = {"t": t, "s": t.copy(), "y": 1.5 * t + 0.3 + rng.normal(0, 0.1, 30)}
    fit = symgrad.fit("(u*t + v*s + c - y)**2", ["u", "v", "c"], ["t", "s", "y"], data,
                      [0.2, 0.2, 0.0], backend=backend)
    slope, intercept = np.polyfit(t, data["y"], 1)
    assert fit.converged and fit.params[0] == pytest.approx(fit.params[1], rel=1e-12)
    assert fit.params[0] + fit.params[1] == pytest.approx(slope, rel=1e-10)
    assert np.isinf(fit.stderr[:2]).all() and np.isfinite(fit.stderr[2])


def _steps_then_nothing(steps):
    """A region_step that takes the given steps, then none (Newton's, undamped)."""
    steps = iter(np.array([s]) for s in steps)

    def forced(B, g, scale, radius):
        step = next(steps, np.zeros(1))
        return step, 0.0, -float(g @ step + 0.5 * step @ B @ step)
    return forced


def test_an_exact_fit_is_converged_even_where_its_last_step_loses_precision(monkeypatch):
    # the step is forced to nothing once the loss is 1e-20 of the start's: no step lowers
    # it, a coordinate step "would take 100% off" (of rounding), taken it takes nothing off
    # (the loss's floor of rounding), and that is an exact fit
    def quantities(theta):
        r = theta[0] - 1.0
        return max(r * r, 1e-18), np.array([2 * r]), np.array([[2.0]])
    monkeypatch.setattr(solvers, "region_step", _steps_then_nothing([1.0 + 1e-10]))
    progress = solvers.Progress(theta=np.array([0.0]))
    solvers.trust_region(quantities, progress, 1e-10, 50)
    assert progress.converged and "exact fit" in progress.reason
    assert progress.theta[0] == 1.0 + 1e-10


def test_a_stop_short_of_the_minimum_takes_the_coordinate_step_that_lowers_the_loss(
        monkeypatch):
    # the forced steps go nowhere from 1 + 1e-10, but a Newton step along the one
    # parameter reaches the minimum: taken, an iteration, and the run converges there
    def quantities(theta):
        r = theta[0] - 1.0
        return r * r, np.array([2 * r]), np.array([[2.0]])
    monkeypatch.setattr(solvers, "region_step", _steps_then_nothing([1.0 + 1e-10]))
    progress = solvers.Progress(theta=np.array([0.0]))
    solvers.trust_region(quantities, progress, 1e-10, 50)
    assert progress.converged and progress.theta[0] == 1.0 and progress.iterations == 2


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_a_start_whose_steps_lose_precision_goes_on_by_coordinate_steps(backend):
    """exp(25*t) up to t = 10: the derivatives span 1e0 to 1e230 and the solved steps stop
    short (a step along c alone would still take 67% of the loss off). That step is taken,
    and the fit goes on by such steps to a spike fitted to the last rows (c the mean of y, k
    still -25: along k the loss moved below float64's resolution). The residuals fell 1e100
    on the way, so the fit is restated there and run again, in units where k moves: it was
    "converged" at that spike, which is no minimum (the loss keeps falling as k rises)."""
    seen = []
    result = symgrad.fit(DECAY, data=_decay(), theta0=[1e6, 0.0, -25.0], backend=backend,
                         max_iter=300, report=lambda progress: seen.append(
                             (progress.loss, progress.theta[2])))
    assert any(loss == pytest.approx(82.08, rel=1e-3) and k == pytest.approx(-25.0, rel=1e-12)
               for loss, k in seen)  # the spike
    assert not result.converged and result.loss < 82.0 and result.params[2] > -24.0, \
        result.reason
    good = symgrad.fit(DECAY, data=_decay(), theta0=[1.0, 0.0, 1.0], backend=backend)
    assert good.converged and good.params[2] == pytest.approx(0.4, rel=0.05)


def test_a_model_without_parameters_is_refused():
    with pytest.raises(SymgradError, match="no parameters"):
        symgrad.fit("(2*t - y)**2", [], ["t", "y"], _decay(), backend="numpy")


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_a_model_without_parameters_compiles_to_second_order_and_is_refused_by_fit(backend):
    """Its Jacobian's row loop stores nothing (printer.closed_blocks gives it a ``pass``)."""
    model = symgrad.Model.supervised("3.0 + t/7", target="y", inputs=["t"])
    kernel = symgrad.compile(model, order=2, backend=backend)
    assert kernel.params == () and kernel.predict([], _decay()).shape == (len(_decay()),)
    with pytest.raises(SymgradError, match="no parameters"):
        symgrad.fit(model, data=_decay(), backend=backend)


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_only_the_parameters_the_data_do_not_determine_get_infinite_errors(loss):
    # a*b*t + c: only the product a*b is determined, and c is, whatever a and b are; z not
    # at all. c's standard error is that of the same fit written m*t + c (pseudo-inverse;
    # least squares: degrees of freedom rows - rank), a, b and z's are inf, and named
    rng = np.random.default_rng(0)
    t = np.linspace(-1.5, 1.5, 60)
    y = rng.uniform(size=60) < 1 / (1 + np.exp(-1.7 * t - 0.3)) if loss == "bce" else \
        1.7 * t + 0.3 + rng.normal(size=60) * 0.05
    data = {"t": t, "y": y.astype(float)}
    row_loss = {"mse": "(f - y)**2", "bce": "-y*log(sigmoid(f)) - (1 - y)*log(1 - sigmoid(f))"}
    full, plain = (symgrad.fit(row_loss[loss].replace("f", f"({model})"), params, ["t", "y"],
                               data, theta0, backend="numpy")
                   for model, params, theta0 in (("a*b*t + c", "a b c z".split(), [1, 2, 0, 0]),
                                                 ("m*t + c", ["m", "c"], [2, 0])))
    assert full.names == ("a", "b", "c", "z") and full.converged
    assert np.all(np.isinf(full.stderr[[0, 1, 3]]))
    assert math.isclose(full.stderr[2], plain.stderr[1], rel_tol=1e-6)
    assert full.dof == plain.dof
    assert np.isnan(full.covariance[2, [0, 1, 3]]).all() and np.isfinite(full.covariance[2, 2])
    assert "standard errors of a, b, z are infinite" in full.warnings[0]


def test_the_pseudo_inverse_of_a_singular_matrix_is_the_determined_block_s_covariance():
    # J^T J of columns (u, 2u, v): the first two undetermined, the third's variance the one
    # from (u, v) alone, exactly; a clearly indefinite matrix has none
    rng = np.random.default_rng(3)
    u, v = rng.normal(size=(2, 40))
    jtj = np.column_stack([u, 2 * u, v + 0.3 * u]).T @ np.column_stack([u, 2 * u, v + 0.3 * u])
    pair = np.column_stack([u, v + 0.3 * u])
    inverse = uncertainty.inverse(jtj)
    assert inverse.rank == 2 and np.isinf(inverse.matrix[[0, 1], [0, 1]]).all()
    assert math.isclose(inverse.matrix[2, 2], np.linalg.inv(pair.T @ pair)[1, 1], rel_tol=1e-10)
    assert uncertainty.inverse(np.array([[1.0, 2.0], [2.0, 1.0]])) is None


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "bfgs"}, "unknown method"),
    ({"l2": -1.0}, "l2 must be"),
    ({"tol": 0.0}, "tol must be"),
    ({"max_iter": 0}, "max_iter must be"),
    ({"l2": 1.0, "l2_exclude": ["z"]}, "not a parameter"),
    ({"theta0": [1.0]}, r"theta0 has shape \(1,\); expected \(3,\) for params a, c, k"),
    ({"theta0": [10**400, 0, 0]}, r"theta0\[0\] \(a\) is inf"),  # (was an OverflowError)
    ({"theta0": ["1", "2", "3"]}, "theta0 must be real numbers"),
    ({"method": "lm", "loss": "bce"}, "sum of squares"),
])
def test_fit_refusals(kwargs, message):
    model = DECAY
    if kwargs.pop("loss", None) == "bce":
        model = Model.supervised("sigmoid(a*t + c + k)", "y", loss="bce", inputs=["t", "y"])
    with pytest.raises(SymgradError, match=message):
        symgrad.fit(model, data=_decay(), backend="numpy", **kwargs)


@pytest.mark.parametrize("degree", [3, 4])
def test_a_polynomial_in_calendar_years_fits_as_well_as_a_qr_of_its_jacobian(degree):
    # J's condition is 1e8 (cubic) to 7e10 (quartic) once its columns are scaled, J^T J's
    # 1e16 to 5e21: from the sums the fit wandered 1,000 iterations and every standard
    # error was inf; from J itself (a Gram: its SVD) it is numpy.linalg.lstsq's fit
    rng = np.random.default_rng(0)
    x = np.linspace(1990, 2020, 60)
    y = np.polyval(rng.normal(size=degree + 1), (x - 2005) / 15) + 0.05 * rng.normal(size=60)
    names = [f"b{k}" for k in range(degree + 1)]
    model = " + ".join(f"b{k}*x**{k}" for k in range(degree + 1))
    result = symgrad.fit(f"({model} - y)**2", names, ["x", "y"], {"x": x, "y": y},
                         backend="numpy")
    columns = np.vander(x, degree + 1, increasing=True)
    size = np.abs(columns).max(axis=0)
    coefficients = np.linalg.lstsq(columns / size, y, rcond=None)[0] / size
    q, r = np.linalg.qr(columns / size)
    rss = float(np.sum((columns @ coefficients - y) ** 2))
    inverse = np.linalg.inv(r)
    stderr = np.sqrt(np.diag(inverse @ inverse.T) * rss / (60 - degree - 1)) / size
    assert result.converged and not result.warnings
    np.testing.assert_allclose(result.params, coefficients, rtol=1e-5)
    np.testing.assert_allclose(result.stderr, stderr, rtol=1e-5)


def test_the_factored_and_the_summed_curvature_give_one_fit_where_both_are_exact():
    # a well-conditioned decay: J (its SVD) or J^T J (its eigh), the same optimum and errors
    data = _decay()
    kernel = symgrad.compile(DECAY, reduction="sum", order=2, backend="numpy")
    factored = KernelObjective(kernel, data)
    summed = KernelObjective(kernel, data)
    summed.factored = False
    assert factored.factored
    start = [1.0, 0.0, 1.0]
    one = fit_objective(factored, kernel.params, start)
    other = fit_objective(summed, kernel.params, start)
    np.testing.assert_allclose(one.params, other.params, rtol=1e-9)
    np.testing.assert_allclose(one.stderr, other.stderr, rtol=1e-7)
    assert type(one.params) is np.ndarray  # no Gram leaks out of the solver


def test_a_fit_in_scaled_units_reports_and_stops_in_the_parameters_own():
    # y of 1e-140 and t of 1e-30: the fit runs in scaled units (symgrad.scaling); what it
    # reports, and where a Ctrl-C leaves it, are in the parameters' own units
    kernel = symgrad.compile(SCALED_DECAY, backend="numpy", reduction="sum", order=2)
    data = _decay(rows=30) * [1e-30, 1e-140]
    theta0 = [2e-140, 0.5e-140, 0.3e30]
    seen = []
    whole = fit_objective(KernelObjective(kernel, data), kernel.params, theta0,
                          report=lambda progress: seen.append(progress))
    assert whole.converged and len(seen) == whole.iterations
    np.testing.assert_array_equal(seen[-1].theta, whole.params)
    assert seen[-1].loss == whole.loss and 1e-284 < whole.loss < 1e-281  # RSS ~0.0076
    stopped = fit_objective(StoppedDuringAPass(kernel, data, 4), kernel.params, theta0)
    assert stopped.interrupted and stopped.iterations >= 1
    np.testing.assert_allclose(stopped.params / whole.params, 1, rtol=0.5)
    assert 1e-284 < stopped.loss < 1e-276


@pytest.mark.parametrize("scale", [1e-100, 1e-150, 1e-250])
def test_a_start_far_above_the_datas_scale_is_restated_where_the_fit_stops(scale):
    # a start of 1 on y of 1e-100: no restating at the start (residuals ~1), the loss fell
    # 1e200 and the fit called that an exact fit with k at its start; it is restated and run
    # again where it stopped (symgrad.scaling.MOVED)
    data = _decay(rows=30, seed=2)
    unscaled = symgrad.fit(SCALED_DECAY, data=data, theta0=[2.0, 0.5, 0.3])
    result = symgrad.fit(SCALED_DECAY, data=data * [1.0, scale], theta0=[1.0, 1.0, 1.0])
    units = np.array([scale, scale, 1.0])
    assert result.converged, result.reason
    np.testing.assert_allclose(result.params / units, unscaled.params, rtol=1e-8)
    np.testing.assert_allclose(result.stderr / units, unscaled.stderr, rtol=1e-7)


def test_an_l2_penalty_beyond_float64_in_the_restated_units_still_restates():
    # data of 1e-250 with l2 = 3: the penalty on k is ~1e500 times the loss; it pins k to 0,
    # and a = c then minimize sum (2a - y)**2 + 3a**2: a = sum y / (2n + 1.5). The fit had
    # fallen back to the unscaled sums ("converged" at the start, R^2 -7)
    data = _decay(rows=30, seed=2) * [1.0, 1e-250]
    result = symgrad.fit(SCALED_DECAY, data=data, theta0=[1e-250, 0.0, 1.0], l2=3.0)
    share = data[:, 1].sum() / (2 * 30 + 1.5)
    assert result.converged, result.reason
    np.testing.assert_allclose(result.params[:2], [share, share], rtol=1e-9)
    assert abs(result.params[2]) < 1e-200


def test_a_loss_without_a_minimum_that_overflows_on_a_restart_stops_without_a_traceback():
    # (yhat - y) summed falls without bound: Newton left a saddle towards -inf, and its
    # restart met a curvature beyond float64 (a ZeroDivisionError in the trust region's
    # damping once, then a refusal 'at the initial parameters' with nothing saved)
    result = symgrad.fit("a*exp(-k*t) + c - y", ["a", "c", "k"], ["t", "y"],
                         _decay(rows=30, seed=2))
    assert not result.converged
    assert "no minimum" in result.reason


def test_a_far_start_that_leaves_a_parameter_stuck_is_a_stall_not_an_exact_fit():
    # from a = 1e10, k = 1000 (found by a stranger): exp(-1000 t) is 0 beyond the first row,
    # so k is stuck, and the loss fell 1e-18 of its start onto a and c's best for that k.
    # It was called an exact fit (a + c 1.3 off the first row). The coordinate steps finish
    # a and c (the first, along k, goes nowhere), and the stop is a stall, not converged
    data = _decay(rows=30, seed=2)
    result = symgrad.fit(DECAY, data=data, theta0=[1e10, 0.0, 1000.0])
    a, c, k = result.params
    assert not result.converged and "no step computed in float64" in result.reason
    assert k == 1000.0  # with k there, row 0 fits a + c and the others c: their mean
    assert c == pytest.approx(data[1:, 1].mean(), rel=1e-9)
    assert a + c == pytest.approx(data[0, 1], rel=1e-9)


def test_an_exact_fit_from_a_far_start_is_still_one():
    t = np.linspace(0, 10, 30)
    data = np.column_stack([t, 2.5 * np.exp(-0.4 * t) + 0.3])
    result = symgrad.fit(DECAY, data=data, theta0=[1e6, 1e3, 1.0])  # a, c, k
    assert result.converged, result.reason
    np.testing.assert_allclose(result.params, [2.5, 0.3, 0.4], rtol=1e-10)


def test_a_loss_with_no_curvature_says_so_and_gives_no_standard_errors():
    """|w*a - y| is linear between its kinks: its Hessian is 0 at the fit. That is the loss's
    doing, not the data's: said so, with the errors not computed (nan), not called
    infinite as for parameters the data do not determine."""
    rng = np.random.default_rng(3)
    a = rng.uniform(0.1, 2.0, size=41)
    data = np.column_stack([a, 0.7 * a + 0.1 * rng.standard_normal(41)])
    fit = symgrad.fit("abs(w*a - y)", ["w"], ["a", "y"], data, theta0=[1.0], method="newton")
    ratios = np.sort(data[:, 1] / a)  # the optimum: a weighted median of y/a, weights a
    weights = a[np.argsort(data[:, 1] / a)]
    median = ratios[np.searchsorted(np.cumsum(weights), weights.sum() / 2)]
    assert fit.params[0] == pytest.approx(median, rel=1e-9)
    assert np.isnan(fit.stderr).all()
    assert any("the loss has kinks in the parameters" in w for w in fit.warnings)
    assert not any("infinite" in w for w in fit.warnings)


def _l1_cases():
    rng = np.random.default_rng(1)
    x = np.linspace(0, 10, 50)
    S = np.linspace(0.1, 10, 40)
    t = np.linspace(0, 5, 60)
    return [("a*x + b", ["a", "b"], x, 2 * x + 1 + rng.standard_t(2, size=50),
             lambda p, x: p[0] * x + p[1]),
            ("Vm*x/(Km + x)", ["Km", "Vm"], S, 5 * S / (2 + S) + 0.1 * rng.normal(size=40),
             lambda p, x: p[1] * x / (p[0] + x)),
            ("a*exp(-k*x) + c", ["a", "c", "k"], t,
             3 * np.exp(-0.7 * t) + 0.5 + 0.05 * rng.standard_t(3, size=60),
             lambda p, x: p[0] * np.exp(-p[2] * x) + p[1])]


@pytest.mark.parametrize("case", range(3), ids=["line", "michaelis", "decay"])
def test_an_l1_fit_runs_lbfgs_and_reaches_the_minimum(case):
    # abs(model - y) has its minimum at a kink: Newton, on the Hessian beside it, ended 0.02%
    # to 41% above it (and called two of these saddles, reading the Hessian alone). auto
    # now runs lbfgs; the reference is Nelder-Mead from three starts, to 1e-13
    from scipy.optimize import minimize

    model, names, x, y, f = _l1_cases()[case]
    loss = lambda p: np.sum(np.abs(f(p, x) - y))  # noqa: E731
    reference = min((minimize(loss, x0, method="Nelder-Mead",
                              options={"xatol": 1e-13, "fatol": 1e-13, "maxiter": 40000,
                                       "maxfev": 40000})
                     for x0 in (np.ones(len(names)), np.full(len(names), 0.5),
                                np.array([2.0, 5.0, 0.7][:len(names)]))), key=lambda r: r.fun)
    fitted = symgrad.fit(f"abs({model} - y)", names, ["x", "y"], np.column_stack([x, y]))
    assert fitted.method == "lbfgs" and fitted.converged, fitted.reason
    assert fitted.loss <= reference.fun * (1 + 1e-8)
    assert np.isnan(fitted.stderr).all()
    assert any("the loss has kinks in the parameters" in w for w in fitted.warnings)
    newton = symgrad.fit(f"abs({model} - y)", names, ["x", "y"], np.column_stack([x, y]),
                         method="newton")
    assert newton.loss > reference.fun * (1 + 1e-5)  # (why auto no longer picks it)


def test_huber_s_loss_keeps_its_standard_errors_where_mae_has_none():
    # both have kinks in the parameters (abs), so both run lbfgs; Huber's gradient is
    # continuous (its kinks are in the second derivative), and its Hessian, checked against
    # central differences of the gradient at the fit, gives the standard errors
    data, names = _decay(), (["a", "c", "k"], ["t", "y"])
    r = "(a*exp(-k*t) + c - y)"
    huber = f"where(abs({r}) < 0.05, {r}**2/2, 0.05*abs({r}) - 0.00125)"
    fitted = symgrad.fit(huber, *names, data, [2.0, 0.0, 1.0])
    assert fitted.method == "lbfgs" and fitted.converged
    kernel = symgrad.compile(huber, *names, backend="numpy", reduction="sum")
    theta, h = fitted.params, 1e-5
    hessian = np.column_stack([(kernel(theta + h * e, data)[1] - kernel(theta - h * e, data)[1])
                               / (2 * h) for e in np.eye(3)])
    np.testing.assert_allclose(fitted.stderr, np.sqrt(np.diag(np.linalg.inv(hessian))),
                               rtol=1e-4)
    l1 = symgrad.fit(f"abs({r})", *names, data, [2.0, 0.0, 1.0])
    assert l1.method == "lbfgs" and np.isnan(l1.stderr).all()


def test_an_l1_linear_regression_stops_at_its_kink_near_the_lp_minimum():
    # lbfgs zigzags across a kink, where the gradient never vanishes: it ran 1,000 steps
    # (not converged) from some starts. It stops once 10 steps took off less than tol
    from scipy.optimize import linprog

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3)) * rng.uniform(0.5, 3, size=3)
    y = X @ rng.normal(size=3) + 1.5 + 0.3 * rng.normal(size=80)
    design = np.column_stack([X, np.ones(80)])
    lp = linprog(np.concatenate([np.zeros(4), np.ones(160)]),
                 A_eq=np.hstack([design, np.eye(80), -np.eye(80)]), b_eq=y,
                 bounds=[(None, None)] * 4 + [(0, None)] * 160, method="highs")
    fits = [symgrad.fit("abs(w0*x0 + w1*x1 + w2*x2 + b - y)", ["b", "w0", "w1", "w2"],
                        ["x0", "x1", "x2", "y"], np.column_stack([X, y]),
                        0.1 * np.random.default_rng(seed).standard_normal(4))
            for seed in range(4)]
    assert all(f.method == "lbfgs" and lp.fun <= f.loss <= lp.fun * (1 + 1e-4) for f in fits)
    stalled = [f for f in fits if f.converged]  # (from seed 0 it still creeps at 1,000 steps,
    assert len(stalled) >= 3 and all(f.iterations < 200 for f in stalled)  # said so)
    assert all("at a kink" in f.reason or "tol**2" in f.reason for f in stalled)
    assert any("at a kink" in f.reason for f in stalled), [f.reason for f in stalled]


@pytest.mark.parametrize("loss, kinked", [
    ("abs(a*x - y)", True), ("(relu(a*x) - y)**2", True), ("(max(a*x, 0) - y)**2", True),
    ("(where(x > a, x, a) - y)**2", True), ("(where(x > 5, a*x, b*x) - y)**2", False),
    ("(a*abs(x) - y)**2", False), ("(sigmoid(a*x) - y)**2", False),
    ("abs(x)*(a - y)**2", False), ("sqrt((a*x - y)**2)", True), ("((a*x - y)**2)**0.75", True),
    ("((a*x - y)**4)**0.25", True), ("sqrt((a*x - y)**2 + 1)", False),
    ("((a*x - y)**2)**2.5", False), ("sqrt(x**2)*(a - y)**2", False)])
def test_a_kink_counts_where_it_moves_with_a_parameter(loss, kinked):
    # sqrt((yhat - y)**2) is abs(yhat - y): it ran Newton, which stalled "100% of it off"
    params = ["a", "b"] if "b*x" in loss else ["a"]
    kernel = symgrad.compile(loss, params, ["x", "y"], backend="numpy", reduction="sum",
                             order=2)
    assert kernel.kinked is kinked


def test_a_smooth_loss_with_a_where_on_the_data_keeps_newton():
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 10, 80)
    y = np.where(x > 5, 1.5 * x, 0.5 * x) + 0.1 * rng.normal(size=80)
    fitted = symgrad.fit("log(cosh(where(x > 5, a*x, b*x) - y))", ["a", "b"], ["x", "y"],
                         np.column_stack([x, y]))
    assert fitted.method == "newton" and fitted.converged
    assert np.all(np.isfinite(fitted.stderr))


# --- starts (symgrad.starts) -----------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(textbook.CURVES))
def test_a_textbook_curve_fits_without_a_start_as_curve_fit_does_from_a_good_one(name):
    # no theta0: 8 starts, the lowest loss kept; curve_fit from a start near the answer is
    # the reference. Mirror images (-sigma; -w with p + pi; the two exponentials swapped)
    # are the same curve: its predictions and its standard errors, as a set, are compared
    from scipy.optimize import curve_fit

    curve, rows = textbook.CURVES[name], textbook.data(name)
    x, y = rows[curve.column], rows["y"]
    fitted = symgrad.fit(f"({curve.model} - y)**2", list(curve.params), [curve.column, "y"],
                         rows, backend="numpy")
    with np.errstate(invalid="ignore"):  # curve_fit tries K < 0 in the Hill curve's K**n
        best, covariance = curve_fit(curve.predict, x, y, p0=curve.near, xtol=1e-14,
                                     ftol=1e-14, gtol=1e-14, maxfev=20000)
    assert fitted.converged and fitted.starts >= 5 and fitted.reached >= 2  # (a start where
    # the loss is not finite, K <= 0 in K**n, is passed over)
    assert fitted.loss <= np.sum((curve.predict(x, *best) - y) ** 2) * (1 + 1e-9)
    np.testing.assert_allclose(curve.predict(x, *fitted.params), curve.predict(x, *best),
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(np.sort(fitted.stderr), np.sort(np.sqrt(np.diag(covariance))),
                               rtol=1e-4)


def test_one_start_from_near_zero_ends_in_michaelis_mentens_local_minimum():
    # why there are starts: the CLI's old single start puts Km < 0, beside the data's pole
    curve, rows = textbook.CURVES["michaelis"], textbook.data("michaelis")
    args = (f"({curve.model} - y)**2", list(curve.params), ["S", "y"], rows)
    start = 0.1 * np.random.default_rng(0).standard_normal(2)
    one = symgrad.fit(*args, start, backend="numpy")
    several = symgrad.fit(*args, start, backend="numpy", starts=8)
    assert one.starts == 1 and one.params[0] < 0 and one.loss > 100 * several.loss
    assert several.start > 0 and several.params[0] == pytest.approx(2, rel=0.1)


def test_the_first_start_that_reaches_the_minimum_gives_the_single_start_answer_exactly():
    data = _decay()
    one = symgrad.fit(DECAY, data=data, theta0=[1.0, 0.0, 1.0], backend="numpy")
    several = symgrad.fit(DECAY, data=data, theta0=[1.0, 0.0, 1.0], backend="numpy", starts=5)
    assert several.start == 0 and several.starts == 5 and several.reached == 5
    assert list(several.params) == list(one.params) and list(several.stderr) == list(one.stderr)


def test_starts_keep_the_given_values_and_draw_the_rest_from_the_seed():
    from symgrad.starts import candidates

    runs = candidates([5.0, 0.3, -2.0], [False, True, True], 8, seed=3)
    assert len(runs) == 8 and list(runs[0]) == [5.0, 0.3, -2.0] and list(runs[1]) == [5, 1, 1]
    drawn = np.array(runs[2:])
    assert np.all(drawn[:, 0] == 5.0) and np.all((np.abs(drawn[:, 1:]) >= 0.1)
                                                  & (np.abs(drawn[:, 1:]) <= 10))
    assert all(np.array_equal(a, b) for a, b in zip(runs, candidates([5.0, 0.3, -2.0],
                                                                     [False, True, True], 8, 3)))
    assert not np.array_equal(drawn, np.array(candidates([5.0, 0.3, -2.0], [False, True, True],
                                                         8, 4)[2:]))
    assert len(candidates([1.0, 2.0], [False, False], 8, 0)) == 1  # nothing free: one start


def test_a_start_where_the_loss_is_not_finite_is_passed_over_unless_every_one_is():
    # log(b*x): b < 0 gives log of a negative number at every row
    x = np.linspace(1, 5, 20)
    rows = {"x": x, "y": 2 * np.log(3 * x)}
    fitted = symgrad.fit("(a*log(b*x) - y)**2", ["a", "b"], ["x", "y"], rows, [1.0, -1.0],
                         backend="numpy", starts=8)
    assert fitted.converged and fitted.params[1] == pytest.approx(3)
    assert fitted.starts + fitted.skipped == 8 and fitted.skipped >= 1
    with pytest.raises(SymgradError, match="not finite") as every:  # log of -b^2 x: nowhere
        symgrad.fit("(a*log(-b*b*x) - y)**2", ["a", "b"], ["x", "y"], rows, backend="numpy")
    assert "(and at each of the other 7 starts)" in str(every.value)
    with pytest.raises(SymgradError, match="not finite"):
        symgrad.fit("(a*log(b*x) - y)**2", ["a", "b"], ["x", "y"], rows, [1.0, -1.0],
                    backend="numpy")  # one start, given: its error


def test_starts_on_many_rows_are_compared_on_a_sample_and_the_best_finishes_on_all(monkeypatch):
    from symgrad import starts

    monkeypatch.setattr(starts, "SCREEN_ROWS", 50)
    curve = textbook.CURVES["logistic"]
    rows = textbook.data("logistic", rows=400)
    args = (f"({curve.model} - y)**2", list(curve.params), ["t", "y"], rows)
    seen = []
    screened = symgrad.fit(*args, backend="numpy", report=lambda p: seen.append(
        (p.start, p.sampled, p.iterations)))
    direct = symgrad.fit(*args, theta0=screened.params * 1.01, backend="numpy")
    # the starts' steps on the sample are reported as such (a CLI fit on 3M rows was silent
    # for 9 s while they were compared), then the best's on all the rows
    assert {start for start, sampled, _ in seen if sampled == 50} == set(range(8))
    assert {sampled for _, sampled, _ in seen} == {0, 50} and seen[-1][:2] == (screened.start, 0)
    assert screened.converged and screened.rows == 400 and screened.starts == 8
    np.testing.assert_allclose(screened.params, direct.params, rtol=1e-8)
    np.testing.assert_allclose(screened.stderr, direct.stderr, rtol=1e-6)
    assert screened.loss == pytest.approx(direct.loss, rel=1e-12)


def test_starts_must_be_a_whole_number_of_at_least_one():
    for bad in (0, -1, 2.5, True, "8", 1001, 10 ** 11):
        with pytest.raises(SymgradError, match="starts must be"):
            symgrad.fit(DECAY, data=_decay(), backend="numpy", starts=bad)
    with pytest.raises(SymgradError, match="seed must be"):
        symgrad.fit(DECAY, data=_decay(), backend="numpy", seed=-1)


def test_a_stop_while_starts_are_compared_on_a_sample_keeps_the_best_point_so_far(monkeypatch):
    from symgrad import starts

    monkeypatch.setattr(starts, "SCREEN_ROWS", 50)
    sampled, calls = KernelObjective.sampled, []

    def stopping_sample(self, most):
        sample, step = sampled(self, most)
        passes = sample.residual_rows

        def residual_rows(theta):
            calls.append(1)
            if len(calls) == 40:  # within the sample's later starts
                raise KeyboardInterrupt
            return passes(theta)
        sample.residual_rows = residual_rows
        return sample, step

    monkeypatch.setattr(KernelObjective, "sampled", stopping_sample)
    curve = textbook.CURVES["logistic"]
    stopped = symgrad.fit(f"({curve.model} - y)**2", list(curve.params), ["t", "y"],
                          textbook.data("logistic", rows=400), backend="numpy")
    assert stopped.interrupted and stopped.rows == 400 and math.isnan(stopped.loss)
    assert not stopped.converged and stopped.reason == \
        "interrupted while comparing starts on a sample of the rows"
    assert np.all(np.isnan(stopped.stderr)) and "comparing starts" in stopped.warnings[0]
    assert 1 <= stopped.starts < 8 and np.all(np.isfinite(stopped.params))


def test_the_best_start_cut_short_while_compared_goes_on_to_the_end(monkeypatch):
    from symgrad import starts

    monkeypatch.setattr(starts, "SEARCH_STEPS", 3)
    curve = textbook.CURVES["logistic"]
    args = (f"({curve.model} - y)**2", list(curve.params), ["t", "y"], textbook.data("logistic"))
    finished = symgrad.fit(*args, backend="numpy")
    alone = symgrad.fit(*args, theta0=finished.params * 1.001, backend="numpy")
    assert finished.converged and finished.iterations > 3
    np.testing.assert_allclose(finished.params, alone.params, rtol=1e-9)
    short = symgrad.fit(*args, backend="numpy", max_iter=5)
    assert not short.converged and short.iterations == 5
    assert short.reason == "not converged in 5 iterations"


def test_a_screened_best_that_fails_on_a_row_the_sample_left_out_is_not_called_reached(
        monkeypatch):
    # y = 2 log(x - 0.9) + 1 on 400 rows and one row at x = 0.6 that every 8th row skips:
    # the sample's best has b near 0.9, where log(0.6 - b) is not finite
    from symgrad import starts

    monkeypatch.setattr(starts, "SCREEN_ROWS", 50)
    x = np.linspace(1.0, 5.0, 400)
    x[1] = 0.6
    rows = {"x": x, "y": 2 * np.log(np.abs(x - 0.9)) + 1}
    fitted = symgrad.fit("(a*log(x - b) + c - y)**2", ["a", "b", "c"], ["x", "y"], rows,
                         backend="numpy")
    assert fitted.reached == 1 and fitted.start == 0 and fitted.params[1] < 0.6
    assert any("fitted from the first start alone" in w for w in fitted.warnings)
