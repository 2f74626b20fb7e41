"""Signed files: an HMAC-SHA256 tag over a file's name and contents under the user's key.

The kernel cache (``cache``) appends the tag to every module it writes and reads back only
modules whose tag verifies; Numba's index and data files carry it in front
(``signed_numba_cache``). A file that is not the user's own, or is writable by others, is never
read at all.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import stat
from pathlib import Path

TAG_PREFIX = "# symgrad-hmac-sha256: "


def tag(key: bytes, name: str, payload: bytes) -> bytes:
    """The HMAC-SHA256 of a file's name and contents under the user's key."""
    return hmac.new(key, name.encode() + b"\0" + payload, hashlib.sha256).digest()


def signed_text(path: Path, source: str, key: bytes) -> str:
    return source + f"{TAG_PREFIX}{tag(key, path.name, source.encode()).hex()}\n"


def read_signed(path: Path, key: bytes) -> str | None:
    """The body of a module file whose tag verifies, else None (missing, foreign, damaged)."""
    try:
        if not private_file(path):
            return None
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return None
    body, _, last = text.rstrip("\n").rpartition("\n")
    body += "\n"
    if not last.startswith(TAG_PREFIX):
        return None
    expected = tag(key, path.name, body.encode()).hex()
    return body if hmac.compare_digest(last[len(TAG_PREFIX):], expected) else None


def private_file(path: Path) -> bool:
    """A regular file owned by the user, writable by no one else."""
    info = os.lstat(path)
    return stat.S_ISREG(info.st_mode) and owned_by_user(info) and \
        not (hasattr(os, "getuid") and stat.S_IMODE(info.st_mode) & 0o022)


def owned_by_user(info: os.stat_result) -> bool:
    """Whether the file (its lstat) belongs to this user (always, where there are no uids)."""
    return not hasattr(os, "getuid") or info.st_uid == os.getuid()
