"""Training: the seed lectures' runs reproduced (seeds-examples.md), optimizers against
independent reference loops, both engines (compiled and stepwise) and both backends agreeing,
divergence keeping the last finite parameters; the loss history kept in bounded memory; a
negative seed refused."""
import math

import numpy as np
import pytest

import symgrad
from symgrad import SymgradError
from symgrad.optim import SGD, Adam, Momentum, Nesterov
from symgrad.training import train

HOURS = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])
SENSOR_X = np.array([[0.5, 0.9], [14, 12], [15, 13.6], [28, 22.8], [11, 8.1], [8, 7.1], [3, 2.9],
                     [-4, 0.1], [6, 5.3], [13, 12], [21, 19.9], [-1, 1.5]])
SENSOR_Y = np.array([35.7, 55.9, 58.2, 81.9, 56.3, 48.9, 33.9, 21.8, 48.4, 60.4, 68.4, 29.1])
BACKENDS = ["numba", "numpy"]


def hours_kernel(backend="numba"):
    model = symgrad.Model.supervised("w*x", target="y", loss="mse", inputs=["x"])
    return symgrad.compile(model, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_hours_sgd(backend):
    f = hours_kernel(backend)
    assert f.predict([1.0], {"x": np.array([4.0])})[0] == 4.0  # before training
    result = train(f, HOURS, [1.0], SGD(lr=0.01), epochs=10, batch_size=1)
    assert f.predict(result.params, {"x": np.array([4.0])})[0] == pytest.approx(
        7.804863933862125, rel=1e-12, abs=0)
    assert result.steps == 30 and result.epochs == 10


def test_hours_sgd_first_epoch_gradients_and_losses():
    f = hours_kernel()
    theta, grads = np.array([1.0]), []
    for row in HOURS:
        _, grad = f(theta, row[None, :])
        grads.append(grad[0])
        SGD(lr=0.01).step(theta, grad, np.zeros((2, 1)), 1)
    assert grads == pytest.approx([-2.0, -7.84, -16.2288], rel=1e-12)
    assert f(theta, HOURS[2:])[0] == pytest.approx(4.919240100095999, rel=1e-12)
    after_ten = train(f, HOURS, [1.0], SGD(lr=0.01), epochs=10, batch_size=1).params
    assert f(after_ten, HOURS[2:])[0] == pytest.approx(0.021418922423117836, rel=1e-12)


def test_loss_sweep():
    f = hours_kernel()
    losses = [f([w], HOURS)[0] for w in (0, 1, 2, 3, 4)]
    assert losses == pytest.approx([56 / 3, 14 / 3, 0, 14 / 3, 56 / 3], rel=1e-14, abs=1e-15)


def momentum_line_reference(alpha, beta, steps):
    """The seed's numpy code (lecture 003), verbatim in spirit: X_bias = [x, 1]."""
    x = np.arange(5.0)
    y = np.array([10.5, 5.0, 3.0, 2.5, 1.0])
    X_bias = np.column_stack([x, np.ones(5)])
    w, omega, history = np.array([-3.0, 2.0]), np.zeros(2), []
    for _ in range(steps):
        delta_weights = -alpha * X_bias.T @ (X_bias @ w - y) + beta * omega
        omega = delta_weights
        w = w + delta_weights
        history.append(w.copy())
    return np.array(history)


@pytest.mark.parametrize("optimizer, beta", [(Momentum(lr=0.05, momentum=0.5), 0.5),
                                             (SGD(lr=0.05), 0.0)], ids=["momentum", "plain-gd"])
def test_momentum_line_trajectory(optimizer, beta):
    model = symgrad.Model.supervised("w*x + b", target="y",
                                     loss=lambda yhat, y: (yhat - y) ** 2 / 2, inputs=["x"])
    f = symgrad.compile(model, reduction="sum")
    assert f.params == ("b", "w")
    data = np.column_stack([np.arange(5.0), [10.5, 5.0, 3.0, 2.5, 1.0]])
    reference = momentum_line_reference(0.05, beta, 25)
    for step in range(1, 26):
        params = train(f, data, [2.0, -3.0], optimizer, epochs=step).params
        np.testing.assert_allclose(params[::-1], reference[step - 1], rtol=1e-12, atol=1e-12)


def test_sensor_neuron_initial_loss_and_predictions():
    model = symgrad.Model.supervised("sigmoid(w0*x0 + w1*x1 + b)", target="y", loss="mse",
                                     inputs=["x0", "x1"])
    f = symgrad.compile(model)
    data = np.column_stack([SENSOR_X, SENSOR_Y])
    theta = [0.0, 1.0, 1.0]  # b, w0, w1
    assert f(theta, data)[0] == pytest.approx(2673.9028, abs=1e-4)  # as printed: 4 d.p.
    yhat = f.predict(theta, data)
    assert list(np.round(yhat, 4)) == [0.8022, 1.0, 1.0, 1.0, 1.0, 1.0, 0.9973, 0.0198, 1.0, 1.0,
                                       1.0, 0.6225]


def sensor_reference(epochs):
    """A float64 numpy loop: full-batch GD on MSE of sigma(X w + b) against y*0.01."""
    w, b, y = np.array([1.0, 1.0]), 0.0, SENSOR_Y * 0.01
    for _ in range(epochs):
        s = 1 / (1 + np.exp(-(SENSOR_X @ w + b)))
        delta = 2 * (s - y) * s * (1 - s) / len(y)
        w, b = w - 0.01 * SENSOR_X.T @ delta, b - 0.01 * delta.sum()
    return np.array([b, *w])


@pytest.mark.parametrize("backend", BACKENDS)
def test_sensor_neuron_training(backend):
    model = symgrad.Model.supervised("sigmoid(w0*x0 + w1*x1 + b)", target="y", loss="mse",
                                     inputs=["x0", "x1"])
    f = symgrad.compile(model, backend=backend)
    data = np.column_stack([SENSOR_X, SENSOR_Y * 0.01])
    epochs = 20_000 if backend == "numba" else 2_000
    result = train(f, data, [0.0, 1.0, 1.0], SGD(lr=0.01), epochs=epochs)
    np.testing.assert_allclose(result.params, sensor_reference(epochs), rtol=1e-10)


def test_cubic_sin():
    """yhat = a + b x + c x^2 + d x^3 on y = sin(x): the seed's numpy loop, step for step."""
    x = np.linspace(-math.pi, math.pi, 2000)
    y = np.sin(x)
    a, b, c, d = np.random.default_rng(0).standard_normal(4)
    start, losses = np.array([a, b, c, d]), []
    for _ in range(2000):
        y_pred = a + b * x + c * x**2 + d * x**3
        losses.append(np.square(y_pred - y).sum())
        grad_y_pred = 2.0 * (y_pred - y)
        a, b, c, d = (a - 1e-6 * grad_y_pred.sum(), b - 1e-6 * (grad_y_pred * x).sum(),
                      c - 1e-6 * (grad_y_pred * x**2).sum(), d - 1e-6 * (grad_y_pred * x**3).sum())
    model = symgrad.Model.supervised("a + b*x + c*x**2 + d*x**3", target="y", loss="mse",
                                     inputs=["x"])
    f = symgrad.compile(model, reduction="sum")
    result = train(f, np.column_stack([x, y]), start, SGD(lr=1e-6), epochs=2000)
    np.testing.assert_allclose(result.history, losses, rtol=1e-10)
    np.testing.assert_allclose(result.params, [a, b, c, d], rtol=1e-9)
    assert losses[-1] < losses[0] / 10 and np.all(np.diff(result.history) < 0)


def reference_loop(kind, theta, grad_fn, steps, lr, beta=0.9):
    """PyTorch's documented algorithms, written out independently of symgrad.optim."""
    theta, v, m, s = np.array(theta, float), 0.0, 0.0, 0.0
    for t in range(1, steps + 1):
        g = grad_fn(theta)
        if kind == "momentum":      # torch: buf = beta*buf + g; p -= lr*buf
            v = beta * v + g
            theta = theta - lr * v
        elif kind == "nesterov":    # torch: buf = beta*buf + g; p -= lr*(g + beta*buf)
            v = beta * v + g
            theta = theta - lr * (g + beta * v)
        else:                       # torch Adam, bias-corrected
            m = 0.9 * m + 0.1 * g
            s = 0.999 * s + 0.001 * g * g
            theta = theta - lr * (m / (1 - 0.9**t)) / (np.sqrt(s / (1 - 0.999**t)) + 1e-8)
    return theta


@pytest.mark.parametrize("kind, optimizer", [
    ("momentum", Momentum(lr=0.01, momentum=0.9)), ("nesterov", Nesterov(lr=0.01, momentum=0.9)),
    ("adam", Adam(lr=0.05))], ids=["momentum", "nesterov", "adam"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_optimizers_match_pytorch_forms(kind, optimizer, backend):
    f = symgrad.compile("(a*x + b - y)**2", ["a", "b"], ["x", "y"], backend=backend)
    data = np.column_stack([np.linspace(-1, 1, 9), np.linspace(0, 3, 9) ** 2])
    expected = reference_loop(kind, [0.5, -0.5], lambda th: f(th, data)[1], 50, optimizer.lr)
    result = train(f, data, [0.5, -0.5], optimizer, epochs=50)
    np.testing.assert_allclose(result.params, expected, rtol=1e-11)


def test_shuffled_minibatches_agree_across_engines_and_backends():
    rng = np.random.default_rng(1)
    data = np.column_stack([rng.normal(size=103), rng.normal(size=103), rng.uniform(size=103)])
    runs = []
    for backend in BACKENDS:
        f = symgrad.compile("bce(sigmoid(w0*x0 + w1*x1 + b), y)", ["w0", "w1", "b"],
                            ["x0", "x1", "y"], backend=backend)
        runs.append(train(f, data, [0.1, -0.2, 0.0], Adam(lr=0.01), epochs=7, batch_size=16,
                          shuffle=True, seed=3))
    np.testing.assert_allclose(runs[0].params, runs[1].params, rtol=1e-10)
    np.testing.assert_allclose(runs[0].history, runs[1].history, rtol=1e-10)
    assert runs[0].steps == 7 * 7  # 103 rows in batches of 16: six full, one partial


def test_shuffle_is_seeded():
    f = symgrad.compile("(w*x - y)**2", ["w"], ["x", "y"])
    data = np.column_stack([np.arange(10.0), np.arange(10.0) * 2 + 1])
    run = lambda seed: train(f, data, [0.0], SGD(lr=0.001), 3, batch_size=2, shuffle=True,
                             seed=seed).params[0]
    assert run(5) == run(5) and run(5) != run(6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_divergence_keeps_the_last_finite_parameters(backend):
    f = symgrad.compile("(w*x - y)**2", ["w"], ["x", "y"], backend=backend)
    data = np.column_stack([np.arange(1.0, 20.0), np.arange(1.0, 20.0)])
    result = train(f, data, [0.0], SGD(lr=1.0), epochs=10_000)
    assert result.diverged_epoch is not None and result.diverged_epoch < 10_000
    assert np.isfinite(result.params).all() and len(result.history) == result.diverged_epoch
    assert np.isfinite(result.history).all()


def test_large_batches_take_the_parallel_stepwise_engine(monkeypatch):
    from symgrad.training import _Run
    monkeypatch.setattr(_Run, "compiled", lambda *_: pytest.fail("compiled engine used"))
    rng = np.random.default_rng(2)
    x = rng.normal(size=40_000)
    data = np.column_stack([x, 3 * x + 1])
    f = symgrad.compile("(w*x + b - y)**2", ["w", "b"], ["x", "y"])
    full = train(f, data, [0.0, 0.0], Momentum(lr=0.1, momentum=0.5), epochs=30)
    reference = symgrad.compile("(w*x + b - y)**2", ["w", "b"], ["x", "y"], backend="numpy")
    expected = train(reference, data, [0.0, 0.0], Momentum(lr=0.1, momentum=0.5), epochs=30)
    np.testing.assert_allclose(full.params, expected.params, rtol=1e-10)
    np.testing.assert_allclose(full.params, [3.0, 1.0], rtol=1e-3)  # (w, b) of y = 3x + 1


def test_history_is_bounded_and_keeps_the_last_epoch():
    from symgrad.training import History
    history = History(capacity=100)
    for start in range(0, 10_000, 37):
        stop = min(start + 37, 10_000)
        history.extend(np.arange(start + 1, stop + 1, dtype=float))  # loss = epoch number
    epochs, losses = history.arrays()
    assert len(epochs) <= 101 and epochs[-1] == 10_000 and losses[-1] == 10_000
    assert np.array_equal(epochs, losses) and np.all(np.diff(epochs) > 0)
    full = History(capacity=100)
    full.extend(np.arange(1.0, 51.0))
    assert np.array_equal(full.arrays()[0], np.arange(1, 51))  # below capacity: every epoch


def test_library_train_refuses_a_negative_seed():
    f = symgrad.compile("(w*x - y)**2", ["w"], ["x", "y"], backend="numpy")
    with pytest.raises(SymgradError, match="seed must be an integer >= 0"):
        symgrad.train(f, np.ones((3, 2)), [0.0], symgrad.SGD(0.1), 1, shuffle=True, seed=-1)


def test_validation_and_early_stopping_agree_across_engines_and_stop_at_the_best():
    """The validation loss after each epoch (compiled engine, numba) equals a plain loop's
    (stepwise engine, numpy backend); early stopping ends patience epochs after the best and
    returns the best epoch's parameters."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    train_rows = np.column_stack([x[:20], 3 * x[:20] + rng.normal(size=20)])
    held_rows = np.column_stack([x[20:], 3 * x[20:] + rng.normal(size=20)])
    model = symgrad.Model.supervised("w*x + b", target="y", loss="mse", inputs=["x"])
    runs = {}
    for backend in BACKENDS:
        f = symgrad.compile(model, backend=backend)
        runs[backend] = train(f, train_rows, [0.0, 0.0], Momentum(lr=0.2, momentum=0.9),
                              epochs=400, batch_size=5, validation=held_rows, patience=10)
    fast, plain = runs["numba"], runs["numpy"]
    np.testing.assert_allclose(fast.validation_history, plain.validation_history, rtol=1e-10)
    assert fast.best_epoch == plain.best_epoch and fast.stopped_early
    epochs, losses = fast.validation_history.T
    best = int(np.argmin(losses))
    assert epochs[best] == fast.best_epoch and fast.epochs == fast.best_epoch + 10 < 400
    again = train(symgrad.compile(model), train_rows, [0.0, 0.0],
                  Momentum(lr=0.2, momentum=0.9), epochs=fast.best_epoch, batch_size=5)
    np.testing.assert_array_equal(again.params, fast.params)
    f = symgrad.compile(model)
    loss = f(fast.params, held_rows)[0]
    assert loss == pytest.approx(losses[best], rel=1e-12)


def test_patience_needs_validation_data():
    with pytest.raises(SymgradError, match="patience"):
        train(hours_kernel(), HOURS, [1.0], SGD(lr=0.01), epochs=3, patience=2)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_a_nan_cell_or_start_is_refused_not_reported_as_divergence(backend):
    f = symgrad.compile("(w*x - y)**2", ["w"], ["x", "y"], backend=backend)
    data = np.c_[np.arange(10.0), 2 * np.arange(10.0)]
    bad = data.copy()
    bad[3, 0] = np.nan
    with pytest.raises(SymgradError, match=r"data row 3, column 'x' is nan"):
        train(f, bad, [0.0], SGD(lr=0.01), epochs=10)
    with pytest.raises(SymgradError, match=r"theta0\[0\] \(w\) is inf"):
        train(f, data, [np.inf], SGD(lr=0.01), epochs=10)
    with pytest.raises(SymgradError, match=r"data row 3, column 'x' is nan"):
        train(f, data, [0.0], SGD(lr=0.01), epochs=10, validation=bad)
    assert train(f, data, [0.0], SGD(lr=0.001), epochs=10).diverged_epoch is None
