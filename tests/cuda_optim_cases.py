"""RMSprop, Adagrad and AdamW on the CUDA engines (an expression model's DeviceRun, a layer
chain's NetworkRun): the parameters of a plain loop of PyTorch's algorithm (optim_reference.py)
over the CPU kernels' gradients, and the divergence guard on the device. Not collected on its own:
test_optimizers_torch.py runs this file in a subprocess with NUMBA_ENABLE_CUDASIM=1 (and again
on a real GPU where there is one). Small on purpose: every simulated thread is Python."""
import numpy as np
import pytest

import symgrad
from optim_reference import (assert_a_chain_trains_as_the_plain_loop,
                             assert_a_model_trains_as_the_plain_loop,
                             assert_an_overflowing_state_commits_nothing)
from symgrad.optim import Adagrad, AdamW, RMSprop

pytestmark = pytest.mark.cuda

NEW = [RMSprop(lr=0.02, alpha=0.9, weight_decay=0.1), Adagrad(lr=0.1, weight_decay=0.1),
       AdamW(lr=0.02, weight_decay=0.3)]
IDS = [type(o).__name__ for o in NEW]
ROWS, BATCH, EPOCHS = 7, 3, 2


@pytest.mark.parametrize("opt", NEW, ids=IDS)
def test_an_expression_model_on_the_device_is_the_plain_loop(opt):
    names, inputs = ["w0", "w1", "b"], ["x0", "x1", "y"]
    loss = "(sigmoid(w0*x0 + w1*x1 + b) - y)**2"
    on_gpu, on_cpu = (symgrad.compile(loss, names, inputs, backend=b) for b in ("cuda", "numba"))
    data = np.random.default_rng(2).normal(size=(ROWS, 3))
    assert_a_model_trains_as_the_plain_loop(on_gpu, on_cpu, data, opt, BATCH, EPOCHS)


@pytest.mark.parametrize("opt", NEW, ids=IDS)
def test_a_layer_chain_on_the_device_is_the_plain_loop(opt):
    from symgrad.layers.cuda import CudaNetwork

    text = "dense(2) -> tanh -> dense(1)"
    assert_a_chain_trains_as_the_plain_loop(CudaNetwork, text, opt, ROWS, BATCH, EPOCHS)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the simulator's
@pytest.mark.parametrize("opt", NEW, ids=IDS)                             # g*g, in numpy
def test_a_step_whose_state_overflows_commits_nothing_on_the_device(opt):
    assert_an_overflowing_state_commits_nothing("cuda", opt)
