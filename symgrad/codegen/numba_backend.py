"""The Numba CPU backend: one fused, parallel, vectorizing kernel per model.

Layout: the rows are split into chunks, one ``prange`` iteration each; inside a chunk a plain
row loop runs the CSE'd forward + reverse program as straight-line scalar code and adds the
loss and every partial into scalar accumulators (per-chunk partial sums: race-free; the caller
adds the chunks). The columns arrive as separate 1-D arrays (views of the caller's data: C, F
or strided, never copied). Two things make the row loop vectorize across rows: ``exp`` is
``vexp`` (arithmetic + bit tricks instead of a libm call; tanh is ``vtanh`` likewise), every
helper is branch-free, and the
fast-math flags allow only reassociation, contraction and signed-zero freedom, so the
accumulators may be split into vector lanes while inf/nan keep their IEEE meaning.
"""
from __future__ import annotations

from ..primitives import helper_sources
from .printer import (HELPERS, ScalarPrinter, accumulate_lines, column_args, data_check,
                      module_text, param_loads, row_lines, store_lines, sum_names)
from .spec import KernelSpec

# Options of every generated kernel. Fast-math: reassociation, contraction and signed zeros
# only (no nnan/ninf: inf and nan keep their meaning). error_model "numpy": x/0 is inf or nan
# as in IEEE arithmetic, not a ZeroDivisionError, so a division does not stop vectorization.
KERNEL_OPTIONS = 'cache=True, error_model="numpy", fastmath={"reassoc", "contract", "nsz"}'
LOOP_OPTIONS = 'cache=True, error_model="numpy"'   # loops whose sums must keep their order

NUMBA_HELPERS = {**HELPERS, **helper_sources("numba")}  # branch-free where python's branch


class NumbaPrinter(ScalarPrinter):
    """The shared printer, with exp as ``vexp`` and helpers compiled inline."""

    helper_table = NUMBA_HELPERS
    helper_decorator = '@njit(inline="always")\n'
    exp_function = "vexp"

    def _print_exp(self, expr):
        return f"vexp({self._print(expr.args[0])})"

    def _print_tanh(self, expr):
        return f"vtanh({self._print(expr.args[0])})"


HEADER = '''\
import math

import numpy as np
from numba import njit, prange

from symgrad.runtime.numba_support import guarded_step, step_into, vexp, vexpm1, vtanh

'''


def module_source(spec: KernelSpec) -> str:
    printer = NumbaPrinter()
    source = module_text(spec, printer, HEADER, gradient_function, prediction_function)
    return source + "\n\n" + batch_function(spec, printer) + "\n\n" + training_function(spec)


def gradient_function(spec: KernelSpec, printer: NumbaPrinter) -> str:
    program, columns = spec.gradient, spec.gradient_inputs()
    sums = sum_names(program)
    lines = [
        f"@njit(parallel=True, {KERNEL_OPTIONS})",
        f"def loss_and_gradient(_theta, _n, _chunks{column_args(columns)}):",
        f"    _sums = np.zeros((_chunks, {len(sums)}))",
        *param_loads(program, "    "),
        "    for _chunk in prange(_chunks):",
        "        _start = _chunk * _n // _chunks",
        "        _stop = (_chunk + 1) * _n // _chunks",
        *(f"        {s} = 0.0" for s in sums),
        "        for _row in range(_start, _stop):",
        *row_lines(program, columns, printer, "            "),
        *accumulate_lines(sums, program.outputs, printer, "            "),
        f"            _check += {data_check(columns)}",
        *(f"        _sums[_chunk, {k}] = {s}" for k, s in enumerate(sums)),
        "    return _sums",
    ]
    return "\n".join(lines) + "\n"


def prediction_function(spec: KernelSpec, printer: NumbaPrinter) -> str:
    program, columns = spec.prediction, spec.prediction_inputs()
    lines = [
        f"@njit(parallel=True, {LOOP_OPTIONS})",
        f"def predict(_theta, _n{column_args(columns)}):",
        f"    _out = np.empty((_n, {len(program.outputs)}))",
        *param_loads(program, "    "),
        "    for _row in prange(_n):",
        *row_lines(program, columns, printer, "        "),
        *store_lines(program.outputs, printer, "        "),
        "    return _out",
    ]
    return "\n".join(lines) + "\n"


def batch_function(spec: KernelSpec, printer: NumbaPrinter) -> str:
    """Serial sums over the rows order[start:stop]: one mini-batch, for the training loop."""
    program, columns = spec.gradient, spec.gradient_inputs()
    sums = sum_names(program, check=False)
    lines = [
        f"@njit({KERNEL_OPTIONS})",
        f"def batch_sums(_theta, _order, _start, _stop{column_args(columns)}):",
        *param_loads(program, "    "),
        *(f"    {s} = 0.0" for s in sums),
        "    for _i in range(_start, _stop):",
        "        _row = _order[_i]",
        *row_lines(program, columns, printer, "        "),
        *accumulate_lines(sums, program.outputs, printer, "        "),
        f"    return ({', '.join(sums)},)",
    ]
    return "\n".join(lines) + "\n"


def training_function(spec: KernelSpec) -> str:
    """Whole epochs in compiled code: batching, the batch kernel, the optimizer's rule.

    Counters (epochs done, steps, status: 0 ran, 1 diverged) are written in place, so they are
    right even when Ctrl-C arrives the moment the call returns. On divergence (a non-finite
    loss, or a step that would make theta non-finite) theta keeps its last finite value.
    """
    columns = "".join(f", _c{k}" for k in range(len(spec.columns)))
    outputs = range(len(spec.nonzero) + 1)
    finite = " + ".join(f"_sums[{j}] * 0.0" for j in outputs)
    lines = [
        f"@njit({LOOP_OPTIONS})",
        f"def train_epochs(_theta, _state, _hyper, _kind, _orders, _batch, _mean, _history, "
        f"_counters{columns}):",
        "    _n = _orders.shape[1]",
        "    _grad = np.zeros(_theta.shape[0])",
        "    for _epoch in range(_history.shape[0]):",
        "        _order = _orders[_epoch % _orders.shape[0]]",
        "        _total = 0.0",
        "        for _start in range(0, _n, _batch):",
        "            _stop = min(_start + _batch, _n)",
        f"            _sums = batch_sums(_theta, _order, _start, _stop{columns})",
        "            _scale = 1.0 / (_stop - _start) if _mean else 1.0",
        *(f"            _grad[{k}] = _sums[{j + 1}] * _scale" for j, k in enumerate(spec.nonzero)),
        f"            if {finite} != 0.0:",
        "                _counters[2] = 1",
        "                return",
        "            if not guarded_step(_kind, _theta, _grad, _state, _hyper, _counters[1] + 1):",
        "                _counters[2] = 1",
        "                return",
        "            _counters[1] += 1",
        "            _total += _sums[0]",
        "        _history[_epoch] = _total / _n if _mean else _total",
        "        _counters[0] += 1",
    ]
    return "\n".join(lines) + "\n"
