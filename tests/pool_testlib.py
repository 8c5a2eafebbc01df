"""Shared by the test_pool_* suites: start a real pool daemon process on a free port."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from glideinwms_factory.lib.pool.embedded.auth import (
    FACTORY_IDENTITY,
    create_token,
    load_or_create_secret,
)

CLI = [sys.executable, "-m", "glideinwms_factory.tools.pool_cli"]


@dataclass
class Pool:
    """A running daemon started by a test."""

    state_dir: pathlib.Path
    address: str
    process: subprocess.Popen[str]

    def token(self, identity: str = FACTORY_IDENTITY) -> str:
        return create_token(load_or_create_secret(self.state_dir), identity)

    def log_text(self) -> str:
        return (self.state_dir / "pool.log").read_text()


def start_daemon(state_dir: pathlib.Path, *extra: str) -> Pool:
    """The daemon in the foreground as a child of the test, once it prints its address."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "glideinwms_factory.lib.pool.embedded.server",
            "--state-dir",
            str(state_dir),
            "--port",
            "0",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line:
        process.wait(10)
        raise RuntimeError(
            f"daemon did not start: {process.stderr.read() if process.stderr else ''}"
        )
    return Pool(state_dir, line, process)


def stop_daemon(pool: Pool) -> None:
    if pool.process.poll() is None:
        pool.process.send_signal(signal.SIGTERM)
        try:
            pool.process.wait(15)
        except subprocess.TimeoutExpired:
            pool.process.kill()
            pool.process.wait(5)
    for stream in (pool.process.stdout, pool.process.stderr):
        if stream is not None:
            stream.close()


@contextlib.contextmanager
def running_pool(state_dir: pathlib.Path, *extra: str) -> Iterator[Pool]:
    pool = start_daemon(state_dir, *extra)
    try:
        yield pool
    finally:
        stop_daemon(pool)


def run_cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None):
    """`gwms-pool ARGS` as a real process; the CompletedProcess (text)."""
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=60,
        input=stdin,
        env={**os.environ, **(env or {})},
    )
