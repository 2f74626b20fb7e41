"""The shared printer: scalar SymPy expressions as Python source, symgrad functions as helpers.

SymPy's PythonCodePrinter already prints arithmetic, ``math`` functions, Piecewise and
Heaviside. This subclass adds one method for every symgrad function (via their common base
class, which SymPy's dispatch finds on the MRO): a call to a helper whose stable definition is
recorded in ``helpers``, so the surrounding module can emit exactly the helpers it uses. The
helper bodies are plain scalar Python with ``math``, which Numba also compiles.
"""
from __future__ import annotations

from sympy.printing.pycode import PythonCodePrinter

from ..functions import SymgradBase

HELPERS = {
    "sigmoid": '''\
def sigmoid(z):
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)
''',
    "softplus": '''\
def softplus(z):
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))
''',
    "relu": '''\
def relu(z):
    return z if z > 0.0 else 0.0
''',
    "leaky_relu": '''\
def leaky_relu(z, a):
    return z if z > 0.0 else a * z
''',
    "elu": '''\
def elu(z, alpha):
    return z if z > 0.0 else alpha * math.expm1(z)
''',
}


def logsumexp_helper(arity: int) -> str:
    """The max-shifted log-sum-exp of a fixed number of arguments."""
    args = ", ".join(f"z{k}" for k in range(arity))
    shifted = " + ".join(f"math.exp(z{k} - m)" for k in range(arity))
    return (f"def logsumexp{arity}({args}):\n"
            f"    m = max({args}, -math.inf)\n"
            f"    if m == math.inf:\n"
            f"        return math.inf\n"
            f"    return m + math.log({shifted})\n")


class ScalarPrinter(PythonCodePrinter):
    """Python source for one scalar expression; records the helpers it calls."""

    def __init__(self, settings=None):
        super().__init__(settings)
        self.helpers: dict[str, str] = {}

    def _print_SymgradBase(self, expr: SymgradBase) -> str:
        name, source = self._helper(expr)
        self.helpers.setdefault(name, source)
        args = ", ".join(self._print(a) for a in expr.args)
        return f"{name}({args})"

    def _helper(self, expr) -> tuple[str, str]:
        name = type(expr).__name__
        if name == "logsumexp":
            return f"logsumexp{len(expr.args)}", logsumexp_helper(len(expr.args))
        return name, HELPERS[name]
