"""The safe parser: expression strings from users become SymPy expressions by whitelist.

User text never reaches eval or sympify (which calls eval). A small tokenizer and a
precedence-climbing parser of symgrad's own accept only numbers, plain and backquoted names,
the constants pi and e, arithmetic (+ - * / ** and ^ as power, with Python's precedence), calls
of the functions in ``FUNCTIONS``, ``where(condition, a, b)`` (conditions.py) and
``dot(w, features)`` (vectors.py), and build the SymPy expression directly. Anything else
(attributes, subscripts, lambdas, comparisons outside where, keyword arguments, dunder names,
unknown functions) is refused with a ParseError naming the offending token and its column.

Everything that grows with the input is bounded: sums, products and runs of signs are loops
(a 10,000-term sum is one flat ``Add``, built in linear time, with no recursion on its length);
only parentheses, calls and powers nest, at most ``MAX_DEPTH`` deep; a power of two numbers is
evaluated only when the exact result has at most ``MAX_BITS`` bits; and the result is real
(no ``sqrt(-1)``) and finite (no ``1/0``).
"""
from __future__ import annotations

import importlib
import keyword
import math
import re
from typing import Callable, NamedTuple

import sympy as sp

from . import functions as fn, losses
from .conditions import ConditionGrammar
from .vectors import FEATURES, VectorGrammar, names_features  # noqa: F401 (re-exported)
from .errors import ParseError
from .lexer import MAX_NAME, OPENING, REFUSED_OPERATORS, Token, parse_names, tokenize  # noqa: F401
from .primitives import BUILTINS, PRIMITIVES


class Signature(NamedTuple):
    build: Callable[..., sp.Expr]
    min_args: int
    max_args: float  # math.inf for variadic


def sympy_function(path: str):
    """SymPy's function of a registry entry: 'Abs', a dotted path in SymPy
    'codegen.cfunctions.log1p', or one in symgrad 'symgrad.extrema.Max'."""
    module, _, name = path.rpartition(".")
    if not module:
        return getattr(sp, name)
    return getattr(importlib.import_module(
        module if module.startswith("symgrad.") else f"sympy.{module}"), name)


FUNCTIONS = {  # symgrad's functions, SymPy's (with their other spellings), the named losses
    **{name: Signature(getattr(fn, name), p.min_args, p.max_args)
       for name, p in PRIMITIVES.items() if p.public},
    **{name: Signature(sympy_function(b.sympy), b.min_args, b.max_args)
       for b in BUILTINS for name in (b.name, *b.aliases)},
    **{name: Signature(loss, 2, 2) for name, loss in losses.LOSSES.items()},
}
CONSTANTS = {"pi": sp.pi, "e": sp.E}
LANGUAGE_ONLY = ("where", "dot")  # functions the parser builds itself (conditions, vectors)
MAX_DEPTH = 100      # nested parentheses, calls and powers
MAX_BITS = 4096      # an exact power of two numbers, evaluated at parse time

def parse_expr(text: str, features=None) -> sp.Expr:
    """The SymPy expression a user string denotes, or a ParseError saying what and where.
    ``features``: the feature columns' names, which ``dot(w, features)`` reads (vectors.py)."""
    if not isinstance(text, str):
        raise ParseError(f"expected an expression string, got {type(text).__name__}")
    if not text or not text.strip():
        raise ParseError("empty expression")
    return fn.real_valued(_Parser(text, features).expression())  # abs(exp(z)) has re(z)


class _Parser(ConditionGrammar, VectorGrammar):
    """Precedence climbing over the tokens: sum > product > sign > power > atom."""

    def __init__(self, text: str, features=None):
        self.text, self.tokens, self.at, self.depth = text, tokenize(text), 0, 0
        self.features = None if features is None else tuple(features)
        self.vectors: set[str] = set()  # names used as vectors in dot
        self.comparing = False  # the next sum is an operand of a comparison (where's condition)

    @property
    def token(self) -> Token:
        return self.tokens[self.at]

    def advance(self) -> Token:
        self.at += 1
        return self.tokens[self.at - 1]

    def expression(self) -> sp.Expr:
        value = self.sum()
        if self.token.kind != "end":
            self.unexpected()
        _check_real_and_finite(value, self, 0, self.text.strip())
        self.refuse_vectors_used_as_numbers(value)
        return value

    # --- grammar -----------------------------------------------------------------------

    def sum(self) -> sp.Expr:
        start, compared, self.comparing = self.token.start, self.comparing, False
        terms = [self.product()]
        while self.token.text in ("+", "-"):
            sign = self.advance().text
            term = self.product()
            terms.append(term if sign == "+" else -term)
        if not compared:
            self.refuse_operator(start)
        return sp.Add(*terms) if len(terms) > 1 else terms[0]

    def product(self) -> sp.Expr:
        factors = [self.signed()]
        while self.token.text in ("*", "/"):
            operator = self.advance()
            factor = self.signed()
            if operator.text == "/":
                if factor.is_zero:
                    self.fail(operator.start, "division by zero", self.text[operator.start:])
                factor = sp.Pow(factor, -1)
            factors.append(factor)
        return sp.Mul(*factors) if len(factors) > 1 else factors[0]

    def signed(self) -> sp.Expr:
        negative = False
        while self.token.text in ("+", "-"):
            negative ^= self.advance().text == "-"
        if self.token.text in ("~", "not"):
            self.fail(self.token.start, REFUSED_OPERATORS[self.token.text] + " not allowed",
                      self.group_text(self.token.start))
        value = self.power()
        return -value if negative else value

    def power(self) -> sp.Expr:
        start = self.token.start
        base = self.atom()
        if self.token.text not in ("**", "^"):
            return base
        self.advance()
        with self.nested(start):
            exponent = self.signed()
        return self.evaluated_power(base, exponent, start)

    def atom(self) -> sp.Expr:
        token = self.token
        if token.kind == "number":
            return self.number(self.advance())
        if token.kind == "name":
            return self.name_or_call()
        if token.kind == "quoted":
            return self.quoted_name()
        if token.text == "(":
            self.advance()
            with self.nested(token.start):
                value = self.sum()
            self.expect(")", token.start)
            return value
        if token.kind == "string":
            self.fail(token.start, "only numbers are allowed as constants", token.text)
        if token.text in ("[", "{"):
            what = "lists" if token.text == "[" else "dicts or sets"
            self.fail(token.start, f"{what} not allowed", self.group_text(token.start))
        if token.text in REFUSED_OPERATORS:
            self.fail(token.start, REFUSED_OPERATORS[token.text] + " not allowed",
                      self.group_text(token.start))
        self.unexpected()

    def name_or_call(self) -> sp.Expr:
        token = self.advance()
        name = token.text
        if self.token.text == ".":
            self.fail(token.start, "attribute access not allowed", self.group_text(token.start))
        if self.token.text == "[":
            self.fail(token.start, "subscripts not allowed", self.group_text(token.start))
        if self.token.text == "(" and not name.startswith("_") and name != "lambda":
            return {"where": self.where, "dot": self.dot}.get(name, self.call)(token)
        self.check_plain_name(token)
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name == FEATURES and self.features is not None:
            self.fail(token.start, "features is the vector of feature columns: use it in "
                                   "dot(w, features) (a column named features is `features`)",
                      name)
        return sp.Symbol(name)

    def check_plain_name(self, token: Token) -> None:
        """Refuse a name that cannot be a symbol: _private, lambda, a keyword or operator, a
        function without its call."""
        name = token.text
        if name.startswith("_"):
            self.fail(token.start, "names starting with '_' not allowed", name)
        if name in REFUSED_OPERATORS:
            self.fail(token.start, REFUSED_OPERATORS[name] + " not allowed",
                      self.group_text(token.start))
        if keyword.iskeyword(name):
            self.fail(token.start, "syntax error: reserved word", name)
        if name in FUNCTIONS or name in LANGUAGE_ONLY:
            self.fail(token.start, f"function {name!r} used without arguments (a name "
                                   f"spelt like a function is written in backquotes: `{name}`)",
                      name)

    def quoted_name(self) -> sp.Expr:
        """A backquoted name: the symbol of exactly the text inside (a column such as
        `mean radius`); never a function, a keyword or a constant."""
        token = self.advance()
        name = token.text[1:-1]
        if len(token.text) < 2 or not token.text.endswith("`"):
            self.fail(token.start, "syntax error: '`' was never closed", token.text[:20])
        if not name.strip() or len(name) > MAX_NAME or not name.isprintable():
            self.fail(token.start, f"a backquoted name must be 1 to {MAX_NAME} printable "
                                   f"characters", token.text[:40])
        if self.token.text in ("(", "[", "."):
            self.fail(token.start, "a backquoted name is a column or parameter, not a function "
                                   "or an object", self.group_text(token.start))
        return sp.Symbol(name)

    def call(self, name: Token) -> sp.Expr:
        signature = FUNCTIONS.get(name.text)
        if signature is None:
            self.fail(name.start, "unknown function", name.text)
        self.advance()  # (
        args = []
        with self.nested(name.start):
            while self.token.text != ")":
                args.append(self.argument())
                if self.token.text != ",":
                    break
                self.advance()
        self.expect(")", name.start)
        written = self.text[name.start:self.tokens[self.at - 1].start + 1]
        if not signature.min_args <= len(args) <= signature.max_args:
            self.fail(name.start, f"{name.text} takes {_arity(signature)}, got {len(args)}",
                      written)
        try:
            value = signature.build(*args)
        except (ParseError, ZeroDivisionError) as refused:  # its own check: log(x, 0), mod(x, 0)
            self.fail(name.start, str(refused), written)
        _check_real_and_finite(value, self, name.start, written)
        return value

    def argument(self) -> sp.Expr:
        token = self.token
        if token.text in ("*", "**"):
            self.fail(token.start, "starred arguments not allowed", self.group_text(token.start))
        if token.kind == "name" and self.tokens[self.at + 1].text == "=":
            value_start = self.tokens[self.at + 2].start
            self.fail(value_start, "keyword arguments not allowed", self.group_text(value_start))
        return self.sum()

    # --- values ------------------------------------------------------------------------

    def number(self, token: Token) -> sp.Expr:
        if re.fullmatch(r"\d+", token.text):
            try:
                return sp.Integer(int(token.text))
            except ValueError:  # over Python's 4,300-digit limit
                self.fail(token.start, "number too long", token.text[:20] + "...")
        value = float(token.text)
        underflow = value == 0 and re.search("[1-9]", token.text.lower().split("e")[0])
        if not math.isfinite(value) or underflow:  # 1e400, or 1e-400 (read as 0)
            self.fail(token.start, "number out of range", token.text)
        return sp.Rational(repr(value))  # exact decimal: 0.01 stays 1/100

    def evaluated_power(self, base, exponent, start) -> sp.Expr:
        if exponent.is_Number:
            if base.is_Number and base.is_zero and exponent.is_negative:
                self.fail(start, "division by zero", self.text[start:self.token.start].strip())
            # SymPy raises a product's number to the power too: (0.5*x)**k has 0.5**k
            if _power_bits(base.as_coeff_Mul()[0], exponent) > MAX_BITS:
                self.fail(start, f"number too large (over {MAX_BITS} bits)",
                          self.text[start:self.token.start].strip())
        value = sp.Pow(base, exponent)
        _check_real_and_finite(value, self, start, self.text[start:self.token.start].strip())
        return value

    # --- errors and helpers ------------------------------------------------------------

    def nested(self, start: int):
        parser = self

        class Level:
            def __enter__(self):
                parser.depth += 1
                if parser.depth > MAX_DEPTH:
                    parser.fail(start, f"too many nested parentheses, calls or powers "
                                       f"(at most {MAX_DEPTH})", parser.text[start:start + 20])

            def __exit__(self, *exc):
                parser.depth -= 1
        return Level()

    def expect(self, text: str, opened_at: int) -> None:
        if self.token.text != text:
            if self.token.kind == "end":
                self.fail(opened_at, f"syntax error: '{text}' was never closed",
                          self.text[opened_at:opened_at + 20])
            self.unexpected()
        self.advance()

    def refuse_operator(self, group_start: int) -> None:
        token = self.token
        if token.text in REFUSED_OPERATORS:
            self.fail(token.start, REFUSED_OPERATORS[token.text] + " not allowed",
                      self.group_text(group_start))

    def unexpected(self):
        token = self.token
        if token.kind == "end":
            self.fail(token.start, "syntax error: the expression ends too early", "")
        if token.text in REFUSED_OPERATORS:
            self.fail(token.start, REFUSED_OPERATORS[token.text] + " not allowed",
                      self.group_text(token.start))
        self.fail(token.start, "syntax error: unexpected token", token.text)

    def group_text(self, start: int) -> str:
        """The user's text from start to the end of the enclosing bracket or argument."""
        depth = 0
        for token in self.tokens:
            if token.start < start:
                continue
            if token.text in OPENING:
                depth += 1
            elif token.text in (")", "]", "}") or (token.text == "," and depth == 0):
                if depth == 0:
                    return self.text[start:token.start].strip()
                depth -= 1
            elif token.kind == "end":
                break
        return self.text[start:].strip()

    def fail(self, offset: int, what: str, token: str):
        raise ParseError(f"{what} at column {offset + 1}: {token!r}")


def _power_bits(base: sp.Number, exponent: sp.Number) -> float:
    """About how many bits the exact value of base**exponent takes (0 if SymPy keeps it)."""
    if not (base.is_Rational and exponent.is_Rational) or abs(base) in (0, 1):
        return 0.0
    size = max(abs(base.p), abs(base.q))
    return float(abs(exponent)) * size.bit_length()


def _check_real_and_finite(value: sp.Expr, parser: _Parser, start: int, written: str) -> None:
    """Refuse complex constants (sqrt(-1), log(-2), (-8)**(1/3)) and undefined ones (1/0)."""
    if value.is_Atom and not value.is_Number and value is not sp.I:
        return
    bad = value.has(sp.I, sp.zoo, sp.nan, sp.oo, -sp.oo) or any(
        p.base.is_Number and p.base.is_negative and p.exp.is_Number and not p.exp.is_integer
        for p in value.atoms(sp.Pow))
    if bad:
        parser.fail(start, "complex or undefined constant (symgrad computes in real numbers)",
                    written)


def _arity(signature: Signature) -> str:
    low, high = signature.min_args, signature.max_args
    if low == high:
        return f"{low} argument{'s' if low > 1 else ''}"
    return f"at least {low} arguments" if high == math.inf else f"{low} to {high} arguments"
