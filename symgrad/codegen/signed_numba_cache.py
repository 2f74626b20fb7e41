"""Numba's on-disk cache for generated kernels, with every file signed by the user's key.

Numba keeps a kernel's machine code in an index file (``.nbi``) and data files (``.nbc``), and
unpickles both: a planted or damaged file would run code or fail on every later start. For the
functions of a generated module, symgrad swaps each dispatcher's cache for one whose files are
``HMAC tag || pickle``: a file whose tag does not verify under the user's key (see
``signing.tag``) is treated as absent, never unpickled, and the next compile overwrites it. Files
are created 0600. Only Numba's documented cache classes are subclassed; the swap is the same
assignment Numba's own ``enable_caching`` makes.
"""
from __future__ import annotations

import contextlib
import hmac
import os
import pickle
import uuid

from numba.core.caching import FunctionCache, IndexDataCacheFile
from numba.core.dispatcher import Dispatcher

from .signing import tag

TAG_BYTES = 32


def sign_numba_caches(module, key: bytes) -> None:
    """Give every caching Numba function the module defines a signed cache. Functions it
    imports (symgrad.runtime.numba_support's steps) keep Numba's own cache beside their
    package: signing theirs with this key would leave files that their own loader, in a
    process that calls them directly, cannot read."""
    for value in vars(module).values():
        if isinstance(value, Dispatcher) and isinstance(value._cache, FunctionCache) \
                and value.py_func.__module__ == module.__name__:
            value._cache = SignedFunctionCache(value.py_func, key)


class SignedFunctionCache(FunctionCache):
    """Numba's FunctionCache, reading and writing through SignedCacheFile."""

    def __init__(self, py_func, key: bytes):
        super().__init__(py_func)
        self._cache_file = SignedCacheFile(self._cache_path, self._impl.filename_base,
                                           self._impl.locator.get_source_stamp(), key)


class SignedCacheFile(IndexDataCacheFile):
    """Index and data files as ``tag || pickle``; unverified files read as missing."""

    def __init__(self, cache_path, filename_base, source_stamp, key: bytes):
        super().__init__(cache_path, filename_base, source_stamp)
        self._key = key

    def load(self, key):
        data_name = self._load_index().get(key)
        if data_name is None:
            return None
        payload = self._verified(self._data_path(data_name))
        return None if payload is None else pickle.loads(payload)

    def _load_index(self):
        payload = self._verified(self._index_path)
        if payload is None:
            return {}
        version, stamp, overloads = pickle.loads(payload)
        if version != self._version or stamp != self._source_stamp:
            return {}
        return overloads

    def _save_index(self, overloads):
        self._write_signed(self._index_path,
                           self._dump((self._version, self._source_stamp, overloads)))

    def _save_data(self, name, data):
        self._write_signed(self._data_path(name), self._dump(data))

    def _verified(self, path) -> bytes | None:
        try:
            with open(path, "rb") as handle:
                content = handle.read()
        except OSError:
            return None
        signature, payload = content[:TAG_BYTES], content[TAG_BYTES:]
        expected = tag(self._key, os.path.basename(path), payload)
        return payload if hmac.compare_digest(signature, expected) else None

    def _write_signed(self, path, payload: bytes) -> None:
        """Write a signed file; if the disk refuses (full, a size limit), cache nothing: the
        next run compiles again."""
        try:
            with self._open_for_write(path) as handle:
                handle.write(tag(self._key, os.path.basename(path), payload) + payload)
        except OSError:
            pass

    @contextlib.contextmanager
    def _open_for_write(self, filepath):
        temporary = f"{filepath}.tmp.{uuid.uuid4().hex[:16]}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle
            os.replace(temporary, filepath)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
