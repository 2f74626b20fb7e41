"""Term families: many terms of one sum that differ only in their parameters and numbers.

A model such as ``sum_k w_k*sin(k*x)``, a mixture ``sum_k a_k*exp(-(x - m_k)**2/s_k)`` or
any sum its author wrote out term by term is, to the code generator, hundreds of lines of
straight-line code, and Numba's compile time grows faster than linearly with them (11 s at
200 terms). This stage, between the Model and ``derive``, finds such terms again.

Two terms are of one *family* when they are the same tree once each parameter is replaced by a
placeholder (the first met is p0, the next p1, ...; one parameter met twice is one
placeholder) and each number that is a coefficient or addend (an argument of an Add, a Mul or a
comparison) by a constant placeholder: ``w3*sin(4*x)`` and ``w7*sin(8*x)`` are both
``p0*sin(c0*x)``. Exponents, data columns and every other symbol stay as they are, so
``x**2`` and ``x**3`` are not one family, and neither are ``w0*x0`` and ``w1*x1`` (a vector's
inner product with data is a vector block's, symgrad.blocks). A family of at least
``MIN_TERMS`` terms in one sum becomes one row value, a ``Family`` symbol, in the model that
is derived: its adjoint is one scalar per row, and the kernel (a backend that ``loops``)
computes the family's value, and each term's partials times that adjoint, in a loop over the
terms whatever their number, from one template derived once. Parameters shared between terms,
or with the rest of the model, are summed into the same gradient entry.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import sympy as sp

from .model import Model, postorder

MIN_TERMS = 32  # fewer terms stay written out: they compile about as fast, and run as fast or faster


@dataclass(frozen=True)
class Family:
    symbol: sp.Symbol                           # the row value standing for the terms' sum
    template: sp.Expr                           # one term, in the placeholders below
    params: tuple[sp.Symbol, ...]               # the parameter placeholders p0, p1, ...
    constants: tuple[sp.Symbol, ...]            # the number placeholders c0, c1, ...
    members: tuple[tuple[sp.Symbol, ...], ...]  # each term's parameters, in placeholder order
    values: tuple[tuple[sp.Expr, ...], ...]     # each term's numbers, in placeholder order

    @property
    def size(self) -> int:
        return len(self.members)

    def terms(self) -> list[sp.Expr]:
        """The terms written out (the template at each member's values)."""
        return [self.template.xreplace({**dict(zip(self.params, ps)),
                                        **dict(zip(self.constants, cs))})
                for ps, cs in zip(self.members, self.values)]


@dataclass(frozen=True)
class Familied:
    """A model with its families' sums as Family symbols, which follow its parameters."""
    model: Model
    families: tuple[Family, ...]


def term_families(model: Model, scalars, min_terms: int | None = None) -> Familied:
    """The model (its loss stabilized, as ``derive`` would) with every family of at least
    ``min_terms`` terms replaced by a Family symbol. Only terms whose symbols are all among
    ``scalars`` (scalar parameters) or the model's inputs can join a family."""
    from .rewrite import stabilize

    finder = _FamilyFinder(tuple(scalars), set(model.inputs), min_terms or MIN_TERMS)
    loss = finder(stabilize(model.loss))
    prediction = finder(model.prediction)
    if not finder.families:
        return Familied(model, ())
    families = tuple(finder.families.values())
    return Familied(Model(loss=loss, params=(*model.params, *(f.symbol for f in families)),
                          inputs=model.inputs, prediction=prediction, target=model.target),
                    families)


class _FamilyFinder:
    """Replaces, in every sum, each family of at least min_terms terms by its symbol (one
    symbol per family however many sums hold it: the loss's and the prediction's)."""

    def __init__(self, scalars, inputs, min_terms):
        self.position = {p: k for k, p in enumerate(scalars)}  # members sort by it
        self.scalars, self.allowed = set(scalars), set(scalars) | inputs
        self.min_terms = min_terms
        self.families: dict[tuple, Family] = {}
        self.placeholders: dict[str, list[sp.Dummy]] = {"p": [], "c": []}

    def __call__(self, value):
        if value is None:
            return None
        if isinstance(value, tuple):
            return tuple(self(v) for v in value)
        return value.replace(lambda e: e.is_Add and len(e.args) >= self.min_terms,
                             self.rewrite_sum)

    def rewrite_sum(self, total):
        groups: dict[sp.Basic, list] = defaultdict(list)
        rest = []
        for term in total.args:
            shape = self.shape(term)
            if shape is None:
                rest.append(term)
            else:
                groups[shape[0]].append((term, shape))
        if not any(len(g) >= self.min_terms for g in groups.values()):
            return total  # nothing to replace: the sum as it was, not rebuilt
        for template, group in groups.items():
            if len(group) >= self.min_terms:
                rest.append(self.family(template, [shape for _, shape in group]).symbol)
            else:
                rest += [term for term, _ in group]
        return sp.Add(*rest)

    def shape(self, term):
        """(template, parameters, numbers) of a term that can join a family, else None."""
        symbols = term.free_symbols
        if not symbols & self.scalars or not symbols <= self.allowed:
            return None
        params: dict[sp.Symbol, sp.Symbol] = {}
        numbers: list[sp.Expr] = []
        built: dict[sp.Basic, sp.Basic] = {}
        for node in postorder(term):
            if node in self.scalars:
                params.setdefault(node, self.placeholder("p", len(params)))
                built[node] = params[node]
            elif node.is_Atom or not node.args:
                built[node] = node
            else:
                numbered = node.is_Add or node.is_Mul or node.is_Relational
                args = []
                for arg in node.args:
                    if numbered and _a_float(arg):
                        args.append(self.placeholder("c", len(numbers)))
                        numbers.append(arg)
                    else:
                        args.append(built[arg])
                built[node] = node.func(*args)
        return built[term], tuple(params), tuple(numbers)

    def placeholder(self, kind: str, k: int) -> sp.Dummy:
        """The k-th placeholder of a kind: the same Dummy in every term, so equal shapes are
        equal templates."""
        made = self.placeholders[kind]
        while len(made) <= k:
            made.append(sp.Dummy(f"{kind}{len(made)}"))
        return made[k]

    def family(self, template, shapes) -> Family:
        shapes = sorted(shapes, key=lambda s: (tuple(self.position[p] for p in s[1]),
                                               tuple(float(v) for v in s[2])))
        members = tuple(params for _, params, _ in shapes)
        values = tuple(numbers for _, _, numbers in shapes)
        key = (template, members, values)
        if key not in self.families:
            constants = [self.placeholder("c", k) for k in range(len(values[0]))]
            same = {c: values[0][k] for k, c in enumerate(constants)
                    if all(v[k] == values[0][k] for v in values)}  # -1 in every term: -1
            varying = [k for k, c in enumerate(constants) if c not in same]
            params = tuple(self.placeholder("p", k) for k in range(len(members[0])))
            self.families[key] = Family(
                sp.Dummy(f"family{len(self.families)}"), template.xreplace(same), params,
                tuple(constants[k] for k in varying), members,
                tuple(tuple(v[k] for k in varying) for v in values))
        return self.families[key]


def _a_float(value) -> bool:
    """A number a float64 holds (10**400 is not: it stays in the template, as written)."""
    if not value.is_Number:
        return False
    try:
        return math.isfinite(float(value))
    except (OverflowError, TypeError):
        return False
