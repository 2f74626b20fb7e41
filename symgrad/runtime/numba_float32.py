"""The float32 kernels' vexp, vexpm1, vtanh and vlog1p_unit: float32 in, float32 throughout.

A kernel compiled with ``dtype="float32"`` imports these under the names the float64 kernels
import from symgrad.runtime.numba_support, so both read alike. They are built the same way
(Cody-Waite range reduction, a Taylor polynomial in Estrin's form, 2^k from the exponent bits,
every branch a select, so a row loop calling them vectorizes) with float32's constants and
shorter series: one float64 constant would promote the row's arithmetic to float64 and halve
the lanes of every vector. exp's polynomial has degree 9 (truncation < 1e-8 relative for
|r| < ln2, where k stops at 127), log1p's atanh series stops at s^15 (< 2e-9): within a few
float32 ulp of numpy's float32 exp, expm1, tanh and log1p (tests/test_float32.py).
"""
from __future__ import annotations

import math

import numpy as np
from numba import types

from .numba_emitter import unary_intrinsic

F = np.float32
LOG2E = F(1.4426950408889634)
LN2_HI = F(0.693145751953125)        # 15 significant bits: k * LN2_HI is exact for |k| < 512
LN2_LO = F(1.4286068202862268e-06)   # ln 2 - LN2_HI
EXP_OVERFLOW = F(88.72283172607422)  # the largest float32 whose exp is finite
EXP_UNDERFLOW = F(-103.97207708399179)  # ln 2^-150: exp below rounds to 0
HALF, ONE, TWO, MAX_K, MIN_NORMAL_K = F(0.5), F(1.0), F(2.0), F(127.0), F(-126.0)
C2, C3, C4, C5, C6, C7, C8, C9 = (F(1.0 / math.factorial(k)) for k in range(2, 10))
A0, A1, A2, A3, A4, A5, A6, A7 = (F(1.0 / (2 * k + 1)) for k in range(8))


def _reduced(m, x):
    """(k, r), x = k ln2 + r: |r| <= ln2/2 but where k stops at 127 (r < ln2 there)."""
    k = m.floor(m.add(m.mul(x, LOG2E), HALF))
    k = m.select(m.less(k, MAX_K), k, MAX_K)
    return k, m.sub(m.sub(x, m.mul(k, LN2_HI)), m.mul(k, LN2_LO))


def _exp_minus_one_series(m, r):
    """sum_{k=1..9} r^k / k!, Estrin's scheme."""
    def pair(a, b):  # a + b*r
        return m.add(a, m.mul(b, r))
    r2 = m.mul(r, r)
    r4 = m.mul(r2, r2)
    low = m.add(m.add(pair(ONE, C2), m.mul(pair(C3, C4), r2)),
                m.mul(m.add(pair(C5, C6), m.mul(pair(C7, C8), r2)), r4))
    return m.mul(r, m.add(low, m.mul(C9, m.mul(r4, r4))))


def _clamp(m, x, low, high):
    return m.select(m.less(x, low), low, m.select(m.greater(x, high), high, x))


def _exp(m, x):
    k, r = _reduced(m, _clamp(m, x, F(-104.0), F(89.0)))
    normal = m.select(m.greater(k, MIN_NORMAL_K), k, MIN_NORMAL_K)  # 2^-126 * 2^(k + 126)
    value = m.mul(m.mul(m.add(ONE, _exp_minus_one_series(m, r)), m.power_of_two(normal)),
                  m.power_of_two(m.sub(k, normal)))
    value = m.select(m.greater(x, EXP_OVERFLOW), math.inf, value)
    value = m.select(m.less(x, EXP_UNDERFLOW), 0.0, value)
    return m.select(m.is_nan(x), x, value)


def _expm1(m, x):
    """exp(x) - 1 as 2^k series(r) + (2^k - 1); below -25 it is -1 in float32."""
    k, r = _reduced(m, _clamp(m, x, F(-25.0), F(89.0)))
    scale = m.power_of_two(k)
    value = m.add(m.mul(_exp_minus_one_series(m, r), scale), m.sub(scale, ONE))
    value = m.select(m.greater(x, EXP_OVERFLOW), math.inf, value)
    return m.select(m.is_nan(x), x, value)


def _tanh(m, z):
    """tanh(z) = -e/(2 + e), e = expm1(-2|z|), signed."""
    e = _expm1(m, m.mul(-TWO, m.fabs(z)))
    t = m.div(m.neg(e), m.add(TWO, e))
    return m.select(m.at_least(z, 0.0), t, m.neg(t))


def _log1p_unit(m, u):
    """log(1 + u) for 0 <= u <= 1: 2 atanh(s), s = u/(2 + u) <= 1/3, to s^15."""
    def pair(a, b):  # a + b*t
        return m.add(a, m.mul(b, t))
    s = m.div(u, m.add(TWO, u))
    t = m.mul(s, s)
    t2 = m.mul(t, t)
    low = m.add(pair(A0, A1), m.mul(pair(A2, A3), t2))
    high = m.add(pair(A4, A5), m.mul(pair(A6, A7), t2))
    return m.mul(m.mul(TWO, s), m.add(low, m.mul(high, m.mul(t2, t2))))


vexp, vexpm1, vtanh, vlog1p_unit = (
    unary_intrinsic(body, types.float32, body.__doc__ or "float32 exp(x), vectorizable.")
    for body in (_exp, _expm1, _tanh, _log1p_unit))
