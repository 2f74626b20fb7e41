"""The vectorizable elementary functions of the Numba kernels against numpy's libm, across
their whole range (including subnormal results, overflow, inf and nan), compiled with the
kernels' fast-math flags. Reassociation lets LLVM merge the two halves of ln 2 in the range
reduction, so exp's relative error grows to about |x| * 2^-53 (8e-14 at x = 709): inside the
1e-12 the kernels promise, and the bound this test holds them to."""
import numpy as np
import pytest
from numba import njit

from symgrad.runtime.numba_support import vexp, vexpm1, vlog1p_unit, vtanh

POINTS = np.concatenate([np.linspace(-760, 720, 100_001), np.logspace(-300, 2.5, 3000),
                         -np.logspace(-300, 2.5, 3000),
                         [0.0, np.inf, -np.inf, 709.78, 709.79, -745.13, -745.14, -708.5]])


def applied(function):
    @njit(error_model="numpy", fastmath={"reassoc", "contract", "nsz"})
    def run(values):
        out = np.empty_like(values)
        for k in range(values.size):
            out[k] = function(values[k])
        return out
    return run


@pytest.mark.parametrize("ours, reference", [(vexp, np.exp), (vexpm1, np.expm1),
                                             (vtanh, np.tanh)], ids=["exp", "expm1", "tanh"])
def test_agrees_with_libm(ours, reference):
    got = applied(ours)(POINTS)
    with np.errstate(all="ignore"):
        expected = reference(POINTS)
    finite = np.isfinite(expected)
    bound = (np.clip(np.abs(POINTS[finite]), 1.0, 746.0) * 2.0**-53 + 4e-16) \
        * np.abs(expected[finite]) + 1e-323  # plus one subnormal step
    outside = np.abs(got[finite] - expected[finite]) > bound
    assert not outside.any(), (POINTS[finite][outside][:5], got[finite][outside][:5])
    assert np.array_equal(got[~np.isfinite(expected)], expected[~np.isfinite(expected)])
    assert np.isnan(applied(ours)(np.array([np.nan]))[0])


def test_log1p_on_the_unit_interval_agrees_with_libm():
    points = np.concatenate([np.linspace(0.0, 1.0, 200_001), np.logspace(-320, 0, 5000)])
    got = applied(vlog1p_unit)(points)
    expected = np.log1p(points)
    # the quotient u/(2 + u) rounds twice and the series adds its own: 6 ulp at most here
    assert np.all(np.abs(got - expected) <= 8 * 2.0**-53 * expected + 1e-323)
    assert got[0] == 0.0 and np.isnan(applied(vlog1p_unit)(np.array([np.nan]))[0])


BLAS_PROBE = """
import sys
import numpy as np
import symgrad.runtime  # loads SciPy's cython_blas alone, before Numba's probe
from numba import njit

@njit
def dot(a, b):
    return np.dot(a, b)

print(dot(np.arange(3.0), np.arange(3.0)), "scipy.linalg" in sys.modules)
import scipy.linalg
a = np.array([[4.0, 1.0], [1.0, 3.0]])
print(np.allclose(a @ scipy.linalg.solve(a, [1.0, 2.0]), [1.0, 2.0]),
      scipy.linalg.cython_blas is sys.modules["scipy.linalg.cython_blas"])
"""


def test_numba_finds_a_blas_without_scipy_linalg_imported():
    """np.dot still compiles; scipy.linalg is not imported for it, and imports later as usual,
    with cython_blas its attribute as ever."""
    import subprocess  # SciPy is in the test extra, through scikit-learn
    import sys
    out = subprocess.run([sys.executable, "-c", BLAS_PROBE], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["5.0", "False", "True", "True"]


def test_integer_and_float32_arguments_convert_as_for_a_compiled_function():
    """The intrinsics take what a jitted exp would: an int, a bool, a float32 (widened)."""
    @njit
    def mixed(k, flag, single):
        return vexp(k), vexpm1(flag), vtanh(single), vlog1p_unit(k - 1)

    e, em1, t, log = mixed(1, True, np.float32(0.5))
    assert e == pytest.approx(np.e, rel=1e-15) and em1 == pytest.approx(np.e - 1, rel=1e-15)
    assert t == pytest.approx(np.tanh(0.5), rel=1e-15) and log == 0.0
