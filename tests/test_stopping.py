"""Stop signals (symgrad/stopping.py): SIGTERM and SIGHUP end `symgrad train` as Ctrl-C does,
at once, saving the parameters reached and a bounded history, with exit status 128 + the
signal's number. (Ctrl-C itself, during training and compilation: test_cli_train.py.)"""
import json
import os
import signal
import time

import pytest

from support import signal_after_progress


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_save_like_ctrl_c(tmp_path, hours, signum):
    out = tmp_path / "p.json"
    code, latency, stderr = signal_after_progress(
        ["train", hours, "--model", "w*x", "--target", "y", "--epochs", "10000000000",
         "--lr", "0.001", "--out", out], signum)
    assert code == 128 + signum and latency < 2.0, stderr
    document = json.loads(out.read_text())
    assert document["interrupted"] is True and 0 < document["epochs"] < 10**10
    assert len(document["history"]) <= 1000  # kept in bounded memory, not 10^10 slots
    assert document["history"][-1][0] == document["epochs"]
    assert f"stopped by {signal.Signals(signum).name}" in stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_while_params_are_written_lets_the_write_finish(tmp_path, monkeypatch, capsys,
                                                                signum):
    """A finished run's result is not lost to a stop signal that lands mid-write (a slow
    disk's fsync): the file is written whole, and the signal is a warning."""
    from symgrad.jobs.params_file import save_params
    from symgrad.stopping import stop_signals_raise

    sync = os.fsync

    def slow_sync(fd):
        os.kill(os.getpid(), signum)  # delivered while the write is under way
        time.sleep(0.05)
        sync(fd)
    monkeypatch.setattr(os, "fsync", slow_sync)
    out = tmp_path / "p.json"
    with stop_signals_raise():
        save_params(str(out), {"params": {"a": 1.5}})
    assert json.loads(out.read_text()) == {"params": {"a": 1.5}}
    assert f"{signal.Signals(signum).name} while writing {out}: finished first" in \
        capsys.readouterr().err


@pytest.mark.parametrize("signum, shown", [(signal.SIGINT, "interrupted"),
                                           (signal.SIGTERM, "stopped by SIGTERM"),
                                           (signal.SIGHUP, "stopped by SIGHUP")])
def test_a_stop_during_a_derivation_is_one_line_with_the_signals_status(monkeypatch, signum,
                                                                        shown):
    # SIGTERM ended a long `symgrad derive` with no word (the default action)
    import symgrad.jobs
    from support import cli, one_line_error

    def slow(*_):
        os.kill(os.getpid(), signum)
        time.sleep(5)
        return "never printed"
    monkeypatch.setattr(symgrad.jobs, "derivation", slow)
    one_line_error(cli("derive", "w*x"), shown, status=128 + signum)
