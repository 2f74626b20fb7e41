"""The CUDA backend (numba.cuda): the same CSE'd program, one GPU thread per row.

``partial_sums`` runs the forward + reverse program per row in a grid-stride loop, adds into
per-thread sums, tree-reduces them in shared memory and writes one row of sums per block
(loss, each non-zero partial, the data check); ``cuda_support.add_block_sums`` adds the
blocks. Rows are ``start + i``, or ``order[start + i]`` for a shuffled epoch; data column k of
a row is ``_columns[k, row]`` (one array argument). ``predict_rows`` writes one prediction
per row. The printer is the shared one: libdevice's exp/log/tanh are already
branch-light on a GPU, so only the helpers' decorator differs from the CPU dialect. Training
runs on the device through ``cuda_support.DeviceRun``; ``loss_and_gradient`` and ``predict``
are the host entry points ``symgrad.Kernel`` calls (they copy their arguments each call).
"""
from __future__ import annotations

from ..errors import SymgradError
from .printer import (FoldedExtrema, ScalarPrinter, accumulate_lines, data_check,
                      jacobian_stores, module_text, param_loads, row_lines, store_lines,
                      sum_names)
from .spec import UNROLLED_JACOBIAN, KernelSpec

HEADER = '''\
import math

import numpy as np
from numba import cuda, float64

from symgrad.runtime.cuda_support import host_predict, host_rows, host_sums, threads_for

'''


class CudaPrinter(FoldedExtrema, ScalarPrinter):
    """The shared printer; helpers become CUDA device functions, Max/Min fold into helpers
    (numba.cuda compiles no builtin max or min of floats)."""

    helper_decorator = "@cuda.jit(device=True)\n"

    def column_value(self, k: int) -> str:
        """The kernels take their data columns as the rows of one 2-d array: one argument
        where a column each cost numba.cuda's launch its marshalling, per column per step."""
        return f"_columns[{k}, _row]"


def module_source(spec: KernelSpec) -> str:
    """dtype float32: constants float32(...) (printer.typed_literals), per-thread and block
    sums float32; the sums over blocks (cuda_support) stay float64."""
    printer = CudaPrinter(float_type="float32" if spec.dtype == "float32" else None)
    header = HEADER.replace("cuda, float64", "cuda, float32, float64") if printer.float_type \
        else HEADER
    outputs = len(spec.prediction.outputs) if spec.prediction is not None else 0
    constants = sums_constants("", spec.gradient) + second_order_constants(spec) + \
        f"OUTPUTS = {outputs}\n\n\n"
    source = module_text(spec, printer, header + constants, gradient_function,
                         prediction_function, second_order_functions)
    return source + "\n\n" + HOST_FUNCTIONS + second_order_hosts(spec)


def sums_constants(prefix: str, program) -> str:
    """A sums kernel's width and threads per block (what its shared memory holds)."""
    sums = len(program.outputs) + 1
    return f"{prefix}SUMS = {sums}\n{prefix}THREADS = threads_for({prefix}SUMS)\n"


def gradient_function(spec: KernelSpec, printer: CudaPrinter) -> str:
    return sums_function("partial_sums", "", spec.gradient, spec.gradient_inputs(), printer)


def sums_function(name: str, prefix: str, program, columns, printer: CudaPrinter) -> str:
    """Per-block sums of a program's outputs (loss, partials, ...), then the data check;
    the width and threads are the module's {prefix}SUMS and {prefix}THREADS."""
    sums = sum_names(program.outputs)
    width, threads = f"{prefix}SUMS", f"{prefix}THREADS"
    shared = printer.float_type or "float64"  # the type of the block's sums
    lines = [
        "@cuda.jit",
        f"def {name}(_theta, _order, _indexed, _start, _count, _partials, _columns):",
        f"    _shared = cuda.shared.array(({threads}, {width}), {shared})",
        "    _tid = cuda.threadIdx.x",
        *param_loads(program, "    "),
        *(f"    {s} = {printer.typed('0.0')}" for s in sums),
        "    for _i in range(cuda.grid(1), _count, cuda.gridsize(1)):",
        "        _row = _order[_start + _i] if _indexed else _start + _i",
        *row_lines(program, columns, printer, "        "),
        *accumulate_lines(sums, program.outputs, printer, "        "),
        f"        _check += {printer.typed(data_check(columns))}",
        *(f"    _shared[_tid, {k}] = {s}" for k, s in enumerate(sums)),
        "    cuda.syncthreads()",
        f"    _width = {threads} // 2",
        "    while _width > 0:",
        "        if _tid < _width:",
        f"            for _k in range({width}):",
        "                _shared[_tid, _k] += _shared[_tid + _width, _k]",
        "        cuda.syncthreads()",
        "        _width //= 2",
        "    if _tid == 0:",
        f"        for _k in range({width}):",
        "            _partials[cuda.blockIdx.x, _k] = _shared[0, _k]",
    ]
    return "\n".join(lines) + "\n"


def second_order_functions(spec: KernelSpec, printer: CudaPrinter) -> str:
    """order=2: the Hessian's and the Gauss-Newton sums per block (the latter unrolled, so
    over at most UNROLLED_JACOBIAN Jacobian columns), the prediction's Jacobian per row."""
    second = spec.second
    if second is None:
        return ""
    text = ""
    if second.hessian is not None:
        text += "\n\n" + sums_function("hessian_partial_sums", "HESSIAN_", second.hessian,
                                        spec.hessian_inputs(), printer)
    if second.residuals is not None:
        if len(second.jacobian_index) > UNROLLED_JACOBIAN:
            raise SymgradError(f"the cuda backend sums J^T J over at most "
                               f"{UNROLLED_JACOBIAN} parameters; use numba")
        text += "\n\n" + sums_function("gauss_newton_partial_sums", "GAUSS_NEWTON_",
                                        second.gauss_newton_program(),
                                        spec.residual_inputs(), printer)
    if second.prediction is not None:
        text += "\n\n" + jacobian_function(spec, printer)
    return text


def jacobian_function(spec: KernelSpec, printer: CudaPrinter) -> str:
    second = spec.second
    program, columns = second.prediction, spec.jacobian_inputs()
    lines = [
        "@cuda.jit",
        "def jacobian_rows(_theta, _n, _out, _columns):",
        *param_loads(program, "    "),
        "    for _row in range(cuda.grid(1), _n, cuda.gridsize(1)):",
        *row_lines(program, columns, printer, "        "),
        *jacobian_stores(second, printer, "        "),
    ]
    return "\n".join(lines) + "\n"


def second_order_constants(spec: KernelSpec) -> str:
    second = spec.second
    if second is None:
        return ""
    text = sums_constants("HESSIAN_", second.hessian) if second.hessian is not None else ""
    if second.residuals is not None:
        text += sums_constants("GAUSS_NEWTON_", second.gauss_newton_program())
    return text


def second_order_hosts(spec: KernelSpec) -> str:
    """The host entry points of the second-order kernels."""
    second = spec.second
    if second is None:
        return ""
    text = ""
    if second.hessian is not None:
        text += HOST_SUMS.format(name="hessian_sums", kernel="hessian_partial_sums",
                                 prefix="HESSIAN_")
    if second.residuals is not None:
        text += HOST_SUMS.format(name="gauss_newton_sums", kernel="gauss_newton_partial_sums",
                                 prefix="GAUSS_NEWTON_")
    if second.prediction is not None:
        text += HOST_JACOBIAN.format(shape=(second.output_count, len(spec.params)))
    return text


HOST_SUMS = '''

def {name}(_theta, _n, _chunks, *_columns):
    return host_sums({kernel}, {prefix}SUMS, {prefix}THREADS, META["dtype"], _theta, _n,
                     _columns)
'''

HOST_JACOBIAN = '''

def jacobian(_theta, _n, *_columns):
    return host_rows(jacobian_rows, {shape}, META["dtype"], _theta, _n, _columns)
'''


def prediction_function(spec: KernelSpec, printer: CudaPrinter) -> str:
    program, columns = spec.prediction, spec.prediction_inputs()
    lines = [
        "@cuda.jit",
        "def predict_rows(_theta, _n, _out, _columns):",
        *param_loads(program, "    "),
        "    for _row in range(cuda.grid(1), _n, cuda.gridsize(1)):",
        *row_lines(program, columns, printer, "        "),
        *store_lines(program.outputs, printer, "        "),
    ]
    return "\n".join(lines) + "\n"


HOST_FUNCTIONS = '''\
def loss_and_gradient(_theta, _n, _chunks, *_columns):
    return host_sums(partial_sums, SUMS, THREADS, META["dtype"], _theta, _n, _columns)


def predict(_theta, _n, *_columns):
    return host_predict(predict_rows, OUTPUTS, META["dtype"], _theta, _n, _columns)
'''
