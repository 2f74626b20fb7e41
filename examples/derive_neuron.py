"""The seed's sigmoid neuron (lecture 001): its gradient as formulas and as runnable code.

    python examples/derive_neuron.py
"""
import sympy as sp

import symgrad
from symgrad.codegen.python_source import python_source

x0, x1, w0, w1, b, y = sp.symbols("x0 x1 w0 w1 b y")
loss = (symgrad.sigmoid(x0 * w0 + x1 * w1 + b) - y) ** 2

gradient = symgrad.derive(loss, params=[w0, w1, b], inputs=[x0, x1, y])
for param, form in symgrad.closed_forms(gradient).items():
    print(f"d/{param} = {form}")

program = symgrad.lower(gradient)
print(f"\n{len(program.temps)} temporaries, {program.operation_count()} operations:\n")
print(python_source(program))
