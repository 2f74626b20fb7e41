"""How symgrad calls its generated Numba functions: one compiled version for every layout of
the data, and the rows shared among threads.

**One version.** Numba compiles a function once per argument types, and the columns of a
C-ordered matrix (strided), of a Fortran-ordered one (contiguous) and of a dict (separate
arrays) are three types: each new layout cost a second or more of compiling on the user's
first call. ``General`` compiles only the signature with every array's layout "any" (Numba's
'A'), then stops Numba compiling more, so an array of any layout converts to that version.
float32 data is widened to float64 copies until they have cost about a compile
(symgrad.runtime.columns.Reading); then a float32 version is compiled, and cached on disk like
the first.

**Threads.** The generated functions are serial and release the GIL: Numba's
``parallel=True`` took 2-3 s to compile per function, four times a serial one, and woke a
second thread even for ten rows. ``chunked_sums`` and ``chunked_rows`` share a call's chunks
among a pool of threads, the caller's thread taking the first share; a call of one chunk
(fewer than 2 x ROWS_PER_CHUNK rows, symgrad.runtime.kernel) runs in the caller's thread
alone. The chunk boundaries depend only on the row count, and the chunks' sums are added in
order, so a result is the same to the bit whatever the number of threads.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import typeof, types
from numba.core.compiler import Compiler
from numba.core.compiler_machinery import register_pass
from numba.core.lowering import Lower
from numba.core.typed_passes import NativeLowering

from ..errors import SymgradError
from .kernel import chunks_for

_LOCK = threading.Lock()
_POOL: list[ThreadPoolExecutor] = []


def require_device() -> None:
    """Refuse, in one line, a process whose Numba JIT is switched off (NUMBA_DISABLE_JIT):
    the generated code's exp and optimizer step exist only compiled."""
    from numba import config
    if config.DISABLE_JIT:
        raise SymgradError("backend numba: NUMBA_DISABLE_JIT is set, and the numba backend "
                           "needs Numba's compiler; unset it, or use the numpy backend")


def thread_count() -> int:
    """$NUMBA_NUM_THREADS (as for Numba's own parallel code), else the CPUs this process may
    use."""
    configured = os.environ.get("NUMBA_NUM_THREADS", "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class KernelCompiler(Compiler):
    """Numba's compiler as the generated functions use it (their ``pipeline_class``), with
    two changes.

    **No SSA reconstruction.** That pass rewrites the whole function once per variable
    assigned in more than one place, and a generated function has one such per parameter
    (its accumulator) and per branch: its time grew with parameters x statements, half of a
    200-parameter kernel's compile. The generated code gives each variable one type
    wherever it is assigned, which is all Numba's typing needs without the pass.

    **512-bit vectors.** LLVM vectorizes for 256-bit registers on CPUs with AVX-512 unless a
    function asks for more (its ``prefer-vector-width`` attribute), so the row loops ran
    four doubles to an instruction where the machine has eight. The kernels are bound by
    arithmetic and by gathers from strided columns, and twice the width cut the benchmark's
    loss + gradient on 2M x 16 from 12.9 to 10.4 ms (Fortran-ordered) and 19-23 to 15.7 ms
    (C-ordered). On a CPU without AVX-512 the attribute changes nothing."""

    wide = True  # 512-bit vectors

    def define_pipelines(self):
        self.state.flags.enable_ssa = False
        pipelines = super().define_pipelines()
        for pipeline in pipelines if self.wide else ():
            pipeline.passes = [(_WideLowering if step is NativeLowering else step, text)
                               for step, text in pipeline.passes]
        return pipelines


class ScalarCallCompiler(KernelCompiler):
    """KernelCompiler at LLVM's default width, for a function that calls a scalar libm
    function (sin, log, a fractional power: PyPI's llvmlite has no vector versions). Its
    loops vectorize around the calls, if at all, and at 512 bits packing the calls' results
    into wider vectors made a sum of 40 sin terms 8% slower."""

    wide = False


class _WideLower(Lower):
    """Numba's lowering, marking the function it lowers to vectorize for 512-bit registers
    (an LLVM string attribute, which llvmlite's attribute set does not list, hence
    ``set.add``)."""

    def post_lower(self):
        super().post_lower()
        set.add(self.function.attributes, '"prefer-vector-width"="512"')


@register_pass(mutates_CFG=True, analysis_only=False)
class _WideLowering(NativeLowering):
    _name = "symgrad_wide_lowering"

    @property
    def lowering_class(self):
        return _WideLower


class General:
    """A Numba function called through its one general version: ``General(f)(*args)``.
    ``compiled`` holds the argument kinds it has a version for (so do the functions of
    ``chunked_sums`` and ``chunked_rows``): empty until the first call."""

    def __init__(self, dispatcher, prepare=None):
        self.dispatcher, self.prepare = dispatcher, prepare  # prepare(): before any compile
        self.compiled: dict[tuple, object] = {}  # argument kinds -> that version's entry

    def __call__(self, *args):
        if self.compiled:  # Numba compiles nothing itself now: a call it cannot convert, or
            try:           # one that two versions fit (C-ordered writeable columns fit the
                return self.dispatcher(*args)  # read-only and the writeable one), raises
            except TypeError:                  # TypeError: that call goes to its own version
                pass
        return self.ready(args)(*args)

    def ready(self, args):
        """The general version for these arguments' dtypes (compiled or loaded from the
        cache once, in the calling thread)."""
        kinds = tuple(_kind(a) for a in args)
        if kinds in self.compiled:
            return self.compiled[kinds]
        with _LOCK:
            if kinds not in self.compiled:
                if self.prepare is not None:
                    self.prepare()
                self.dispatcher.disable_compile(False)
                entry = self.dispatcher.compile(tuple(_general_type(a) for a in args))
                self.dispatcher.disable_compile(True)  # other layouts convert to this version
                self.compiled[kinds] = entry
        return self.compiled[kinds]


def _kind(value):
    if isinstance(value, np.ndarray):
        return value.dtype.num, value.ndim, value.flags.writeable
    return type(value)


def _general_type(value):
    numba_type = typeof(value)
    return numba_type.copy(layout="A") if isinstance(numba_type, types.Array) else numba_type


def chunked_sums(function, width: int, dtype=np.float64):
    """``sums(theta, n, chunks, *columns)``: the (chunks, width) per-chunk sums, of ``dtype``
    (the kernel's), of a generated ``function(theta, n, chunks, first, last, sums,
    *columns)``, which fills rows first..last-1 of ``sums``."""
    general = General(function)

    def sums(theta, n: int, chunks: int, *columns) -> np.ndarray:
        out = np.empty((chunks, width), dtype)
        if chunks > 1:  # compile in the caller's thread, before the threads start
            general.ready((theta, n, chunks, 0, chunks, out, *columns))
        _in_threads(lambda first, last: general(theta, n, chunks, first, last, out, *columns),
                    chunks)
        return out
    sums.compiled = general.compiled
    return sums


def chunked_rows(function, shape: tuple[int, ...], dtype=np.float64):
    """``values(theta, n, *columns)``: an (n, *shape) array of ``dtype`` (zeros where
    ``function`` writes nothing) filled by a generated ``function(theta, start, stop, out,
    *columns)`` for rows start..stop-1, cut into chunks as the sums are."""
    general = General(function)

    def values(theta, n: int, *columns) -> np.ndarray:
        out, pieces = np.zeros((n, *shape), dtype), chunks_for(n)
        if pieces > 1:  # compile in the caller's thread, before the threads start
            general.ready((theta, 0, n, out, *columns))
        _in_threads(lambda first, last: general(theta, first * n // pieces,
                                                last * n // pieces, out, *columns), pieces)
        return out
    values.compiled = general.compiled
    return values


def _in_threads(task, count: int) -> None:
    """task(first, last) over 0..count-1 in contiguous shares, one per thread; the calling
    thread takes the first."""
    shares = 1 if count == 1 else min(count, thread_count())
    bounds = [k * count // shares for k in range(shares + 1)]
    if shares == 1:
        task(0, count)
        return
    futures = [_pool().submit(task, bounds[k], bounds[k + 1]) for k in range(1, shares)]
    try:
        task(bounds[0], bounds[1])
    finally:
        for future in futures:
            future.result()


def _pool() -> ThreadPoolExecutor:
    with _LOCK:
        if not _POOL:
            _POOL.append(ThreadPoolExecutor(max_workers=max(1, thread_count() - 1),
                                            thread_name_prefix="symgrad-kernel"))
        return _POOL[0]
