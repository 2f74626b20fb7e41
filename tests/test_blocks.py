"""Vector blocks (symgrad.blocks): a vector parameter's inner products with data compile to
loops on the numba backend, one block of theta whatever its width. The numpy reference
writes every entry out, so comparing the two checks the loops against independent code, and
50-digit central differences check the gradient a second way. Training (compiled epochs),
prediction and every data layout take the same path."""
import numpy as np
import pytest
import sympy as sp

import symgrad
from symgrad import Model, sigmoid
from symgrad.blocks import MIN_WIDTH, vector_blocks
from symgrad.optim import Adam
from symgrad.training import train
from tests.support import central_differences, close

WIDTH = 7
FEATURES = [f"f{k}" for k in range(WIDTH)]
LOOP = "        _dot0 += _vec0[_j] * _mat0[_row, _j]"  # a block's loop body, numba source

CASES = [  # (name, prediction in the expression language, loss)
    ("logistic-bce", "sigmoid(dot(w, features) + b)", "bce"),
    ("linear-mse", "dot(w, features) + b", "mse"),
    ("two-vectors", "log(exp(dot(u, features)) + exp(dot(v, features) + c))", "mse"),
    ("inside-nonlinear", "b*tanh(dot(w, features))**2 + exp(-dot(w, features)/10)", "mse"),
]


def model_of(text, loss="mse", features=FEATURES):
    return Model.supervised(text, "y", loss, inputs=[*features, "y"])


def case_data(n_params, rows=50, seed=0, width=WIDTH):
    rng = np.random.default_rng(seed)
    data = np.column_stack([rng.normal(size=(rows, width)), rng.uniform(0.05, 0.95, rows)])
    return rng.uniform(-0.8, 0.8, n_params), data


@pytest.mark.parametrize("name, text, loss", CASES, ids=[c[0] for c in CASES])
def test_blocks_agree_with_the_written_out_reference(name, text, loss):
    model = model_of(text, loss)
    loops, reference = symgrad.compile(model), symgrad.compile(model, backend="numpy")
    assert LOOP in loops.source and "_dot" not in reference.source
    theta, data = case_data(len(loops.params))
    value, grad = loops(theta, data)
    expected_value, expected_grad = reference(theta, data)
    assert close(value, expected_value)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(loops.predict(theta, data), reference.predict(theta, data),
                               rtol=1e-12)


@pytest.mark.parametrize("name, text, loss", CASES[2:], ids=[c[0] for c in CASES[2:]])
def test_blocks_agree_with_50_digit_central_differences(name, text, loss):
    model = model_of(text, loss)
    kernel = symgrad.compile(model)
    theta, data = case_data(len(kernel.params), rows=1, seed=4)
    values = {**dict(zip(kernel.params, theta)), **dict(zip(kernel.inputs, data[0]))}
    checked = [p for p in kernel.params if p.endswith(("[0]", f"[{WIDTH - 1}]")) or "[" not in p]
    expected = central_differences(model.loss, checked, values)
    _, grad = kernel(theta, data)
    for name in checked:
        assert close(grad[kernel.params.index(name)], expected[name]), name


def logistic(width):
    return model_of("sigmoid(dot(w, features) + b)", "bce", [f"f{k}" for k in range(width)])


def test_the_kernel_does_not_grow_with_the_width():
    sources = [symgrad.compile(logistic(width)).source for width in (8, 120)]
    narrow, wide = (s.splitlines() for s in sources)
    assert len(narrow) == len(wide)
    differing = [b for a, b in zip(narrow, wide) if a != b]
    # only the widths and indexes differ: the block's index array, its loops' bounds and
    # accumulators' sizes, where they are stored, the sums' width, and the metadata
    assert all(line.startswith(("_at0 = ", "META = ", "loss_and_gradient = chunked_sums("))
               or "np.zeros(" in line
               or "_sums[_chunk" in line or "for _j in range(120)" in line
               for line in differing), differing


def test_a_wide_block_agrees_with_numpy_algebra():
    width, rows = 120, 2000
    kernel = symgrad.compile(logistic(width))
    theta, data = case_data(width + 1, rows=rows, seed=2, width=width)
    X, y, b, w = data[:, :width], data[:, width], theta[0], theta[1:]
    z = X @ w + b
    value, grad = kernel(theta, data)
    assert close(value, np.mean(np.logaddexp(0, z) - y * z))
    r = 1 / (1 + np.exp(-z)) - y
    np.testing.assert_allclose(grad, np.append(r.mean(), r @ X / rows), rtol=1e-10, atol=1e-15)


def test_sympy_vectors_in_sums_and_matrix_products_are_blocks():
    W, x, j = sp.IndexedBase("W"), sp.IndexedBase("x"), sp.Symbol("j", integer=True)
    b, y = sp.symbols("b y")
    indexed = (sigmoid(sp.Sum(W[j] * x[j], (j, 0, 9)) + b) - y) ** 2
    w, v = sp.MatrixSymbol("w", 6, 1), sp.MatrixSymbol("v", 6, 1)
    matrix = ((w.T * v)[0, 0] - y) ** 2
    for loss, params, inputs, width in ((indexed, ["W", "b"], ["x", "y"], 10),
                                        (matrix, ["w"], ["v", "y"], 6)):
        loops = symgrad.compile(loss, params, inputs)
        reference = symgrad.compile(loss, params, inputs, backend="numpy")
        assert LOOP in loops.source
        theta, data = case_data(len(loops.params), width=width, seed=width)
        np.testing.assert_allclose(loops(theta, data)[1], reference(theta, data)[1],
                                   rtol=1e-10, atol=1e-14)


def test_entries_used_outside_an_inner_product_stay_scalars():
    entries = sp.symbols(f"w[0:{WIDTH}]")
    columns = sp.symbols(FEATURES)
    y = sp.Symbol("y")
    dot = sum(e * c for e, c in zip(entries, columns))
    for loss, blocked in (((dot - y) ** 2 + entries[0] ** 2, False),
                          ((dot - y) ** 2 + sum(entries[:MIN_WIDTH - 1]) * 0 + dot / 3, True)):
        model = Model.of(loss, inputs=[*FEATURES, "y"])
        assert bool(vector_blocks(model).dots) is blocked
        loops, reference = symgrad.compile(model), symgrad.compile(model, backend="numpy")
        theta, data = case_data(len(loops.params), seed=7)
        np.testing.assert_allclose(loops(theta, data)[1], reference(theta, data)[1],
                                   rtol=1e-10, atol=1e-14)


def test_vectors_narrower_than_the_minimum_stay_written_out():
    narrow = [f"f{k}" for k in range(MIN_WIDTH - 1)]
    kernel = symgrad.compile(model_of("dot(w, features) + b", features=narrow))
    assert "_dot" not in kernel.source
    wide = symgrad.compile(model_of("dot(w, features) + b", features=FEATURES[:MIN_WIDTH]))
    assert LOOP in wide.source


def test_every_data_layout_gives_the_same_gradient():
    # the target between features: the block's columns are not adjacent (a copy)
    inputs = [*FEATURES[:3], "y", *FEATURES[3:]]
    model = Model.supervised("sigmoid(dot(w, features) + b)", "y", "bce", inputs=inputs)
    kernel = symgrad.compile(model)
    theta, data = case_data(len(kernel.params), seed=9)
    data = data[:, [0, 1, 2, WIDTH, 3, 4, 5, 6]]
    expected = symgrad.compile(model, backend="numpy")(theta, data)[1]
    layouts = {"C": data, "F": np.asfortranarray(data),
               "mapping": {name: data[:, j] for j, name in enumerate(kernel.inputs)}}
    for layout, values in layouts.items():
        np.testing.assert_allclose(kernel(theta, values)[1], expected, rtol=1e-10, atol=1e-14,
                                   err_msg=layout)


def test_a_non_finite_value_in_a_block_column_is_named():
    kernel = symgrad.compile(model_of("dot(w, features) + b"))
    theta, data = case_data(len(kernel.params))
    data[17, 4] = np.nan
    with pytest.raises(symgrad.SymgradError, match=r"row 17, column 'f4' is nan"):
        kernel(theta, data)


def test_training_a_block_follows_the_reference_step_for_step():
    model = model_of("sigmoid(dot(w, features) + b)", "bce")
    theta, data = case_data(WIDTH + 1, rows=103, seed=5)
    data[:, -1] = data[:, -1] > 0.5
    runs = [train(symgrad.compile(model, backend=backend), data, theta, Adam(lr=0.05),
                  epochs=6, batch_size=16, shuffle=True, seed=2)
            for backend in ("numba", "numpy")]
    np.testing.assert_allclose(runs[0].params, runs[1].params, rtol=1e-10)
    np.testing.assert_allclose(runs[0].history, runs[1].history, rtol=1e-10)
    full = [train(symgrad.compile(model, backend=backend), data, theta, Adam(lr=0.05), epochs=5)
            for backend in ("numba", "numpy")]
    np.testing.assert_allclose(full[0].params, full[1].params, rtol=1e-10)


def test_block_columns_are_validated_with_the_others():
    kernel = symgrad.compile(model_of("dot(w, features) + b"))
    theta, data = case_data(len(kernel.params))
    columns = {name: data[:, j] for j, name in enumerate(kernel.inputs)}
    columns["f3"] = columns["f3"][:-1]
    with pytest.raises(symgrad.SymgradError, match="data columns differ in length"):
        kernel(theta, columns)
    whole = np.round(data * 10).astype(np.int64)  # integers: read as floats, blocks too
    np.testing.assert_allclose(kernel(theta, whole)[1], kernel(theta, whole.astype(float))[1],
                               rtol=1e-14)
