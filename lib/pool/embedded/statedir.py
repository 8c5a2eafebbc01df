"""The files a pool daemon keeps in its state directory, and how tools read them."""

from __future__ import annotations

import fcntl
import os
import pathlib
import re
import signal

ADDRESS_FILE = "pool.address"
PID_FILE = "pool.pid"
LOCK_FILE = "pool.lock"
LOG_FILE = "pool.log"
SCHEDD_DIR = "schedd"
# Stops the daemon without ending the jobs it runs (`gwms-pool stop --keep-jobs`); SIGTERM
# ends them first and queues them again.
KEEP_JOBS_SIGNAL = signal.SIGUSR1
_ADDRESS = re.compile(r"[A-Za-z0-9.\-]+:\d{1,5}|\[[0-9A-Fa-f:]+\]:\d{1,5}")


def check_address(address: str) -> str:
    """`address` if it is HOST:PORT, else ValueError with a one-line message."""
    address = address.strip()
    if not _ADDRESS.fullmatch(address) or not 0 < int(address.rsplit(":", 1)[1]) < 65536:
        raise ValueError(f"bad pool address {address[:80]!r}: want HOST:PORT")
    return address


def read_address(state_dir: pathlib.Path) -> str | None:
    """The address a daemon recorded in `state_dir`, if any (it may be stale)."""
    try:
        return check_address((state_dir / ADDRESS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_pid(state_dir: pathlib.Path) -> int | None:
    """The pid a daemon recorded in `state_dir`, if any (it may be stale)."""
    try:
        return int((state_dir / PID_FILE).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def take_lock(state_dir: pathlib.Path) -> int:
    """Hold the state dir's lock for this process's life; OSError if another daemon has it."""
    fd = os.open(state_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise
    return fd


def lock_is_held(state_dir: pathlib.Path) -> bool:
    """Whether some process (a daemon) holds the state dir's lock right now."""
    try:
        fd = take_lock(state_dir)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    os.close(fd)
    return False
