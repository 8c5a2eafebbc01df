"""The factory's own services (embedded pool, web server): watched and restarted like entries.

A service is checked every few seconds; one found down is restarted at once, and again
after a doubling back-off if it keeps dying or cannot start, without end: the factory
never runs on while silently missing its pool. What is wrong right now is published in
WORK/lock/factory.status (read by `factory_startup status`) and in the global ad.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from glideinwms_factory.lib.atomicfile import atomic_write
from glideinwms_factory.supervisor import RestartPolicy

STATUS_FILE = Path("lock") / "factory.status"
CHECK_SECONDS = 2.0


@dataclass
class Service:
    """A process the factory keeps running besides the entry daemons."""

    name: str
    alive: Callable[[], bool]
    start: Callable[[], None]
    failures_in_a_row: int = 0
    next_check: float = 0.0
    next_start: float = 0.0
    started_at: float = 0.0
    down_since: float | None = None
    restarts: int = 0
    last_error: str = ""

    def problem(self) -> str:
        """'' while up; else one line saying since when it is down and what is next."""
        if self.down_since is None:
            return ""
        since = time.strftime("%H:%M:%S", time.localtime(self.down_since))
        error = f": {self.last_error}" if self.last_error else ""
        return f"{self.name} down since {since}, restarting{error}"


class ServiceWatch:
    """Keeps `services` running; call `poll()` every second or so."""

    def __init__(
        self,
        services: Sequence[Service],
        policy: RestartPolicy,
        log: logging.Logger,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.services = list(services)
        self.policy = policy
        self.log = log
        self.clock = clock

    def poll(self) -> None:
        now = self.clock()
        for service in self.services:
            if now >= service.next_check:
                service.next_check = now + CHECK_SECONDS
                self._check(service, now)

    def _check(self, service: Service, now: float) -> None:
        if service.alive():
            if service.down_since is not None:
                self.log.info("%s is back after %.0f s", service.name, now - service.down_since)
                service.down_since, service.last_error = None, ""
            if now - service.started_at > self.policy.backoff_max:
                service.failures_in_a_row = 0  # up long enough: the next failure starts afresh
            return
        if service.down_since is None:
            service.down_since = now
            service.next_start = now + self.policy.backoff(service.failures_in_a_row)
            self.log.error("%s is down: restarting it", service.name)
        if now < service.next_start:
            return
        service.failures_in_a_row += 1
        service.next_start = now + self.policy.backoff(service.failures_in_a_row)
        try:
            service.start()
        except Exception as exc:  # any failure to start is retried after the back-off
            service.last_error = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            self.log.error(
                "%s did not start (%s); next try in %.0f s",
                service.name,
                service.last_error,
                service.next_start - now,
            )
            return
        service.started_at = now
        service.restarts += 1
        service.down_since, service.last_error = None, ""
        self.log.info("%s restarted (restart %d)", service.name, service.restarts)

    def problems(self) -> list[str]:
        return [p for p in (s.problem() for s in self.services) if p]


def write_status(work_dir: Path, problems: Sequence[str]) -> None:
    """What is wrong with the running factory now, for `factory_startup status`."""
    atomic_write(work_dir / STATUS_FILE, json.dumps({"problems": list(problems)}) + "\n")


def read_problems(work_dir: Path) -> list[str]:
    """The problems the running factory last published ([] if it published none)."""
    try:
        data = json.loads((work_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return []
    problems = data.get("problems") if isinstance(data, dict) else None
    return [str(p) for p in problems] if isinstance(problems, list) else []
