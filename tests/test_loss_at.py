"""Kernel.loss_at: the loss a run reports after training or fitting, computed by a function
the process has already compiled (the epoch loop summing without stepping, a fit's
Gauss-Newton or Hessian sums) instead of compiling loss_and_gradient (0.5-1 s). Each path
must give the loss that loss_and_gradient gives, to rounding: checked against it, and
against a 50-digit sum of the per-row losses."""
import mpmath
import numpy as np
import pytest

import symgrad
from symgrad.optim import SGD, Adam
from symgrad.training import train

RNG = np.random.default_rng(7)
X = RNG.normal(size=(300, 5))
Y = np.tanh(X @ np.array([0.5, -1.0, 0.25, 2.0, -0.75]) + 0.3) + 0.05 * RNG.normal(size=300)
DATA = np.column_stack([X, Y])
NAMES = [f"x{j}" for j in range(5)]


def kernel(offset: float, order: int = 1, reduction: str = "mean", dtype="float64"):
    """A model of its own (``offset`` makes it so: a fresh kernel with nothing compiled)."""
    expression = f"tanh({' + '.join(f'w{j}*x{j}' for j in range(5))} + b) + {offset}"
    model = symgrad.Model.supervised(expression, target="y", loss="mse", inputs=NAMES)
    return symgrad.compile(model, reduction=reduction, order=order, dtype=dtype)


def exact_loss(f, theta, offset: float, reduction: str) -> float:
    """The loss at theta as a 50-digit sum of squared residuals."""
    mpmath.mp.dps = 50
    values = dict(zip(f.params, (mpmath.mpf(float(t)) for t in theta)))
    total = mpmath.mpf(0)
    for row in DATA:
        z = sum(values[f"w{j}"] * mpmath.mpf(row[j]) for j in range(5)) + values["b"]
        total += (mpmath.tanh(z) + offset - mpmath.mpf(row[5])) ** 2
    return float(total / len(DATA) if reduction == "mean" else total)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_after_training_the_epoch_loop_gives_the_loss(reduction):
    f = kernel(0.125 if reduction == "mean" else 0.25, reduction=reduction)
    result = train(f, DATA, np.full(6, 0.1), Adam(lr=0.01), epochs=3, batch_size=32)
    value = f.loss_at(result.params, DATA)
    assert not f.module.loss_and_gradient.compiled  # nothing more compiled for it
    assert value == pytest.approx(f(result.params, DATA)[0], rel=1e-12)
    offset = 0.125 if reduction == "mean" else 0.25
    assert value == pytest.approx(exact_loss(f, result.params, offset, reduction), rel=1e-12)


def test_the_loss_only_pass_leaves_theta_and_history_alone():
    f = kernel(0.375)
    theta = np.full(6, 0.2)
    train(f, DATA, theta, SGD(lr=0.1), epochs=1)
    before = theta.copy()
    assert f.loss_at(theta, DATA) == pytest.approx(f(theta, DATA)[0], rel=1e-12)
    assert np.array_equal(theta, before)


def test_after_a_fit_the_second_order_sums_give_the_loss():
    f = kernel(0.5, order=2)
    theta = np.full(6, 0.1)
    f.gauss_newton(theta, DATA)  # a least-squares fit's sums
    value = f.loss_at(theta, DATA)
    assert not f.module.loss_and_gradient.compiled
    assert value == pytest.approx(exact_loss(f, theta, 0.5, "mean"), rel=1e-12)
    g = kernel(0.625, order=2)
    g.hessian(theta, DATA)  # a Newton fit's sums
    assert g.loss_at(theta, DATA) == pytest.approx(exact_loss(g, theta, 0.625, "mean"),
                                                   rel=1e-12)
    assert not g.module.loss_and_gradient.compiled


def test_with_nothing_compiled_loss_and_gradient_is_compiled():
    f = kernel(0.75)
    theta = np.full(6, -0.1)
    assert f.loss_at(theta, DATA) == pytest.approx(exact_loss(f, theta, 0.75, "mean"),
                                                   rel=1e-12)
    assert f.module.loss_and_gradient.compiled


def test_a_float32_kernel_reports_its_float32_loss():
    f = kernel(0.875, dtype="float32")
    result = train(f, DATA, np.full(6, 0.1), SGD(lr=0.05), epochs=2, batch_size=50)
    value = f.loss_at(result.params, DATA)
    assert value == pytest.approx(exact_loss(f, result.params.astype(np.float32), 0.875,
                                             "mean"), rel=1e-5)


def test_the_numpy_backend_uses_its_loss_and_gradient():
    model = symgrad.Model.supervised("a*x0 + b", target="y", loss="mse", inputs=["x0"])
    f = symgrad.compile(model, backend="numpy")
    data = DATA[:, [0, 5]]
    assert f.loss_at([0.5, -0.25], data) == f([0.5, -0.25], data)[0]


def test_a_vector_block_model_gives_its_loss_through_the_epoch_loop():
    """The epoch loop's block partials are loops over a vector's entries: its loss-only pass
    must still be the model's loss (checked against the numpy reference, entries written
    out)."""
    model = symgrad.Model.supervised("tanh(dot(w, features) + b) + 0.0625", "y", "mse",
                                     inputs=[*NAMES, "y"])
    f = symgrad.compile(model)
    assert "_acc0" in f.source  # the block's partials: a loop, not five scalars
    result = train(f, DATA, np.full(6, 0.1), Adam(lr=0.01), epochs=3, batch_size=32)
    value = f.loss_at(result.params, DATA)
    assert not f.module.loss_and_gradient.compiled
    reference = symgrad.compile(model, backend="numpy")
    order = [reference.params.index(p) for p in f.params]
    assert value == pytest.approx(reference(result.params[np.argsort(order)], DATA)[0],
                                  rel=1e-12)


def test_a_float32_loss_after_mini_batches_is_summed_in_chunks():
    """The loss-only pass adds float32 batches of ROWS_PER_CHUNK rows in float64, as
    evaluate adds its chunks: on 200,000 rows it agrees with float64 to 3e-9 here (one
    float32 sum over all rows: 7e-7)."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=200_000)
    data = np.column_stack([x, 2.0 * x + 1.0 + rng.normal(size=x.size)])
    model = symgrad.Model.supervised("a*x + b + 0.03125", "y", "mse", inputs=["x", "y"])
    f = symgrad.compile(model, dtype="float32")
    result = train(f, data, [0.0, 0.0], Adam(lr=0.1), epochs=1, batch_size=1000)
    exact = symgrad.compile(model)(result.params.astype(np.float64), data)[0]
    assert f.loss_at(result.params, data) == pytest.approx(exact, rel=1e-7)


def test_loss_at_checks_theta_as_a_call_does():
    f = kernel(0.9375)
    train(f, DATA, np.full(6, 0.1), SGD(lr=0.01), epochs=1, batch_size=32)
    with pytest.raises(symgrad.SymgradError, match=r"theta has shape \(1,\); expected \(6,\)"):
        f.loss_at(np.ones(1), DATA)
    with pytest.raises(symgrad.SymgradError, match="theta has shape"):
        f.loss_at(np.ones((1, 6)), DATA)
