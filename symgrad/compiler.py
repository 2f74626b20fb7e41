"""symgrad.compile: a model in, a fast ``f(theta, data) -> (loss, grad)`` out.

The front end of the code generator, as a pipeline:

    key material -> cache hit? -> module            (no derivation, no SymPy import)
                 -> miss: Model -> derive -> lower -> KernelSpec -> backend source -> module

and returns the module wrapped in ``Kernel`` (symgrad.runtime.kernel), the runtime side. This
module imports neither SymPy nor Numba at import time.
"""
from __future__ import annotations

import importlib
import json
from dataclasses import replace
from typing import Iterable, NamedTuple

from .codegen import BACKENDS, backend_named
from .codegen.cache import cache_key, load_or_build
from .errors import SymgradError
from .runtime.kernel import Kernel

REDUCTIONS = ("mean", "sum")
DTYPES = ("float64", "float32")
ORDERS = (1, 2)


def compile(loss, params=None, inputs=None, *, backend: str = "numba",
            reduction: str = "mean", dtype: str = "float64", order: int = 1) -> "Kernel":
    """Compile a loss (SymPy expression, Model or string) into a gradient kernel.

    ``params`` and ``inputs`` are sequences of names or Symbols (taken from the Model when one
    is given). The result ``f(theta, data)`` returns (loss, grad); see ``Kernel``. With
    ``order=2`` it also has ``f.hessian(theta, data)`` and, for a loss that is a sum of
    squares, ``f.gauss_newton(theta, data)`` (symgrad.curvature).
    """
    params, inputs = _names_given(loss, params, "params"), _names_given(loss, inputs, "inputs")
    if not isinstance(loss, str) and not hasattr(loss, "params"):  # vectors' entries: W[0]...
        from .model import entry_names, sympified
        expression = sympified(loss, "the loss")
        params, inputs = entry_names(expression, params), entry_names(expression, inputs)
    return compile_keyed(_key_material(loss), lambda: loss, params, inputs, backend=backend,
                         reduction=reduction, dtype=dtype, order=order)


def compile_keyed(key_material: str, build_loss, params: list[str] | None,
                  inputs: list[str] | None, *,
                  backend: str = "numba", reduction: str = "mean",
                  dtype: str = "float64", order: int = 1) -> "Kernel":
    """``compile`` for callers that can name their loss without building it: ``key_material``
    identifies it, and ``build_loss()`` (a Model, expression or string) runs only on a cache
    miss, so a hit imports no SymPy. ``params`` and ``inputs`` None: the Model's own, which
    the key material must then determine."""
    _check_option("backend", backend, tuple(BACKENDS))
    _check_option("reduction", reduction, REDUCTIONS)
    dtype = dtype_name(dtype)
    _check_option("dtype", dtype, DTYPES)
    _check_option("order", order, ORDERS)
    target = backend_named(backend)
    if order == 2 and dtype != "float64":  # J^T J squares the condition number, and the
        # solvers' tests are float64's (EPS, the loss changed by < tol**2 = 1e-20): with
        # float32's 7 digits fits would stop short of certified values (docs/dtype.md)
        raise SymgradError("fit computes in float64: second derivatives (order=2) are "
                           "compiled in float64 only; float32 is for first-order training")
    if order == 2 and not target.second_order:
        raise SymgradError(f"the {backend} backend has no second-order kernels (order=2): "
                           f"use numba or numpy")
    require_runtime(backend)
    key = cache_key(key_material, json.dumps([params, inputs]), backend, reduction, dtype,
                    str(order))

    def build() -> str:
        from .codegen.printer import source_with_safe_names

        loss = build_loss()
        names = (params, inputs) if params is not None else \
            ([p.name for p in loss.params], [s.name for s in loss.inputs])
        lowered = lower_model(loss, *names, loops=target.loops, order=order)
        generator = target.module()

        def generate(renames) -> str:
            spec = kernel_spec(lowered, renames, reduction, dtype)
            try:
                source = generator.module_source(spec)
            except NotImplementedError as err:  # SymPy's printers: a construct they lack
                raise SymgradError(f"the {backend} backend cannot compile "
                                   f"{_unprintable(err)}") from None
            return source + f"\nMETA = {spec.meta()!r}\n"
        return source_with_safe_names(lowered.symbols, generate)

    module, source, hit = load_or_build(backend, key, build)
    return Kernel(module, source, target.capabilities, cache_hit=hit,
                  origin=(kernel_from, backend, key))


def kernel_from(backend: str, key: str, source: str) -> "Kernel":
    """A pickled Kernel (``Kernel.__reduce__``): from the cache, or its source cached."""
    require_runtime(backend)
    module, source, hit = load_or_build(backend, key, lambda: source)
    return Kernel(module, source, backend_named(backend).capabilities, cache_hit=hit,
                  origin=(kernel_from, backend, key))


def require_runtime(name: str) -> None:
    """Refuse, with a one-line reason, a backend this machine cannot run: its runtime's
    ``require_device()`` (checked before the cache is consulted; imports no SymPy)."""
    runtime = backend_named(name).runtime
    if runtime is not None:
        importlib.import_module(runtime).require_device()


class Lowered(NamedTuple):
    """A model derived and lowered, in the user's own symbols (before any renaming)."""
    params: tuple[str, ...]
    inputs: tuple[str, ...]
    symbols: tuple                # the model's parameters, then its inputs
    gradient: object              # Program: loss, the non-zero scalar partials, dot adjoints
    nonzero: tuple[int, ...]      # theta indexes of those partials, then of the blocks
    prediction: object | None     # Program of the prediction, or None
    loops: object = None          # codegen.spec.Loops: the vector blocks (symgrad.blocks)
    curvature: object = None      # order 2: symgrad.curvature.Curvature


def lower_model(loss, params: list[str], inputs: list[str], loops: bool = False,
                order: int = 1) -> Lowered:
    """Model -> (vector blocks, then term families, for a backend that ``loops``) -> derive
    -> lower: the programs every backend prints; with ``order=2`` the second-order ones too
    (over every parameter and term written out)."""
    from .blocks import Blocked, vector_blocks
    from .families import Familied, term_families
    from .model import Model, symbols_named
    from .program import Program, lower, lower_values
    from .reverse import derive

    if isinstance(loss, Model):
        model = Model(loss=loss.loss, params=symbols_named(params, loss.loss),
                      inputs=symbols_named(inputs, loss.loss), prediction=loss.prediction,
                      target=loss.target)
    else:
        model = Model.of(loss, params, inputs)
    blocked = vector_blocks(model) if loops else Blocked(model, (), model.params)
    familied = term_families(blocked.model, blocked.scalars) if loops else \
        Familied(blocked.model, ())
    gradient = derive(familied.model)
    scalars = len(blocked.scalars)
    kept = [k for k in range(scalars) if gradient.partials[k] != 0]
    program = lower(gradient)
    program = Program(blocked.scalars, program.inputs, program.temps,
                      (program.loss, *(program.partials[k] for k in kept),
                       *program.partials[scalars:]))
    prediction = None
    if model.prediction is not None:
        outputs = familied.model.prediction
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        prediction = lower_values(familied.model, outputs)
        prediction = Program(blocked.scalars, prediction.inputs, prediction.temps,
                             prediction.outputs)
    layout = loop_layout(blocked, familied.families, model, kept)
    nonzero = tuple(layout.theta_index[k] for k in kept) + sum(layout.vectors, ()) + \
        layout.slot_theta[:layout.own]
    second = None
    if order == 2:
        from .curvature import curvature
        second = curvature(model)
    return Lowered(tuple(params), tuple(inputs), (*model.params, *model.inputs), program,
                   nonzero, prediction, layout, second)


def loop_layout(blocked, families, model, kept):
    """Where the blocked model's values live: each scalar parameter's theta index, each
    vector block's theta indexes, each dot's data columns (input indexes), each family's
    loop (``kept``: the scalar parameters with a partial of their own, by position)."""
    from .codegen.spec import Loops

    theta = {p: k for k, p in enumerate(model.params)}
    column = {s: j for j, s in enumerate(model.inputs)}
    vectors = list(dict.fromkeys(tuple(theta[e] for e in d.entries) for d in blocked.dots))
    family_columns = [[tuple(column[term[i]] for term in f.columns) for i in range(len(f.data))]
                      for f in families]  # each column placeholder's input indexes, by term
    matrices = list(dict.fromkeys([tuple(column[c] for c in d.columns) for d in blocked.dots] +
                                  [m for placed in family_columns for m in placed]))
    dots = tuple((d.symbol, vectors.index(tuple(theta[e] for e in d.entries)),
                  matrices.index(tuple(column[c] for c in d.columns))) for d in blocked.dots)
    theta_index = tuple(theta[p] for p in blocked.scalars)
    scalar_column = {theta_index[k]: 1 + i for i, k in enumerate(kept)}
    touched = dict.fromkeys(theta[p] for f in families for term in f.members for p in term)
    slot_theta = tuple([t for t in touched if t not in scalar_column] +
                       [t for t in touched if t in scalar_column])
    own = sum(t not in scalar_column for t in touched)
    slot = {t: s for s, t in enumerate(slot_theta)}
    loops = tuple(family_loop(f, theta, slot, model.inputs,
                              tuple(matrices.index(m) for m in placed))
                  for f, placed in zip(families, family_columns))
    return Loops(theta_index, tuple(vectors), tuple(matrices), dots, loops, slot_theta, own,
                 tuple(scalar_column[t] for t in slot_theta[own:]))


def family_loop(family, theta: dict, slot: dict, inputs, matrices: tuple):
    """A family's FamilyLoop: its template derived once, and each term's theta indexes,
    numbers and accumulator slots, placeholder by placeholder (``matrices``: the data
    matrix of each column placeholder)."""
    from .codegen.spec import FamilyLoop
    from .model import Model
    from .program import lower, lower_values
    from .reverse import derive

    import sympy as sp

    power = {p.exp: p for p in family.template.atoms(sp.Pow) if p.exp in family.exponents}
    values = [sp.Dummy(f"q{i}") for i in range(len(family.exponents))]  # x**e, from the loop
    template = Model(loss=family.template.xreplace(
                         {power[e]: q for e, q in zip(family.exponents, values)}),
                     params=family.params,
                     inputs=(*inputs, *family.data, *values, *family.constants))
    gradient = derive(template)
    thetas = tuple(tuple(theta[term[j]] for term in family.members)
                   for j in range(len(family.params)))
    return FamilyLoop(name=family.symbol, theta=thetas,
                      constants=tuple(tuple(float(term[i]) for term in family.values)
                                      for i in range(len(family.constants))),
                      slots=tuple(tuple(slot[t] for t in row) for row in thetas),
                      matrices=matrices,
                      powers=tuple((power[e].base, tuple(int(term[i]) for term in family.powers))
                                   for i, e in enumerate(family.exponents)),
                      value=lower_values(template, (gradient.loss,)), gradient=lower(gradient))


def kernel_spec(lowered: Lowered, renames: dict, reduction="mean", dtype="float64"):
    """The KernelSpec a backend writes a module from: the programs with symbols renamed (the
    dots' and families' symbols to the names the kernels give their row values)."""
    from .codegen.spec import KernelSpec

    loops = lowered.loops
    families = tuple(_family_renamed(f, k, renames) for k, f in enumerate(loops.families))
    renames = {**renames, **{symbol: loops.dot_name(k)
                             for k, (symbol, _, _) in enumerate(loops.dots)},
               **{f.name: loops.family_name(k) for k, f in enumerate(loops.families)}}
    loops = replace(loops, families=families).named()
    program = _renamed(lowered.gradient, renames)
    prediction = columns = None
    if lowered.prediction is not None:
        prediction = _renamed(lowered.prediction, renames)
        columns = _used_columns(prediction, loops.used_families(prediction))
    return KernelSpec(params=lowered.params, inputs=lowered.inputs, gradient=program,
                      nonzero=lowered.nonzero,
                      columns=_used_columns(program, loops.used_families(program)),
                      prediction=prediction, prediction_columns=columns or (),
                      reduction=reduction, dtype=dtype, loops=loops,
                      second=_second_order(lowered.curvature, renames))


def _family_renamed(family, f: int, renames: dict):
    """A FamilyLoop's programs in the kernels' names: the user's symbols renamed, and the
    placeholders and temporaries as _f{f}p{j}, _f{f}x{i}, _f{f}q{i}, _f{f}c{i} and
    _f{f}t{i}."""
    import sympy as sp

    program = family.gradient
    placed = len(family.matrices) + len(family.powers) + len(family.constants)
    tail = program.inputs[len(program.inputs) - placed:]
    data, rest = tail[:len(family.matrices)], tail[len(family.matrices):]
    values, constants = rest[:len(family.powers)], rest[len(family.powers):]
    own = {**renames, **{p: sp.Symbol(f"_f{f}p{j}") for j, p in enumerate(program.params)},
           **{x: sp.Symbol(f"_f{f}x{i}") for i, x in enumerate(data)},
           **{q: sp.Symbol(f"_f{f}q{i}") for i, q in enumerate(values)},
           **{c: sp.Symbol(f"_f{f}c{i}") for i, c in enumerate(constants)}}

    def renamed(program):
        return _renamed(program, {**own, **{t: sp.Symbol(f"_f{f}t{i}")
                                            for i, (t, _) in enumerate(program.temps)}})
    return replace(family, value=renamed(family.value), gradient=renamed(family.gradient),
                   powers=tuple((base.xreplace(renames), exponents)
                                for base, exponents in family.powers))


def _second_order(curvature, renames):
    """The SecondOrder spec of a Curvature (None for order 1), symbols renamed."""
    from .codegen.spec import SecondOrder

    if curvature is None:
        return None
    hessian = None if curvature.hessian is None else _renamed(curvature.hessian, renames)
    residuals = None if curvature.residuals is None else _renamed(curvature.residuals, renames)
    prediction = None if curvature.prediction is None else \
        _renamed(curvature.prediction, renames)
    return SecondOrder(hessian=hessian,
                       hessian_columns=_used_columns(hessian) if hessian else (),
                       gradient_index=curvature.gradient_index, pairs=curvature.pairs,
                       residuals=residuals,
                       residual_columns=_used_columns(residuals) if residuals else (),
                       jacobian=curvature.jacobian, weights=curvature.weights,
                       prediction=prediction,
                       prediction_columns=_used_columns(prediction) if prediction else (),
                       prediction_jacobian=curvature.prediction_jacobian)


def dtype_name(dtype):
    """'float32' for 'float32', numpy.float32 or numpy.dtype('float32'); a value that
    names no numpy type as it is (for the caller's check to refuse)."""
    if isinstance(dtype, str) or dtype is None:
        return dtype
    import numpy as np
    try:
        return np.dtype(dtype).name
    except TypeError:
        return dtype


def _check_option(name, value, allowed):
    if value not in allowed:
        raise SymgradError(f"unknown {name} {value!r} (choose from {', '.join(map(str, allowed))})")


def _names_given(loss, names, what) -> list[str]:
    from_model = getattr(loss, what, None)
    if names is None:
        if from_model is None:
            raise SymgradError(f"{what} is required unless loss is a Model")
        names = from_model
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise SymgradError(f"{what} must be a sequence of names, not "
                           f"{'the string ' if isinstance(names, str) else ''}{names!r}"[:120])
    return [str(n) for n in names]


def _key_material(loss) -> str:
    if isinstance(loss, str):
        return "text:" + " ".join(loss.split())
    import sympy as sp  # the caller built SymPy objects, so SymPy is already imported

    from .model import sympified

    model_fields = ("loss", "prediction", "target")
    if all(hasattr(loss, f) for f in model_fields):
        return "model:" + "|".join(sp.srepr(getattr(loss, f)) for f in model_fields)
    return "expr:" + sp.srepr(sympified(loss, "the loss"))


def _unprintable(err: NotImplementedError) -> str:
    """The construct a SymPy printer refused, from its message ('Unsupported by <class ...>:
    DiracDelta' or ': <class 'sympy...Derivative'>')."""
    first = str(err).splitlines()[0] if str(err) else type(err).__name__
    construct = first.rsplit(": ", 1)[-1]
    return construct.removeprefix("<class '").removesuffix("'>").rsplit(".", 1)[-1]


def _renamed(program, renames):
    if not renames:
        return program
    sub = lambda e: e.xreplace(renames)  # noqa: E731
    return type(program)(tuple(sub(p) for p in program.params),
                         tuple(sub(s) for s in program.inputs),
                         tuple((sub(t), sub(e)) for t, e in program.temps),
                         tuple(sub(e) for e in program.outputs))


def _used_columns(program, families=()) -> tuple[int, ...]:
    """The input indexes a program reads, itself or in the families' loops it reads."""
    used = program.free_symbols().union(*(f.reads() for f in families))
    return tuple(j for j, s in enumerate(program.inputs) if s in used)
