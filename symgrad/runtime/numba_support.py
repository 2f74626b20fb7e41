"""The Numba runtime: an exp (and expm1, tanh) that vectorizes, and the compiled optimizer steps.

PyPI's llvmlite has no SVML, so ``math.exp`` in a loop is a scalar libm call and stops LLVM
from vectorizing the loop across rows. ``vexp`` is exp written as arithmetic the vectorizer
understands: range reduction x = k*ln2 + r, |r| <= ln2/2 (Cody-Waite, two-part ln2), a
degree-13 Taylor polynomial for e^r - 1 in Estrin's form (truncation error < 2e-17 relative; a
short dependency chain, so the vectorized loop is not bound by FMA latency), and the scale 2^k
built from the exponent bits (split in two for subnormal results); inputs beyond the double range
give inf or 0, and NaN stays NaN. Every branch is a select, so a whole row loop that calls it
still vectorizes. Alone it agrees with libm's exp to an ulp; inside the kernels' fast-math
(reassociation lets LLVM merge the two halves of ln2) to |x| * 2^-53, 8e-14 at x = 709.

``vexpm1`` and ``vtanh`` are built on it the same way (libm's tanh is another scalar call),
and ``vlog1p_unit`` replaces the libm log1p in softplus (its argument is in [0, 1]). All four
are Numba intrinsics that write their instructions at the call site
(symgrad.runtime.numba_emitter); inlined as Numba functions they took 0.2-0.4 s of every
kernel's compile.
``guarded_step`` and ``step_into`` compile symgrad.optim's update rules, unchanged, into fused
passes that commit nothing unless every new value is finite.

The generated epoch loops call ``guarded_step`` through a C entry point, ``GUARDED_STEP`` (and
``GUARDED_STEP_F32`` for float32 kernels), not as a Numba callee: a callee's code is linked
into every function that calls it and optimized and compiled again there, 0.35 s of every new
model's first training run for the six rules' code. The entry point is compiled once per
machine (Numba's cache) and ``link_guarded_step`` registers its symbol with the JIT before an
epoch loop is compiled or loaded from the kernel cache (numba_driver.General's ``prepare``).
"""
from __future__ import annotations

import math
import threading

from llvmlite import binding
from numba import carray, cfunc, njit, types

from ..optim import RULES
from .numba_emitter import ExpConstants, estrin, exp_family, unary_intrinsic

FLOAT64 = ExpConstants(
    log2e=1.4426950408889634, ln2_hi=6.93147180369123816490e-01,
    ln2_lo=1.90821492927058770002e-10, max_k=1023.0, min_normal_k=-1022.0,
    exp_range=(-746.0, 710.0), expm1_low=-50.0,
    overflow=709.782712893384,      # exp(x) > DBL_MAX beyond this
    underflow=-745.1332191019412,   # exp(x) < smallest subnormal / 2 below this
    series=tuple(1.0 / math.factorial(k) for k in range(1, 14)))  # degree 13: < 2e-17
vexp, vexpm1, vtanh = exp_family(FLOAT64, types.float64)


# 1/(2k+1), k = 0..16: log(1 + u) = 2 atanh(s) = 2 sum s^(2k+1)/(2k+1), s = u/(2 + u)
ATANH_SERIES = tuple(1.0 / (2 * k + 1) for k in range(17))


def _log1p_unit(m, u):
    s = m.div(u, m.add(2.0, u))
    t = m.mul(s, s)
    powers = {1: t}
    low, high = (estrin(m, ATANH_SERIES[cut:cut + 8], t, powers) for cut in (0, 8))
    t8 = m.mul(powers[4], powers[4])
    return m.mul(m.mul(2.0, s), m.add(low, m.mul(m.add(high, m.mul(ATANH_SERIES[16], t8)),
                                                  t8)))


vlog1p_unit = unary_intrinsic(_log1p_unit, types.float64, """log(1 + u) for 0 <= u <= 1
    (softplus's log1p(exp(-|z|))), branch-free: 2 atanh(s) with s = u/(2 + u) <= 1/3, an odd
    series in s whose 17th term is below 2^-53 of the sum, in Estrin's form. No 1 + u is ever
    rounded, so a tiny u keeps its digits (log1p(u) ~ u); within 6 ulp of libm's log1p on
    [0, 1] (tests/test_numba_support.py).""")


_sgd, _momentum, _nesterov, _adam, _rmsprop, _adagrad = \
    (njit(inline="always")(rule.update) for rule in RULES)
SGD_ROWS, MOMENTUM_ROWS, NESTEROV_ROWS, ADAM_ROWS, RMSPROP_ROWS, ADAGRAD_ROWS = \
    (rule.state_rows for rule in RULES)
STEP_OPTIONS = dict(cache=True, error_model="numpy", fastmath={"reassoc", "contract", "nsz"})


@njit(inline="always")
def _values_at(rule, rows, k, theta, grad, state, hyper, step):
    """(theta', m', v') at index k; ``rows``: how many state rows the rule uses (SGD none),
    so the others are neither read nor written."""
    m = state[0, k] if rows > 0 else 0.0
    v = state[1, k] if rows > 1 else 0.0
    return rule(theta[k], grad[k], m, v, hyper, step)


@njit(inline="always")
def _store(rows, k, theta, state, t, m, v):
    theta[k] = t
    if rows > 0:
        state[0, k] = m
    if rows > 1:
        state[1, k] = v


@njit(inline="always")
def _guarded(rule, rows, theta, grad, state, hyper, step, theta_out, state_out, in_place):
    """Writes the new values into theta_out/state_out in one pass; True if all are finite.
    In place (the outputs are theta/state) a checking pass comes first, so nothing changes
    unless every new value is finite."""
    bad = 0.0
    if in_place:
        for k in range(theta.size):
            t, m, v = _values_at(rule, rows, k, theta, grad, state, hyper, step)
            bad += t * 0.0 + m * 0.0 + v * 0.0  # nan exactly when something is not finite
        if bad != 0.0:
            return False
    for k in range(theta.size):
        t, m, v = _values_at(rule, rows, k, theta, grad, state, hyper, step)
        bad += t * 0.0 + m * 0.0 + v * 0.0
        _store(rows, k, theta_out, state_out, t, m, v)
    return bad == 0.0


@njit(inline="always")
def _by_kind(kind, theta, grad, state, hyper, step, theta_out, state_out, in_place):
    """The rule RULES[kind], its state rows as its UpdateRule declares. Numba selects a compiled
    function by branch, not by indexing a table: one branch per rule of symgrad.optim.RULES
    (alike on purpose: an inlined call takes no *args, and a table of first-class functions
    would not inline the rule into the loop that vectorizes)."""
    if kind == 0:
        return _guarded(_sgd, SGD_ROWS, theta, grad, state, hyper, step, theta_out,
                        state_out, in_place)
    if kind == 1:
        return _guarded(_momentum, MOMENTUM_ROWS, theta, grad, state, hyper, step, theta_out,
                        state_out, in_place)
    if kind == 2:
        return _guarded(_nesterov, NESTEROV_ROWS, theta, grad, state, hyper, step, theta_out,
                        state_out, in_place)
    if kind == 4:
        return _guarded(_rmsprop, RMSPROP_ROWS, theta, grad, state, hyper, step, theta_out,
                        state_out, in_place)
    if kind == 5:
        return _guarded(_adagrad, ADAGRAD_ROWS, theta, grad, state, hyper, step, theta_out,
                        state_out, in_place)
    return _guarded(_adam, ADAM_ROWS, theta, grad, state, hyper, step, theta_out, state_out,
                    in_place)  # kind 3: Adam and AdamW


@njit(**STEP_OPTIONS)
def guarded_step(kind, theta, grad, state, hyper, step):
    """One optimizer step in place by rule ``kind`` (symgrad.optim.RULES), in two passes;
    False, with nothing changed, if any new value would not be finite."""
    return _by_kind(kind, theta, grad, state, hyper, step, theta, state, True)


@njit(**STEP_OPTIONS)
def step_into(kind, theta, grad, state, hyper, step, theta_out, state_out):
    """The same step in one pass, written to theta_out/state_out (theta and state untouched):
    the caller adopts them only if this returns True. For large parameter vectors, where the
    second pass of guarded_step costs a third of a step's memory traffic."""
    return _by_kind(kind, theta, grad, state, hyper, step, theta_out, state_out, False)


def _entry_signature(float_type):
    """ok(kind, params, theta, grad, state, state rows, hyper, hyper size, step), pointers to
    C-ordered arrays of float_type."""
    pointer = types.CPointer(float_type)
    return types.int64(types.int64, types.int64, pointer, pointer, pointer, types.int64,
                       pointer, types.int64, types.int64)


def _guarded_step_entry(kind, n, theta, grad, state, rows, hyper, size, step):
    ok = guarded_step(kind, carray(theta, (n,)), carray(grad, (n,)), carray(state, (rows, n)),
                      carray(hyper, (size,)), step)
    return 1 if ok else 0


GUARDED_STEP, GUARDED_STEP_F32 = (
    types.ExternalFunction(f"symgrad_guarded_step_{t}", _entry_signature(getattr(types, t)))
    for t in ("float64", "float32"))


_ENTRIES: dict = {}   # dtype -> its compiled entry point, kept alive with the code it owns
_ENTRIES_LOCK = threading.Lock()


def link_guarded_step(dtype: str = "float64") -> None:
    """Compile (or load) the C entry point of guarded_step for ``dtype`` and register its
    symbol, once per process (threads wait for the first)."""
    with _ENTRIES_LOCK:
        if dtype not in _ENTRIES:
            entry = cfunc(_entry_signature(getattr(types, dtype)), cache=True)(
                _guarded_step_entry)
            binding.add_symbol(f"symgrad_guarded_step_{dtype}", entry.address)
            _ENTRIES[dtype] = entry
