"""The condition grammar of the expression language: ``where(condition, a, b)``.

A condition exists only as where's first argument, so a stray ``x < y`` elsewhere is still
refused. It is comparisons of expressions (``<  <=  >  >=  ==  !=``, chained as in Python:
``0 < x < 1``), combined with ``and``, ``or`` and ``not`` with Python's precedence, and
parenthesized as needed. ``where(c, a, b)`` is SymPy's ``Piecewise((a, c), (b, True))``.

The methods here are a mixin of the parser (``symgrad.parse._Parser``): they read its tokens
and call its ``sum`` for the expressions being compared.
"""
from __future__ import annotations

import sympy as sp

from .errors import ParseError

COMPARISONS = {"<": sp.Lt, "<=": sp.Le, ">": sp.Gt, ">=": sp.Ge, "==": sp.Eq, "!=": sp.Ne}


class ConditionGrammar:
    """or > and > not > comparison, each level a loop (no recursion on the length)."""

    def where(self, name) -> sp.Expr:
        """where(condition, a, b): a where the condition holds, else b."""
        self.advance()  # (
        with self.nested(name.start):
            condition = self.condition()
            self.expect(",", name.start)
            value = self.sum()
            if self.token.text == ")":
                self.fail(name.start, "where takes 3 arguments (condition, a, b)",
                          self.group_text(name.start))
            self.expect(",", name.start)
            otherwise = self.sum()
        self.expect(")", name.start)
        return sp.Piecewise((value, condition), (otherwise, True))

    def condition(self):
        parts = [self.conjunction()]
        while self.token.text == "or":
            self.advance()
            parts.append(self.conjunction())
        return sp.Or(*parts) if len(parts) > 1 else parts[0]

    def conjunction(self):
        parts = [self.negation()]
        while self.token.text == "and":
            self.advance()
            parts.append(self.negation())
        return sp.And(*parts) if len(parts) > 1 else parts[0]

    def negation(self):
        negated = False
        while self.token.text == "not":
            self.advance()
            negated = not negated
        value = self.comparison()
        return sp.Not(value) if negated else value

    def comparison(self):
        if self.token.text == "(":
            grouped = self.grouped_condition()
            if grouped is not None:
                return grouped
        start = self.token.start
        operands, operators = [self.operand()], []
        while self.token.text in COMPARISONS:
            operators.append(self.advance().text)
            operands.append(self.operand())
        if not operators:
            self.fail(start, "where's condition must compare (<, <=, >, >=, ==, !=)",
                      self.group_text(start))
        return sp.And(*(COMPARISONS[op](left, right) for op, left, right
                        in zip(operators, operands, operands[1:])))

    def operand(self) -> sp.Expr:
        """An expression compared: a sum that may stop at a comparison operator."""
        self.comparing = True
        return self.sum()

    def grouped_condition(self):
        """A parenthesized condition, or None (and no token used) if the parentheses hold
        an expression to compare, as in ``(x + 1) > 0``."""
        at, start = self.at, self.token.start
        self.advance()
        try:
            with self.nested(start):
                value = self.condition()
            if self.token.text == ")":
                self.advance()
                if self.token.text not in COMPARISONS:
                    return value
        except ParseError:
            pass
        self.at = at
        return None
