"""Output files that are never half-written, never the input, and keep their permissions.

``write_atomically`` writes a temporary file beside the target and renames it over the target:
a reader sees the old file or the new one, never a mix. A replaced file keeps its permission
bits (a 0600 PARAMS.json stays 0600); a new one gets the umask's default, or ``mode``. A failed
write (disk full, a file-size limit, a read-only directory) raises a one-line SymgradError,
leaves the old file as it was and no temporary behind. ``refuse_overwriting`` compares files
by device and inode, not by name, so a path spelled differently or a link is caught too.
``csv_text(header, rows)`` is the CSV text that predict writes.
"""
from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

from .errors import SymgradError


def write_atomically(path: str | os.PathLike, data: str | bytes, mode: int | None = None,
                     follow_symlinks: bool = True) -> None:
    """Replace path's contents with data in one step; SymgradError naming path on failure.

    A symbolic link is written through (``follow_symlinks``, as a shell's ``>`` would) or
    replaced itself (the kernel cache: a planted link must never redirect a write). An existing
    device or FIFO (``/dev/null``) is written into, never replaced by a regular file, and so is
    one of this process's open streams (``--out /dev/stdout``, whatever it is redirected to)."""
    payload = data.encode() if isinstance(data, str) else data
    descriptor = open_descriptor(path) if follow_symlinks else None
    if descriptor is not None:
        return _write_to_descriptor(path, descriptor, payload)
    target = Path(os.path.realpath(path) if follow_symlinks else os.path.abspath(path))
    if follow_symlinks and os.path.islink(path) and not target.exists():
        raise SymgradError(f"cannot write {path}: a broken or looping symbolic link")
    if target.exists() and not target.is_file() and not target.is_symlink():
        return _write_in_place(path, target, payload)
    mode = _mode_for(target) if mode is None else mode
    try:
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    except OSError as err:
        raise SymgradError(f"cannot write {path}: {err.strerror}") from None
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except OSError as err:
        Path(temporary).unlink(missing_ok=True)
        raise SymgradError(f"cannot write {path}: {err.strerror or err}; "
                           f"the old file, if any, is unchanged") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# a path naming one of this process's open descriptors: /dev/stdout links to /proc/self/fd/1
DESCRIPTOR = re.compile(r"/(?:proc/(?:self|thread-self|(\d+))|dev)/fd/(\d+)")
MAX_LINKS = 40  # as the kernel's own limit on a chain of symbolic links


def open_descriptor(path: str | os.PathLike) -> int | None:
    """The descriptor that ``path`` names, directly or through symbolic links, when it is one
    of this process's open ones (/dev/stdout, /dev/fd/3, /proc/self/fd/1), else None. Such a
    path is written into, as a shell would: replacing the file behind it (``> log`` or
    ``>> log``) would lose what the stream already holds, and a pipe has no file at all."""
    path = os.path.abspath(path)
    for _ in range(MAX_LINKS):
        match = DESCRIPTOR.fullmatch(path)
        if match and match.group(1) in (None, str(os.getpid())):
            return int(match.group(2))
        if not os.path.islink(path):
            return None
        path = os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(path)))
    return None


def _write_to_descriptor(path, descriptor: int, payload: bytes) -> None:
    """payload written at the stream's position (after what Python's own buffers hold)."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    try:
        write_all(descriptor, payload)
    except OSError as err:
        raise SymgradError(f"cannot write {path}: {err.strerror or err}") from None


def write_all(descriptor: int, data) -> None:
    """Every byte of data to the descriptor (os.write may write fewer); OSError if not."""
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(descriptor, view):]


def _write_in_place(path, target: Path, payload: bytes) -> None:
    if target.is_dir():
        raise SymgradError(f"cannot write {path}: it is a directory")
    try:
        with open(target, "wb") as handle:
            handle.write(payload)
    except OSError as err:
        raise SymgradError(f"cannot write {path}: {err.strerror or err}") from None


def refuse_overwriting(out: str | None, inputs, option: str = "--out") -> None:
    """SymgradError if ``out`` (given as ``option``) is empty, cannot be written, or is the
    same file as one of ``inputs`` ({role: path} or (role, path) pairs), before anything is
    read or written."""
    if out is None:
        return
    if not out.strip():
        raise SymgradError(f"{option} is an empty path")
    _check_directory_of(out, option)
    try:
        written = os.stat(out)
    except OSError:
        return  # a new file cannot be an input
    for role, path in inputs.items() if isinstance(inputs, dict) else inputs:
        try:
            read = os.stat(path)
        except OSError:
            continue
        if (written.st_dev, written.st_ino) == (read.st_dev, read.st_ino):
            raise SymgradError(f"{option} {out} is the {role} {path}: refusing to overwrite it")


def _check_directory_of(out: str, option: str) -> None:
    """Refuse, before any work is done, an output that could never be written: a directory,
    or a file in a folder that does not exist or cannot be written."""
    if open_descriptor(out) is not None:
        return
    if os.path.isdir(out):
        raise SymgradError(f"{option} {out} is a directory")
    if os.path.islink(out) and not os.path.exists(out):
        raise SymgradError(f"{option} {out} is a broken or looping symbolic link")
    folder = os.path.dirname(os.path.realpath(out))
    if not os.path.isdir(folder):
        raise SymgradError(f"cannot write {option} {out}: no folder {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SymgradError(f"cannot write {option} {out}: the folder {folder} is not writable")


def _mode_for(target: Path) -> int:
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class StdoutError(Exception):
    """Writing the standard output failed; ``errno`` is the OSError's."""

    def __init__(self, err: OSError):
        super().__init__(err.strerror or str(err))
        self.errno = err.errno


class _WholeWrites(io.RawIOBase):
    """A descriptor whose every write writes all its bytes or raises StdoutError."""

    def __init__(self, descriptor: int):
        super().__init__()
        self.descriptor, self.failed = descriptor, False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.descriptor

    def write(self, data) -> int:
        """All of data, or StdoutError once; after that, nothing (the failure is reported)."""
        try:
            if not self.failed:
                write_all(self.descriptor, data)
        except OSError as err:
            self.failed = True
            raise StdoutError(err) from None
        return memoryview(data).nbytes


@contextlib.contextmanager
def checked_stdout():
    """sys.stdout, while the block runs, as a stream that writes everything or raises
    StdoutError, flushed at the block's end. CPython's own stdout takes a short write (a file
    past the size limit, a full disk) as done, so output was cut off with status 0. A stdout
    without a descriptor (a test's capture) is left as it is."""
    original = sys.stdout
    try:
        descriptor = original.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    original.flush()
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(_WholeWrites(descriptor)),
                                  encoding=original.encoding, errors=original.errors,
                                  line_buffering=original.line_buffering)
    try:
        yield
        sys.stdout.flush()
    finally:
        replaced, sys.stdout = sys.stdout, original
        with contextlib.suppress(StdoutError, OSError, ValueError):
            replaced.detach()  # its bytes are written or lost; the descriptor stays open


def csv_text(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """CSV text: the header, then the rows; cells quoted where needed (a comma, a quote)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()
