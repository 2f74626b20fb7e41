"""Numba kernels for the layer engine: the elementwise parts of a dense network, fused.

One module per activation (shared by every chain that uses it), with two kernels printed from
SymPy by the shared Numba printer: ``forward(Z, b, A)`` adds the bias and applies f (keeping
z = Z + b in Z only when f' needs it, flagged by ``WRITES_Z``: sigmoid's and tanh's slopes are
written with a alone), and ``backward(dA, Z, A, dZ, db)`` forms dZ = dA * f'(z, a) (f' written
with the output a where the rule allows: sigmoid' = a*(1 - a), tanh' = 1 - a^2) and sums db
over rows in the same pass. Both return the sum of squares of what they wrote (free inside the
pass; network.FusedSGD bounds its update with it). One module of loss kernels: they take the
last layer's values, add its bias, and give the loss sum and dO: ``ce`` is max-shifted
log-sum-exp with dO = (softmax - onehot)*scale, ``mse`` is (o - y)^2 with dO = 2*(o - y)*scale.
The GEMMs between them stay in numpy (BLAS).

The kernels are serial on purpose: between BLAS calls, Numba's parallel threads and OpenBLAS's
spinning threads fight over the cores (measured here: a 0.2 ms kernel took 5 ms inside the
training loop). Their inner loops run along a row and vectorize (vexp, vtanh).
"""
from __future__ import annotations

from ..layers.chain import rule_symbols
from .numba_backend import HEADER, KERNEL_OPTIONS, NumbaPrinter

JIT = f"@njit({KERNEL_OPTIONS})"


def activation_rules(activation, printer) -> tuple[str, str, bool]:
    """(f(z), f'(z, a), whether f' needs z) printed by a backend's printer (whose helpers it
    then holds): the two rules every backend's activation kernels are written from."""
    z, _ = rule_symbols()
    derivative = activation.derivative()
    return (printer.doprint(activation.value(z)), printer.doprint(derivative),
            z in derivative.free_symbols)


def activation_source(activation) -> str:
    """The forward and backward kernels of one activation."""
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


def loss_source() -> str:
    return HEADER + "\n" + LOSS_KERNELS


LOSS_KERNELS = f'''{JIT}
def ce(O, b, labels, dO, db, scale):
    db[:] = 0.0
    loss = 0.0
    for i in range(O.shape[0]):
        m = -np.inf
        for j in range(O.shape[1]):
            m = max(m, O[i, j] + b[j])
        total = 0.0
        for j in range(O.shape[1]):
            e = vexp(O[i, j] + b[j] - m)
            dO[i, j] = e
            total += e
        label = int(labels[i])
        loss += m + math.log(total) - (O[i, label] + b[label])
        for j in range(O.shape[1]):
            g = (dO[i, j] / total - (1.0 if j == label else 0.0)) * scale
            dO[i, j] = g
            db[j] += g
    return loss


{JIT}
def mse(O, b, y, dO, db, scale):
    db[:] = 0.0
    loss = 0.0
    for i in range(O.shape[0]):
        for j in range(O.shape[1]):
            r = O[i, j] + b[j] - y[i]
            loss += r * r
            g = 2.0 * r * scale
            dO[i, j] = g
            db[j] += g
    return loss
'''
