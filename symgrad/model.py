"""Model: the frozen value the pipeline starts from.

A Model is a per-row loss together with the names that give it meaning: which symbols are the
parameters to learn and which are data columns (inputs, the target among them). It can also
carry the prediction it was built from, so a trained model can predict. Models are immutable.
Construction validates the names once, so every later stage can trust them: every symbol of
the loss is a parameter or an input, never both.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.matrices.expressions.matexpr import MatrixElement

from .errors import SymgradError, listed
from .dag import depth, own_classes, postorder
from .functions import real_valued
from .parse import parse_expr

Names = Iterable["str | sp.Symbol"]
FLOAT_MAX = sp.Float(1.7976931348623157e308)
MAX_DEPTH = 150  # levels of a SymPy expression (sin(sin(...)) + x nested 100 times is 202)


@dataclass(frozen=True)
class Model:
    loss: sp.Expr
    params: tuple[sp.Symbol, ...]
    inputs: tuple[sp.Symbol, ...] = ()
    prediction: sp.Expr | tuple[sp.Expr, ...] | None = None  # a tuple: several outputs
    target: sp.Symbol | tuple[sp.Symbol, ...] | None = None  # one per output

    def __post_init__(self):
        check_depth(self.loss, "the loss")
        check_scalar_expression(self.loss, "the loss")
        for field in ("loss", "prediction"):  # Model(...) built directly, as Model.of does
            value = getattr(self, field)
            object.__setattr__(self, field, tuple(map(own_classes, value))
                               if isinstance(value, tuple) else own_classes(value))
        _one_symbol_per_name((*self.loss.free_symbols, *self.params, *self.inputs))
        both = set(self.params) & set(self.inputs)
        if both:
            raise SymgradError(f"{_listed(both)} listed both as parameter and as input")
        unknown = self.loss.free_symbols - set(self.params) - set(self.inputs)
        if unknown:
            raise SymgradError(f"unknown names in the loss: {_listed(unknown)} "
                               "(neither a parameter nor an input)")
        for kind, names in (("parameter", self.params), ("input", self.inputs)):
            repeated = {s for s, count in Counter(names).items() if count > 1}
            if repeated:
                raise SymgradError(f"{kind} {_listed(repeated)} listed twice")

    @classmethod
    def of(cls, loss, params: Names | None = None, inputs: Names = ()) -> "Model":
        """A model from a loss (expression or string); params default to every non-input symbol."""
        if isinstance(loss, str):
            loss = parse_expr(loss)
            _no_constant_names(loss, params, inputs)
        else:
            loss = sympified(loss, "the loss")
        check_scalar_expression(loss, "the loss")
        inputs = symbols_named(inputs, loss)
        if params is None:
            params = sorted(loss.free_symbols - set(inputs), key=parameter_order)
        return cls(loss=loss, params=symbols_named(params, loss), inputs=inputs)

    @classmethod
    def supervised(cls, prediction, target, loss="mse", params: Names | None = None,
                   inputs: Names | None = None) -> "Model":
        """A model from a prediction, a target name and a loss: a name in losses.LOSSES or a
        function of (prediction, target). Inputs default to the target alone.

        A prediction of several outputs (a tuple or list of expressions, or a SymPy row or
        column Matrix) takes one target per output: a sequence of names, or one name ``y``
        standing for ``y[0], y[1], ...``. Its row loss is the named loss summed over the
        outputs, or with ``"ce"`` the softmax cross-entropy of the outputs as logits."""
        from .losses import row_loss

        if isinstance(prediction, str):
            features = None if inputs is None else [str(n) for n in inputs if str(n) != target]
            prediction = parse_expr(prediction, features=features)
            _no_constant_names(prediction, params, inputs)
        else:
            prediction = outputs_of(prediction)
        for output in prediction if isinstance(prediction, tuple) else (prediction,):
            check_scalar_expression(output, "the prediction")
        targets = target_symbols(target, prediction)
        per_row = row_loss(loss, prediction, targets if isinstance(prediction, tuple) else
                           targets[0])
        if inputs is None:
            inputs = list(targets)
        inputs = symbols_named(inputs, per_row)
        inputs = (*inputs, *(t for t in targets if t not in inputs))
        if params is None:
            params = sorted(per_row.free_symbols - set(inputs), key=parameter_order)
        return cls(loss=per_row, params=symbols_named(params, per_row), inputs=inputs,
                   prediction=prediction,
                   target=targets if isinstance(prediction, tuple) else targets[0])


def outputs_of(prediction):
    """An expression, or a tuple of them for a prediction of several outputs (a tuple, a
    list, or a SymPy Matrix with one row or one column; a 1x1 matrix is one expression)."""
    if isinstance(prediction, (sp.MatrixBase, sp.MatrixExpr)):
        shape = prediction.shape
        if 1 not in shape:
            raise SymgradError(f"a prediction matrix must be one row or one column, not "
                               f"{shape[0]}x{shape[1]}")
        if shape != (1, 1):
            prediction = tuple(prediction.as_explicit()) \
                if isinstance(prediction, sp.MatrixExpr) else tuple(prediction)
    if isinstance(prediction, (tuple, list)):
        if not prediction:
            raise SymgradError("the prediction has no outputs")
        outputs = tuple(sympified(output, "the prediction") for output in prediction)
        return outputs if len(outputs) > 1 else outputs[0]
    return sympified(prediction, "the prediction")


def target_symbols(target, prediction) -> tuple[sp.Symbol, ...]:
    """One target symbol per output: the names given, or ``y[0], y[1], ...`` for one name
    ``y`` given to several outputs."""
    width = len(prediction) if isinstance(prediction, tuple) else 1
    if isinstance(target, (str, sp.Symbol)):
        names = [str(target)] if width == 1 else [f"{target}[{k}]" for k in range(width)]
    elif not isinstance(target, Iterable):
        raise SymgradError(f"target must be a name or a sequence of names, not {target!r}")
    else:
        names = [str(t) for t in target]
    if len(names) != width:
        raise SymgradError(f"{len(names)} target name{'s' * (len(names) != 1)} for a "
                           f"prediction of {width} output{'s' * (width != 1)}")
    return symbols_named(names, sp.Tuple(*prediction) if width > 1 else prediction)


ENTRY = re.compile(r"(.+)\[(\d+(?:, \d+)*)\]\Z")  # w[3], A[1, 2]
MAX_ENTRIES = 100_000  # terms of a finite Sum, or entries of a matrix, written out


def parameter_order(symbol) -> tuple:
    """The default order of parameters: by name, the entries of a vector or matrix (w[0],
    w[1], ..., w[10]; A[0, 1]) by index."""
    entry = ENTRY.match(symbol.name)
    if entry is None:
        return (symbol.name, ())
    return (entry.group(1), tuple(int(k) for k in entry.group(2).split(", ")))


def with_entries(value):
    """Vectors and matrices as scalar entries, named as the expression language names them:
    a 1x1 matrix expression (a quadratic form v.T*A*v) as its element, a finite Sum written
    out, ``W[3]`` (IndexedBase) and ``A[1, 2]`` (MatrixSymbol; ``v[1]`` for a vector) as the
    symbols of those names. Each entry is then a scalar parameter or input."""
    if isinstance(value, (sp.MatrixExpr, sp.MatrixBase)) and value.shape == (1, 1):
        value = value.as_explicit()[0, 0] if isinstance(value, sp.MatrixExpr) else value[0, 0]
    if not isinstance(value, sp.Basic) or not value.has(sp.Sum, sp.Indexed, MatrixElement):
        return value
    value = value.replace(lambda e: isinstance(e, sp.Sum), _written_out)
    value = value.replace(lambda e: isinstance(e, sp.Indexed) and _whole(e.indices),
                          lambda e: sp.Symbol(f"{e.base.label}[{_index(e.indices)}]"))
    return value.replace(lambda e: isinstance(e, MatrixElement) and _whole(e.indices),
                         lambda e: sp.Symbol(f"{e.parent}[{_index(_vector(e))}]"))


def _written_out(total):
    terms = 1
    for _, low, high in total.limits:
        if not (low.is_Integer and high.is_Integer):
            return total  # refused later: an unevaluated Sum
        terms *= max(int(high) - int(low) + 1, 0)
    if terms > MAX_ENTRIES:
        raise SymgradError(f"a Sum of {terms:,} terms (at most {MAX_ENTRIES:,} are written out)")
    return total.doit()


def _whole(indices) -> bool:
    return all(k.is_Integer for k in indices)


def _vector(element) -> tuple:
    """A MatrixElement's index: one number for a vector (n x 1 or 1 x n), else two."""
    rows, columns = element.parent.shape
    i, j = element.indices
    return (j,) if rows == 1 else (i,) if columns == 1 else (i, j)


def _index(indices) -> str:
    return ", ".join(str(int(k)) for k in indices)


def entry_names(expr, names) -> list[str]:
    """names, each vector or matrix among them (W) replaced by its entries in expr (W[0],
    W[1], ...), in index order."""
    expand = _entry_expander(expr)
    return [entry for name in map(str, names) for entry in expand(name)]


def _entry_expander(expr):
    """name -> [name], or a vector's or matrix's name -> its entries' names in expr (the
    expression's symbols read once, however many names are expanded)."""
    found: dict[str, list] = {}
    own = {s.name for s in expr.free_symbols}
    for name in own:
        entry = ENTRY.match(name)
        if entry:
            found.setdefault(entry.group(1), []).append(sp.Symbol(name))

    def expand(name: str) -> list[str]:
        if name in found and name not in own:
            return [s.name for s in sorted(found[name], key=parameter_order)]
        return [name]
    return expand


def sympified(value, what: str):
    """A SymPy object for a Python number or SymPy value (never a string: those are parsed)."""
    if isinstance(value, str):
        raise SymgradError(f"{what} is a string inside a container; pass an expression")
    try:
        expr = sp.sympify(value, strict=True)
        check_depth(expr, what)
        return own_classes(real_valued(with_entries(expr)))
    except (sp.SympifyError, TypeError):
        raise SymgradError(f"{what} must be a SymPy expression or a number, not a "
                           f"{type(value).__name__}") from None


def check_depth(value, what: str) -> None:
    """SymgradError for an expression nested deeper than MAX_DEPTH: SymPy's own walks
    recurse (a RecursionError from deep inside srepr or free_symbols)."""
    levels = depth(value) if isinstance(value, sp.Basic) else 1
    if levels > MAX_DEPTH:
        raise SymgradError(f"{what} is nested {levels} levels deep, more than {MAX_DEPTH}: "
                           f"write it with fewer (a sum of many terms is one level)")


def check_scalar_expression(value, what: str) -> None:
    """SymgradError unless value is one real scalar SymPy expression that names what it
    computes: not a list, matrix or condition, no complex constant, no undefined function
    or unevaluated derivative, integral or sum."""
    if not isinstance(value, sp.Expr) or isinstance(value, sp.MatrixExpr):
        kind = "condition" if isinstance(value, sp.logic.boolalg.Boolean) else \
            type(value).__name__
        raise SymgradError(f"{what} must be one scalar expression, not a {kind}")
    for node in postorder(value):
        problem = _unsupported(node)
        if problem:
            raise SymgradError(f"{what} contains {problem}: {_short(node)}")


def _unsupported(node) -> str | None:
    """What is wrong with one node of an expression, or None."""
    if isinstance(node, AppliedUndef):
        return f"the undefined function {node.func} (give it a formula)"
    if isinstance(node, (sp.Derivative, sp.Integral, sp.Sum, sp.Product)):
        return f"an unevaluated {type(node).__name__} (call .doit() first)"
    if isinstance(node, sp.Piecewise) and node.args[-1].cond != sp.true:
        return "a Piecewise with no otherwise branch (end it with (value, True))"
    if node.is_Number and node.is_extended_real is False or node in (sp.I, sp.zoo, sp.nan):
        return "a complex or undefined number (symgrad computes in real numbers)"
    if node.is_Number and abs(node) > FLOAT_MAX:
        return "a number beyond the float64 range"
    return None


def _short(node, limit: int = 60) -> str:
    text = sp.sstr(sp.N(node, 6) if node.is_Number else node)  # (10**400: not 401 digits)
    return text if len(text) <= limit else text[:limit] + "..."


def _no_constant_names(expr, *lists) -> None:
    """A SymgradError for a parameter or input named e or pi where an expression string read
    the name as the constant (e*exp(-k*t) + c with params e, k, c: e stayed 2.718)."""
    from .parse import CONSTANTS

    own = {s.name for s in getattr(expr, "free_symbols", ())}
    names = [n for names in lists if isinstance(names, (list, tuple)) for n in names]
    for name in (n for n in names if isinstance(n, str) and n in CONSTANTS and n not in own):
        raise SymgradError(f"{name!r} is listed as a name, but the expression reads {name} as "
                           f"the constant {float(CONSTANTS[name]):.6g}: write `{name}` (in "
                           f"backquotes) where the name is meant")


def symbols_named(names: Names, expr: sp.Expr) -> tuple[sp.Symbol, ...]:
    """Symbols for names, reusing the expression's own Symbol objects where the names match."""
    if isinstance(names, (str, sp.Symbol)) or names is None:
        raise SymgradError(f"names must be a sequence such as ['x', 'y'], not {names!r}")
    expand = _entry_expander(expr)
    names = [n for name in names for n in
             ([name] if isinstance(name, sp.Symbol) else expand(str(name)))]
    own = {s.name: s for s in expr.free_symbols}
    return tuple(n if isinstance(n, sp.Symbol) else own.get(str(n), sp.Symbol(str(n)))
                 for n in names)


def _one_symbol_per_name(symbols) -> None:
    """Two different SymPy symbols of one name (Symbol('a') and Symbol('a', positive=True))
    are two variables to SymPy but one name to every file, column and message: refused."""
    seen: dict[str, sp.Symbol] = {}
    for symbol in symbols:
        if isinstance(symbol, sp.Symbol) and not isinstance(symbol, sp.Dummy):
            other = seen.setdefault(symbol.name, symbol)
            if other != symbol:
                first, second = sorted([sp.srepr(other), sp.srepr(symbol)],
                                       key=lambda text: (len(text), text))
                raise SymgradError(f"two different symbols are named {symbol.name!r}, "
                                   f"{first} and {second}: SymPy tells them apart by their "
                                   f"assumptions; build the model with one")


def _listed(symbols) -> str:
    return listed(sorted(repr(str(s)) for s in symbols))
