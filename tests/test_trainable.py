"""symgrad.trainable: every engine is a Trainable and declares only capabilities it has; the
training loop's engines, picked from those declarations, follow the same path."""
import numpy as np
import pytest

import symgrad
from symgrad.codegen import BACKENDS
from symgrad.errors import SymgradError
from symgrad.trainable import Capabilities, Trainable

CPU_BACKENDS = [name for name in BACKENDS if BACKENDS[name].runtime is None]
CAPABILITY_METHODS = {"compiled_epochs": "train_epochs", "compiled_step": "step_into",
                      "on_device": "device_run", "fused_sgd": "fused_step"}


def _data(rows=64, seed=0):
    x = np.random.default_rng(seed).normal(size=rows)
    return np.column_stack([x, 2.0 * x - 1.0])


@pytest.mark.parametrize("name", CPU_BACKENDS)
def test_a_kernel_declares_its_backends_capabilities(name):
    kernel = symgrad.compile("(w*x + b - y)**2", ["w", "b"], ["x", "y"], backend=name)
    assert isinstance(kernel, Trainable)
    assert kernel.capabilities == BACKENDS[name].capabilities
    for capability, method in CAPABILITY_METHODS.items():
        if getattr(kernel.capabilities, capability):
            assert callable(getattr(kernel, method))


def test_the_cpu_layer_engine_offers_the_compiled_step_and_fused_sgd_for_plain_sgd_only():
    from symgrad.layers import parse_chain
    from symgrad.layers.chain_model import ChainModel

    kernel = ChainModel(parse_chain("dense(40) -> tanh -> dense(1)"), ["x"], "mse").compile()
    assert isinstance(kernel, Trainable)
    assert kernel.capabilities == Capabilities(compiled_step=True, fused_sgd=True)
    assert kernel.fused_step(symgrad.SGD(lr=0.1)) is not None
    assert kernel.fused_step(symgrad.Adam(lr=0.1)) is None


@pytest.mark.parametrize("optimizer", [symgrad.SGD(lr=0.1), symgrad.Adam(lr=0.05)],
                         ids=["sgd", "adam"])
def test_every_engine_follows_the_same_path(optimizer):
    """numba's compiled epochs and compiled step, and numpy's plain Python step, from the
    same start, shuffled mini-batches: the same parameters."""
    data, results = _data(), {}
    for name in CPU_BACKENDS:
        kernel = symgrad.compile("(w*x + b - y)**2", ["w", "b"], ["x", "y"], backend=name)
        results[name] = symgrad.train(kernel, data, [0.5, 0.5], optimizer, 5, batch_size=16,
                                      shuffle=True, seed=3).params
    for params in results.values():
        np.testing.assert_allclose(params, results["numpy"], rtol=1e-10)


@pytest.mark.parametrize("kernel", [None, "(w*x - y)**2", object()])
def test_training_something_that_is_not_trainable_is_refused(kernel):
    with pytest.raises(SymgradError, match="kernel must be compiled"):
        symgrad.train(kernel, _data(), [0.0], symgrad.SGD(), 1)
