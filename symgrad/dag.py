"""The expression DAG walked once per node: ``postorder`` lists its nodes, children first;
``own_classes`` rebuilds it bottom-up with symgrad's classes where SymPy's would not do (its
Max and Min of many arguments, sinh/cosh/tanh, factorial, sinc). A walk over SymPy's tree
would visit a shared subexpression once per use (2**depth times in a chain that reuses it)."""
from __future__ import annotations

import sympy as sp

from . import extrema, hyperbolic
from .functions import sinc_d


def own_classes(expr):
    """expr with each SymPy Max/Min of three or more arguments, and each sinh, cosh and
    tanh, rebuilt as symgrad's: ``symgrad.extrema`` (built in linear time) and
    ``symgrad.hyperbolic`` (assumptions in constant time); factorial(z) as gamma(z + 1), its
    value for real z (SymPy's factorial is of integers: no printer computes it of data);
    sinc(z) as sinc_d(z, 0), whose derivatives are finite at 0. The
    DAG is rebuilt bottom-up once; SymPy's ``replace`` would keep them, as they compare
    equal."""
    if not isinstance(expr, sp.Basic) or \
            not expr.has(sp.Max, sp.Min, sp.factorial, sp.sinc, *hyperbolic.CLASSES):
        return expr
    nodes = postorder(expr)
    own = {node: _own_class(node) for node in nodes}
    if any(own.values()):
        # a parent rebuilt around a new node (equal to SymPy's) would come back from SymPy's
        # cache as the old parent, holding the old node
        sp.core.cache.clear_cache()
    return _rebuilt(expr, lambda node, args: own[node](*args) if own[node] else None,
                    nodes=nodes)


def _own_class(node):
    """symgrad's class for a node of SymPy's that it replaces, else None."""
    if type(node) in NARY and len(node.args) > 2:
        return NARY[type(node)]
    if type(node) is sp.factorial:
        return lambda z: sp.gamma(z + 1)
    if type(node) is sp.sinc:
        return lambda z: sinc_d(z, 0)
    return hyperbolic.CLASSES.get(type(node))


NARY = {sp.Max: extrema.Max, sp.Min: extrema.Min}


def _rebuilt(expr, replacement, make=lambda node, args: node.func(*args), nodes=None):
    """expr rebuilt bottom-up over its DAG, each node once: ``replacement(node, new args)``
    if that is not None, else the node itself where no argument changed, else
    ``make(node, new args)``."""
    done: dict = {}
    for node in postorder(expr) if nodes is None else nodes:
        args = [done[a] for a in node.args]
        new = replacement(node, args)
        if new is None:
            same = all(a is b for a, b in zip(args, node.args))
            new = node if same else make(node, args)
        done[node] = new
    return done[expr]


def depth(expr: sp.Basic) -> int:
    """The levels of expr's tree (a symbol is 1, sin(x) 2), without recursion."""
    levels: dict = {}
    for node in postorder(expr):
        levels[node] = 1 + max((levels[arg] for arg in node.args), default=0)
    return levels[expr]


def postorder(expr: sp.Basic) -> list[sp.Basic]:
    """The unique subexpressions of expr, children before parents."""
    order, seen, stack = [], set(), [(expr, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
        elif node not in seen:
            seen.add(node)
            stack.append((node, True))
            stack.extend((arg, False) for arg in reversed(node.args) if arg not in seen)
    return order
