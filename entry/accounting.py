"""Glidein accounting (operations.md §4): queue rows -> typed `Job` records -> counts.

The Schedd query is the only place ClassAds appear; right after it every row becomes a
small `Job`, and all counting runs on those (ARCHITECTURE.md "Scale"). Counts are kept
per entry (E), per `GlideinFrontendName` = `fe:sc` (F) and per request (C).
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import classad2

from glideinwms_factory.lib.pool import JobStatus

# What the entry asks the Schedd for (§4), plus the job id that actions need.
QUERY_PROJECTION: tuple[str, ...] = (
    "ClusterId",
    "ProcId",
    "JobStatus",
    "GridJobStatus",
    "ServerTime",
    "EnteredCurrentStatus",
    "GlideinEntrySubmitFile",
    "GlideinCredentialIdentifier",
    "HoldReasonCode",
    "HoldReasonSubCode",
    "HoldReason",
    "NumSystemHolds",
    "GlideinFrontendName",
    "GlideinClient",
    "GlideinSecurityClass",
)


def queue_constraint(factory: str, glidein: str, entry: str) -> str:
    """The constraint selecting one entry's glideins (§4), names safely quoted."""
    return (
        f"(GlideinFactory =?= {classad2.quote(factory)}) && "
        f"(GlideinName =?= {classad2.quote(glidein)}) && "
        f"(GlideinEntryName =?= {classad2.quote(entry)}) && "
        "(GlideinCredentialIdentifier =!= UNDEFINED)"
    )


class State(enum.IntEnum):
    """The accounting code of a glidein (§4 table)."""

    WAIT = 1001
    PENDING = 1002
    STAGE_IN = 1010
    IDLE_OTHER = 1100
    RUNNING = 2
    STAGE_OUT = 4010
    HELD = 5
    OTHER = 0  # removed, completed ... : not counted


IDLE_STATES = frozenset({State.WAIT, State.PENDING, State.STAGE_IN, State.IDLE_OTHER})

_PENDING = frozenset(
    {"PENDING", "INLRMS: Q", "INLRMS:Q", "PREPARED", "SUBMITTING", "IDLE", "SUSPENDED"}
    | {"REGISTERED", "QUEUING"}
)
_STAGE_IN = frozenset({"STAGE_IN", "PREPARING", "ACCEPTING", "ACCEPTED"})
_RUNNING = frozenset({"ACTIVE", "REALLY-RUNNING", "INLRMS: R", "INLRMS:R", "RUNNING"})
_STAGE_OUT = frozenset(
    {"STAGE_OUT", "INLRMS: E", "INLRMS:E", "EXECUTED", "FINISHING", "FINISHED", "DONE"}
    | {"COMPLETED"}
)


def classify(job_status: int, grid_status: str | None) -> State:
    """JobStatus + GridJobStatus -> accounting state (a running job in an unknown grid
    state counts as idle, as upstream does)."""
    grid = grid_status.upper() if grid_status is not None else None
    if job_status == JobStatus.IDLE:
        if grid is None:
            return State.WAIT
        if grid in _PENDING:
            return State.PENDING
        return State.STAGE_IN if grid in _STAGE_IN else State.IDLE_OTHER
    if job_status == JobStatus.RUNNING:
        if grid is None or grid in _RUNNING:
            return State.RUNNING
        return State.STAGE_OUT if grid in _STAGE_OUT else State.IDLE_OTHER
    return State.HELD if job_status == JobStatus.HELD else State.OTHER


@dataclass(frozen=True, slots=True)
class RequestKey:
    """What identifies one request's glideins (C): client, security class, credential."""

    client: str
    security_class: str
    credential_id: str


@dataclass(frozen=True, slots=True)
class Job:
    """One glidein as accounting sees it."""

    cluster: int
    proc: int
    state: State
    age: int  # seconds in the current JobStatus
    client: str
    frontend_name: str  # `fe:sc`
    security_class: str
    credential_id: str
    submit_file: str = ""
    hold_code: int | None = None
    hold_subcode: int | None = None
    hold_reason: str = ""
    system_holds: int = 0

    @property
    def id(self) -> str:
        return f"{self.cluster}.{self.proc}"

    @property
    def key(self) -> RequestKey:
        return RequestKey(self.client, self.security_class, self.credential_id)

    @classmethod
    def from_row(cls, row: Mapping[str, Any], now: int) -> Job:
        """Build from a query row (a ClassAd or dict of the projection); ValueError if unusable.

        Age is `ServerTime - EnteredCurrentStatus`, with `now` when the Schedd sent no
        ServerTime.
        """
        try:
            cluster, proc, status = int(row["ClusterId"]), int(row["ProcId"]), int(row["JobStatus"])
            server_time = int(row.get("ServerTime", now))
            age = max(server_time - int(row.get("EnteredCurrentStatus", server_time)), 0)
            grid = row.get("GridJobStatus")
            return cls(
                cluster=cluster,
                proc=proc,
                state=classify(status, None if grid is None else str(grid)),
                age=age,
                client=str(row.get("GlideinClient", "")),
                frontend_name=str(row.get("GlideinFrontendName", "")),
                security_class=str(row.get("GlideinSecurityClass", "")),
                credential_id=str(row.get("GlideinCredentialIdentifier", "")),
                submit_file=str(row.get("GlideinEntrySubmitFile", "")),
                hold_code=_optional_int(row.get("HoldReasonCode")),
                hold_subcode=_optional_int(row.get("HoldReasonSubCode")),
                hold_reason=str(row.get("HoldReason", "")),
                system_holds=_optional_int(row.get("NumSystemHolds")) or 0,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"job row {dict(row)!r:.120}: unusable ({err!r})") from None


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def jobs_from_rows(rows: Iterable[Mapping[str, Any]], now: int) -> tuple[list[Job], list[str]]:
    """All usable rows as Jobs, and one error line per unusable row."""
    jobs, errors = [], []
    for row in rows:
        try:
            jobs.append(Job.from_row(row, now))
        except ValueError as err:
            errors.append(str(err))
    return jobs, errors


@dataclass(frozen=True)
class Counts:
    """Glideins of one group by state; cores = glideins x GLIDEIN_CPUS."""

    wait: int = 0
    pending: int = 0
    stage_in: int = 0
    idle_other: int = 0
    running: int = 0
    stage_out: int = 0
    held: int = 0
    cpus: int = 1

    @property
    def idle(self) -> int:
        return self.wait + self.pending + self.stage_in + self.idle_other

    @property
    def running_cores(self) -> int:
        return self.running * self.cpus

    @property
    def idle_cores(self) -> int:
        return self.idle * self.cpus

    def status_attrs(self) -> dict[str, float]:
        """The `Status<Field>` monitoring values of classads.md §1."""
        return {
            "Idle": self.idle,
            "Running": self.running,
            "Held": self.held,
            "Wait": self.wait,
            "Pending": self.pending,
            "StageIn": self.stage_in,
            "IdleOther": self.idle_other,
            "StageOut": self.stage_out,
            "RunningCores": self.running_cores,
        }


def count_jobs(jobs: Iterable[Job], cpus: int = 1) -> Counts:
    tally: dict[State, int] = defaultdict(int)
    for job in jobs:
        tally[job.state] += 1
    return Counts(
        wait=tally[State.WAIT],
        pending=tally[State.PENDING],
        stage_in=tally[State.STAGE_IN],
        idle_other=tally[State.IDLE_OTHER],
        running=tally[State.RUNNING],
        stage_out=tally[State.STAGE_OUT],
        held=tally[State.HELD],
        cpus=cpus,
    )


class QueueSnapshot:
    """One entry's queue at the start of a cycle, grouped once for every request."""

    def __init__(self, jobs: Sequence[Job], cpus: int = 1) -> None:
        self.jobs = jobs
        self.cpus = cpus
        by_frontend: dict[str, list[Job]] = defaultdict(list)
        by_request: dict[RequestKey, list[Job]] = defaultdict(list)
        for job in jobs:
            by_frontend[job.frontend_name].append(job)
            by_request[job.key].append(job)
        self.entry = count_jobs(jobs, cpus)
        self._frontends = {name: count_jobs(group, cpus) for name, group in by_frontend.items()}
        self._requests = dict(by_request)

    def frontend(self, frontend_name: str) -> Counts:
        """F: the glideins of `fe:sc` (zero counts if it has none)."""
        return self._frontends.get(frontend_name) or Counts(cpus=self.cpus)

    def frontend_names(self) -> list[str]:
        return list(self._frontends)

    def request_jobs(self, key: RequestKey) -> list[Job]:
        """C: the glideins of one request, in queue order."""
        return self._requests.get(key, [])

    def request(self, key: RequestKey) -> Counts:
        return count_jobs(self.request_jobs(key), self.cpus)


def glidein_cpus(attrs: Mapping[str, Any]) -> int:
    """Cores per glidein from entry attributes: `GLIDEIN_CPUS`, or for `auto`/`node`/`slot`
    the `GLIDEIN_ESTIMATED_CPUS` estimate; 1 when unknown."""
    for name in ("GLIDEIN_CPUS", "GLIDEIN_ESTIMATED_CPUS"):
        value = attrs.get(name)
        try:
            cpus = int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if cpus > 0:
            return cpus
    return 1
