"""Job events in HTCondor's user-log text format (what `htcondor2.JobEventLog` reads).

Several jobs usually share one log (the factory logs a whole client's glideins to one
file), so events are grouped by file and each file is appended to with one write.
"""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

SUBMIT = 0
EXECUTE = 1
EVICTED = 4
TERMINATED = 5
ABORTED = 9
HELD = 12
RELEASED = 13

_HOST = "<127.0.0.1:0?addrs=127.0.0.1-0&alias=localhost>"
_USAGE = "Usr 0 00:00:00, Sys 0 00:00:00"


@dataclass(frozen=True, slots=True)
class Event:
    """One event of one job; `text` is the event-specific body after the header."""

    path: str
    cluster: int
    proc: int
    code: int
    when: float
    text: str


def submitted(path: str, cluster: int, proc: int, when: float) -> Event:
    return Event(path, cluster, proc, SUBMIT, when, f"Job submitted from host: {_HOST}\n")


def executing(path: str, cluster: int, proc: int, when: float) -> Event:
    return Event(path, cluster, proc, EXECUTE, when, f"Job executing on host: {_HOST}\n")


def evicted(path: str, cluster: int, proc: int, when: float) -> Event:
    lines = [
        "Job was evicted.",
        "\t(0) Job was not checkpointed.",
        f"\t\t{_USAGE}  -  Run Remote Usage",
        f"\t\t{_USAGE}  -  Run Local Usage",
        "\t0  -  Run Bytes Sent By Job",
        "\t0  -  Run Bytes Received By Job",
    ]
    return Event(path, cluster, proc, EVICTED, when, "\n".join(lines) + "\n")


def terminated(path: str, cluster: int, proc: int, when: float, exit_code: int) -> Event:
    lines = [
        "Job terminated.",
        f"\t(1) Normal termination (return value {exit_code})",
        f"\t\t{_USAGE}  -  Run Remote Usage",
        f"\t\t{_USAGE}  -  Run Local Usage",
        f"\t\t{_USAGE}  -  Total Remote Usage",
        f"\t\t{_USAGE}  -  Total Local Usage",
        "\t0  -  Run Bytes Sent By Job",
        "\t0  -  Run Bytes Received By Job",
        "\t0  -  Total Bytes Sent By Job",
        "\t0  -  Total Bytes Received By Job",
    ]
    return Event(path, cluster, proc, TERMINATED, when, "\n".join(lines) + "\n")


def aborted(path: str, cluster: int, proc: int, when: float, reason: str) -> Event:
    return Event(path, cluster, proc, ABORTED, when, f"Job was aborted.\n\t{_flat(reason)}\n")


def held(
    path: str, cluster: int, proc: int, when: float, reason: str, code: int, sub: int
) -> Event:
    text = f"Job was held.\n\t{_flat(reason)}\n\tCode {code} Subcode {sub}\n"
    return Event(path, cluster, proc, HELD, when, text)


def released(path: str, cluster: int, proc: int, when: float, reason: str) -> Event:
    return Event(path, cluster, proc, RELEASED, when, f"Job was released.\n\t{_flat(reason)}\n")


def format_event(event: Event) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.when))
    header = f"{event.code:03d} ({event.cluster:03d}.{event.proc:03d}.000) {stamp} "
    return header + event.text + "...\n"


def append(events: Iterable[Event], log: logging.Logger) -> None:
    """Append events to their logs; a log that cannot be written is reported, not raised."""
    by_path: dict[str, list[str]] = defaultdict(list)
    for event in events:
        if event.path:
            by_path[event.path].append(format_event(event))
    for path, chunks in by_path.items():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, "".join(chunks).encode())
            finally:
                os.close(fd)
        except OSError as exc:
            log.warning("cannot write user log %s: %s", path, exc)


def _flat(text: str) -> str:
    """Event bodies are line-based: a reason must stay on one line."""
    return " ".join(text.split()) or "none"
