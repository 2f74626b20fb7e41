"""The guard around every call into generated code: ``kernel_call()``."""
from __future__ import annotations

import sys

from ..errors import SymgradError


class _KernelCall:
    """Around a call into a generated module: a Numba compile error on a first call is a
    SymgradError naming what Numba refused (one line). A class, not a generator: it is
    entered on every call, and small calls are a few microseconds."""

    def __enter__(self):
        return self

    def __exit__(self, kind, err, traceback):
        numba = sys.modules.get("numba") if err is not None else None
        if numba is not None and isinstance(err, numba.core.errors.NumbaError):
            raise SymgradError(f"Numba could not compile the kernel: {_first_line(err)}") \
                from None
        return False


def kernel_call() -> _KernelCall:
    """The context every call into generated code runs in (see _KernelCall)."""
    return _KERNEL_CALL


_KERNEL_CALL = _KernelCall()


def _first_line(err: Exception) -> str:
    import re
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()
    return next((line.strip() for line in text.splitlines() if line.strip()), type(err).__name__)
