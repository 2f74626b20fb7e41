"""max and min of many arguments, in time linear in their number.

SymPy's ``Max``/``Min`` compare every pair of arguments symbolically each time one is built
(``_find_localzeros``), and symgrad rebuilds expressions in several stages: 60 arguments took
20 s. Its derivative, ``Heaviside(a_i - Max(the others))``, nests maxima, and the kernels
that folded them grew exponentially with n (12 arguments 40 s, 31 never finished).

This module's ``Max`` and ``Min`` are SymPy's classes, under the same names (every printer
and assumption treats them as SymPy's), whose constructor only flattens, drops repeats and
folds numbers. Two arguments left are given to SymPy's own class, which simplifies them
cheaply. Their derivative with
respect to argument i is 1/k where argument i is one of the k arguments that attain the
extremum, 0 elsewhere: ties share, as SymPy's two-argument rule does (``Heaviside(a - b)``,
1/2 at a = b; kept for two arguments) and as PyTorch's ``amax``.
"""
from __future__ import annotations

import functools

import sympy as sp
from sympy.core.operations import ShortCircuit

from .functions import EqualToSympys, attains


class _Linear(EqualToSympys):
    """The linear-time constructor shared by Max and Min (mixed in before SymPy's)."""

    def __new__(cls, *args, evaluate=True):
        base = cls.base
        args = [sp.sympify(a) for a in args]
        if not evaluate:
            return cls._built(args)
        args = [b for a in args for b in (a.args if isinstance(a, base) else (a,))]  # flat
        try:
            args = set(base._new_args_filter(args))  # no zero (oo for Max) or identity
        except ShortCircuit:
            return base.zero
        numbers = [a for a in args if a.is_Number]
        if len(numbers) > 1:
            args = (args - set(numbers)) | {base(*numbers)}
        return base(*args) if len(args) <= 2 else cls._built(args)

    @classmethod
    def _built(cls, args):
        obj = sp.Expr.__new__(cls, *sp.ordered(args))
        obj._argset = frozenset(args)
        return obj



class Max(_Linear, sp.Max):
    """Max of three or more arguments, built in linear time."""

    base = sp.Max


class Min(_Linear, sp.Min):
    """Min of three or more arguments, built in linear time."""

    base = sp.Min


def derivative(node: sp.Expr, i: int) -> sp.Expr:
    """d node / d node.args[i] for a Max or Min: ties share (see the module's docstring)."""
    if len(node.args) == 2:
        return node.fdiff(i + 1)
    hits, count = _ties(node)
    return hits[i] / count


@functools.lru_cache(maxsize=256)
def _ties(node) -> tuple[tuple[sp.Expr, ...], sp.Expr]:
    """(1 where argument k attains node's value, else 0, for each k; their sum)."""
    hits = tuple(attains(a, node) for a in node.args)
    return hits, sp.Add(*hits)
