"""The kernel cache: a second process hits it without deriving, corrupt files are rebuilt,
concurrent compiles of the same loss both succeed, a link planted in the cache never redirects
a write, and processes racing to create the signing key all read it."""
import json
import os
import subprocess
import sys
from pathlib import Path


LOSS = "(sigmoid(w0*x0 + w1*x1 + b) - y)**2"
SCRIPT = f"""
import json, sys
import numpy as np
import symgrad
f = symgrad.compile({LOSS!r}, ["w0", "w1", "b"], ["x0", "x1", "y"])
loss, grad = f(np.array([0.1, -0.2, 0.3]), np.arange(12.0).reshape(4, 3) / 10)
print(json.dumps({{"hit": f.cache_hit, "sympy": "sympy" in sys.modules,
                   "loss": loss, "grad": grad.tolist()}}))
"""


def compile_in_subprocess(cache: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            env={**_env(), "SYMGRAD_CACHE_DIR": str(cache)}, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _env():
    import os
    return dict(os.environ)


def kernel_files(cache: Path):
    return sorted(cache.glob("numba_*.py"))


def test_second_process_hits_the_cache_without_deriving(tmp_path):
    first = compile_in_subprocess(tmp_path)
    [path] = kernel_files(tmp_path)
    written = path.stat().st_mtime_ns
    second = compile_in_subprocess(tmp_path)
    assert first["hit"] is False and second["hit"] is True
    assert second["sympy"] is False  # a hit never parses or derives: SymPy is not even imported
    assert path.stat().st_mtime_ns == written  # not regenerated
    assert second["loss"] == first["loss"] and second["grad"] == first["grad"]


def test_a_truncated_cache_file_is_rebuilt(tmp_path):
    first = compile_in_subprocess(tmp_path)
    [path] = kernel_files(tmp_path)
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    rebuilt = compile_in_subprocess(tmp_path)
    assert rebuilt["hit"] is False and rebuilt["grad"] == first["grad"]
    assert path.read_text() == text
    assert compile_in_subprocess(tmp_path)["hit"] is True


def test_a_cache_file_that_does_not_import_is_rebuilt(tmp_path):
    compile_in_subprocess(tmp_path)
    [path] = kernel_files(tmp_path)
    from symgrad.codegen.cache import current_store
    from symgrad.codegen.signing import signed_text
    body = "raise ImportError('corrupt')\n"
    path.write_text(signed_text(path, body, current_store().key))
    assert compile_in_subprocess(tmp_path)["hit"] is False


def test_two_processes_compiling_at_once_both_succeed(tmp_path):
    command = [sys.executable, "-c", SCRIPT]
    env = {**_env(), "SYMGRAD_CACHE_DIR": str(tmp_path)}
    running = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env) for _ in range(2)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in running]
    assert all(code == 0 for _, _, code in results), [err for _, err, _ in results]
    outputs = [json.loads(out) for out, _, _ in results]
    assert outputs[0]["grad"] == outputs[1]["grad"]
    assert len(kernel_files(tmp_path)) == 1 and not list(tmp_path.glob(".tmp-*"))


def test_key_covers_options(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    import symgrad
    loss = LOSS + " + w1**2/4321"  # no other test compiles it: this process has no copy yet
    symgrad.compile(loss, ["w0", "w1", "b"], ["x0", "x1", "y"], backend="numpy")
    symgrad.compile(loss, ["w0", "w1", "b"], ["x0", "x1", "y"], backend="numpy", reduction="sum")
    symgrad.compile(loss, ["w0", "b", "w1"], ["x0", "x1", "y"], backend="numpy")
    assert len(list(tmp_path.glob("numpy_*.py"))) == 3


def test_a_link_planted_in_the_cache_never_redirects_a_write(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "cache"))
    import symgrad
    loss = "(w*x - y)**2 + w**2/12345"
    first = symgrad.compile(loss, ["w"], ["x", "y"], backend="numpy")
    path = Path(first.module.__file__)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    path.unlink()
    os.symlink(victim, path)
    sys.modules.pop(first.module.__name__)
    again = symgrad.compile(loss, ["w"], ["x", "y"], backend="numpy")
    assert victim.read_text() == "precious" and not again.cache_hit
    assert not path.is_symlink() and path.read_text().startswith(again.source[:20])


def test_processes_racing_to_create_the_key_all_read_it(tmp_path):
    script = "from symgrad.codegen.cache import current_store; current_store()"
    env = {**_env(), "SYMGRAD_KEY_FILE": str(tmp_path / "k" / "cache.key"),
           "SYMGRAD_CACHE_DIR": str(tmp_path / "cache")}
    running = [subprocess.Popen([sys.executable, "-c", script], env=env, text=True,
                                stderr=subprocess.PIPE) for _ in range(6)]
    errors = [p.communicate(timeout=120)[1] for p in running]
    assert not any("warning" in e for e in errors), errors
    assert (tmp_path / "k" / "cache.key").stat().st_size == 32


def test_generated_code_that_does_not_compile_is_a_symgrad_error_and_not_kept(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    from symgrad.codegen import cache
    from symgrad.errors import SymgradError

    try:
        cache.load_or_build("numpy", "f" * 64, lambda: "def broken():\n    for i in x:\n")
    except SymgradError as err:
        assert "bug in symgrad" in str(err) and "\n" not in str(err)
    else:
        raise AssertionError("no error")
    assert not list(tmp_path.glob("numpy_*.py"))
