"""The function registry: every function of the expression language, one plain-data entry each.

An entry of ``PRIMITIVES`` is one of symgrad's own functions: its parser signature, whether it
is a layer of a chain (``"dense(4) -> elu -> dense(1)"``), and its numerics, the helper each code
dialect calls (``"python"``: scalar Python with ``math``, also compiled by numba.cuda as a device
function; ``"numba"``: branch-free and with ``vexp``, only where it differs from ``"python"``;
``"numpy"``: whole columns). Its math (definition, derivative, builtin spelling) is the SymPy
class of the same name in ``symgrad.functions``, which takes its arity from here. ``BUILTINS``
are SymPy's own functions of the language, printed by SymPy's printers: signature and layer flag
only. The other tables are derived from these two (one place per primitive, as micrograd's
``__mul__`` holds a node's forward and backward): the parser's ``FUNCTIONS`` (plus the named
losses of ``symgrad.losses``), the layers' ``ACTIVATIONS`` (``layer_names()``) and each printer's
helper table (``helper_sources(dialect)``, merged over its base dialect's where it falls back).

Plain data on purpose: importing this module imports nothing heavy (no SymPy), so the layer
chain's parser can read the activations' names at no cost.
"""
from __future__ import annotations

import math
from types import MappingProxyType
from typing import Callable, Mapping, NamedTuple, Union

HelperSource = Union[str, Callable[[int, str], str]]  # a definition, or one of the arity and exp


class Primitive(NamedTuple):
    """One of symgrad's functions: what the parser, the layers and the printers need of it."""
    name: str                                # as written, and the name of its SymPy class
    min_args: int
    max_args: float                          # math.inf: any number of arguments
    layer: bool                              # also an elementwise layer of a chain
    helpers: Mapping[str, HelperSource]      # its stable numerics, by dialect


class Builtin(NamedTuple):
    """One of SymPy's functions, as the expression language spells it."""
    name: str
    sympy: str                               # SymPy's name for it (abs -> Abs)
    min_args: int
    max_args: float
    layer: bool = False
    aliases: tuple[str, ...] = ()            # other spellings the parser accepts


def logsumexp_source(arity: int, exp: str = "math.exp") -> str:
    """The max-shifted log-sum-exp of a fixed number of scalar arguments (the maximum as
    conditionals: numba.cuda cannot compile the builtin max of several floats)."""
    args = ", ".join(f"z{k}" for k in range(arity))
    largest = "".join(f"    m = z{k} if z{k} > m else m\n" for k in range(arity))
    shifted = " + ".join(f"{exp}(z{k} - m)" for k in range(arity))
    return (f"def logsumexp{arity}({args}):\n"
            f"    m = -math.inf\n{largest}"
            f"    if m - m != 0.0:  # +-inf or nan: shifting would give nan\n"
            f"        m = 0.0\n"
            f"    return m + math.log({shifted})\n")


PRIMITIVES = {p.name: p for p in (
    Primitive("sigmoid", 1, 1, layer=True, helpers=MappingProxyType({
        "python": '''\
def sigmoid(z):
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)
''',
        "numba": '''\
def sigmoid(z):
    return 1.0 / (1.0 + vexp(-z))
''',
        "numpy": '''\
def sigmoid(z):
    e = numpy.exp(-numpy.abs(z))
    return numpy.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
'''})),
    Primitive("softplus", 1, 1, layer=True, helpers=MappingProxyType({
        "python": '''\
def softplus(z):
    return (z if z > 0.0 else 0.0) + math.log1p(math.exp(-abs(z)))
''',
        "numba": '''\
def softplus(z):
    return max(z, 0.0) + math.log1p(vexp(-abs(z)))
''',
        "numpy": '''\
def softplus(z):
    return numpy.maximum(z, 0.0) + numpy.log1p(numpy.exp(-numpy.abs(z)))
'''})),
    Primitive("relu", 1, 1, layer=True, helpers=MappingProxyType({
        "python": '''\
def relu(z):
    return z if z > 0.0 else 0.0
''',
        "numpy": '''\
def relu(z):
    return numpy.maximum(z, 0.0)
'''})),
    Primitive("leaky_relu", 1, 2, layer=True, helpers=MappingProxyType({
        "python": '''\
def leaky_relu(z, a):
    return z if z > 0.0 else a * z
''',
        "numpy": '''\
def leaky_relu(z, a):
    return numpy.where(z > 0, z, a * z)
'''})),
    Primitive("elu", 1, 2, layer=True, helpers=MappingProxyType({
        "python": '''\
def elu(z, alpha):
    return z if z > 0.0 else alpha * math.expm1(z)
''',
        "numba": '''\
def elu(z, alpha):
    return z if z > 0.0 else alpha * vexpm1(min(z, 0.0))
''',
        "numpy": '''\
def elu(z, alpha):
    return numpy.where(z > 0, z, alpha * numpy.expm1(numpy.minimum(z, 0.0)))
'''})),
    Primitive("logsumexp", 1, math.inf, layer=False, helpers=MappingProxyType({
        "python": logsumexp_source,  # one helper per arity: logsumexp2, logsumexp3, ...
        "numpy": '''\
def logsumexp(*z):
    m = functools.reduce(numpy.maximum, z)
    m = numpy.where(numpy.isfinite(m), m, 0.0)
    return m + numpy.log(sum(numpy.exp(zk - m) for zk in z))
'''})),
)}

BUILTINS = (
    Builtin("tanh", "tanh", 1, 1, layer=True),
    Builtin("exp", "exp", 1, 1, layer=True),
    Builtin("log", "log", 1, 2, layer=True),       # log(x, base) = log(x)/log(base)
    Builtin("sqrt", "sqrt", 1, 1, layer=True),
    Builtin("abs", "Abs", 1, 1, layer=True, aliases=("Abs",)),
    Builtin("sin", "sin", 1, 1, layer=True),
    Builtin("cos", "cos", 1, 1, layer=True),
    Builtin("tan", "tan", 1, 1, layer=True),
    *(Builtin(name, name, 1, 1, layer=True)
      for name in ("asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "erf",
                   "erfc")),
    Builtin("atan2", "atan2", 2, 2),                 # atan2(y, x), the angle of (x, y)
    Builtin("max", "Max", 2, math.inf, aliases=("Max",)),
    Builtin("min", "Min", 2, math.inf, aliases=("Min",)),
)


def helper_sources(dialect: str) -> dict[str, HelperSource]:
    """{function name: its helper} for the functions that have one in ``dialect``."""
    return {name: p.helpers[dialect] for name, p in PRIMITIVES.items() if dialect in p.helpers}


def layer_names() -> tuple[str, ...]:
    """The functions a chain accepts as an elementwise layer, symgrad's first, in table order."""
    return tuple(f.name for f in (*PRIMITIVES.values(), *BUILTINS) if f.layer)
