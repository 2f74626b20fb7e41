"""Elementary functions written straight as LLVM instructions: ``unary_intrinsic(body, type)``,
and ``exp_family(constants, type)``: exp, expm1 and tanh for one float type.

The kernels' vexp, vexpm1, vtanh and vlog1p_unit (symgrad.runtime.numba_support, and
numba_float32's float32 versions) are Numba intrinsics whose ``body(m, x)`` builds the
function's arithmetic with an ``Emitter`` ``m``: a few dozen instructions at the call site.
Written as ``@njit(inline="always")`` functions, each call was inlined by Numba: the callee's
bytecode translated, its IR copied and typed again at every call site, 0.2-0.4 s of every
kernel's compile (the larger part of a small model's). The instructions are the ones Numba
lowers the same Python arithmetic to (a conditional expression is a select), and Numba's
fast-math pass gives them the calling kernel's flags as before, so the kernels compute the
same values; every branch is a select, so a row loop calling them still vectorizes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from llvmlite import ir
from numba import types
from numba.extending import intrinsic


class Emitter:
    """Float arithmetic of one type appended to an IR builder: values are ir.Values; Python
    numbers are constants of the type."""

    def __init__(self, builder: ir.IRBuilder, float_type: ir.Type, bits: int):
        self.builder, self.type, self.bits = builder, float_type, bits
        self.int = ir.IntType(bits)

    def value(self, x):
        return x if isinstance(x, ir.Value) else ir.Constant(self.type, float(x))

    def add(self, a, b):
        return self.builder.fadd(self.value(a), self.value(b))

    def sub(self, a, b):
        return self.builder.fsub(self.value(a), self.value(b))

    def mul(self, a, b):
        return self.builder.fmul(self.value(a), self.value(b))

    def div(self, a, b):
        return self.builder.fdiv(self.value(a), self.value(b))

    def neg(self, a):
        return self.builder.fneg(self.value(a))

    def less(self, a, b):
        return self.builder.fcmp_ordered("<", self.value(a), self.value(b))

    def greater(self, a, b):
        return self.builder.fcmp_ordered(">", self.value(a), self.value(b))

    def at_least(self, a, b):
        return self.builder.fcmp_ordered(">=", self.value(a), self.value(b))

    def is_nan(self, a):
        return self.builder.fcmp_unordered("uno", a, a)

    def select(self, condition, a, b):
        return self.builder.select(condition, self.value(a), self.value(b))

    def floor(self, a):
        return self._call("llvm.floor", a)

    def fabs(self, a):
        return self._call("llvm.fabs", a)

    def power_of_two(self, k):
        """2^k for a whole k (a float of this type) in the normal exponent range, from its
        exponent bits."""
        mantissa = {32: 23, 64: 52}[self.bits]
        bias = (1 << (self.bits - mantissa - 2)) - 1   # 127, 1023
        biased = self.builder.add(self.builder.fptosi(k, self.int), ir.Constant(self.int, bias))
        shifted = self.builder.shl(biased, ir.Constant(self.int, mantissa))
        return self.builder.bitcast(shifted, self.type)

    def _call(self, name: str, a):
        module = self.builder.module
        function_type = ir.FunctionType(self.type, [self.type])
        suffix = "f32" if self.bits == 32 else "f64"
        function = module.globals.get(f"{name}.{suffix}") or \
            ir.Function(module, function_type, f"{name}.{suffix}")
        return self.builder.call(function, [a])


INF = math.inf


def unary_intrinsic(body, float_type: types.Float, doc: str):
    """A Numba intrinsic float_type -> float_type computing ``body(emitter, x)``; its
    argument is converted to float_type as a call to a compiled function's would be."""
    bits = float_type.bitwidth
    llvm_type = ir.FloatType() if bits == 32 else ir.DoubleType()

    def typer(typingctx, x):
        if isinstance(x, (types.Float, types.Integer, types.Boolean)):
            return float_type(float_type)
        return None

    def codegen(context, builder, signature, args):
        return body(Emitter(builder, llvm_type, bits), args[0])

    def make(typingctx, x):
        signature = typer(typingctx, x)
        return None if signature is None else (signature, codegen)

    make.__name__ = make.__qualname__ = body.__name__
    make.__doc__ = doc
    return intrinsic(make)


@dataclass(frozen=True)
class ExpConstants:
    """One float type's constants for exp, expm1 and tanh: Cody-Waite range reduction
    x = k ln2 + r (ln2 in two parts, k at most max_k), e^r - 1 as a Taylor polynomial whose
    coefficients 1/1!, 1/2!, ... are ``series`` (Estrin's scheme), 2^k from exponent bits
    (split in two below min_normal_k), and the ranges beyond which exp is inf or 0."""
    log2e: float
    ln2_hi: float
    ln2_lo: float
    max_k: float
    min_normal_k: float
    exp_range: tuple[float, float]   # x is clamped to these before the reduction
    expm1_low: float                 # below it expm1(x) is -1 to the last bit
    overflow: float
    underflow: float
    series: tuple[float, ...]


def estrin(m, coefficients, x, power=None):
    """sum_k coefficients[k] x^k by Estrin's scheme: the lower half plus the upper half times
    x^h, h the largest power of two below the count (a dependency chain of log2(n) FMAs, so
    vectorized loops are not bound by FMA latency)."""
    if len(coefficients) == 1:
        return m.value(coefficients[0])
    h = 1 << (len(coefficients) - 1).bit_length() - 1
    powers = power or {1: x}
    while max(powers) < h:
        top = max(powers)
        powers[2 * top] = m.mul(powers[top], powers[top])
    return m.add(estrin(m, coefficients[:h], x, powers),
                 m.mul(estrin(m, coefficients[h:], x, powers), powers[h]))


def exp_family(c: ExpConstants, float_type: types.Float):
    """(vexp, vexpm1, vtanh) for one float type, as intrinsics."""
    def reduced(m, x, low):
        x = m.select(m.less(x, low), low, x)              # clamped: NaN stays NaN
        x = m.select(m.greater(x, c.exp_range[1]), c.exp_range[1], x)
        k = m.floor(m.add(m.mul(x, c.log2e), 0.5))
        k = m.select(m.less(k, c.max_k), k, c.max_k)
        r = m.sub(m.sub(x, m.mul(k, c.ln2_hi)), m.mul(k, c.ln2_lo))
        return k, r, m.mul(r, estrin(m, c.series, r))    # e^r - 1, no cancellation

    def vexp(m, x):
        k, _, series = reduced(m, x, c.exp_range[0])
        normal = m.select(m.greater(k, c.min_normal_k), k, c.min_normal_k)  # subnormal results
        value = m.mul(m.mul(m.add(1.0, series), m.power_of_two(normal)),
                      m.power_of_two(m.sub(k, normal)))
        value = m.select(m.greater(x, c.overflow), math.inf, value)
        value = m.select(m.less(x, c.underflow), 0.0, value)
        return m.select(m.is_nan(x), x, value)

    def vexpm1(m, x):
        k, _, series = reduced(m, x, c.expm1_low)
        scale = m.power_of_two(k)
        value = m.add(m.mul(series, scale), m.sub(scale, 1.0))
        value = m.select(m.greater(x, c.overflow), math.inf, value)
        return m.select(m.is_nan(x), x, value)

    def vtanh(m, z):
        e = vexpm1(m, m.mul(-2.0, m.fabs(z)))
        t = m.div(m.neg(e), m.add(2.0, e))
        return m.select(m.at_least(z, 0.0), t, m.neg(t))

    return (unary_intrinsic(vexp, float_type, "exp(x), vectorizable."),
            unary_intrinsic(vexpm1, float_type, """exp(x) - 1 without cancellation:
    2^k*series(r) + (2^k - 1), where k = 0 (and the series is the answer) for |x| <= ln2/2;
    below expm1_low the result is -1 to the last bit, so x is clamped there."""),
            unary_intrinsic(vtanh, float_type, """tanh(z) = -e/(2 + e) with
    e = expm1(-2|z|), signed: exact to a few ulp, branch-free."""))
