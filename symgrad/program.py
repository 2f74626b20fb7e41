"""Gradient -> Program: common subexpressions named once, as straight-line code.

A Program is what every backend consumes: the arguments (parameters, then data inputs), a
sequence of temporaries ``name = expr`` in dependency order, and its outputs: for a gradient
program the loss then one partial per parameter, for a prediction program the prediction.
Lowering is value numbering over one DAG that joins the loss, the partials and the adjoint
definitions: a subexpression used twice or more becomes a temporary, one used once is
inlined into its user. Adjoint symbols are nodes of that DAG too (their child is their
definition), so an adjoint used once disappears into its single use. This is SymPy's tree CSE
without its quadratic search for partial products, linear in the size of the gradient.
Sums and products longer than ``MAX_ARGS`` terms are split into partial sums, so every printed
line stays shallow, however long the model.
"""
from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass

import sympy as sp

from .reverse import Gradient, require_gradient

MAX_ARGS = 64  # terms of one printed sum or product; longer ones are split into temporaries


@dataclass(frozen=True)
class Program:
    params: tuple[sp.Symbol, ...]
    inputs: tuple[sp.Symbol, ...]
    temps: tuple[tuple[sp.Symbol, sp.Expr], ...]
    outputs: tuple[sp.Expr, ...]

    @property
    def loss(self) -> sp.Expr:
        return self.outputs[0]

    @property
    def partials(self) -> tuple[sp.Expr, ...]:
        return self.outputs[1:]

    def free_symbols(self) -> set:
        """The symbols the program reads (parameters, inputs and any other row values)."""
        return set().union(*(e.free_symbols for _, e in self.temps),
                           *(e.free_symbols for e in self.outputs))

    def operation_count(self) -> int:
        """Arithmetic and function operations, temporaries included (SymPy's count_ops)."""
        exprs = [e for _, e in self.temps] + list(self.outputs)
        return sum(sp.count_ops(e) for e in exprs)


def lower(gradient: Gradient) -> Program:
    """The program computing the loss and its partials, each shared subexpression once."""
    require_gradient(gradient, "lower")
    return lower_values(gradient.model, (gradient.loss, *gradient.partials),
                        dict(gradient.adjoints))


def lower_loss(gradient: Gradient) -> Program:
    """The program for the loss alone: the baseline a gradient's cost is measured against."""
    return lower_values(gradient.model, (gradient.loss,))


def lower_values(model, roots, definitions=None) -> Program:
    """The program computing ``roots`` (expressions of the model's symbols) for one row."""
    definitions = definitions or {}
    uses = _count_uses(roots, definitions)
    names = _temp_names({s.name for s in (*model.params, *model.inputs)})
    builder = _ProgramBuilder(definitions, uses, names)
    outputs = tuple(builder.build(r) for r in roots)
    return Program(params=model.params, inputs=model.inputs, temps=tuple(builder.temps),
                   outputs=outputs)


def _children(node, definitions):
    if node in definitions:
        return (definitions[node],)
    return () if node.is_Atom else node.args


def _count_uses(roots, definitions) -> Counter:
    """How many parents each node has in the joined DAG (roots count as one use)."""
    uses, seen, stack = Counter(roots), set(), list(roots)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        for child in _children(node, definitions):
            uses[child] += 1
            stack.append(child)
    return uses


def _temp_names(taken: set[str]):
    prefix = "t"
    while any(n.startswith(prefix) and n[len(prefix):].isdigit() for n in taken):
        prefix += "t"  # no underscores: Numba's parfor lowering merges t_0.1 and t__0-like names
    return (sp.Symbol(f"{prefix}{k}") for k in itertools.count())


class _ProgramBuilder:
    """Rebuilds expressions bottom-up, naming each node used more than once."""

    def __init__(self, definitions, uses, names):
        self.definitions, self.uses, self.names = definitions, uses, names
        self.temps: list[tuple[sp.Symbol, sp.Expr]] = []
        self.built: dict[sp.Basic, sp.Basic] = {}

    def build(self, node):
        if node in self.built:
            return self.built[node]
        if node in self.definitions:
            value = self.build(self.definitions[node])
        elif node.is_Atom:
            return node
        else:
            value = node.func(*(self.build(a) for a in node.args))
        value = self.bounded(value)
        if self.uses[node] > 1 and isinstance(value, sp.Expr) and not value.is_Atom:  # not
            # a Tuple (hyper's, meijerg's argument lists) nor a Piecewise's ExprCondPair
            symbol = next(self.names)
            self.temps.append((symbol, value))
            value = symbol
        self.built[node] = value
        return value

    def bounded(self, value):
        """A sum or product of more than MAX_ARGS terms as partial sums (products) named by
        temporaries: printed code then never nests deeper than MAX_ARGS operators, which
        Python's compiler and Numba need, however long the user's sum."""
        while (value.is_Add or value.is_Mul) and len(value.args) > MAX_ARGS:
            parts = []
            for start in range(0, len(value.args), MAX_ARGS):
                symbol = next(self.names)
                self.temps.append((symbol, value.func(*value.args[start:start + MAX_ARGS])))
                parts.append(symbol)
            value = value.func(*parts)
        return value
