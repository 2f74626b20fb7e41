"""The one BLAS call numpy does not expose: C <- alpha * A.T @ B + beta * C, in place.

The layer engine folds plain SGD into its weight-gradient products with it (the gradient is
never stored, and no separate update pass runs). It calls the cblas_dgemm of the OpenBLAS that
numpy's wheels bundle, through ctypes: no new dependency, and the same thread pool as numpy's
own matmul (a second BLAS, such as SciPy's, would bring a second pool to fight it for the
cores). Where that library is not found (another numpy build, another platform) or fails a
probe, ``gemm_update`` computes the same with numpy.
"""
from __future__ import annotations

import ctypes
import glob
import os
from functools import lru_cache

import numpy as np

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
SYMBOLS = (("scipy_cblas_dgemm64_", ctypes.c_int64), ("cblas_dgemm64_", ctypes.c_int64),
           ("scipy_cblas_dgemm", ctypes.c_int32))   # numpy's scipy-openblas wheels


def gemm_update(C: np.ndarray, A: np.ndarray, B: np.ndarray, alpha: float, beta: float) -> None:
    """C <- alpha * A.T @ B + beta * C for float64 C-ordered A (k x m), B (k x n), C (m x n)."""
    dgemm = bundled_dgemm()
    if dgemm is None or not all(_fits(x) for x in (A, B, C)):
        numpy_update(C, A, B, alpha, beta)
        return
    k, m = A.shape
    n = B.shape[1]
    dgemm(ROW_MAJOR, TRANS, NO_TRANS, m, n, k, alpha, A.ctypes.data, m, B.ctypes.data, n,
          beta, C.ctypes.data, n)


def numpy_update(C, A, B, alpha, beta) -> None:
    """The same update with numpy: a temporary product, then one pass."""
    product = A.T @ B
    C *= beta
    C += alpha * product


@lru_cache(maxsize=1)
def bundled_dgemm():
    """numpy's bundled cblas_dgemm as a ctypes function, or None; checked on a small product."""
    for path in _library_paths():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name, integer in SYMBOLS:
            function = getattr(library, name, None)
            if function is not None:
                _declare(function, integer)
                if _agrees(function):
                    return function
    return None


def _library_paths() -> list[str]:
    root = os.path.dirname(np.__file__)
    patterns = [os.path.join(root, "..", "numpy.libs", "*openblas*"),
                os.path.join(root, ".dylibs", "*openblas*")]
    return sorted(path for pattern in patterns for path in glob.glob(pattern))


def _declare(function, integer) -> None:
    pointer, double = ctypes.c_void_p, ctypes.c_double
    function.restype = None
    function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, integer, integer, integer,
                         double, pointer, integer, pointer, integer, double, pointer, integer]


def _agrees(function) -> bool:
    A, B = np.arange(6.0).reshape(3, 2), np.arange(12.0).reshape(3, 4) - 5
    C = np.ones((2, 4))
    function(ROW_MAJOR, TRANS, NO_TRANS, 2, 4, 3, 0.5, A.ctypes.data, 2, B.ctypes.data, 4,
             2.0, C.ctypes.data, 4)
    return bool(np.array_equal(C, 0.5 * A.T @ B + 2.0))


def _fits(array: np.ndarray) -> bool:
    return array.dtype == np.float64 and array.flags.c_contiguous and array.ndim == 2
