"""Stop signals: Ctrl-C (SIGINT), SIGTERM and SIGHUP end a run the same way, saving first.

Inside ``stop_signals_raise()`` each of them raises ``Stopped``, a KeyboardInterrupt carrying
the signal number, so every place that saves on Ctrl-C saves on a ``kill`` or a closed
terminal too, and the command exits with 128 + the signal's number, as shells report it.
``deferred()`` holds them back while an update is written in several parts,
``finished_first(what)`` while a run's result is written (then they are a warning),
``waited(done)`` until a poll returns (then they raise), and
``handled_by(callback)`` replaces them for the stretch where an exception must not be
thrown (inside Numba's compiler); ``saving_on_stop(save)`` is that stretch's guard: save,
then raise Stopped or end the process at once. All act in the main thread only (Python
delivers signals there); elsewhere they do nothing.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Callable

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))


class Stopped(KeyboardInterrupt):
    """A stop signal arrived: ``signum`` says which; ``status`` is the exit status it earns."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signum)
        self.signum = signum

    @property
    def status(self) -> int:
        return 128 + self.signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def stopped_by(signum: int) -> str:
    """'interrupted' for Ctrl-C (SIGINT), else 'stopped by SIGTERM' (or SIGHUP)."""
    return "interrupted" if signum == signal.SIGINT else \
        f"stopped by {signal.Signals(signum).name}"


def exit_status(stop: BaseException) -> int:
    """128 + the signal for a Stopped, 130 (SIGINT's) for a plain KeyboardInterrupt."""
    return stop.status if isinstance(stop, Stopped) else 128 + signal.SIGINT


@contextmanager
def stop_signals_raise():
    """Every stop signal raises Stopped(signum) inside the block."""
    def raise_stopped(signum, _frame):
        raise Stopped(signum)
    with handled_by(raise_stopped):
        yield


@contextmanager
def handled_by(handler: Callable[[int, object], None]):
    """Every stop signal calls handler(signum, frame) inside the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@contextmanager
def saving_on_stop(save: Callable[[], object], exit_note: str | None = None):
    """A stop signal inside the block: save(), then raise Stopped; or, given ``exit_note``,
    write 'symgrad: error: SIGNAME exit_note' on stderr and end the process at once with
    128 + the signal (no exception crosses the block)."""
    def on_stop(signum, _frame):
        save()
        stop = Stopped(signum)
        if exit_note is None:
            raise stop
        sys.stderr.write(f"symgrad: error: {stop.name} {exit_note}\n")
        sys.stderr.flush()
        os._exit(stop.status)

    with handled_by(on_stop):
        yield


@contextmanager
def deferred():
    """A stop signal inside the block takes effect when the block ends (an update written in
    several parts commits whole)."""
    with _collected() as (received, previous):
        yield
    if received:
        _deliver(received[0], previous[received[0]])


@contextmanager
def finished_first(what: str):
    """For the last step of a run (writing its result, which ends it anyway): a stop signal
    inside the block lets the step finish and is then one warning ('SIGTERM while what:
    finished first'), not an exception that would lose or misreport the result."""
    from .errors import warn
    with _collected() as (received, _):
        yield
    if received:
        warn(f"{signal.Signals(received[0]).name} while {what}: finished first")


def waited(done: Callable[[float], bool], interval: float = 0.1) -> None:
    """Calls done(interval) until it returns True; a stop signal meanwhile raises Stopped
    between two calls, never inside one (a Dask client's wait: an exception thrown into
    its event loop's machinery is logged there as a traceback)."""
    with _collected() as (received, _):
        while not received and not done(interval):
            pass
    if received:
        raise Stopped(received[0])


@contextmanager
def _collected():
    """Inside the block each stop signal is appended to ``received`` (the main thread only;
    elsewhere the list stays empty); yields (received, the handlers the block replaced)."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received, {}
        return
    previous = {s: signal.signal(s, lambda signum, _f: received.append(signum))
                for s in STOP_SIGNALS}
    try:
        yield received, previous
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _deliver(signum: int, handler) -> None:
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_DFL:
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        signal.raise_signal(signum)  # the default action: end the process
