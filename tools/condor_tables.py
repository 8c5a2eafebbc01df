"""The default tables of condor_status and condor_q, for ads of the pool layer.

Columns and summary lines follow the HTCondor manuals (condor_status: Machine table and
its state summary, `-any`; condor_q: batch, `-nobatch`, `-run`, `-hold`, totals). Ad types
HTCondor has no table for (the GlideinWMS ones) get one table per type.
"""

from __future__ import annotations

import datetime
import os
import time
from collections import Counter
from collections.abc import Collection, Sequence
from typing import Any

import classad2

from glideinwms_factory.lib.pool import JobStatus
from glideinwms_factory.tools.condor_format import job_id, natural

STATUS_LETTER: dict[int, str] = {
    JobStatus.IDLE: "I",
    JobStatus.RUNNING: "R",
    JobStatus.REMOVED: "X",
    JobStatus.COMPLETED: "C",
    JobStatus.HELD: "H",
    JobStatus.TRANSFERRING_OUTPUT: ">",
    JobStatus.SUSPENDED: "S",
}
# Per GlideinWMS ad type: the columns after MyType, Name and AuthenticatedIdentity.
TYPE_COLUMNS = {
    "glidefactory": ("GLIDEIN_In_Downtime", "GlideinMonitorTotalStatusIdle",
                     "GlideinMonitorTotalStatusRunning"),
    "glidefactoryclient": ("ReqClientName", "GlideinMonitorRequestedIdle",
                           "GlideinMonitorStatusIdle", "GlideinMonitorStatusRunning"),
    "glideclient": ("ReqIdleGlideins", "ReqMaxGlideins"),
}  # fmt: skip
MACHINE_COLUMNS = ("Name", "OpSys", "Arch", "State", "Activity", "LoadAv", "Mem", "ActvtyTime")
MACHINE_STATES = ("Owner", "Claimed", "Unclaimed", "Matched", "Preempting", "Drain", "Backfill")


def get(ad: classad2.ClassAd, name: str, default: Any = None) -> Any:
    """An attribute's evaluated value, `default` when missing, undefined or an error."""
    value = ad.eval(name) if name in ad else None
    return default if value is None or isinstance(value, classad2.Value) else value


def text(ad: classad2.ClassAd, name: str) -> str:
    value = get(ad, name)
    return "" if value is None else natural(value)


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Collection[str] = ()) -> str:
    """Aligned columns; those named in `right` are right-aligned (counts)."""
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(header)]
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.rjust(width) if header[i] in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def duration(seconds: float) -> str:
    """D+HH:MM:SS, as RUN_TIME and ActvtyTime print."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    return f"{days}+{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"


def short_date(epoch: Any) -> str:
    """M/D HH:MM, as SUBMITTED and HELD_SINCE print."""
    if not isinstance(epoch, int | float) or isinstance(epoch, bool) or epoch <= 0:
        return "?"
    moment = datetime.datetime.fromtimestamp(epoch)
    return f"{moment.month}/{moment.day:<2} {moment:%H:%M}"


# --- condor_status ---------------------------------------------------------------------


def _machine_row(ad: classad2.ClassAd, now: float) -> list[str]:
    load = get(ad, "LoadAvg")
    entered = get(ad, "EnteredCurrentActivity")
    return [
        text(ad, "Name"),
        text(ad, "OpSys"),
        text(ad, "Arch"),
        text(ad, "State"),
        text(ad, "Activity"),
        f"{load:.3f}" if isinstance(load, int | float) else "",
        text(ad, "Memory"),
        duration(now - entered) if isinstance(entered, int) else "",
    ]


def machine_summary(ads: Sequence[classad2.ClassAd]) -> str:
    """condor_status's count of slots by platform and state."""
    counts: dict[str, Counter[str]] = {}
    for ad in ads:
        platform = f"{text(ad, 'Arch') or '?'}/{text(ad, 'OpSys') or '?'}"
        counts.setdefault(platform, Counter())[text(ad, "State")] += 1
    total: Counter[str] = Counter()
    rows = []
    for platform, by_state in sorted(counts.items()):
        total.update(by_state)
        rows.append(_summary_row(platform, by_state))
    rows.append(_summary_row("Total", total))
    return table(("", "Total", *MACHINE_STATES), rows, right={"Total", *MACHINE_STATES})


def _summary_row(label: str, by_state: Counter[str]) -> list[str]:
    return [label, str(sum(by_state.values())), *(str(by_state[s]) for s in MACHINE_STATES)]


def status_tables(ads: Sequence[classad2.ClassAd], now: float | None = None) -> str:
    """One table per ad type (Machine as condor_status prints it), types in name order."""
    now = time.time() if now is None else now
    by_type: dict[str, list[classad2.ClassAd]] = {}
    for ad in ads:
        by_type.setdefault(text(ad, "MyType") or "?", []).append(ad)
    parts = []
    for my_type, group in sorted(by_type.items(), key=lambda item: item[0].lower()):
        group.sort(key=lambda ad: text(ad, "Name"))
        if my_type == "Machine":
            rows = [_machine_row(ad, now) for ad in group]
            parts.append(table(MACHINE_COLUMNS, rows) + "\n" + machine_summary(group))
            continue
        extra = TYPE_COLUMNS.get(my_type.lower(), ())
        header = ("MyType", "Name", "AuthenticatedIdentity", *extra)
        parts.append(table(header, [[text(ad, name) for name in header] for ad in group]))
    return "\n".join(parts)


def any_table(ads: Sequence[classad2.ClassAd]) -> str:
    """condor_status -any: type, target type and name of every ad."""
    header = ("MyType", "TargetType", "Name")
    rows = sorted([text(ad, name) for name in header] for ad in ads)
    return table(header, rows)


def type_totals(ads: Sequence[classad2.ClassAd]) -> str:
    """condor_status -total: the Machine summary, then a count per other ad type."""
    machines = [ad for ad in ads if text(ad, "MyType") == "Machine"]
    others = Counter(text(ad, "MyType") for ad in ads if text(ad, "MyType") != "Machine")
    parts = [machine_summary(machines)] if machines else []
    if others:
        parts.append(table(("MyType", "Total"), sorted(([t, str(n)] for t, n in others.items()))))
    return "\n".join(parts)


# --- condor_q --------------------------------------------------------------------------


def _status(ad: classad2.ClassAd) -> int:
    value = get(ad, "JobStatus", 0)
    return value if isinstance(value, int) else 0


def _command(ad: classad2.ClassAd) -> str:
    return " ".join(filter(None, [os.path.basename(text(ad, "Cmd")), text(ad, "Arguments")]))


def _run_time(ad: classad2.ClassAd, now: float) -> str:
    started = get(ad, "JobCurrentStartDate")
    if _status(ad) == JobStatus.RUNNING and isinstance(started, int):
        return duration(now - started)
    wall = get(ad, "RemoteWallClockTime", 0)
    return duration(wall if isinstance(wall, int | float) else 0)


def _size(ad: classad2.ClassAd) -> str:
    memory = get(ad, "MemoryUsage")
    if not isinstance(memory, int | float):
        image = get(ad, "ImageSize", 0)
        memory = image / 1024 if isinstance(image, int | float) else 0
    return f"{memory:.1f}"


def jobs_table(ads: Sequence[classad2.ClassAd], now: float | None = None) -> str:
    """condor_q -nobatch: a line per job."""
    now = time.time() if now is None else now
    header = ("ID", "OWNER", "SUBMITTED", "RUN_TIME", "ST", "PRI", "SIZE", "CMD")
    rows = [
        [
            job_id(ad),
            text(ad, "Owner"),
            short_date(get(ad, "QDate")),
            _run_time(ad, now),
            STATUS_LETTER.get(_status(ad), "?"),
            text(ad, "JobPrio") or "0",
            _size(ad),
            _command(ad),
        ]
        for ad in ads
    ]
    return table(header, rows, right={"ID", "RUN_TIME", "SIZE"})


def running_table(ads: Sequence[classad2.ClassAd], now: float | None = None) -> str:
    """condor_q -run: running jobs and where they run."""
    now = time.time() if now is None else now
    header = ("ID", "OWNER", "SUBMITTED", "RUN_TIME", "HOST(S)")
    rows = [
        [
            job_id(ad),
            text(ad, "Owner"),
            short_date(get(ad, "QDate")),
            _run_time(ad, now),
            text(ad, "RemoteHost"),
        ]
        for ad in ads
    ]
    return table(header, rows)


def held_table(ads: Sequence[classad2.ClassAd]) -> str:
    """condor_q -hold: held jobs with since when and why."""
    header = ("ID", "OWNER", "HELD_SINCE", "CODE/SUB", "HOLD_REASON")
    rows = [
        [
            job_id(ad),
            text(ad, "Owner"),
            short_date(get(ad, "EnteredCurrentStatus")),
            f"{text(ad, 'HoldReasonCode') or 0}/{text(ad, 'HoldReasonSubCode') or 0}",
            text(ad, "HoldReason"),
        ]
        for ad in ads
    ]
    return table(header, rows)


def _id_range(ads: Sequence[classad2.ClassAd]) -> str:
    ids = sorted((get(ad, "ClusterId", 0), get(ad, "ProcId", 0)) for ad in ads)
    first, last = ids[0], ids[-1]
    if first == last:
        return f"{first[0]}.{first[1]}"
    if first[0] == last[0]:
        return f"{first[0]}.{first[1]}-{last[1]}"
    return f"{first[0]}.{first[1]} ... {last[0]}.{last[1]}"


def batch_table(ads: Sequence[classad2.ClassAd]) -> str:
    """condor_q's default: a line per batch (owner and cluster); HOLD only when some are."""
    batches: dict[tuple[str, int], list[classad2.ClassAd]] = {}
    for ad in ads:
        batches.setdefault((text(ad, "Owner"), get(ad, "ClusterId", 0)), []).append(ad)
    show_hold = not ads or any(_status(ad) == JobStatus.HELD for ad in ads)
    counted = [JobStatus.COMPLETED, JobStatus.RUNNING, JobStatus.IDLE]
    names = ["DONE", "RUN", "IDLE"]
    if show_hold:
        counted.append(JobStatus.HELD)
        names.append("HOLD")
    rows = []
    for (owner, cluster), jobs in sorted(batches.items(), key=lambda item: item[0][1]):
        by_status = Counter(_status(ad) for ad in jobs)
        cells = [str(by_status[s]) if by_status[s] else "_" for s in counted]
        submitted = short_date(min(get(ad, "QDate", 0) for ad in jobs))
        name = text(jobs[0], "JobBatchName") or f"ID: {cluster}"
        rows.append([owner, name, submitted, *cells, str(len(jobs)), _id_range(jobs)])
    header = ("OWNER", "BATCH_NAME", "SUBMITTED", *names, "TOTAL", "JOB_IDS")
    return table(header, rows, right={*names, "TOTAL"})


def totals_line(label: str, ads: Sequence[classad2.ClassAd]) -> str:
    """`Total for query: N jobs; C completed, X removed, I idle, R running, H held, S suspended`."""
    counts = Counter(_status(ad) for ad in ads)
    parts = ", ".join(
        f"{counts[status]} {word}"
        for status, word in (
            (JobStatus.COMPLETED, "completed"),
            (JobStatus.REMOVED, "removed"),
            (JobStatus.IDLE, "idle"),
            (JobStatus.RUNNING, "running"),
            (JobStatus.HELD, "held"),
            (JobStatus.SUSPENDED, "suspended"),
        )
    )
    return f"Total for {label}: {len(ads)} jobs; {parts}\n"
