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
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

F = np.float32
LOG2E = F(1.4426950408889634)
LN2_HI = F(0.693145751953125)        # 15 significant bits: k * LN2_HI is exact for |k| < 512
LN2_LO = F(1.4286068202862268e-06)   # ln 2 - LN2_HI
EXP_OVERFLOW = F(88.72283172607422)  # the largest float32 whose exp is finite
EXP_UNDERFLOW = F(-103.97207708399179)  # ln 2^-150: exp below rounds to 0
HALF, ONE, TWO, MAX_K, MIN_NORMAL_K = F(0.5), F(1.0), F(2.0), F(127.0), F(-126.0)
C2, C3, C4, C5, C6, C7, C8, C9 = (F(1.0 / math.factorial(k)) for k in range(2, 10))
A0, A1, A2, A3, A4, A5, A6, A7 = (F(1.0 / (2 * k + 1)) for k in range(8))


@intrinsic
def _power_of_two(typingctx, k):
    """2^k for a whole float32 k in [-126, 127], from its exponent bits (int32: no int64
    lanes in the vectorized loop)."""
    signature = types.float32(types.float32)

    def codegen(context, builder, sig, args):
        i32 = ir.IntType(32)
        biased = builder.add(builder.fptosi(args[0], i32), ir.Constant(i32, 127))
        return builder.bitcast(builder.shl(biased, ir.Constant(i32, 23)), ir.FloatType())

    return signature, codegen


@njit(inline="always")
def _reduced(x):
    """(k, r), x = k ln2 + r: |r| <= ln2/2 but where k stops at 127 (r < ln2 there)."""
    k = np.floor(x * LOG2E + HALF)
    k = k if k < MAX_K else MAX_K
    return k, (x - k * LN2_HI) - k * LN2_LO


@njit(inline="always")
def _exp_minus_one_series(r):
    """sum_{k=1..9} r^k / k!, Estrin's scheme."""
    r2 = r * r
    r4 = r2 * r2
    low = (ONE + C2 * r) + (C3 + C4 * r) * r2 + ((C5 + C6 * r) + (C7 + C8 * r) * r2) * r4
    return r * (low + C9 * (r4 * r4))


@njit(inline="always")
def vexp(x):
    clamped = F(-104.0) if x < F(-104.0) else (F(89.0) if x > F(89.0) else x)
    k, r = _reduced(clamped)
    normal = k if k > MIN_NORMAL_K else MIN_NORMAL_K  # subnormal: 2^-126 * 2^(k + 126)
    value = (ONE + _exp_minus_one_series(r)) * _power_of_two(normal) * _power_of_two(k - normal)
    value = F(math.inf) if x > EXP_OVERFLOW else value
    value = F(0.0) if x < EXP_UNDERFLOW else value
    return x if x != x else value


@njit(inline="always")
def vexpm1(x):
    """exp(x) - 1 as 2^k series(r) + (2^k - 1); below -25 it is -1 in float32."""
    clamped = F(-25.0) if x < F(-25.0) else (F(89.0) if x > F(89.0) else x)
    k, r = _reduced(clamped)
    scale = _power_of_two(k)
    value = _exp_minus_one_series(r) * scale + (scale - ONE)
    value = F(math.inf) if x > EXP_OVERFLOW else value
    return x if x != x else value


@njit(inline="always")
def vtanh(z):
    """tanh(z) = -e/(2 + e), e = expm1(-2|z|), signed."""
    e = vexpm1(-TWO * abs(z))
    t = -e / (TWO + e)
    return t if z >= F(0.0) else -t


@njit(inline="always")
def vlog1p_unit(u):
    """log(1 + u) for 0 <= u <= 1: 2 atanh(s), s = u/(2 + u) <= 1/3, to s^15."""
    s = u / (TWO + u)
    t = s * s
    t2 = t * t
    low = (A0 + A1 * t) + (A2 + A3 * t) * t2
    high = (A4 + A5 * t) + (A6 + A7 * t) * t2
    return TWO * s * (low + high * (t2 * t2))
