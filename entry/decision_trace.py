"""The decision trace an entry keeps of its last cycles, for `factory_startup explain`.

Each cycle records, per request: the request as decoded, the glideins counted by state
(this request, its frontend `fe:sc`, the entry) as the cycle saw them, why it was served
at zero idle if it was (downtime, whitelist), every cap checked with its count and whether
it bound, and the resulting actions. The file holds the last `KEEP_CYCLES` cycles, so it
stays small and `explain` can read it while the factory runs.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from glideinwms_factory.entry.accounting import Counts, QueueSnapshot
from glideinwms_factory.entry.decision import Actions, Request
from glideinwms_factory.entry.requests import WorkRequest
from glideinwms_factory.lib.atomicfile import atomic_write

TRACE_FILE = "decision_trace.json"
KEEP_CYCLES = 20


def _counts(counts: Counts) -> dict[str, Any]:
    values = dataclasses.asdict(counts)
    values.pop("cpus", None)
    values["other"] = [list(pair) for pair in counts.other]  # as JSON reads it back
    return {"idle": counts.idle, **values}


def _actions(actions: Actions) -> dict[str, Any]:
    return {
        "submit": actions.submit,
        "clusters": list(actions.clusters),
        "remove": list(actions.remove),
        "remove_forcex": list(actions.remove_forcex),
        "release": list(actions.release),
    }


def request_record(
    work: WorkRequest,
    decided: Request,
    actions: Actions,
    snapshot: QueueSnapshot,
    down: str | None,
    rejected: str | None,
) -> dict[str, Any]:
    """One request's part of a cycle."""
    return {
        "request": {
            "name": work.name,
            "client": work.client_name,
            "req_name": work.req_name,
            "frontend": decided.frontend_name,
            "security_name": work.security_name,
            "security_class": work.security_class,
            "idle": decided.idle,
            "max_glideins": decided.max_glideins,
            "remove_excess": decided.remove_excess,
            "remove_margin": decided.remove_margin,
        },
        "down": down,
        "counts": {
            "request": _counts(snapshot.request(decided.key)),
            "frontend": _counts(snapshot.frontend(decided.frontend_name)),
            "entry": _counts(snapshot.entry),
        },
        "target_idle": actions.adjusted_idle,
        "checks": [dataclasses.asdict(check) for check in actions.checks],
        "actions": _actions(actions),
        "rejected": rejected,
    }


def cycle_record(
    entry: str,
    when: float,
    entry_downtime: str | None,
    requests: Sequence[dict[str, Any]],
    cleanup: Actions | None,
) -> dict[str, Any]:
    """One cycle of one entry."""
    return {
        "entry": entry,
        "time": int(when),
        "entry_downtime": entry_downtime,
        "requests": list(requests),
        "entry_cleanup": _actions(cleanup) if cleanup is not None else None,
    }


def read(path: Path) -> list[dict[str, Any]]:
    """The recorded cycles, oldest first ([] when none or unreadable)."""
    try:
        cycles = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [c for c in cycles if isinstance(c, dict)] if isinstance(cycles, list) else []


def append(path: Path, cycle: dict[str, Any], keep: int = KEEP_CYCLES) -> None:
    """Add a cycle, dropping the oldest beyond `keep`."""
    cycles = [*read(path), cycle][-keep:]
    atomic_write(path, json.dumps(cycles, separators=(",", ":")) + "\n")
