"""symgrad.layers.plan: the plan of steps, and the one walker driven by a table of primitives.

The walker is checked on its own: primitives written here in plain numpy (no generated kernel,
no BLAS tricks, f and f' from SymPy) must give the gradient of 50-digit central differences of
the unrolled model, and the CPU engine's primitives the same numbers."""
import numpy as np
import pytest
import sympy as sp

from symgrad.functions import to_builtins
from symgrad.layers import init_params, parse_chain, rule_symbols
from symgrad.layers.cpu import CpuNetwork
from symgrad.layers.plan import Bias, ChainLayout, Elementwise, Loss, Product, Walk, plan
from symgrad.layers.symbolic import unrolled_model
from support import DIGITS, central_differences

PLANS = [  # (chain, its steps as (kind, layer or activation, bias))
    ("dense(3)", [Product(0), Loss(0)]),
    ("dense(3) -> tanh -> dense(1)",
     [Product(0), ("tanh", 0), Product(1), Loss(1)]),
    ("dense(4) -> dense(2) -> sigmoid",
     [Product(0), Bias(0), Product(1), ("sigmoid", 1), Loss(None)]),
    ("tanh -> dense(2) -> relu -> elu -> dense(2)",
     [("tanh", None), Product(0), ("relu", 0), ("elu", None), Product(1), Loss(1)]),
]


def _expected(steps):
    return [Elementwise(*s) if isinstance(s, tuple) and isinstance(s[0], str) else s
            for s in steps]


@pytest.mark.parametrize("text, steps", PLANS, ids=[p[0] for p in PLANS])
def test_every_dense_layers_bias_is_added_by_the_step_after_its_product(text, steps):
    got = [Elementwise(s.activation.name, s.bias) if isinstance(s, Elementwise) else s
           for s in plan(parse_chain(text))]
    assert got == _expected(steps)


class NumpyPrimitives:
    """The plainest primitives: every value a fresh numpy array, f and f' lambdified from
    SymPy, mse's loss and gradient written out (sum of squares, mean over rows)."""

    def __init__(self, rows):
        self.scale = 1.0 / rows

    def _rules(self, activation):
        z, a = rule_symbols()
        value = activation.value(z)
        slope = activation.derivative().xreplace({a: value})
        return tuple(sp.lambdify(z, to_builtins(rule, keep=()), "numpy")
                     for rule in (value, slope))

    def product(self, index, values, weights):
        return values, values @ weights.T

    def add_bias(self, index, values, bias):
        return values + bias

    def activate(self, index, activation, z, bias):
        z = z if bias is None else z + bias
        return z, self._rules(activation)[0](z) * np.ones_like(z)

    def loss(self, output, bias, y, d_bias):
        residual = (output if bias is None else output + bias) - y[:, None]
        delta = 2.0 * residual * self.scale
        if d_bias is not None:
            d_bias[:] = delta.sum(axis=0)
        return float((residual ** 2).sum()), delta

    def weight_gradient(self, layer, delta, kept, d_weights):
        d_weights[:] = delta.T @ kept

    def back_product(self, index, delta, weights):
        return delta @ weights

    def bias_gradient(self, delta, d_bias):
        d_bias[:] = delta.sum(axis=0)

    def activation_gradient(self, index, activation, delta, kept, d_bias):
        d_z = delta * self._rules(activation)[1](kept)
        if d_bias is not None:
            d_bias[:] = d_z.sum(axis=0)
        return d_z


CHAINS = ["dense(3) -> tanh -> dense(1)", "dense(2) -> dense(3) -> sigmoid -> dense(1)",
          "softplus -> dense(3) -> elu -> dense(1)"]


@pytest.mark.parametrize("text", CHAINS)
def test_the_walker_over_plain_primitives_gives_the_exact_gradient(text):
    chain, rows, fan_in = parse_chain(text), 5, 2
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(rows, fan_in)), rng.normal(size=rows)
    theta = init_params(chain, fan_in, seed=2)
    layout = ChainLayout(chain, fan_in, "mse")
    grad = np.zeros(layout.size)
    walk = Walk(layout, NumpyPrimitives(rows), layout.views(theta), layout.views(grad))
    loss = walk.gradient(X, y) / rows

    model = unrolled_model(chain, ["x0", "x1"], "mse")
    names = [s.name for s in model.params]
    point = dict(zip(model.params, theta))
    rows_loss = [model.loss.subs({sp.Symbol("x0"): X[i, 0], sp.Symbol("x1"): X[i, 1],
                                  sp.Symbol("y"): y[i]}) for i in range(rows)]
    mean_loss = sp.Add(*rows_loss) / rows
    exact = central_differences(mean_loss, names, dict(zip(names, theta)))
    assert abs(loss - float(mean_loss.evalf(DIGITS, subs=point))) <= 1e-12 * abs(loss)
    np.testing.assert_allclose(grad, [exact[n] for n in names], rtol=1e-9, atol=1e-12)

    engine = CpuNetwork(chain, fan_in, "mse")
    engine_loss, engine_grad, _ = engine.evaluate(theta, rows, [X, y])
    np.testing.assert_allclose(engine_grad, grad, rtol=1e-10, atol=1e-14)
    assert engine_loss == pytest.approx(loss, rel=1e-12)
