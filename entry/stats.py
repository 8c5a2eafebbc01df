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

* `request_stats` and `entry_stats` build the snapshot (pure) from the queue snapshot and
  the requests served; the model (`ClientStats`, `ClientLog`, ...) is
  `lib/monitoring_model.py`, shared with the factory's aggregation.
* `EntryStats.jobs` (optional) maps client -> job id -> log state (`Idle Running Wait
  Held`); the writer diffs it with the previous iteration for the Entered/Exited counts.
* A client name that cannot name a folder (`/`, `.`, `..`) is left out with a warning.
* Written (operations.md §6, §7): MONITOR/entry_<e>/schedd_status.xml, log_summary.xml,
  rrd_<RRD>.xml and completed_history.json (the last hour/day/week of completions, for
  the factory's pages) every `rrd_xml_interval` s, job_states.json (the previous job states),
  counters.json (each client's running totals: submitted, removed, released, completed,
  failed, rejected by reason), {total,frontend_<client>}/<RRD>.rrd and graphs_<range>.js
  (the browser graphs' data, rewritten when a range has a new row), and
  LOG/entry_<e>/completed_jobs_<YYYYMMDD>.log lines.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from glideinwms_factory.entry.accounting import QueueSnapshot, State
from glideinwms_factory.entry.decision import Actions
from glideinwms_factory.entry.request_attrs import CLIENT_MONITOR
from glideinwms_factory.entry.requests import WorkRequest
from glideinwms_factory.lib import xml_stats
from glideinwms_factory.lib.atomicfile import atomic_write
from glideinwms_factory.lib.downtimes import Downtime
from glideinwms_factory.lib.monitoring_graphs import write_graph_data
from glideinwms_factory.lib.monitoring_model import (
    ClientLog,
    ClientStats,
    CompletedGlidein,
    client_key,
    client_log,
    is_folder_name,
    sum_clients,
)
from glideinwms_factory.lib.monitoring_rejected import update_rejected
from glideinwms_factory.lib.monitoring_rrd import completed_history, update_rrds, write_rrd_xml
from glideinwms_factory.lib.monitoring_xml import (
    log_summary_element,
    qstats_element,
    write_history,
)
from glideinwms_factory.lib.rrd import RRDTool

log = logging.getLogger(__name__)


@dataclass
class EntryStats:
    """The snapshot of one entry iteration."""

    entry: str
    updated: float
    in_downtime: bool
    clients: dict[str, ClientStats]
    jobs: dict[str, dict[str, str]] = field(default_factory=dict)
    downtime_comment: str = ""
    cycle_seconds: float | None = None  # how long the entry's cycle took, when measured

    @property
    def total(self) -> ClientStats:
        return sum_clients(self.clients.values())


def request_stats(request: WorkRequest, actions: Actions, snapshot: QueueSnapshot) -> ClientStats:
    """The classads.md §1 groups of one request: its glideins, its ask, its frontend's view."""
    monitor = request.monitor

    def reported(name: str) -> int:
        try:
            return int(monitor.get(name, 0))
        except (TypeError, ValueError):
            return 0

    return ClientStats(
        protocols={request.protocol: 1},
        status=snapshot.request(request.key).status_attrs(),
        requested={
            "Idle": request.idle,
            "AdjustedIdle": actions.adjusted_idle,
            "MaxGlideins": request.max_glideins,
            "IdleCores": request.idle * snapshot.cpus,
            "MaxCores": request.max_glideins * snapshot.cpus,
        },
        client_monitor={
            "InfoAge": 0,
            **{name: reported(attr) for name, attr in CLIENT_MONITOR.items()},
        },
        actions=action_counts(actions),
    )


def action_counts(actions: Actions) -> dict[str, float]:
    """Glideins submitted, removed (plain or forcex, each id once) and released."""
    return {
        "Submitted": actions.submit,
        "Removed": len(set(actions.remove) | set(actions.remove_forcex)),
        "Released": len(actions.release),
    }


_LOG_STATES: dict[State | int, str] = {  # status code -> the log state of log_summary.xml
    State.WAIT: "Wait",
    State.PENDING: "Idle",
    State.STAGE_IN: "Idle",
    State.IDLE_OTHER: "Idle",
    State.RUNNING: "Running",
    State.STAGE_OUT: "Running",
    State.HELD: "Held",
}


def entry_stats(
    entry: str,
    snapshot: QueueSnapshot,
    served: Iterable[tuple[str, ClientStats]],
    rejected: Mapping[str, Mapping[str, int]],
    downtime: Downtime | None,
    now: int,
    cleanup: Actions | None = None,
    cycle_seconds: float | None = None,
) -> EntryStats:
    """Monitoring numbers per `<security name>_<class>` (the XML/RRD client key), from the
    queue and the `(frontend name, request stats)` of the requests served; the removals and
    releases of the entry-wide `cleanup` count under the client of each glidein."""
    by_frontend: dict[str, list[ClientStats]] = {}
    for frontend_name, stats in served:
        by_frontend.setdefault(frontend_name, []).append(stats)
    clients: dict[str, ClientStats] = {}
    for frontend in {*snapshot.frontend_names(), *by_frontend}:
        total = sum_clients(by_frontend.get(frontend, []))
        total.status = snapshot.frontend(frontend).status_attrs()
        clients[client_key(frontend)] = total
    if cleanup is not None:
        owner = {job.id: client_key(job.frontend_name) for job in snapshot.jobs}
        for action, ids in (
            ("Removed", set(cleanup.remove) | set(cleanup.remove_forcex)),
            ("Released", set(cleanup.release)),
        ):
            for job_id in ids:
                owned = clients.setdefault(owner.get(job_id, "unknown"), ClientStats())
                owned.actions[action] = owned.actions.get(action, 0) + 1
    # Rejected requests have no trusted security class: they count under their ClientName.
    for client, reasons in rejected.items():
        clients.setdefault(client, ClientStats()).rejected.update(reasons)
    jobs: dict[str, dict[str, str]] = {}
    for job in snapshot.jobs:
        log_state = _LOG_STATES.get(job.state)
        if log_state:
            jobs.setdefault(client_key(job.frontend_name), {})[job.id] = log_state
    return EntryStats(
        entry=entry,
        updated=now,
        in_downtime=downtime is not None,
        clients=clients,
        jobs=jobs,
        downtime_comment=downtime.comment if downtime else "",
        cycle_seconds=cycle_seconds,
    )


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
        self._counters_file = self.folder / "counters.json"
        self._counters: dict[str, dict[str, dict[str, float]]] | None = None

    def _load_previous(self) -> dict[str, dict[str, str]]:
        """Job states of the last iteration, surviving restarts (lost file = start afresh)."""
        if self._previous is None:
            try:
                self._previous = json.loads(self._states_file.read_text())
            except (OSError, ValueError):
                self._previous = {}
        return self._previous

    def _load_counters(self) -> dict[str, dict[str, dict[str, float]]]:
        """Running totals of earlier iterations (a lost or bad file starts them afresh)."""
        if self._counters is None:
            try:
                loaded = json.loads(self._counters_file.read_text())
            except (OSError, ValueError):
                loaded = None
            self._counters = loaded if isinstance(loaded, dict) else {}
        return self._counters

    def _count(self, name: str, client: ClientStats, log: ClientLog) -> None:
        """Add this cycle to the client's running totals (kept in counters.json across
        restarts) and put them in `client` for schedd_status.xml."""
        kept = self._load_counters().setdefault(name, {"counters": {}, "rejected": {}})
        sums = log.completed.sums
        cycle = {**client.actions, "Completed": sums["Glideins"], "Failed": sums["FailedNr"]}
        for table, more in ((kept["counters"], cycle), (kept["rejected"], client.rejected)):
            for key, value in more.items():
                table[key] = table.get(key, 0) + value
        client.counters = dict(kept["counters"])
        client.rejected_total = dict(kept["rejected"])

    def write(self, stats: EntryStats, completed: Sequence[CompletedGlidein] = ()) -> None:
        if stats.entry != self.entry:
            raise ValueError(
                f"stats of entry {stats.entry!r} given to the writer of {self.entry!r}"
            )
        previous = self._load_previous()
        names = set(stats.clients) | set(stats.jobs) | {g.client for g in completed}
        for bad in sorted(name for name in names if not is_folder_name(name)):
            log.warning(
                "entry %s: client name %r cannot name a folder: left out", self.entry, bad[:100]
            )
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

        for name in names:
            self._count(name, clients[name], logs[name])
        self._append_completed([g for g in completed if g.client in names])
        # Rewritten every cycle by every entry: atomic, but not worth an fsync each (the
        # next cycle rewrites them; a lost job_states.json only restarts the log counts).
        xml_stats.write_xml(
            self.folder / "schedd_status.xml",
            qstats_element(
                "glideFactoryEntryQStats",
                stats.updated,
                clients,
                stats.in_downtime,
                stats.cycle_seconds,
            ),
            fsync=False,
        )
        xml_stats.write_xml(
            self.folder / "log_summary.xml",
            log_summary_element("glideFactoryEntryLogSummary", stats.updated, logs),
            fsync=False,
        )
        self._previous = {k: dict(v) for k, v in stats.jobs.items() if k in names}
        atomic_write(self._states_file, json.dumps(self._previous), fsync=False, make_parents=True)
        atomic_write(
            self._counters_file, json.dumps(self._load_counters()), fsync=False, make_parents=True
        )

        when = int(stats.updated)
        total_log = ClientLog()
        for name in sorted(names):
            total_log.merge(logs[name])
            folder = self.folder / f"frontend_{name}"
            update_rrds(self.rrd, folder, when, clients[name], logs[name])
            update_rejected(self.rrd, folder, when, clients[name].rejected)
        total = sum_clients(clients.values())
        update_rrds(self.rrd, self.folder / "total", when, total, total_log)
        update_rejected(self.rrd, self.folder / "total", when, total.rejected)
        folders = {name: self.folder / f"frontend_{name}" for name in clients}
        if stats.updated - self._rrd_xml_written >= self.rrd_xml_interval:
            write_rrd_xml(self.rrd, self.folder, "glideFactoryEntryRRDStats", folders, when)
            write_history(self.folder, completed_history(self.rrd, self.folder / "total", when))
            self._rrd_xml_written = stats.updated
        for folder in (self.folder / "total", *folders.values()):
            write_graph_data(self.rrd, folder, when)

    def _append_completed(self, completed: Sequence[CompletedGlidein]) -> None:
        by_day: dict[str, list[str]] = {}
        for glidein in completed:
            by_day.setdefault(xml_stats.utc_day(glidein.terminated), []).append(glidein.log_line())
        if by_day:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        for day, lines in by_day.items():
            with open(self.log_dir / f"completed_jobs_{day}.log", "a") as handle:
                handle.write("".join(f"{line}\n" for line in lines))
