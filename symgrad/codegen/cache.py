"""The kernel cache: generated modules as content-hashed files that Numba can cache beside.

Numba's ``cache=True`` needs a function defined in a real file, so every generated module is
written to ``<cache dir>/<backend>_<sha256>.py`` and imported from there; Numba then keeps its
machine code in ``__pycache__`` beside it. The hash covers everything the source depends on
(the caller's key material plus the text of symgrad's own modules), so a hit skips derivation
and a changed symgrad never reads a stale kernel. Files are written to a temporary name and
renamed (atomic: a parallel process sees the whole file or none), and end with a checksum line;
a file that fails it, or fails to import, is rebuilt.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Callable

CHECKSUM_PREFIX = "# symgrad-sha256: "


def cache_dir() -> Path:
    """$SYMGRAD_CACHE_DIR, else the platform's user cache directory."""
    configured = os.environ.get("SYMGRAD_CACHE_DIR")
    if configured:
        return Path(configured)
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "symgrad" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "symgrad"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "symgrad"


@lru_cache(maxsize=1)
def code_digest() -> str:
    """A hash of symgrad's own source: generated kernels depend on all of it."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_key(*parts: str) -> str:
    digest = hashlib.sha256(code_digest().encode())
    for part in parts:
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()


def load_or_build(backend: str, key: str, build: Callable[[], str]):
    """(module, source, hit): the cached module for key, or build() written and imported."""
    path = cache_dir() / f"{backend}_{key[:40]}.py"
    source = _read_valid(path)
    if source is not None:
        try:
            return _import(path, key), source, True
        except Exception:  # a corrupt entry: fall through and rebuild it
            pass
    source = build()
    _write_atomically(path, source + f"{CHECKSUM_PREFIX}{_checksum(source)}\n")
    return _import(path, key), source, False


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _read_valid(path: Path) -> str | None:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return None
    body, _, last = text.rstrip("\n").rpartition("\n")
    body += "\n"
    if last.startswith(CHECKSUM_PREFIX) and last[len(CHECKSUM_PREFIX):] == _checksum(body):
        return body
    return None


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".py")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _import(path: Path, key: str):
    name = f"symgrad_kernel_{key[:24]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
