"""Test-wide settings: a private kernel cache and signing key, so tests never read or litter
the user's; the CUDA simulator's cases started early (see test_cuda.py); the CSV readers; a
small data file (``hours``)."""
import os
import tempfile

import pytest

os.environ["SYMGRAD_CACHE_DIR"] = tempfile.mkdtemp(prefix="symgrad-test-cache-")
os.environ["SYMGRAD_KEY_FILE"] = os.path.join(tempfile.mkdtemp(prefix="symgrad-test-key-"),
                                              "cache.key")


def pytest_collection_finish(session):
    """Start the simulator's subprocess now if its test will run, so it overlaps the suite."""
    for item in session.items:
        if item.name == "test_cuda_backend_on_the_simulator":
            item.module.SIMULATOR_RUN.append(item.module.start_cases(simulated=True))


def pytest_sessionfinish(session):
    """A run that never reached the simulator's test (-x, Ctrl-C) leaves no process behind."""
    for item in session.items:
        if item.name == "test_cuda_backend_on_the_simulator":
            while item.module.SIMULATOR_RUN:
                item.module.SIMULATOR_RUN.pop().kill()
            return


@pytest.fixture(params=["numpy", "pyarrow"])
def reader(request, monkeypatch):
    """Each CSV test once per number parser: numpy's, and pyarrow's (in the test extra), which
    reads only large files unless told otherwise."""
    from symgrad import data as csvdata
    if request.param == "numpy":
        monkeypatch.setattr(csvdata.importlib.util, "find_spec", lambda name: None)
    else:
        assert csvdata.importlib.util.find_spec("pyarrow") is not None
        monkeypatch.setattr(csvdata, "PYARROW_FROM_BYTES", 0)
    return request.param


@pytest.fixture
def hours(tmp_path):
    """hours.csv: columns x and y, y = 2x, on three rows."""
    path = tmp_path / "hours.csv"
    path.write_text("x,y\n1,2\n2,4\n3,6\n")
    return path
