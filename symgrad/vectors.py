"""The vector grammar of the expression language: ``dot(w, features)``.

``features`` stands for the vector of feature columns (in ``symgrad train``: every column but
the target, in file order, or ``--features``); ``dot(a, b)`` is the inner product of two
vectors, each ``features`` or a name. A name used in ``dot`` is a vector parameter as long as
the features, whose entries are the parameters ``w[0], w[1], ...`` (in PARAMS.json, ``derive``
and the printed parameters). So ``sigmoid(dot(w, features) + b)`` is logistic regression on
every column. A vector is only ever used inside ``dot``; a column actually named ``features``
is written in backquotes. The parser writes the inner product out term by term (what
``derive`` prints); the numba backend finds it again and loops over it (symgrad.blocks).

The methods here are a mixin of the parser (``symgrad.parse._Parser``).
"""
from __future__ import annotations

import sympy as sp

from .lexer import tokenize

FEATURES = "features"


def names_features(text: str) -> bool:
    """Whether the model text uses the vector ``features`` (not a backquoted column)."""
    return any(t.kind == "name" and t.text == FEATURES for t in tokenize(text))


class VectorGrammar:
    """dot(a, b) over ``self.features`` (column names, or None where no data is known)."""

    def dot(self, name) -> sp.Expr:
        self.advance()  # (
        first = self.vector(name)
        self.expect(",", name.start)
        second = self.vector(name)
        self.expect(")", name.start)
        return sp.Add(*(u * v for u, v in zip(first, second)))

    def vector(self, call) -> list[sp.Symbol]:
        token = self.token
        if token.kind != "name" or self.tokens[self.at + 1].text not in (",", ")"):
            self.fail(token.start, "dot takes two vectors: features or a name (dot(w, "
                                   "features))", self.group_text(token.start))
        if self.features is None:
            self.fail(call.start, "dot(..., features) needs the data's feature columns "
                                  "(symgrad train or predict, derive --features a,b,...; in "
                                  "Python, Model.supervised with inputs)", self.group_text(call.start))
        if not self.features:
            self.fail(call.start, "dot(..., features) with no feature column",
                      self.group_text(call.start))
        self.advance()
        if token.text == FEATURES:
            return [sp.Symbol(c) for c in self.features]
        self.check_plain_name(token)
        self.vectors.add(token.text)
        return [sp.Symbol(f"{token.text}[{j}]") for j in range(len(self.features))]

    def refuse_vectors_used_as_numbers(self, value: sp.Expr) -> None:
        scalars = {s.name for s in value.free_symbols} & self.vectors
        if scalars:
            name = sorted(scalars)[0]
            self.fail(0, f"{name!r} is a vector (in dot) and also used as a number; name "
                         f"them apart", self.text.strip())
