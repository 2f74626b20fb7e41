"""Vectors and matrices in SymPy models: IndexedBase with a finite Sum, MatrixSymbol forms.
Each entry is a scalar parameter or input named as the expression language names them
(W[0], A[1, 2], v[1]); a name given as W stands for all of its entries, in index order."""
import numpy as np
import pytest
import sympy as sp

import symgrad
from symgrad import Model, SymgradError, sigmoid

W, x = sp.IndexedBase("W"), sp.IndexedBase("x")
j = sp.Symbol("j", integer=True)
b, y, n = sp.symbols("b y n")


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_an_indexed_sum_compiles_with_its_entries_as_parameters(backend):
    loss = (sigmoid(sp.Sum(W[j] * x[j], (j, 0, 11)) + b) - y) ** 2
    kernel = symgrad.compile(loss, ["W", "b"], ["x", "y"], backend=backend)
    assert kernel.params == (*(f"W[{k}]" for k in range(12)), "b")
    assert kernel.inputs == (*(f"x[{k}]" for k in range(12)), "y")
    rng = np.random.default_rng(3)
    data, theta = rng.normal(size=(64, 13)), rng.normal(size=13)
    value, grad = kernel(theta, data)
    p = 1 / (1 + np.exp(-(data[:, :12] @ theta[:12] + theta[12])))
    r = p - data[:, 12]
    assert value == pytest.approx(np.mean(r ** 2), rel=1e-12)
    slope = 2 * r * p * (1 - p)                       # d loss / d z, z = W.x + b
    np.testing.assert_allclose(grad, np.append(slope @ data[:, :12], slope.sum()) / 64,
                               rtol=1e-10, atol=1e-14)


def test_a_quadratic_form_of_matrix_symbols_names_each_entry():
    A, v = sp.MatrixSymbol("A", 2, 2), sp.MatrixSymbol("v", 2, 1)
    model = Model.supervised(v.T * A * v, "y", params=["A"], inputs=["v"])
    assert [s.name for s in model.params] == ["A[0, 0]", "A[0, 1]", "A[1, 0]", "A[1, 1]"]
    assert [s.name for s in model.inputs] == ["v[0]", "v[1]", "y"]
    value, grad = symgrad.compile(model)(np.arange(4.0), np.array([[1.0, 2.0, 3.0]]))
    residual = 18.0 - 3.0                              # v'Av = 0 + 2 + 4 + 12 at v = (1, 2)
    assert value == residual ** 2
    np.testing.assert_array_equal(grad, 2 * residual * np.outer([1, 2], [1, 2]).ravel())


def test_sums_that_cannot_be_written_out_are_refused():
    with pytest.raises(SymgradError, match="unevaluated Sum"):
        Model.of(sp.Sum(W[j] * x[j], (j, 0, n)), ["W"], ["x"])
    with pytest.raises(SymgradError, match="at most 100,000"):
        Model.of(sp.Sum(W[j] * x[j], (j, 0, 10 ** 6)), ["W"], ["x"])
