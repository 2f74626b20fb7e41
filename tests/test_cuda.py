"""The cuda backend. Its cases (cuda_cases.py: loss and gradients equal to the numba CPU
backend's to 1e-10 on the CPU tests' models, training paths, hours-sgd from the CLI) run in a
subprocess on Numba's CUDA simulator, which must be chosen before Numba is imported; on a
machine with a GPU they run once more on the real device."""
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import symgrad
from cli import main

pytestmark = pytest.mark.cuda

TESTS = Path(__file__).resolve().parent


def gpu_present() -> bool:
    from numba import cuda
    return cuda.is_available()


SIMULATOR_RUN: list = []   # started by conftest as soon as this test is collected


def start_cases(simulated: bool) -> subprocess.Popen:
    """The cuda cases in a subprocess (the simulator must be chosen before Numba is imported).
    conftest starts the simulator's run when collection ends, so its two minutes overlap the
    rest of the suite on the second core. Numba's own caches (symgrad.runtime's functions) go
    to a directory of its own: the run overlaps the cache tests, which time those files."""
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1" if simulated else "0",
           "NUMBA_CACHE_DIR": tempfile.mkdtemp(prefix="symgrad-cuda-cases-")}
    return subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             str(TESTS / "cuda_cases.py")], cwd=TESTS.parent, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def assert_all_passed(process: subprocess.Popen):
    try:
        stdout, stderr = process.communicate(timeout=900)
    finally:
        process.kill()
    assert process.returncode == 0, stdout[-4000:] + stderr[-2000:]
    summary = stdout.strip().splitlines()[-1]
    assert re.search(r"\b[2-9][0-9] passed\b", summary) and "skipped" not in summary, summary


def test_cuda_backend_on_the_simulator():
    assert_all_passed(SIMULATOR_RUN.pop() if SIMULATOR_RUN else start_cases(simulated=True))


@pytest.mark.skipif(not gpu_present(), reason="no CUDA GPU on this machine: the cuda cases "
                    "ran on the simulator only (test_cuda_backend_on_the_simulator)")
def test_cuda_backend_on_the_gpu():
    assert_all_passed(start_cases(simulated=False))


@pytest.mark.skipif(gpu_present(), reason="this machine has a CUDA GPU, so cuda is available")
def test_without_a_gpu_or_the_simulator_cuda_is_refused_in_one_line(tmp_path):
    (tmp_path / "d.csv").write_text("x,y\n1,2\n")
    result = CliRunner().invoke(main, ["train", str(tmp_path / "d.csv"), "--model", "w*x",
                                       "--target", "y", "--backend", "cuda"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "no CUDA GPU" in result.stderr
    assert "Traceback" not in result.output
    with pytest.raises(ValueError, match="NUMBA_ENABLE_CUDASIM=1"):
        symgrad.compile("(w*x - y)**2", ["w"], ["x", "y"], backend="cuda")
