"""KernelSpec: everything a backend needs to write a kernel module, and nothing else.

The front end builds it from a Model (derive, lower, rename); a backend turns it into the
source of one Python module with ``loss_and_gradient(theta, n, chunks, *columns)`` returning
per-chunk sums (loss, each non-zero partial, then a finiteness check of the data), and, when
the model has a prediction, ``predict(theta, n, *columns)`` returning one value per row.
``columns`` are the 1-D data columns the kernel reads, then (a backend that loops: ``Loops``)
one 2-D matrix per data vector of an inner product or term family's varying column, rows x
entries.
With ``order=2`` (``SecondOrder``) it also defines ``hessian_sums(theta, n, chunks, *columns)``
(per-chunk sums of the loss, gradient and Hessian entries, then the data check), for a
sum-of-squares loss ``gauss_newton_sums`` (RSS, J^T r, J^T J's upper triangle row by row,
then the data check), and for
a model with a prediction ``jacobian(theta, n, *columns)`` (rows x outputs x parameters).
``meta`` is written into the module, so a cached module is usable without deriving again.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..program import Program


@dataclass(frozen=True)
class FamilyLoop:
    """A term family (symgrad.families) as the kernels compute it: a loop over its terms, each
    the template's program at the term's parameters and numbers. Placeholder j of the
    template's parameters is, in term k, theta[theta[j][k]], and its partials times the
    family's adjoint add into the family accumulator's entry slots[j][k]. Column placeholder
    i is, in term k, column k of data matrix ``matrices[i]``; power placeholder i is, in term
    k, powers[i]'s base (a column, or an expression of columns) to the power powers[i][1][k]."""
    name: str                                  # the family's row value in the kernels
    theta: tuple[tuple[int, ...], ...]         # per parameter placeholder, per term
    constants: tuple[tuple[float, ...], ...]   # per number placeholder, per term
    slots: tuple[tuple[int, ...], ...]         # per parameter placeholder, per term
    value: Program                             # params: the placeholders; outputs: the term
    gradient: Program                          # outputs: the term, its partials
    matrices: tuple[int, ...] = ()             # per column placeholder, its data matrix
    powers: tuple[tuple, ...] = ()             # per power placeholder: (base, exponents)

    @property
    def size(self) -> int:
        """The number of terms (every term has a parameter)."""
        return len(self.theta[0])

    def reads(self) -> set:
        """The symbols its loop reads: its template's, and the columns of its powers."""
        return self.gradient.free_symbols().union(*(base.free_symbols
                                                    for base, _ in self.powers))


@dataclass(frozen=True)
class Loops:
    """The vector blocks (symgrad.blocks) and term families (symgrad.families) of a model, as
    the kernels lay them out. The gradient program's parameters are the scalar ones
    (theta_index says where each is in theta); its outputs after the loss and scalar
    partials are the dots' adjoints, in dots order, then the families' adjoints. In the
    per-chunk sums each vector block's partials follow the scalar ones, then the partials
    of the parameters only families use (the first ``own`` accumulator slots); the other
    slots' parameters also have a scalar partial, which they add into (``shared``: its
    column, slot by slot)."""
    theta_index: tuple[int, ...] = ()            # theta index of each program parameter
    vectors: tuple[tuple[int, ...], ...] = ()    # each block's theta indexes, entry order
    matrices: tuple[tuple[int, ...], ...] = ()   # each data matrix's input indexes
    dots: tuple[tuple, ...] = ()                 # (row value, its vector, its matrix)
    families: tuple[FamilyLoop, ...] = ()
    slot_theta: tuple[int, ...] = ()             # theta index of each accumulator slot
    own: int = 0                                 # slots [0, own): a column of their own
    shared: tuple[int, ...] = ()                 # the scalar partial's column of the rest

    @staticmethod
    def dot_name(k: int):
        """The symbol of dot k's row value in the kernels (a leading underscore: no user
        symbol keeps one in generated code)."""
        import sympy as sp
        return sp.Symbol(f"_dot{k}")

    @staticmethod
    def family_name(f: int):
        """The symbol of family f's row value in the kernels."""
        import sympy as sp
        return sp.Symbol(f"_fam{f}")

    def named(self) -> "Loops":
        """The same layout with each dot's and family's row value by its name in the
        kernels."""
        return replace(self, dots=tuple((self.dot_name(k).name, v, m)
                                        for k, (_, v, m) in enumerate(self.dots)),
                       families=tuple(replace(f, name=self.family_name(k).name)
                                      for k, f in enumerate(self.families)))

    def used(self, program) -> tuple[tuple, ...]:
        """The dots a program reads."""
        names = {s.name for s in program.free_symbols()}
        return tuple(d for d in self.dots if d[0] in names)

    def used_families(self, program) -> tuple[FamilyLoop, ...]:
        """The families a program reads."""
        names = {s.name for s in program.free_symbols()}
        return tuple(f for f in self.families if f.name in names)

    @property
    def adjoint_count(self) -> int:
        """The gradient program's outputs after the loss and scalar partials."""
        return len(self.dots) + len(self.families)


UNROLLED_JACOBIAN = 24  # J^T J over at most this many columns as straight-line sums


@dataclass(frozen=True)
class SecondOrder:
    """The programs of ``compile(..., order=2)`` (symgrad.curvature), over every parameter
    written out, and the data columns each reads (input indexes)."""
    hessian: Program | None                   # loss, gradient entries, Hessian entries
    hessian_columns: tuple[int, ...]
    gradient_index: tuple[int, ...]           # theta index of each gradient entry
    pairs: tuple[tuple[int, int], ...]        # (k, j), k <= j, of each Hessian entry
    residuals: Program | None = None          # least squares: r_1..r_m, Jacobian entries
    residual_columns: tuple[int, ...] = ()
    jacobian: tuple[tuple[int, int], ...] = ()  # (residual, theta index) of each entry
    weights: tuple[tuple[int, bool], ...] = ()  # weight columns: (input, must be > 0 not >= 0)
    prediction: Program | None = None         # the prediction's outputs, Jacobian entries
    prediction_columns: tuple[int, ...] = ()
    prediction_jacobian: tuple[tuple[int, int], ...] = ()  # (output, theta index) of each

    @property
    def residual_count(self) -> int:
        return len(self.residuals.outputs) - len(self.jacobian) if self.residuals else 0

    @property
    def output_count(self) -> int:
        """The prediction's outputs (before its Jacobian entries in ``prediction``)."""
        return len(self.prediction.outputs) - len(self.prediction_jacobian) \
            if self.prediction else 0

    @property
    def jacobian_index(self) -> tuple[int, ...]:
        """The theta indexes with a non-zero Jacobian entry, ascending: the columns of the
        J^T J the kernel adds up."""
        return tuple(sorted({k for _, k in self.jacobian}))

    def gauss_newton_program(self) -> Program:
        """One row's share of the Gauss-Newton sums, as a program a backend sums like the
        gradient's: RSS, J^T r, then J^T J's upper triangle row by row, over
        ``jacobian_index``. Each residual and Jacobian entry is a named temporary, their
        products the outputs (for J^T J over up to UNROLLED_JACOBIAN columns: beyond, the
        code would grow as their square)."""
        import sympy as sp

        program, count = self.residuals, self.residual_count
        position = {k: a for a, k in enumerate(self.jacobian_index)}
        temps = list(program.temps)
        residuals = [sp.Symbol(f"_r{i}") for i in range(count)]
        temps += zip(residuals, program.outputs[:count])
        entries = [{} for _ in range(count)]
        for e, (i, k) in enumerate(self.jacobian):
            entries[i][position[k]] = sp.Symbol(f"_j{i}_{position[k]}")
            temps.append((entries[i][position[k]], program.outputs[count + e]))
        q = len(position)
        outputs = [sp.Add(*(r * r for r in residuals))]
        outputs += [sp.Add(*(row[a] * r for row, r in zip(entries, residuals) if a in row))
                    for a in range(q)]
        outputs += [sp.Add(*(row[a] * row[b] for row in entries if a in row and b in row))
                    for a in range(q) for b in range(a, q)]
        return Program(program.params, program.inputs, tuple(temps), tuple(outputs))

    def meta(self) -> dict:
        """order 2, and each function's layout (None: not compiled)."""
        hessian = None if self.hessian is None else {
            "columns": list(self.hessian_columns), "gradient_index": list(self.gradient_index),
            "pairs": [list(p) for p in self.pairs]}
        gauss_newton = None if self.residuals is None else {
            "columns": list(self.residual_columns), "jacobian_index": list(self.jacobian_index),
            "residuals": self.residual_count, "weights": [list(w) for w in self.weights]}
        jacobian = None if self.prediction is None else {
            "columns": list(self.prediction_columns),
            "outputs": self.output_count,
            "pairs": [list(p) for p in self.prediction_jacobian]}
        return {"order": 2, "hessian": hessian, "gauss_newton": gauss_newton,
                "jacobian": jacobian}


KINKS = frozenset({"Abs", "sign", "Heaviside", "Piecewise", "Max", "Min", "floor", "ceiling",
                   "Mod", "relu", "leaky_relu"})


def kinked(program) -> bool:
    """Whether a gradient program's loss has kinks or jumps in the parameters (abs, max, relu
    of an expression in them, or where(condition, ...) with one in the condition: its
    derivatives hold sign, Heaviside or a Piecewise of them), where a Hessian says nothing
    of the loss beside it (symgrad.fitting: lbfgs, not Newton, and no standard errors from
    it). where(x > 5, a*x, b*x) is smooth in a and b."""
    import sympy as sp

    moving = set(program.params)  # the parameters, and the temporaries computed from them
    for symbol, value in program.temps:
        if value.free_symbols & moving:
            moving.add(symbol)

    def kinks(f) -> bool:
        parts = [condition for _, condition in f.args] if isinstance(f, sp.Piecewise) \
            else f.args
        return any(getattr(part, "free_symbols", set()) & moving for part in parts)
    expressions = (*(value for _, value in program.temps), *program.outputs)
    return any(type(f).__name__ in KINKS and kinks(f)
               for e in expressions for f in e.atoms(sp.Function, sp.Max, sp.Min)) or \
        any(_even_root(f, dict(program.temps), moving)
            for e in expressions for f in e.atoms(sp.Pow))


def _even_root(power, definitions: dict, moving: set) -> bool:
    """Whether power is (u**(2k))**p = |u|**(2kp) with 2kp < 2 and u moving with the
    parameters: sqrt((yhat - y)**2) is abs(yhat - y), a kink at 0 (its Hessian unbounded
    beside it for 2kp < 2). A base that is a temporary is read through its definition."""
    base, exponent = power.args
    for _ in range(len(definitions) + 1):  # (a temporary defined as another, in a chain)
        if base not in definitions:
            break
        base = definitions[base]
    if not (exponent.is_number and exponent.is_integer is False and base.is_Pow):
        return False
    inner, even = base.args
    return bool(even.is_even and even * exponent < 2 and inner.free_symbols & moving)


def refuse_overflowing_constants(programs, dtype: str) -> None:
    """A SymgradError for a constant the kernels would compute as inf (exp(1000) in float64,
    1e300 in float32): no parameter value could make such a model finite, and training
    would only report a divergence."""
    import numpy as np
    import sympy as sp

    from ..errors import SymgradError

    info = np.finfo(dtype)
    most, least = sp.Float(float(info.max)), sp.Float(float(info.smallest_subnormal))
    for program in filter(None, programs):
        for expr in (*(value for _, value in program.temps), *program.outputs):
            nodes = sp.preorder_traversal(expr)
            for node in nodes:
                if not node.is_number or (node.is_Atom and not node.is_Number):
                    continue
                nodes.skip()  # (its arguments are constants too)
                value = node if node.is_Number else node.evalf(17)
                if not value.is_Number or least / 2 <= abs(value) <= most or value == 0:
                    continue
                shown = sp.sstr(sp.N(node, 6) if node.is_Number else node)[:60]
                beyond, then = ("beyond", "inf") if abs(value) > most else ("below", "0")
                raise SymgradError(f"the constant {shown} (in the model or its derivatives) "
                                   f"is {beyond} {dtype}'s range: the kernels would compute "
                                   f"it as {then}, whatever the parameters")


@dataclass(frozen=True)
class KernelSpec:
    params: tuple[str, ...]                    # the caller's names, in theta order
    inputs: tuple[str, ...]                    # the caller's names, in data-column order
    gradient: Program                          # outputs: loss, then the non-zero partials
    nonzero: tuple[int, ...]                   # theta indexes of those partials
    columns: tuple[int, ...]                   # input indexes the gradient kernel reads
    prediction: Program | None = None          # outputs: the prediction
    prediction_columns: tuple[int, ...] = ()   # input indexes the prediction reads
    reduction: str = "mean"
    dtype: str = "float64"
    loops: Loops = field(default_factory=Loops)
    second: SecondOrder | None = None          # order=2: the Hessian and Gauss-Newton sums

    def __post_init__(self):
        refuse_overflowing_constants((self.gradient, self.prediction, *(
            f.gradient for f in self.loops.families)), self.dtype)

    def meta(self) -> dict:
        return {"params": list(self.params), "inputs": list(self.inputs),
                "nonzero": list(self.nonzero), "columns": list(self.columns),
                "has_prediction": self.prediction is not None,
                "prediction_columns": list(self.prediction_columns),
                "reduction": self.reduction, "dtype": self.dtype,
                "matrices": [list(self.loops.matrices[m]) for m in self.matrix_ids()],
                "prediction_matrices": [list(self.loops.matrices[m])
                                        for m in self.matrix_ids(self.prediction)],
                "kinked": any(kinked(p) for p in (self.gradient, *(f.gradient for f in
                                                                  self.loops.families))),
                **(self.second.meta() if self.second else {})}

    def matrix_ids(self, program=None) -> list[int]:
        """The data matrices a program (the gradient's by default) reads, in its argument
        order."""
        program = self.gradient if program is None else program
        if program is None:
            return []
        return sorted({m for _, _, m in self.loops.used(program)} |
                      {m for f in self.loops.used_families(program) for m in f.matrices})

    def gradient_inputs(self) -> list:
        """The input symbols the gradient kernel reads, in its argument order."""
        return [self.gradient.inputs[j] for j in self.columns]

    def prediction_inputs(self) -> list:
        """The input symbols the prediction reads, in its argument order."""
        return [self.prediction.inputs[j] for j in self.prediction_columns]

    def hessian_inputs(self) -> list:
        return [self.second.hessian.inputs[j] for j in self.second.hessian_columns]

    def residual_inputs(self) -> list:
        return [self.second.residuals.inputs[j] for j in self.second.residual_columns]

    def jacobian_inputs(self) -> list:
        return [self.second.prediction.inputs[j] for j in self.second.prediction_columns]
