"""The per-request decision of one entry cycle (operations.md §5): pure, no I/O.

One function per step: `request_target` (§5.1), `submit_count` (§5.2), `excess_removal`
(§5.3), `sanitize` (§5.4); `plan_request` chains them as upstream's keepIdleGlideins does
and `plan_cycle` runs every request of an entry against ONE running `Tally`, so later
requests see earlier submissions (upstream recounts from the snapshot each time and can
overshoot the caps by requests x MaxSubmitRate). The result is an `Actions` the entry
loop executes through the Schedd.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from glideinwms_factory.entry.accounting import (
    Counts,
    Job,
    QueueSnapshot,
    RequestKey,
    State,
)
from glideinwms_factory.entry.limits import EntryLimits
from glideinwms_factory.lib.pool import JobStatus

LIMIT_PREFIX = "GlideinMonitorStatus_GlideFactoryLimit"


@dataclass(frozen=True)
class Request:
    """One authenticated glideclient request, reduced to what the decision uses."""

    key: RequestKey  # GlideinClient (ClientName), SecurityClass, credential id
    frontend_name: str  # `<frontend.descript name>:<SecurityClass>`
    idle: int  # ReqIdleGlideins
    max_glideins: int  # ReqMaxGlideins
    remove_excess: str = "NO"  # ReqRemoveExcess
    remove_margin: int = 0  # ReqRemoveExcessMargin
    # Served at zero idle: factory/entry/frontend downtime, or not on the entry's whitelist.
    down: bool = False


@dataclass
class LiveCounts:
    """Live idle/running/held numbers of the entry or of one `fe:sc` during a cycle."""

    idle: int
    running: int
    held: int

    @classmethod
    def of(cls, counts: Counts) -> LiveCounts:
        return cls(counts.idle, counts.running, counts.held)


class Tally:
    """E and F of one entry, started from the cycle's snapshot and raised by submissions."""

    def __init__(self, snapshot: QueueSnapshot) -> None:
        self._snapshot = snapshot
        self.entry = LiveCounts.of(snapshot.entry)
        self._frontends: dict[str, LiveCounts] = {}

    def frontend(self, frontend_name: str) -> LiveCounts:
        if frontend_name not in self._frontends:
            self._frontends[frontend_name] = LiveCounts.of(self._snapshot.frontend(frontend_name))
        return self._frontends[frontend_name]

    def add_idle(self, frontend_name: str, count: int) -> None:
        self.entry.idle += count
        self.frontend(frontend_name).idle += count


def _reached(name: str, count: int, limit: int) -> dict[str, str]:
    return {f"{LIMIT_PREFIX}{name}": f"count={count}, limit={limit}"}


@dataclass(frozen=True)
class LimitCheck:
    """One cap a decision compared against: the count, the cap, and whether it bound
    (kept for `factory_startup explain`)."""

    name: str
    count: int
    limit: int
    bound: bool


@dataclass(frozen=True)
class Target:
    """§5.1: how many idle glideins to aim for, and why it may be zero."""

    idle: int  # the adjusted idle (RequestedAdjustedIdle)
    max_glideins: int
    down: bool
    blocked: bool
    limits_reached: Mapping[str, str] = field(default_factory=dict)
    checks: tuple[LimitCheck, ...] = ()


def request_target(request: Request, tally: Tally, limits: EntryLimits) -> Target:
    """Zero when the request is down (`Request.down`, decided for THIS request only) or
    the entry is at a cap."""
    entry = tally.entry
    checks = tuple(
        LimitCheck(name, count, limit, count >= limit)
        for name, count, limit in (
            ("IdleGlideinsPerEntry", entry.idle, limits.max_idle),
            ("TotalGlideinsPerEntry", entry.idle + entry.running, limits.max_glideins),
            ("HeldGlideinsPerEntry", entry.held, limits.max_held),
        )
    )
    reached: dict[str, str] = {}
    for check in checks:
        if check.bound:
            reached |= _reached(check.name, check.count, check.limit)
    blocked = bool(reached)
    idle = 0 if request.down or blocked else max(request.idle, 0)
    return Target(idle, request.max_glideins, request.down, blocked, reached, checks)


@dataclass(frozen=True)
class Submission:
    """§5.2: glideins to submit (0 = nothing; then excess removal runs) and caps that bit."""

    count: int
    limits_reached: Mapping[str, str] = field(default_factory=dict)
    checks: tuple[LimitCheck, ...] = ()


def submit_count(
    request: Request, target: Target, mine: Counts, tally: Tally, limits: EntryLimits
) -> Submission:
    """How many to submit for one request, given its own glideins (C) and the live tally."""
    add = target.idle - mine.idle
    if add <= 0:
        return Submission(0)
    own = mine.idle + mine.running
    cap = target.max_glideins
    own_check = LimitCheck("ReqMaxGlideins", own, cap, own + add >= cap)
    if own_check.bound:
        add = target.max_glideins - own
        if add <= 0:
            return Submission(0, checks=(own_check,))
    entry, frontend = tally.entry, tally.frontend(request.frontend_name)
    caps = limits.frontend(request.frontend_name)
    fe_sc = request.frontend_name
    terms = (
        ("IdleGlideinsPerEntry", entry.idle, limits.max_idle),
        ("TotalGlideinsPerEntry", entry.idle + entry.running, limits.max_glideins),
        (f"IdlePerClass_{fe_sc}", frontend.idle, caps.idle),
        (f"TotalPerClass_{fe_sc}", frontend.idle + frontend.running, caps.glideins),
    )
    reached: dict[str, str] = {}
    allowed = add
    checks = [own_check]
    for name, count, limit in terms:
        checks.append(LimitCheck(name, count, limit, limit - count < add))
        if limit - count < add:
            reached |= _reached(name, count, limit)
            allowed = min(allowed, limit - count)
    rate = limits.max_submit_rate
    checks.append(LimitCheck("MaxSubmitRate", allowed, rate, allowed > rate))
    return Submission(max(min(allowed, rate), 0), reached, tuple(checks))


def split_clusters(count: int, cluster_size: int) -> tuple[int, ...]:
    """`count` glideins as submit calls of at most `cluster_size` each."""
    full, rest = divmod(count, cluster_size)
    return (cluster_size,) * full + ((rest,) if rest else ())


_REMOVE_MODES = {  # ReqRemoveExcess -> (wait, idle, running); NO/UNREG/unknown remove none
    "WAIT": (True, False, False),
    "IDLE": (True, True, False),
    "ALL": (True, True, True),
}


def excess_removal(
    request: Request, frontend: LiveCounts, mine: Sequence[Job], limits: EntryLimits
) -> tuple[str, ...]:
    """§5.3: ids of this request's glideins to remove as excess, at most MaxRemoveRate.

    Counts are the frontend's (F), victims this request's (C, queue order), and `ri` is the
    ORIGINAL requested idle, so a downtime or a factory cap never removes idle glideins.
    IDLE takes only glideins whose JobStatus is 1 (upstream also offers running ones in
    an unlisted grid state); ALL takes JobStatus 2 glideins, then unrecoverable held,
    then recoverable held, as upstream does.
    """
    wait, idle, running = _REMOVE_MODES.get(request.remove_excess.upper(), (False,) * 3)
    ri, margin, req_max = request.idle, request.remove_margin, request.max_glideins
    rate = limits.max_remove_rate
    over_idle = (wait or idle) and frontend.idle > ri + margin
    over_total = running and frontend.running + frontend.idle > req_max + margin
    if over_idle or over_total:
        n = frontend.idle - ri - margin
        if over_total and frontend.running + ri > req_max:
            n = frontend.running + frontend.idle - req_max - margin
        n = max(min(n, rate), 0)
        waiting = [job.id for job in mine if job.state is State.WAIT]
        if wait and waiting:
            return tuple(waiting[:n])
        queued = [
            job.id
            for job in mine
            if job.job_status == JobStatus.IDLE and job.state is not State.WAIT
        ]
        if idle and queued:
            return tuple(queued[:n])
        if running:
            runs = [job.id for job in mine if job.job_status == JobStatus.RUNNING]
            return tuple((runs[:n] + _held_by_recoverability(mine, limits))[:rate])
        return ()
    if running and req_max == 0 and frontend.held > 0:
        return tuple(_held_by_recoverability(mine, limits)[:rate])
    return ()


def _held_by_recoverability(jobs: Iterable[Job], limits: EntryLimits) -> list[str]:
    """Held glideins, the unrecoverable ones first (upstream's removal order)."""
    unrecoverable, recoverable = [], []
    for job in jobs:
        if job.state is State.HELD:
            if _recoverable(job, limits):
                recoverable.append(job.id)
            else:
                unrecoverable.append(job.id)
    return unrecoverable + recoverable


def _recoverable(job: Job, limits: EntryLimits) -> bool:
    return (
        limits.recoverable.recoverable(job.hold_code, job.hold_subcode)
        and job.system_holds <= limits.max_releasable_holds
    )


def guard_running_removals(
    victims: tuple[str, ...], mine: Sequence[Job], limits: EntryLimits
) -> tuple[tuple[str, ...], LimitCheck]:
    """The excess victims with at most `running_removal_percent` of the request's running
    glideins among them (at least one), and the check (bound when that cut any)."""
    running = {job.id for job in mine if job.state is State.RUNNING}
    cap = max(1, len(running) * limits.running_removal_percent // 100)
    asked = [victim for victim in victims if victim in running]
    check = LimitCheck("RunningRemovalsPerCycle", len(asked), cap, len(asked) > cap)
    if not check.bound:
        return victims, check
    dropped = set(asked[cap:])
    return tuple(victim for victim in victims if victim not in dropped), check


@dataclass(frozen=True)
class Cleanup:
    """§5.4: what sanitizing a set of glideins asks for."""

    remove: tuple[str, ...] = ()
    remove_forcex: tuple[str, ...] = ()
    release: tuple[str, ...] = ()


def sanitize(jobs: Iterable[Job], limits: EntryLimits) -> Cleanup:
    """Stale idle (JobStatus 1) and stale running (JobStatus 2, whatever its grid state)
    and unrecoverable held -> remove (forcex after many system holds); recoverable held
    long enough -> release. Removals are chosen in upstream's order (stale idle, stale
    running, forcex, unrecoverable) up to MaxRemoveRate in all; releases up to
    MaxReleaseRate."""
    stale_idle, stale_running, unrecoverable, forcex, release = [], [], [], [], []
    for job in jobs:
        status = job.job_status
        if status == JobStatus.IDLE:
            if job.age > limits.stale_age_idle:
                stale_idle.append(job.id)
        elif status == JobStatus.RUNNING:
            if job.age > limits.stale_age_running:
                stale_running.append(job.id)
        elif job.state is State.HELD:
            if _recoverable(job, limits):
                if job.age >= job.system_holds * limits.hold_backoff:
                    release.append(job.id)
            elif job.system_holds > limits.forcex_holds:
                forcex.append(job.id)
            else:
                unrecoverable.append(job.id)
    budget = limits.max_remove_rate
    stale = (stale_idle + stale_running)[:budget]
    forced = forcex[: budget - len(stale)]
    plain = unrecoverable[: budget - len(stale) - len(forced)]
    return Cleanup(
        remove=tuple(stale + plain),
        remove_forcex=tuple(forced),
        release=tuple(release[: limits.max_release_rate]),
    )


@dataclass(frozen=True)
class Actions:
    """What the entry loop does for one request (or for the entry's sanitize pass)."""

    submit: int = 0
    clusters: tuple[int, ...] = ()  # submit calls of <= SubmitCluster glideins each
    remove: tuple[str, ...] = ()
    remove_forcex: tuple[str, ...] = ()  # `condor_rm -forcex`
    release: tuple[str, ...] = ()
    limits_reached: Mapping[str, str] = field(default_factory=dict)
    adjusted_idle: int = 0
    # every cap compared, in the order of §5: an explanation, not part of the decision
    checks: tuple[LimitCheck, ...] = field(default=(), compare=False)

    @property
    def did_work(self) -> bool:
        """Submitted or removed something (then the entry-wide sanitize is skipped)."""
        return bool(self.submit or self.remove or self.remove_forcex)


def _cleanup_actions(
    cleanup: Cleanup,
    limits_reached: Mapping[str, str] | None = None,
    adjusted_idle: int = 0,
    checks: tuple[LimitCheck, ...] = (),
) -> Actions:
    return Actions(
        remove=cleanup.remove,
        remove_forcex=cleanup.remove_forcex,
        release=cleanup.release,
        limits_reached=limits_reached or {},
        adjusted_idle=adjusted_idle,
        checks=checks,
    )


def plan_request(
    request: Request, snapshot: QueueSnapshot, tally: Tally, limits: EntryLimits
) -> Actions:
    """§5 for one request; raises `tally` by what it submits."""
    target = request_target(request, tally, limits)
    mine = snapshot.request_jobs(request.key)
    frontend = tally.frontend(request.frontend_name)
    held_cap = limits.frontend(request.frontend_name).held
    held = LimitCheck(
        f"HeldPerClass_{request.frontend_name}", frontend.held, held_cap, frontend.held >= held_cap
    )
    if held.bound:
        return _cleanup_actions(
            sanitize(mine, limits),
            limits_reached=target.limits_reached,
            adjusted_idle=target.idle,
            checks=(*target.checks, held),
        )
    submission = submit_count(request, target, snapshot.request(request.key), tally, limits)
    reached = {**target.limits_reached, **submission.limits_reached}
    checks = (*target.checks, held, *submission.checks)
    if submission.count <= 0:
        victims = excess_removal(request, frontend, mine, limits)
        victims, guard = guard_running_removals(victims, mine, limits)
        if guard.bound:
            reached |= _reached(guard.name, guard.count, guard.limit)
        return Actions(
            remove=victims,
            limits_reached=reached,
            adjusted_idle=target.idle,
            checks=(*checks, guard),
        )
    tally.add_idle(request.frontend_name, submission.count)
    return Actions(
        submit=submission.count,
        clusters=split_clusters(submission.count, limits.submit_cluster),
        limits_reached=reached,
        adjusted_idle=target.idle,
        checks=checks,
    )


@dataclass(frozen=True)
class CyclePlan:
    """One entry cycle: actions per request (input order), then the optional entry sanitize."""

    requests: tuple[Actions, ...]
    entry_cleanup: Actions | None


class RateBudget:
    """What is left of MaxRemoveRate and MaxReleaseRate in one entry cycle: the caps hold
    for the whole cycle, not for each request (upstream only caps each call)."""

    def __init__(self, limits: EntryLimits) -> None:
        self.removes = limits.max_remove_rate
        self.releases = limits.max_release_rate

    def take(self, actions: Actions) -> Actions:
        """`actions` with its removals and releases cut to what is left, which shrinks."""
        remove = actions.remove[: self.removes]
        forcex = actions.remove_forcex[: self.removes - len(remove)]
        release = actions.release[: self.releases]
        self.removes -= len(remove) + len(forcex)
        self.releases -= len(release)
        if (len(remove), len(forcex), len(release)) == (
            len(actions.remove),
            len(actions.remove_forcex),
            len(actions.release),
        ):
            return actions
        return replace(actions, remove=remove, remove_forcex=forcex, release=release)


def plan_cycle(
    requests: Sequence[Request], snapshot: QueueSnapshot, limits: EntryLimits
) -> CyclePlan:
    """Plan every request of an entry against one running tally and one remove/release
    budget; when none of them submitted or removed anything (or there were none),
    sanitize the whole entry."""
    tally = Tally(snapshot)
    budget = RateBudget(limits)
    planned = tuple(budget.take(plan_request(r, snapshot, tally, limits)) for r in requests)
    if any(actions.did_work for actions in planned):
        return CyclePlan(planned, None)
    return CyclePlan(planned, budget.take(_cleanup_actions(sanitize(snapshot.jobs, limits))))
