"""The CUDA backend (numba.cuda): the same CSE'd program, one GPU thread per row.

``partial_sums`` runs the forward + reverse program per row in a grid-stride loop, adds into
per-thread sums, tree-reduces them in shared memory and writes one row of sums per block
(loss, each non-zero partial, the data check); ``cuda_support.add_block_sums`` adds the
blocks. Rows are ``start + i``, or ``order[start + i]`` for a shuffled epoch. ``predict_rows`` writes one
prediction per row. The printer is the shared one: libdevice's exp/log/tanh are already
branch-light on a GPU, so only the helpers' decorator differs from the CPU dialect. Training
runs on the device through ``cuda_support.DeviceRun``; ``loss_and_gradient`` and ``predict``
are the host entry points ``symgrad.Kernel`` calls (they copy their arguments each call).
"""
from __future__ import annotations

from .printer import (ScalarPrinter, accumulate_lines, column_args, data_check, module_text,
                      nested_calls, param_loads, row_lines, store_lines, sum_names)
from .spec import KernelSpec

HEADER = '''\
import math

import numpy as np
from numba import cuda, float64

from symgrad.runtime.cuda_support import host_predict, host_sums, threads_for

'''


CUDA_HELPERS = {  # numba.cuda compiles no builtin max/min of floats: Max and Min fold to these
    "larger": "def larger(a, b):\n    return b if b > a else a\n",
    "smaller": "def smaller(a, b):\n    return b if b < a else a\n",
}


class CudaPrinter(ScalarPrinter):
    """The shared printer; helpers become CUDA device functions, Max/Min fold into helpers."""

    helper_decorator = "@cuda.jit(device=True)\n"

    def _print_Max(self, expr):
        return self._folded("larger", expr.args)

    def _print_Min(self, expr):
        return self._folded("smaller", expr.args)

    def _folded(self, name, args) -> str:
        self.helpers.setdefault(name, self.helper_decorator + CUDA_HELPERS[name])
        return nested_calls(name, [self._print(a) for a in args])

def module_source(spec: KernelSpec) -> str:
    printer = CudaPrinter()
    sums = len(spec.gradient.outputs) + 1
    outputs = len(spec.prediction.outputs) if spec.prediction is not None else 0
    constants = f"SUMS = {sums}\nOUTPUTS = {outputs}\nTHREADS = threads_for(SUMS)\n\n\n"
    source = module_text(spec, printer, HEADER + constants, gradient_function,
                         prediction_function)
    return source + "\n\n" + HOST_FUNCTIONS


def gradient_function(spec: KernelSpec, printer: CudaPrinter) -> str:
    program, columns = spec.gradient, spec.gradient_inputs()
    sums = sum_names(program.outputs)
    lines = [
        "@cuda.jit",
        f"def partial_sums(_theta, _order, _indexed, _start, _count, _partials"
        f"{column_args(columns)}):",
        "    _shared = cuda.shared.array((THREADS, SUMS), float64)",
        "    _tid = cuda.threadIdx.x",
        *param_loads(program, "    "),
        *(f"    {s} = 0.0" for s in sums),
        "    for _i in range(cuda.grid(1), _count, cuda.gridsize(1)):",
        "        _row = _order[_start + _i] if _indexed else _start + _i",
        *row_lines(program, columns, printer, "        "),
        *accumulate_lines(sums, program.outputs, printer, "        "),
        f"        _check += {data_check(columns)}",
        *(f"    _shared[_tid, {k}] = {s}" for k, s in enumerate(sums)),
        "    cuda.syncthreads()",
        "    _width = THREADS // 2",
        "    while _width > 0:",
        "        if _tid < _width:",
        "            for _k in range(SUMS):",
        "                _shared[_tid, _k] += _shared[_tid + _width, _k]",
        "        cuda.syncthreads()",
        "        _width //= 2",
        "    if _tid == 0:",
        "        for _k in range(SUMS):",
        "            _partials[cuda.blockIdx.x, _k] = _shared[0, _k]",
    ]
    return "\n".join(lines) + "\n"


def prediction_function(spec: KernelSpec, printer: CudaPrinter) -> str:
    program, columns = spec.prediction, spec.prediction_inputs()
    lines = [
        "@cuda.jit",
        f"def predict_rows(_theta, _n, _out{column_args(columns)}):",
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
