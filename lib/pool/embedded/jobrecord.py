"""One queued job as plain typed data, its JSON form on disk and its ClassAd forms.

Records stay plain data so accounting and scheduling never touch ClassAd objects. An
expression (a query constraint, a periodic policy) is evaluated in a throwaway ad
holding only the attributes it reads (`scope`): keeping every job's full ad would cost
about 4.5 KB a job, 450 MB for a 100,000-glidein queue. A query answer is written as
ad text directly (`answer_line`), never parsed on this side.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import classad2

from glideinwms_factory.lib.pool import JobStatus
from glideinwms_factory.lib.pool.embedded.expr_scan import referenced_names
from glideinwms_factory.lib.pool.embedded.submit_expand import JobSpec
from glideinwms_factory.lib.pool.submit_text import literal

GRID_UNIVERSE = 9

# What a CE would report for a grid job in each state (operations.md §4 accounting).
_GRID_JOB_STATUS = {
    JobStatus.IDLE: "IDLE",
    JobStatus.RUNNING: "RUNNING",
    JobStatus.COMPLETED: "COMPLETED",
    JobStatus.HELD: "HELD",
    JobStatus.REMOVED: "REMOVED",
}


@dataclass(slots=True, eq=False)
class JobRecord:
    """A job's spec plus its mutable queue state."""

    cluster: int
    proc: int
    owner: str
    qdate: int
    spec: JobSpec
    status: JobStatus = JobStatus.IDLE
    entered: int = 0
    num_starts: int = 0
    exit_code: int | None = None
    hold_reason: str = ""
    hold_code: int = 0
    hold_subcode: int = 0
    num_system_holds: int = 0
    start_date: int = 0
    current_start: int = 0
    completion_date: int = 0
    remove_reason: str = ""
    # The running (or being killed) process: pid = its process group id.
    pid: int = 0
    pid_ticks: int = 0
    scratch: str = ""

    @property
    def job_id(self) -> str:
        return f"{self.cluster}.{self.proc}"

    @property
    def site(self) -> str:
        """Slot-limit key: the grid resource, or "local" for non-grid jobs."""
        return self.spec.grid_resource or "local"

    def scope(
        self, wanted: frozenset[str], schedd_name: str, extra: Mapping[str, Any] | None = None
    ) -> classad2.ClassAd:
        """A throwaway ad with the `wanted` attributes (lower-case names, see
        `needed_names`): evaluating an expression there is evaluating it on the full ad."""
        return _classad(self._texts(wanted, schedd_name, extra or {}))

    def project(
        self, names: Sequence[str], schedd_name: str, extra: Mapping[str, Any]
    ) -> classad2.ClassAd:
        """A new ad with the `names` attributes (all if empty) plus `extra` ones if asked."""
        return _classad(self._texts(wanted_names(names), schedd_name, extra))

    def answer_line(
        self, wanted: frozenset[str] | None, schedd_name: str, extra: Mapping[str, Any]
    ) -> str:
        """`project` (`wanted` from `wanted_names`) as the one-line new-syntax text a
        query answer carries, without building the ad (each text is one checked
        expression)."""
        texts = self._texts(wanted, schedd_name, extra)
        line = "[" + "; ".join(f"{name} = {text}" for name, text in texts.items()) + "]\n"
        if line.count("\n") > 1:  # a newline inside some text: let classad2 escape it
            return repr(_classad(texts)) + "\n"
        return line

    def _texts(
        self, wanted: frozenset[str] | None, schedd_name: str, extra: Mapping[str, Any]
    ) -> dict[str, str]:
        texts = _attribute_texts(self, schedd_name, wanted)
        texts.update(
            (name, literal(value))
            for name, value in extra.items()
            if wanted is None or name.lower() in wanted
        )
        return texts


def wanted_names(names: Sequence[str]) -> frozenset[str] | None:
    """A projection as the lower-cased names `answer_line` takes (None: every attribute)."""
    return frozenset(name.lower() for name in names) if names else None


def needed_names(spec: JobSpec, names: frozenset[str]) -> frozenset[str]:
    """`names` plus what the job's own expressions among them read, transitively: the
    attributes an ad must hold for an expression reading `names` to evaluate as on the
    full ad (a custom attribute may be an expression of others)."""
    expressions = {name.lower(): text for name, text in spec.custom.items()}
    expressions |= {
        "periodichold": spec.periodic_hold,
        "periodicrelease": spec.periodic_release,
        "periodicremove": spec.periodic_remove,
        "leavejobinqueue": spec.leave_in_queue,
    }
    wanted, todo = set(names), list(names)
    while todo:
        text = expressions.get(todo.pop())
        if text is not None:
            new = referenced_names(text) - wanted
            wanted |= new
            todo.extend(new)
    return frozenset(wanted)


def _classad(texts: Mapping[str, str]) -> classad2.ClassAd:
    """One parse of new-syntax text: several times faster than setting items one by one.

    Safe because every expression text was checked to be exactly one expression.
    """
    return classad2.ClassAd("[" + "; ".join(f"{n} = {t}" for n, t in texts.items()) + "]")


def _attribute_texts(
    job: JobRecord, schedd_name: str, wanted: frozenset[str] | None = None
) -> dict[str, str]:
    """Attribute name -> expression text (only `wanted` lower-cased names if given).

    Custom attributes never override managed ones. Which of them a `wanted` set takes is
    worked out once per job spec (`_plan`): a query answer or an evaluation scope is a
    few attributes of ~40, for 100,000 jobs.
    """
    custom, managed = _plan(job.spec, wanted)
    texts = dict(custom)
    for name, get, expression in managed:
        value = get(job, schedd_name)
        if value is not _ABSENT:
            # most are numbers: their text without literal()'s type checks
            texts[name] = str(value) if type(value) is int or expression else literal(value)
    return texts


def _plan(
    spec: JobSpec, wanted: frozenset[str] | None
) -> tuple[dict[str, str], tuple[tuple[str, Callable[[JobRecord, str], Any], bool], ...]]:
    """The spec's own attribute texts among `wanted`, and the schedd's attributes to
    compute for each job: (name, getter, whether the value is already expression text)."""
    key = (id(spec), wanted)
    cached = _PLAN_CACHE.get(key)
    if cached is not None and cached[0] is spec:
        return cached[1], cached[2]
    custom = custom_by_lower(spec)
    lowered = custom.keys() | _MANAGED.keys() if wanted is None else wanted
    texts = {custom[n][0]: custom[n][1] for n in lowered if n in custom}
    managed = tuple(
        (_MANAGED[n][0], _MANAGED[n][1], n in _EXPRESSIONS)
        for n in (_MANAGED if wanted is None else wanted)
        if n in _MANAGED
    )
    if len(_PLAN_CACHE) >= 10_000:
        _PLAN_CACHE.clear()
    _PLAN_CACHE[key] = (spec, texts, managed)
    return texts, managed


def custom_by_lower(spec: JobSpec) -> dict[str, tuple[str, str]]:
    """lower-cased name -> (name, text) of the spec's own attributes, managed ones left
    out; cached per spec (a cluster's jobs share one)."""
    cached = _CUSTOM_CACHE.get(id(spec))
    if cached is not None and cached[0] is spec:
        return cached[1]
    if len(_CUSTOM_CACHE) >= 10_000:
        _CUSTOM_CACHE.clear()
    by_lower = {
        name.lower(): (name, text)
        for name, text in spec.custom.items()
        if name.lower() not in MANAGED_ATTRS
    }
    _CUSTOM_CACHE[id(spec)] = (spec, by_lower)
    return by_lower


_CUSTOM_CACHE: dict[int, tuple[JobSpec, dict[str, tuple[str, str]]]] = {}
_PLAN_CACHE: dict[tuple[int, frozenset[str] | None], tuple[JobSpec, dict[str, str], tuple]] = {}
_ABSENT = object()


def _held(value: Callable[[JobRecord], Any]) -> Callable[[JobRecord, str], Any]:
    return lambda job, _s: value(job) if job.status == JobStatus.HELD else _ABSENT


def _started(value: Callable[[JobRecord], Any]) -> Callable[[JobRecord, str], Any]:
    return lambda job, _s: value(job) if job.start_date else _ABSENT


def _grid(value: Callable[[JobRecord], Any]) -> Callable[[JobRecord, str], Any]:
    return lambda job, _s: value(job) if job.spec.universe == GRID_UNIVERSE else _ABSENT


# lower-cased name -> (name, value of a job or _ABSENT): what the schedd itself sets.
_MANAGED: dict[str, tuple[str, Callable[[JobRecord, str], Any]]] = {
    name.lower(): (name, get)
    for name, get in (
        ("MyType", lambda job, _s: "Job"),
        ("TargetType", lambda job, _s: "Machine"),
        ("ClusterId", lambda job, _s: job.cluster),
        ("ProcId", lambda job, _s: job.proc),
        ("GlobalJobId", lambda job, s: f"{s}#{job.job_id}#{job.qdate}"),
        ("Owner", lambda job, _s: job.owner),
        ("Cmd", lambda job, _s: job.spec.cmd),
        ("Arguments", lambda job, _s: job.spec.arguments),
        ("Environment", lambda job, _s: job.spec.environment),
        ("Iwd", lambda job, _s: job.spec.iwd),
        ("Out", lambda job, _s: job.spec.out),
        ("Err", lambda job, _s: job.spec.err),
        ("JobUniverse", lambda job, _s: job.spec.universe),
        ("JobStatus", lambda job, _s: int(job.status)),
        ("QDate", lambda job, _s: job.qdate),
        ("EnteredCurrentStatus", lambda job, _s: job.entered),
        ("NumJobStarts", lambda job, _s: job.num_starts),
        ("NumSystemHolds", lambda job, _s: job.num_system_holds),
        ("CompletionDate", lambda job, _s: job.completion_date),
        ("UserLog", lambda job, _s: job.spec.user_log or _ABSENT),
        ("GridResource", _grid(lambda job: job.spec.grid_resource)),
        ("GridJobStatus", _grid(lambda job: _GRID_JOB_STATUS.get(job.status, "UNKNOWN"))),
        ("ExitCode", lambda job, _s: _ABSENT if job.exit_code is None else job.exit_code),
        ("HoldReason", _held(lambda job: job.hold_reason)),
        ("HoldReasonCode", _held(lambda job: job.hold_code)),
        ("HoldReasonSubCode", _held(lambda job: job.hold_subcode)),
        ("JobStartDate", _started(lambda job: job.start_date)),
        ("JobCurrentStartDate", _started(lambda job: job.current_start)),
        ("RemoveReason", lambda job, _s: job.remove_reason or _ABSENT),
        # Expression texts, not values:
        ("PeriodicHold", lambda job, _s: job.spec.periodic_hold),
        ("PeriodicRelease", lambda job, _s: job.spec.periodic_release),
        ("PeriodicRemove", lambda job, _s: job.spec.periodic_remove),
        ("LeaveJobInQueue", lambda job, _s: job.spec.leave_in_queue),
    )
}
_EXPRESSIONS = frozenset({"periodichold", "periodicrelease", "periodicremove", "leavejobinqueue"})
# Attributes the schedd owns (lower case): a submitted `+Attr` of these names is ignored.
MANAGED_ATTRS = frozenset(_MANAGED) | {"servertime"}
