"""Runtimes: what generated code and the engines call into while they run.

``numba_support`` (vexp, the compiled optimizer steps) is imported by every generated Numba
module; ``cuda_support`` (launch sizes, the deterministic reduction, ``DeviceRun``) by every
generated CUDA module and the layer engine on CUDA; ``blas`` binds the BLAS that numpy links for
the layer engine's fused weight updates; ``numba_blas`` spares Numba's BLAS probe SciPy's
linear-algebra package, and runs on import, before any Numba function can. Nothing here
generates source: that is ``codegen``.
"""
from symgrad.runtime.numba_blas import load_cython_blas

load_cython_blas()
