"""A Program as one plain Python function, for people to read, paste and run.

This is the ``--format python`` view of ``symgrad derive``: helpers first, then
``loss_and_gradient(params..., inputs...)`` with one line per temporary, returning the loss and
a dict of partials keyed by the parameters' names. It computes as the kernels do: numpy's
IEEE arithmetic (the reference backend's dialect), so a value that overflows or leaves its
domain is inf or nan, never an exception. That matters beyond the edges: the shared
temporaries are computed before any ``where`` chooses among them, so in
``where(x > 0, sqrt(x), 0)`` sqrt(x) is taken at x < 0 too (Python's math would raise).
Given numpy arrays, it computes every row at once. The function keeps the user's names as its
arguments except where one would shadow a name the code uses (``numpy``, a helper, the locals
``loss`` and ``gradient``): that argument is renamed (``_v0``, by position), its docstring
says so, and the dict keys stay the user's names.
"""
from __future__ import annotations

from sympy.printing.pycode import PythonCodePrinter

from ..program import Program
from .numpy_backend import ELEMENTWISE_OR_NAN, ReferencePrinter, boolean_valued
from .printer import source_with_safe_names


class RowPrinter(ReferencePrinter):
    """The reference dialect, read as a formula: comparisons written x > 0, a choice as
    nested numpy.where."""

    def _print_Relational(self, expr):
        return PythonCodePrinter._print_Relational(self, expr)[1:-1]  # '(x > 0)', unwrapped

    def _print_Piecewise(self, expr):
        *chosen, last = expr.args
        if last.cond == True:  # noqa: E712  (SymPy's true, not Python's)
            otherwise = self._print(last.expr)
        else:
            chosen, otherwise = expr.args, "False" if boolean_valued(expr) else "numpy.nan"
        for pair in reversed(chosen):
            otherwise = f"numpy.where({self._print(pair.cond)}, {self._print(pair.expr)}, " \
                        f"{otherwise})"
        return otherwise


def python_source(program: Program, name: str = "loss_and_gradient") -> str:
    def generate(renames) -> str:
        return _function_source(program, renames, name)
    return source_with_safe_names((*program.params, *program.inputs), generate,
                                  local_names=frozenset({"loss", "gradient"}))


def _function_source(program: Program, renames: dict, name: str) -> str:
    printer = RowPrinter()
    show = lambda e: printer.doprint(e.xreplace(renames)) if renames else printer.doprint(e)  # noqa: E731
    names = [renames.get(s, s).name for s in (*program.params, *program.inputs)]
    arguments = ", ".join(names)
    one = "," * (len(names) == 1)  # (w,)
    body = [f"        {t.name} = {show(e)}" for t, e in program.temps]
    partials = [f"            {p.name!r}: {show(e)}," for p, e in zip(program.params,
                                                                     program.partials)]
    lines = [f"def {name}({arguments}):", *_docstring(renames),
             f"    {arguments}{one} = map(numpy.float64, ({arguments}{one}))",
             '    with numpy.errstate(all="ignore"):', *body,
             f"        loss = {show(program.loss)}", "        gradient = {", *partials,
             "        }",
             "    return numpy.float64(loss), {key: numpy.float64(value) "
             "for key, value in gradient.items()}", ""]
    code = printer.helper_block() + "\n".join(lines)
    return _header(code) + code


def _docstring(renames: dict) -> list[str]:
    text = "The loss and its gradient at one row (or at every row, given numpy arrays)."
    if not renames:
        return [f'    """{text}"""']
    said = "; ".join(f"{new.name} is {old.name!r}" for old, new in renames.items())
    return [f'    """{text}', f"    Arguments renamed: {said}.", '    """']


def _header(code: str) -> str:
    """The imports the code uses, and elementwise_or_nan where it is called."""
    support = ELEMENTWISE_OR_NAN + "\n\n" if "elementwise_or_nan(" in code else ""
    used = support + code
    standard = [m for m in ("functools", "math") if f"{m}." in used]
    others = [m for m in ("mpmath",) if f"{m}." in used] + ["numpy"]
    return "".join(f"import {m}\n" for m in standard) + "\n" * bool(standard) + \
        "".join(f"import {m}\n" for m in others) + "\n\n" + support
