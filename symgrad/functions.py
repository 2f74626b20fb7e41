"""The building blocks' math: SymPy Functions that carry their own derivative rules.

Each class is a SymPy ``Function`` whose ``fdiff`` writes the derivative with the node's own
value where the math allows it (sigmoid' = sigmoid*(1 - sigmoid), logsumexp' = exp(z_i - lse)),
so reverse accumulation reuses the forward value instead of recomputing an exp. ``as_builtin``
spells each one with SymPy's own functions, for people and tools that do not know symgrad.
The rest of a function's entry (its arity, whether it is a layer, its stable numerics in each
code dialect) is plain data in ``symgrad.primitives``, under the class's name; each class takes
its ``nargs`` from there, so the parser and SymPy agree on the arity by construction.
"""
from __future__ import annotations

import math

import sympy as sp

from .primitives import PRIMITIVES


def _nargs(name: str):
    """SymPy's spelling of a registry entry's arity: 1, (1, 2), or None for any number."""
    entry = PRIMITIVES[name]
    if entry.max_args == math.inf:
        return None
    return tuple(range(entry.min_args, int(entry.max_args) + 1))


class SymgradBase(sp.Function):
    """Base of symgrad's functions: printed as calls to stable helpers, rewritable to builtins."""

    def as_builtin(self) -> sp.Expr:
        raise NotImplementedError

    def _eval_evalf(self, prec):
        return self.as_builtin()._eval_evalf(prec)

    def _latex(self, printer, exp=None):  # (exp: the power it is raised to, sinc(x)**2)
        body = self._latex_body(printer)
        if exp is None:
            return body
        return rf"{body}^{{{exp}}}" if self.called else rf"\left({body}\right)^{{{exp}}}"

    called = True  # its LaTeX is a call, f(x): a power goes after it as it stands

    def _latex_body(self, printer):
        args = ", ".join(printer._print(a) for a in self.args)
        return rf"\operatorname{{{self.latex_name}}}\left({args}\right)"

    latex_name = "f"


class sigmoid(SymgradBase):
    """The logistic function 1/(1 + exp(-z))."""

    nargs = _nargs("sigmoid")

    @classmethod
    def eval(cls, z):
        if z.is_zero:
            return sp.S.Half

    def fdiff(self, argindex=1):
        return self * (1 - self)

    def as_builtin(self):
        return 1 / (1 + sp.exp(-self.args[0]))

    def _latex_body(self, printer):
        return rf"\sigma\left({printer._print(self.args[0])}\right)"


class softplus(SymgradBase):
    """log(1 + exp(z)); its derivative is sigmoid(z)."""

    nargs = _nargs("softplus")
    latex_name = "softplus"

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def as_builtin(self):
        return sp.log(1 + sp.exp(self.args[0]))


class relu(SymgradBase):
    """max(z, 0); its derivative is taken as 0 at z = 0, as in PyTorch."""

    nargs = _nargs("relu")
    latex_name = "ReLU"

    def fdiff(self, argindex=1):
        return sp.Heaviside(self.args[0], 0)

    def as_builtin(self):
        return sp.Max(self.args[0], 0)


class leaky_relu(SymgradBase):
    """z for z > 0, a*z otherwise (a defaults to 0.01); slope a at z = 0, as in PyTorch."""

    nargs = _nargs("leaky_relu")
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

    nargs = _nargs("elu")
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

    nargs = _nargs("logsumexp")
    latex_name = "logsumexp"

    def fdiff(self, argindex=1):
        # evaluate=False: exp's own simplification (logcombine, assumption queries on the
        # whole argument) took seconds on a 400-parameter network's logits, for nothing
        return sp.exp(self.args[argindex - 1] - self, evaluate=False)

    def as_builtin(self):
        return sp.log(sp.Add(*(sp.exp(z) for z in self.args)))


class strong_product(SymgradBase):
    """a*b, but exactly 0 where a is 0, even where b is inf or nan. Reverse accumulation
    multiplies the adjoint of a Piecewise branch not taken (0 there) by the derivatives
    computed inside it, which may be nan there (sqrt' at -1): they stay out of the gradient."""

    nargs = _nargs("strong_product")

    @classmethod
    def eval(cls, a, b):
        if a.is_zero or (b.is_Number and b.is_finite):  # an ordinary product is as strong
            return a * b

    def fdiff(self, argindex=1):
        a, b = self.args
        return b if argindex == 1 else a

    def as_builtin(self):
        return self.args[0] * self.args[1]

    called = False  # a * b

    def _latex_body(self, printer):
        return printer._print(self.as_builtin())


class sinc_d(SymgradBase):
    """The n-th derivative of sinc(x) = sin(x)/x (1 at 0), SymPy's sinc rebuilt as
    sinc_d(x, 0) (symgrad.dag.own_classes): SymPy's derivative, cos(x)/x - sin(x)/x**2,
    is nan at x = 0 (a row at t = 0 of A*sinc(k*t) made every gradient nan)."""

    nargs = _nargs("sinc_d")
    latex_name = "sinc"

    @classmethod
    def eval(cls, x, n):
        if x.is_zero and n.is_Integer:  # the series' constant term
            return sp.S.Zero if n % 2 else sp.Integer(-1) ** (n // 2) / (n + 1)

    def fdiff(self, argindex=1):
        x, n = self.args
        if argindex != 1:
            raise sp.ArgumentIndexError(self, argindex)
        return sinc_d(x, n + 1)

    def _sympystr(self, printer):  # sinc(z), as written; its n-th derivative sinc_d(z, n)
        x, n = (printer._print(a) for a in self.args)
        return f"sinc({x})" if self.args[1] == 0 else f"sinc_d({x}, {n})"

    def _latex_body(self, printer):
        x, n = (printer._print(a) for a in self.args)
        order = "" if self.args[1] == 0 else f"^{{({n})}}"
        return rf"\operatorname{{sinc}}{order}\left({x}\right)"

    def as_builtin(self):  # (the closed form, and its limit at 0)
        z = sp.Dummy("z")
        x, n = self.args
        return sp.Piecewise((sp.diff(sp.sin(z) / z, z, int(n)).subs(z, x), sp.Ne(x, 0)),
                            (sinc_d(sp.S.Zero, n), True))


class attains(sp.Function):
    """1 where a equals m, else 0: which arguments of a max or min m attain it (a step, its
    derivative 0; symgrad.extrema). A function, not Eq(a, m), which SymPy's cse rewrites
    (Eq(t + 1, m) as Eq(t, m - 1), another comparison in floats). Not in the registry: each
    printer writes it in place (``_print_attains``), as one helper call per argument made a
    100-argument max's Numba compile 40% slower."""

    nargs = 2

    @classmethod
    def eval(cls, a, m):
        if a.is_Number and m.is_Number:
            return sp.S.One if a == m else sp.S.Zero

    def fdiff(self, argindex=1):
        return sp.S.Zero

    def as_builtin(self):  # unevaluated: Piecewise's own checks cost 3 ms a call
        return sp.Piecewise((sp.S.One, sp.Eq(*self.args, evaluate=False)), (sp.S.Zero, True),
                            evaluate=False)


KEPT_IN_BUILTIN_FORM = (sigmoid, softplus, relu)


def to_builtins(expr: sp.Expr, keep=KEPT_IN_BUILTIN_FORM) -> sp.Expr:
    """Spell symgrad's functions with SymPy's own, except those in ``keep``."""
    return expr.replace(
        lambda e: isinstance(e, SymgradBase) and not isinstance(e, keep),
        lambda e: e.as_builtin(),
    )


class EqualToSympys:
    """Mixed in before one of SymPy's classes (``base``) by a symgrad class of the same name:
    equal to SymPy's of the same arguments, as its hash is (the class name and the
    arguments). Python asks a subclass first, so the equality is symmetric."""

    base: type

    def __eq__(self, other):
        if type(other) is self.base:
            return self.args == other.args
        return super().__eq__(other)

    __hash__ = sp.Basic.__hash__


def real_valued(expr):
    """expr read in real numbers, as symgrad computes: re(z) is z, im(z) is 0, conjugate(z)
    is z, and a derivative SymPy left unevaluated only for want of that (``sp.diff`` of Abs
    over symbols not declared real) evaluated. DiracDelta, the derivative of a step, is 0:
    the convention symgrad's own derivatives of steps follow."""
    complex_parts = (sp.re, sp.im, sp.conjugate)
    if not isinstance(expr, sp.Basic) or not expr.has(*complex_parts, sp.DiracDelta):
        return expr
    expr = expr.replace(lambda e: isinstance(e, sp.Derivative) and e.expr.has(*complex_parts),
                        lambda e: _as_real(e).doit())
    return _as_real(expr)


def _as_real(expr):
    expr = expr.replace(sp.re, lambda z: z).replace(sp.conjugate, lambda z: z)
    return expr.replace(sp.im, lambda z: sp.S.Zero).replace(sp.DiracDelta,
                                                            lambda *args: sp.S.Zero)


def logarithm(x, base=None):
    """The expression language's log: log(x), or log(x, base) = log(x)/log(base), with a
    constant base refused unless positive and not 1. SymPy reads log(x, 0) as 0 (log 0 is
    complex infinity, and x/zoo is 0) and log(x, 1) as zoo*log(x)."""
    if base is None:
        return sp.log(x)
    if base.is_number and not (base.is_positive and base != 1):
        from .errors import ParseError
        raise ParseError("log's base must be positive and not 1")
    return sp.log(x, base)


POLYGAMMA_ORDERS = 60  # polygamma(n, x) for n = 0..this: its series is good to ~1e-12 there
                       # (symgrad.primitives.polygamma_source), and n! below float64's range


def polygamma_of(order, x):
    """The expression language's polygamma(n, x), n a whole number 0..POLYGAMMA_ORDERS (SymPy
    takes any n, which no backend computes)."""
    if not (order.is_Integer and 0 <= order <= POLYGAMMA_ORDERS):
        from .errors import ParseError
        raise ParseError(f"polygamma's order must be a whole number from 0 to "
                         f"{POLYGAMMA_ORDERS}, not {order}")
    return sp.polygamma(order, x)
