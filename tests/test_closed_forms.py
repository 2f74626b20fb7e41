"""The derivative examples of the seed lectures (seeds-examples.md), by name, numbers copied."""
import sympy as sp
import pytest

from symgrad import closed_forms, derive, sigmoid
from symgrad.functions import to_builtins
from support import central_differences, close, closed_form_values, program_values

x, y, z, w, b = sp.symbols("x y z w b")


def gradient_at(loss, wrt, values):
    """The gradient by the program and by the closed forms, which must agree."""
    gradient = derive(loss, params=wrt, inputs=sorted(set(map(str, sp.sympify(loss).free_symbols)
                                                          if not isinstance(loss, str) else [])
                                                      - set(wrt)))
    _, by_program = program_values(gradient, values)
    by_closed_form = closed_form_values(gradient, values)
    for name in wrt:
        assert close(by_program[name], by_closed_form[name])
    return by_program


def forms(loss, wrt):
    gradient = derive(loss, params=wrt, inputs=[s for s in map(str, loss.free_symbols)
                                                if s not in wrt])
    return {p.name: e for p, e in closed_forms(gradient).items()}


def test_hours_gradient():
    assert sp.expand(forms((x * w - y) ** 2, ["w"])["w"] - 2 * x * (x * w - y)) == 0


def test_partials():
    assert forms(x**2 * y, ["x", "y"]) == {"x": 2 * x * y, "y": x**2}
    got = forms(x**2 - x * y, ["x", "y"])
    assert sp.expand(got["x"] - (2 * x - y)) == 0 and got["y"] == -x


@pytest.mark.parametrize("loss, point, expected", [
    (x * y, {"x": 4, "y": -3}, {"x": -3, "y": 4}),                 # product gate
    (x + y, {"x": 4, "y": -3}, {"x": 1, "y": 1}),                  # sum gate
    (sp.Max(x, y), {"x": 4, "y": 2}, {"x": 1, "y": 0}),            # max gate
    ((x + y) * z, {"x": -2, "y": 5, "z": -4}, {"x": -4, "y": -4, "z": 3}),  # backprop gate
    (x * y**2 - x**2 * y, {"x": 2, "y": 5}, {"x": 5}),             # challenge g
    (x * y, {"x": 1, "y": 2}, {"x": 2}),                           # challenge f
], ids=["product-gate", "sum-gate", "max-gate", "backprop-gate", "challenge-g", "challenge-f"])
def test_gates(loss, point, expected):
    got = gradient_at(loss, list(expected), point)
    assert got == pytest.approx(expected, abs=0)


def test_chain():
    inner = x**3 + x**2 + x + 1
    got = forms(inner**3, ["x"])["x"]
    assert got == 3 * inner**2 * (3 * x**2 + 2 * x + 1)  # the factored textbook shape itself


def test_autograd_mean():
    xs = sp.symbols("x1:5")
    out = sp.Add(*(3 * (xi + 2) ** 2 for xi in xs)) / 4
    got = gradient_at(out, [s.name for s in xs], {s.name: 1 for s in xs})
    assert got == {s.name: 4.5 for s in xs}


def test_sigmoid_rule():
    s = sigmoid(z)
    assert forms(s, ["z"])["z"] == s * (1 - s)
    # the definition written out is recognised as sigmoid (a stability rewrite), so its
    # derivative is the same s(1 - s); in builtins, the chain rule's value on 1/(1 + e^-z)
    from_definition = forms(1 / (1 + sp.exp(-z)), ["z"])["z"]
    assert from_definition == s * (1 - s)
    assert sp.simplify(to_builtins(from_definition, keep=())
                       - sp.diff(1 / (1 + sp.exp(-z)), z)) == 0


def test_neuron_chain():
    x0, x1, w0, w1 = sp.symbols("x0 x1 w0 w1")
    zz = x0 * w0 + x1 * w1 + b
    s = sigmoid(zz)
    got = forms((s - y) ** 2, ["w0", "w1", "b"])
    common = 2 * (s - y) * s * (1 - s)
    expected = {"w0": common * x0, "w1": common * x1, "b": common * 1}
    for name, form in got.items():
        assert sp.expand(form - expected[name]) == 0
        assert form.count(sigmoid) == 3 and not form.has(sp.exp)  # sigma kept whole, reused
        assert form.as_ordered_factors()[0] == 2  # the textbook shape: 2*(s - y)*s*(1 - s)*x


def test_softmax_ce():
    """L = ln sum_k exp(w_k . x) - w_c . x  ->  dL/dw_kj = (softmax_k - y_k) * x_j."""
    ws = sp.symbols("w0:3_0:2")
    xs = sp.symbols("x0:2")
    ys = sp.symbols("y0:3")
    logits = [ws[2 * k] * xs[0] + ws[2 * k + 1] * xs[1] for k in range(3)]
    loss = (sp.log(sp.Add(*(sp.exp(l) for l in logits)))
            - sp.Add(*(yk * l for yk, l in zip(ys, logits))))
    point = {"x0": 0.7, "x1": -1.3, "y0": 0, "y1": 1, "y2": 0}
    point.update({w.name: 0.1 * (k + 1) * (-1) ** k for k, w in enumerate(ws)})
    got = gradient_at(loss, [w.name for w in ws], point)
    zs = [sum(point[ws[2 * k + j].name] * point[f"x{j}"] for j in range(2)) for k in range(3)]
    total = sum(sp.exp(v) for v in zs)
    for k in range(3):
        softmax = float(sp.exp(zs[k]) / total)
        for j in range(2):
            assert close(got[ws[2 * k + j].name], (softmax - point[f"y{k}"]) * point[f"x{j}"])


def test_mlp_delta():
    """delta_j = f'(net_j) * sum_k delta_k w_kj and dl/dw_ji = delta_j x_i, with tanh' = 1 - y^2."""
    assert forms(sp.tanh(z), ["z"])["z"] == 1 - sp.tanh(z) ** 2
    import numpy as np
    rng = np.random.default_rng(3)
    x_in, v, u, t = rng.normal(size=2), rng.normal(size=(2, 2)), rng.normal(size=2), 0.4
    V = sp.Matrix(2, 2, sp.symbols("v0:2_0:2"))
    U = sp.symbols("u0:2")
    X = sp.symbols("x0:2")
    hidden = [sp.tanh(V[j, 0] * X[0] + V[j, 1] * X[1]) for j in range(2)]
    out = U[0] * hidden[0] + U[1] * hidden[1]
    point = {f"x{i}": x_in[i] for i in range(2)}
    point.update({f"v{j}_{i}": v[j, i] for j in range(2) for i in range(2)})
    point.update({f"u{j}": u[j] for j in range(2)})
    got = gradient_at((out - t) ** 2, [s.name for s in (*V, *U)], point)
    h = np.tanh(v @ x_in)
    delta_out = 2 * (u @ h - t)
    delta_hidden = (1 - h**2) * (delta_out * u)
    for j in range(2):
        assert close(got[f"u{j}"], delta_out * h[j])
        for i in range(2):
            assert close(got[f"v{j}_{i}"], delta_hidden[j] * x_in[i])


def test_central_differences_agree_on_the_seed_neuron():
    x0, x1, w0, w1 = sp.symbols("x0 x1 w0 w1")
    loss = (sigmoid(x0 * w0 + x1 * w1 + b) - y) ** 2
    point = {"x0": 0.5, "x1": 0.9, "w0": 1.0, "w1": 1.0, "b": 0.0, "y": 0.357}
    got = gradient_at(loss, ["w0", "w1", "b"], point)
    numeric = central_differences(loss, ["w0", "w1", "b"], point)
    for name in got:
        assert close(got[name], numeric[name])
