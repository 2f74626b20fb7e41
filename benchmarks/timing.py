"""The one timing helper the benchmark scripts share (each script runs from this folder)."""
from __future__ import annotations

import statistics
import time
from typing import Callable


def timed(fn: Callable, repeats: int, warm_up: bool = False,
          before: Callable[[], object] | None = None):
    """(median wall seconds of ``repeats`` calls, the last call's result). ``warm_up`` makes
    one untimed call first (compilation, caches); ``before`` runs untimed before each call."""
    if warm_up:
        fn()
    times, result = [], None
    for _ in range(repeats):
        if before is not None:
            before()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result
