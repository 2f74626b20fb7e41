"""Elementary functions written straight as LLVM instructions: ``unary_intrinsic(body, type)``.

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
