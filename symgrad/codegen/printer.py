"""The shared printer: scalar SymPy expressions as Python source, symgrad functions as helpers.

SymPy's PythonCodePrinter already prints arithmetic, ``math`` functions, Piecewise and
Heaviside. ``ScalarPrinter`` adds one method for every symgrad function (found through their
common base class on the MRO): a call to a helper whose definition is recorded in ``helpers``,
so the module around the code can emit exactly the helpers it uses. A backend's dialect is a
subclass that overrides only what differs: its helper table (derived from the function registry,
``symgrad.primitives``, by dialect), the decorator its helpers carry, a few ``_print_X`` methods.
The base dialect's helpers are plain scalar Python with ``math``: stable, readable, runnable.
"""
from __future__ import annotations

import keyword
import re

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from ..functions import SymgradBase
from ..primitives import COT_PI, helper_sources, polygamma_source

HELPERS = helper_sources("python")  # the base dialect: scalar Python with ``math``


INT64_MAX = 2 ** 63 - 1


class ScalarPrinter(PythonCodePrinter):
    """Python source for one scalar expression; records the helpers it calls."""

    helper_table = HELPERS
    helper_decorator = ""         # the line a dialect puts above each helper's definition
    exp_function = "math.exp"     # what a per-arity helper (logsumexp3) calls for exp

    def __init__(self, settings=None, float_type: str | None = None):
        super().__init__(settings)
        self.helpers: dict[str, str] = {}
        self.float_type = float_type  # a float32 kernel's constant type ("np.float32"); None:
                                      # plain literals, which the JITs type float64

    def doprint(self, expr, assign_to=None) -> str:
        return self.typed(super().doprint(expr, assign_to))

    def typed(self, code: str) -> str:
        """Code with its float constants of the kernel's type (see ``typed_literals``)."""
        return typed_literals(code, self.float_type) if self.float_type else code

    def column_value(self, k: int) -> str:
        """The row's value of data column k, as the row's code reads it."""
        return f"_c{k}[_row]"

    def cast(self, code: str) -> str:
        """An expression (an integer count, a float64 value) as the kernel's float type."""
        return f"{self.float_type}({code})" if self.float_type else f"({code})"

    def _print(self, expr, **kwargs):
        """A function with a helper in this dialect (symgrad's, floor, ...) as a call of it."""
        if type(expr).__name__ in self.helper_table:
            return self._print_helper_call(expr)
        return super()._print(expr, **kwargs)

    def _print_helper_call(self, expr) -> str:
        name, source = self.helper(expr)
        self.helpers.setdefault(name, source)
        args = ", ".join(self._print(a) for a in expr.args)
        return f"{name}({args})"

    _print_SymgradBase = _print_helper_call

    def _print_Integer(self, expr) -> str:
        """An integer beyond int64 (1e300, which the parser reads exactly) as the float it
        stands for: Numba cannot type a larger integer literal."""
        return repr(float(expr)) if abs(expr.p) > INT64_MAX else super()._print_Integer(expr)

    def _print_Rational(self, expr) -> str:
        """p/q with p or q beyond int64 (1e-300 read exactly) as its float, as above."""
        return repr(float(expr)) if max(abs(expr.p), expr.q) > INT64_MAX else \
            super()._print_Rational(expr)

    # steps keep a NaN argument NaN, as Max and Min do (math.copysign(1, nan) was -1 or 1,
    # and Heaviside(nan) 1: a domain error inside hidden, and the numpy backend's nan beside)
    def _print_sign(self, expr) -> str:
        z = self._print(expr.args[0])
        return f"({z} if {z} != {z} else 0.0 if {z} == 0 else math.copysign(1.0, {z}))"

    def _print_Heaviside(self, expr) -> str:
        z, at_zero = (self._print(a) for a in expr.args)
        return f"({z} if {z} != {z} else 0.0 if {z} < 0 else {at_zero} if {z} == 0 else 1.0)"

    def _print_attains(self, expr) -> str:
        a, m = (self._print(e) for e in expr.args)
        return f"(1.0 if {a} == {m} else 0.0)"

    def _print_polygamma(self, expr) -> str:
        """psi^(n)(x) as a helper per order n (polygamma1), which must be a whole number."""
        order, x = expr.args
        if not (order.is_Integer and order >= 0):
            return self._print_not_supported(expr)
        name, source = self.polygamma_helper(int(order))
        self.helpers.setdefault(name, self.helper_decorator + source)
        if "_cot_pi" in source:  # the compiled series' reflection
            self.helpers.setdefault("_cot_pi", self.helper_decorator + COT_PI)
        return f"{name}({self._print(x)})"

    def _print_digamma(self, expr) -> str:
        return self._print_polygamma(sp.polygamma(0, expr.args[0], evaluate=False))

    def _print_trigamma(self, expr) -> str:
        return self._print_polygamma(sp.polygamma(1, expr.args[0], evaluate=False))

    def polygamma_helper(self, order: int) -> tuple[str, str]:
        return f"polygamma{order}", polygamma_source(order)

    def helper(self, expr) -> tuple[str, str]:
        """The helper's name in the generated code, and its definition; a helper written per
        arity is named for it (logsumexp3)."""
        name = type(expr).__name__
        source = self.helper_table[name]
        if callable(source):
            arity = len(expr.args)
            name, source = f"{name}{arity}", source(arity, self.exp_function)
        return name, self.helper_decorator + source

    def helper_block(self) -> str:
        """Every recorded helper's definition, in first-use order."""
        return "".join(f"{self.typed(source)}\n\n" for source in self.helpers.values())


# A float32 kernel must not meet a float64: Numba and numpy type a Python literal (2, 0.5,
# math.pi) as int64 or float64, and float32 * float64 is float64. In its code every number is
# wrapped in the float type, but an integer exponent (x**2 stays an integer power, not powf).
NUMBER = re.compile(r"(?<![\w.])(?:\d+\.\d*(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\d+)(?![\w.])")
MATH_CONSTANT = re.compile(r"\bmath\.(?:pi|e|tau|inf|nan)\b")
INTEGER_EXPONENT = re.compile(r"\*\*\s*$|\*\*\s*\(\s*-?\s*$")


def typed_literals(code: str, float_type: str) -> str:
    """Python code (an expression, a helper's definition) with each number and ``math``
    constant as ``float_type(...)``, except integer exponents; comments are left alone."""
    def number(match):
        text, before = match.group(), match.string[:match.start()]
        after = match.string[match.end():].lstrip()
        whole = text.isdigit() and INTEGER_EXPONENT.search(before) and \
            (before.rstrip().endswith("**") or after.startswith(")"))
        return text if whole else f"{float_type}({text})"

    def line(text: str) -> str:
        code, hash_, comment = text.partition("#")
        code = MATH_CONSTANT.sub(lambda m: f"{float_type}({m.group()})", code)
        return NUMBER.sub(number, code) + hash_ + comment
    return "\n".join(line(text) for text in code.split("\n"))


def nested_calls(function: str, printed: list[str]) -> str:
    """``f(f(a, b), c)``: an associative n-ary operation as two-argument calls, nested
    log2(n) deep (Python's parser refuses 200 nested parentheses)."""
    while len(printed) > 1:
        pairs = [f"{function}({a}, {b})" for a, b in zip(printed[::2], printed[1::2])]
        printed = pairs + printed[len(pairs) * 2:]
    return printed[0]


# Max and Min in the kernels: NaN-propagating, as numpy's maximum and minimum (and PyTorch's
# and JAX's): Python's max(a, b) returned a for max(0.5, nan), a finite loss where the
# numpy reference gave nan. One select each, so a row loop still vectorizes.
EXTREMA_HELPERS = {
    "larger": "def larger(a, b):\n    return a if (a > b) | (a != a) else b\n",
    "smaller": "def smaller(a, b):\n    return a if (a < b) | (a != a) else b\n",
}


class FoldedExtrema:
    """Mixed in before a kernel dialect's printer: Max and Min as EXTREMA_HELPERS calls, or
    (``guarded_builtin``) a max or min of names as the builtin, plus 0.0/0.0 (NaN) where one
    of them is NaN: no call for Numba to inline (99 calls made a 100-argument max compile
    1.5-4 s longer). A generated kernel's arguments of a max are names (CSE's: each is read
    again where the derivative asks which one attains it)."""

    guarded_builtin = False
    extrema_decorator = ""  # a dialect's helper_decorator, or lighter

    def _print_Max(self, expr):
        return self._extremum("max", "larger", expr.args)

    def _print_Min(self, expr):
        return self._extremum("min", "smaller", expr.args)

    def _extremum(self, builtin: str, helper: str, args) -> str:
        printed = [self._print(a) for a in args]
        if self.guarded_builtin and all(a.is_Symbol or a.is_Number for a in args):
            guard = " * ".join(f"({p} == {p})" for a, p in zip(args, printed) if a.is_Symbol)
            return f"({builtin}({', '.join(printed)}) + 0.0 / ({guard} * 1.0))"
        decorator = self.extrema_decorator or self.helper_decorator
        self.helpers.setdefault(helper, decorator + EXTREMA_HELPERS[helper])
        return nested_calls(helper, printed)


MODULE_LEVEL = re.compile(r"^(?:def|class)\s+(\w+)|^(\w+)\s*=|^import\s+(\w+)|"
                          r"^from\s+\S+\s+import\s+(.+)$", re.MULTILINE)
CALLED_OR_QUALIFIED = re.compile(r"\b([A-Za-z_]\w*)\s*[(.]")


def generated_names(source: str) -> set[str]:
    """The names generated code defines at module level, imports, calls or qualifies
    (``math.exp``): a user symbol of one of these names would shadow it. Read from the code
    itself, so no hand-kept list can fall behind what a backend emits."""
    names = set(CALLED_OR_QUALIFIED.findall(source))
    for match in MODULE_LEVEL.finditer(source):
        *single, imported = match.groups()
        names.update(n for n in single if n)
        if imported:
            names.update(part.split(" as ")[-1].strip(" ()") for part in imported.split(","))
    return names


def safe_identifiers(symbols, reserved=frozenset()) -> dict[sp.Symbol, sp.Symbol]:
    """Renames for the symbols whose names cannot be Python variables in generated code:
    not an ASCII identifier, a keyword, a leading underscore (generated code keeps its own
    names there), a double underscore (Numba's parfor lowering doubles every '_' and fails
    when w_0 and w__0 both exist), or one of ``reserved``."""
    renames = {}
    for k, symbol in enumerate(symbols):
        name = symbol.name
        if not (name.isidentifier() and name.isascii()) or keyword.iskeyword(name) \
                or name.startswith("_") or "__" in name or name in reserved:
            renames[symbol] = sp.Symbol(f"_v{k}")
    return renames


def source_with_safe_names(symbols, generate, local_names=frozenset()) -> str:
    """``generate(renames)``, with every user symbol that would shadow a name of the generated
    code (or one of its ``local_names``) renamed: generate once, read the names the code
    uses, and again if any clash."""
    renames = safe_identifiers(symbols)
    source = generate(renames)
    kept = {s.name for s in symbols if s not in renames}
    clashes = kept & (generated_names(source) | local_names)
    if clashes:
        source = generate(safe_identifiers(symbols, reserved=clashes))
    return source


def statement_lines(program, printer, indent: str) -> list[str]:
    """``name = expr`` for each temporary of the program."""
    return [f"{indent}{t.name} = {printer.doprint(e)}" for t, e in program.temps]


def row_lines(program, columns, printer, indent: str, values=()) -> list[str]:
    """The straight-line code of one row ``_row``: its column values, any other ``values``
    lines (a backend's loops computing the row's inner products), then the temporaries.
    Every backend's row loop is this body between its own loop header and its own use of the
    outputs (``accumulate_lines``, ``store_lines``)."""
    return [*(f"{indent}{c.name} = {printer.column_value(k)}" for k, c in enumerate(columns)),
            *values, *statement_lines(program, printer, indent)]


def accumulate_lines(sums, outputs, printer, indent: str) -> list[str]:
    """``s += output`` for each running sum and its output."""
    return [f"{indent}{s} += {printer.doprint(e)}" for s, e in zip(sums, outputs)]


def store_lines(outputs, printer, indent: str) -> list[str]:
    """``_out[_row, k] = output`` for each output: a prediction per row."""
    return [f"{indent}_out[_row, {k}] = {printer.doprint(e)}" for k, e in enumerate(outputs)]


def jacobian_stores(second, printer, indent: str, row: str = "_row") -> list[str]:
    """``_out[row, i, k] = entry`` for each non-zero entry of the prediction's Jacobian
    (SecondOrder.prediction: the outputs, then the entries)."""
    outputs, count = second.prediction.outputs, second.output_count
    return [f"{indent}_out[{row}, {i}, {k}] = {printer.doprint(outputs[count + e])}"
            for e, (i, k) in enumerate(second.prediction_jacobian)]


def residual_stores(second, printer, indent: str, row: str = "_row") -> list[str]:
    """``_out[row, i, 0] = residual i`` and ``_out[row, i, 1 + a] = its Jacobian entry`` for
    column a of ``jacobian_index`` (SecondOrder.residuals: the residuals, then the entries)."""
    outputs, count = second.residuals.outputs, second.residual_count
    position = {k: a for a, k in enumerate(second.jacobian_index)}
    return [*(f"{indent}_out[{row}, {i}, 0] = {printer.doprint(outputs[i])}"
              for i in range(count)),
            *(f"{indent}_out[{row}, {i}, {1 + position[k]}] = "
              f"{printer.doprint(outputs[count + e])}"
              for e, (i, k) in enumerate(second.jacobian))]


def sum_names(outputs, check: bool = True) -> list[str]:
    """The running sums of a gradient kernel: one per output (loss, partials), then the data
    check's."""
    return [f"_s{k}" for k in range(len(outputs))] + (["_check"] if check else [])


def data_check(columns) -> str:
    """An expression that is nan exactly when a column value of the row is not finite (x * 0.0
    is 0 for finite x): summed, it flags non-finite data without a branch."""
    return " + ".join(f"{c.name} * 0.0" for c in columns) or "0.0"


def param_loads(program, indent: str, theta_index=()) -> list[str]:
    """``p = _theta[k]`` for each parameter the program reads, k its theta index (by default
    its position)."""
    index = theta_index or range(len(program.params))
    used = program.free_symbols()
    return [f"{indent}{p.name} = _theta[{k}]" for p, k in zip(program.params, index)
            if p in used]


def column_args(columns) -> str:
    """The kernel's column parameters after its fixed ones: ', _c0, _c1, ...'."""
    return "".join(f", _c{k}" for k in range(len(columns)))


def module_text(spec, printer, header: str, gradient_function, prediction_function,
                *more_functions) -> str:
    """A backend's whole module: header, the helpers the functions use, the functions (the
    gradient's, the prediction's for a model with one, then each of ``more_functions``,
    which may write nothing)."""
    functions = gradient_function(spec, printer)
    if spec.prediction is not None:
        functions += "\n\n" + prediction_function(spec, printer)
    functions += "".join(function(spec, printer) for function in more_functions)
    return header + "\n" + printer.helper_block() + closed_blocks(functions)


def closed_blocks(source: str) -> str:
    """source with ``pass`` in each block that has no statement: a row loop that stores
    nothing (the Jacobian of a model without parameters) is valid Python."""
    lines = source.split("\n")
    out = []
    for at, line in enumerate(lines):
        out.append(line)
        if line.endswith(":") and not line.lstrip().startswith("#"):
            following = next((text for text in lines[at + 1:] if text.strip()), "")
            depth = len(line) - len(line.lstrip())
            if len(following) - len(following.lstrip()) <= depth:
                out.append(" " * (depth + 4) + "pass")
    return "\n".join(out)
