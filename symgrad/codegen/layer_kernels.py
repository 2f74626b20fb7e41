"""Numba kernels for the layer engine: the elementwise parts of a dense network, fused.

One module per activation (shared by every chain that uses it), with two row-parallel kernels
printed from SymPy by the shared printer: ``forward(Z, b, A)`` adds the bias and applies f
(keeping z = Z + b in Z), and ``backward(dA, Z, A, dZ, db)`` forms dZ = dA * f'(z, a) (f'
written with the output a where the rule allows: sigmoid' = a*(1 - a), tanh' = 1 - a^2) and
sums db over rows in the same pass. One module of loss kernels: they take the last layer's
values, add its bias, and give the loss sum and dO: ``ce`` is max-shifted log-sum-exp with
dO = (softmax - onehot)*scale, ``mse`` is (o - y)^2 with dO = 2*(o - y)*scale. The GEMMs
between them stay in numpy (BLAS).
"""
from __future__ import annotations

from ..layers import A, Z
from .numba_backend import HEADER, NumbaPrinter

PARALLEL = '@njit(parallel=True, cache=True, fastmath={"reassoc", "contract", "nsz"})'
COMMON = '''
@njit(inline="always")
def _chunks(rows):
    return max(1, min(rows // 64, 64))
'''


def activation_source(activation) -> str:
    """The forward and backward kernels of one activation."""
    printer = NumbaPrinter()
    kernels = _activation_kernels(activation, printer)
    return HEADER + "\n" + printer.helper_block() + COMMON + "\n\n" + kernels


def loss_source() -> str:
    return HEADER + COMMON + "\n\n" + LOSS_KERNELS


def _activation_kernels(activation, printer) -> str:
    value = printer.doprint(activation.value(Z))
    slope = printer.doprint(activation.derivative())
    return f'''{PARALLEL}
def forward(Z, b, A):
    for i in prange(Z.shape[0]):
        for j in range(Z.shape[1]):
            z = Z[i, j] + b[j]
            Z[i, j] = z
            A[i, j] = {value}


{PARALLEL}
def backward(dA, Z, A, dZ, db):
    rows, width = dZ.shape
    chunks = _chunks(rows)
    partial = np.zeros((chunks, width))
    for c in prange(chunks):
        for i in range(c * rows // chunks, (c + 1) * rows // chunks):
            for j in range(width):
                z = Z[i, j]
                a = A[i, j]
                g = dA[i, j] * ({slope})
                dZ[i, j] = g
                partial[c, j] += g
    db[:] = partial.sum(axis=0)
'''


LOSS_KERNELS = f'''{PARALLEL}
def ce(O, b, labels, dO, db, scale):
    rows, width = O.shape
    chunks = _chunks(rows)
    partial = np.zeros((chunks, width))
    losses = np.zeros(chunks)
    for c in prange(chunks):
        for i in range(c * rows // chunks, (c + 1) * rows // chunks):
            m = -np.inf
            for j in range(width):
                m = max(m, O[i, j] + b[j])
            total = 0.0
            for j in range(width):
                e = vexp(O[i, j] + b[j] - m)
                dO[i, j] = e
                total += e
            label = int(labels[i])
            losses[c] += m + math.log(total) - (O[i, label] + b[label])
            for j in range(width):
                g = (dO[i, j] / total - (1.0 if j == label else 0.0)) * scale
                dO[i, j] = g
                partial[c, j] += g
    db[:] = partial.sum(axis=0)
    return losses.sum()


{PARALLEL}
def mse(O, b, y, dO, db, scale):
    rows, width = O.shape
    chunks = _chunks(rows)
    partial = np.zeros((chunks, width))
    losses = np.zeros(chunks)
    for c in prange(chunks):
        for i in range(c * rows // chunks, (c + 1) * rows // chunks):
            for j in range(width):
                r = O[i, j] + b[j] - y[i]
                losses[c] += r * r
                g = 2.0 * r * scale
                dO[i, j] = g
                partial[c, j] += g
    db[:] = partial.sum(axis=0)
    return losses.sum()


{PARALLEL}
def add_bias(O, b, out):
    for i in prange(O.shape[0]):
        for j in range(O.shape[1]):
            out[i, j] = O[i, j] + b[j]
'''
