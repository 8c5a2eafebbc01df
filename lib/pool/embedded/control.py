"""Start, stop and look at a pool daemon through its state directory.

A daemon counts as running when its recorded address answers a ping with the
recorded pid: stale files left by a killed daemon never pass for a live one.
"""

from __future__ import annotations

import os
import pathlib
import selectors
import signal
import subprocess
import sys
import time
from typing import IO

from glideinwms_factory.lib.pool import PoolError
from glideinwms_factory.lib.pool.embedded import statedir
from glideinwms_factory.lib.pool.embedded.client import ping

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
_POLL = 0.05


class ControlError(Exception):
    """Starting or stopping failed; the message is one line for the operator."""


def running_address(state_dir: pathlib.Path) -> str | None:
    """HOST:PORT of the daemon of `state_dir` if it runs and answers, else None."""
    address = statedir.read_address(state_dir)
    pid = statedir.read_pid(state_dir)
    if address is None or pid is None:
        return None
    try:
        answer = ping(address)
    except PoolError:
        return None
    return address if answer.get("pid") == pid else None


def start(
    state_dir: pathlib.Path, port: int = 0, slots: int = 4, extra: tuple[str, ...] = ()
) -> str:
    """Start a detached daemon (or find the running one); its HOST:PORT."""
    address = running_address(state_dir)
    if address:
        return address
    state_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "glideinwms_factory.lib.pool.embedded.server",
        "--daemon",
        "--state-dir",
        str(state_dir),
        "--port",
        str(port),
        "--slots",
        str(slots),
        *extra,
    ]
    child = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert child.stdout is not None and child.stderr is not None
    line = _read_line(child.stdout, START_TIMEOUT)
    if line:
        return line
    if child.poll() is None:
        child.kill()
    error = child.stderr.read().decode("utf-8", "replace").strip().splitlines()
    child.wait()
    if error and "Address already in use" in error[-1]:
        raise ControlError(
            f"pool port {port} is already in use (Address already in use): stop what"
            " listens there, or choose another port (gwms-pool start --port N, or"
            ' <embedded_pool port="N"/> in the factory config, then reconfig)'
        )
    raise ControlError(
        error[-1] if error else f"pool daemon did not start within {START_TIMEOUT:g} s"
    )


def _read_line(stream: IO[bytes], timeout: float) -> str:
    """The first stdout line of the child, '' on EOF or timeout."""
    deadline = time.monotonic() + timeout
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                return ""
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                return ""
            buffer += chunk
    return buffer.split(b"\n", 1)[0].decode("utf-8", "replace").strip()


def stop(state_dir: pathlib.Path, timeout: float = STOP_TIMEOUT, keep_jobs: bool = False) -> bool:
    """Stop the daemon and wait for it to let go of its lock; False if none ran.

    The jobs it runs as local processes (glideins) are ended and queued again, unless
    `keep_jobs`. A daemon that does not stop within `timeout` is killed (its queue is
    durable).
    """
    pid = statedir.read_pid(state_dir)
    if pid is None or not statedir.lock_is_held(state_dir):
        return False
    first = statedir.KEEP_JOBS_SIGNAL if keep_jobs else signal.SIGTERM
    for sig, wait in ((first, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        except PermissionError as exc:
            raise ControlError(f"cannot signal pool daemon pid {pid}: {exc.strerror}") from None
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not statedir.lock_is_held(state_dir):
                return True
            time.sleep(_POLL)
    raise ControlError(f"pool daemon pid {pid} did not exit after SIGKILL")
