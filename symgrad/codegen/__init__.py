"""Code generation: one shared scalar printer, one module per backend.

``printer`` turns SymPy expressions into Python-syntax source with symgrad's functions as calls
to numerically stable helpers; ``python_source`` prints a whole Program as a plain Python
function a person can read and run. Compiled backends (numba, cuda) and the numpy reference
backend reuse the same printer and override only what differs.
"""
