"""A daemon's pid file, held with an exclusive `flock` for as long as the daemon lives.

Running <=> the lock cannot be taken. A pid file left behind by a crash is not locked by
anyone, so it never blocks a restart; it only lets `status` say "dead with pid file".
"""

from __future__ import annotations

import enum
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path


class AlreadyRunning(RuntimeError):
    """Another live process holds the lock."""


class State(enum.Enum):
    RUNNING = "running"
    STOPPED = "stopped"
    DEAD = "dead"  # a pid file remains but nobody holds its lock


class PidLock:
    """Take with `acquire()`; released by `release()` or by the process dying."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = read_pid(self.path)
            raise AlreadyRunning(
                f"already running (pid {pid}, lock {self.path})" if pid else "already running"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"PID: {os.getpid()}\nStarted: {time.ctime()}\n".encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None


def read_pid(path: Path) -> int | None:
    """The `PID:` of a lock file, or None when absent or unreadable."""
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("PID:"):
            value = line.partition(":")[2].strip()
            return int(value) if value.isdigit() else None
    return None


def state(path: Path) -> State:
    """Whether a daemon holds the lock at `path`, without disturbing it."""
    path = Path(path)
    if not path.exists():
        return State.STOPPED
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return State.STOPPED
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return State.RUNNING
    finally:
        os.close(fd)
    return State.DEAD


def wait_for_locks(
    paths: list[Path], keep_waiting: Callable[[], bool], on_wait: Callable[[Path], None]
) -> list[int] | None:
    """Hold every lock of `paths` (taken in sorted order, so two waiters never deadlock).

    Blocks while another process holds one, calling `on_wait` once per lock found
    held; gives up (releasing what it took) and returns None as soon as `keep_waiting()`
    is false. The fds returned hold the locks until closed or the process dies.
    """
    held: list[int] = []
    for path in sorted(set(paths)):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told:
                    on_wait(path)
                    told = True
                if not keep_waiting():
                    for other in (*held, fd):
                        os.close(other)
                    return None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.write(fd, f"PID: {os.getpid()}\n".encode())
        held.append(fd)
    return held
