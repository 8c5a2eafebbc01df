"""Upstream's analyze_entries, analyze_queues and analyze_frontends, from this factory's own
records: the entries' completed_jobs logs (glideins that ended in the last hour, day or
week) and the queue as the pool answers now (either backend).

    analyze_entries   [--source WORK] [-x HOURS] [-w] [-f FRONTEND]
    analyze_queues    [--source WORK] [-f FRONTEND] [-z]
    analyze_frontends [--source WORK] [-x HOURS]
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from glideinwms_factory.lib import cli
from glideinwms_factory.lib.factory_config import FactoryConfig
from glideinwms_factory.lib.pool import JobStatus, PoolError
from glideinwms_factory.lib.pool.connect import open_pool
from glideinwms_factory.tools import entry_tools
from glideinwms_factory.tools.condor_tables import table

PERIODS = {"hour": 1, "day": 24, "week": 168}  # hours
QUEUE_PROJECTION = ("GlideinEntryName", "GlideinFrontendName", "JobStatus")


@dataclass
class Usage:
    """Sums over completed glideins (seconds)."""

    glideins: int = 0
    failed: int = 0
    no_jobs: int = 0
    jobs: int = 0
    time: float = 0
    used: float = 0
    validation: float = 0
    idle: float = 0
    badput: float = 0

    def add(self, record: entry_tools.CompletedRecord) -> None:
        self.glideins += 1
        self.failed += not record.condor_started
        self.no_jobs += record.jobs_nr == 0
        self.jobs += record.jobs_nr
        self.time += record.duration
        self.used += record.goodput
        self.validation += record.wasted("validation")
        self.idle += record.wasted("idle")
        self.badput += record.wasted("badput")

    @property
    def wasted(self) -> float:
        return max(self.time - self.used, 0)


def _percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def _frontend_of(client: str) -> str:
    """The frontend (security name) of a client key `<security name>_<class>`."""
    return client.rsplit("_", 1)[0] if "_" in client else client


def completed_since(
    config: FactoryConfig, entries: Iterable[str], since: datetime.datetime
) -> list[tuple[str, entry_tools.CompletedRecord]]:
    """(entry, record) of every glidein that ended after `since` (UTC)."""
    days = {
        (since + datetime.timedelta(days=n)).strftime("%Y%m%d")
        for n in range((datetime.datetime.now(datetime.UTC) - since).days + 2)
    }
    found = []
    for entry in entries:
        for day in sorted(days):
            log = config.log_dir / f"entry_{entry}" / f"completed_jobs_{day}.log"
            found += [(entry, r) for r in entry_tools.read_completed(log) if r.terminated >= since]
    return found


def _summary(title: str, usage: Usage, hours: int) -> str:
    slots = (lambda seconds: seconds / (hours * 3600)) if hours else (lambda seconds: 0.0)
    lines = [f"{title}:", "", f"Total Glideins: {usage.glideins}"]
    average = usage.jobs / usage.glideins if usage.glideins else 0
    lines.append(f"Total Jobs: {usage.jobs} (Average jobs/glidein: {average:.2f})")
    for label, seconds in (
        ("Total time", usage.time),
        ("Total time used", usage.used),
        ("Total time in validation", usage.validation),
        ("Total time idle", usage.idle),
        ("Total time wasted", usage.wasted),
    ):
        lines.append(
            f"{label}: {seconds:.0f} s ({seconds / 3600:.0f} hours - {slots(seconds):.1f} slots)"
        )
    efficiency = usage.used / usage.time if usage.time else 0
    lines.append(f"Time efficiency: {efficiency:.2f}")
    return "\n".join(lines) + "\n"


def _entry_rows(by_entry: dict[str, Usage], sort_waste: bool) -> list[list[str]]:
    items = sorted(by_entry.items(), key=lambda kv: -kv[1].wasted if sort_waste else kv[0])
    return [
        [
            name,
            _percent(u.failed, u.glideins),
            _percent(u.no_jobs, u.glideins),
            _percent(u.validation, u.time),
            _percent(u.idle, u.time),
            _percent(u.wasted, u.time),
            _percent(u.badput, u.time),
            f"{u.wasted / 3600:.1f}",
            f"{u.time / 3600:.1f}",
            str(u.glideins),
        ]
        for name, u in items
    ]


ENTRY_HEADER = ("entry", "fail", "0job", "val", "idle", "wst", "badp", "waste_h", "time_h",
                "glideins")  # fmt: skip


def _parser(prog: str, hours: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source", "-source", help="the factory work dir (default: $GLIDEIN_FACTORY_DIR or .)"
    )
    if hours:
        parser.add_argument("-x", type=int, default=24, help="hours of the detailed tables (24)")
    return parser  # fmt: skip


@cli.command("analyze_entries")
def analyze_entries(argv: list[str]) -> int:
    """Glidein time use per period and per entry, from the completed_jobs logs."""
    parser = _parser("analyze_entries")
    parser.add_argument("-w", action="store_true", help="sort entries by wasted time")
    parser.add_argument("-f", dest="frontend", help="only this frontend (security name)")
    args = parser.parse_args(argv)
    try:
        config = entry_tools.factory_dir(args.source)
    except entry_tools.ToolError as exc:
        print(f"analyze_entries: {exc}", file=sys.stderr)
        return 1
    now = datetime.datetime.now(datetime.UTC)
    horizon = max([*PERIODS.values(), args.x])
    wanted = args.frontend.removeprefix("frontend_") if args.frontend else None
    records = [
        (entry, record)
        for entry, record in completed_since(config, config.entries, now - _hours(horizon))
        if not wanted or _frontend_of(record.client) == wanted
    ]
    who = f"frontend {args.frontend}" if args.frontend else "All Entries"
    print(f"Glidein log analysis for {who} - {now:%d-%m-%Y_%H:%M:%S}\n")
    for hours in sorted({*PERIODS.values(), args.x}):
        usage = _usage(r for _, r in records if r.terminated >= now - _hours(hours))
        print("-" * 40)
        print(_summary(f"Past {hours:.1f} hours", usage, hours))
    by_entry: dict[str, Usage] = defaultdict(Usage)
    for entry, record in records:
        if record.terminated >= now - _hours(args.x):
            by_entry[entry].add(record)
    print(f"Per Entry stats for the past {args.x} hours.\n")
    sys.stdout.write(table(ENTRY_HEADER, _entry_rows(by_entry, args.w), right=ENTRY_HEADER[1:]))
    return 0


def _hours(hours: int) -> datetime.timedelta:
    return datetime.timedelta(hours=hours)


def queue_counts(config: FactoryConfig) -> dict[tuple[str, str], Counter[str]]:
    """(entry, frontend) -> glideins by state, from every schedd of the factory's entries."""
    pool = open_pool(config.glidein)
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    schedds = {entry_tools.schedd_name(config, entry) for entry in config.entries}
    for schedd in sorted(schedds):
        constraint = entry_tools.factory_constraint(config)
        for ad in pool.schedd(schedd).query(constraint, QUEUE_PROJECTION):
            entry = str(ad.get("GlideinEntryName", "?"))
            frontend = str(ad.get("GlideinFrontendName", "?")).split(":", 1)[0]
            status = ad.get("JobStatus", 0)
            state = JobStatus(status).name.title() if status in set(JobStatus) else "Unknown"
            counts[entry, frontend][state] += 1
    return counts


def _with_queue(
    prog: str, source: str | None
) -> tuple[FactoryConfig, dict[tuple[str, str], Counter[str]]] | None:
    """The tree and its queue counts; None (after a one-line message) when unreadable."""
    try:
        config = entry_tools.factory_dir(source)
        return config, queue_counts(config)
    except (entry_tools.ToolError, PoolError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return None


STATES = ("Running", "Held", "Idle", "Removed", "Completed")


def _queue_table(label: str, rows: dict[str, Counter[str]], zero_suppress: bool) -> str:
    body = [
        [name, *(str(c[s]) for s in STATES), str(c.total())]
        for name, c in sorted(rows.items())
        if not zero_suppress or c.total() > 0
    ]
    header = (label, *STATES, "Total")
    return table(header, body, right=header[1:])


@cli.command("analyze_queues")
def analyze_queues(argv: list[str]) -> int:
    """Glideins in the queue now, by state, per entry and per entry and frontend."""
    parser = _parser("analyze_queues", hours=False)
    parser.add_argument("-f", dest="frontend", help="only this frontend (security name)")
    parser.add_argument("-z", action="store_true", help="leave out entries with no glidein")
    args = parser.parse_args(argv)
    loaded = _with_queue("analyze_queues", args.source)
    if loaded is None:
        return 1
    config, counts = loaded
    wanted = args.frontend.removeprefix("frontend_") if args.frontend else None
    now = datetime.datetime.now()
    print(f"Status analysis for {wanted or 'All Entries'} - {now:%d-%m-%Y_%H:%M:%S}\n")
    per_entry: dict[str, Counter[str]] = {entry: Counter() for entry in config.entries}
    per_frontend: dict[str, dict[str, Counter[str]]] = defaultdict(dict)
    for (entry, frontend), counter in counts.items():
        if wanted and frontend != wanted:
            continue
        per_entry.setdefault(entry, Counter()).update(counter)
        per_frontend[frontend][entry] = counter
    print(_queue_table("entry (all frontends)", per_entry, args.z))
    for frontend, rows in sorted(per_frontend.items()):
        print(_queue_table(f"frontend {frontend}", rows, args.z))
    return 0


@cli.command("analyze_frontends")
def analyze_frontends(argv: list[str]) -> int:
    """Per frontend: glideins in the queue now and the glideins completed per period."""
    args = _parser("analyze_frontends").parse_args(argv)
    loaded = _with_queue("analyze_frontends", args.source)
    if loaded is None:
        return 1
    config, counts = loaded
    now = datetime.datetime.now(datetime.UTC)
    horizon = max([*PERIODS.values(), args.x])
    records = completed_since(config, config.entries, now - _hours(horizon))
    queued: dict[str, Counter[str]] = defaultdict(Counter)
    for (_, frontend), counter in counts.items():
        queued[frontend].update(counter)
    print(f"Frontend analysis - {now:%d-%m-%Y_%H:%M:%S}\n")
    print(_queue_table("frontend (queue now)", queued, False))
    periods = sorted({*PERIODS.values(), args.x})
    rows = []
    for frontend in sorted({_frontend_of(r.client) for _, r in records} | set(queued)):
        cells = [frontend]
        for hours in periods:
            usage = _usage(r for _, r in records if _frontend_of(r.client) == frontend
                           and r.terminated >= now - _hours(hours))  # fmt: skip
            cells.append(f"{usage.glideins}/{_percent(usage.used, usage.time)}")
        rows.append(cells)
    header = ("frontend", *(f"{h}h glideins/eff" for h in periods))
    sys.stdout.write(table(header, rows, right=header[1:]))
    return 0


def _usage(records: Iterable[entry_tools.CompletedRecord]) -> Usage:
    usage = Usage()
    for record in records:
        usage.add(record)
    return usage
