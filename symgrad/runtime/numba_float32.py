"""The float32 kernels' vexp, vexpm1, vtanh and vlog1p_unit: float32 in, float32 throughout.

A kernel compiled with ``dtype="float32"`` imports these under the names the float64 kernels
import from symgrad.runtime.numba_support, so both read alike. They are the same code
(symgrad.runtime.numba_emitter's ``exp_family`` and ``estrin``: Cody-Waite range reduction, a
Taylor polynomial in Estrin's form, 2^k from the exponent bits, every branch a select, so a
row loop calling them vectorizes) with float32's constants and shorter series: one float64 constant would promote the row's arithmetic to float64 and halve
the lanes of every vector. exp's polynomial has degree 9 (truncation < 1e-8 relative for
|r| < ln2, where k stops at 127), log1p's atanh series stops at s^15 (< 2e-9): within a few
float32 ulp of numpy's float32 exp, expm1, tanh and log1p (tests/test_float32.py).
"""
from __future__ import annotations

import math

import numpy as np
from numba import types

from .numba_emitter import ExpConstants, estrin, exp_family, unary_intrinsic

F = np.float32
FLOAT32 = ExpConstants(
    log2e=F(1.4426950408889634),
    ln2_hi=F(0.693145751953125),       # 15 significant bits: k * ln2_hi is exact for |k| < 512
    ln2_lo=F(1.4286068202862268e-06),  # ln 2 - ln2_hi
    max_k=F(127.0), min_normal_k=F(-126.0), exp_range=(F(-104.0), F(89.0)),
    expm1_low=F(-25.0),                # below it expm1 is -1 in float32
    overflow=F(88.72283172607422),     # the largest float32 whose exp is finite
    underflow=F(-103.97207708399179),  # ln 2^-150: exp below rounds to 0
    series=tuple(F(1.0 / math.factorial(k)) for k in range(1, 10)))  # degree 9
vexp, vexpm1, vtanh = exp_family(FLOAT32, types.float32)
ATANH_SERIES = tuple(F(1.0 / (2 * k + 1)) for k in range(8))  # to s^15


def _log1p_unit(m, u):
    """log(1 + u) for 0 <= u <= 1: 2 atanh(s), s = u/(2 + u) <= 1/3, to s^15."""
    s = m.div(u, m.add(F(2.0), u))
    return m.mul(m.mul(F(2.0), s), estrin(m, ATANH_SERIES, m.mul(s, s)))


vlog1p_unit = unary_intrinsic(_log1p_unit, types.float32, _log1p_unit.__doc__)
