"""Source of the layer engine's kernels, in two dialects: Numba for the CPU, numba.cuda for GPUs.

Activations: one module per activation (shared by every chain that uses it), two kernels
printed from SymPy's f and f' by the dialect's printer (``activation_rules``). The forward
kernel adds the bias and applies f, keeping z = Z + b only when f' needs it (``WRITES_Z``:
sigmoid's and tanh's slopes are written with a alone); the backward kernel forms
dZ = dA * f'(z, a) (f' written with the output a where the rule allows: sigmoid' = a*(1 - a),
tanh' = 1 - a^2).
- numba: ``forward(Z, b, A)`` writes z back into Z, ``backward(dA, Z, A, dZ, db)`` sums db
  over rows in the same pass; both return the sum of squares of what they wrote (free inside
  the pass; layers.fused_sgd.FusedSGD bounds its update with it).
- cuda: ``forward(Z, b, keep, A, flags)`` and ``backward(dA, Z, A, dZ, flags)``, one thread per
  element (grid-stride); a set flag (an earlier step found divergence) makes them return.

Losses, written once: each loss is one row's body (``LOSS_ROWS``: ``ce`` is max-shifted
log-sum-exp with dO = (softmax - onehot)*scale, ``mse`` is (o - y)^2 with dO = 2*(o - y)*scale),
set in each dialect's loop skeleton (``LOSS_DIALECTS``), with the dialect's exp and maximum.
- numba: ``ce(O, b, y, dO, db, scale)`` loops over the rows, sums db, returns the loss sum;
- cuda: ``ce(O, b, y, row_loss, dO, scale, flags)``, one thread per row, writes each row's loss
  (the runtime adds them in a fixed order).

The Numba kernels are serial on purpose: between BLAS calls, Numba's parallel threads and
OpenBLAS's spinning threads fight over the cores (measured here: a 0.2 ms kernel took 5 ms
inside the training loop). Their inner loops run along a row and vectorize (vexp, vtanh).
"""
from __future__ import annotations

import textwrap
from typing import NamedTuple

from ..layers.chain import rule_symbols
from .cuda_backend import CudaPrinter
from .numba_backend import HEADER, KERNEL_OPTIONS, NumbaPrinter

JIT = f"@njit({KERNEL_OPTIONS})"
CUDA_HEADER = "import math\n\nfrom numba import cuda\n\n"


def activation_rules(activation, printer) -> tuple[str, str, bool]:
    """(f(z), f'(z, a), whether f' needs z) printed by a backend's printer (whose helpers it
    then holds): the two rules every backend's activation kernels are written from."""
    z, _ = rule_symbols()
    derivative = activation.derivative()
    return (printer.doprint(activation.value(z)), printer.doprint(derivative),
            z in derivative.free_symbols)


def activation_source(activation, dialect: str = "numba") -> str:
    """The forward and backward kernels of one activation, in a dialect."""
    return ACTIVATION_MODULES[dialect](activation)


def numba_activation_module(activation) -> str:
    printer = NumbaPrinter()
    value, slope, writes_z = activation_rules(activation, printer)
    keep_z = "\n            Z[i, j] = z" if writes_z else ""
    kernels = f'''WRITES_Z = {writes_z}


{JIT}
def forward(Z, b, A):
    squares = 0.0
    for i in range(Z.shape[0]):
        for j in range(Z.shape[1]):
            z = Z[i, j] + b[j]{keep_z}
            a = {value}
            A[i, j] = a
            squares += a * a
    return squares


{JIT}
def backward(dA, Z, A, dZ, db):
    db[:] = 0.0
    squares = 0.0
    for i in range(dZ.shape[0]):
        for j in range(dZ.shape[1]):
            z = Z[i, j]
            a = A[i, j]
            g = dA[i, j] * ({slope})
            dZ[i, j] = g
            db[j] += g
            squares += g * g
    return squares
'''
    return HEADER + "\n" + printer.helper_block() + kernels


def cuda_activation_module(activation) -> str:
    printer = CudaPrinter()
    value, slope, writes_z = activation_rules(activation, printer)
    forward = ["z = Z[i, j] + b[j]", *(["keep[i, j] = z"] if writes_z else []),
               f"A[i, j] = {value}"]
    backward = ["z = Z[i, j]", "a = A[i, j]", f"dZ[i, j] = dA[i, j] * ({slope})"]
    return (f"{CUDA_HEADER}WRITES_Z = {writes_z}\n\n\n"
            f"{printer.helper_block()}"
            f"{_elementwise('forward', 'Z, b, keep, A', 'Z', forward)}\n\n"
            f"{_elementwise('backward', 'dA, Z, A, dZ', 'dZ', backward)}")


def _elementwise(name: str, args: str, shaped: str, body: list[str]) -> str:
    """A CUDA kernel running body for every element (i, j) of the 2-D array ``shaped``."""
    lines = ["@cuda.jit", f"def {name}({args}, flags):", "    if flags[0] != 0:", "        return",
             f"    width = {shaped}.shape[1]",
             f"    for e in range(cuda.grid(1), {shaped}.shape[0] * width, cuda.gridsize(1)):",
             "        i = e // width", "        j = e - i * width",
             *(f"        {line}" for line in body)]
    return "\n".join(lines) + "\n"


ACTIVATION_MODULES = {"numba": numba_activation_module, "cuda": cuda_activation_module}


# --- losses: one row's body per loss, one loop skeleton per dialect ------------------------

LOSS_ROWS = {  # row i of O (+ b): its loss added to ``loss``, each g = dL/dO[i, j] * scale
    "ce": '''\
m = -math.inf
for j in range(width):
    m = O[i, j] + b[j] if O[i, j] + b[j] > m else m
total = 0.0
for j in range(width):
    e = {exp}(O[i, j] + b[j] - m)
    dO[i, j] = e
    total += e
label = int(y[i])
loss += m + math.log(total) - (O[i, label] + b[label])
for j in range(width):
    g = (dO[i, j] / total - (1.0 if j == label else 0.0)) * scale
    dO[i, j] = g{sum_bias}
''',
    # bce of the logit z = O + b (the chain's final sigmoid folded in): softplus(z) - y*z,
    # with softplus(z) = max(z, 0) + log1p(exp(-|z|)); dL/dz = sigmoid(z) - y
    "bce": '''\
for j in range(width):
    z = O[i, j] + b[j]
    e = {exp}(-abs(z))
    loss += (z if z > 0.0 else 0.0) - z * y[i] + math.log1p(e)
    p = 1.0 / (1.0 + e) if z >= 0.0 else e / (1.0 + e)
    g = (p - y[i]) * scale
    dO[i, j] = g{sum_bias}
''',
    "mse": '''\
for j in range(width):
    r = O[i, j] + b[j] - y[i]
    loss += r * r
    g = 2.0 * r * scale
    dO[i, j] = g{sum_bias}
''',
}


class LossDialect(NamedTuple):
    """What one dialect's loss kernels differ in; the rows' bodies are the same."""
    header: str
    printer: type            # its exp_function is the kernels' exp
    sum_bias: str            # after dO[i, j] = g: the line adding g to db, where a kernel sums
    decorator: str
    kernel: str              # a kernel around one row's body: {name}, {body}


NUMBA_LOSS = LossDialect(
    header=HEADER + "\n", printer=NumbaPrinter,
    sum_bias="\n    db[j] += g", decorator=JIT, kernel='''\
def {name}(O, b, y, dO, db, scale):
    db[:] = 0.0
    loss = 0.0
    width = O.shape[1]
    for i in range(O.shape[0]):
{body}
    return loss
''')

CUDA_LOSS = LossDialect(
    header=CUDA_HEADER + "\n", printer=CudaPrinter,
    sum_bias="", decorator="@cuda.jit", kernel='''\
def {name}(O, b, y, row_loss, dO, scale, flags):
    if flags[0] != 0:
        return
    width = O.shape[1]
    for i in range(cuda.grid(1), O.shape[0], cuda.gridsize(1)):
        loss = 0.0
{body}
        row_loss[i, 0] = loss
''')

LOSS_DIALECTS = {"numba": NUMBA_LOSS, "cuda": CUDA_LOSS}


def loss_source(dialect: str = "numba") -> str:
    """The module of every loss's kernel (``ce``, ``bce``, ``mse``) in a dialect."""
    return LOSS_DIALECTS[dialect].header + "\n\n".join(
        loss_kernel(name, dialect) for name in LOSS_ROWS)


def loss_kernel(name: str, dialect: str) -> str:
    """One loss's kernel: its row body, with the dialect's exp and bias sums. Maxima are
    conditionals: numba.cuda has no builtin max of floats, and Numba's CPU max is an
    overload compiled afresh in every process."""
    spelled = LOSS_DIALECTS[dialect]
    body = LOSS_ROWS[name].format(exp=spelled.printer.exp_function, sum_bias=spelled.sum_bias)
    kernel = spelled.kernel.format(name=name, body=textwrap.indent(body, " " * 8).rstrip("\n"))
    return f"{spelled.decorator}\n{kernel}"
