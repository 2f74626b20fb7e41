"""Vector blocks: a vector parameter's inner product with data, computed by loops.

A model says ``dot(w, features)`` (the expression language), ``Sum(W[i]*x[i], (i, 0, n-1))``
(SymPy's IndexedBase) or ``w.T*x`` (MatrixSymbol); the front end writes each entry out as a
scalar (``w[0]*x0 + w[1]*x1 + ...``), which is what ``derive`` prints and PARAMS.json records.
Compiled that way, every entry is a line of straight-line code and a running sum, and Numba's
compile time grows with the width (about 60 s at 200 features).

This stage, between the Model and ``derive``, finds those inner products again. A vector
parameter ``w`` is a *block* when every one of its entries ``w[0], ..., w[n-1]`` meets the
model only in terms ``c*w[j]*x_j`` of one sum, x_j a data column (any number of such sums,
each with its own columns and coefficient c). Each such sum becomes one row value, a ``Dot``
symbol: the model is derived with the dots in place of the sums, the partial of the loss
with respect to a dot (its adjoint) is one scalar per row, and the gradient of the block is
``sum over rows of adjoint * x``: a loop over j in the generated kernel (CPU), whatever n is.
Blocks are found only for backends that loop (``Backend.loops``); the others, the numpy
reference among them, compile the entries written out, which keeps them an independent check.
Anything else a vector's entries do (``w[0]**2``, a matrix parameter's entries) keeps them
scalars, as before.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import sympy as sp

from .model import ENTRY, Model

MIN_WIDTH = 4  # narrower vectors stay written out: a loop of 2 or 3 gains nothing


@dataclass(frozen=True)
class Dot:
    symbol: sp.Symbol                # the row value standing for the sum in the blocked model
    entries: tuple[sp.Symbol, ...]   # the vector parameter's entries, in index order
    columns: tuple[sp.Symbol, ...]   # the data inputs they multiply, in the same order


@dataclass(frozen=True)
class Blocked:
    """A model with its blocks' sums as Dot symbols: ``model.params`` are the scalar
    parameters left, then the dots' symbols (so ``derive`` gives each dot's adjoint)."""
    model: Model
    dots: tuple[Dot, ...]
    scalars: tuple[sp.Symbol, ...]   # the parameters still scalar, in the model's order


def vector_blocks(model: Model, min_width: int = MIN_WIDTH) -> Blocked:
    """The model with every vector block's inner products as Dot symbols (none: as it was)."""
    vectors = {base: entries for base, entries in _vectors(model.params).items()
               if len(entries) >= min_width}
    inputs = set(model.inputs)
    while True:
        dots: dict[tuple, Dot] = {}
        rewrite = _DotRewrite(vectors, inputs, dots)
        loss, prediction = rewrite(model.loss), rewrite(model.prediction)
        left = _bases_left(vectors, loss, prediction)
        if not left:
            break
        vectors = {base: entries for base, entries in vectors.items() if base not in left}
    if not dots:
        return Blocked(model, (), model.params)
    blocked = {e for dot in dots.values() for e in dot.entries}
    scalars = tuple(p for p in model.params if p not in blocked)
    symbols = tuple(dot.symbol for dot in dots.values())
    return Blocked(Model(loss=loss, params=(*scalars, *symbols), inputs=model.inputs,
                         prediction=prediction, target=model.target),
                   tuple(dots.values()), scalars)


def _vectors(params) -> dict[str, tuple[sp.Symbol, ...]]:
    """{base: its entries in index order} for the parameters named base[0], ..., base[n-1]
    (every index present once; matrices' entries, base[i, j], are not vectors)."""
    found: dict[str, dict[int, sp.Symbol]] = defaultdict(dict)
    for p in params:
        entry = ENTRY.match(p.name)
        if entry and "," not in entry.group(2):
            found[entry.group(1)][int(entry.group(2))] = p
    return {base: tuple(by_index[k] for k in range(len(by_index)))
            for base, by_index in found.items() if set(by_index) == set(range(len(by_index)))}


class _DotRewrite:
    """Replaces, in every sum, each complete inner product of a vector with data columns
    by coefficient * its Dot symbol (one symbol per vector and column order)."""

    def __init__(self, vectors, inputs, dots):
        self.inputs, self.dots = inputs, dots
        self.vectors = vectors
        self.position = {e: (base, k) for base, entries in vectors.items()
                         for k, e in enumerate(entries)}

    def __call__(self, value):
        if value is None:
            return None
        if isinstance(value, tuple):
            return tuple(self(v) for v in value)
        if not self.position:
            return value
        return value.replace(lambda e: e.is_Add, self.rewrite_sum)

    def rewrite_sum(self, total):
        groups: dict[tuple, dict[int, sp.Symbol]] = defaultdict(dict)
        rest = []
        for term in total.args:
            found = self.entry_term(term)
            if found is None or found[2] in groups[found[:2]]:
                rest.append(term)
            else:
                base, coefficient, k, column = found
                groups[(base, coefficient)][k] = column
        if not any(len(columns) == len(self.vectors[base])
                   for (base, _), columns in groups.items()):
            return total  # nothing to replace: the sum as it was, not rebuilt
        for (base, coefficient), columns in groups.items():
            entries = self.vectors[base]
            if len(columns) == len(entries):
                rest.append(coefficient * self.dot(base, entries, columns).symbol)
            else:
                rest += [coefficient * entries[k] * c for k, c in columns.items()]
        return sp.Add(*rest)

    def entry_term(self, term):
        """(base, coefficient, index, column) for a term coefficient*base[index]*column."""
        coefficient, factors = term.as_coeff_mul()
        if len(factors) != 2:
            return None
        for entry, column in (factors, factors[::-1]):
            if entry in self.position and column in self.inputs:
                base, k = self.position[entry]
                return base, coefficient, k, column
        return None

    def dot(self, base, entries, columns: dict) -> Dot:
        ordered = tuple(columns[k] for k in range(len(entries)))
        key = (base, ordered)
        if key not in self.dots:
            self.dots[key] = Dot(sp.Dummy(f"dot{len(self.dots)}"), entries, ordered)
        return self.dots[key]


def _bases_left(vectors, *values) -> set[str]:
    """The bases some entry of which is still in values (used other than in a dot)."""
    free = set().union(*(_free(v) for v in values))
    return {base for base, entries in vectors.items() if free.intersection(entries)}


def _free(value) -> set:
    if value is None:
        return set()
    if isinstance(value, tuple):
        return set().union(*(v.free_symbols for v in value))
    return value.free_symbols
