"""The kernel cache: generated modules as signed files in a private directory, imported by symgrad.

Numba's ``cache=True`` needs a function defined in a real file, so every generated module is
written to ``<cache dir>/<backend>_<key>.py``; Numba keeps its machine code in ``__pycache__``
beside it. The key covers everything the source depends on (the caller's key material plus the
text of symgrad's own modules), so a hit skips derivation and a changed symgrad never reads a
stale kernel.

The cache is code that symgrad runs, so it is a security boundary (docs/threat-model.md):
- the directory is used only if it, and every directory above it, passes an OpenSSH
  ``StrictModes``-style check: owned by the user (ancestors: or root), not writable by group or
  others (ancestors: unless sticky); otherwise symgrad says so in one line on stderr and
  compiles into a private temporary directory for this process;
- directories are created 0700 and files 0600;
- every file symgrad writes (module sources, Numba's index and machine-code files) carries an
  HMAC-SHA256 over its name and contents under a per-user key kept 0600 outside the cache; a
  file whose tag does not verify (planted, truncated, copied from elsewhere) is never imported
  or unpickled: it is rebuilt;
- modules are compiled from the verified text (``compile`` + ``exec``), never through the import
  system, so no ``.pyc`` is ever read;
- one lock makes ``load_or_build`` thread-safe: a module is visible in ``sys.modules`` only once
  it has finished executing.
"""
from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import stat
import sys
import tempfile
import threading
import types
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

from ..errors import SymgradError, warn
from .signing import owned_by_user, read_signed, signed_text

KEY_BYTES = 32
_LOCK = threading.RLock()
_STORES: dict[tuple[str, str], "Store"] = {}


@dataclass(frozen=True)
class Store:
    """Where kernels live and the key that signs them; ``private``: a per-process temporary
    directory used because the configured one could not be trusted or written."""
    directory: Path
    key: bytes
    private: bool = False


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


def key_file() -> Path:
    """$SYMGRAD_KEY_FILE, else ``symgrad/cache.key`` in the user's configuration directory:
    outside the cache, so whoever can write the cache cannot thereby read the key."""
    configured = os.environ.get("SYMGRAD_KEY_FILE")
    if configured:
        return Path(configured)
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home())) / "symgrad" / "cache.key"
    base = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    return base / "symgrad" / "cache.key"


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
    with _LOCK:
        name = f"symgrad_kernel_{key[:24]}"
        store = current_store()
        path = store.directory / f"{backend}_{key[:40]}.py"
        if name in sys.modules:
            module = sys.modules[name]
            return module, module.__symgrad_source__, True
        source = read_signed(path, store.key)
        if source is not None:
            try:
                return _execute(name, path, source, store.key), source, True
            except Exception:  # an entry that verifies but fails to run: rebuild it
                pass
        source = build()
        path = _write_module(store, path, source)
        try:
            return _execute(name, path, source, current_store().key), source, False
        except SyntaxError as err:  # symgrad's bug: say so, and keep no entry
            path.unlink(missing_ok=True)
            raise SymgradError(f"symgrad generated code that Python cannot compile ({err.msg}, "
                               f"line {err.lineno} of {path.name}); this is a bug in "
                               f"symgrad: please report it with the model") from None


# --- the store: a trusted directory and a key ------------------------------------------------

def current_store() -> Store:
    """The store for the configured cache directory and key file (checked once per process)."""
    with _LOCK:
        configured = (str(cache_dir()), str(key_file()))
        if configured not in _STORES:
            _STORES[configured] = _open_store(Path(configured[0]), Path(configured[1]))
        return _STORES[configured]


def _open_store(directory: Path, key_path: Path) -> Store:
    try:
        _make_private_dir(directory)
        _check_trusted(directory)
        _make_private_dir(directory / "__pycache__")
        _check_trusted(directory / "__pycache__")
        _check_writable(directory)
        key = _user_key(key_path)
    except UntrustedCache as reason:
        return _private_store(str(reason))
    return Store(directory=directory, key=key)


class UntrustedCache(Exception):
    """Why a cache directory or key file cannot be used."""


def _make_private_dir(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError:
        raise UntrustedCache(f"the kernel cache {directory} is not a directory") from None
    except OSError as err:
        raise UntrustedCache(f"cannot create the kernel cache {directory}: "
                             f"{err.strerror}") from None
    if not directory.is_dir():
        raise UntrustedCache(f"the kernel cache {directory} is not a directory")
    info = directory.stat()
    if owned_by_user(info) and stat.S_IMODE(info.st_mode) & 0o077:
        try:
            directory.chmod(0o700)
        except OSError:
            pass  # the check that follows decides


def _check_trusted(directory: Path) -> None:
    """StrictModes: the directory owned by the user and private to them; every ancestor owned
    by the user or root and not writable by others (unless sticky, as /tmp)."""
    if directory.name == "__pycache__" and directory.is_symlink():
        raise UntrustedCache(f"{directory} is a symbolic link")
    if not hasattr(os, "getuid"):
        return  # Windows: ACLs, not modes; the per-user profile directory is private
    info = os.stat(directory)
    if not owned_by_user(info):
        raise UntrustedCache(f"the kernel cache {directory} is owned by uid {info.st_uid}, "
                             f"not by you (uid {os.getuid()})")
    if stat.S_IMODE(info.st_mode) & 0o022:
        raise UntrustedCache(f"the kernel cache {directory} is writable by others "
                             f"(mode {stat.S_IMODE(info.st_mode):o})")
    _check_places(Path(os.path.realpath(directory)).parents, "above the kernel cache")


def _check_places(places, where: str) -> None:
    """Each directory owned by the user or root and not writable by others unless sticky (as
    /tmp): none can swap what lies below it."""
    for place in places:
        info = os.stat(place)
        if info.st_uid not in (0, os.getuid()):
            raise UntrustedCache(f"{place}, {where}, is owned by uid {info.st_uid}")
        if stat.S_IMODE(info.st_mode) & 0o022 and not info.st_mode & stat.S_ISVTX:
            raise UntrustedCache(f"{place}, {where}, is writable by others")


def _check_writable(directory: Path) -> None:
    try:
        tempfile.TemporaryFile(dir=directory).close()
    except OSError as err:
        raise UntrustedCache(f"cannot write the kernel cache {directory}: "
                             f"{err.strerror}") from None


def _user_key(path: Path) -> bytes:
    """The per-user signing key, created (0600, in a 0700 directory) on first use; processes
    racing to create it all end up reading the one that was linked in first."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if hasattr(os, "getuid"):  # (as the cache's ancestors: none may swap the key)
            if path.is_symlink():
                raise UntrustedCache(f"the cache key {path} is a symbolic link")
            real = Path(os.path.realpath(path.parent))
            _check_places((real, *real.parents), "holding the cache key")
        if not path.exists():
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".key-")  # 0600
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(os.urandom(KEY_BYTES))
                os.link(temporary, path)  # appears whole, or not at all if another won the race
            except FileExistsError:
                pass
            finally:
                os.unlink(temporary)
        return _read_key(path)
    except OSError as err:
        raise UntrustedCache(f"cannot read or create the cache key {path}: "
                             f"{err.strerror}") from None


def _read_key(path: Path) -> bytes:
    with open(path, "rb") as handle:
        info = os.fstat(handle.fileno())
        key = handle.read(KEY_BYTES + 1)
    if not owned_by_user(info) or (hasattr(os, "getuid") and stat.S_IMODE(info.st_mode) & 0o077):
        raise UntrustedCache(f"the cache key {path} is not private to you "
                             f"(mode {stat.S_IMODE(info.st_mode):o}, uid {info.st_uid})")
    if len(key) != KEY_BYTES:
        raise UntrustedCache(f"the cache key {path} is damaged (delete it to make a new one)")
    return key


def _private_store(reason: str) -> Store:
    """A temporary 0700 directory for this process and a key that never touches the disk."""
    warn(f"{reason}; not using it (kernels compile into a private temporary directory)")
    directory = Path(tempfile.mkdtemp(prefix="symgrad-cache-"))
    (directory / "__pycache__").mkdir(mode=0o700)
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return Store(directory=directory, key=os.urandom(KEY_BYTES), private=True)


def _write_module(store: Store, path: Path, source: str) -> Path:
    """Write the signed module (0600); if the store cannot be written, move to a private one."""
    from ..files import write_atomically

    try:
        write_atomically(path, signed_text(path, source, store.key), mode=0o600, follow_symlinks=False)
        return path
    except SymgradError as err:
        with _LOCK:
            fallback = _private_store(str(err))
            _STORES[(str(cache_dir()), str(key_file()))] = fallback
        path = fallback.directory / path.name
        write_atomically(path, signed_text(path, source, fallback.key), mode=0o600, follow_symlinks=False)
        return path


def _execute(name: str, path: Path, source: str, key: bytes):
    """The module from verified source: compiled from the text (no .pyc), registered in
    sys.modules only once it has run, its Numba functions caching through signed files."""
    module = types.ModuleType(name)
    module.__file__ = str(path)
    module.__symgrad_source__ = source
    exec(compile(source, str(path), "exec"), module.__dict__)  # noqa: S102 - symgrad's own code
    if "numba" in sys.modules:
        from .signed_numba_cache import sign_numba_caches
        sign_numba_caches(module, key)
    sys.modules[name] = module
    return module
