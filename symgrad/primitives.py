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
    public: bool = True                      # in the expression language (not internal)


class Builtin(NamedTuple):
    """One of SymPy's functions, as the expression language spells it."""
    name: str
    sympy: str                               # SymPy's name for it (abs -> Abs)
    min_args: int
    max_args: float
    layer: bool = False
    aliases: tuple[str, ...] = ()            # other spellings the parser accepts
    helpers: Mapping[str, str] = MappingProxyType({})  # where SymPy's own printing will not do


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
    return (0.0 if 0.0 > z else z) + vlog1p_unit(vexp(-abs(z)))  # max(z, 0.0), NaN kept
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
    return z if z > 0.0 else alpha * vexpm1(0.0 if 0.0 < z else z)  # min(z, 0.0)
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
    # a*b, but exactly 0 where a is 0 even if b is inf or nan: reverse accumulation multiplies
    # the adjoint of a Piecewise branch not taken (0) by derivatives computed in it (sqrt' at
    # -1 is nan), and those must not make the gradient nan (as JAX's where-gradient does)
    Primitive("strong_product", 2, 2, layer=False, public=False, helpers=MappingProxyType({
        "python": '''\
def strong_product(a, b):
    return 0.0 if a == 0.0 else a * b
''',
        "numpy": '''\
def strong_product(a, b):
    return numpy.where(a == 0.0, 0.0, a * b)
'''})),
    # the n-th derivative of sin(x)/x: its Taylor series for |x| < 1 (SymPy's cos(x)/x -
    # sin(x)/x**2 is nan at 0 and loses digits near it), else x f_n = sin^(n) - n f_(n-1)
    Primitive("sinc_d", 2, 2, layer=False, public=False, helpers=MappingProxyType({
        "python": '''\
def sinc_d(x, n):
    m = int(n)
    if abs(x) < 1.0:
        total = 0.0
        for k in range((m + 1) // 2, (m + 1) // 2 + 14):  # the terms x**(2k - m), 2k >= m
            term = (-1.0) ** k / (2 * k + 1)
            for p in range(1, 2 * k - m + 1):
                term = term * x / p
            total += term
        return total
    s, c = math.sin(x), math.cos(x)
    f = s / x
    for j in range(1, m + 1):
        f = ((s, c, -s, -c)[j % 4] - j * f) / x
    return f
''',
        "numpy": '''\
def sinc_d(x, n):
    m = int(n)
    x = numpy.asarray(x, dtype=numpy.float64)
    small = numpy.abs(x) < 1.0
    near, far = numpy.where(small, x, 0.0), numpy.where(small, 1.0, x)
    total = numpy.zeros_like(x)
    for k in range((m + 1) // 2, (m + 1) // 2 + 14):
        total = total + (-1.0) ** k / (2 * k + 1) * near ** (2 * k - m) / math.factorial(2 * k - m)
    s, c = numpy.sin(far), numpy.cos(far)
    f = s / far
    for j in range(1, m + 1):
        f = ((s, c, -s, -c)[j % 4] - j * f) / far
    return numpy.where(small, total, f)
'''})),
)}

# floor and ceiling as floats (math.floor is an int in numba, wrong for nan, inf and 1e300);
# x // 1.0 is exact, but nan for +-inf, where x itself is the answer
FLOOR = MappingProxyType({
    "python": '''\
def floor(x):
    q = x // 1.0
    return q if q == q else x
''',
    "numpy": '''\
def floor(x):
    return numpy.floor(x)
'''})
CEILING = MappingProxyType({
    "python": '''\
def ceiling(x):
    q = -((-x) // 1.0)
    return q if q == q else x
''',
    "numpy": '''\
def ceiling(x):
    return numpy.ceil(x)
'''})
# Bernoulli numbers B_2, B_4, ..., B_20 (numerator, denominator): the asymptotic series of
# polygamma; a table rather than SymPy, so this module stays free of heavy imports
BERNOULLI = ((1, 6), (-1, 30), (1, 42), (-1, 30), (5, 66), (-691, 2730), (7, 6), (-3617, 510),
             (43867, 798), (-174611, 330))


# cot(pi x) to a few ulps everywhere: of d = x - (the nearest integer), exact; cos/sin near
# the poles, and at the zeros (half-integers) the tan of an exact offset, where cos(pi x) of
# x itself is 1e-16, not 0, which polygamma's reflection multiplies by up to pi^61 P_60'(0)
COT_PI = """\
def _cot_pi(x):
    n = math.floor(x)
    d = x - n
    if d > 0.5:
        d = x - (n + 1.0)
    if abs(d) < 0.25:
        return math.cos(math.pi * d) / math.sin(math.pi * d)
    return math.tan(math.pi * ((0.5 if d > 0.0 else -0.5) - d))


"""


def polygamma_source(order: int, exp: str = "math.exp") -> str:
    """psi^(order)(x), the order-th derivative of digamma, for real x as scalar Python: the
    reflection formula for x < 0, the recurrence psi(x) = psi(x + 1) - (-1)^n n!/x^(n+1) up
    to x >= 15 + 2n, then the asymptotic series in 1/x (ten Bernoulli terms: error below
    1e-17 relative there). At the poles (0, -1, -2, ...) it is nan. ``exp`` is unused. It
    calls the helper COT_PI defines."""
    n = order
    threshold = 15.0 + 2 * n
    sign = -1.0 if n % 2 == 0 else 1.0                                   # (-1)^(n+1)
    series = [math.factorial(2 * k + n - 1) * p / (math.factorial(2 * k) * q)
              for k, (p, q) in enumerate(BERNOULLI, start=1)]           # of r^(2k+n)
    horner = "0.0"
    for c in reversed(series):
        horner = f"({c!r} + r2 * {horner})"
    if n == 0:
        tail = f"math.log(x) - 0.5 * r - r2 * {horner}"
    else:
        # r**n in two halves around the series: r**40 alone is subnormal at x = 1e8
        half = n // 2
        tail = (f"{sign!r} * (r ** {half} * (({float(math.factorial(n - 1))!r} "
                f"+ {math.factorial(n) / 2!r} * r + r2 * {horner}) * r ** {n - half}))")
    cot_terms = _cot_derivative(n)
    cot = " + ".join(f"{float(c)!r} * c ** {k}" for k, c in enumerate(cot_terms) if c) or "0.0"
    return (f"def polygamma{n}(x):\n"
            f"    if x <= 0.0 and x % 1.0 == 0.0:\n"
            f"        return math.nan\n"
            f"    reflected = x < 0.0\n"
            f"    c = 0.0\n"
            f"    if reflected:  # psi_n(x) = (-1)^n psi_n(1 - x) - pi^(n+1) P_n(cot(pi x))\n"
            f"        c = _cot_pi(x)\n"
            f"        x = 1.0 - x\n"
            f"    shifted = 0.0\n"
            f"    while x < {threshold!r}:\n"
            f"        shifted += 1.0 / x ** {n + 1}\n"
            f"        x += 1.0\n"
            f"    r = 1.0 / x\n"
            f"    r2 = r * r\n"
            f"    value = {tail} + {sign * math.factorial(n)!r} * shifted\n"
            f"    if reflected:\n"
            f"        value = {(-1.0) ** n!r} * value - {math.pi ** (n + 1)!r} * ({cot})\n"
            f"    return value\n")


def _cot_derivative(n: int) -> list[int]:
    """Coefficients of P_n, where d^n/dx^n cot(pi x) = pi^n P_n(cot(pi x)): P_0 = c and
    P_(k+1) = -(1 + c^2) P_k'(c), since d/dx cot(pi x) = -pi (1 + cot(pi x)^2)."""
    p = [0, 1]
    for _ in range(n):
        derivative = [k * p[k] for k in range(1, len(p))] + [0]
        p = [0] * (len(derivative) + 2)
        for k, c in enumerate(derivative):
            p[k] -= c
            p[k + 2] -= c
    return p

BUILTINS = (
    # sinh, cosh and tanh whose assumptions cost nothing (symgrad.hyperbolic)
    *(Builtin(name, f"symgrad.hyperbolic.{name}", 1, 1, layer=True)
      for name in ("tanh", "sinh", "cosh")),
    Builtin("exp", "exp", 1, 1, layer=True),
    Builtin("log", "symgrad.functions.logarithm", 1, 2, layer=True),  # log(x, base)
    Builtin("sqrt", "sqrt", 1, 1, layer=True),
    Builtin("abs", "Abs", 1, 1, layer=True, aliases=("Abs",)),
    Builtin("sin", "sin", 1, 1, layer=True),
    Builtin("cos", "cos", 1, 1, layer=True),
    Builtin("tan", "tan", 1, 1, layer=True),
    *(Builtin(name, name, 1, 1, layer=True)
      for name in ("asin", "acos", "atan", "asinh", "acosh", "atanh", "erf",
                   "erfc")),
    Builtin("atan2", "atan2", 2, 2),                 # atan2(y, x), the angle of (x, y)
    Builtin("sinc", "sinc", 1, 1),                   # sin(x)/x, 1 at 0 (symgrad's sinc_d)
    # SymPy's Max and Min, built in linear time for three or more arguments
    Builtin("max", "symgrad.extrema.Max", 2, math.inf, aliases=("Max",)),
    Builtin("min", "symgrad.extrema.Min", 2, math.inf, aliases=("Min",)),
    Builtin("log1p", "codegen.cfunctions.log1p", 1, 1, layer=True),
    Builtin("expm1", "codegen.cfunctions.expm1", 1, 1, layer=True),
    Builtin("gamma", "gamma", 1, 1),
    Builtin("lgamma", "loggamma", 1, 1, aliases=("loggamma",)),  # log|gamma(x)|, as math's
    Builtin("digamma", "digamma", 1, 1),
    Builtin("polygamma", "symgrad.functions.polygamma_of", 2, 2),  # polygamma(n, x), n whole
    # steps: derivative 0 wherever it exists, and taken as 0 at the jumps (PyTorch, JAX)
    Builtin("sign", "sign", 1, 1),
    Builtin("floor", "floor", 1, 1, helpers=FLOOR),
    Builtin("ceil", "ceiling", 1, 1, aliases=("ceiling",), helpers=CEILING),
    Builtin("heaviside", "Heaviside", 1, 2, aliases=("Heaviside",)),  # value 1/2 at 0
    Builtin("mod", "Mod", 2, 2, aliases=("Mod",)),   # x - y*floor(x/y): the sign of y
)


def helper_sources(dialect: str) -> dict[str, HelperSource]:
    """{SymPy class name: its helper} for the functions that have one in ``dialect``."""
    return {**{b.sympy.rsplit(".", 1)[-1]: b.helpers[dialect] for b in BUILTINS
               if dialect in b.helpers},
            **{name: p.helpers[dialect] for name, p in PRIMITIVES.items()
               if dialect in p.helpers}}


def layer_names() -> tuple[str, ...]:
    """The functions a chain accepts as an elementwise layer, symgrad's first, in table order."""
    return tuple(f.name for f in (*PRIMITIVES.values(), *BUILTINS) if f.layer)
