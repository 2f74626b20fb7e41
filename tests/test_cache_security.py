"""The kernel cache as a security boundary: who owns it, what is signed, what is never run.

Each test plants or damages something the way an attacker or a crash would, then runs a new
process (a fresh import, as a user's next run would be) and checks that nothing planted ran, that
the kernel still gives the right numbers, and that the cache heals.
"""
import importlib.util
import json
import marshal
import os
import pickle
import stat
import subprocess
import sys
from pathlib import Path

import pytest

LOSS = "(sigmoid(w*x + b) - y)**2"
SCRIPT = f"""
import json, sys
import numpy as np
import symgrad
f = symgrad.compile({LOSS!r}, ["w", "b"], ["x", "y"])
loss, grad = f(np.array([0.5, -0.25]), np.array([[1.0, 0.0], [2.0, 1.0], [-1.0, 1.0]]))
print(json.dumps({{"hit": f.cache_hit, "loss": loss, "grad": grad.tolist(),
                   "cache_hits": sum(f.module._loss_and_gradient.stats.cache_hits.values())}}))
"""


def run(cache: Path, key: Path, **env):
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "SYMGRAD_CACHE_DIR": str(cache),
                                              "SYMGRAD_KEY_FILE": str(key), **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The right answer, from a cache of its own."""
    root = tmp_path_factory.mktemp("reference")
    return run(root / "cache", root / "key")[0]


@pytest.fixture
def warm(tmp_path):
    """A cache and key that have served one run."""
    cache, key = tmp_path / "cache", tmp_path / "key"
    run(cache, key)
    return cache, key


def module_file(cache: Path) -> Path:
    [path] = cache.glob("numba_*.py")
    return path


def numba_files(cache: Path, suffix: str) -> list[Path]:
    return sorted((cache / "__pycache__").glob(f"*{suffix}"))


def same_numbers(result, reference):
    return result["loss"] == reference["loss"] and result["grad"] == reference["grad"]


def test_directories_are_0700_files_0600_and_the_key_is_private(warm):
    cache, key = warm
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert stat.S_IMODE((cache / "__pycache__").stat().st_mode) == 0o700
    files = [module_file(cache), *numba_files(cache, ".nbi"), *numba_files(cache, ".nbc")]
    assert len(files) >= 3 and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.stat().st_size == 32


def test_a_warm_cache_serves_both_the_module_and_the_machine_code(warm, reference):
    result, stderr = run(*warm)
    assert result["hit"] and result["cache_hits"] == 1 and same_numbers(result, reference)
    assert "warning" not in stderr


def test_a_planted_module_with_a_plain_checksum_is_not_run(warm, reference, tmp_path):
    import hashlib
    cache, key = warm
    marker = tmp_path / "pwned"
    body = f"open({str(marker)!r}, 'w').close()\n"
    module_file(cache).write_text(body + "# symgrad-sha256: "
                                  + hashlib.sha256(body.encode()).hexdigest() + "\n")
    result, _ = run(cache, key)
    assert not marker.exists() and not result["hit"] and same_numbers(result, reference)


def test_a_module_signed_with_another_key_is_not_run(warm, reference, tmp_path):
    from symgrad.codegen.signing import signed_text
    cache, key = warm
    marker = tmp_path / "pwned"
    path = module_file(cache)
    path.write_text(signed_text(path, f"open({str(marker)!r}, 'w').close()\n", os.urandom(32)))
    result, _ = run(cache, key)
    assert not marker.exists() and same_numbers(result, reference)
    assert run(cache, key)[0]["hit"]  # rebuilt, signed again


def test_planted_bytecode_is_never_imported(warm, reference, tmp_path):
    cache, key = warm
    marker = tmp_path / "pwned"
    path = module_file(cache)
    code = compile(f"open({str(marker)!r}, 'w').close()\n", str(path), "exec")
    info = path.stat()
    header = importlib.util.MAGIC_NUMBER + (0).to_bytes(4, "little") + \
        int(info.st_mtime).to_bytes(4, "little") + (info.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    pyc = Path(importlib.util.cache_from_source(str(path)))
    pyc.write_bytes(header + marshal.dumps(code))
    result, _ = run(cache, key)
    assert not marker.exists() and result["hit"] and same_numbers(result, reference)


class Planted:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("suffix", [".nbi", ".nbc"])
def test_planted_numba_pickles_are_never_loaded(warm, reference, tmp_path, suffix):
    cache, key = warm
    marker = tmp_path / "pwned"
    for path in numba_files(cache, suffix):
        path.write_bytes(pickle.dumps(Planted(marker)))
    result, _ = run(cache, key)
    assert not marker.exists() and same_numbers(result, reference)
    assert result["cache_hits"] == 0  # recompiled, and written again, signed
    assert run(cache, key)[0]["cache_hits"] == 1


@pytest.mark.parametrize("suffix", [".nbi", ".nbc"])
def test_a_truncated_numba_file_is_rebuilt(warm, reference, suffix):
    cache, key = warm
    for path in numba_files(cache, suffix):
        path.write_bytes(path.read_bytes()[:40])
    first, stderr = run(cache, key)
    assert same_numbers(first, reference) and "Error" not in stderr
    assert run(cache, key)[0]["cache_hits"] == 1  # healed, not broken on every later run


def untrusted_run(cache: Path, key: Path, reference):
    result, stderr = run(cache, key)
    [line] = [l for l in stderr.splitlines() if l.startswith("symgrad: warning")]
    assert "private temporary directory" in line and same_numbers(result, reference)
    return line


def test_a_cache_under_a_directory_others_can_write_is_not_used(tmp_path, reference):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # not sticky: anyone could swap the cache for their own
    line = untrusted_run(shared / "cache", tmp_path / "key", reference)
    assert "writable by others" in line and not list((shared / "cache").glob("*.py"))


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0,
                    reason="giving a directory to another user needs root")
def test_a_cache_owned_by_another_user_is_not_used(tmp_path, reference):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    os.chown(cache, 65534, 65534)
    line = untrusted_run(cache, tmp_path / "key", reference)
    assert "owned by uid 65534" in line and not list(cache.glob("*.py"))


def test_a_cache_path_that_is_a_file_works_without_the_cache(tmp_path, reference):
    path = tmp_path / "cache"
    path.write_text("not a directory")
    assert "not a directory" in untrusted_run(path, tmp_path / "key", reference)
    assert path.read_text() == "not a directory"


def test_an_unwritable_home_works_without_the_cache(tmp_path, reference):
    blocked = tmp_path / "file"
    blocked.write_text("")
    env = {"HOME": str(blocked / "home"), "XDG_CACHE_HOME": "", "XDG_CONFIG_HOME": ""}
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            timeout=300, env={k: v for k, v in {**os.environ, **env}.items()
                                              if k not in ("SYMGRAD_CACHE_DIR",
                                                           "SYMGRAD_KEY_FILE") and v != ""})
    assert result.returncode == 0, result.stderr
    assert same_numbers(json.loads(result.stdout), reference)
    warnings = [l for l in result.stderr.splitlines() if l.startswith("symgrad: warning")]
    assert len(warnings) == 1 and "private temporary directory" in warnings[0]


def test_a_key_in_a_directory_others_can_write_or_behind_a_link_is_not_used(tmp_path,
                                                                             reference):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # not sticky: anyone could swap the key for their own
    line = untrusted_run(tmp_path / "cache", shared / "key", reference)
    assert "holding the cache key, is writable by others" in line
    assert not (shared / "key").exists()
    real = tmp_path / "real"
    run(tmp_path / "other", real)  # a good key
    (tmp_path / "link").symlink_to(real)
    assert "is a symbolic link" in untrusted_run(tmp_path / "cache2", tmp_path / "link",
                                                  reference)


def test_a_key_others_can_read_is_not_used(warm, reference):
    cache, key = warm
    key.chmod(0o644)
    assert "not private" in untrusted_run(cache, key, reference)


def test_a_read_only_cache_works_without_the_cache(tmp_path, monkeypatch):
    """Root writes through a 0500 directory, so the refusal is simulated there."""
    from symgrad.codegen import cache as kernel_cache
    directory = tmp_path / "cache"
    (directory / "__pycache__").mkdir(parents=True, mode=0o700)
    directory.chmod(0o500)
    if os.getuid() == 0:
        def refuse(*_args, **_kwargs):
            raise PermissionError(13, "Permission denied")
        monkeypatch.setattr(kernel_cache.tempfile, "TemporaryFile", refuse)
    store = kernel_cache._open_store(directory, tmp_path / "key")
    assert store.private and store.directory != directory
    directory.chmod(0o700)


def test_only_the_generated_modules_own_functions_cache_through_signed_files():
    """The runtime's steps, imported into every generated module, keep Numba's own cache: a
    process calling them directly must still read it (a signed file would not unpickle)."""
    import symgrad
    from symgrad.codegen.signed_numba_cache import SignedFunctionCache

    module = symgrad.compile("(w*x - y)**2", ["w"], ["x", "y"]).module
    assert isinstance(module._train_epochs._cache, SignedFunctionCache)
    assert isinstance(module._loss_and_gradient._cache, SignedFunctionCache)
    assert not isinstance(module.step_into._cache, SignedFunctionCache)
