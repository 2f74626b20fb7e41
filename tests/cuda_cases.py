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
from support import IDS, MODELS, random_case

pytestmark = pytest.mark.cuda

def symgrad_on_the_simulator() -> bool:
    from numba import config
    return bool(config.ENABLE_CUDASIM)


HOURS = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])


def pair(loss, params, inputs, **options):
    return (symgrad.compile(loss, params, inputs, backend="cuda", **options),
            symgrad.compile(loss, params, inputs, backend="numba", **options))


# The simulator runs device code as Python, whose math.sqrt(-1) raises where the GPU (and
# numba on the CPU) returns nan: on the simulator, this row's x stays positive, where its
# branch not taken is finite. Its nan-free gradient is checked on both CPU backends.
POSITIVE_ON_THE_SIMULATOR = {"where-and-or": "x"}


@pytest.mark.parametrize("name, loss, params, inputs", MODELS, ids=IDS)
def test_loss_and_gradient_equal_the_cpu_backends(name, loss, params, inputs):
    params, inputs = params.split(), inputs.split()
    on_gpu, on_cpu = pair(loss, params, inputs)
    theta, data = random_case(params, inputs, rows=37)
    if name in POSITIVE_ON_THE_SIMULATOR and symgrad_on_the_simulator():
        column = inputs.index(POSITIVE_ON_THE_SIMULATOR[name])
        data[:, column] = np.abs(data[:, column])
    (gpu_loss, gpu_grad), (cpu_loss, cpu_grad) = on_gpu(theta, data), on_cpu(theta, data)
    assert gpu_loss == pytest.approx(cpu_loss, rel=1e-10, abs=1e-14)
    np.testing.assert_allclose(gpu_grad, cpu_grad, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", ["tanh-net", "bce", "max-min"])
def test_second_order_kernels_equal_the_reference(name):
    _, loss, params, inputs = MODELS[IDS.index(name)]
    params, inputs = params.split(), inputs.split()
    on_gpu, reference = (symgrad.compile(loss, params, inputs, backend=b, order=2)
                         for b in ("cuda", "numpy"))
    theta, data = random_case(params, inputs, rows=29, seed=4)
    for ours, expected in zip(on_gpu.hessian(theta, data), reference.hessian(theta, data)):
        np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-13)
    if reference.least_squares:
        for ours, expected in zip(on_gpu.gauss_newton(theta, data),
                                  reference.gauss_newton(theta, data)):
            np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-13)


def test_the_prediction_jacobian_equals_the_reference():
    model = symgrad.Model.supervised("a*exp(-k*t) + c*sigmoid(t - k)", target="y", inputs=["t"])
    on_gpu, reference = (symgrad.compile(model, backend=b, order=2) for b in ("cuda", "numpy"))
    t = {"t": np.linspace(0, 5, 17), "y": np.zeros(17)}
    np.testing.assert_allclose(on_gpu.jacobian([2.0, 0.3, 0.5], t),
                               reference.jacobian([2.0, 0.3, 0.5], t), rtol=1e-12)


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


@pytest.fixture(params=["one block", "three launches"])
def step_launches(request, monkeypatch):
    """A step's reduction, check and update: fused in one block (few sums), or the three
    launches larger models use (forced here by lowering the limit)."""
    from symgrad.runtime import cuda_support
    if request.param == "three launches":
        monkeypatch.setattr(cuda_support, "FUSED_SUMS", 0)
    return request.param


@pytest.mark.parametrize("optimizer", [Momentum(lr=0.05), Nesterov(lr=0.05), Adam(lr=0.05)],
                         ids=["momentum", "nesterov", "adam"])
def test_shuffled_mini_batches_follow_the_cpu_path(optimizer, step_launches):
    names, inputs = ["w0", "w1", "b"], ["x0", "x1", "y"]
    on_gpu, on_cpu = pair("(sigmoid(w0*x0 + w1*x1 + b) - y)**2", names, inputs)
    theta, data = random_case(names, inputs, rows=13, seed=3)
    runs = [train(f, data, theta, optimizer, epochs=2, batch_size=5, shuffle=True, seed=7)
            for f in (on_gpu, on_cpu)]
    np.testing.assert_allclose(runs[0].params, runs[1].params, rtol=1e-10)
    np.testing.assert_allclose(runs[0].history, runs[1].history, rtol=1e-10)
    assert runs[0].steps == runs[1].steps == 6


def test_divergence_stops_at_the_same_step_with_the_last_finite_params(step_launches):
    on_gpu, on_cpu = pair("(w*x - y)**2", ["w"], ["x", "y"])
    data = np.array([[1e100, 1.0], [2e100, 1.0]])
    runs = [train(f, data, [1.0], SGD(lr=1.0), epochs=5) for f in (on_gpu, on_cpu)]
    assert runs[0].diverged_epoch == runs[1].diverged_epoch is not None
    assert runs[0].steps == runs[1].steps
    assert np.isfinite(runs[0].params).all()
    np.testing.assert_allclose(runs[0].params, runs[1].params, rtol=1e-12)


def test_small_layer_chain_on_the_device():
    from symgrad.layers import init_params, parse_chain
    from symgrad.layers.chain_model import ChainModel

    chain = parse_chain("dense(2) -> sigmoid -> dense(1)")
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    theta = init_params(chain, 2, seed=0)
    runs = []
    for backend in ("cuda", "numba"):
        model = ChainModel(chain, ["a", "b"], "mse", backend)
        runs.append(train(model.compile(), model.matrix(X, y), theta, SGD(lr=0.5), epochs=4))
    np.testing.assert_allclose(runs[0].params, runs[1].params, rtol=1e-10)


LAYER_CHAINS = [("dense(6) -> tanh -> dense(5) -> relu -> dense(3)", "ce"),
                ("dense(4) -> dense(3) -> sigmoid -> dense(1)", "mse"),
                ("tanh -> dense(7) -> elu -> dense(4) -> log_softmax", "ce"),
                ("dense(8) -> tanh -> dense(1) -> sigmoid", "bce")]


def layer_engines(text, loss, rows=9, seed=0):
    """(device engine, CPU engine, data matrix, theta) for a chain over 3 features."""
    from symgrad.layers.cuda import CudaNetwork
    from symgrad.layers import init_params, parse_chain
    from symgrad.layers.cpu import CpuNetwork

    chain = parse_chain(text)
    rng = np.random.default_rng(seed)
    width = chain.dense[-1].width
    y = rng.integers(0, width, rows) if loss == "ce" else \
        rng.integers(0, 2, rows) if loss == "bce" else rng.normal(size=rows)
    data = np.column_stack([rng.normal(size=(rows, 3)), y])
    return CudaNetwork(chain, 3, loss), CpuNetwork(chain, 3, loss), data, \
        init_params(chain, 3, seed)


@pytest.mark.parametrize("text, loss", LAYER_CHAINS, ids=[t for t, _ in LAYER_CHAINS])
def test_layer_engine_on_the_device_equals_the_cpu_engine(text, loss):
    on_gpu, on_cpu, data, theta = layer_engines(text, loss)
    assert on_gpu.size > 32                     # beyond the unrolled engine's sizes
    n, columns = on_cpu.columns(data)
    (gpu_loss, gpu_grad, _), (cpu_loss, cpu_grad, _) = \
        on_gpu.evaluate(theta, n, columns), on_cpu.evaluate(theta, n, columns)
    assert gpu_loss == pytest.approx(cpu_loss, rel=1e-12)
    np.testing.assert_allclose(gpu_grad, cpu_grad, rtol=1e-10, atol=1e-14)
    direction = np.random.default_rng(1).normal(size=theta.size)   # central difference
    h = 1e-6
    slope = (on_gpu.evaluate(theta + h * direction, n, columns)[0]
             - on_gpu.evaluate(theta - h * direction, n, columns)[0]) / (2 * h)
    assert slope == pytest.approx(gpu_grad @ direction, rel=1e-6)
    X = data[:, :3]
    np.testing.assert_allclose(on_gpu.predict(theta, X), on_cpu.predict(theta, X), rtol=1e-12)


@pytest.mark.parametrize("optimizer", [SGD(lr=0.1), Adam(lr=0.05)], ids=["sgd", "adam"])
def test_layer_chain_training_on_the_device_follows_the_cpu_path(optimizer):
    on_gpu, on_cpu, data, theta = layer_engines(*LAYER_CHAINS[0], rows=7)
    runs = [train(kernel, data, theta, optimizer, epochs=2, batch_size=4, shuffle=True, seed=5)
            for kernel in (on_gpu, on_cpu)]
    assert runs[0].steps == runs[1].steps == 4      # the last batch of each epoch is partial
    np.testing.assert_allclose(runs[0].params, runs[1].params, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(runs[0].history, runs[1].history, rtol=1e-10)


def test_layer_chain_divergence_on_the_device_keeps_the_cpu_paths_last_finite_params():
    on_gpu, on_cpu, data, theta = layer_engines("dense(6) -> relu -> dense(5) -> dense(1)",
                                                "mse", rows=6)
    data[:, :3] *= 1e30
    runs = [train(kernel, data, theta, SGD(lr=1.0), epochs=40, batch_size=3)
            for kernel in (on_gpu, on_cpu)]
    assert runs[0].diverged_epoch == runs[1].diverged_epoch is not None
    assert runs[0].steps == runs[1].steps and np.isfinite(runs[0].params).all()
    np.testing.assert_allclose(runs[0].params, runs[1].params, rtol=1e-9)


def three_classes(path, rows: int):
    """A CSV of three features and a label a, b or c on each row."""
    lines = ["x0,x1,x2,label"] + [f"{i % 7 / 3},{i % 5 - 2},{(i * 7) % 11 / 5},{'abc'[i % 3]}"
                                  for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")


def trained_chain(tmp_path, name: str, *options):
    """symgrad train of dense(8) -> tanh -> dense(3) on tmp_path/d.csv: (PARAMS.json, its
    document)."""
    out = tmp_path / f"{name}.json"
    result = CliRunner().invoke(main, [
        "train", str(tmp_path / "d.csv"), "--target", "label", "--loss", "ce", "--model",
        "dense(8) -> tanh -> dense(3)", *options, "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out, json.loads(out.read_text())


def test_cli_trains_a_layer_chain_on_the_device_like_the_cpu(tmp_path):
    three_classes(tmp_path / "d.csv", 12)
    documents = [trained_chain(tmp_path, backend, "--optimizer", "adam", "--lr", "0.01",
                               "--epochs", "2", "--batch-size", "8", "--shuffle", "--seed",
                               "0", "--backend", backend)[1]
                 for backend in ("cuda", "numba")]
    assert documents[0]["backend"] == "cuda" and documents[0]["steps"] == 4
    for name, values in documents[1]["params"].items():
        np.testing.assert_allclose(documents[0]["params"][name], values, rtol=1e-10)


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


@pytest.mark.parametrize("text, loss", LAYER_CHAINS[:2] + LAYER_CHAINS[3:],
                         ids=[t for t, _ in LAYER_CHAINS[:2] + LAYER_CHAINS[3:]])
def test_the_layer_engine_in_float32_agrees_to_float32_precision(text, loss):
    from symgrad.layers.cuda import CudaNetwork
    on_gpu, on_cpu, data, theta = layer_engines(text, loss, rows=33)
    single = CudaNetwork(on_gpu.chain, 3, loss, "float32")
    n, columns = on_cpu.columns(data)
    (loss32, grad32, _), (loss64, grad64, _) = \
        single.evaluate(theta, n, columns), on_cpu.evaluate(theta, n, columns)
    assert grad32.dtype == np.float32
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    assert np.linalg.norm(grad32 - grad64) <= 1e-5 * np.linalg.norm(grad64)
    runs = [train(kernel, data, theta, Adam(lr=0.01), epochs=3, batch_size=8)
            for kernel in (single, on_cpu)]
    assert runs[0].params.dtype == np.float32
    np.testing.assert_allclose(runs[0].params, runs[1].params, rtol=0, atol=1e-4)
    np.testing.assert_allclose(single.predict(theta, data[:, :3]),
                               on_cpu.predict(theta, data[:, :3]), rtol=1e-4, atol=1e-5)


def test_on_a_gpu_with_cupy_the_layer_engines_products_go_to_cublas(monkeypatch):
    """Where CuPy is installed (the cuda extra) the GEMMs and bias sums are cuBLAS's, checked
    above against the CPU engine; nothing falls back to the tiled kernels unseen."""
    import importlib.util

    from symgrad.runtime import cuda_blas
    if symgrad_on_the_simulator() or importlib.util.find_spec("cupy") is None:
        assert symgrad_on_the_simulator() or cuda_blas.library() is None
        return
    assert cuda_blas.library() is not None
    answers = {"gemm": [], "column_sums": []}
    for name, calls in answers.items():
        original = getattr(cuda_blas, name)
        monkeypatch.setattr(cuda_blas, name, lambda *a, original=original, calls=calls:
                            calls.append(original(*a)) or calls[-1])
    on_gpu, on_cpu, data, theta = layer_engines(*LAYER_CHAINS[0])
    n, columns = on_cpu.columns(data)
    np.testing.assert_allclose(on_gpu.evaluate(theta, n, columns)[1],
                               on_cpu.evaluate(theta, n, columns)[1], rtol=1e-10, atol=1e-14)
    assert all(calls and all(calls) for calls in answers.values()), answers


def test_small_grids_raise_no_performance_warnings():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = symgrad.compile("(w*x - y)**2", ["w"], ["x", "y"], backend="cuda")
        result = train(f, HOURS, [0.0], SGD(lr=0.01), epochs=3)
    assert result.steps == 3


def test_cli_trains_a_layer_chain_in_float32_on_the_device(tmp_path):
    three_classes(tmp_path / "d.csv", 40)
    documents = []
    for dtype in ("float32", "float64"):
        out, document = trained_chain(tmp_path, dtype, "--lr", "0.1", "--epochs", "3",
                                      "--backend", "cuda", "--dtype", dtype)
        documents.append(document)
        predicted = CliRunner().invoke(main, ["predict", str(out), str(tmp_path / "d.csv")])
        assert predicted.exit_code == 0 and predicted.stdout.count("\n") == 41
    assert documents[0]["dtype"] == "float32"
    for name, values in documents[1]["params"].items():
        np.testing.assert_allclose(documents[0]["params"][name], values, atol=1e-5)
