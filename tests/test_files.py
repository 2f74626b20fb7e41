"""Output files (symgrad/files.py): --out is never the input, is refused in one line before any
work when it cannot be written, is replaced atomically keeping its permissions, is written
into when it is a FIFO, and a failed write keeps the old file and leaves no temporary."""
import errno
import json
import os
import resource
import stat
import subprocess
import sys
import threading

import pytest

from symgrad import SymgradError
from support import ROOT, cli, one_line_error


def test_out_that_is_the_data_file_is_refused_before_anything_happens(tmp_path, hours):
    before = hours.read_bytes()
    os.symlink(hours, tmp_path / "link.csv")
    for out in (hours, tmp_path / "link.csv", tmp_path / "." / "hours.csv"):
        one_line_error(cli("train", hours, "--model", "w*x", "--target", "y", "--out", out),
                       "is the data file", "refusing")
    assert hours.read_bytes() == before


def test_predict_out_that_is_an_input_is_refused(tmp_path, hours):
    params = tmp_path / "p.json"
    assert cli("train", hours, "--model", "w*x", "--target", "y", "--out", params,
               "--quiet").exit_code == 0
    saved = params.read_bytes()
    one_line_error(cli("predict", params, hours, "--out", hours), "is the data file")
    one_line_error(cli("predict", params, hours, "--out", params), "is the params file")
    assert params.read_bytes() == saved and hours.read_text().startswith("x,y\n1,2")


def test_an_empty_or_unwritable_out_is_refused_before_training(tmp_path, hours):
    one_line_error(cli("train", hours, "--model", "w*x", "--target", "y", "--out", ""),
                   "--out is an empty path")
    one_line_error(cli("train", hours, "--model", "w*x", "--target", "y", "--out",
                       tmp_path / "missing" / "p.json"), "no folder")


def test_a_broken_link_as_out_is_refused_before_training(tmp_path, hours):
    os.symlink(tmp_path / "a", tmp_path / "b")
    os.symlink(tmp_path / "b", tmp_path / "a")
    one_line_error(cli("train", hours, "--model", "w*x", "--target", "y", "--out",
                       tmp_path / "a"), "broken or looping symbolic link")


def test_replacing_out_keeps_its_permissions(tmp_path, hours):
    out = tmp_path / "p.json"
    out.write_text("{}")
    out.chmod(0o600)
    assert cli("train", hours, "--model", "w*x", "--target", "y", "--out", out,
               "--quiet").exit_code == 0
    assert out.stat().st_mode & 0o777 == 0o600 and json.loads(out.read_text())["params"]


def test_out_that_is_a_fifo_is_written_into_not_replaced(tmp_path, hours):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    result = cli("train", hours, "--model", "w*x", "--target", "y", "--out", fifo, "--quiet")
    reader.join(timeout=60)
    assert result.exit_code == 0 and json.loads(received[0])["params"]
    assert stat_is_fifo(fifo)


def stat_is_fifo(path) -> bool:
    return stat.S_ISFIFO(os.lstat(path).st_mode)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    from symgrad.files import write_atomically
    out = tmp_path / "p.json"
    out.write_text("old")

    def disk_full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(SymgradError, match="cannot write .*No space left on device"):
        write_atomically(out, "new " * 1000)
    assert out.read_text() == "old" and os.listdir(tmp_path) == ["p.json"]


def test_a_write_past_the_file_size_limit_is_one_line(tmp_path, hours):
    out = tmp_path / "p.json"
    out.write_text("old")

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))
    command = [sys.executable, "-m", "cli", "train", str(hours), "--model", "w*x", "--target",
               "y", "--out", str(out), "--quiet"]
    warm = subprocess.run(command[:-3] + ["--quiet"], cwd=ROOT, capture_output=True, timeout=300)
    assert warm.returncode == 0  # the kernel cached: the limited run writes only --out
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                            preexec_fn=limit)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "cannot write" in line and "too large" in line.lower()
    assert out.read_text() == "old" and sorted(os.listdir(tmp_path)) == ["hours.csv", "p.json"]


LONG_SUM = " + ".join(f"w{k}*x**{k % 7}" for k in range(120))
DERIVE_LONG = [sys.executable, "-m", "cli", "derive", f"({LONG_SUM} - y)**2", "--wrt",
               ",".join(f"w{k}" for k in range(120))]  # prints about 0.2 MB


def test_stdout_past_the_file_size_limit_is_an_error_not_a_cut_file(tmp_path):
    """CPython's stdout takes a short write as done: the output was cut off, status 0."""
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
    with open(tmp_path / "out.txt", "wb") as stdout:
        result = subprocess.run(DERIVE_LONG, cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE,
                                text=True, timeout=300, preexec_fn=limit)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line == "symgrad: error: cannot write the standard output: File too large"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_stdout_on_a_full_disk_is_one_line():
    with open("/dev/full", "wb") as stdout:
        result = subprocess.run([sys.executable, "-m", "cli", "derive", "(a*x - y)**2"],
                                cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE, text=True,
                                timeout=300)
    assert result.returncode == 2 and result.stderr == \
        "symgrad: error: cannot write the standard output: No space left on device\n"


def test_a_reader_that_goes_away_ends_the_command_quietly():
    reader = subprocess.Popen(DERIVE_LONG, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    assert reader.stdout.read(10)
    reader.stdout.close()  # more than a pipe's buffer is left to write
    assert reader.wait(timeout=300) == 141 and reader.stderr.read() == b""


WRITE_TO_STDOUT = ("import sys; sys.path.insert(0, sys.argv[1]); from symgrad.files import "
                   "write_atomically; print('printed'); write_atomically('/dev/stdout', 'new\\n')")


@pytest.mark.skipif(not os.path.exists("/proc/self/fd"), reason="needs /proc (Linux)")
def test_out_naming_this_process_s_stdout_writes_into_the_stream(tmp_path):
    """--out /dev/stdout with stdout appended to a file adds to it (what it held stays, after
    what the program printed first); into a pipe it writes the pipe."""
    log = tmp_path / "log.txt"
    log.write_text("kept\n")
    with open(log, "ab") as stdout:
        subprocess.run([sys.executable, "-c", WRITE_TO_STDOUT, str(ROOT)], stdout=stdout,
                       check=True)
    assert log.read_text() == "kept\nprinted\nnew\n"
    piped = subprocess.run([sys.executable, "-c", WRITE_TO_STDOUT, str(ROOT)],
                           capture_output=True, text=True, check=True)
    assert piped.stdout == "printed\nnew\n" and not piped.stderr


@pytest.mark.skipif(not os.path.exists("/proc/self/fd"), reason="needs /proc (Linux)")
def test_open_descriptor_follows_links_to_this_process_s_descriptors_only(tmp_path):
    from symgrad.files import open_descriptor
    link = tmp_path / "out"
    link.symlink_to("/dev/stdout")
    assert open_descriptor(link) == 1 and open_descriptor("/dev/fd/2") == 2
    assert open_descriptor(f"/proc/{os.getpid()}/fd/0") == 0
    assert open_descriptor(f"/proc/{os.getppid()}/fd/1") is None  # another process's
    assert open_descriptor(tmp_path / "plain.txt") is None
