"""A Program as one plain Python function, for people to read, paste and run.

This is the ``--format python`` view of ``symgrad derive``: helpers first, then
``loss_and_gradient(params..., inputs...)`` with one line per temporary and a dict of partials.
"""
from __future__ import annotations

from ..program import Program
from .printer import ScalarPrinter


def python_source(program: Program, name: str = "loss_and_gradient") -> str:
    printer = ScalarPrinter()
    arguments = ", ".join(s.name for s in (*program.params, *program.inputs))
    body = [f"    {t.name} = {printer.doprint(e)}" for t, e in program.temps]
    body.append(f"    loss = {printer.doprint(program.loss)}")
    partials = [f"        {p.name!r}: {printer.doprint(e)}," for p, e in
                zip(program.params, program.partials)]
    lines = [f"def {name}({arguments}):", *body, "    gradient = {", *partials, "    }",
             "    return loss, gradient", ""]
    return "import math\n\n\n" + printer.helper_block() + "\n".join(lines)
