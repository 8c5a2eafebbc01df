"""Glidein accounting (operations.md §4): queue rows -> typed `Job` records -> counts.

The Schedd query is the only place ClassAds appear; right after it every row becomes a
small `Job`, and all counting runs on those (ARCHITECTURE.md "Scale"). Counts are kept
per entry (E), per `GlideinFrontendName` = `fe:sc` (F) and per request (C).
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, NamedTuple

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
    """Upstream's status code of a glidein (§4 table): JobStatus refined by GridJobStatus
    for JobStatus 1 and 2; any other JobStatus is its own code."""

    WAIT = 1001
    PENDING = 1002
    STAGE_IN = 1010
    IDLE_OTHER = 1100  # JobStatus 1 or 2 in an unlisted grid state: counts as idle
    RUNNING = 2
    STAGE_OUT = 4010
    REMOVED = 3
    COMPLETED = 4
    HELD = 5
    TRANSFERRING_OUTPUT = 6
    SUSPENDED = 7


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


def classify(job_status: int, grid_status: str | None) -> State | int:
    """JobStatus + GridJobStatus -> upstream's status code (a `State`, or the JobStatus
    itself when HTCondor sends one outside 1..7)."""
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
    try:
        return State(job_status)
    except ValueError:
        return job_status


# (JobStatus, raw GridJobStatus) -> code: a queue uses a handful of grid words, so every
# row after the first of its kind costs one dict lookup. Bounded against odd input.
_CODES: dict[tuple[int, Any], State | int] = {}
_CODES_MAX = 4096


def _code(job_status: int, grid: Any) -> State | int:
    key = (job_status, grid)
    code = _CODES.get(key)
    if code is None:
        code = classify(job_status, None if grid is None else str(grid))
        if len(_CODES) < _CODES_MAX:
            _CODES[key] = code
    return code


class RequestKey(NamedTuple):
    """What identifies one request's glideins (C): client, security class, credential.

    A tuple, so the snapshot can group rows by a plain `(client, class, id)` tuple and
    still be looked up with a `RequestKey`.
    """

    client: str
    security_class: str
    credential_id: str


@dataclass(slots=True)
class Job:
    """One glidein as accounting sees it (never changed once built: a plain slots class
    because a frozen dataclass costs six times as much to build, ×100,000 per cycle)."""

    cluster: int
    proc: int
    state: State | int  # upstream's status code
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
    job_status: int = 0  # HTCondor's JobStatus; 0 = the one `state` implies

    def __post_init__(self) -> None:
        if not self.job_status:
            self.job_status = _implied_job_status(self.state)

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
        ServerTime. The hold attributes are read for held glideins only.
        """
        get = row.get
        try:
            status = int(row["JobStatus"])
            server_time = get("ServerTime")
            server_time = now if server_time is None else int(server_time)
            entered = get("EnteredCurrentStatus")
            age = 0 if entered is None else server_time - int(entered)
            held = status == JobStatus.HELD
            return cls(
                int(row["ClusterId"]),
                int(row["ProcId"]),
                _code(status, get("GridJobStatus")),
                age if age > 0 else 0,
                str(get("GlideinClient", "")),
                str(get("GlideinFrontendName", "")),
                str(get("GlideinSecurityClass", "")),
                str(get("GlideinCredentialIdentifier", "")),
                str(get("GlideinEntrySubmitFile", "")),
                _optional_int(get("HoldReasonCode")) if held else None,
                _optional_int(get("HoldReasonSubCode")) if held else None,
                str(get("HoldReason", "")) if held else "",
                (_optional_int(get("NumSystemHolds")) or 0) if held else 0,
                status,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"job row {dict(row)!r:.120}: unusable ({err!r})") from None


def _implied_job_status(state: State | int) -> int:
    """The JobStatus a code comes from (1100 is taken as JobStatus 1)."""
    if state in IDLE_STATES:
        return JobStatus.IDLE
    if state in (State.RUNNING, State.STAGE_OUT):
        return JobStatus.RUNNING
    return int(state)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def jobs_from_rows(rows: Iterable[Mapping[str, Any]], now: int) -> tuple[list[Job], list[str]]:
    """All usable rows as Jobs, and one error line per unusable row.

    The hot loop of a cycle (100,000 rows): a row holding every attribute the factory
    sets at submission is read with plain subscripts in one frame; any other row goes
    through `Job.from_row`, which has the defaults and the error message.
    """
    jobs: list[Job] = []
    errors: list[str] = []
    append = jobs.append
    known = _CODES.get
    for row in rows:
        try:
            status = int(row["JobStatus"])
            grid = row.get("GridJobStatus")
            code = known((status, grid)) or _code(status, grid)
            age = int(row["ServerTime"]) - int(row["EnteredCurrentStatus"])
            job = Job(
                int(row["ClusterId"]),
                int(row["ProcId"]),
                code,
                age if age > 0 else 0,
                str(row["GlideinClient"]),
                str(row["GlideinFrontendName"]),
                str(row["GlideinSecurityClass"]),
                str(row["GlideinCredentialIdentifier"]),
                str(row.get("GlideinEntrySubmitFile", "")),
                job_status=status,
            )
            if code is State.HELD:
                get = row.get
                job.hold_code = _optional_int(get("HoldReasonCode"))
                job.hold_subcode = _optional_int(get("HoldReasonSubCode"))
                job.hold_reason = str(get("HoldReason", ""))
                job.system_holds = _optional_int(get("NumSystemHolds")) or 0
            append(job)
        except (KeyError, TypeError, ValueError):
            try:
                append(Job.from_row(row, now))
            except ValueError as err:
                errors.append(str(err))
    return jobs, errors


@dataclass(slots=True)
class Counts:
    """Glideins of one group by status code; cores = glideins x GLIDEIN_CPUS.

    Never changed once built (not frozen: a cycle builds thousands)."""

    wait: int = 0
    pending: int = 0
    stage_in: int = 0
    idle_other: int = 0
    running: int = 0
    stage_out: int = 0
    held: int = 0
    cpus: int = 1
    removed: int = 0
    completed: int = 0
    transferring_output: int = 0
    suspended: int = 0
    other: tuple[tuple[int, int], ...] = ()  # (JobStatus, glideins) outside 1..7

    @classmethod
    def of(cls, tally: Mapping[State | int, int], cpus: int = 1) -> Counts:
        """From glideins per status code."""
        get = tally.get
        return cls(
            wait=get(State.WAIT, 0),
            pending=get(State.PENDING, 0),
            stage_in=get(State.STAGE_IN, 0),
            idle_other=get(State.IDLE_OTHER, 0),
            running=get(State.RUNNING, 0),
            stage_out=get(State.STAGE_OUT, 0),
            held=get(State.HELD, 0),
            cpus=cpus,
            removed=get(State.REMOVED, 0),
            completed=get(State.COMPLETED, 0),
            transferring_output=get(State.TRANSFERRING_OUTPUT, 0),
            suspended=get(State.SUSPENDED, 0),
            other=tuple(sorted((int(c), n) for c, n in tally.items() if n and c not in _NAMED)),
        )

    @property
    def idle(self) -> int:
        return self.wait + self.pending + self.stage_in + self.idle_other

    @property
    def running_cores(self) -> int:
        return self.running * self.cpus

    @property
    def idle_cores(self) -> int:
        return self.idle * self.cpus

    def by_code(self) -> dict[int, int]:
        """Glideins per status code, zeros left out: what upstream's getQStatus counts."""
        named = (
            (State.WAIT, self.wait),
            (State.PENDING, self.pending),
            (State.STAGE_IN, self.stage_in),
            (State.IDLE_OTHER, self.idle_other),
            (State.RUNNING, self.running),
            (State.STAGE_OUT, self.stage_out),
            (State.REMOVED, self.removed),
            (State.COMPLETED, self.completed),
            (State.HELD, self.held),
            (State.TRANSFERRING_OUTPUT, self.transferring_output),
            (State.SUSPENDED, self.suspended),
        )
        return {int(code): n for code, n in (*named, *self.other) if n}

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


_NAMED = frozenset(State)


_STATE_OF = attrgetter("state")


def count_jobs(jobs: Iterable[Job], cpus: int = 1) -> Counts:
    return Counts.of(Counter(map(_STATE_OF, jobs)), cpus)


class QueueSnapshot:
    """One entry's queue at the start of a cycle, grouped once for every request."""

    def __init__(self, jobs: Sequence[Job], cpus: int = 1) -> None:
        self.jobs = jobs
        self.cpus = cpus
        per_frontend: Counter[tuple[str, State | int]] = Counter()
        by_request: dict[tuple[str, str, str], list[Job]] = {}
        for job in jobs:
            per_frontend[job.frontend_name, job.state] += 1
            key = (job.client, job.security_class, job.credential_id)
            mine = by_request.get(key)
            if mine is None:
                by_request[key] = [job]
            else:
                mine.append(job)
        tallies: dict[str, dict[State | int, int]] = {}
        entry: Counter[State | int] = Counter()
        for (frontend, state), n in per_frontend.items():
            tallies.setdefault(frontend, {})[state] = n
            entry[state] += n
        self.entry = Counts.of(entry, cpus)
        self._frontends = {name: Counts.of(tally, cpus) for name, tally in tallies.items()}
        self._requests = by_request

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
