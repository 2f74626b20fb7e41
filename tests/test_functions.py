"""Each building block's derivative, three ways: the generated program, the closed form, and
central differences of the original expression at 50 digits; the stability rewrites; and, for
every entry of the function registry, its helper in each code dialect against its SymPy
definition, out to |z| = 1000."""
import functools
import itertools
import math

import numpy as np
import pytest
import sympy as sp

from symgrad import bce, derive, elu, leaky_relu, logsumexp, mae, mse, relu, sigmoid, softplus
from symgrad import functions
from symgrad.functions import to_builtins
from symgrad.codegen import numba_backend, numpy_backend
from symgrad.codegen.printer import ScalarPrinter
from symgrad.primitives import PRIMITIVES
from symgrad.rewrite import stabilize
from support import (central_differences, close, closed_form_values, numba_agrees_with_numpy,
                     program_values)

w, a, x, y = sp.symbols("w a x y")

# (name, expression of w (and a), sampler of w avoiding kinks and domain edges)
CASES = [
    ("sigmoid", sigmoid(w * x), None),
    ("tanh", sp.tanh(w * x), None),
    ("relu", relu(w * x), "away-from-0"),
    ("leaky_relu", leaky_relu(w * x), "away-from-0"),
    ("leaky_relu_slope", leaky_relu(w * x, a), "away-from-0"),
    ("elu", elu(w * x), "away-from-0"),
    ("elu_alpha", elu(w * x, a), "away-from-0"),
    ("softplus", softplus(w * x), None),
    ("exp", sp.exp(w * x), None),
    ("log", sp.log(w * x), "positive"),
    ("sqrt", sp.sqrt(w * x), "positive"),
    ("abs", sp.Abs(w * x), "away-from-0"),
    ("sin", sp.sin(w * x), None),
    ("cos", sp.cos(w * x), None),
    ("square", (w * x) ** 2, None),
    ("cube", (w * x + a) ** 3, None),
    ("reciprocal", 1 / (w * x), "away-from-0"),
    ("power", (w * x) ** a, "positive"),
    ("exponent", a ** (w * x), "positive"),
    ("logsumexp", logsumexp(w * x, a, 2 * w), None),
    ("max", sp.Max(w * x, a), "away-from-0"),
    ("mse", mse(sigmoid(w * x + a), y), None),
    ("mae", mae(w * x + a, y), "away-from-0"),
    ("bce", bce(sigmoid(w * x + a), y), None),
]


def sample(rng, kind):
    if kind == "positive":
        return {"w": rng.uniform(0.2, 2.0), "a": rng.uniform(0.2, 2.0), "x": rng.uniform(0.2, 2.0),
                "y": rng.uniform(0, 1)}
    point = {n: rng.uniform(-2, 2) for n in "wax"} | {"y": rng.uniform(0, 1)}
    if kind == "away-from-0":
        point = {n: math.copysign(max(abs(v), 0.3), v) for n, v in point.items()}
        point["y"] = abs(point["y"]) - 1.0  # keep |w*x + a - y| off its kink too
    return point


@pytest.mark.parametrize("name, expr, kind", CASES, ids=[c[0] for c in CASES])
def test_derivative_three_ways(name, expr, kind):
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    params = [s.name for s in sorted(expr.free_symbols & {w, a}, key=str)]
    inputs = [s.name for s in sorted(expr.free_symbols - {w, a}, key=str)]
    gradient = derive(expr, params=params, inputs=inputs)
    for _ in range(5):
        point = sample(rng, kind)
        loss, by_program = program_values(gradient, point)
        by_closed_form = closed_form_values(gradient, point)
        numeric = central_differences(expr, params, point)
        assert close(loss, float(expr.evalf(30, subs={sp.Symbol(k): v for k, v in point.items()})))
        for p in params:
            assert close(by_program[p], numeric[p]), (p, point)
            assert close(by_closed_form[p], numeric[p]), (p, point)


def test_sigmoid_derivative_reuses_the_node():
    z = sp.Symbol("z")
    assert sigmoid(z).fdiff() == sigmoid(z) * (1 - sigmoid(z))
    assert softplus(z).fdiff() == sigmoid(z)
    assert logsumexp(z, w).fdiff(1) == sp.exp(z - logsumexp(z, w))


@pytest.mark.parametrize("before, after", [
    (sp.log(sigmoid(x)), -softplus(-x)),
    (sp.log(1 - sigmoid(x)), -softplus(x)),
    (sp.log(1 + sp.exp(x)), softplus(x)),
    (sp.log(sp.exp(x) + sp.exp(w)), logsumexp(w, x)),
    (bce(sigmoid(x), y), y * softplus(-x) + (1 - y) * softplus(x)),
])
def test_stability_rewrites(before, after):
    assert stabilize(before) == after


@pytest.mark.parametrize("z", [-1000.0, -40.0, 0.0, 40.0, 1000.0])
def test_bce_of_sigmoid_is_finite_for_large_logits(z):
    gradient = derive(bce(sigmoid(w * x), y), params=["w"], inputs=["x", "y"])
    for target in (0.0, 1.0):
        loss, partials = program_values(gradient, {"w": z, "x": 1.0, "y": target})
        assert math.isfinite(loss) and math.isfinite(partials["w"])
        exact = (1 / (1 + sp.exp(-sp.Float(z, 50))) - target).evalf(50)  # sigmoid(z) - y
        assert close(partials["w"], float(exact), rel=1e-12, abs_=1e-300)


# --- the registry: each entry's helper, in each dialect, against its SymPy definition -----------

DIALECTS = {  # dialect: (its printer, the header of the modules it writes); CUDA runs "python"
    "python": (ScalarPrinter, "import math\n"),
    "numba": (numba_backend.NumbaPrinter, numba_backend.HEADER),
    "numpy": (numpy_backend.ReferencePrinter, numpy_backend.HEADER),
}
POINTS = (-1000.0, -40.0, -1.5, -1e-8, 0.0, 1e-8, 1.5, 40.0, 1000.0)  # every argument: z, a, alpha
ABSOLUTE_ERROR = {  # beyond the relative bound: log of a sum, not log1p, where one z_k dominates
    "logsumexp": 2.3e-16,  # logsumexp(-40, -1e-8) = -1e-8 + 4e-18 comes out as -1e-8
}


ORDERS = {"sinc_d": range(4)}  # entries whose last argument is a derivative's order


def registry_calls():
    """(name, a call of the function on as many symbols) for every arity up to 3 each entry
    takes (a call that gains a default argument is left to the call that writes it); an
    entry whose last argument is an order, once per order."""
    for name, entry in PRIMITIVES.items():
        if name in ORDERS:
            for n in ORDERS[name]:
                yield f"{name}-order{n}", getattr(functions, name)(sp.Symbol("z0"), n)
            continue
        for count in range(entry.min_args, int(min(entry.max_args, 3)) + 1):
            call = getattr(functions, name)(*sp.symbols(f"z:{count}"))
            if len(call.args) == count:
                yield f"{name}{count}", call


CALLS = dict(registry_calls())


def variables(call) -> list:
    """The call's arguments that vary over the grid (an order given as a number does not)."""
    return [a for a in call.args if a.is_Symbol]


def arguments(call, point) -> list:
    """The call's arguments at a point of its variables' grid (a column for numpy's)."""
    values = iter(point)
    return [next(values) if a.is_Symbol else float(a) for a in call.args]


def points(count):
    grid = POINTS if count <= 2 else (-1000.0, -1.5, 0.0, 40.0, 1000.0)
    return np.array(list(itertools.product(grid, repeat=count)))


@functools.lru_cache(maxsize=None)
def exact_values(call_id):
    """At every point, the SymPy definition (``as_builtin``) to 60 digits (sinc's third
    derivative at 1e-8 cancels 32 of them), and the scale of the
    error a stable evaluation may make there: |f| + sum |z_i df/dz_i| (the arguments' own
    rounding, carried through)."""
    call = CALLS[call_id]
    builtin = call.as_builtin()
    terms = [builtin, *(z * builtin.diff(z) for z in variables(call))]
    values = []
    for point in points(len(variables(call))):
        at = {z: sp.Float(v, 60) for z, v in zip(variables(call), point)}
        exact = [float(term.xreplace(at).evalf(60)) for term in terms]
        values.append((exact[0], sum(map(abs, exact))))
    return values


def helper_function(dialect, call):
    printer, header = DIALECTS[dialect]
    name, source = printer().helper(call)
    namespace = {}
    exec(compile(header + "\n\n" + source, f"<{dialect} {name}>", "exec"), namespace)
    return namespace[name]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("call_id", CALLS)
def test_helpers_agree_with_the_definition(dialect, call_id):
    call = CALLS[call_id]
    helper = helper_function(dialect, call)
    grid = points(len(variables(call)))
    if dialect == "numpy":  # whole columns at once
        got = list(helper(*arguments(call, grid.T)))
    else:
        got = [helper(*arguments(call, map(float, point))) for point in grid]
    allowed = ABSOLUTE_ERROR.get(type(CALLS[call_id]).__name__, 1e-300)
    for point, value, (exact, scale) in zip(grid, got, exact_values(call_id)):
        assert math.isfinite(value), (point, value)
        assert abs(value - exact) <= 1e-12 * scale + allowed, (point, value, exact)


def test_every_function_class_has_one_complete_registry_entry():
    classes = {cls.__name__: cls for cls in functions.SymgradBase.__subclasses__()}
    assert classes.keys() == PRIMITIVES.keys()
    for name, entry in PRIMITIVES.items():
        assert {"python", "numpy"} <= entry.helpers.keys() <= set(DIALECTS), name
        arities = range(entry.min_args, int(min(entry.max_args, 3)) + 1)
        assert all(classes[name].nargs.contains(k) for k in arities), name


# --- stability rewrites that recognise the textbook spellings ----------------------------------

TEXTBOOK = [  # (name, the loss as users write it, params, inputs)
    ("softmax-ce", "-log(exp(a*x)/(exp(a*x) + exp(w*x) + exp(b)))", "a w b", "x"),
    ("logistic-bce", "bce(1/(1 + exp(-(w*x + b))), y)", "w b", "x y"),
    ("logistic-mse", "(exp(w*x + b)/(1 + exp(w*x + b)) - y)**2", "w b", "x y"),
    ("logistic-log-loss", "-y*log(1/(1 + exp(-w*x))) - (1 - y)*log(1 - 1/(1 + exp(-w*x)))",
     "w", "x y"),
]


@pytest.mark.parametrize("before, after", [
    (1 / (1 + sp.exp(-x)), sigmoid(x)),
    (sp.exp(x) / (1 + sp.exp(x)), sigmoid(x)),
    (-sp.log(sp.exp(x) / (sp.exp(x) + sp.exp(w))), -x + logsumexp(w, x)),
    (sp.log(a * sp.exp(x) / (sp.exp(x) + sp.exp(w))), sp.log(a) + x - logsumexp(w, x)),
    (sp.log(sp.exp(x)), x),
])
def test_textbook_spellings_are_rewritten(before, after):
    assert stabilize(before) == after


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("name, loss, params, inputs", TEXTBOOK, ids=[t[0] for t in TEXTBOOK])
def test_textbook_losses_stay_finite_and_exact_at_extreme_logits(backend, name, loss, params,
                                                                   inputs):
    """Logits near +-1000, where exp overflows: the compiled loss and gradient are finite and
    equal the original expression and SymPy's own derivative of it (no rewrite, no reverse
    accumulation), evaluated at 50 digits, on both CPU backends. (Central differences cannot
    serve here: a gradient of 1e-192 next to a loss of 1 is below 50 digits' resolution.)"""
    import symgrad
    from symgrad import parse_expr

    params, inputs = params.split(), inputs.split()
    kernel = symgrad.compile(loss, params, inputs, backend=backend)
    expression = parse_expr(loss)
    for theta, row in (([1.0] * len(params), [1000.0, 1.0][:len(inputs)]),
                       ([-1.0] * len(params), [1000.0, 0.0][:len(inputs)]),
                       ([0.5] * len(params), [-900.0, 1.0][:len(inputs)])):
        value, grad = kernel(np.array(theta), np.array([row]))
        point = dict(zip(params, theta)) | dict(zip(inputs, row))
        at = {sp.Symbol(k): sp.Float(v, 50) for k, v in point.items()}
        exact = [to_builtins(e, keep=()).evalf(50, subs=at) for e in
                 (expression, *(sp.diff(expression, sp.Symbol(p)) for p in params))]
        assert math.isfinite(value) and np.isfinite(grad).all()
        assert close(value, float(exact[0]), rel=1e-10, abs_=1e-300), (theta, row)
        for k, p in enumerate(params):
            assert close(grad[k], float(exact[k + 1]), rel=1e-10, abs_=1e-300), (p, theta, row)


def test_many_argument_logsumexp_and_max_compile_on_both_backends():
    """logsumexp of 31+ arguments (Numba inlines at most 30: the helper is a function of its
    own) and max of 5 (its derivative folds into a Piecewise of conditions, which numpy
    selects with default False) agree between the compiled and reference backends."""
    lse = "log(" + " + ".join(f"exp(w{k}*x + {k}/8)" for k in range(33)) + ") - y"
    largest = "max(a*x, b*x, c*x, d*x, e2*x) - y"
    rng = np.random.default_rng(3)
    data = rng.normal(size=(20, 2))
    for text, params in ((lse, [f"w{k}" for k in range(33)]),
                         (largest, ["a", "b", "c", "d", "e2"])):
        theta = rng.normal(size=len(params))
        grad = numba_agrees_with_numpy(text, theta, data, params, ["x", "y"])
        assert np.any(grad != 0)
