"""PyTorch's documented optimizer algorithms (torch.optim's pseudocode, constant learning rate),
written out here independently of symgrad.optim's rules, and a plain training loop over them.
Shared by test_optimizers_torch.py and cuda_optim_cases.py."""
from __future__ import annotations

import numpy as np


def pytorch_stepper(opt):
    """``step(theta, grad) -> theta'`` for the optimizer ``opt`` (only its hyperparameters are
    read), keeping its own state as torch.optim does."""
    name, lr, wd = type(opt).__name__, opt.lr, opt.weight_decay
    state = {"t": 0, "buf": None, "m": 0.0, "v": 0.0, "sum": 0.0}

    def step(theta, grad):
        state["t"] += 1
        t = state["t"]
        g = grad if name == "AdamW" else grad + wd * theta   # L2: torch's grad.add(p, wd)
        if name == "SGD":
            return theta - lr * g
        if name in ("Momentum", "Nesterov"):                  # torch.optim.SGD(momentum=mu)
            mu = opt.momentum
            state["buf"] = g.copy() if state["buf"] is None else mu * state["buf"] + g
            direction = g + mu * state["buf"] if name == "Nesterov" else state["buf"]
            return theta - lr * direction
        if name == "RMSprop":                                 # momentum=0, centered=False
            state["v"] = opt.alpha * state["v"] + (1 - opt.alpha) * g**2
            return theta - lr * g / (np.sqrt(state["v"]) + opt.eps)
        if name == "Adagrad":                                 # lr_decay=0, accumulator 0
            state["sum"] = state["sum"] + g**2
            return theta - lr * g / (np.sqrt(state["sum"]) + opt.eps)
        if name == "AdamW":                                   # decoupled: theta -= lr*wd*theta
            theta = theta - lr * wd * theta
        state["m"] = opt.beta1 * state["m"] + (1 - opt.beta1) * g
        state["v"] = opt.beta2 * state["v"] + (1 - opt.beta2) * g**2
        m_hat, v_hat = state["m"] / (1 - opt.beta1**t), state["v"] / (1 - opt.beta2**t)
        return theta - lr * m_hat / (np.sqrt(v_hat) + opt.eps)
    return step


def reference_training(gradient, theta0, opt, data, batch: int, epochs: int):
    """Mini-batches of ``data`` in file order, one step each: ``gradient(theta, batch_data)``
    gives each batch's gradient."""
    step, theta = pytorch_stepper(opt), np.array(theta0, dtype=float)
    for _ in range(epochs):
        for start in range(0, len(data), batch):
            theta = step(theta, gradient(theta, data[start:start + batch]))
    return theta


def assert_trains_as_the_plain_loop(kernel, gradient, data, theta0, opt, batch: int,
                                    epochs: int) -> None:
    """``symgrad.train`` on ``kernel`` (file order) ends where ``reference_training`` does, to
    1e-12 relative, with every step taken."""
    from symgrad.training import train

    result = train(kernel, data, theta0, opt, epochs=epochs, batch_size=batch)
    assert result.diverged_epoch is None and result.steps == epochs * -(-len(data) // batch)
    expected = reference_training(gradient, theta0, opt, data, batch, epochs)
    np.testing.assert_allclose(result.params, expected, rtol=1e-12, atol=0)


def assert_a_model_trains_as_the_plain_loop(kernel, reference, data, opt, batch: int,
                                            epochs: int) -> None:
    """The same for an expression model's ``kernel`` from [0.3, -0.4, 0.1], the loop taking
    the ``reference`` kernel's gradients (``reference(theta, rows)[1]``)."""
    assert_trains_as_the_plain_loop(kernel, lambda theta, rows: reference(theta, rows)[1], data,
                                    [0.3, -0.4, 0.1], opt, batch, epochs)


def assert_a_chain_trains_as_the_plain_loop(network, text: str, opt, rows: int, batch: int,
                                            epochs: int) -> None:
    """The same for ``network(chain, 2, "mse")`` (a layer engine's class) on a chain over two
    random features, the loop taking the CPU layer engine's gradients."""
    from symgrad.layers import init_params, parse_chain
    from symgrad.layers.cpu import CpuNetwork

    chain = parse_chain(text)
    rng = np.random.default_rng(1)
    data = np.column_stack([rng.normal(size=(rows, 2)), rng.normal(size=rows)])
    reference = CpuNetwork(chain, 2, "mse")

    def gradient(theta, batch_data):
        n, columns = reference.columns(batch_data)
        return reference.evaluate(theta, n, columns)[1].copy()
    assert_trains_as_the_plain_loop(network(chain, 2, "mse"), gradient, data,
                                    init_params(chain, 2, seed=0), opt, batch, epochs)


def assert_an_overflowing_state_commits_nothing(backend: str, opt) -> None:
    """The loss w*x and its gradient x are finite at x = 1e300, but g*g is not: the second
    step's new state is inf, so training stops with the first step's parameters."""
    import symgrad

    f = symgrad.compile("w*x", ["w"], ["x"], backend=backend)
    with np.errstate(over="ignore"):  # numpy's g*g
        result = symgrad.train(f, np.array([[1.0], [1e300]]), [0.5], opt, epochs=3, batch_size=1)
    assert result.diverged_epoch == 0 and result.steps == 1
    expected = pytorch_stepper(opt)(np.array([0.5]), np.array([1.0]))
    np.testing.assert_allclose(result.params, expected, rtol=1e-12, atol=0)
