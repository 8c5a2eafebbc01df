"""The pid lock: one holder at a time, stale files never block, status tells states apart."""

import os
import signal
import subprocess
import sys
import time

import pytest

from glideinwms_factory.lib import pidlock

HOLDER = """
import sys, time
from glideinwms_factory.lib import pidlock
pidlock.PidLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def start_holder(path):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_holder_is_refused_with_the_pid(tmp_path):
    path = tmp_path / "lock" / "glideinWMS.lock"
    proc = start_holder(path)
    try:
        assert pidlock.state(path) is pidlock.State.RUNNING
        with pytest.raises(pidlock.AlreadyRunning, match=str(proc.pid)):
            pidlock.PidLock(path).acquire()
    finally:
        proc.kill()
        proc.wait()


def test_stale_pid_file_from_a_crash_does_not_block(tmp_path):
    path = tmp_path / "glideinWMS.lock"
    proc = start_holder(path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert pidlock.state(path) is pidlock.State.DEAD
    assert pidlock.read_pid(path) == proc.pid
    lock = pidlock.PidLock(path)
    lock.acquire()
    assert pidlock.read_pid(path) == os.getpid()
    lock.release()
    assert pidlock.state(path) is pidlock.State.STOPPED


def test_lock_file_records_pid_and_start(tmp_path):
    path = tmp_path / "x.lock"
    lock = pidlock.PidLock(path)
    lock.acquire()
    text = path.read_text()
    assert text.startswith(f"PID: {os.getpid()}\nStarted: {time.ctime()[:10]}")
    lock.release()
