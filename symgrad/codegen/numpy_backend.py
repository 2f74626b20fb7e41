"""The numpy reference backend: the same Program, vectorized over whole columns, no JIT.

It shares nothing with the Numba backend but the printer's base class, which is the point: the
tests run every model through both and compare. Each temporary is a whole column; each output
is summed with numpy's pairwise sum. Helpers are numpy's own stable forms.
"""
from __future__ import annotations

import sympy as sp
from sympy.logic.boolalg import Boolean
from sympy.printing.numpy import NumPyPrinter

from ..primitives import helper_sources
from .printer import (ScalarPrinter, column_args, data_check, jacobian_stores, module_text,
                      nested_calls, residual_stores, statement_lines)
from .spec import KernelSpec

NUMPY_HELPERS = helper_sources("numpy")  # a dialect of its own: helpers take whole columns

MATH_CONSTANTS = ("pi", "e", "tau", "inf", "nan")


class ReferencePrinter(ScalarPrinter, NumPyPrinter):
    """The shared printer with numpy's functions; helpers work on whole columns."""

    helper_table = NUMPY_HELPERS

    def _module_format(self, fqn, register=True):
        """A ``math`` function numpy lacks (erf, gamma, lgamma, ...) mapped over the column
        elementwise; ``math`` constants as they are."""
        name = super()._module_format(fqn, register)
        if fqn.startswith("math.") and fqn[5:] not in MATH_CONSTANTS:
            return f"numpy.vectorize(elementwise_or_nan({name}), otypes=[{self.element_type}])"
        return name

    @property
    def element_type(self) -> str:
        """The type of the values a function computed one element at a time returns."""
        return self.float_type or "float"

    @property
    def array_type(self) -> str:
        return self.float_type or "numpy.float64"

    def polygamma_helper(self, order: int) -> tuple[str, str]:
        """mpmath's polygamma, one element at a time: a reference independent of the
        compiled backends' own series. Its reflection for x < 0 cancels digits (15 of 16 at
        order 20, x = -1.5; ~100 at order 36, x = -99.5), so the precision doubles from 40
        digits until two in a row agree."""
        name = f"polygamma{order}"
        return name, (f"def {name}(x):\n"
                      f"    def value(v):\n"
                      f"        previous = None\n"
                      f"        for digits in (40, 80, 160, 320, 640):\n"
                      f"            with mpmath.workdps(digits):\n"
                      f"                current = float(mpmath.polygamma({order}, v))\n"
                      f"            if current == previous or previous is not None and \\\n"
                      f"                    abs(current - previous) <= 1e-15 * abs(current):\n"
                      f"                break\n"
                      f"            previous = current\n"
                      f"        return current\n"
                      f"    point = elementwise_or_nan(value)\n"
                      f"    return numpy.vectorize(point, otypes=[{self.element_type}])(x)\n")

    def _print_sign(self, expr):
        return f"numpy.sign({self._print(expr.args[0])})"

    def _print_Heaviside(self, expr):  # NaN kept, as numpy.sign keeps it
        z, at_zero = (self._print(a) for a in expr.args)
        return (f"numpy.where(numpy.isnan({z}), {z}, numpy.where({z} < 0, 0.0, "
                f"numpy.where({z} == 0, {at_zero}, 1.0)))")

    def _print_attains(self, expr):
        a, m = (self._print(e) for e in expr.args)
        return f"numpy.where({a} == {m}, 1.0, 0.0)"

    # Nested two-argument calls broadcast a scalar condition against a column, where SymPy's
    # ``numpy.logical_and.reduce((a, b))`` would build a ragged array.
    def _print_And(self, expr):
        return nested_calls("numpy.logical_and", [self._print(a) for a in expr.args])

    def _print_Or(self, expr):
        return nested_calls("numpy.logical_or", [self._print(a) for a in expr.args])

    def _print_Piecewise(self, expr):
        """A Piecewise of conditions (SymPy folds ``x > Max(a, b, ...)`` into one) selects
        with the default False: numpy.nan would make it a float array, which numpy.select
        refuses as a condition."""
        printed = super()._print_Piecewise(expr)
        nan = f"default={self._print(sp.nan)})"
        if boolean_valued(expr) and printed.endswith(nan):
            printed = printed[:-len(nan)] + "default=False)"
        return printed


def boolean_valued(expr) -> bool:
    """A condition, or a Piecewise whose every branch is one (nested Piecewise included)."""
    if isinstance(expr, sp.Piecewise):
        return all(boolean_valued(pair.expr) for pair in expr.args)
    return isinstance(expr, Boolean)

ELEMENTWISE_OR_NAN = '''\
def elementwise_or_nan(f):
    """f of one float, inf where it overflows (math.gamma(200)), nan outside its domain; at
    a pole C99's value (where Python's math raises), as Numba's libm and scipy give it:
    gamma(+-0) = +-inf, lgamma of 0 or a negative whole number inf."""
    def safe(x, *rest):
        try:
            return f(x, *rest)
        except OverflowError:  # gamma of a tiny negative x overflows to -inf, its sign
            return math.copysign(math.inf, x) if f is math.gamma else math.inf
        except (ValueError, ZeroDivisionError):
            if f is math.lgamma and x <= 0 and x == math.floor(x):
                return math.inf
            return math.copysign(math.inf, x) if f is math.gamma and x == 0 else math.nan
    return safe
'''

HEADER = '''\
import functools
import math

import mpmath
import numpy


def _total(value, n):
    return numpy.sum(numpy.broadcast_to(value, (n,)))


''' + ELEMENTWISE_OR_NAN + "\n"


def module_source(spec: KernelSpec) -> str:
    """dtype float32: columns, constants (printer.typed_literals) and values float32."""
    printer = ReferencePrinter(float_type="numpy.float32" if spec.dtype == "float32" else None)
    return module_text(spec, printer, HEADER, gradient_function, prediction_function,
                       second_order_functions)


def _prologue(program, columns, printer, indent="        ") -> list[str]:
    return [*(f"{indent}{p.name} = _theta[{k}]" for k, p in enumerate(program.params)),
            *(f"{indent}{c.name} = numpy.asarray(_c{k}, dtype={printer.array_type})"
              for k, c in enumerate(columns))]


def gradient_function(spec: KernelSpec, printer: ReferencePrinter) -> str:
    return sums_function("loss_and_gradient", spec.gradient, spec.gradient_inputs(), printer)


def sums_function(name: str, program, columns, printer: ReferencePrinter) -> str:
    """The sum over rows of each output of the program, then the data check: one chunk."""
    totals = [printer.doprint(e) for e in program.outputs] + \
        [printer.typed(data_check(columns))]
    lines = [
        f"def {name}(_theta, _n, _chunks{column_args(columns)}):",
        '    with numpy.errstate(all="ignore"):',
        *_prologue(program, columns, printer),
        *statement_lines(program, printer, "        "),
        "        return numpy.array([[",
        *(f"            _total({t}, _n)," for t in totals),
        "        ]])",
    ]
    return "\n".join(lines) + "\n"


def second_order_functions(spec: KernelSpec, printer: ReferencePrinter) -> str:
    """order=2: the Hessian sums, for least squares the Gauss-Newton sums, for a model with
    a prediction its Jacobian per row."""
    if spec.second is None:
        return ""
    text = "" if spec.second.hessian is None else \
        "\n\n" + sums_function("hessian_sums", spec.second.hessian, spec.hessian_inputs(),
                                   printer)
    if spec.second.residuals is not None:
        text += "\n\n" + gauss_newton_function(spec, printer)
        text += "\n\n" + residual_rows_function(spec, printer)
    if spec.second.prediction is not None:
        text += "\n\n" + jacobian_function(spec, printer)
    return text


def jacobian_function(spec: KernelSpec, printer: ReferencePrinter) -> str:
    """The prediction's Jacobian for every row: rows x outputs x parameters."""
    second = spec.second
    program, columns = second.prediction, spec.jacobian_inputs()
    lines = [
        f"def jacobian(_theta, _n{column_args(columns)}):",
        '    with numpy.errstate(all="ignore"):',
        *_prologue(program, columns, printer),
        *statement_lines(program, printer, "        "),
        f"        _out = numpy.zeros((_n, {second.output_count}, {len(spec.params)}))",
        *jacobian_stores(second, printer, "        ", row=":"),
        "        return _out",
    ]
    return "\n".join(lines) + "\n"


def residual_rows_function(spec: KernelSpec, printer: ReferencePrinter) -> str:
    """Every row's residuals and their Jacobian entries: rows x residuals x (1 + the
    Jacobian's non-zero columns)."""
    second = spec.second
    program, columns = second.residuals, spec.residual_inputs()
    lines = [
        f"def residual_rows(_theta, _n{column_args(columns)}):",
        '    with numpy.errstate(all="ignore"):',
        *_prologue(program, columns, printer),
        *statement_lines(program, printer, "        "),
        f"        _out = numpy.zeros((_n, {second.residual_count}, "
        f"{1 + len(second.jacobian_index)}))",
        *residual_stores(second, printer, "        ", row=":"),
        "        return _out",
    ]
    return "\n".join(lines) + "\n"


def gauss_newton_function(spec: KernelSpec, printer: ReferencePrinter) -> str:
    """RSS, J^T r and J^T J's upper triangle (row by row) from the whole Jacobian, rows x
    columns, by numpy's matrix product."""
    second = spec.second
    program, columns = second.residuals, spec.residual_inputs()
    count, index = second.residual_count, second.jacobian_index
    position = {k: a for a, k in enumerate(index)}
    lines = [
        f"def gauss_newton_sums(_theta, _n, _chunks{column_args(columns)}):",
        '    with numpy.errstate(all="ignore"):',
        *_prologue(program, columns, printer),
        *statement_lines(program, printer, "        "),
        f"        _r = numpy.zeros(({count}, _n))",
        f"        _jac = numpy.zeros(({count}, _n, {len(index)}))",
        *(f"        _r[{i}] = {printer.doprint(program.outputs[i])}" for i in range(count)),
        *(f"        _jac[{i}, :, {position[k]}] = {printer.doprint(program.outputs[count + e])}"
          for e, (i, k) in enumerate(second.jacobian)),
        "        _jtr = sum(_jac[i].T @ _r[i] for i in range(_r.shape[0]))",
        "        _jtj = sum(_jac[i].T @ _jac[i] for i in range(_r.shape[0]))",
        f"        _check = _total({data_check(columns)}, _n)",
        f"        _upper = _jtj[numpy.triu_indices({len(index)})]",
        "        return numpy.concatenate(([numpy.sum(_r * _r)], _jtr, _upper,",
        "                                  [_check]))[None, :]",
    ]
    return "\n".join(lines) + "\n"


def prediction_function(spec: KernelSpec, printer: ReferencePrinter) -> str:
    program, columns = spec.prediction, spec.prediction_inputs()
    lines = [
        f"def predict(_theta, _n{column_args(columns)}):",
        '    with numpy.errstate(all="ignore"):',
        *_prologue(program, columns, printer),
        *statement_lines(program, printer, "        "),
        "        return numpy.column_stack([",
        *(f"            numpy.broadcast_to({printer.doprint(e)}, (_n,))," for e in program.outputs),
        f"        ]).astype({printer.array_type})",
    ]
    return "\n".join(lines) + "\n"
