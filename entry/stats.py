"""An entry's statistics: the snapshot the entry loop builds, and the files written from it.

API (the entry daemon calls this once per iteration, step 8 of ARCHITECTURE.md):

    writer = EntryStatsWriter(monitor_dir, entry_log_dir, "ce_example")
    writer.write(
        EntryStats(entry="ce_example", updated=time.time(), in_downtime=False,
                   clients={"fe1_classA": ClientStats(status={"Idle": 3, "Running": 5},
                                                      requested={"Idle": 4, "MaxGlideins": 10},
                                                      rejected={"bad identity": 1})},
                   jobs={"fe1_classA": {"12.0": "Idle", "12.1": "Running"}}),
        completed=[CompletedGlidein(client="fe1_classA", username="fe1user", job_id="11.0",
                                    terminated=time.time(), duration=3600, condor_started=True,
                                    condor_duration=3500, jobs_nr=2, jobs_duration=3000,
                                    goodput=2900, jobs_terminated=3000)])

* A client key is `<security name>_<security class>`, the same in every file; it names a
  folder, so a key with `/` (or `.`/`..`) is left out with a warning.
* `ClientStats` holds the classads.md §1 groups (`STATUS`, `REQUESTED`, `CLIENT_MONITOR`
  field names); missing fields are 0, unknown ones are an error. `monitor_attributes()`
  gives the `GlideinMonitor<Group><Field>` ad attributes from the same numbers.
* `EntryStats.jobs` (optional) maps client -> job id -> log state (`Idle Running Wait
  Held`); the writer diffs it with the previous iteration for the Entered/Exited counts.
* Written (operations.md §6, §7): MONITOR/entry_<e>/schedd_status.xml, log_summary.xml,
  rrd_<RRD>.xml (every `rrd_xml_interval` s), job_states.json (the previous job states),
  {total,frontend_<client>}/<RRD>.rrd, and
  LOG/entry_<e>/completed_jobs_<YYYYMMDD>.log lines.

The parsers (`read_qstats`, `read_log_summary`) and the RRD layout (`rrd_values`) are shared
with the factory's aggregation, which writes the same shapes one level up.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

from lxml import etree

from glideinwms_factory.lib import xml_stats
from glideinwms_factory.lib.atomicfile import atomic_write
from glideinwms_factory.lib.rrd import DataSource, RRDError, RRDTool

log = logging.getLogger(__name__)

STATUS = ("Idle", "Running", "Held", "Wait", "Pending", "StageIn", "IdleOther", "StageOut")
STATUS += ("RunningCores",)
REQUESTED = ("Idle", "AdjustedIdle", "MaxGlideins", "IdleCores", "MaxCores")
CLIENT_MONITOR = ("InfoAge", "JobsIdle", "JobsRunning", "JobsRunHere", "GlideIdle")
CLIENT_MONITOR += ("GlideRunning", "GlideTotal", "CoresIdle", "CoresRunning", "CoresTotal")

LOG_STATES = ("Running", "Idle", "Wait", "Held")
ENTERED = (*LOG_STATES, "Completed", "Removed")
COMPLETED_SUMS = ("Glideins", "Lasted", "FailedNr", "JobsNr", "JobsLasted", "JobsTerminated")
COMPLETED_SUMS += ("JobsGoodput", "CondorLasted")
TIME_BUCKETS = ("Unknown", "Minutes", "30mins", "2hours", "8hours", "32hours", "Days")
JOBS_BUCKETS = ("None", "1job", "2jobs", "4jobs", "16jobs", "Many")
WASTE_KINDS = ("validation", "idle", "nosuccess", "badput")
MILL_BUCKETS = ("None", "5m", "25m", "100m", "250m", "500m", "Most", "All")

RRD_NAMES = (
    "Status_Attributes",
    "Log_Counts",
    "Log_Completed",
    "Log_Completed_Stats",
    "Log_Completed_WasteTime",
)


def _checked(values: Mapping[str, float], names: Sequence[str], what: str) -> dict[str, float]:
    unknown = set(values) - set(names)
    if unknown:
        raise ValueError(f"unknown {what} field(s): {', '.join(sorted(unknown))}")
    return {name: values.get(name, 0) for name in names}


def _add(into: dict[str, float], more: Mapping[str, float]) -> None:
    for name, value in more.items():
        into[name] = into.get(name, 0) + value


def client_key(frontend_name: str) -> str:
    """`fe:sc` (a glidein's GlideinFrontendName) -> `fe_sc`, its client key in every file."""
    return frontend_name.replace(":", "_")


def is_folder_name(name: str) -> bool:
    """Client names become folder names (frontend_<name>): no path separators or dot-names."""
    return bool(name) and "/" not in name and "\0" not in name and name not in (".", "..")


@dataclass
class ClientStats:
    """One client's queue, request and frontend-reported numbers (classads.md §1 groups).

    `requested` and `client_monitor` are None when no request was processed this cycle.
    `rejected` counts this cycle's rejected requests by reason.
    """

    status: dict[str, float] = field(default_factory=dict)
    requested: dict[str, float] | None = None
    client_monitor: dict[str, float] | None = None
    rejected: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.status = _checked(self.status, STATUS, "Status")
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


@dataclass
class EntryStats:
    """The snapshot of one entry iteration."""

    entry: str
    updated: float
    in_downtime: bool
    clients: dict[str, ClientStats]
    jobs: dict[str, dict[str, str]] = field(default_factory=dict)
    downtime_comment: str = ""

    @property
    def total(self) -> ClientStats:
        return sum_clients(self.clients.values())


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


# --- RRD layout (operations.md §7) -------------------------------------------------------


def _prefixed(prefix: str, values: Mapping[str, float] | None, names: Sequence[str]):
    return {f"{prefix}{n}": (None if values is None else values[n]) for n in names}


def rrd_values(stats: ClientStats, client: ClientLog) -> dict[str, dict[str, float | None]]:
    """Data-source values of every RRD, by RRD name (None is an unknown sample)."""
    completed = client.completed
    return {
        "Status_Attributes": {
            **_prefixed("Status", stats.status, STATUS),
            **_prefixed("Req", stats.requested, REQUESTED),
            **_prefixed("Client", stats.client_monitor, CLIENT_MONITOR),
        },
        "Log_Counts": {
            **_prefixed("Status", client.current, LOG_STATES),
            **_prefixed("Entered", client.entered, ENTERED),
            **_prefixed("Exited", client.exited, LOG_STATES),
        },
        "Log_Completed": dict(completed.sums),
        "Log_Completed_Stats": {
            **_prefixed("Lasted_", completed.lasted, TIME_BUCKETS),
            **_prefixed("JobsLasted_", completed.jobs_duration, TIME_BUCKETS),
            **_prefixed("JobsNr_", completed.jobs_nr, JOBS_BUCKETS),
        },
        "Log_Completed_WasteTime": {
            f"{kind}_{bucket}": completed.waste_time[kind][bucket]
            for kind in WASTE_KINDS
            for bucket in MILL_BUCKETS
        },
    }


def rrd_sources(rrd_name: str, names: Iterable[str]) -> list[DataSource]:
    """Data-source types: levels are GAUGE, movements and completions ABSOLUTE."""
    gauge = rrd_name == "Status_Attributes"
    return [
        DataSource(n, "GAUGE" if gauge or n.startswith("Status") else "ABSOLUTE") for n in names
    ]


def update_rrds(
    tool: RRDTool, folder: Path, when: int, stats: ClientStats, client: ClientLog
) -> None:
    """Create if needed and update the five RRDs in `folder`; failures are logged.

    A second update within the same second (two iterations in one second) is skipped:
    RRD steps are 300 s, so it would add nothing.
    """
    for rrd_name, values in rrd_values(stats, client).items():
        path = folder / f"{rrd_name}.rrd"
        try:
            tool.ensure(path, rrd_sources(rrd_name, values), when - 300)
            if tool.last(path) >= when:
                continue
            tool.update(path, when, values)
        except RRDError as exc:
            log.warning("RRD %s not updated: %s", path, exc)


RRD_PERIODS = (7200, 86400, 604800)


def _rrd_xml(tool: RRDTool, folder: Path, rrd_name: str, now: int) -> etree._Element:
    """`<total>` (or `<frontend>`) with one `<period name="7200" DS="mean"/>` per period."""
    node = etree.Element("rrd")
    path = folder / f"{rrd_name}.rrd"
    if not path.exists():
        return node
    for period, means in tool.averages(path, now, RRD_PERIODS).items():
        known = {k: v for k, v in means.items() if v is not None}
        xml_stats.attrs_element(node, "period", known)
        node[-1].set("name", str(period))
    return node


def write_rrd_xml(
    tool: RRDTool, folder: Path, root_tag: str, clients: Mapping[str, Path], now: int
) -> None:
    """rrd_<RRD>.xml in `folder`: averages of the RRDs in folder/total and in each client's
    folder over 2 h, 1 day and 1 week (`<period name="7200" DS="mean" .../>`)."""
    for rrd_name in RRD_NAMES:
        root = etree.Element(root_tag)
        xml_stats.updated_element(root, now)
        try:
            total = _rrd_xml(tool, folder / "total", rrd_name, now)
            total.tag = "total"
            root.append(total)
            frontends = etree.SubElement(root, "frontends")
            for client, client_folder in sorted(clients.items()):
                one = _rrd_xml(tool, client_folder, rrd_name, now)
                one.tag = "frontend"
                one.set("name", client)
                frontends.append(one)
        except RRDError as exc:
            log.warning("rrd_%s.xml not written: %s", rrd_name, exc)
            continue
        xml_stats.write_xml(folder / f"rrd_{rrd_name}.xml", root)


# --- XML ---------------------------------------------------------------------------------


def qstats_element(
    root_tag: str,
    updated: float,
    clients: Mapping[str, ClientStats],
    downtime: bool | None = None,
) -> etree._Element:
    """`<glideFactory[Entry]QStats>`: per-client groups and their total."""
    root = etree.Element(root_tag)
    xml_stats.updated_element(root, updated)
    if downtime is not None:
        etree.SubElement(root, "downtime", status=str(downtime))
    frontends = etree.SubElement(root, "frontends")
    for name, client in sorted(clients.items()):
        _client_element(etree.SubElement(frontends, "frontend", name=name), client)
    _client_element(etree.SubElement(root, "total"), sum_clients(clients.values()))
    return root


def _client_element(node: etree._Element, client: ClientStats) -> None:
    for group, values in client.groups().items():
        xml_stats.attrs_element(node, group, values)
    if client.rejected:
        rejected = etree.SubElement(node, "Rejected")
        for reason, count in sorted(client.rejected.items()):
            etree.SubElement(rejected, "reason", name=reason, count=str(count))


def log_summary_element(
    root_tag: str, updated: float, clients: Mapping[str, ClientLog]
) -> etree._Element:
    """`<glideFactory[Entry]LogSummary>`: per-client movements, completions and total."""
    root = etree.Element(root_tag)
    xml_stats.updated_element(root, updated)
    frontends = etree.SubElement(root, "frontends")
    total = ClientLog()
    for name, client in sorted(clients.items()):
        log_element(etree.SubElement(frontends, "frontend", name=name), client)
        total.merge(client)
    log_element(etree.SubElement(root, "total"), total)
    return root


def log_element(node: etree._Element, client: ClientLog) -> None:
    """Current/Entered/Exited counts and CompletedCounts of one client (or a total)."""
    xml_stats.attrs_element(node, "Current", client.current)
    xml_stats.attrs_element(node, "Entered", client.entered)
    xml_stats.attrs_element(node, "Exited", client.exited)
    completed = client.completed
    counts = etree.SubElement(node, "CompletedCounts")
    xml_stats.attrs_element(counts, "Sum", completed.sums)
    xml_stats.ranges_element(counts, "Lasted", completed.lasted)
    xml_stats.ranges_element(counts, "JobsDuration", completed.jobs_duration)
    xml_stats.ranges_element(counts, "JobsNr", completed.jobs_nr)
    for tag, table in (("Waste", completed.waste), ("WasteTime", completed.waste_time)):
        waste = etree.SubElement(counts, tag)
        for kind in WASTE_KINDS:
            xml_stats.ranges_element(waste, kind, table[kind])


@dataclass
class QStats:
    """A parsed schedd_status.xml (entry or factory)."""

    updated: float
    downtime: bool
    clients: dict[str, ClientStats]


def _parse_client(node: etree._Element) -> ClientStats:
    requested = node.find("Requested")
    monitor = node.find("ClientMonitor")
    try:
        return ClientStats(
            status=xml_stats.read_attrs(node.find("Status")),
            requested=None if requested is None else xml_stats.read_attrs(requested),
            client_monitor=None if monitor is None else xml_stats.read_attrs(monitor),
            rejected={
                r.get("name", ""): int(r.get("count", "0"))
                for r in node.iterfind("Rejected/reason")
            },
        )
    except ValueError as exc:
        raise xml_stats.StatsFileError(str(exc)) from exc


def _frontends(root: etree._Element) -> Iterator[tuple[str, etree._Element]]:
    for node in root.iterfind("frontends/frontend"):
        name = node.get("name", "")
        if not is_folder_name(name):
            raise xml_stats.StatsFileError(f"client name {name!r} cannot name a folder")
        yield name, node


def read_qstats(path: Path, root_tag: str = "glideFactoryEntryQStats") -> QStats:
    root = xml_stats.parse_file(path, root_tag)
    downtime = root.find("downtime")
    return QStats(
        updated=xml_stats.read_updated(root),
        downtime=downtime is not None and downtime.get("status") == "True",
        clients={name: _parse_client(node) for name, node in _frontends(root)},
    )


def _parse_log(node: etree._Element) -> ClientLog:
    result = ClientLog()
    for name, table in (("Current", result.current), ("Entered", result.entered)):
        table.update(xml_stats.read_attrs(node.find(name)))
    result.exited.update(xml_stats.read_attrs(node.find("Exited")))
    counts = node.find("CompletedCounts")
    if counts is None:
        return result
    completed = result.completed
    completed.sums.update(xml_stats.read_attrs(counts.find("Sum")))
    completed.lasted.update(xml_stats.read_ranges(counts.find("Lasted")))
    completed.jobs_duration.update(xml_stats.read_ranges(counts.find("JobsDuration")))
    completed.jobs_nr.update(xml_stats.read_ranges(counts.find("JobsNr")))
    for kind in WASTE_KINDS:
        completed.waste[kind].update(xml_stats.read_ranges(counts.find(f"Waste/{kind}")))
        completed.waste_time[kind].update(xml_stats.read_ranges(counts.find(f"WasteTime/{kind}")))
    return result


@dataclass
class LogSummary:
    """A parsed log_summary.xml (entry or factory)."""

    updated: float
    clients: dict[str, ClientLog]


def read_log_summary(path: Path, root_tag: str = "glideFactoryEntryLogSummary") -> LogSummary:
    root = xml_stats.parse_file(path, root_tag)
    return LogSummary(
        updated=xml_stats.read_updated(root),
        clients={name: _parse_log(node) for name, node in _frontends(root)},
    )


# --- what the factory's aggregation tells the entries ------------------------------------

COMPLETED_JOBS_FILE = "completed_jobs.json"


def completed_jobs_attributes(
    monitor_dir: Path, entry: str, now: float, max_age: float = 3600
) -> dict[str, int]:
    """`GlideinMonitorCompletedJobsPer{Entry,Factory}<R>` for the glidefactory ad, from the
    last aggregation; empty if it is missing, unreadable or older than `max_age` seconds
    (classads.md §1)."""
    try:
        data = json.loads((Path(monitor_dir) / COMPLETED_JOBS_FILE).read_text())
        if now - float(data["updated"]) > max_age:
            return {}
        parts = {"Factory": data["factory"], "Entry": data["entries"].get(entry, {})}
        return {
            f"GlideinMonitorCompletedJobsPer{scope}{bucket}": int(counts.get(bucket, 0))
            for scope, counts in parts.items()
            for bucket in JOBS_BUCKETS
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


# --- the writer --------------------------------------------------------------------------


class EntryStatsWriter:
    """Writes one entry's statistics files every iteration (see the module docstring)."""

    def __init__(
        self,
        monitor_dir: Path,
        log_dir: Path,
        entry: str,
        rrd: RRDTool | None = None,
        rrd_xml_interval: float = 300,
    ) -> None:
        """`rrd_xml_interval`: seconds between rewrites of the rrd_<RRD>.xml averages
        (each costs 15 RRD reads per client, so not necessarily every iteration)."""
        self.folder = Path(monitor_dir) / f"entry_{entry}"
        self.rrd_xml_interval = rrd_xml_interval
        self._rrd_xml_written = float("-inf")
        self.log_dir = Path(log_dir)
        self.entry = entry
        self.rrd = rrd or RRDTool()
        self._states_file = self.folder / "job_states.json"
        self._previous: dict[str, dict[str, str]] | None = None

    def _load_previous(self) -> dict[str, dict[str, str]]:
        """Job states of the last iteration, surviving restarts (lost file = start afresh)."""
        if self._previous is None:
            try:
                self._previous = json.loads(self._states_file.read_text())
            except (OSError, ValueError):
                self._previous = {}
        return self._previous

    def write(self, stats: EntryStats, completed: Sequence[CompletedGlidein] = ()) -> None:
        if stats.entry != self.entry:
            raise ValueError(
                f"stats of entry {stats.entry!r} given to the writer of {self.entry!r}"
            )
        previous = self._load_previous()
        names = set(stats.clients) | set(stats.jobs) | {g.client for g in completed}
        for bad in sorted(name for name in names if not is_folder_name(name)):
            log.warning("entry %s: client name %r cannot name a folder: left out", self.entry, bad)
        names = {name for name in names | set(previous) if is_folder_name(name)}
        logs = {
            name: client_log(
                previous.get(name, {}),
                stats.jobs.get(name, {}),
                [g for g in completed if g.client == name],
            )
            for name in names
        }
        # rebuilt so that groups assigned after construction are checked and filled too
        clients = {
            name: dataclasses.replace(stats.clients.get(name) or ClientStats()) for name in names
        }

        self._append_completed([g for g in completed if g.client in names])
        xml_stats.write_xml(
            self.folder / "schedd_status.xml",
            qstats_element("glideFactoryEntryQStats", stats.updated, clients, stats.in_downtime),
        )
        xml_stats.write_xml(
            self.folder / "log_summary.xml",
            log_summary_element("glideFactoryEntryLogSummary", stats.updated, logs),
        )
        self._previous = {k: dict(v) for k, v in stats.jobs.items() if k in names}
        atomic_write(self._states_file, json.dumps(self._previous), make_parents=True)

        when = int(stats.updated)
        total_log = ClientLog()
        for name in sorted(names):
            total_log.merge(logs[name])
            update_rrds(self.rrd, self.folder / f"frontend_{name}", when, clients[name], logs[name])
        update_rrds(self.rrd, self.folder / "total", when, sum_clients(clients.values()), total_log)
        if stats.updated - self._rrd_xml_written >= self.rrd_xml_interval:
            folders = {name: self.folder / f"frontend_{name}" for name in clients}
            write_rrd_xml(self.rrd, self.folder, "glideFactoryEntryRRDStats", folders, when)
            self._rrd_xml_written = stats.updated

    def _append_completed(self, completed: Sequence[CompletedGlidein]) -> None:
        by_day: dict[str, list[str]] = {}
        for glidein in completed:
            by_day.setdefault(xml_stats.utc_day(glidein.terminated), []).append(glidein.log_line())
        if by_day:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        for day, lines in by_day.items():
            with open(self.log_dir / f"completed_jobs_{day}.log", "a") as handle:
                handle.write("".join(f"{line}\n" for line in lines))
