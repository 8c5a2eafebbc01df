"""Starting and watching the entry daemons: restart the dead and the hung, with a cap.

The factory owns one `Child` per entry group (one entry per group by default). A child
that exits, or stops touching its heartbeat file, is restarted after a back-off; one that
needed more than `attempts` starts within `interval` seconds is given up on for an
`interval` and then tried afresh, while every other child keeps running (upstream stops
the whole factory; a cap that never recovers left an entry dead for good).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import IO

Clock = Callable[[], float]


@dataclass(frozen=True)
class RestartPolicy:
    """When to start a child again (`restart_attempts`, `restart_interval` of the config)."""

    attempts: int = 3
    interval: float = 1800.0
    backoff_first: float = 1.0
    backoff_max: float = 60.0

    def may_restart(self, starts: Sequence[float], now: float) -> bool:
        """Below `attempts` restarts within the last `interval` seconds (the first start
        is not a restart)."""
        recent = [t for t in starts if now - t < self.interval]
        return len(recent) <= self.attempts

    def backoff(self, failures_in_a_row: int) -> float:
        """Seconds to wait before the next start: doubling from `backoff_first`."""
        if failures_in_a_row <= 0:
            return 0.0
        return min(self.backoff_max, self.backoff_first * 2 ** (failures_in_a_row - 1))


class ChildState(Enum):
    """Where a child is in its life; `process` is set exactly while it is RUNNING."""

    STOPPED = "stopped"  # not started yet, or stopped by `stop_all`
    RUNNING = "running"
    RESTART_PENDING = "restart pending"  # died or hung: starts again at `next_start`
    GIVEN_UP = "given up"  # restarted too often: left stopped until `next_start`


@dataclass
class Child:
    """One supervised process: an entry daemon serving `entries`."""

    name: str
    command: list[str]
    heartbeat: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    starts: deque[float] = field(default_factory=lambda: deque(maxlen=100))
    failures_in_a_row: int = 0
    next_start: float = 0.0
    pending_reason: str = ""
    state: ChildState = ChildState.STOPPED
    restarts: int = 0  # starts after the first (`starts` keeps only the recent ones)

    @property
    def given_up(self) -> bool:
        return self.state is ChildState.GIVEN_UP


class Supervisor:
    """Starts, watches and stops a set of children; call `poll()` every few seconds."""

    def __init__(
        self,
        children: Sequence[Child],
        policy: RestartPolicy,
        log: logging.Logger,
        hang_timeout: float = 600.0,
        stdout_dir: Path | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.children = list(children)
        self.policy = policy
        self.log = log
        self.hang_timeout = hang_timeout
        self.stdout_dir = stdout_dir
        self.clock = clock

    def start_all(self) -> None:
        for child in self.children:
            self._start(child, "initial start")

    def poll(self) -> None:
        """Restart children that died or hung, when their back-off and the cap allow."""
        now = self.clock()
        for child in self.children:
            if child.state is ChildState.GIVEN_UP:
                if now >= child.next_start:
                    child.starts.clear()
                    self._start(child, f"trying again after giving up ({child.pending_reason})")
                continue
            if child.process is None:  # STOPPED or RESTART_PENDING
                if now >= child.next_start:
                    self._restart(child, now, child.pending_reason)
                continue
            code = child.process.poll()
            if code is None and child.starts and now - child.starts[-1] > self.policy.backoff_max:
                child.failures_in_a_row = 0  # up long enough: the next failure starts afresh
            if code is not None:
                self._died(child, now, f"exited with code {code}")
            elif self._hung(child, now):
                self.log.error("entry group %s is hung (heartbeat too old): killing it", child.name)
                _kill_group(child.process, signal.SIGKILL)
                child.process.wait()
                self._died(child, now, "hung")

    def stop_all(self, timeout: float = 30.0) -> None:
        """TERM every child (its group), wait up to `timeout`, then KILL; reap all."""
        running = [c for c in self.children if c.process is not None and c.process.poll() is None]
        for child in running:
            _kill_group(child.process, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in running:
            assert child.process is not None
            try:
                child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log.warning("entry group %s ignored SIGTERM: killing it", child.name)
                _kill_group(child.process, signal.SIGKILL)
                child.process.wait()
        for child in self.children:
            child.process = None
            if child.state is ChildState.RUNNING:
                child.state = ChildState.STOPPED

    def problems(self) -> list[str]:
        """One line per child given up on for now (a restart in its back-off is routine),
        saying when it is tried again."""
        return [
            f"entry group {child.name} given up (restart cap) until "
            f"{time.strftime('%H:%M:%S', time.localtime(child.next_start))}: "
            f"{child.pending_reason}"
            for child in self.children
            if child.given_up
        ]

    def pids(self) -> dict[str, int]:
        return {c.name: c.process.pid for c in self.children if c.process is not None}

    def restarts(self) -> dict[str, int]:
        """How many times each child was started again (the /metrics restart counter)."""
        return {c.name: c.restarts for c in self.children}

    def _died(self, child: Child, now: float, reason: str) -> None:
        child.process = None
        child.state = ChildState.RESTART_PENDING
        child.failures_in_a_row += 1
        delay = self.policy.backoff(child.failures_in_a_row)
        child.next_start = now + delay
        child.pending_reason = reason
        self.log.error(
            "entry group %s %s; restarting in %.0f s",
            child.name,
            reason,
            delay,
            extra={"entry": child.name},
        )

    def _restart(self, child: Child, now: float, reason: str) -> None:
        if not self.policy.may_restart(child.starts, now):
            child.state = ChildState.GIVEN_UP
            child.next_start = now + self.policy.interval
            self.log.error(
                "entry group %s restarted %d times in %.0f s (%s): giving up on it for "
                "%.0f s, the other entries keep running",
                child.name,
                self.policy.attempts,
                self.policy.interval,
                reason,
                self.policy.interval,
                extra={"entry": child.name},
            )
            return
        child.restarts += 1
        self._start(child, f"restart after: {reason}")

    def _start(self, child: Child, why: str) -> None:
        now = self.clock()
        if child.heartbeat is not None:
            child.heartbeat.parent.mkdir(parents=True, exist_ok=True)
            child.heartbeat.touch()
        out: int | IO[bytes] = subprocess.DEVNULL
        if self.stdout_dir is not None:
            self.stdout_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.stdout_dir / f"{child.name}.stdout.log", "ab")  # noqa: SIM115
        try:
            child.process = subprocess.Popen(
                child.command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            if not isinstance(out, int):
                out.close()
        child.state = ChildState.RUNNING
        child.starts.append(now)
        self.log.info(
            "entry group %s started (pid %d): %s",
            child.name,
            child.process.pid,
            why,
            extra={"entry": child.name},
        )

    def _hung(self, child: Child, now: float) -> bool:
        if child.heartbeat is None:
            return False
        try:
            age = now - child.heartbeat.stat().st_mtime
        except FileNotFoundError:
            return False
        return age > self.hang_timeout


def _kill_group(process: subprocess.Popen[bytes] | None, sig: int) -> None:
    if process is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
