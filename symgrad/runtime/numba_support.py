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
from .numba_emitter import unary_intrinsic

LOG2E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
EXP_OVERFLOW = 709.782712893384      # exp(x) > DBL_MAX beyond this
EXP_UNDERFLOW = -745.1332191019412   # exp(x) < smallest subnormal / 2 below this
INVERSE_FACTORIALS = [1.0 / math.factorial(k) for k in range(14)]
C1, C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13 = INVERSE_FACTORIALS[1:]


def _reduced(m, x):
    """(k, r) with x = k*ln2 + r (Cody-Waite, two-part ln2): |r| <= ln2/2, except that k stops
    at 1023 (2^k must be a double), where r < ln2 and the series errs by < 4e-14 relative,
    inside the |x| * 2^-53 that fast-math allows there anyway."""
    k = m.floor(m.add(m.mul(x, LOG2E), 0.5))
    k = m.select(m.less(k, 1023.0), k, 1023.0)
    return k, m.sub(m.sub(x, m.mul(k, LN2_HI)), m.mul(k, LN2_LO))


def _exp_minus_one_series(m, r):
    """sum_{k=1..13} r^k / k!: e^r - 1 without cancellation, to < 2e-17 relative for
    |r| <= ln2/2. Estrin's scheme: a dependency chain of 5 multiply-adds instead of Horner's
    13, so the vectorized loops are not bound by FMA latency."""
    def pair(a, b):  # a + b*r
        return m.add(a, m.mul(b, r))
    r2 = m.mul(r, r)
    r4 = m.mul(r2, r2)
    low = m.add(m.add(pair(1.0, C2), m.mul(pair(C3, C4), r2)),
                m.mul(m.add(pair(C5, C6), m.mul(pair(C7, C8), r2)), r4))
    high = m.add(m.add(pair(C9, C10), m.mul(pair(C11, C12), r2)), m.mul(C13, r4))
    return m.mul(r, m.add(low, m.mul(high, m.mul(r4, r4))))


def _clamp(m, x, low, high):
    """x within [low, high] as selects (NaN stays NaN)."""
    x = m.select(m.less(x, low), low, x)
    return m.select(m.greater(x, high), high, x)


def _exp(m, x):
    k, r = _reduced(m, _clamp(m, x, -746.0, 710.0))
    p = m.add(1.0, _exp_minus_one_series(m, r))
    normal = m.select(m.greater(k, -1022.0), k, -1022.0)  # subnormal: 2^-1022 * 2^(k + 1022)
    value = m.mul(m.mul(p, m.power_of_two(normal)), m.power_of_two(m.sub(k, normal)))
    value = m.select(m.greater(x, EXP_OVERFLOW), math.inf, value)
    value = m.select(m.less(x, EXP_UNDERFLOW), 0.0, value)
    return m.select(m.is_nan(x), x, value)


def _expm1(m, x):
    k, r = _reduced(m, _clamp(m, x, -50.0, 710.0))
    scale = m.power_of_two(k)
    value = m.add(m.mul(_exp_minus_one_series(m, r), scale), m.sub(scale, 1.0))
    value = m.select(m.greater(x, EXP_OVERFLOW), math.inf, value)
    return m.select(m.is_nan(x), x, value)


def _tanh(m, z):
    e = _expm1(m, m.mul(-2.0, m.fabs(z)))
    t = m.div(m.neg(e), m.add(2.0, e))
    return m.select(m.at_least(z, 0.0), t, m.neg(t))


# 1/(2k+1), k = 0..16: log(1 + u) = 2 atanh(s) = 2 sum s^(2k+1)/(2k+1), s = u/(2 + u)
A0, A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12, A13, A14, A15, A16 = \
    [1.0 / (2 * k + 1) for k in range(17)]


def _log1p_unit(m, u):
    def pair(a, b):  # a + b*t
        return m.add(a, m.mul(b, t))
    s = m.div(u, m.add(2.0, u))
    t = m.mul(s, s)
    t2 = m.mul(t, t)
    t4 = m.mul(t2, t2)
    t8 = m.mul(t4, t4)
    low = m.add(m.add(pair(A0, A1), m.mul(pair(A2, A3), t2)),
                m.mul(m.add(pair(A4, A5), m.mul(pair(A6, A7), t2)), t4))
    high = m.add(m.add(pair(A8, A9), m.mul(pair(A10, A11), t2)),
                 m.mul(m.add(pair(A12, A13), m.mul(pair(A14, A15), t2)), t4))
    return m.mul(m.mul(2.0, s), m.add(low, m.mul(m.add(high, m.mul(A16, t8)), t8)))


vexp = unary_intrinsic(_exp, types.float64, "exp(x), vectorizable (the module docstring).")
vexpm1 = unary_intrinsic(_expm1, types.float64, """exp(x) - 1 without cancellation:
    2^k*series(r) + (2^k - 1), where k = 0 (and the series is the answer) for |x| <= ln2/2.
    Below -50 the result is -1 to the last bit, so x is clamped there (2^k stays normal).""")
vtanh = unary_intrinsic(_tanh, types.float64, """tanh(z) = -e/(2 + e) with e = expm1(-2|z|),
    signed: exact to a few ulp, branch-free.""")
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
