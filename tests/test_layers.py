"""Layer chains: both engines against each other and against central differences for every
layer type, the lectures' xor and the iris classifier, chain parsing and index-notation output."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import symgrad
from cli import main
from symgrad import ParseError
from symgrad.layers.symbolic import chain_formulas, unrolled_model
from symgrad.layers import ACTIVATIONS, flatten, init_params, parse_chain, unflatten
from symgrad.layers.chain_model import ChainModel
from symgrad.layers.cpu import CpuNetwork

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "data"
CHAINS = [(f"dense(3) -> {a} -> dense(2)", "ce") for a in ("sigmoid", "relu", "elu", "leaky_relu")]
CHAINS += [("dense(3) -> sigmoid -> dense(1) -> sigmoid", "mse"),
           ("dense(4) -> dense(3) -> tanh -> dense(2) -> log_softmax", "ce"),
           ("tanh -> dense(3) -> relu -> dense(3) -> softmax", "ce")]


def case(text, loss, rows=9, seed=0):
    chain = parse_chain(text)
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.5, 1.5, size=(rows, 2))  # positive inputs: log and sqrt layers stay real
    if "log" in text or "sqrt" in text:
        theta = np.abs(init_params(chain, 2, seed))
    else:
        theta = init_params(chain, 2, seed)
    width = chain.dense[-1].width
    targets = rng.integers(0, width, size=rows).astype(float) if loss == "ce" else \
        rng.normal(size=rows)
    return chain, X, theta, targets


def central_differences(f, theta, h=1e-6):
    grad = np.empty_like(theta)
    for k in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[k] += h
        down[k] -= h
        grad[k] = (f(up) - f(down)) / (2 * h)
    return grad


@pytest.mark.parametrize("text, loss", CHAINS, ids=[f"{t} [{l}]" for t, l in CHAINS])
def test_layer_engine_matches_unrolled_path_and_central_differences(text, loss):
    chain, X, theta, targets = case(text, loss)
    net = CpuNetwork(chain, 2, loss)
    n, columns = net.columns(np.column_stack([X, targets]))
    value, grad, _ = net.evaluate(theta, n, columns)
    unrolled = symgrad.compile(unrolled_model(chain, ["x0", "x1"], loss), backend="numpy")
    data = np.column_stack([X, np.eye(chain.dense[-1].width)[targets.astype(int)]
                            if loss == "ce" else targets])
    reference_value, reference = unrolled(theta, data)
    assert value == pytest.approx(reference_value, rel=1e-12)
    np.testing.assert_allclose(grad, reference, rtol=1e-10, atol=1e-13)
    numeric = central_differences(lambda th: net.evaluate(th, n, columns)[0], theta)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_softmax_cross_entropy_is_finite_for_huge_logits_and_its_gradient_is_softmax_minus_onehot():
    chain = parse_chain("dense(3)")
    net = CpuNetwork(chain, 1, "ce")
    theta = np.array([1e3, -1e3, 0.0, 0.0, 0.0, 0.0])  # W = (1000, -1000, 0), b = 0
    n, columns = net.columns(np.array([[1.0, 1.0], [-1.0, 0.0]]))
    value, grad, _ = net.evaluate(theta, n, columns)
    assert np.isfinite(value) and np.isfinite(grad).all()
    assert value == pytest.approx(2000.0, rel=1e-12)  # lse - z_label = 1000 - (-1000), each row
    softmax = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    onehot = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    delta = (softmax - onehot) / 2
    np.testing.assert_allclose(grad[:3], delta.T @ np.array([1.0, -1.0]), atol=1e-12)
    np.testing.assert_allclose(grad[3:], delta.sum(axis=0), atol=1e-12)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_every_activation_rule_matches_central_differences(name):
    """The rule the layer kernels print: f'(z) written with a = f(z), at 50 digits."""
    import sympy as sp
    from symgrad.layers import Activation, rule_symbols

    Z, A = rule_symbols()
    activation = Activation(name)
    value, slope = activation.value(Z), activation.derivative()
    checked = 0
    for z in (0.3, 0.7, 1.3, 2.1):
        at = {Z: sp.Float(z, 50), A: value.evalf(50, subs={Z: sp.Float(z, 50)})}
        if not at[A].is_real:  # outside the real domain (acosh below 1, atanh past 1, ...)
            continue
        h = sp.Float("1e-20", 50)
        numeric = (value.evalf(50, subs={Z: at[Z] + h}) - value.evalf(50, subs={Z: at[Z] - h})) / (2 * h)
        assert float(slope.evalf(50, subs=at)) == pytest.approx(float(numeric), rel=1e-12)
        checked += 1
    assert checked >= 2


NOT_LAYERS = {  # one-argument functions of the language that are no activation
    "Abs",  # an alias: abs is the layer
    "sign", "floor", "ceil", "ceiling", "heaviside", "Heaviside",  # derivative 0: nothing learns
    "gamma", "lgamma", "loggamma", "digamma",  # poles at 0, -1, ...: no activation in use
    "sinc",  # a model's function (diffraction), no activation in use
}


def test_activations_are_the_parsers_one_argument_functions():
    from symgrad.parse import FUNCTIONS
    assert set(ACTIVATIONS) == {name for name, s in FUNCTIONS.items()
                                if s.min_args == 1 and s.max_args <= 2} - NOT_LAYERS


def test_init_is_pytorch_linear_uniform():
    chain = parse_chain("dense(50) -> tanh -> dense(7)")
    named = unflatten(chain, 20, init_params(chain, 20, seed=3))
    assert named["W0"].shape == (50, 20) and named["b1"].shape == (7,)
    for name, fan_in in (("W0", 20), ("b0", 20), ("W1", 50), ("b1", 50)):
        bound = 1 / np.sqrt(fan_in)
        assert np.abs(named[name]).max() <= bound and np.abs(named[name]).max() > 0.8 * bound
    assert np.array_equal(init_params(chain, 20, 3), init_params(chain, 20, 3))
    assert np.array_equal(flatten(chain, 20, named), init_params(chain, 20, 3))


@pytest.mark.parametrize("seed", range(5))
def test_xor_trains_for_seeds_0_to_4(seed):
    chain = parse_chain("dense(3) -> sigmoid -> dense(1)")
    model = ChainModel(chain, ["a", "b"], "mse")
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    truth = np.array([0.0, 1.0, 1.0, 0.0])
    result = symgrad.train(model.compile(), model.matrix(X, truth), init_params(chain, 2, seed),
                           symgrad.SGD(lr=0.01), epochs=50_000, batch_size=1)
    assert model.unrolled and np.abs(model.outputs(result.params, X) - truth).max() < 0.05


def test_iris_from_the_cli_reaches_097(tmp_path):
    out = tmp_path / "iris.json"
    result = CliRunner().invoke(main, [
        "train", str(EXAMPLES / "iris.csv"), "--model", "dense(16) -> tanh -> dense(3)",
        "--target", "species", "--loss", "ce", "--optimizer", "adam", "--lr", "0.01",
        "--epochs", "300", "--batch-size", "16", "--shuffle", "--seed", "0", "--out", str(out),
        "--quiet"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(out.read_text())
    assert document["classes"] == ["setosa", "versicolor", "virginica"]
    assert np.array(document["params"]["W0"]).shape == (16, 4)
    predicted = CliRunner().invoke(main, ["predict", str(out), str(EXAMPLES / "iris.csv")])
    rows = list(csv.DictReader(predicted.stdout.splitlines()))
    truth = [row["species"] for row in csv.DictReader(open(EXAMPLES / "iris.csv"))]
    accuracy = np.mean([row["prediction"] == label for row, label in zip(rows, truth)])
    assert accuracy >= 0.97 and list(rows[0]) == ["sepal_length", "sepal_width",
                                                  "petal_length", "petal_width", "prediction"]


def test_integer_labels_sort_numerically_and_print_as_given(tmp_path):
    data = tmp_path / "d.csv"
    rows = [(x, "10" if x > 0.5 else ("2" if x > -0.5 else "-1")) for x in np.linspace(-1, 1, 30)]
    data.write_text("x,cls\n" + "".join(f"{x},{c}\n" for x, c in rows))
    out = tmp_path / "p.json"
    result = CliRunner().invoke(main, ["train", str(data), "--model", "dense(8) -> tanh -> dense(3)",
                                       "--target", "cls", "--loss", "ce", "--optimizer", "adam",
                                       "--lr", "0.05", "--epochs", "300", "--out", str(out),
                                       "--quiet"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(out.read_text())["classes"] == ["-1", "2", "10"]
    predicted = CliRunner().invoke(main, ["predict", str(out), str(data)]).stdout.splitlines()
    labels = [line.split(",")[1] for line in predicted[1:]]
    assert np.mean([p == c for p, (_, c) in zip(labels, rows)]) > 0.9


@pytest.mark.parametrize("text, message", [
    ("dense(3) -> sigmod", "layer 2: unknown layer 'sigmod'"),
    ("softmax -> dense(2)", "layer 1: softmax must be the last layer"),
    ("tanh", r"has no dense\(N\) layer"),
    ("dense(0)", "dense width must be 1 to 1,000,000, got 0"),
])
def test_chain_parse_errors(text, message):
    with pytest.raises(ParseError, match=message):
        parse_chain(text)


@pytest.mark.parametrize("args, message", [
    (["--model", "dense(3) -> tanh -> dense(2)"], "the last layer has width 2 but 'cls' has 3"),
    (["--model", "dense(3) -> tanh -> dense(3)", "--loss", "mae"], "--loss mse, bce or ce"),
    (["--model", "dense(3) -> tanh -> dense(3)", "--init", "W0=1"], "--init is for expression"),
    (["--model", "dense(3) -> tanhh -> dense(3)"], "unknown layer 'tanhh'"),
    (["--model", "dense(3)", "--loss", "mse"], "mse needs a last layer of width 1"),
])
def test_chain_cli_errors(tmp_path, args, message):
    data = tmp_path / "d.csv"
    data.write_text("x,cls\n1,a\n2,b\n3,c\n")
    result = CliRunner().invoke(main, ["train", str(data), "--target", "cls", "--loss", "ce",
                                       *args])
    assert result.exit_code == 2 and message in result.stderr, result.stderr


def test_derive_prints_the_chain_in_index_notation():
    text = "\n".join(chain_formulas(parse_chain("dense(16) -> tanh -> dense(3)"), "ce"))
    assert "z0_j = sum_i W0_ji*x_i + b0_j" in text
    assert "delta1_k = (softmax_k(z1) - onehot(y)_k)" in text
    assert "delta0_j = (1 - a0_j**2)*sum_k delta1_k*W1_kj" in text  # tanh' = 1 - y^2
    assert "d/W0_ji = delta0_j*x_i" in text
    result = CliRunner().invoke(main, ["derive", "dense(3) -> sigmoid -> dense(1)"])
    assert result.exit_code == 0 and "delta0_j = (a0_j*(1 - a0_j))*sum_k" in result.stdout


def test_a_warm_small_chain_trains_without_importing_sympy(tmp_path):
    import os
    import subprocess
    import sys
    script = ("import sys\n"
              "from symgrad.jobs import TrainOptions, train_file\n"
              f"train_file(TrainOptions(data={str(EXAMPLES / 'xor.csv')!r}, "
              "model='dense(3) -> sigmoid -> dense(1)', target='label', epochs=10, batch_size=1))\n"
              "print('sympy' in sys.modules)\n")
    env = {**os.environ, "SYMGRAD_CACHE_DIR": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           env=env, timeout=300) for _ in range(2)]
    assert [run.stdout.strip() for run in runs] == ["True", "False"], runs[1].stderr


# --- bce: a chain ending in dense(1) -> sigmoid is logistic regression (and nets like it) ------

def _bce_case():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 3))
    X[:5] *= 300  # logits in the hundreds: sigmoid saturates, the loss must stay exact
    y = (rng.uniform(size=300) < 0.5).astype(float)
    chain = parse_chain("dense(2) -> tanh -> dense(1) -> sigmoid")
    return chain, X, y, init_params(chain, 3, seed=2) * 30


def test_bce_chains_agree_on_both_engines_and_equal_softplus_of_the_logits():
    chain, X, y, theta = _bce_case()
    unrolled, engine = ChainModel(chain, "abc", "bce"), ChainModel(chain, "abc", "bce")
    engine.unrolled = False  # the layer engine, as nets over UNROLL_PARAMS take
    results = []
    for model in (unrolled, engine):
        kernel = model.compile()
        n, columns = kernel.columns(model.matrix(X, y))
        results.append(kernel.evaluate(theta, n, columns))
    (loss_a, grad_a, _), (loss_b, grad_b, _) = results
    named = unflatten(chain, 3, theta)
    z = (np.tanh(X @ named["W0"].T + named["b0"]) @ named["W1"].T + named["b1"])[:, 0]
    softplus = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))
    assert loss_a == pytest.approx(np.mean(softplus - y * z), rel=1e-12)
    assert loss_b == pytest.approx(loss_a, rel=1e-12)
    np.testing.assert_allclose(grad_b, grad_a, rtol=1e-10, atol=1e-14)
    probability = 1 / (1 + np.exp(-z))
    for model in (unrolled, engine):
        np.testing.assert_allclose(model.outputs(theta, X), probability, rtol=1e-12, atol=1e-300)


def test_dense_1_sigmoid_trains_with_bce_from_the_cli(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 2))
    labels = (X[:, 0] - 2 * X[:, 1] > 0).astype(int)
    path = tmp_path / "binary.csv"
    rows = "".join(f"{float(a)!r},{float(b)!r},{t}\n" for (a, b), t in zip(X, labels))
    path.write_text("u,v,label\n" + rows)
    out = tmp_path / "params.json"
    result = CliRunner().invoke(main, ["train", str(path), "--model", "dense(1) -> sigmoid",
                                       "--target", "label", "--loss", "bce", "--optimizer",
                                       "adam", "--lr", "0.1", "--epochs", "200", "--out",
                                       str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    predicted = CliRunner().invoke(main, ["predict", str(out), str(path)])
    p = np.array([float(line.split(",")[-1]) for line in predicted.stdout.splitlines()[1:]])
    assert ((p > 0) & (p < 1)).all() and ((p > 0.5) == labels).mean() > 0.97


@pytest.mark.parametrize("text", ["dense(1)", "dense(2) -> sigmoid", "dense(1) -> tanh"])
def test_bce_is_refused_for_a_chain_without_a_probability(tmp_path, text):
    path = tmp_path / "b.csv"
    path.write_text("x,y\n1,0\n2,1\n")
    result = CliRunner().invoke(main, ["train", str(path), "--model", text, "--target", "y",
                                       "--loss", "bce"])
    assert result.exit_code == 2 and "dense(1) -> sigmoid" in result.stderr


def test_derive_prints_a_bce_chains_backprop():
    lines = chain_formulas(parse_chain("dense(3) -> tanh -> dense(1) -> sigmoid"), "bce")
    assert "delta1_k = a1_k - y" in lines and "delta0_j = (1 - a0_j**2)*sum_k delta1_k*W1_kj" \
        in lines
