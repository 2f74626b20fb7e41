"""Model: the frozen value the pipeline starts from.

A Model is a per-row loss together with the names that give it meaning: which symbols are the
parameters to learn and which are data columns (inputs, the target among them). It can also
carry the prediction it was built from, so a trained model can predict. Models are immutable;
``with_params`` and friends return new values. Construction validates the names once, so every
later stage can trust them: every symbol of the loss is a parameter or an input, never both.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

import sympy as sp

from .errors import SymgradError
from .parse import parse_expr

Names = Iterable["str | sp.Symbol"]


@dataclass(frozen=True)
class Model:
    loss: sp.Expr
    params: tuple[sp.Symbol, ...]
    inputs: tuple[sp.Symbol, ...] = ()
    prediction: sp.Expr | tuple[sp.Expr, ...] | None = None  # a tuple: several outputs
    target: sp.Symbol | None = None

    def __post_init__(self):
        both = set(self.params) & set(self.inputs)
        if both:
            raise SymgradError(f"{_names(both)} listed both as parameter and as input")
        unknown = self.loss.free_symbols - set(self.params) - set(self.inputs)
        if unknown:
            raise SymgradError(f"unknown names in the loss: {_names(unknown)} "
                               "(neither a parameter nor an input)")
        for kind, names in (("parameter", self.params), ("input", self.inputs)):
            repeated = {s for s in names if names.count(s) > 1}
            if repeated:
                raise SymgradError(f"{kind} {_names(repeated)} listed twice")

    @classmethod
    def of(cls, loss, params: Names | None = None, inputs: Names = ()) -> "Model":
        """A model from a loss (expression or string); params default to every non-input symbol."""
        loss = parse_expr(loss) if isinstance(loss, str) else sp.sympify(loss)
        inputs = symbols_named(inputs, loss)
        if params is None:
            params = sorted(loss.free_symbols - set(inputs), key=lambda s: s.name)
        return cls(loss=loss, params=symbols_named(params, loss), inputs=inputs)

    @classmethod
    def supervised(cls, prediction, target, loss="mse", params: Names | None = None,
                   inputs: Names | None = None) -> "Model":
        """A model from a prediction, a target name and a loss: a name in losses.LOSSES or a
        function of (prediction, target). Inputs default to the target alone."""
        from .losses import LOSSES

        prediction = parse_expr(prediction) if isinstance(prediction, str) else prediction
        target = symbols_named([target], prediction)[0]
        if isinstance(loss, str):
            if loss not in LOSSES:
                raise SymgradError(f"unknown loss {loss!r} (choose from {', '.join(LOSSES)})")
            loss = LOSSES[loss]
        per_row = loss(prediction, target)
        if inputs is None:
            inputs = [target]
        inputs = symbols_named(inputs, per_row)
        if target not in inputs:
            inputs = (*inputs, target)
        if params is None:
            params = sorted(per_row.free_symbols - set(inputs), key=lambda s: s.name)
        return cls(loss=per_row, params=symbols_named(params, per_row), inputs=inputs,
                   prediction=prediction, target=target)

    def with_params(self, params: Names) -> "Model":
        return replace(self, params=symbols_named(params, self.loss))


def symbols_named(names: Names, expr: sp.Expr) -> tuple[sp.Symbol, ...]:
    """Symbols for names, reusing the expression's own Symbol objects where the names match."""
    own = {s.name: s for s in expr.free_symbols}
    return tuple(n if isinstance(n, sp.Symbol) else own.get(str(n), sp.Symbol(str(n)))
                 for n in names)


def _names(symbols) -> str:
    return ", ".join(sorted(repr(str(s)) for s in symbols))
