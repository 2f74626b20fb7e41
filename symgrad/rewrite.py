"""Stability rewrites: rules as data, applied in order before differentiation.

Each rule names a pattern that overflows or loses precision in floating point and its stable
equivalent. They run on the loss before it is differentiated, so the derivative inherits the
stable form too (d softplus = sigmoid). Like sympy.codegen.rewriting, a rule is a pair of
functions (does it match, what does it become) and ``stabilize`` folds them over the expression.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import sympy as sp

from .functions import logsumexp, sigmoid, softplus


class Rule(NamedTuple):
    name: str
    matches: Callable[[sp.Basic], bool]
    rewrite: Callable[[sp.Basic], sp.Basic]


def _log_of(predicate):
    return lambda e: isinstance(e, sp.log) and predicate(e.args[0])


def _is_sigmoid(e):
    return isinstance(e, sigmoid)


def _one_minus_sigmoid(e):
    """The z of 1 - sigmoid(z), else None."""
    if e.is_Add and len(e.args) == 2 and sp.S.One in e.args:
        rest = e.args[0] if e.args[1] == 1 else e.args[1]
        if rest.is_Mul and len(rest.args) == 2 and rest.args[0] == -1 and _is_sigmoid(rest.args[1]):
            return rest.args[1].args[0]
    return None


def _one_plus_exp(e):
    """The z of 1 + exp(z), else None."""
    if e.is_Add and len(e.args) == 2 and sp.S.One in e.args:
        rest = e.args[0] if e.args[1] == 1 else e.args[1]
        if isinstance(rest, sp.exp):
            return rest.args[0]
    return None


def _sum_of_exps(e):
    return e.is_Add and all(isinstance(t, sp.exp) for t in e.args)


def _is_logistic(e):
    """1/(1 + exp(u)): the logistic function written out, sigmoid(-u)."""
    return e.is_Pow and e.exp == -1 and _one_plus_exp(e.base) is not None


def _logistic_pair(e):
    """In a product, exp(u) and 1/(1 + exp(u)): (u, the two factors), else None."""
    if not e.is_Mul:
        return None
    for f in e.args:
        if _is_logistic(f):
            u = _one_plus_exp(f.base)
            if sp.exp(u) in e.args:
                return u, (f, sp.exp(u))
    return None


def _with_sigmoid(e):
    """exp(u)/(1 + exp(u)) * rest = sigmoid(u) * rest."""
    u, pair = _logistic_pair(e)
    return sigmoid(u) * sp.Mul(*(f for f in e.args if f not in pair))


def _over_sum_of_exps(e):
    """A product with a factor 1/(sum of exps): softmax, written out, inside a log."""
    return e.is_Mul and any(f.is_Pow and f.exp == -1 and _sum_of_exps(f.base) for f in e.args)


def _log_softmax(e):
    """log(a / sum_k exp(z_k)) = log(a) - logsumexp(z): the log of the other factors, minus
    the max-shifted log-sum-exp of the denominator."""
    factors = e.args[0].args
    denominator = next(f.base for f in factors if f.is_Pow and f.exp == -1
                       and _sum_of_exps(f.base))
    exps = [f.args[0] for f in factors if isinstance(f, sp.exp)]
    rest = sp.Mul(*(f for f in factors if not isinstance(f, sp.exp)
                    and not (f.is_Pow and f.base == denominator)))
    return sp.log(rest) + sp.Add(*exps) - logsumexp(*(t.args[0] for t in denominator.args))


RULES = (
    Rule("exp(z)/(1 + exp(z)) -> sigmoid(z)",
         lambda e: _logistic_pair(e) is not None, _with_sigmoid),
    Rule("1/(1 + exp(-z)) -> sigmoid(z)",
         _is_logistic, lambda e: sigmoid(-_one_plus_exp(e.base))),
    Rule("log(a / sum exp(z_k)) -> log(a) - logsumexp(z)",
         _log_of(_over_sum_of_exps), _log_softmax),
    Rule("log(sigmoid(z)) -> -softplus(-z)",
         _log_of(_is_sigmoid), lambda e: -softplus(-e.args[0].args[0])),
    Rule("log(1 - sigmoid(z)) -> -softplus(z)",
         _log_of(lambda a: _one_minus_sigmoid(a) is not None),
         lambda e: -softplus(_one_minus_sigmoid(e.args[0]))),
    Rule("log(1 + exp(z)) -> softplus(z)",
         _log_of(lambda a: _one_plus_exp(a) is not None),
         lambda e: softplus(_one_plus_exp(e.args[0]))),
    Rule("log(sum exp(z_k)) -> logsumexp(z)",
         _log_of(_sum_of_exps), lambda e: logsumexp(*(t.args[0] for t in e.args[0].args))),
    Rule("log(exp(z)) -> z (real z: symgrad computes in real numbers)",
         _log_of(lambda a: isinstance(a, sp.exp)), lambda e: e.args[0].args[0]),
)


def stabilize(expr: sp.Expr, rules=RULES) -> sp.Expr:
    """The expression with every rule applied, in order."""
    for rule in rules:
        expr = expr.replace(rule.matches, rule.rewrite)
    return expr
