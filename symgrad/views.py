"""Views of a Gradient for people: closed forms, and the formats ``symgrad derive`` prints.

Kernels use the CSE'd Program; people want one formula per parameter in the textbook shape. A
closed form expands the adjoint symbols back into expressions of the loss's own symbols, then
tidies it: common factors pulled out (``factor_terms``) and, when shorter, sigmoid(-z) read as
1 - sigmoid(z) and expanded, which turns the BCE gradient into sigmoid(z) - y. Sigmoid stays
whole; it is never written with exp.

Written out, a closed form repeats every subexpression it shares (a max of n arguments
appears n times in each partial's tie count: n**3 terms in all), so its size is bounded: it is
measured before anything is expanded, closed forms of more than PRINT_LIMIT nodes in all are
refused (SymgradError, pointing to ``--format python``, which names shared parts), and a form
of more than TIDY_LIMIT nodes is not tidied.
"""
from __future__ import annotations

import json
import keyword
import re

import sympy as sp
from sympy.core.numbers import ComplexInfinity, ImaginaryUnit, Infinity, NaN, NegativeInfinity
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from .codegen.python_source import python_source
from .errors import SymgradError
from .dag import postorder
from .reverse import Gradient, require_gradient
from .functions import attains, sigmoid, strong_product, to_builtins
from .parse import CONSTANTS, FUNCTIONS, LANGUAGE_ONLY
from .program import lower

FORMATS = ("text", "latex", "python", "json")
EXPAND_LIMIT = 400  # operations; above this, expanding costs more than it could save
TIDY_LIMIT = 500  # nodes of one closed form written out; larger ones are not tidied (factor_terms
                  # took 0.5 s a form at 1,000 nodes)
NAMED_NUMBERS = (ImaginaryUnit, Infinity, NegativeInfinity, NaN, ComplexInfinity)
CALLED = re.compile(r"(?<![\w`])([A-Za-z_]\w*)\(")  # a function's name in printed text
PRINT_LIMIT = 2_000_000  # nodes of all the closed forms (a 200-term sum's are 281,398)


def closed_forms(gradient: Gradient) -> dict[sp.Symbol, sp.Expr]:
    """d loss / d param for each parameter, in the loss's own symbols (no temporaries);
    SymgradError if written out they would exceed PRINT_LIMIT nodes."""
    require_gradient(gradient, "closed_forms")
    sizes = written_out_sizes(gradient)
    if sum(sizes) > PRINT_LIMIT:
        raise SymgradError(f"the closed forms are {sum(sizes):,} terms long written out (they "
                           f"repeat subexpressions they share; over {PRINT_LIMIT:,}): "
                           f"`symgrad derive --format python` (render(gradient, 'python')) "
                           f"prints the gradient with shared parts named")
    expanded: dict[sp.Symbol, sp.Expr] = {}
    for symbol, definition in gradient.adjoints:  # parents are defined before children
        expanded[symbol] = definition.xreplace(expanded)
    forms = {p: _as_written(partial.xreplace(expanded))
             for p, partial in zip(gradient.model.params, gradient.partials)}
    return {p: tidy(e) if size <= TIDY_LIMIT else e
            for (p, e), size in zip(forms.items(), sizes)}


def written_out_sizes(gradient: Gradient) -> list[int]:
    """Each partial's nodes written out as a tree, its adjoints expanded (a shared
    subexpression counted once per use), in time linear in the distinct subexpressions."""
    expanded: dict[sp.Basic, int] = {}

    def size(expr) -> int:
        local: dict[sp.Basic, int] = {}
        for node in postorder(expr):
            local[node] = expanded[node] if node in expanded else \
                1 + sum(local[a] for a in node.args)
        return local[expr]

    for symbol, definition in gradient.adjoints:  # parents are defined before children
        expanded[symbol] = size(definition)
    return [size(partial) for partial in gradient.partials]


def _as_written(expr: sp.Expr) -> sp.Expr:
    """Textbook form: log(x) where the kernel reads log(x, 0 taken as 1) (reverse.zero_as_one,
    the convention d(x**a)/da = 0 at x = 0, which docs/language.md states), and a*b where it reads
    strong_product(a, b) (0 in a branch not taken, whatever b is there), and where(a == m, 1, 0)
    where it reads attains(a, m) (which arguments of a max or min m attain it)."""
    expr = expr.replace(lambda e: isinstance(e, (strong_product, attains)),
                        lambda e: e.as_builtin())
    return expr.replace(_zero_as_one_guard, lambda e: e.args[1].expr)


def _zero_as_one_guard(e) -> bool:
    return isinstance(e, sp.Piecewise) and len(e.args) == 2 and e.args[0].expr == 1 \
        and e.args[0].cond == sp.Eq(e.args[1].expr, 0) and e.args[1].cond == sp.true


def tidy(expr: sp.Expr) -> sp.Expr:
    """The shortest of a few equivalent spellings, common factors pulled out."""
    candidates = [sp.factor_terms(expr)]
    if sp.count_ops(expr) < EXPAND_LIMIT:
        flipped = expr.replace(_negated_sigmoid, lambda s: 1 - sigmoid(-s.args[0]))
        candidates.append(sp.factor_terms(sp.expand_mul(flipped)))
    return min(candidates, key=sp.count_ops)


def _negated_sigmoid(e) -> bool:
    return isinstance(e, sigmoid) and e.args[0].could_extract_minus_sign()


def render(gradient: Gradient, format: str = "text") -> str:
    """The gradient in one of FORMATS, as the text ``symgrad derive`` prints."""
    require_gradient(gradient, "render")
    if format not in RENDERERS:
        raise SymgradError(f"unknown format {format!r} (choose from {', '.join(FORMATS)})")
    return RENDERERS[format](gradient)


class _PrintedOnce:
    """A SymPy printer that prints each subexpression once. Its text does not depend on
    where it stands (the parent adds parentheses), and one printer prints every partial:
    closed forms repeat shared subexpressions (a 200-term sum in each of 200 partials took
    41 s; a 300-term one 11 s as text, 17 s as LaTeX, when each partial had its own)."""

    def __init__(self, settings=None):
        super().__init__(settings)
        self._printed: dict = {}

    def _print(self, expr, **kwargs):
        if kwargs or not isinstance(expr, sp.Basic):
            return super()._print(expr, **kwargs)
        if expr not in self._printed:
            self._printed[expr] = super()._print(expr)
        return self._printed[expr]


class _SympyTextPrinter(_PrintedOnce, StrPrinter):
    """SymPy's own text (``--format json``, read back with ``sympify``), with a name that is
    no identifier (a column such as `mean radius`) in backquotes."""

    def _print_Symbol(self, expr):
        return expr.name if _identifier(expr.name) else f"`{expr.name}`"


class _JsonPrinter(_SympyTextPrinter):
    """``--format json``'s text: log1p and expm1 (SymPy's codegen functions, which sympify
    does not know: it would read them as undefined functions) written with log and exp; a
    name that the same document also uses as a function or constant (a parameter `exp`
    beside exp(b), `pi` beside pi) in backquotes, as sympify cannot tell the two apart."""

    def __init__(self, clashing=frozenset()):
        super().__init__()
        self.clashing = clashing

    def _print_Symbol(self, expr):
        return f"`{expr.name}`" if expr.name in self.clashing else super()._print_Symbol(expr)

    def _print_log1p(self, expr):
        return f"log(1 + {self._print(expr.args[0])})"

    def _print_expm1(self, expr):
        return f"(exp({self._print(expr.args[0])}) - 1)"


class _TextPrinter(_SympyTextPrinter):
    """The expression language's spelling, so that ``derive``'s text parses back: also a name
    spelt like a function or constant in backquotes, e for E, a Piecewise as where(condition,
    a, b), and the condition's and, or, not, == and !=."""

    def _print_Symbol(self, expr):
        return expr.name if _plain(expr.name) else f"`{expr.name}`"

    def _print_Exp1(self, expr):
        return "e"

    def _print_Piecewise(self, expr):
        *branches, (otherwise, _) = expr.args
        text = self._print(otherwise)
        for value, condition in reversed(branches):
            text = f"where({self._print(condition)}, {self._print(value)}, {text})"
        return text

    def _print_polygamma(self, expr):
        order, x = expr.args
        return f"digamma({self._print(x)})" if order == 0 else \
            f"polygamma({self._print(order)}, {self._print(x)})"

    def _print_And(self, expr):
        return " and ".join(f"({self._print(a)})" for a in expr.args)

    def _print_Or(self, expr):
        return " or ".join(f"({self._print(a)})" for a in expr.args)

    def _print_Not(self, expr):
        return f"not ({self._print(expr.args[0])})"

    def _print_Equality(self, expr):
        return f"{self._print(expr.lhs)} == {self._print(expr.rhs)}"

    def _print_Unequality(self, expr):
        return f"{self._print(expr.lhs)} != {self._print(expr.rhs)}"


def _identifier(name: str) -> bool:
    return name.isidentifier() and name.isascii() and not keyword.iskeyword(name)


def _plain(name: str) -> bool:
    """A name the expression language reads without backquotes."""
    return _identifier(name) and not name.startswith("_") and name not in FUNCTIONS \
        and name not in CONSTANTS and name not in LANGUAGE_ONLY


def _text(gradient):
    text = _TextPrinter().doprint  # one printer for all: they share subexpressions
    return "\n".join(f"d/{text(p)} = {text(e)}" for p, e in closed_forms(gradient).items())


def _latex(gradient):
    forms = closed_forms(gradient)
    names = {s: _latex_text(s.name) for s in gradient.model.loss.free_symbols
             if not _plain(s.name)}
    latex = _LatexPrinter({"symbol_names": names}).doprint
    return "\n".join(rf"\frac{{\partial L}}{{\partial {latex(p)}}} = {latex(e)}"
                      for p, e in forms.items())


class _LatexPrinter(_PrintedOnce, LatexPrinter):
    """SymPy's LaTeX, each subexpression printed once."""


LATEX_SPECIAL = {c: "\\" + c for c in "#$%&_{}"} | {"~": r"\textasciitilde{}",
                                                      "^": r"\textasciicircum{}",
                                                      "\\": r"\textbackslash{}"}


def _latex_text(name: str) -> str:
    """A name that is no identifier (a column such as mean radius), as upright LaTeX text."""
    return r"\text{" + "".join(LATEX_SPECIAL.get(c, c) for c in name) + "}"


def _python(gradient):
    return python_source(lower(gradient)).rstrip("\n")


def _json(gradient):
    forms = {p.name: to_builtins(e) for p, e in closed_forms(gradient).items()}
    loss = to_builtins(gradient.model.loss)
    plain = _JsonPrinter().doprint
    called = {name for e in (loss, *forms.values()) for name in CALLED.findall(plain(e))}
    constants = {str(c).lstrip("-") for e in (loss, *forms.values())
                 for c in e.atoms(sp.NumberSymbol, *NAMED_NUMBERS)}  # E, pi, I, oo, nan
    text = _JsonPrinter(clashing=called | constants).doprint
    document = {"loss": text(loss), "gradient": {name: text(e) for name, e in forms.items()}}
    return json.dumps(document, indent=2)


RENDERERS = {"text": _text, "latex": _latex, "python": _python, "json": _json}
