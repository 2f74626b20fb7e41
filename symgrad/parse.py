"""The safe parser: expression strings from users become SymPy expressions by whitelist.

User text never reaches eval or sympify (which calls eval). Python's own ``ast`` module reads the
string; a walker then accepts only numbers, plain names, arithmetic (+ - * / ** and ^ as power)
and calls of the functions in ``FUNCTIONS``, and builds the SymPy expression itself. Anything
else (attributes, subscripts, lambdas, comparisons, keyword arguments, dunder names, unknown
functions) is refused with a ParseError naming the offending token and its column.
"""
from __future__ import annotations

import ast
import math
import re
from typing import Callable, NamedTuple

import sympy as sp

from . import functions as fn
from . import losses
from .errors import ParseError


class Signature(NamedTuple):
    build: Callable[..., sp.Expr]
    min_args: int
    max_args: float  # math.inf for variadic


FUNCTIONS = {
    "sigmoid": Signature(fn.sigmoid, 1, 1),
    "softplus": Signature(fn.softplus, 1, 1),
    "relu": Signature(fn.relu, 1, 1),
    "leaky_relu": Signature(fn.leaky_relu, 1, 2),
    "elu": Signature(fn.elu, 1, 2),
    "logsumexp": Signature(fn.logsumexp, 1, math.inf),
    "tanh": Signature(sp.tanh, 1, 1),
    "exp": Signature(sp.exp, 1, 1),
    "log": Signature(sp.log, 1, 1),
    "sqrt": Signature(sp.sqrt, 1, 1),
    "abs": Signature(sp.Abs, 1, 1),
    "Abs": Signature(sp.Abs, 1, 1),
    "sin": Signature(sp.sin, 1, 1),
    "cos": Signature(sp.cos, 1, 1),
    "tan": Signature(sp.tan, 1, 1),
    "max": Signature(sp.Max, 2, math.inf),
    "Max": Signature(sp.Max, 2, math.inf),
    "min": Signature(sp.Min, 2, math.inf),
    "Min": Signature(sp.Min, 2, math.inf),
    "mse": Signature(losses.mse, 2, 2),
    "mae": Signature(losses.mae, 2, 2),
    "bce": Signature(losses.bce, 2, 2),
}
CONSTANTS = {"pi": sp.pi}

BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}
UNARY = {ast.USub: lambda a: -a, ast.UAdd: lambda a: a}

REFUSED = {  # node type -> what to call it in the message
    ast.Attribute: "attribute access",
    ast.Subscript: "subscripts",
    ast.Lambda: "lambda",
    ast.Compare: "comparisons",
    ast.BoolOp: "boolean operators",
    ast.IfExp: "conditional expressions",
    ast.Starred: "starred arguments",
    ast.List: "lists",
    ast.Tuple: "tuples",
    ast.Dict: "dicts",
    ast.Set: "sets",
    ast.ListComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.NamedExpr: "assignment expressions",
    ast.JoinedStr: "strings",
}
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def parse_expr(text: str) -> sp.Expr:
    """The SymPy expression a user string denotes, or a ParseError saying what and where."""
    if not text or not text.strip():
        raise ParseError("empty expression")
    text = text.strip()
    source = text.replace("^", "**")  # x^2 as mathematicians write it, with power's precedence
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as err:
        column = _original_column(text, (err.offset or 1) - 1)
        raise ParseError(f"syntax error at column {column}: {err.msg}") from None
    return _Builder(source, text).visit(tree.body)


def parse_names(text: str) -> tuple[str, ...]:
    """Comma-separated symbol names ('w0,w1,b'), each a plain identifier."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    for name in names:
        if not NAME.match(name):
            raise ParseError(f"not a valid name: {name!r}")
    if not names:
        raise ParseError("expected one or more comma-separated names")
    return names


class _Builder(ast.NodeVisitor):
    """Walks a Python AST and builds the SymPy expression, refusing all but the whitelist."""

    def __init__(self, source: str, text: str):
        self.source, self.text = source, text

    def fail(self, node, what: str):
        token = ast.get_source_segment(self.source, node) or type(node).__name__
        column = _original_column(self.text, node.col_offset)
        raise ParseError(f"{what} at column {column}: {token!r}")

    def generic_visit(self, node):
        what = REFUSED.get(type(node), f"unsupported syntax ({type(node).__name__})")
        self.fail(node, f"{what} not allowed")

    def visit_Constant(self, node):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(node, "only numbers are allowed as constants")
        if isinstance(value, float):
            if not math.isfinite(value):
                self.fail(node, "number out of range")
            return sp.Rational(repr(value))  # exact decimal: 0.01 stays 1/100
        return sp.Integer(value)

    def visit_Name(self, node):
        name = node.id
        if name.startswith("_"):
            self.fail(node, "names starting with '_' not allowed")
        if name in FUNCTIONS:
            self.fail(node, f"function {name!r} used without arguments")
        if name in CONSTANTS:
            return CONSTANTS[name]
        if not NAME.match(name):
            self.fail(node, "names must be ASCII letters, digits and '_'")
        return sp.Symbol(name)

    def visit_BinOp(self, node):
        op = BINARY.get(type(node.op))
        if op is None:
            self.fail(node, f"operator {type(node.op).__name__} not allowed")
        return op(self.visit(node.left), self.visit(node.right))

    def visit_UnaryOp(self, node):
        op = UNARY.get(type(node.op))
        if op is None:
            self.fail(node, f"operator {type(node.op).__name__} not allowed")
        return op(self.visit(node.operand))

    def visit_Call(self, node):
        if isinstance(node.func, ast.Attribute):
            self.fail(node.func, "attribute access not allowed")
        if not isinstance(node.func, ast.Name):
            self.fail(node.func, "only calls of named functions allowed")
        name = node.func.id
        if name.startswith("_"):
            self.fail(node.func, "names starting with '_' not allowed")
        signature = FUNCTIONS.get(name)
        if signature is None:
            self.fail(node.func, "unknown function")
        if node.keywords:
            self.fail(node.keywords[0].value, "keyword arguments not allowed")
        args = [self.visit(a) for a in node.args]
        if not signature.min_args <= len(args) <= signature.max_args:
            self.fail(node, f"{name} takes {_arity(signature)}, got {len(args)}")
        return signature.build(*args)


def _arity(signature: Signature) -> str:
    low, high = signature.min_args, signature.max_args
    if low == high:
        return f"{low} argument{'s' if low > 1 else ''}"
    return f"at least {low} arguments" if high == math.inf else f"{low} to {high} arguments"


def _original_column(text: str, offset: int) -> int:
    """The 1-based column in the user's text of an offset into the text with ^ spelled **."""
    column = 0
    for char in text:
        offset -= 2 if char == "^" else 1
        if offset < 0:
            break
        column += 1
    return column + 1
