"""The building blocks: activations as SymPy Functions that carry their own derivative rules.

Each class is a SymPy ``Function`` whose ``fdiff`` writes the derivative with the node's own
value where the math allows it (sigmoid' = sigmoid*(1 - sigmoid), logsumexp' = exp(z_i - lse)),
so reverse accumulation reuses the forward value instead of recomputing an exp. ``as_builtin``
spells each one with SymPy's own functions, for people and tools that do not know symgrad.
Numerics live in the code printer, not here: these are pure math.
"""
from __future__ import annotations

import sympy as sp


class SymgradBase(sp.Function):
    """Base of symgrad's functions: printed as calls to stable helpers, rewritable to builtins."""

    def as_builtin(self) -> sp.Expr:
        raise NotImplementedError

    def _eval_evalf(self, prec):
        return self.as_builtin()._eval_evalf(prec)

    def _latex(self, printer):
        args = ", ".join(printer._print(a) for a in self.args)
        return rf"\operatorname{{{self.latex_name}}}\left({args}\right)"

    latex_name = "f"


class sigmoid(SymgradBase):
    """The logistic function 1/(1 + exp(-z))."""

    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_zero:
            return sp.S.Half

    def fdiff(self, argindex=1):
        return self * (1 - self)

    def as_builtin(self):
        return 1 / (1 + sp.exp(-self.args[0]))

    def _latex(self, printer):
        return rf"\sigma\left({printer._print(self.args[0])}\right)"


class softplus(SymgradBase):
    """log(1 + exp(z)); its derivative is sigmoid(z)."""

    nargs = 1
    latex_name = "softplus"

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def as_builtin(self):
        return sp.log(1 + sp.exp(self.args[0]))


class relu(SymgradBase):
    """max(z, 0); its derivative is taken as 0 at z = 0, as in PyTorch."""

    nargs = 1
    latex_name = "ReLU"

    def fdiff(self, argindex=1):
        return sp.Heaviside(self.args[0], 0)

    def as_builtin(self):
        return sp.Max(self.args[0], 0)


class leaky_relu(SymgradBase):
    """z for z > 0, a*z otherwise (a defaults to 0.01); slope a at z = 0, as in PyTorch."""

    nargs = (1, 2)
    latex_name = "LeakyReLU"

    @classmethod
    def eval(cls, z, a=None):
        if a is None:
            return cls(z, sp.Rational(1, 100))

    def fdiff(self, argindex=1):
        z, a = self.args
        if argindex == 1:
            return sp.Heaviside(z, 0) + a * sp.Heaviside(-z, 1)
        return sp.Min(z, 0)

    def as_builtin(self):
        z, a = self.args
        return sp.Max(z, 0) + a * sp.Min(z, 0)


class elu(SymgradBase):
    """z for z > 0, alpha*(exp(z) - 1) otherwise (alpha defaults to 1)."""

    nargs = (1, 2)
    latex_name = "ELU"

    @classmethod
    def eval(cls, z, alpha=None):
        if alpha is None:
            return cls(z, sp.S.One)

    def fdiff(self, argindex=1):
        z, alpha = self.args
        if argindex == 1:
            return sp.Piecewise((1, z > 0), (self + alpha, True))
        return sp.Piecewise((0, z > 0), (sp.exp(z) - 1, True))

    def as_builtin(self):
        z, alpha = self.args
        return sp.Piecewise((z, z > 0), (alpha * (sp.exp(z) - 1), True))


class logsumexp(SymgradBase):
    """log(sum_k exp(z_k)), evaluated max-shifted; d/dz_i = exp(z_i - logsumexp) = softmax_i."""

    latex_name = "logsumexp"

    def fdiff(self, argindex=1):
        # evaluate=False: exp's own simplification (logcombine, assumption queries on the
        # whole argument) took seconds on a 400-parameter network's logits, for nothing
        return sp.exp(self.args[argindex - 1] - self, evaluate=False)

    def as_builtin(self):
        return sp.log(sp.Add(*(sp.exp(z) for z in self.args)))


FUNCTIONS = (sigmoid, softplus, relu, leaky_relu, elu, logsumexp)
KEPT_IN_BUILTIN_FORM = (sigmoid, softplus, relu)


def to_builtins(expr: sp.Expr, keep=KEPT_IN_BUILTIN_FORM) -> sp.Expr:
    """Spell symgrad's functions with SymPy's own, except those in ``keep``."""
    return expr.replace(
        lambda e: isinstance(e, SymgradBase) and not isinstance(e, keep),
        lambda e: e.as_builtin(),
    )
