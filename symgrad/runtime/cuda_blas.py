"""cuBLAS GEMMs (and column sums) on numba.cuda device arrays, through CuPy (the ``cuda`` extra).

numba.cuda has no BLAS. Where CuPy is installed (and not on Numba's simulator), the device
layer engine's products go to cuBLAS: ``gemm`` passes the arrays' device pointers straight to
``cublasDgemm``/``cublasSgemm`` (no copies, no CuPy arrays), on the legacy default stream that
numba.cuda launches on, so they are ordered with the engine's own kernels. Without CuPy the
engine keeps its tiled kernel (``layers.cuda.gemm``). A bias gradient (the sums of a
matrix's columns) is a GEMV by a vector of ones (``column_sums``).

cuBLAS is column-major and the engine's arrays are row-major: a row-major ``X`` (r x c, row
stride ``ld``) is the column-major ``X.T`` with leading dimension ``ld``, so
``C = op(A) op(B)`` is computed as ``C.T = op(B).T op(A).T`` (``column_major_call``).
"""
from __future__ import annotations

import functools

import numpy as np

OP_N, OP_T = 0, 1  # cublasOperation_t


def column_major_call(A, B, C, trans_a: bool, trans_b: bool):
    """The cuBLAS arguments (transa, transb, m, n, k, first, lda, second, ldb, ldc) for the
    row-major ``C = op(A) @ op(B)``, where ``first``/``second`` say which array cuBLAS reads
    as its A and its B; None where an array's rows are not unit-stride (the caller then uses
    its own kernel)."""
    strides = [_row_stride(X) for X in (A, B, C)]
    if None in strides or strides[2] != C.shape[1]:
        return None
    rows, cols = C.shape
    depth = A.shape[0] if trans_a else A.shape[1]
    return (OP_T if trans_b else OP_N, OP_T if trans_a else OP_N, cols, rows, depth,
            "B", strides[1], "A", strides[0], strides[2])


def _row_stride(X):
    """Elements between rows of a 2-d array whose rows are contiguous; None otherwise."""
    item = X.dtype.itemsize
    if X.ndim != 2 or (X.shape[1] > 1 and X.strides[1] != item) or X.strides[0] % item:
        return None
    return max(X.strides[0] // item, X.shape[1], 1)


@functools.lru_cache(maxsize=None)
def library():
    """(the cublas module, a handle) when CuPy can reach a GPU; None otherwise (no CuPy, the
    simulator, or CuPy without a working CUDA runtime)."""
    from numba import config
    if config.ENABLE_CUDASIM:
        return None
    try:
        import cupy
        from cupy.cuda import cublas
        handle = cupy.cuda.device.get_cublas_handle()
    except Exception:  # ImportError, or CuPy present but unable to use the GPU
        return None
    return cublas, handle


_ONE = {np.dtype(np.float64): np.ones(1), np.dtype(np.float32): np.ones(1, np.float32)}
_ZERO = {dtype: np.zeros_like(one) for dtype, one in _ONE.items()}


def gemm(A, B, C, trans_a: bool, trans_b: bool) -> bool:
    """C <- op(A) @ op(B) by cuBLAS; False (nothing launched) where it cannot: no CuPy, a
    dtype other than float32/float64, mixed dtypes, rows that are not unit-stride."""
    call = column_major_call(A, B, C, trans_a, trans_b)
    found = _usable(call, A, B, C)
    if found is None:
        return False
    cublas, handle = found
    transa, transb, m, n, k, first, lda, second, ldb, ldc = call
    arrays = {"A": A, "B": B}
    routine = cublas.dgemm if C.dtype == np.float64 else cublas.sgemm
    routine(handle, transa, transb, m, n, k, _ONE[C.dtype].ctypes.data,
            _pointer(arrays[first]), lda, _pointer(arrays[second]), ldb,
            _ZERO[C.dtype].ctypes.data, _pointer(C), ldc)
    return True


def column_sums_call(D, out):
    """cuBLAS's gemv arguments (m, n, lda) for ``out = D.T @ ones``, the sums of a row-major
    D's columns: D is the column-major (cols x rows) matrix with leading dimension its row
    stride, times a vector of ones. None where D's rows or ``out`` are not unit-stride."""
    stride = _row_stride(D)
    if stride is None or out.ndim != 1 or out.shape[0] != D.shape[1] or \
            (out.shape[0] > 1 and out.strides[0] != out.dtype.itemsize):
        return None
    return D.shape[1], D.shape[0], stride


def column_sums(D, out, ones) -> bool:
    """out <- the sums of D's columns by cuBLAS (``ones``: a device vector of at least
    D.shape[0] ones of D's dtype); False (nothing launched) where it cannot."""
    call = column_sums_call(D, out)
    found = _usable(call, D, out, ones)
    if found is None or ones.shape[0] < D.shape[0]:
        return False
    cublas, handle = found
    m, n, lda = call
    routine = cublas.dgemv if D.dtype == np.float64 else cublas.sgemv
    routine(handle, OP_N, m, n, _ONE[D.dtype].ctypes.data, _pointer(D), lda, _pointer(ones),
            1, _ZERO[D.dtype].ctypes.data, _pointer(out), 1)
    return True


def _usable(call, *arrays):
    """(cublas, handle) where cuBLAS can take the call: CuPy reaches a GPU, the arrays' rows
    are unit-stride (``call``), they share a dtype it has (float32, float64), none is empty."""
    found = library()
    dtypes = {array.dtype for array in arrays}
    if found is None or call is None or len(dtypes) != 1 or dtypes.pop() not in _ONE or \
            any(array.size == 0 for array in arrays):
        return None
    return found


def _pointer(array) -> int:
    return array.__cuda_array_interface__["data"][0]
