"""The Numba CPU backend: one fused, vectorizing kernel per model, its chunks run in threads.

Layout: the rows are split into chunks; a serial compiled function runs a range of them, and
symgrad.runtime.numba_driver shares a call's chunks among threads (one compiled version for
every data layout; a small call stays in the caller's thread). Inside a chunk a plain
row loop runs the CSE'd forward + reverse program as straight-line scalar code and adds the
loss and every partial into scalar accumulators (per-chunk partial sums: race-free; the caller
adds the chunks). The columns arrive as separate 1-D arrays (views of the caller's data: C, F
or strided, never copied). Two things make the row loop vectorize across rows: ``exp`` is
``vexp`` (arithmetic + bit tricks instead of a libm call; tanh is ``vtanh`` likewise), every
helper is branch-free, and the
fast-math flags allow only reassociation, contraction and signed-zero freedom, so the
accumulators may be split into vector lanes while inf/nan keep their IEEE meaning. Vector
blocks and term families are loops whatever their width (``numba_loops``); with families the
rows run in tiles.
"""
from __future__ import annotations

import re

import sympy as sp

from ..primitives import helper_sources
from ..trainable import LOSS_ONLY
from .printer import (HELPERS, FoldedExtrema, ScalarPrinter, accumulate_lines, column_args,
                      data_check, module_text, param_loads, row_lines, store_lines, sum_names)
from .numba_loops import (block_lines, block_stores, dot_lines, family_accumulator,
                          family_gradient, family_loads, family_scratch, family_stores,
                          index_arrays, matrix_args, row_loop, split_outputs, vector_loads,
                          zeros)
from .numba_second_order import second_order_functions
from .spec import KernelSpec

# Options of every generated kernel. Fast-math: reassociation, contraction and signed zeros
# only (no nnan/ninf: inf and nan keep their meaning). error_model "numpy": x/0 is inf or nan
# as in IEEE arithmetic, not a ZeroDivisionError, so a division does not stop vectorization.
# nogil: symgrad.runtime.numba_driver runs a call's chunks in several threads.
# pipeline_class: Numba's compiler without SSA reconstruction, vectorizing 512 bits wide
# (numba_driver.KernelCompiler).
KERNEL_OPTIONS = ('nogil=True, cache=True, error_model="numpy", pipeline_class=KernelCompiler, '
                  'fastmath={"reassoc", "contract", "nsz"}')
LOOP_OPTIONS = ('nogil=True, cache=True, error_model="numpy", '  # sums that keep their order
                'pipeline_class=KernelCompiler')

NUMBA_HELPERS = {**HELPERS, **helper_sources("numba")}  # branch-free where python's branch
MAX_INLINE_ARGS = 30  # Numba inlines a call of at most this many arguments
MAX_PRODUCT_POWER = 4  # b**2..b**4 of a base printed in at most MAX_PRODUCT_BASE characters
MAX_PRODUCT_BASE = 60  # are printed as products (NumbaPrinter._print_Pow)


class NumbaPrinter(FoldedExtrema, ScalarPrinter):
    """The shared printer, with exp as ``vexp``, Max and Min NaN-propagating, and helpers
    compiled inline."""

    helper_table = NUMBA_HELPERS
    helper_decorator = '@njit(inline="always")\n'
    guarded_builtin = True  # max(names), NaN where one is NaN (printer.FoldedExtrema)
    extrema_decorator = "@njit\n"  # else calls LLVM inlines (Numba's own inlining is slower)
    exp_function = "vexp"

    def helper(self, expr) -> tuple[str, str]:
        """A helper of more than MAX_INLINE_ARGS arguments (logsumexp31) is a function of its
        own: Numba's inliner refuses a call with so many ("a closure with *args")."""
        name, source = super().helper(expr)
        if len(expr.args) > MAX_INLINE_ARGS:
            source = source.replace(self.helper_decorator, '@njit(error_model="numpy")\n', 1)
        return name, source

    def column_value(self, k: int) -> str:
        """A float64 kernel reads float32 data in place (symgrad.runtime.columns.Reading) and
        widens each value: else arithmetic on data alone (x*x, sin(x)) ran in float32."""
        return f"np.float64(_c{k}[_row])" if self.float_type is None else f"_c{k}[_row]"

    def _print_attains(self, expr) -> str:
        """1.0 where a equals the extremum m, else 0.0, without a branch: a conditional
        expression is three basic blocks, and Numba's SSA passes grow with the blocks (a
        60-argument max, one attains per argument, compiled in 10.6 s, now 3.3 s)."""
        a, m = (self._print(e) for e in expr.args)
        return f"(({a} == {m}) * 1.0)"

    def _print_Pow(self, expr, rational=False):
        """A negative integer power as 1/b**k: Numba's integer power raises
        ZeroDivisionError at b = 0 whatever the error model, where 1/0 is inf (as numpy's).
        A square, cube or fourth power of a short base as a product: Numba lowers ``b**k``
        by compiling a function of its own, 60-100 ms of a process's first compile."""
        base, exponent = expr.args
        if exponent.is_Integer and exponent < -1:
            return f"(1.0/{self._print(sp.Pow(base, -exponent, evaluate=False))})"
        if exponent.is_Integer and 2 <= exponent <= MAX_PRODUCT_POWER and _arithmetic(base):
            printed = self.parenthesize(base, sp.printing.precedence.PRECEDENCE["Mul"])
            if len(printed) <= MAX_PRODUCT_BASE:
                return "(" + "*".join([printed] * int(exponent)) + ")"
        return super()._print_Pow(expr, rational=rational)

    def _print_exp(self, expr):
        return f"vexp({self._print(expr.args[0])})"

    def _print_tanh(self, expr):
        return f"vtanh({self._print(expr.args[0])})"


def _arithmetic(expr) -> bool:
    """Whether expr is made of numbers, symbols, sums, products and integer powers only (no
    call, which a product would repeat)."""
    return all(isinstance(e, (sp.Symbol, sp.Number, sp.Add, sp.Mul)) or
               (isinstance(e, sp.Pow) and e.exp.is_Integer) for e in sp.preorder_traversal(expr))


HEADER = '''\
import math

import numpy as np
from numba import njit

from symgrad.runtime.numba_driver import (General, KernelCompiler, ScalarCallCompiler,
                                          chunked_rows, chunked_sums)
from symgrad.runtime.numba_support import (GUARDED_STEP, link_guarded_step, step_into, vexp,
                                           vexpm1, vlog1p_unit, vtanh)

'''
# dtype float32: every constant np.float32 (printer.typed_literals), the accumulators and
# outputs float32, and exp, expm1, tanh and log1p's float32 versions under the same names
FLOAT32 = "np.float32"
FLOAT32_HEADER = HEADER.replace("""\
from symgrad.runtime.numba_support import (GUARDED_STEP, link_guarded_step, step_into, vexp,
                                           vexpm1, vlog1p_unit, vtanh)
""", """\
from symgrad.runtime.numba_float32 import vexp, vexpm1, vlog1p_unit, vtanh
from symgrad.runtime.numba_support import GUARDED_STEP_F32 as GUARDED_STEP
from symgrad.runtime.numba_support import link_guarded_step, step_into
""")


def module_source(spec: KernelSpec) -> str:
    single = spec.dtype == "float32"
    printer = NumbaPrinter(float_type=FLOAT32 if single else None)
    header = FLOAT32_HEADER if single else HEADER
    source = module_text(spec, printer, header + index_arrays(spec.loops, printer),
                         gradient_function, prediction_function, second_order_sums)
    return tuned_for_scalar_calls(source + "\n\n" + training_function(spec, printer))


# A scalar libm call (sin, log, atan, a power with a non-integer exponent, ...) in a row loop
# keeps LLVM from vectorizing it, and then fast-math buys nothing but compile time: a 200-term
# sum of sin terms compiled in 12.4 s with it and 9.0 s without (and ran 10% faster).
FAST_MATH = ', fastmath={"reassoc", "contract", "nsz"}'
SCALAR_CALL = re.compile(r"math\.(?!sqrt\b|fabs\b|floor\b|ceil\b|copysign\b|inf\b|nan\b|pi\b"
                         r"|e\b)\w+\(|\*\*\s*\((?!-?\d+\))|\*\*\s*-?\d*\.")
FUNCTION = re.compile(r"^@njit\(.*?\)\ndef (\w+)\(.*?(?=^@|^\w|\Z)", re.M | re.S)


def tuned_for_scalar_calls(source: str) -> str:
    """The module with each function whose code, or a helper's that it calls, makes a scalar
    libm call compiled at LLVM's default vector width (numba_driver.ScalarCallCompiler), and
    without fast-math unless it runs term families' tiles, whose sums over a tile's rows
    vectorize whatever the terms call (numba_loops)."""
    bodies = {m.group(1): m.group(0) for m in FUNCTION.finditer(source)}
    scalar = {name for name, body in bodies.items() if SCALAR_CALL.search(body)}

    def calls_scalar(body: str) -> bool:
        return any(re.search(rf"\b{name}\(", body.split("\n", 2)[-1]) for name in scalar)

    def rewrite(match) -> str:
        head, rest = match.group(0).split("\n", 1)
        if not (SCALAR_CALL.search(rest) or calls_scalar(match.group(0))):
            return match.group(0)
        head = head.replace("pipeline_class=KernelCompiler", "pipeline_class=ScalarCallCompiler")
        if "_tile" not in rest:
            head = head.replace(FAST_MATH, "")
        return head + "\n" + rest
    return FUNCTION.sub(rewrite, source)


def typed_output(printer: NumbaPrinter) -> str:
    """The dtype argument of chunked_sums and chunked_rows (none: float64)."""
    return f", {printer.float_type}" if printer.float_type else ""


def gradient_function(spec: KernelSpec, printer: NumbaPrinter) -> str:
    return sums_function("loss_and_gradient", spec.gradient, spec.gradient_inputs(),
                         spec.loops, spec.matrix_ids(), printer)


def sums_function(name: str, program, columns, loops, matrices, printer) -> str:
    """Per-chunk sums of a program's outputs over the rows (loss, partials, ...: one column
    each), then each vector block's partials, then the data check: a serial function filling
    chunks first..last-1, and ``name``, the call that shares the chunks among threads
    (symgrad.runtime.numba_driver)."""
    scalars, adjoints = split_outputs(program, loops)
    sums = sum_names(scalars)
    width = len(sums) + sum(len(v) for v in loops.vectors) + loops.own
    families = loops.used_families(program)
    zero = printer.typed("0.0")
    row = "            "
    lines = [
        f"@njit({KERNEL_OPTIONS})",
        f"def _{name}(_theta, _n, _chunks, _first, _last, _sums"
        f"{column_args(columns)}{matrix_args(matrices)}):",
        *param_loads(program, "    ", loops.theta_index),
        *vector_loads(loops, "    "),
        *family_loads(loops, "    ", families),
        *family_scratch(loops, "    ", printer, columns, families),
        "    for _chunk in range(_first, _last):",
        "        _start = _chunk * _n // _chunks",
        "        _stop = (_chunk + 1) * _n // _chunks",
        *(f"        {s} = {zero}" for s in sums),
        *(f"        _acc{v} = {zeros(len(ix), printer)}" for v, ix in enumerate(loops.vectors)),
        *family_accumulator(loops, "        ", printer),
        *row_loop(loops, printer, "        ", ("_start", "_stop"), None, [
            *row_lines(program, columns, printer, row,
                       dot_lines(loops, loops.dots, row, zero, check=True)),
            *accumulate_lines(sums, scalars, printer, row),
            f"{row}_check += {printer.typed(data_check(columns))}",
            *block_lines(adjoints, loops, printer, row)], columns, families, adjoints,
            check=True),
        *(f"        _sums[_chunk, {k}] = {s}" for k, s in enumerate(sums[:-1])),
        *block_stores(loops, len(sums) - 1, "        "),
        *family_stores(loops, width - 1 - loops.own, "        "),
        f"        _sums[_chunk, {width - 1}] = _check",
        "",
        "",
        f"{name} = chunked_sums(_{name}, {width}{typed_output(printer)})",
    ]
    return "\n".join(lines) + "\n"


def second_order_sums(spec: KernelSpec, printer: NumbaPrinter) -> str:
    return second_order_functions(spec, printer, sums_function, KERNEL_OPTIONS, LOOP_OPTIONS)


def prediction_function(spec: KernelSpec, printer: NumbaPrinter) -> str:
    program, columns, loops = spec.prediction, spec.prediction_inputs(), spec.loops
    families = loops.used_families(program)
    lines = [
        f"@njit({LOOP_OPTIONS})",
        f"def _predict(_theta, _start, _stop, _out{column_args(columns)}"
        f"{matrix_args(spec.matrix_ids(program))}):",
        *param_loads(program, "    ", loops.theta_index),
        *vector_loads(loops, "    "),
        *family_loads(loops, "    ", families),
        *family_scratch(loops, "    ", printer, columns, families, gradient=False),
        *row_loop(loops, printer, "    ", ("_start", "_stop"), None, [
            *row_lines(program, columns, printer, "        ",
                       dot_lines(loops, loops.used(program), "        ", printer.typed("0.0"))),
            *store_lines(program.outputs, printer, "        ")], columns, families),
        "",
        "",
        f"predict = chunked_rows(_predict, ({len(program.outputs)},){typed_output(printer)})",
    ]
    return "\n".join(lines) + "\n"


def training_function(spec: KernelSpec, printer: NumbaPrinter) -> str:
    """Whole epochs in compiled code: batching, each batch's sums over its rows
    order[start:stop] (the loss and scalar partials, then each vector block's partials), the
    optimizer's rule. One function: the batch's row loop written in place, not a second
    compiled function (whose own compile took 0.3-0.5 s of a model's first training run).
    It has the kernels' fast-math flags, so the row loop's sums vectorize; each epoch's loss
    is still the batches' losses added in order (each is added after an opaque step call).

    Counters (epochs done, steps, status: 0 ran, 1 diverged) are written in place, so they are
    right even when Ctrl-C arrives the moment the call returns. On divergence (a non-finite
    loss, or a step that would make theta non-finite) theta keeps its last finite value.
    The gradient is of the kernel's type; an epoch's loss (``_total``, the history) float64.
    With kind LOSS_ONLY (symgrad.trainable) the batches' losses are summed and nothing steps.
    """
    program, columns, loops = spec.gradient, spec.gradient_inputs(), spec.loops
    scalars, adjoints = split_outputs(program, loops)
    sums = sum_names(scalars, check=False)
    families = loops.used_families(program)
    arguments = column_args(spec.columns) + matrix_args(spec.matrix_ids())
    zero, one = printer.typed("0.0"), printer.typed("1.0")
    finite = " + ".join([f"{name} * {zero}" for name in sums] +
                        [f"np.sum(_acc{v}) * {zero}" for v in range(len(loops.vectors))] +
                        ([f"np.sum(_facc) * {zero}"] if loops.families else []))
    row = "                "
    lines = [
        f"@njit({KERNEL_OPTIONS})",
        f"def _train_epochs(_theta, _state, _hyper, _kind, _orders, _batch, _mean, _history, "
        f"_counters, _grad{arguments}):",
        "    _n = _orders.shape[1]",
        *family_scratch(loops, "    ", printer, columns, families),
        "    for _epoch in range(_history.shape[0]):",
        "        _order = _orders[_epoch % _orders.shape[0]]",
        "        _total = 0.0",
        "        for _start in range(0, _n, _batch):",
        "            _stop = _start + _batch if _start + _batch < _n else _n",
        *param_loads(program, "            ", loops.theta_index),
        *vector_loads(loops, "            "),
        *family_loads(loops, "            ", families),
        *(f"            {name} = {zero}" for name in sums),
        *(f"            _acc{v} = {zeros(len(ix), printer)}" for v, ix in enumerate(loops.vectors)),
        *family_accumulator(loops, "            ", printer),
        *row_loop(loops, printer, "            ", ("_start", "_stop"), "_order", [
            *row_lines(program, columns, printer, row, dot_lines(loops, loops.dots, row, zero)),
            *accumulate_lines(sums, scalars, printer, row),
            *block_lines(adjoints, loops, printer, row)], columns, families, adjoints),
        f"            if _kind == {LOSS_ONLY}:  # the loss at theta: no step (Kernel.loss_at)",
        f"                _total += {sums[0]}",
        "                continue",
        f"            _scale = {one} / {printer.cast('_stop - _start')} if _mean else {one}",
        *(f"            _grad[{k}] = {name} * _scale"
          for name, k in zip(sums[1:], spec.nonzero)),
        *(line for v in range(len(loops.vectors)) for line in (
            f"            for _j in range(_at{v}.shape[0]):",
            f"                _grad[_at{v}[_j]] = _acc{v}[_j] * _scale")),
        *family_gradient(loops, "            "),
        f"            if {finite} != {zero}:",
        "                _counters[2] = 1",
        "                return",
        "            if not GUARDED_STEP(_kind, _theta.shape[0], _theta.ctypes, _grad.ctypes,",
        "                                _state.ctypes, _state.shape[0], _hyper.ctypes,",
        "                                _hyper.shape[0], _counters[1] + 1):",
        "                _counters[2] = 1",
        "                return",
        "            _counters[1] += 1",
        f"            _total += {sums[0]}",
        "        _history[_epoch] = _total / _n if _mean else _total",
        "        _counters[0] += 1",
        "",
        "",
        f"train_epochs = General(_train_epochs, prepare=lambda: link_guarded_step("
        f"{spec.dtype!r}))",
    ]
    return "\n".join(lines) + "\n"
