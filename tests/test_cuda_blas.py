"""The row-major to column-major mapping of the device layer engine's cuBLAS GEMMs
(runtime/cuda_blas.py), checked without a GPU: the arguments it computes are executed by a
column-major GEMM written out in numpy over the arrays' own memory, against numpy's product.
The GEMMs themselves run on a GPU in cuda_cases.py."""
from types import SimpleNamespace

import numpy as np
import pytest

from symgrad.runtime.cuda_blas import OP_N, OP_T, column_major_call, column_sums_call


def column_major_gemm(transa, transb, m, n, k, a, lda, b, ldb, ldc, out):
    """cuBLAS's C = op(A) op(B) on flat buffers, column-major (element (i, j) at i + j*ld)."""
    def matrix(flat, ld, rows, cols):
        return np.array([[flat[i + j * ld] for j in range(cols)] for i in range(rows)])
    A = matrix(a, lda, *((k, m) if transa == OP_T else (m, k)))
    B = matrix(b, ldb, *((n, k) if transb == OP_T else (k, n)))
    C = (A.T if transa == OP_T else A) @ (B.T if transb == OP_T else B)
    for i in range(m):
        for j in range(n):
            out[i + j * ldc] = C[i, j]


def flat(X):
    """The memory a (possibly row-strided) view reads, from its first element."""
    base = X.base if X.base is not None else X
    start = (X.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // 8
    return base.ravel()[start:]


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("strided", [False, True])
def test_the_column_major_call_computes_the_row_major_product(trans_a, trans_b, strided):
    rng = np.random.default_rng(3)
    rows, depth, cols = 5, 4, 3
    A = rng.normal(size=(depth, rows) if trans_a else (rows, depth))
    B = rng.normal(size=(cols, depth) if trans_b else (depth, cols))
    if strided:  # views whose rows are further apart than their width (a column slice)
        A = np.hstack([A, rng.normal(size=(A.shape[0], 2))])[:, :A.shape[1]]
        B = np.hstack([B, rng.normal(size=(B.shape[0], 3))])[:, :B.shape[1]]
    C = np.full((rows, cols), np.nan)
    transa, transb, m, n, k, first, lda, second, ldb, ldc = \
        column_major_call(A, B, C, trans_a, trans_b)
    arrays = {"A": A, "B": B}
    column_major_gemm(transa, transb, m, n, k, flat(arrays[first]), lda,
                      flat(arrays[second]), ldb, ldc, C.ravel())
    expected = (A.T if trans_a else A) @ (B.T if trans_b else B)
    np.testing.assert_allclose(C, expected, rtol=1e-14)


def test_arrays_whose_rows_are_not_contiguous_are_left_to_the_tiled_kernel():
    A = np.ones((6, 4))[:, ::2]            # every other column: rows are not unit-stride
    assert column_major_call(A, np.ones((2, 3)), np.empty((6, 3)), False, False) is None
    C = np.empty((6, 5))[:, :3]            # an output with a gap after each row
    assert column_major_call(np.ones((6, 2)), np.ones((2, 3)), C, False, False) is None


@pytest.mark.parametrize("strided", [False, True])
def test_the_column_sums_call_sums_the_row_major_columns(strided):
    rng = np.random.default_rng(4)
    D = rng.normal(size=(6, 4))
    if strided:
        D = np.hstack([D, rng.normal(size=(6, 3))])[:, :4]
    out = np.full(4, np.nan)
    m, n, lda = column_sums_call(D, out)
    a, ones = flat(D), np.ones(n)
    for i in range(m):        # gemv, column-major: out[i] = sum_j A[i + j*lda] * ones[j]
        out[i] = sum(a[i + j * lda] * ones[j] for j in range(n))
    np.testing.assert_allclose(out, D.sum(axis=0), rtol=1e-14)
    assert column_sums_call(D, np.empty(5)) is None              # the wrong length
    assert column_sums_call(D, np.empty(8)[::2]) is None         # a strided output


def test_which_calls_go_to_cublas_and_with_what(monkeypatch):
    """The routine chosen and the arguments passed, with a recording stand-in for CuPy's
    binding (no GPU): float64 -> d, float32 -> s; mixed dtypes, empty arrays and too few ones
    are left to the engine's own kernels."""
    from symgrad.runtime import cuda_blas
    calls = []
    binding = SimpleNamespace(**{name: (lambda *a, name=name: calls.append((name, a)))
                                 for name in ("dgemm", "sgemm", "dgemv", "sgemv")})
    monkeypatch.setattr(cuda_blas, "library", lambda: (binding, "handle"))
    monkeypatch.setattr(cuda_blas, "_pointer", lambda array: array.shape)
    A, B, C = np.ones((5, 4)), np.ones((3, 4)), np.zeros((5, 3))
    assert cuda_blas.gemm(A, B, C, False, True)
    assert calls[-1][0] == "dgemm" and calls[-1][1][:6] == ("handle", OP_T, OP_N, 3, 5, 4)
    single = [X.astype(np.float32) for X in (A, B, C)]
    assert cuda_blas.gemm(*single, False, True) and calls[-1][0] == "sgemm"
    count = len(calls)
    assert not cuda_blas.gemm(single[0], B, C, False, True)                  # mixed dtypes
    assert not cuda_blas.gemm(np.ones((5, 0)), np.ones((3, 0)), C, False, True)  # depth 0
    D, out = np.ones((6, 4)), np.zeros(4)
    assert not cuda_blas.column_sums(D, out, np.ones(3))                     # too few ones
    assert not cuda_blas.column_sums(np.ones((0, 4)), out, np.ones(8))       # no rows
    assert len(calls) == count
    assert cuda_blas.column_sums(D, out, np.ones(8))
    assert calls[-1][0] == "dgemv" and calls[-1][1][1:4] == (OP_N, 4, 6)
