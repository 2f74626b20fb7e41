"""Second derivatives: Model -> Curvature (the programs of ``compile(..., order=2)``).

Two sets of quantities, each lowered to one straight-line Program that the backends run over
the rows in one pass:

- the **Hessian** of the row loss: its partials (``reverse.derive``) expanded into one DAG,
  then each partial differentiated again by the same reverse accumulation, only with respect
  to the parameters at or after its own (the Hessian is symmetric: each pair once). Every
  pass is linear in the size of the gradient, so the Hessian program grows with
  parameters x model size, never with the size of expanded formulas;
- for a row loss that is a **sum of squares** ``sum_i c_i * r_i**2`` (mse, sse, weighted or
  several residuals; ``least_squares_residuals`` finds them), the residuals sqrt(c_i)*r_i and
  their Jacobian entries: the kernels add up RSS, J^T r and J^T J from them without storing
  the rows x parameters Jacobian (Gauss-Newton, for Levenberg-Marquardt);
- for a model with a prediction, the prediction's Jacobian, which a kernel gives per row.

A derivative that is exactly zero where a Piecewise branch is not taken (``strong_product``)
stays so in the second pass: strong_product(a, b) is read as a * where(a == 0, 0, b), whose
Piecewise the reverse pass treats as it treats the user's own.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import sympy as sp

from .functions import strong_product
from .model import Model
from .program import Program, lower_values
from .reverse import accumulate, derive
from .rewrite import stabilize
from .runtime.second_order import HESSIAN_LIMIT  # parameters: beyond, no Hessian


@dataclass(frozen=True)
class Curvature:
    """The second-order programs of a model, over its parameters written out (no blocks)."""
    hessian: Program | None                 # outputs: loss, gradient entries, Hessian entries
    gradient_index: tuple[int, ...]         # theta index of each gradient entry
    pairs: tuple[tuple[int, int], ...]      # (k, j), k <= j, of each Hessian entry
    residuals: Program | None = None        # least squares: r_1..r_m, then Jacobian entries
    jacobian: tuple[tuple[int, int], ...] = ()  # (residual, theta index) of each entry
    prediction: Program | None = None       # the prediction's outputs, then Jacobian entries
    prediction_jacobian: tuple[tuple[int, int], ...] = ()  # (output, theta index) of each
    weights: tuple[tuple[int, bool], ...] = ()  # least squares: (input, > 0 not >= 0) checked


def curvature(model: Model) -> Curvature:
    """The Hessian program of the model's row loss (up to HESSIAN_LIMIT parameters), and its
    Gauss-Newton program when the row loss is a sum of squares."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))
    hessian, gradient_index, pairs = hessian_program(model) \
        if len(model.params) <= HESSIAN_LIMIT else (None, (), ())
    squares = least_squares_residuals(model)
    program, jacobian = (None, ()) if squares is None else \
        jacobian_program(model, squares[0])
    outputs = model.prediction
    if outputs is not None:
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        prediction, prediction_jacobian = jacobian_program(model, tuple(map(stabilize, outputs)))
    else:
        prediction, prediction_jacobian = None, ()
    return Curvature(hessian, gradient_index, pairs, program, jacobian, prediction,
                     prediction_jacobian, squares[1] if squares else ())


def hessian_program(model: Model) -> tuple[Program, tuple, tuple]:
    """(program of loss, non-zero partials, non-zero Hessian entries k <= j; their indexes)."""
    gradient = derive(model)
    partials = expanded(gradient.partials, dict(gradient.adjoints))
    definitions: dict = {}
    entries, pairs = [], []
    for k, partial in enumerate(partials):
        if partial == 0:
            continue
        adjoints, seconds = accumulate(strong_as_selected(partial), model.params,
                                       wrt=model.params[k:])
        definitions.update(adjoints)
        for j in range(k, len(model.params)):
            if seconds[j] != 0:
                entries.append(seconds[j])
                pairs.append((k, j))
    entries = [common_factors_out(e) for e in expanded(entries, definitions)]
    gradient_index = tuple(k for k, partial in enumerate(partials) if partial != 0)
    roots = (gradient.loss, *(partials[k] for k in gradient_index), *entries)
    return lower_values(model, roots, definitions), gradient_index, tuple(pairs)


def jacobian_program(model: Model, residuals) -> tuple[Program, tuple]:
    """(program of the residuals (or any row values) then their non-zero Jacobian entries,
    (residual, theta index) of each entry)."""
    definitions: dict = {}
    entries, jacobian = [], []
    for i, residual in enumerate(residuals):
        adjoints, partials = accumulate(residual, model.params)
        definitions.update(adjoints)
        for k, partial in enumerate(partials):
            if partial != 0:
                entries.append(partial)
                jacobian.append((i, k))
    return lower_values(model, (*residuals, *entries), definitions), tuple(jacobian)


def least_squares_residuals(model: Model) -> tuple[tuple[sp.Expr, ...], tuple] | None:
    """(residuals r_i with the row loss == sum r_i**2, each stable-rewritten; the weights to
    check in the data) when the row loss is a sum of terms c * w * f**2 (f**4 is
    (f**2)**2): c a positive number, w a weight free of the parameters, f depending on
    them; else None. A weight is a column (or a power of one: 1/variance, sqrt(w)), which
    the data must keep >= 0 (> 0 for a negative power; (input index, strict) of each), or
    any other factor free of the parameters (exp(-t), 1 + t, where(t > 5, 1, 2)); its
    square root is a factor of the residual, NaN in a row where it is negative, which stops
    the fit. A weight of a sum of squares, w*(f**2 + g**2), weighs each; (1 + t)*f**2 is
    one weighted square, not f**2 + t*f**2 (two observations a row, t >= 0 demanded)."""
    residuals, checks = [], {}
    for term in sp.Add.make_args(model.loss):
        roots = [_square_root(term, model)]
        if roots[0] is None:  # w*(f**2 + g**2): a weight over a sum of squares
            roots = [_square_root(t, model)
                     for t in sp.Add.make_args(sp.expand_mul(term, deep=False))]
        if None in roots:
            return None
        for residual, weights in roots:
            residuals.append(stabilize(residual))
            checks.update({j: checks.get(j, False) or strict for j, strict in weights.items()})
    return tuple(residuals), tuple(sorted(checks.items()))


def _square_root(term: sp.Expr, model: Model):
    """(f with f**2 == term, {input index: strict} of its column weights), for a positive
    number times even powers and weights (in a term with parameters), else None."""
    coefficient, factors = term.as_coeff_mul()
    if not (coefficient.is_Number and coefficient > 0) or not factors:
        return None
    roots, weights, columns = [], [], {}
    for factor in factors:
        base, exponent = factor.as_base_exp()
        if exponent.is_Integer and exponent % 2 == 0:
            roots.append(base ** (exponent // 2))
        elif factor.has(*model.params):
            return None
        elif base in model.inputs and exponent.is_number and exponent.is_real:
            index = model.inputs.index(base)
            columns[index] = columns.get(index, False) or bool(exponent < 0)
            weights.append(sp.sqrt(factor))
        else:  # free of the parameters: a weight (exp(-t), 1 + t); negative, its root is NaN
            weights.append(sp.sqrt(factor))
    if weights and not term.has(*model.params):
        return None
    return _root_of(coefficient) * sp.Mul(*weights, *roots), columns


def _root_of(number: sp.Number) -> sp.Number:
    """sqrt(number), exact where it is rational, else a 20-digit Float: SymPy keeps
    sqrt(10**400 + 1)/10**100 (from 1e200 + 1e-200) as a root of an integer that a
    backend prints as inf."""
    root = sp.sqrt(number)
    return root if root.is_Rational else sp.Float(root.evalf(20), 20)


def common_factors_out(expr: sp.Expr) -> sp.Expr:
    """A sum's symbols common to all its terms, taken out (x0*x1*(a + b) for a*x0*x1 +
    b*x0*x1), in a sum or in the sums a product multiplies: one level, linear in the
    terms. Only symbols: they cancel exactly (a factor that may be 0, a Piecewise selector,
    would leave a division by it). Every Hessian entry of a linear predictor then reads c*x_j*x_k with one c
    shared by all (CSE), where its terms would each repeat the work."""
    if expr.is_Mul:
        return sp.Mul(*(common_factors_out(f) if f.is_Add else f for f in expr.args))
    if not expr.is_Add:
        return expr
    shared = None
    for term in expr.args:
        powers = {}
        for factor in sp.Mul.make_args(term):
            base, exponent = factor.as_base_exp()
            if exponent.is_Integer and exponent > 0 and base.is_Symbol:
                powers[base] = powers.get(base, 0) + int(exponent)
        shared = powers if shared is None else \
            {b: min(e, powers[b]) for b, e in shared.items() if b in powers}
        if not shared:
            return expr
    common = sp.Mul(*(b ** e for b, e in shared.items()))
    return common * sp.Add(*(term / common for term in expr.args))


def expanded(values, definitions) -> tuple[sp.Expr, ...]:
    """values with every adjoint symbol replaced by its definition, built bottom-up once per
    node (equal subexpressions stay one node: the DAG stays linear in the gradient's size)."""
    built: dict = {}

    def build(node):
        if node in built:
            return built[node]
        stack = [(node, False)]
        while stack:
            current, ready = stack.pop()
            if current in built:
                continue
            children = (definitions[current],) if current in definitions else \
                () if current.is_Atom else current.args
            if not ready:
                stack.append((current, True))
                stack.extend((c, False) for c in children if c not in built)
                continue
            if current in definitions:
                built[current] = built[definitions[current]]
            elif current.is_Atom:
                built[current] = current
            else:
                built[current] = current.func(*(built[c] for c in current.args))
        return built[node]
    return tuple(build(v) for v in values)


def strong_as_selected(expr: sp.Expr) -> sp.Expr:
    """strong_product(a, b) as a * where(a == 0, 0, b): the same values, and a form whose
    derivative (through the Piecewise) is 0 wherever a is, whatever b's is."""
    if not expr.has(strong_product):
        return expr
    return expr.replace(lambda e: isinstance(e, strong_product),
                        lambda e: e.args[0] * sp.Piecewise((sp.S.Zero, sp.Eq(e.args[0], 0)),
                                                           (e.args[1], True)))
