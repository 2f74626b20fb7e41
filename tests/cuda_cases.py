"""The cuda backend against the numba CPU backend. Not collected on its own: test_cuda.py runs
this file in a subprocess with NUMBA_ENABLE_CUDASIM=1 (the simulator must be chosen before
Numba is imported), and again in-process on a machine with a real GPU."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

import symgrad
from cli import main
from symgrad.errors import SymgradError
from symgrad.optim import SGD, Adam, Momentum, Nesterov
from symgrad.training import train
from test_compile import IDS, MODELS, random_case

HOURS = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])


def pair(loss, params, inputs, **options):
    return (symgrad.compile(loss, params, inputs, backend="cuda", **options),
            symgrad.compile(loss, params, inputs, backend="numba", **options))


@pytest.mark.parametrize("name, loss, params, inputs", MODELS, ids=IDS)
def test_loss_and_gradient_equal_the_cpu_backends(name, loss, params, inputs):
    params, inputs = params.split(), inputs.split()
    on_gpu, on_cpu = pair(loss, params, inputs)
    theta, data = random_case(params, inputs, rows=37)
    (gpu_loss, gpu_grad), (cpu_loss, cpu_grad) = on_gpu(theta, data), on_cpu(theta, data)
    assert gpu_loss == pytest.approx(cpu_loss, rel=1e-10, abs=1e-14)
    np.testing.assert_allclose(gpu_grad, cpu_grad, rtol=1e-10, atol=1e-14)


def test_float32_storage_agrees_to_float32_precision():
    on_gpu, on_cpu = pair("(sigmoid(w0*x0 + w1*x1 + b) - y)**2", ["w0", "w1", "b"],
                          ["x0", "x1", "y"], dtype="float32")
    theta, data = random_case(["w0", "w1", "b"], ["x0", "x1", "y"], rows=37)
    (gpu_loss, gpu_grad), (cpu_loss, cpu_grad) = on_gpu(theta, data), on_cpu(theta, data)
    assert gpu_grad.dtype == np.float32
    assert gpu_loss == pytest.approx(cpu_loss, rel=1e-6)
    np.testing.assert_allclose(gpu_grad, cpu_grad, rtol=1e-5, atol=1e-7)


def test_prediction_equals_the_cpu_backends():
    model = symgrad.Model.supervised("sigmoid(w*x + b)", target="y", inputs=["x"])
    on_gpu = symgrad.compile(model, backend="cuda")
    on_cpu = symgrad.compile(model, backend="numba")
    x = {"x": np.linspace(-3, 3, 21)}
    np.testing.assert_allclose(on_gpu.predict([0.7, -0.2], x), on_cpu.predict([0.7, -0.2], x),
                               rtol=1e-12)


@pytest.mark.parametrize("optimizer", [Momentum(lr=0.05), Nesterov(lr=0.05), Adam(lr=0.05)],
                         ids=["momentum", "nesterov", "adam"])
def test_shuffled_mini_batches_follow_the_cpu_path(optimizer):
    names, inputs = ["w0", "w1", "b"], ["x0", "x1", "y"]
    on_gpu, on_cpu = pair("(sigmoid(w0*x0 + w1*x1 + b) - y)**2", names, inputs)
    theta, data = random_case(names, inputs, rows=13, seed=3)
    runs = [train(f, data, theta, optimizer, epochs=2, batch_size=5, shuffle=True, seed=7)
            for f in (on_gpu, on_cpu)]
    np.testing.assert_allclose(runs[0].params, runs[1].params, rtol=1e-10)
    np.testing.assert_allclose(runs[0].history, runs[1].history, rtol=1e-10)
    assert runs[0].steps == runs[1].steps == 6


def test_divergence_stops_at_the_same_step_with_the_last_finite_params():
    on_gpu, on_cpu = pair("(w*x - y)**2", ["w"], ["x", "y"])
    data = np.array([[1e100, 1.0], [2e100, 1.0]])
    runs = [train(f, data, [1.0], SGD(lr=1.0), epochs=5) for f in (on_gpu, on_cpu)]
    assert runs[0].diverged_epoch == runs[1].diverged_epoch is not None
    assert runs[0].steps == runs[1].steps
    assert np.isfinite(runs[0].params).all()
    np.testing.assert_allclose(runs[0].params, runs[1].params, rtol=1e-12)


def test_small_layer_chain_on_the_device():
    from symgrad.layers import init_params, parse_chain
    from symgrad.network import ChainModel

    chain = parse_chain("dense(2) -> sigmoid -> dense(1)")
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    theta = init_params(chain, 2, seed=0)
    runs = []
    for backend in ("cuda", "numba"):
        model = ChainModel(chain, ["a", "b"], "mse", backend)
        runs.append(train(model.compile(), model.matrix(X, y), theta, SGD(lr=0.5), epochs=4))
    np.testing.assert_allclose(runs[0].params, runs[1].params, rtol=1e-10)


def test_large_chains_are_refused_in_one_line():
    from symgrad.layers import parse_chain
    from symgrad.network import ChainModel

    model = ChainModel(parse_chain("dense(64) -> tanh -> dense(3)"), ["a", "b"], "ce", "cuda")
    with pytest.raises(SymgradError, match="layer engine runs on the CPU"):
        model.compile()


def test_cli_train_reproduces_hours_sgd(tmp_path):
    (tmp_path / "hours.csv").write_text("x,y\n1,2\n2,4\n3,6\n")
    out = tmp_path / "params.json"
    result = CliRunner().invoke(main, ["train", str(tmp_path / "hours.csv"), "--model", "w*x",
                                       "--target", "y", "--init", "w=1", "--batch-size", "1",
                                       "--epochs", "10", "--backend", "cuda", "--out", str(out),
                                       "--quiet"])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["steps"] == 30 and document["backend"] == "cuda"
    (tmp_path / "four.csv").write_text("x\n4\n")
    predicted = CliRunner().invoke(main, ["predict", str(out), str(tmp_path / "four.csv")])
    assert predicted.stdout == "x,prediction\n4.0,7.804863933862125\n"
