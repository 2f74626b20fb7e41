"""Code generation: the backend registry, over one shared printer and one module per backend.

``printer`` turns SymPy expressions into Python-syntax source, symgrad's functions as calls to
numerically stable helpers; each backend's printer subclasses it and overrides only what
differs. ``BACKENDS`` maps a name to a ``Backend`` descriptor that says where its source
generator is, what its machine must have, and what its kernels offer the training loop. Source
generators are imported only when used; ``cache`` stores and verifies what they generate;
``layer_kernels`` writes the layer engine's kernels. Nothing here runs generated code: the
runtimes are in ``symgrad.runtime``.

Adding a backend:
1. a module ``codegen/<name>_backend.py`` with ``module_source(spec: KernelSpec) -> str``,
   whose printer subclasses ``printer.ScalarPrinter`` (helpers come from the function registry,
   ``symgrad.primitives``, by dialect) and whose module defines ``loss_and_gradient(theta, n,
   chunks, *columns)`` (per-chunk sums: loss, each non-zero partial, the data check) and, for
   models with a prediction, ``predict(theta, n, *columns)``;
2. the runtime it calls into, if any, under ``symgrad/runtime/`` (with ``require_device()`` if
   the machine may lack what it needs);
3. one ``Backend`` entry below, declaring its capabilities (symgrad.trainable) truthfully: the
   training loop relies on them, and each capability names the module functions it implies;
   ``loops=True`` only if its source handles ``KernelSpec.loops`` (the vector blocks' dots and
   per-block sums, as the Numba backend's ``dot_lines`` and ``block_lines`` do);
   ``second_order=True`` only if it writes ``KernelSpec.second``'s ``hessian_sums`` and
   ``gauss_newton_sums`` (what ``compile(..., order=2)`` and ``symgrad.fit`` call);
4. run the suite's backend tables (tests/test_kernel.py compares every backend with the numpy
   reference) with the new name added.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..errors import SymgradError
from ..trainable import Capabilities


@dataclass(frozen=True)
class Backend:
    """A code-generation target: its source generator, its machine check, what it offers."""
    name: str
    generator: str                 # module with module_source(spec) -> str
    capabilities: Capabilities     # what its kernels offer symgrad.train
    runtime: str | None = None     # its runtime's module (symgrad/runtime/), which has a
                                   # require_device() where machines may lack what it needs
    loops: bool = False            # computes vector blocks' inner products with loops
                                   # (symgrad.blocks; KernelSpec.loops): else written out
    second_order: bool = False     # writes KernelSpec.second (order=2): hessian_sums and
                                   # gauss_newton_sums

    def module(self):
        return importlib.import_module(self.generator)


BACKENDS = {backend.name: backend for backend in (
    Backend("numba", "symgrad.codegen.numba_backend",
            Capabilities(compiled_epochs=True, compiled_step=True,
                         compiles_in_background=True),
            runtime="symgrad.runtime.numba_driver", loops=True, second_order=True),
    Backend("numpy", "symgrad.codegen.numpy_backend", Capabilities(), second_order=True),
    Backend("cuda", "symgrad.codegen.cuda_backend", Capabilities(on_device=True),
            runtime="symgrad.runtime.cuda_support", second_order=True),
)}


def backend_named(name: str) -> Backend:
    """The registered backend ``name`` (SymgradError naming the choices otherwise)."""
    if name not in BACKENDS:
        raise SymgradError(f"unknown backend {name!r} (choose from {', '.join(BACKENDS)})")
    return BACKENDS[name]

