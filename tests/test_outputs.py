"""Predictions of several outputs under one scalar loss: a tuple, list or SymPy row or column
Matrix of expressions, one target per output (named, or y[0], y[1], ... for one name y). The
row loss is the named loss summed over outputs, or the softmax cross-entropy (``ce``) of the
outputs as logits; outputs built from vector blocks loop like any other."""
import numpy as np
import pytest
import sympy as sp

import symgrad
from symgrad import Model, SymgradError
from tests.support import central_differences, close

a, b, c, d, x = sp.symbols("a b c d x")


@pytest.mark.parametrize("prediction", [sp.Matrix([a * x + b, c * x + d]),
                                        sp.Matrix([[a * x + b, c * x + d]]),
                                        [a * x + b, c * x + d]], ids=["column", "row", "list"])
def test_a_matrix_of_predictions_sums_the_loss_over_its_outputs(prediction):
    model = Model.supervised(prediction, "y", "mse", inputs=["x"])
    assert [s.name for s in model.inputs] == ["x", "y[0]", "y[1]"]
    kernel = symgrad.compile(model)
    rng = np.random.default_rng(0)
    data, theta = rng.normal(size=(30, 3)), np.array([1.0, -2.0, 0.5, 3.0])
    first, second = theta[0] * data[:, 0] + theta[1], theta[2] * data[:, 0] + theta[3]
    r1, r2 = first - data[:, 1], second - data[:, 2]
    value, grad = kernel(theta, data)
    assert close(value, np.mean(r1 ** 2 + r2 ** 2))
    expected = 2 * np.array([r1 @ data[:, 0], r1.sum(), r2 @ data[:, 0], r2.sum()]) / 30
    np.testing.assert_allclose(grad, expected, rtol=1e-12)
    np.testing.assert_allclose(kernel.predict(theta, data), np.column_stack([first, second]),
                               rtol=1e-14)


def test_softmax_regression_over_vector_blocks_is_exact():
    """Three classes over six features: each class's logit an inner product (a vector block
    on numba, written out on numpy), ce against one-hot targets."""
    X, j = sp.IndexedBase("x"), sp.Symbol("j", integer=True)
    weights = [sp.IndexedBase(name) for name in ("U", "V", "W")]
    logits = [sp.Sum(w[j] * X[j], (j, 0, 5)) + bias
              for w, bias in zip(weights, sp.symbols("b0:3"))]
    model = Model.supervised(logits, ["y0", "y1", "y2"], "ce", inputs=["x"])
    loops, reference = symgrad.compile(model), symgrad.compile(model, backend="numpy")
    assert loops.source.count("_vec2[_j] * _mat0[_row, _j]") == 3  # in 3 kernels' rows
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 40)
    data = np.column_stack([rng.normal(size=(40, 6)), np.eye(3)[labels]])
    theta = rng.normal(size=len(loops.params)) * 0.5
    value, grad = loops(theta, data)
    expected_value, expected_grad = reference(theta, data)
    assert close(value, expected_value)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-14)
    values = {**dict(zip(loops.params, theta)), **dict(zip(loops.inputs, data[0]))}
    checked = ["U[0]", "V[5]", "W[2]", "b0", "b2"]
    differences = central_differences(model.loss, checked, values)
    one_row = loops(theta, data[:1])[1]
    for name in checked:
        assert close(one_row[loops.params.index(name)], differences[name]), name
    logit = np.column_stack([data[:, :6] @ theta[loops.params.index(f"{w}[0]"):][:6]
                             + theta[loops.params.index(f"b{k}")]
                             for k, w in enumerate("UVW")])
    np.testing.assert_allclose(loops.predict(theta, data), logit, rtol=1e-12)


@pytest.mark.parametrize("prediction, target, loss, message", [
    (sp.Matrix([[a, b], [c, d]]), "y", "mse", "one row or one column, not 2x2"),
    ((a, b), ["y"], "mse", "1 target name for a prediction of 2 outputs"),
    (a * x, "y", "ce", "unknown loss 'ce' (choose from mse, mae, bce; ce needs several"),
    ((a, b), "y", "hinge", "unknown loss 'hinge' (choose from mse, mae, bce, ce)"),
    ([], "y", "mse", "the prediction has no outputs"),
])
def test_malformed_predictions_of_several_outputs_are_refused(prediction, target, loss,
                                                              message):
    with pytest.raises(SymgradError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Model.supervised(prediction, target, loss)
