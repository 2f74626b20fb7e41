"""RMSprop, Adagrad and AdamW (and the weight decay of all seven optimizers) against PyTorch:
an independent numpy transcription of torch.optim's documented algorithms (optim_reference.py,
always run), torch.optim itself where torch is installed (the bench extra), training through
``symgrad.train`` on every engine (compiled epochs, stepwise numpy, the CPU layer chain; the
CUDA engines in cuda_optim_cases.py on Numba's simulator), and the divergence guard."""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import symgrad
from optim_reference import (assert_a_chain_trains_as_the_plain_loop,
                             assert_a_model_trains_as_the_plain_loop,
                             assert_an_overflowing_state_commits_nothing, pytorch_stepper)
from symgrad.optim import SGD, Adagrad, Adam, AdamW, Momentum, Nesterov, RMSprop
from symgrad.training import _Run

NEW = [RMSprop(lr=0.01), RMSprop(lr=0.02, alpha=0.9, eps=1e-6, weight_decay=0.1),
       Adagrad(lr=0.1), Adagrad(lr=0.05, eps=1e-8, weight_decay=0.1),
       AdamW(lr=0.01), AdamW(lr=0.02, beta1=0.8, beta2=0.99, weight_decay=0.0),
       AdamW(lr=0.01, weight_decay=0.3)]
DECAYED = [SGD(lr=0.1, weight_decay=0.05), Momentum(lr=0.1, momentum=0.8, weight_decay=0.05),
           Nesterov(lr=0.1, momentum=0.8, weight_decay=0.05), Adam(lr=0.05, weight_decay=0.05)]


def name(opt) -> str:
    return f"{type(opt).__name__}-wd{opt.weight_decay}-lr{opt.lr}"


@pytest.mark.parametrize("opt", NEW, ids=name)
def test_each_new_rule_follows_pytorch_s_algorithm_on_random_gradients(opt):
    from symgrad.runtime.numba_support import guarded_step

    rng = np.random.default_rng(4)
    theta0, grads = rng.normal(size=6), rng.normal(size=(20, 6)) * rng.uniform(0.1, 10, size=6)
    expected, step = theta0.copy(), pytorch_stepper(opt)
    numpy_theta, numpy_state = theta0.copy(), opt.new_state(6)
    compiled_theta, compiled_state = theta0.copy(), opt.new_state(6)
    for t, grad in enumerate(grads, start=1):
        expected = step(expected, grad)
        assert opt.step(numpy_theta, grad, numpy_state, t)
        assert guarded_step(opt.KIND, compiled_theta, grad, compiled_state, opt.hyper(), t)
        np.testing.assert_allclose(numpy_theta, expected, rtol=1e-12, atol=0)
        np.testing.assert_allclose(compiled_theta, expected, rtol=1e-12, atol=0)
    assert not np.allclose(expected, theta0, rtol=1e-3)  # the steps moved theta


A = np.array([[3.0, 0.5, 0.2], [0.5, 2.0, -0.3], [0.2, -0.3, 1.0]])
B = np.array([1.0, -2.0, 0.5])
THETA0 = np.array([0.7, -1.3, 2.1])


def quadratic_gradient(theta):
    """The gradient of 0.5 theta.A.theta - b.theta."""
    return A @ theta - B


def torch_optimizer(opt, params):
    import torch
    kind, lr, wd = type(opt).__name__, opt.lr, opt.weight_decay
    if kind in ("SGD", "Momentum", "Nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=getattr(opt, "momentum", 0.0),
                               nesterov=kind == "Nesterov", weight_decay=wd)
    if kind == "RMSprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=opt.alpha, eps=opt.eps, weight_decay=wd)
    if kind == "Adagrad":
        return torch.optim.Adagrad(params, lr=lr, eps=opt.eps, weight_decay=wd)
    return getattr(torch.optim, kind)(params, lr=lr, betas=(opt.beta1, opt.beta2), eps=opt.eps,
                                      weight_decay=wd)


@pytest.mark.parametrize("opt", NEW + DECAYED, ids=name)
def test_iterates_equal_torch_optim_s(opt):
    torch = pytest.importorskip("torch")  # the bench extra; the transcription test always runs
    param = torch.tensor(THETA0, dtype=torch.float64, requires_grad=True)
    theirs = torch_optimizer(opt, [param])
    theta, state = THETA0.copy(), opt.new_state(3)
    for t in range(1, 21):
        param.grad = torch.from_numpy(quadratic_gradient(param.detach().numpy().copy()))
        theirs.step()
        assert opt.step(theta, quadratic_gradient(theta), state, t)
        np.testing.assert_allclose(theta, param.detach().numpy(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("opt", NEW + DECAYED, ids=name)
def test_the_transcription_is_torch_optim_s_algorithm(opt):
    """The reference the engine tests use, itself checked against torch.optim."""
    torch = pytest.importorskip("torch")
    param = torch.tensor(THETA0, dtype=torch.float64, requires_grad=True)
    theirs, step, theta = torch_optimizer(opt, [param]), pytorch_stepper(opt), THETA0.copy()
    for _ in range(20):
        param.grad = torch.from_numpy(quadratic_gradient(param.detach().numpy().copy()))
        theirs.step()
        theta = step(theta, quadratic_gradient(theta))
    np.testing.assert_allclose(theta, param.detach().numpy(), rtol=1e-12, atol=0)


LOSS, PARAMS, INPUTS = "bce(sigmoid(w0*x0 + w1*x1 + b), y)", ["w0", "w1", "b"], ["x0", "x1", "y"]
ROWS, BATCH, EPOCHS = 11, 4, 4


@pytest.fixture(scope="module")
def kernels():
    return {backend: symgrad.compile(LOSS, PARAMS, INPUTS, backend=backend)
            for backend in ("numba", "numpy")}


@pytest.mark.parametrize("opt", NEW, ids=name)
@pytest.mark.parametrize("backend, engine", [("numba", "compiled"), ("numpy", "stepwise")])
def test_training_on_the_expression_engines_is_the_plain_loop(kernels, opt, backend, engine,
                                                              monkeypatch):
    other = "stepwise" if engine == "compiled" else "compiled"
    monkeypatch.setattr(_Run, other, lambda *_: pytest.fail(f"the {other} engine ran"))
    rng, f = np.random.default_rng(3), kernels[backend]
    data = np.column_stack([rng.normal(size=(ROWS, 2)), rng.integers(0, 2, ROWS)])
    assert_a_model_trains_as_the_plain_loop(f, f, data, opt, BATCH, EPOCHS)


@pytest.mark.parametrize("opt", NEW, ids=name)
def test_training_a_layer_chain_on_the_cpu_is_the_plain_loop(opt):
    from symgrad.layers.cpu import CpuNetwork

    text = "dense(3) -> tanh -> dense(1)"
    assert_a_chain_trains_as_the_plain_loop(CpuNetwork, text, opt, ROWS, BATCH, EPOCHS)


@pytest.mark.parametrize("opt", [RMSprop(), Adagrad(), AdamW(weight_decay=0.1)], ids=name)
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_a_step_whose_state_overflows_commits_nothing(opt, backend):
    assert_an_overflowing_state_commits_nothing(backend, opt)


def gpu_present() -> bool:
    from numba import cuda
    return cuda.is_available()


@pytest.mark.cuda
@pytest.mark.slow
@pytest.mark.parametrize("simulated", [True, False], ids=["simulator", "gpu"])
def test_the_cuda_engines_train_by_the_new_rules(simulated):
    """cuda_optim_cases.py in a subprocess (the simulator must be chosen before Numba is
    imported); on a machine with a GPU, once more on the device."""
    if not simulated and not gpu_present():
        pytest.skip("no CUDA GPU on this machine: the cases ran on the simulator only")
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1" if simulated else "0",
           "NUMBA_CACHE_DIR": tempfile.mkdtemp(prefix="symgrad-cuda-optim-")}
    tests = Path(__file__).resolve().parent
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(tests / "cuda_optim_cases.py")], cwd=tests.parent, env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    summary = run.stdout.strip().splitlines()[-1]
    assert "passed" in summary and "skipped" not in summary, summary
