"""sinh, cosh and tanh whose assumptions are answered in constant time.

SymPy decides whether cosh(z) is positive, or tanh(z) real or finite, from z's real and
imaginary parts: it asks whether im(z) is a multiple of pi, and for a sum of many terms over
symbols not declared real that is a ``Mod`` of polynomials, found with gcds. It asks while
building: ``log(cosh(S - y))`` (``log`` asks whether its argument is positive) took 1.1 s to
parse for a 38-term S, 10.6 s for 60 terms and over two minutes for 200, and the derivative
of ``(tanh(S) - y)**3`` (``Pow`` of a two-term sum asks whether a term is infinite) 5.5 s at
38 terms.

symgrad computes in real numbers, so those questions have easy answers: sinh, cosh and tanh
of a real argument are real (and finite where the argument is), cosh of a real argument is
positive. This module's classes are SymPy's under the same names, so printers and rewrites
treat them as SymPy's, and they answer from the argument's own assumptions only: True where
those settle it, else None ("unknown"), which SymPy always accepts. Their derivatives are
built from this module's classes, and each equals SymPy's function of the same argument.
"""
from __future__ import annotations

import sympy as sp
from sympy.core.function import ArgumentIndexError

from .functions import EqualToSympys


class _Cheap(EqualToSympys):
    """The answers shared by sinh, cosh and tanh (mixed in before SymPy's class)."""

    def _eval_is_real(self):
        return True if self.args[0].is_real else None

    def _eval_subs(self, old, new):
        """SymPy's function of the same argument as ``old`` is this one: replaced (SymPy's
        own test for it compares classes)."""
        if type(old) is self.base and old.args == self.args:
            return new
        return super()._eval_subs(old, new)

    def _argument(self, argindex: int) -> sp.Expr:
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return self.args[0]


class sinh(_Cheap, sp.sinh):
    base = sp.sinh

    def fdiff(self, argindex=1):
        return cosh(self._argument(argindex))


class cosh(_Cheap, sp.cosh):
    base = sp.cosh

    def fdiff(self, argindex=1):
        return sinh(self._argument(argindex))

    def _eval_is_positive(self):
        return True if self.args[0].is_extended_real else None

    def _eval_is_nonnegative(self):
        return True if self.args[0].is_extended_real else None


class tanh(_Cheap, sp.tanh):
    base = sp.tanh

    def fdiff(self, argindex=1):
        return sp.S.One - tanh(self._argument(argindex)) ** 2

    def _eval_is_finite(self):
        return True if self.args[0].is_extended_real else None


CLASSES = {sp.sinh: sinh, sp.cosh: cosh, sp.tanh: tanh}
