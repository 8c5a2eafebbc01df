"""The monitoring data model shared by the entry's statistics and the factory's aggregation.

* A client key is `<security name>_<security class>`, the same in every file; it names a
  folder (`is_folder_name`).
* `ClientStats` holds the classads.md §1 groups (`STATUS`, `REQUESTED`, `CLIENT_MONITOR`
  field names); missing fields are 0, unknown ones are an error. `monitor_attributes()`
  gives the `GlideinMonitor<Group><Field>` ad attributes from the same numbers.
* `ClientLog` holds one client's glidein movements (`client_log` diffs two job-state maps)
  and the `CompletedCounts` of the glideins that completed (`CompletedGlidein`).
* `EntrySnapshot` and `FactoryTotals` are what the aggregation read and summed; the
  metrics file and the pages render them.

Files: `monitoring_xml` (schedd_status.xml, log_summary.xml), `monitoring_rrd` (RRD layout).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar
from xml.sax.saxutils import quoteattr

from glideinwms_factory.lib import xml_stats

STATUS: tuple[str, ...] = ("Idle", "Running", "Held", "Wait", "Pending", "StageIn", "IdleOther")
STATUS += ("StageOut", "RunningCores")
REQUESTED = ("Idle", "AdjustedIdle", "MaxGlideins", "IdleCores", "MaxCores")
CLIENT_MONITOR: tuple[str, ...] = ("InfoAge", "JobsIdle", "JobsRunning", "JobsRunHere", "GlideIdle")
CLIENT_MONITOR += ("GlideRunning", "GlideTotal", "CoresIdle", "CoresRunning", "CoresTotal")

# what the entry did to a client's glideins this cycle (our addition to schedd_status.xml)
ACTIONS = ("Submitted", "Removed", "Released")
# running totals the entry keeps per client (our addition; the /metrics counters)
COUNTERS = (*ACTIONS, "Completed", "Failed")

LOG_STATES = ("Running", "Idle", "Wait", "Held")
ENTERED = (*LOG_STATES, "Completed", "Removed")
COMPLETED_SUMS: tuple[str, ...] = ("Glideins", "Lasted", "FailedNr", "JobsNr", "JobsLasted")
COMPLETED_SUMS += ("JobsTerminated", "JobsGoodput", "CondorLasted")
TIME_BUCKETS = ("Unknown", "Minutes", "30mins", "2hours", "8hours", "32hours", "Days")
JOBS_BUCKETS = ("None", "1job", "2jobs", "4jobs", "16jobs", "Many")
WASTE_KINDS = ("validation", "idle", "nosuccess", "badput")
MILL_BUCKETS = ("None", "5m", "25m", "100m", "250m", "500m", "Most", "All")


def _checked(values: Mapping[str, float], names: Sequence[str], what: str) -> dict[str, float]:
    unknown = set(values) - set(names)
    if unknown:
        raise ValueError(f"unknown {what} field(s): {', '.join(sorted(unknown))}")
    return {name: values.get(name, 0) for name in names}


Number = TypeVar("Number", int, float)


def _add(into: dict[str, Number], more: Mapping[str, Number]) -> None:
    for name, value in more.items():
        into[name] = into.get(name, 0) + value


def client_key(frontend_name: str) -> str:
    """`fe:sc` (a glidein's GlideinFrontendName) -> `fe_sc`, its client key in every file."""
    return frontend_name.replace(":", "_")


FOLDER_NAME_MAX = 128


def is_folder_name(name: str) -> bool:
    """Client names become folder names (frontend_<name>): no path separators or dot-names,
    and short enough that every file name made from one fits (255 bytes)."""
    return (
        0 < len(name.encode()) <= FOLDER_NAME_MAX
        and "/" not in name
        and "\0" not in name
        and name not in (".", "..")
    )


@dataclass
class ClientStats:
    """One client's queue, request and frontend-reported numbers (classads.md §1 groups).

    `requested` and `client_monitor` are None when no request was processed this cycle.
    `rejected` counts this cycle's rejected requests by reason, `protocols` the served
    ones by Frontend protocol ("3.10", "3.11"), `actions` the glideins submitted, removed
    and released this cycle (`ACTIONS`); `counters` and `rejected_total` are the entry's
    running totals of those and of completed/failed glideins (`COUNTERS`).
    """

    status: dict[str, float] = field(default_factory=dict)
    requested: dict[str, float] | None = None
    client_monitor: dict[str, float] | None = None
    rejected: dict[str, int] = field(default_factory=dict)
    protocols: dict[str, int] = field(default_factory=dict)
    actions: dict[str, float] = field(default_factory=dict)
    counters: dict[str, float] = field(default_factory=dict)
    rejected_total: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.status = _checked(self.status, STATUS, "Status")
        self.actions = _checked(self.actions, ACTIONS, "Actions")
        self.counters = _checked(self.counters, COUNTERS, "Counters")
        if self.requested is not None:
            self.requested = _checked(self.requested, REQUESTED, "Requested")
        if self.client_monitor is not None:
            self.client_monitor = _checked(self.client_monitor, CLIENT_MONITOR, "ClientMonitor")

    def groups(self) -> dict[str, dict[str, float]]:
        """The present groups by their ad/XML name."""
        result = {"Status": self.status}
        if self.requested is not None:
            result["Requested"] = self.requested
        if self.client_monitor is not None:
            result["ClientMonitor"] = self.client_monitor
        return result

    def monitor_attributes(self, prefix: str = "GlideinMonitor") -> dict[str, int]:
        """`<prefix><Group><Field>` ad attributes, e.g. GlideinMonitorTotalStatusIdle."""
        return {
            f"{prefix}{group}{name}": int(value)
            for group, values in self.groups().items()
            for name, value in values.items()
        }


def sum_clients(clients: Iterable[ClientStats]) -> ClientStats:
    """Totals over clients: sums, except InfoAge which is the oldest."""
    total = ClientStats()
    for client in clients:
        _add(total.status, client.status)
        _add(total.rejected, client.rejected)
        _add(total.protocols, client.protocols)
        _add(total.actions, client.actions)
        _add(total.counters, client.counters)
        _add(total.rejected_total, client.rejected_total)
        if client.requested is not None:
            total.requested = total.requested or dict.fromkeys(REQUESTED, 0)
            _add(total.requested, client.requested)
        if client.client_monitor is not None:
            previous = total.client_monitor or dict.fromkeys(CLIENT_MONITOR, 0)
            age = max(previous["InfoAge"], client.client_monitor["InfoAge"])
            _add(previous, client.client_monitor)
            previous["InfoAge"] = age
            total.client_monitor = previous
    return total


def time_bucket(seconds: float) -> str:
    """Unknown <1 s, Minutes <25 min, Days >64 h, else the nearest 7.5 min x 4^k."""
    if seconds < 1:
        return "Unknown"
    if seconds < 25 * 60:
        return "Minutes"
    if seconds > 64 * 3600:
        return "Days"
    power = min(max(math.floor(math.log(seconds / 450.0, 4) + 0.5), 1), 4)
    return TIME_BUCKETS[power + 1]


def jobs_bucket(jobs: int) -> str:
    """None 0, 1job, 2jobs, 4jobs <9, 16jobs <30, Many."""
    for limit, name in ((1, "None"), (2, "1job"), (3, "2jobs"), (9, "4jobs"), (30, "16jobs")):
        if jobs < limit:
            return name
    return "Many"


def mill_bucket(mill: int) -> str:
    """None <2, 5m <15, 25m <60, 100m <180, 250m <400, 500m <700, Most <=998, All."""
    for limit, name in zip((2, 15, 60, 180, 400, 700, 999), MILL_BUCKETS, strict=False):
        if mill < limit:
            return name
    return "All"


def _per_mill(part: float, whole: float) -> int:
    if whole <= 0:
        return 0
    return min(max(round(1000 * part / whole), 0), 1000)


@dataclass(frozen=True)
class CompletedGlidein:
    """One glidein that left the queue, with what its output said about it.

    Times are seconds. `jobs_terminated` is the time of user jobs that ran to their end,
    `goodput` that of the ones that exited 0. `validation` defaults to the glidein time
    before HTCondor started (duration - condor_duration).
    """

    client: str
    username: str
    job_id: str
    terminated: float
    duration: float
    condor_started: bool
    condor_duration: float = 0
    jobs_nr: int = 0
    jobs_duration: float = 0
    goodput: float = 0
    jobs_terminated: float = 0
    validation: float | None = None

    @property
    def failed(self) -> bool:
        """HTCondor never started, or ran under 5 s: the glidein did no work."""
        return not self.condor_started or self.condor_duration < 5

    def waste_mill(self) -> dict[str, int]:
        """Wasted fractions in per mill (operations.md §6)."""
        if self.failed:
            return {"validation": 1000, "idle": 0, "nosuccess": 0, "badput": 1000}
        validation = self.validation
        if validation is None:
            validation = max(self.duration - self.condor_duration, 0)
        return {
            "validation": _per_mill(validation, self.duration),
            "idle": _per_mill(self.condor_duration - self.jobs_duration, self.condor_duration),
            "nosuccess": _per_mill(self.jobs_duration - self.goodput, self.jobs_duration),
            "badput": _per_mill(self.duration - self.jobs_terminated, self.duration),
        }

    def log_line(self) -> str:
        """The completed_jobs log line, attributes padded into columns."""
        mill = self.waste_mill()
        head = [
            f"terminated={quoteattr(xml_stats.iso_utc(self.terminated))}".ljust(33),
            f"client={quoteattr(self.client)}".ljust(30),
            f"username={quoteattr(self.username)}".ljust(25),
            f"id={quoteattr(self.job_id)}".ljust(18),
            f'duration="{int(self.duration)}"'.ljust(17),
            f'condor_started="{self.condor_started}"'.ljust(22),
            f'condor_duration="{int(self.condor_duration)}"',
        ]
        user = (
            f'<user jobsnr="{self.jobs_nr}" duration="{int(self.jobs_duration)}"'
            f' goodput="{int(self.goodput)}" terminated="{int(self.jobs_terminated)}"/>'
        )
        waste = "<wastemill " + " ".join(f'{k}="{v}"' for k, v in mill.items()) + "/>"
        return f"<job {' '.join(head)}>{user}{waste}</job>"


@dataclass
class CompletedCounts:
    """Sums and bucket counts over completed glideins (`CompletedCounts` in log_summary)."""

    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(COMPLETED_SUMS, 0))
    lasted: dict[str, float] = field(default_factory=lambda: dict.fromkeys(TIME_BUCKETS, 0))
    jobs_duration: dict[str, float] = field(default_factory=lambda: dict.fromkeys(TIME_BUCKETS, 0))
    jobs_nr: dict[str, float] = field(default_factory=lambda: dict.fromkeys(JOBS_BUCKETS, 0))
    waste: dict[str, dict[str, float]] = field(
        default_factory=lambda: {w: dict.fromkeys(MILL_BUCKETS, 0) for w in WASTE_KINDS}
    )
    waste_time: dict[str, dict[str, float]] = field(
        default_factory=lambda: {w: dict.fromkeys(MILL_BUCKETS, 0) for w in WASTE_KINDS}
    )

    def add(self, glidein: CompletedGlidein) -> None:
        _add(
            self.sums,
            {
                "Glideins": 1,
                "Lasted": glidein.duration,
                "FailedNr": int(glidein.failed),
                "JobsNr": glidein.jobs_nr,
                "JobsLasted": glidein.jobs_duration,
                "JobsTerminated": glidein.jobs_terminated,
                "JobsGoodput": glidein.goodput,
                "CondorLasted": glidein.condor_duration,
            },
        )
        self.lasted[time_bucket(glidein.duration)] += 1
        self.jobs_duration[time_bucket(glidein.jobs_duration)] += 1
        self.jobs_nr[jobs_bucket(glidein.jobs_nr)] += 1
        for kind, mill in glidein.waste_mill().items():
            self.waste[kind][mill_bucket(mill)] += 1
            self.waste_time[kind][mill_bucket(mill)] += glidein.duration

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CompletedCounts:
        """The counts of `to_json`; unknown keys or buckets are an error (ValueError)."""
        counts = cls()
        for name, table in list(vars(counts).items()):
            given = data.get(name, {})
            if name.startswith("waste"):
                for kind, buckets in table.items():
                    table[kind] = _checked(given.get(kind, {}), list(buckets), name)
            else:
                setattr(counts, name, _checked(given, list(table), name))
        return counts

    def merge(self, other: CompletedCounts) -> None:
        _add(self.sums, other.sums)
        _add(self.lasted, other.lasted)
        _add(self.jobs_duration, other.jobs_duration)
        _add(self.jobs_nr, other.jobs_nr)
        for kind in WASTE_KINDS:
            _add(self.waste[kind], other.waste[kind])
            _add(self.waste_time[kind], other.waste_time[kind])


@dataclass
class ClientLog:
    """One client's glidein movements this iteration and the glideins that completed."""

    current: dict[str, float] = field(default_factory=lambda: dict.fromkeys(LOG_STATES, 0))
    entered: dict[str, float] = field(default_factory=lambda: dict.fromkeys(ENTERED, 0))
    exited: dict[str, float] = field(default_factory=lambda: dict.fromkeys(LOG_STATES, 0))
    completed: CompletedCounts = field(default_factory=CompletedCounts)

    def merge(self, other: ClientLog) -> None:
        _add(self.current, other.current)
        _add(self.entered, other.entered)
        _add(self.exited, other.exited)
        self.completed.merge(other.completed)


def client_log(
    previous: Mapping[str, str],
    current: Mapping[str, str],
    completed: Sequence[CompletedGlidein],
) -> ClientLog:
    """Pure: the movements between two job-state maps (job id -> log state).

    A job that left the queue entered Completed if it is among `completed`, else Removed.
    States outside LOG_STATES are ignored.
    """
    result = ClientLog()
    for state in current.values():
        if state in LOG_STATES:
            result.current[state] += 1
    for job_id, state in current.items():
        if state in LOG_STATES and previous.get(job_id) != state:
            result.entered[state] += 1
    done = {glidein.job_id for glidein in completed}
    for job_id, state in previous.items():
        now = current.get(job_id)
        if state in LOG_STATES and now != state:
            result.exited[state] += 1
        if now is None and job_id not in done:
            result.entered["Removed"] += 1
    result.entered["Completed"] = len(completed)
    for glidein in completed:
        result.completed.add(glidein)
    return result


class _ClientSums:
    """Totals over the `clients` and `logs` of the class it is mixed into, summed once on
    first use (the XML, RRDs and pages read them several times per cycle): fill `clients`
    and `logs` before."""

    clients: dict[str, ClientStats]
    logs: dict[str, ClientLog]

    @cached_property
    def total(self) -> ClientStats:
        return sum_clients(self.clients.values())

    @cached_property
    def total_log(self) -> ClientLog:
        return merge_logs(self.logs.values())

    def completed_jobs(self) -> dict[str, int]:
        """`GlideinMonitorCompletedJobsPer{Entry,Factory}<R>`: glideins by jobs they ran."""
        return {k: int(v) for k, v in self.total_log.completed.jobs_nr.items()}


@dataclass
class EntrySnapshot(_ClientSums):
    """What one entry last wrote."""

    name: str
    updated: float
    downtime: bool
    clients: dict[str, ClientStats]
    logs: dict[str, ClientLog]
    summary_updated: float  # stamp of its log_summary.xml
    cycle_seconds: float = 0.0  # how long the entry's last cycle took
    # completed glideins of the last hour/day/week (from its RRDs), by window name
    history: dict[str, CompletedCounts] = field(default_factory=dict)


def merge_logs(logs: Iterable[ClientLog]) -> ClientLog:
    total = ClientLog()
    for one in logs:
        total.merge(one)
    return total


@dataclass
class FactoryTotals(_ClientSums):
    """The result of one aggregation."""

    updated: float
    entries: dict[str, EntrySnapshot] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    clients: dict[str, ClientStats] = field(default_factory=dict)
    logs: dict[str, ClientLog] = field(default_factory=dict)
    # completed glideins of the last hour/day/week: factory-wide, and per client
    history: dict[str, CompletedCounts] = field(default_factory=dict)
    client_history: dict[str, dict[str, CompletedCounts]] = field(default_factory=dict)
