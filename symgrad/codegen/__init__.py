"""Code generation: one shared scalar printer, one module per backend, behind a registry.

``printer`` turns SymPy expressions into Python-syntax source with symgrad's functions as calls
to numerically stable helpers; each backend subclasses it and overrides only what differs.
A backend is a module with ``module_source(spec: KernelSpec) -> str``; adding one means adding
its module and one line to ``BACKENDS``. Backends are imported only when used.
"""
from __future__ import annotations

import importlib

from ..errors import SymgradError

BACKENDS = {
    "numba": "symgrad.codegen.numba_backend",
    "numpy": "symgrad.codegen.numpy_backend",
    "cuda": "symgrad.codegen.cuda_backend",
}
RUNTIMES = {  # backends whose generated code needs something of the machine: the check
    "cuda": "symgrad.runtime.cuda_support",
}


def backend_module(name: str):
    """The module implementing backend ``name``."""
    if name not in BACKENDS:
        raise SymgradError(f"unknown backend {name!r} (choose from {', '.join(BACKENDS)})")
    return importlib.import_module(BACKENDS[name])


def require_runtime(name: str) -> None:
    """Refuse, with a one-line reason, a backend this machine cannot run (checked before the
    cache is consulted; imports no SymPy)."""
    if name in RUNTIMES:
        importlib.import_module(RUNTIMES[name]).require_device()
