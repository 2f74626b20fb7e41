"""Term families: many terms of one sum that differ only in their parameters and numbers.

A model such as ``sum_k w_k*sin(k*x)``, a mixture ``sum_k a_k*exp(-(x - m_k)**2/s_k)`` or
any sum its author wrote out term by term is, to the code generator, hundreds of lines of
straight-line code, and Numba's compile time grows faster than linearly with them (11 s at
200 terms). This stage, between the Model and ``derive``, finds such terms again.

Two terms are of one *family* when they are the same tree once each parameter is replaced by
a placeholder (the first met is p0, the next p1, ...; one parameter met twice is one
placeholder), each data column likewise by a column placeholder (x0, x1, ...), and each
number that is a coefficient or addend (an argument of an Add, a Mul or a comparison) by a
constant placeholder: ``w3*sin(4*x)`` and ``w7*sin(8*x)`` are both ``p0*sin(c0*x)`` (x, the
same column in every term, is put back), and ``w0*x0 + w1*x1 + ...``, a linear model written
out feature by feature, is the family ``p0*x0`` whose column differs term by term (the
kernel reads the family's columns as a data matrix, as a vector block's). An integer
exponent of a data column, or of an expression of data columns alone, is an exponent
placeholder (e0, ...): ``a_k*x**k`` for k = 2..199, a polynomial written out, is the family
``p0*x**e0``, whose powers the kernel builds by multiplying the previous term's by x (no pow
call per term); ``a_k*(x - 1)**k`` and ``a_k*sin(x)**k`` likewise, their base computed once
per row. Every other symbol stays as it is. A family of at least ``MIN_TERMS`` terms in one
sum becomes one row value, a ``Family`` symbol, in the model that is derived: its adjoint is
one scalar per row, and the kernel (a backend that ``loops``) computes the family's value,
and each term's partials times that adjoint, in a loop over the terms whatever their number,
from one template derived once. Parameters shared between terms, or with the rest of the
model, are summed into the same gradient entry.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import sympy as sp

from .dag import postorder
from .model import Model

MAX_EXPONENT = 2 ** 63 - 1  # the kernel keeps a family's exponents in an int64 array
MIN_TERMS = 32  # fewer stay written out: they compile about as fast, and run as fast or faster


@dataclass(frozen=True)
class Family:
    symbol: sp.Symbol                           # the row value standing for the terms' sum
    template: sp.Expr                           # one term, in the placeholders below
    params: tuple[sp.Symbol, ...]               # the parameter placeholders p0, p1, ...
    constants: tuple[sp.Symbol, ...]            # the number placeholders c0, c1, ...
    members: tuple[tuple[sp.Symbol, ...], ...]  # each term's parameters, in placeholder order
    values: tuple[tuple[sp.Expr, ...], ...]     # each term's numbers, in placeholder order
    data: tuple[sp.Symbol, ...] = ()            # the column placeholders that vary by term
    columns: tuple[tuple[sp.Symbol, ...], ...] = ()  # each term's columns, placeholder order
    exponents: tuple[sp.Symbol, ...] = ()       # the exponent placeholders that vary by term
    powers: tuple[tuple[sp.Integer, ...], ...] = ()  # each term's exponents, placeholder order

    @property
    def size(self) -> int:
        return len(self.members)

    def terms(self) -> list[sp.Expr]:
        """The terms written out (the template at each member's values)."""
        columns, powers = self.columns or ((),) * self.size, self.powers or ((),) * self.size
        return [self.template.xreplace({**dict(zip(self.params, ps)),
                                        **dict(zip(self.constants, cs)),
                                        **dict(zip(self.data, xs)),
                                        **dict(zip(self.exponents, es))})
                for ps, cs, xs, es in zip(self.members, self.values, columns, powers)]


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

    finder = _FamilyFinder(tuple(scalars), model.inputs, min_terms or MIN_TERMS)
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
        # terms sort by their columns' positions (so a family's data matrix is, where the
        # data's columns are in the same order, a view), their exponents (each power is then
        # the previous one times x), then their parameters'
        self.position = {**{p: k for k, p in enumerate(scalars)},
                         **{c: j for j, c in enumerate(inputs)}}
        self.scalars, self.inputs = set(scalars), set(inputs)
        self.allowed = self.scalars | self.inputs
        self.min_terms = min_terms
        self.families: dict[tuple, Family] = {}
        self.placeholders: dict[str, list[sp.Dummy]] = {"p": [], "c": [], "x": [], "e": []}

    def __call__(self, value):
        if value is None:
            return None
        if isinstance(value, tuple):
            return tuple(self(v) for v in value)
        return value.replace(lambda e: e.is_Add and len(e.args) >= self.min_terms,
                             self.rewrite_sum)

    def rewrite_sum(self, total):
        """The sum with each family among its terms as its symbol. A term with a minus sign
        is shaped negated, and its family enters negated: the stable bce of sigmoid(z)
        reads both z and -z, and the two sums are then one family, computed once."""
        groups: dict[tuple, list] = defaultdict(list)
        rest = []
        for term in total.args:
            negated = term.could_extract_minus_sign()
            shape = self.shape(-term if negated else term)
            if shape is None:
                rest.append(term)
            else:
                groups[shape[0], negated].append((term, shape))
        if not any(len(g) >= self.min_terms for g in groups.values()):
            return total  # nothing to replace: the sum as it was, not rebuilt
        for (template, negated), group in groups.items():
            family = self.family(template, [shape for _, shape in group]) \
                if len(group) >= self.min_terms else None
            if family:
                rest.append(-family.symbol if negated else family.symbol)
            else:
                rest += [term for term, _ in group]
        return sp.Add(*rest)

    def shape(self, term):
        """(template, parameters, numbers, columns, exponents) of a term that can join a
        family, else None."""
        symbols = term.free_symbols
        if not symbols & self.scalars or not symbols <= self.allowed:
            return None
        params: dict[sp.Symbol, sp.Symbol] = {}
        columns: dict[sp.Symbol, sp.Symbol] = {}
        numbers: list[sp.Expr] = []
        exponents: list[sp.Integer] = []
        built: dict[sp.Basic, sp.Basic] = {}
        for node in postorder(term):
            if node in self.scalars:
                params.setdefault(node, self.placeholder("p", len(params)))
                built[node] = params[node]
            elif node in self.inputs:
                columns.setdefault(node, self.placeholder("x", len(columns)))
                built[node] = columns[node]
            elif node.is_Atom or not node.args:
                built[node] = node
            else:
                numbered = node.is_Add or node.is_Mul or node.is_Relational
                args = []
                for index, arg in enumerate(node.args):
                    if numbered and _a_float(arg):
                        args.append(self.placeholder("c", len(numbers)))
                        numbers.append(arg)
                    elif node.is_Pow and index == 1 and _a_power(node, self.inputs):
                        args.append(self.placeholder("e", len(exponents)))
                        exponents.append(arg)
                    else:
                        args.append(built[arg])
                built[node] = node.func(*args)
        return built[term], tuple(params), tuple(numbers), tuple(columns), tuple(exponents)

    def placeholder(self, kind: str, k: int) -> sp.Dummy:
        """The k-th placeholder of a kind: the same Dummy in every term, so equal shapes are
        equal templates."""
        made = self.placeholders[kind]
        while len(made) <= k:
            made.append(sp.Dummy(f"{kind}{len(made)}"))
        return made[k]

    def family(self, template, shapes) -> Family | None:
        """The family of these terms' shapes; None where an exponent varies on a column that
        varies too (no running power to build: the terms stay written out)."""
        shapes = sorted(shapes, key=lambda s: (tuple(self.position[c] for c in s[3]), s[4],
                                               tuple(self.position[p] for p in s[1]),
                                               tuple(float(v) for v in s[2])))
        members, values, columns, powers = (tuple(s[k] for s in shapes) for k in range(1, 5))
        key = (template, members, values, columns, powers)
        if key not in self.families:
            constants, same_numbers, numbers = _varying(self.placeholder, "c", values)
            data, same_columns, columns = _varying(self.placeholder, "x", columns)
            exponents, same_powers, powers = _varying(self.placeholder, "e", powers)
            template = template.xreplace({**same_numbers, **same_columns, **same_powers})
            if any(not _power_of_data(template, e, self.inputs) for e in exponents):
                return None
            params = tuple(self.placeholder("p", k) for k in range(len(members[0])))
            self.families[key] = Family(
                sp.Dummy(f"family{len(self.families)}"), template, params, constants,
                members, numbers, data, columns if data else (), exponents,
                powers if exponents else ())
        return self.families[key]


def _varying(placeholder, kind, rows):
    """(the placeholders whose value differs between terms, {each other placeholder: its one
    value}, each term's values of the varying ones): a number or column that is the same in
    every term (-1, the one x of sin(k*x)) goes back into the template."""
    marks = [placeholder(kind, k) for k in range(len(rows[0]))]
    same = {m: rows[0][k] for k, m in enumerate(marks) if all(r[k] == rows[0][k] for r in rows)}
    varying = [k for k, m in enumerate(marks) if m not in same]
    return (tuple(marks[k] for k in varying), same,
            tuple(tuple(r[k] for k in varying) for r in rows))


def _a_power(node, inputs) -> bool:
    """b**k, b a data column or an expression of data columns alone (x - 1, sin(x)), k an
    integer from 2 to MAX_EXPONENT (1/x and x**-2 keep their exponents)."""
    base, exponent = node.args
    return exponent.is_Integer and 2 <= exponent <= MAX_EXPONENT and \
        bool(base.free_symbols) and base.free_symbols <= inputs


def _power_of_data(template, exponent, inputs) -> bool:
    """Whether every power with this exponent placeholder in the template has a base of data
    columns alone, the same in every term (a placeholder left in it varies by term)."""
    return all(p.base.free_symbols <= inputs
               for p in template.atoms(sp.Pow) if p.exp == exponent)


def _a_float(value) -> bool:
    """A number a float64 holds (10**400 is not: it stays in the template, as written)."""
    if not value.is_Number:
        return False
    try:
        return math.isfinite(float(value))
    except (OverflowError, TypeError):
        return False
