"""Reverse accumulation over the expression DAG: Model -> Gradient.

The loss is a DAG of unique SymPy subexpressions (equal subtrees are one node). Walking it once
from the loss back to the leaves, each node's adjoint is the sum of its parents' adjoints times
the local derivative of parent with respect to child. Local derivatives come from a small rule
table (Add, Mul, Pow) and otherwise from SymPy's own ``fdiff``, which symgrad's functions define
in terms of the node itself (sigmoid' = sigmoid*(1 - sigmoid)), so forward values are reused.

Every non-trivial adjoint is named by a fresh symbol whose definition refers to its parents'
adjoint symbols, never to their expanded expressions: the result grows with the size of the
loss, not with (loss size x number of parameters). Only nodes that depend on a parameter get an
adjoint. The Gradient keeps these definitions; ``program.lower`` turns them into straight-line
code and ``views.closed_forms`` expands them back for people.
"""
from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass

import sympy as sp
from sympy.core.function import ArgumentIndexError

from .errors import DerivationError, SymgradError
from . import extrema
from .functions import strong_product
from .dag import postorder
from .model import Model
from .rewrite import stabilize


def require_gradient(value, what: str) -> None:
    """SymgradError unless value is a Gradient (what a view or lower was called with)."""
    if not isinstance(value, Gradient):
        raise SymgradError(f"{what} takes the Gradient that symgrad.derive(loss, params, "
                           f"inputs) returns, not {type(value).__name__}")


@dataclass(frozen=True)
class Gradient:
    model: Model
    loss: sp.Expr                                    # the loss after stability rewrites
    adjoints: tuple[tuple[sp.Symbol, sp.Expr], ...]  # adjoint symbol = definition, parents first
    partials: tuple[sp.Expr, ...]                    # d loss / d param, in model.params order


def _d_add(node, i):
    return sp.S.One


def _d_mul(node, i):
    return sp.Mul(*(a for j, a in enumerate(node.args) if j != i))


def _d_pow(node, i):
    base, exponent = node.args
    return exponent * base ** (exponent - 1) if i == 0 else node * sp.log(zero_as_one(base))


def zero_as_one(base: sp.Expr) -> sp.Expr:
    """The base of x**a inside d(x**a)/da = x**a * log(x), read as 1 where it is 0: the
    derivative there is 0 (its limit for a > 0; JAX and PyTorch use the same convention), not
    0 * log(0) = nan. A base known to be non-zero (a positive number, exp(...)) stays as is."""
    if base.is_zero is False:
        return base
    return sp.Piecewise((sp.S.One, sp.Eq(base, 0)), (base, True))


def _d_mod(node, i):
    x, y = node.args  # Mod(x, y) = x - y*floor(x/y)
    return sp.S.One if i == 0 else -sp.floor(x / y)


LOCAL_RULES = {sp.Add: _d_add, sp.Mul: _d_mul, sp.Pow: _d_pow, sp.Mod: _d_mod,
               **{cls: extrema.derivative for cls in (sp.Max, sp.Min, extrema.Max, extrema.Min)}}
STEPS = (sp.sign, sp.floor, sp.ceiling, sp.Heaviside)  # derivative 0, at the jumps too


def contributions(node, active) -> list[tuple[sp.Basic, sp.Expr]]:
    """(child, d node / d child) for each child of node a derivative flows to: the active
    ones, none for a step or a condition, and a Piecewise's branch values (not its
    conditions) through their selectors."""
    if isinstance(node, sp.Piecewise):
        return [(pair.expr, branch_selector(node, k)) for k, pair in enumerate(node.args)
                if pair.expr in active]
    if isinstance(node, STEPS) or not isinstance(node, sp.Expr):
        return []
    return [(arg, local_derivative(node, i)) for i, arg in enumerate(node.args)
            if arg in active]


def branch_selector(piecewise: sp.Piecewise, k: int) -> sp.Expr:
    """1 where the Piecewise takes branch k, else 0: the same conditions, in order."""
    pairs = [(sp.S.One if j == k else sp.S.Zero, pair.cond)
             for j, pair in enumerate(piecewise.args[:k + 1])]
    return sp.Piecewise(*pairs, (sp.S.Zero, True))


def local_derivative(node: sp.Expr, i: int) -> sp.Expr:
    """d node / d node.args[i], from the rule table or the node's own fdiff."""
    rule = LOCAL_RULES.get(type(node))
    if rule is not None:
        return rule(node, i)
    if not (isinstance(node, sp.Expr) and hasattr(node, "fdiff")):
        raise DerivationError(f"no derivative rule for {type(node).__name__}: {node}")
    try:
        derivative = node.fdiff(i + 1)
    except ArgumentIndexError:  # SymPy's way of saying it knows none (zeta's first argument)
        derivative = None
    if derivative is None or derivative.has(sp.Derivative):  # no closed form in SymPy either
        raise DerivationError(f"no derivative rule for {node.func}: {node}")
    return derivative


def derive(loss, params=None, inputs=()) -> Gradient:
    """The gradient of a loss with respect to each parameter.

    ``loss`` is a Model, or an expression or string read with ``Model.of(loss, params, inputs)``.
    """
    model = loss if isinstance(loss, Model) else Model.of(loss, params, inputs)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))
    loss = stabilize(model.loss)
    adjoints, partials = accumulate(loss, model.params)
    return Gradient(model=model, loss=loss, adjoints=adjoints, partials=partials)


def accumulate(expr: sp.Expr, params, wrt=None) -> tuple[tuple, tuple]:
    """(adjoint definitions, d expr / d param for each of ``params``): one reverse pass over
    expr's DAG. Only the parameters in ``wrt`` (default: all) are differentiated; the
    partials of the others are 0."""
    nodes = postorder(expr)
    active = _depends_on(nodes, set(params if wrt is None else wrt))
    terms: dict[sp.Basic, list[sp.Expr]] = defaultdict(list)
    terms[expr].append(sp.S.One)
    masked: set[sp.Basic] = set()  # nodes whose adjoint is 0 where a branch is not taken
    adjoints: list[tuple[sp.Symbol, sp.Expr]] = []
    for node in reversed(nodes):
        if node not in terms or node.is_Symbol:
            continue
        adjoint = _name_adjoint(sp.Add(*terms.pop(node)), adjoints)
        for child, derivative in contributions(node, active):
            if isinstance(node, sp.Piecewise):
                terms[child].append(adjoint * derivative)
                masked.add(child)
            elif node in masked:
                terms[child].append(strong_product(adjoint, derivative))
                masked.add(child)
            else:
                terms[child].append(adjoint * derivative)
    partials = tuple(sp.Add(*terms.get(p, ())) for p in params)
    return tuple(adjoints), partials


def _depends_on(nodes, params) -> set:
    """The nodes whose value depends on one of params (nodes in postorder)."""
    active = set()
    for node in nodes:
        if node in params or any(arg in active for arg in node.args):
            active.add(node)
    return active


def _name_adjoint(total: sp.Expr, adjoints: list) -> sp.Expr:
    """total itself if atomic, else a fresh adjoint symbol defined as total."""
    if total.is_Atom:
        return total
    symbol = sp.Dummy(f"a{len(adjoints)}")
    adjoints.append((symbol, total))
    return symbol
