"""`factory_startup explain ENTRY [-frontend F] [-json]`: why the entry's last cycle did
what it did, read from the decision trace the entry keeps (entry/decision_trace.py), so it
works on a running factory without touching it."""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from glideinwms_factory.entry import decision_trace

COUNT_ROWS = ("request", "frontend", "entry")
STATES = ("idle", "running", "held", "wait", "pending", "stage_in", "idle_other", "stage_out")


def trace_path(entry_dir: Path) -> Path:
    return entry_dir / decision_trace.TRACE_FILE


def matches(record: Mapping[str, Any], frontend: str | None) -> bool:
    """Whether a request record is the frontend's: its client (`fe.group`), security name,
    or `fe:sc` (each also as a prefix before `.` or `:`)."""
    if not frontend:
        return True
    asked = record["request"]
    names = (asked["client"], asked["security_name"], asked["frontend"])
    return any(n == frontend or n.split(".")[0] == frontend or n.split(":")[0] == frontend
               for n in names)  # fmt: skip


def last_cycle(entry_dir: Path, frontend: str | None) -> dict[str, Any] | None:
    """The entry's last recorded cycle, its requests narrowed to the frontend's."""
    cycles = decision_trace.read(trace_path(entry_dir))
    if not cycles:
        return None
    cycle = dict(cycles[-1])
    cycle["requests"] = [r for r in cycle.get("requests", []) if matches(r, frontend)]
    return cycle


def _ids(ids: Sequence[str]) -> str:
    return f"{len(ids)} ({', '.join(ids[:5])}{' ...' if len(ids) > 5 else ''})" if ids else "0"


def _outcome(record: Mapping[str, Any]) -> str:
    acts, target = record["actions"], record["target_idle"]
    if record.get("rejected"):
        return f"request skipped: {record['rejected']}"
    done = []
    if acts["submit"]:
        done.append(f"submitted {acts['submit']} glidein(s) in {len(acts['clusters'])} call(s)")
    for key, verb in (("remove", "removed"), ("remove_forcex", "force-removed"),
                      ("release", "released")):  # fmt: skip
        if acts[key]:
            done.append(f"{verb} {_ids(acts[key])}")
    idle = record["counts"]["request"]["idle"]
    if not done and record.get("down"):
        done.append(f"nothing submitted: served at idle 0 ({record['down']})")
    elif not done and idle >= target and target > 0:
        done.append(f"nothing to do: {idle} idle glidein(s) already meet the idle target")
    elif not done:
        done.append("nothing submitted")
    bound = [c["name"] for c in record["checks"] if c["bound"]]
    if bound:
        done.append(f"limit(s) reached: {', '.join(bound)}")
    return "; ".join(done)


def render(cycle: Mapping[str, Any], now: float | None = None) -> str:
    """The cycle as text, a block per request."""
    now = time.time() if now is None else now
    when = datetime.datetime.fromtimestamp(cycle["time"]).strftime("%Y-%m-%d %H:%M:%S")
    down = cycle.get("entry_downtime")
    lines = [
        f"Entry {cycle['entry']}: last cycle at {when} ({now - cycle['time']:.0f} s ago)"
        + (f"; entry in downtime: {down}" if down else "; entry not in downtime")
    ]
    if not cycle["requests"]:
        lines.append("  no request (of that frontend) was served in this cycle")
    for record in cycle["requests"]:
        asked = record["request"]
        lines += [
            "",
            f"Request {asked['name']} from {asked['client']} ({asked['security_name']}/"
            f"{asked['security_class']}, counted as {asked['frontend']})",
            f"  asked: idle {asked['idle']}, max {asked['max_glideins']}, remove excess"
            f" {asked['remove_excess']} (margin {asked['remove_margin']})",
            f"  downtime: {record['down'] or 'none'}",
            "  glideins " + " ".join(f"{s:>10}" for s in STATES),
        ]
        for row in COUNT_ROWS:
            counts = record["counts"][row]
            lines.append(f"  {row:8} " + " ".join(f"{counts.get(s, 0):>10}" for s in STATES))
        lines.append(f"  idle target after downtime and entry caps: {record['target_idle']}")
        lines.append("  limits checked:")
        for check in record["checks"]:
            state = "BOUND" if check["bound"] else "ok"
            count, limit = check["count"], check["limit"]
            lines.append(f"    {check['name']:40} {count:>6} of {limit:<6} {state}")
        lines.append(f"  => {_outcome(record)}")
    cleanup = cycle.get("entry_cleanup")
    if cleanup:
        lines += [
            "",
            f"Entry sanitize (no request submitted or removed): remove {_ids(cleanup['remove'])},"
            f" force-remove {_ids(cleanup['remove_forcex'])}, release {_ids(cleanup['release'])}",
        ]
    return "\n".join(lines) + "\n"


def as_json(cycle: Mapping[str, Any]) -> str:
    return json.dumps(cycle, indent=2, sort_keys=True) + "\n"
