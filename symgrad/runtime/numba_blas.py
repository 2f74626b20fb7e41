"""Numba's BLAS probe without SciPy's linear-algebra package: 0.25 s off every start-up.

The first time Numba compiles or loads a function it checks for a BLAS (for ``np.dot`` and
``np.linalg`` in compiled code) by importing ``scipy.linalg.cython_blas`` when SciPy is
installed. That import first runs ``scipy.linalg``'s package ``__init__``, which imports most
of SciPy (0.25-0.3 s here), although Numba needs only the one extension module. Before any
Numba function runs, ``load_cython_blas`` loads that extension module by itself, under its own
name, so Numba's import finds it ready and ``np.dot`` in compiled code keeps working. Loading
it is what Numba would do anyway; a later ``import scipy.linalg`` runs as usual and finds the
module in place, and ``_ParentLink`` then sets it as the package's attribute
(``scipy.linalg.cython_blas``), as Python does for a submodule it imports itself. When SciPy
is absent, already imported, or its module cannot be loaded this
way, nothing changes and Numba imports as it always did.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys

NAME = "scipy.linalg.cython_blas"


def load_cython_blas() -> None:
    """Put SciPy's cython_blas in sys.modules, loaded alone; do nothing where that is not
    possible or already done."""
    if NAME in sys.modules or "scipy.linalg" in sys.modules or sys.platform == "win32":
        return  # Windows: SciPy's __init__ adds the DLL directory the extension needs
    try:
        scipy = importlib.util.find_spec("scipy")
        stem = os.path.join(os.path.dirname(scipy.origin), "linalg", "cython_blas")
        path = next(stem + suffix for suffix in importlib.machinery.EXTENSION_SUFFIXES
                    if os.path.isfile(stem + suffix))  # not its .pxd or .pyx beside it
        spec = importlib.util.spec_from_file_location(NAME, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except Exception:  # noqa: BLE001 - any failure leaves Numba's own import to run
        return
    sys.modules[NAME] = module
    sys.meta_path.insert(0, _ParentLink())


class _ParentLink:
    """A finder for scipy.linalg alone, once: it finds the package as the other finders do,
    and sets the preloaded module on it once the package's code has run."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "scipy.linalg":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            run = spec.loader.exec_module

            def exec_module(package):
                run(package)
                package.cython_blas = sys.modules.get(NAME)
            spec.loader.exec_module = exec_module
        return spec
