"""A Program as one plain Python function, for people to read, paste and run.

This is the ``--format python`` view of ``symgrad derive``: helpers first, then
``loss_and_gradient(params..., inputs...)`` with one line per temporary, returning the loss and
a dict of partials keyed by the parameters' names. The function keeps the user's names as its
arguments except where one would shadow a name the code uses (``math``, a helper, the locals
``loss`` and ``gradient``): that argument is renamed (``_v0``, by position) and the dict keys
stay the user's names.
"""
from __future__ import annotations

from ..program import Program
from .printer import ScalarPrinter, source_with_safe_names


def python_source(program: Program, name: str = "loss_and_gradient") -> str:
    def generate(renames) -> str:
        return _function_source(program, renames, name)
    return source_with_safe_names((*program.params, *program.inputs), generate,
                                  local_names=frozenset({"loss", "gradient"}))


def _function_source(program: Program, renames: dict, name: str) -> str:
    printer = ScalarPrinter()
    show = lambda e: printer.doprint(e.xreplace(renames)) if renames else printer.doprint(e)  # noqa: E731
    arguments = ", ".join(renames.get(s, s).name for s in (*program.params, *program.inputs))
    body = [f"    {t.name} = {show(e)}" for t, e in program.temps]
    partials = [f"        {p.name!r}: {show(e)}," for p, e in zip(program.params, program.partials)]
    lines = [f"def {name}({arguments}):", *body, f"    loss = {show(program.loss)}",
             "    gradient = {", *partials, "    }", "    return loss, gradient", ""]
    return "import math\n\n\n" + printer.helper_block() + "\n".join(lines)
