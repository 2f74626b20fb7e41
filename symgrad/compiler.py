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
from typing import NamedTuple

from .codegen import BACKENDS, backend_named
from .codegen.cache import cache_key, load_or_build
from .errors import SymgradError
from .runtime.kernel import Kernel

REDUCTIONS = ("mean", "sum")
DTYPES = ("float64", "float32")


def compile(loss, params=None, inputs=None, *, backend: str = "numba",
            reduction: str = "mean", dtype: str = "float64") -> "Kernel":
    """Compile a loss (SymPy expression, Model or string) into a gradient kernel.

    ``params`` and ``inputs`` are sequences of names or Symbols (taken from the Model when one
    is given). The result ``f(theta, data)`` returns (loss, grad); see ``Kernel``.
    """
    params, inputs = _names_given(loss, params, "params"), _names_given(loss, inputs, "inputs")
    if not isinstance(loss, str) and not hasattr(loss, "params"):  # vectors' entries: W[0]...
        from .model import entry_names, sympified
        expression = sympified(loss, "the loss")
        params, inputs = entry_names(expression, params), entry_names(expression, inputs)
    return compile_keyed(_key_material(loss), lambda: loss, params, inputs, backend=backend,
                         reduction=reduction, dtype=dtype)


def compile_keyed(key_material: str, build_loss, params: list[str], inputs: list[str], *,
                  backend: str = "numba", reduction: str = "mean",
                  dtype: str = "float64") -> "Kernel":
    """``compile`` for callers that can name their loss without building it: ``key_material``
    identifies it, and ``build_loss()`` (a Model, expression or string) runs only on a cache
    miss, so a hit imports no SymPy."""
    _check_option("backend", backend, tuple(BACKENDS))
    _check_option("reduction", reduction, REDUCTIONS)
    _check_option("dtype", dtype, DTYPES)
    require_runtime(backend)
    target = backend_named(backend)
    key = cache_key(key_material, json.dumps([params, inputs]), backend, reduction, dtype)

    def build() -> str:
        from .codegen.printer import source_with_safe_names

        lowered = lower_model(build_loss(), params, inputs)
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
    return Kernel(module, source, target.capabilities, cache_hit=hit)


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
    gradient: object              # Program: loss, then the non-zero partials
    nonzero: tuple[int, ...]
    prediction: object | None     # Program of the prediction, or None


def lower_model(loss, params: list[str], inputs: list[str]) -> Lowered:
    """Model -> derive -> lower: the programs every backend prints."""
    from .model import Model, symbols_named
    from .program import lower, lower_values
    from .reverse import derive

    if isinstance(loss, Model):
        model = Model(loss=loss.loss, params=symbols_named(params, loss.loss),
                      inputs=symbols_named(inputs, loss.loss), prediction=loss.prediction,
                      target=loss.target)
    else:
        model = Model.of(loss, params, inputs)
    gradient = derive(model)
    nonzero = tuple(k for k, p in enumerate(gradient.partials) if p != 0)
    program = lower(gradient)
    program = type(program)(program.params, program.inputs, program.temps,
                            (program.loss, *(program.partials[k] for k in nonzero)))
    prediction = None
    if model.prediction is not None:
        outputs = model.prediction if isinstance(model.prediction, tuple) else \
            (model.prediction,)
        prediction = lower_values(model, outputs)
    return Lowered(tuple(params), tuple(inputs), (*model.params, *model.inputs), program,
                   nonzero, prediction)


def kernel_spec(lowered: Lowered, renames: dict, reduction="mean", dtype="float64"):
    """The KernelSpec a backend writes a module from: the programs with symbols renamed."""
    from .codegen.spec import KernelSpec

    program = _renamed(lowered.gradient, renames)
    prediction = columns = None
    if lowered.prediction is not None:
        prediction = _renamed(lowered.prediction, renames)
        columns = _used_columns(prediction)
    return KernelSpec(params=lowered.params, inputs=lowered.inputs, gradient=program,
                      nonzero=lowered.nonzero, columns=_used_columns(program),
                      prediction=prediction, prediction_columns=columns or (),
                      reduction=reduction, dtype=dtype)


def _check_option(name, value, allowed):
    if value not in allowed:
        raise SymgradError(f"unknown {name} {value!r} (choose from {', '.join(allowed)})")


def _names_given(loss, names, what) -> list[str]:
    from_model = getattr(loss, what, None)
    if names is None:
        if from_model is None:
            raise SymgradError(f"{what} is required unless loss is a Model")
        names = from_model
    if isinstance(names, str):
        raise SymgradError(f"{what} must be a sequence of names, not the string {names!r}")
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
                         tuple((t, sub(e)) for t, e in program.temps),
                         tuple(sub(e) for e in program.outputs))


def _used_columns(program) -> tuple[int, ...]:
    used = set().union(*(e.free_symbols for _, e in program.temps),
                       *(e.free_symbols for e in program.outputs))
    return tuple(j for j, s in enumerate(program.inputs) if s in used)
