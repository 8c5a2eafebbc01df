"""The per-request decision (operations.md §5), table-driven: one named case per branch."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from glideinwms_factory.entry.accounting import Job, QueueSnapshot, RequestKey, State
from glideinwms_factory.entry.decision import (
    Actions,
    LiveCounts,
    Request,
    Tally,
    excess_removal,
    plan_cycle,
    plan_request,
    request_target,
    sanitize,
    split_clusters,
)
from glideinwms_factory.entry.limits import EntryLimits, FrontendLimits, parse_recoverable

LIMITS = EntryLimits(
    max_glideins=100,
    max_idle=50,
    max_held=20,
    default_frontend=FrontendLimits(glideins=60, idle=30, held=10),
    max_submit_rate=25,
    submit_cluster=10,
    max_remove_rate=5,
    max_release_rate=3,
    stale_age_idle=1000,
    stale_age_running=5000,
    recoverable=parse_recoverable("12,30 2"),
)
ME = RequestKey("fe1.main", "sc", "cred")
OTHER_CRED = RequestKey("fe1.main", "sc", "cred2")  # same frontend:class, other request
STRANGER = RequestKey("fe2.main", "x", "c")  # another frontend:class
LIMIT = "GlideinMonitorStatus_GlideFactoryLimit"

_next_cluster = iter(range(1, 10**9))


def jobs(n: int, state: State, key: RequestKey = ME, **attrs: object) -> list[Job]:
    fe = {ME: "fe1:sc", OTHER_CRED: "fe1:sc", STRANGER: "fe2:x"}[key]
    return [
        Job(
            cluster=next(_next_cluster),
            proc=0,
            state=state,
            age=0,
            client=key.client,
            frontend_name=fe,
            security_class=key.security_class,
            credential_id=key.credential_id,
            **attrs,  # type: ignore[arg-type]
        )
        for _ in range(n)
    ]


def request(**overrides: object) -> Request:
    values: dict[str, object] = dict(key=ME, frontend_name="fe1:sc", idle=10, max_glideins=100)
    values.update(overrides)
    return Request(**values)  # type: ignore[arg-type]


# ---- §5.1 target ---------------------------------------------------------------------


@dataclass
class TargetCase:
    name: str
    queue: list[Job]
    req: Request = field(default_factory=request)
    down: bool = False
    idle: int = 10
    blocked: bool = False
    reached: dict[str, str] = field(default_factory=dict)


TARGET_CASES = [
    TargetCase("plain", []),
    TargetCase("down zeroes the target", [], down=True, idle=0),
    TargetCase("negative request", [], req=request(idle=-3), idle=0),
    TargetCase(
        "entry idle cap",
        jobs(50, State.WAIT, STRANGER),
        idle=0,
        blocked=True,
        reached={f"{LIMIT}IdleGlideinsPerEntry": "count=50, limit=50"},
    ),
    TargetCase(
        "entry total cap",
        jobs(10, State.PENDING, STRANGER) + jobs(90, State.RUNNING, STRANGER),
        idle=0,
        blocked=True,
        reached={f"{LIMIT}TotalGlideinsPerEntry": "count=100, limit=100"},
    ),
    TargetCase(
        "entry held cap",
        jobs(20, State.HELD, STRANGER),
        idle=0,
        blocked=True,
        reached={f"{LIMIT}HeldGlideinsPerEntry": "count=20, limit=20"},
    ),
    TargetCase("held not counted in total", jobs(19, State.HELD) + jobs(80, State.RUNNING)),
    TargetCase("stage-out not counted", jobs(100, State.STAGE_OUT, STRANGER)),
]


@pytest.mark.parametrize("case", TARGET_CASES, ids=lambda c: c.name)
def test_target(case: TargetCase) -> None:
    target = request_target(
        replace(case.req, down=case.down), Tally(QueueSnapshot(case.queue)), LIMITS
    )
    assert (target.idle, target.blocked, dict(target.limits_reached)) == (
        case.idle,
        case.blocked,
        case.reached,
    )
    assert target.down is case.down and target.max_glideins == case.req.max_glideins


# ---- §5.2 submit (through plan_request) ------------------------------------------------


@dataclass
class SubmitCase:
    name: str
    queue: list[Job]
    req: Request = field(default_factory=request)
    limits: EntryLimits = LIMITS
    down: bool = False
    submit: int = 0
    clusters: tuple[int, ...] = ()
    reached: dict[str, str] = field(default_factory=dict)
    remove: int = 0


SUBMIT_CASES = [
    SubmitCase("fills up to target", jobs(3, State.WAIT), submit=7, clusters=(7,)),
    SubmitCase("enough idle already", jobs(10, State.PENDING)),
    SubmitCase(
        "other requests' idle do not count",
        jobs(10, State.WAIT, OTHER_CRED),
        submit=10,
        clusters=(10,),
    ),
    SubmitCase(
        "req_max trims",
        jobs(5, State.RUNNING),
        req=request(max_glideins=12),
        submit=7,
        clusters=(7,),
    ),
    SubmitCase("req_max reached", jobs(12, State.RUNNING), req=request(max_glideins=12)),
    SubmitCase(
        "entry idle headroom",
        jobs(45, State.WAIT, STRANGER),
        submit=5,
        clusters=(5,),
        reached={f"{LIMIT}IdleGlideinsPerEntry": "count=45, limit=50"},
    ),
    SubmitCase(
        "entry total headroom",
        jobs(95, State.RUNNING, STRANGER),
        submit=5,
        clusters=(5,),
        reached={f"{LIMIT}TotalGlideinsPerEntry": "count=95, limit=100"},
    ),
    SubmitCase(
        "frontend idle headroom",
        jobs(25, State.WAIT, OTHER_CRED),
        submit=5,
        clusters=(5,),
        reached={f"{LIMIT}IdlePerClass_fe1:sc": "count=25, limit=30"},
    ),
    SubmitCase(
        "frontend total headroom",
        jobs(55, State.RUNNING, OTHER_CRED),
        submit=5,
        clusters=(5,),
        reached={f"{LIMIT}TotalPerClass_fe1:sc": "count=55, limit=60"},
    ),
    SubmitCase(
        "frontend idle cap leaves nothing",
        jobs(30, State.WAIT, OTHER_CRED),
        reached={f"{LIMIT}IdlePerClass_fe1:sc": "count=30, limit=30"},
    ),
    SubmitCase(
        "per-frontend override",
        [],
        limits=replace(LIMITS, per_frontend={"fe1:sc": FrontendLimits(1000, 4, 10)}),
        submit=4,
        clusters=(4,),
        reached={f"{LIMIT}IdlePerClass_fe1:sc": "count=0, limit=4"},
    ),
    SubmitCase(
        "MaxSubmitRate and SubmitCluster",
        [],
        req=request(idle=100, max_glideins=1000),
        limits=replace(LIMITS, max_idle=1000, default_frontend=FrontendLimits(1000, 1000, 10)),
        submit=25,
        clusters=(10, 10, 5),
    ),
    SubmitCase(
        "entry blocked: nothing, idle kept",
        jobs(5, State.WAIT) + jobs(45, State.WAIT, STRANGER),
        req=request(remove_excess="ALL"),
        reached={f"{LIMIT}IdleGlideinsPerEntry": "count=50, limit=50"},
    ),
    SubmitCase(
        "down with excess removal: original ri protects idle",
        jobs(10, State.WAIT),
        req=request(remove_excess="IDLE"),
        down=True,
    ),
    SubmitCase(
        "no submit -> excess removal",
        jobs(14, State.WAIT),
        req=request(remove_excess="WAIT"),
        remove=4,
    ),
    SubmitCase(
        "frontend held cap -> sanitize own glideins only",
        jobs(8, State.HELD, hold_code=99) + jobs(2, State.HELD, OTHER_CRED, hold_code=99),
        remove=5,  # MaxRemoveRate
    ),
]


@pytest.mark.parametrize("case", SUBMIT_CASES, ids=lambda c: c.name)
def test_submit(case: SubmitCase) -> None:
    snapshot = QueueSnapshot(case.queue)
    tally = Tally(snapshot)
    actions = plan_request(replace(case.req, down=case.down), snapshot, tally, case.limits)
    assert actions.submit == case.submit
    assert actions.clusters == case.clusters
    assert dict(actions.limits_reached) == case.reached
    assert len(actions.remove) == case.remove
    assert tally.entry.idle == snapshot.entry.idle + case.submit  # the tally moved
    assert tally.frontend("fe1:sc").idle == snapshot.frontend("fe1:sc").idle + case.submit
    mine = {job.id for job in snapshot.request_jobs(ME)}
    assert set(actions.remove) <= mine  # victims always come from C


def test_adjusted_idle_reports_zeroing() -> None:
    snapshot = QueueSnapshot([])
    assert plan_request(request(down=False), snapshot, Tally(snapshot), LIMITS).adjusted_idle == 10
    assert plan_request(request(down=True), snapshot, Tally(snapshot), LIMITS).adjusted_idle == 0


@pytest.mark.parametrize(
    ("count", "size", "clusters"),
    [(0, 10, ()), (10, 10, (10,)), (25, 10, (10, 10, 5)), (3, 1, (1, 1, 1))],
)
def test_split_clusters(count: int, size: int, clusters: tuple[int, ...]) -> None:
    assert split_clusters(count, size) == clusters


# ---- §5.3 excess removal ---------------------------------------------------------------


@dataclass
class RemoveCase:
    name: str
    mode: str
    frontend: LiveCounts
    mine: list[Job]
    expect: list[int]  # indexes into `mine`
    ri: int = 5
    req_max: int = 100
    margin: int = 0


W8 = jobs(8, State.WAIT)
MIXED = jobs(3, State.PENDING) + jobs(2, State.STAGE_IN) + jobs(2, State.IDLE_OTHER)
RUN = jobs(10, State.RUNNING) + jobs(3, State.HELD)
WAIT_AND_QUEUED = jobs(2, State.WAIT) + jobs(6, State.PENDING)
RUNNING_1100 = jobs(2, State.IDLE_OTHER, job_status=2)  # JobStatus 2, e.g. grid SUSPENDED
REMOVE_CASES = [
    RemoveCase("NO removes nothing", "NO", LiveCounts(8, 0, 0), W8, []),
    RemoveCase("UNREG removes nothing", "UNREG", LiveCounts(8, 0, 0), W8, []),
    RemoveCase("unknown mode removes nothing", "RUNSTALE", LiveCounts(8, 0, 0), W8, []),
    RemoveCase("WAIT removes the excess waits", "WAIT", LiveCounts(8, 0, 0), W8, [0, 1, 2]),
    RemoveCase("mode is case-insensitive", "wait", LiveCounts(8, 0, 0), W8, [0, 1, 2]),
    RemoveCase("margin shrinks the excess", "WAIT", LiveCounts(8, 0, 0), W8, [0], margin=2),
    RemoveCase("within margin", "WAIT", LiveCounts(7, 0, 0), W8, [], margin=2),
    RemoveCase("no excess", "WAIT", LiveCounts(5, 0, 0), W8, []),
    RemoveCase("counts from F, not C", "WAIT", LiveCounts(6, 0, 0), W8, [0]),
    RemoveCase("WAIT ignores queued", "WAIT", LiveCounts(7, 0, 0), MIXED, []),
    RemoveCase(
        "IDLE prefers waits, then done", "IDLE", LiveCounts(8, 0, 0), WAIT_AND_QUEUED, [0, 1]
    ),
    RemoveCase("IDLE removes queued", "IDLE", LiveCounts(7, 0, 0), MIXED, [0, 1]),
    RemoveCase("MaxRemoveRate caps", "IDLE", LiveCounts(30, 0, 0), W8, [0, 1, 2, 3, 4]),
    RemoveCase(
        "ALL over max removes running + held, MaxRemoveRate in all",
        "ALL",
        LiveCounts(0, 10, 3),
        RUN,
        [0, 1, 2, 3, 10],
        ri=0,
        req_max=6,
    ),
    RemoveCase(
        "ALL takes unrecoverable held before recoverable",
        "ALL",
        LiveCounts(0, 3, 2),
        RUN[:2] + jobs(1, State.HELD, hold_code=12) + jobs(1, State.HELD, hold_code=99),
        [0, 1, 3, 2],
        ri=0,
        req_max=1,
    ),
    RemoveCase(
        "ALL removes any JobStatus 2, stage-out and unlisted grid state too",
        "ALL",
        LiveCounts(1, 2, 0),
        jobs(1, State.STAGE_OUT) + jobs(1, State.IDLE_OTHER, job_status=2) + RUN[:1],
        [0, 1, 2],
        ri=0,
        req_max=0,
    ),
    RemoveCase(
        "IDLE never removes a running glidein in an unlisted grid state",
        "IDLE",
        LiveCounts(4, 0, 0),
        RUNNING_1100 + jobs(1, State.PENDING) + RUNNING_1100,
        [2],
        ri=0,
    ),
    RemoveCase(
        "IDLE with only running 1100 glideins removes nothing",
        "IDLE",
        LiveCounts(4, 0, 0),
        RUNNING_1100,
        [],
        ri=0,
    ),
    RemoveCase(
        "ALL with idle excess takes waits first", "ALL", LiveCounts(8, 0, 0), W8, [0, 1, 2], ri=5
    ),
    RemoveCase(
        "ALL over max, running + ri within max: n from idle",
        "ALL",
        LiveCounts(4, 5, 0),
        W8[:4] + RUN[:5],
        [0, 1],
        ri=2,
        req_max=8,
    ),
    RemoveCase(
        "ALL req_max 0 removes held", "ALL", LiveCounts(0, 0, 3), RUN[10:], [0, 1, 2], req_max=0
    ),
    RemoveCase("ALL req_max 0 no held", "ALL", LiveCounts(0, 0, 0), RUN[10:], [], req_max=0),
    RemoveCase("IDLE req_max 0 keeps held", "IDLE", LiveCounts(0, 0, 3), RUN[10:], [], req_max=0),
]


@pytest.mark.parametrize("case", REMOVE_CASES, ids=lambda c: c.name)
def test_excess_removal(case: RemoveCase) -> None:
    req = request(
        remove_excess=case.mode, idle=case.ri, max_glideins=case.req_max, remove_margin=case.margin
    )
    victims = excess_removal(req, case.frontend, case.mine, LIMITS)
    assert list(victims) == [case.mine[i].id for i in case.expect]


# ---- §5.4 sanitize ---------------------------------------------------------------------


@dataclass
class SanitizeCase:
    name: str
    queue: list[Job]
    remove: int = 0
    forcex: int = 0
    release: int = 0
    limits: EntryLimits = LIMITS


def held(
    n: int = 1, code: int | None = 12, sub: int | None = None, holds: int = 0, age: int = 0
) -> list[Job]:
    return [
        replace(j, age=age)
        for j in jobs(n, State.HELD, hold_code=code, hold_subcode=sub, system_holds=holds)
    ]


def aged(n: int, state: State, age: int, job_status: int = 0) -> list[Job]:
    return [replace(j, age=age) for j in jobs(n, state, job_status=job_status)]


SANITIZE_CASES = [
    SanitizeCase("stale idle", aged(2, State.PENDING, 1001), remove=2),
    SanitizeCase("idle exactly at stale age kept", aged(2, State.WAIT, 1000)),
    SanitizeCase("stale running", aged(1, State.RUNNING, 5001), remove=1),
    SanitizeCase("young running kept", aged(1, State.RUNNING, 4999)),
    SanitizeCase("stage-out stale after the running age", aged(1, State.STAGE_OUT, 5001), remove=1),
    SanitizeCase("young stage-out kept", aged(1, State.STAGE_OUT, 5000)),
    SanitizeCase(
        "running in an unlisted grid state: the running age, not the idle one",
        aged(1, State.IDLE_OTHER, 4999, job_status=2),
    ),
    SanitizeCase(
        "running in an unlisted grid state, stale",
        aged(1, State.IDLE_OTHER, 5001, job_status=2),
        remove=1,
    ),
    SanitizeCase("idle in an unlisted grid state", aged(1, State.IDLE_OTHER, 1001), remove=1),
    SanitizeCase("removed glideins are left alone", aged(1, State.REMOVED, 10**7)),
    SanitizeCase("suspended glideins are left alone", aged(1, State.SUSPENDED, 10**7)),
    SanitizeCase("recoverable, no holds yet", held(), release=1),
    SanitizeCase("recoverable, held long enough", held(holds=2, age=600), release=1),
    SanitizeCase("recoverable, not held long enough", held(holds=2, age=599)),
    SanitizeCase("recoverable with matching subcode", held(code=30, sub=2), release=1),
    SanitizeCase("recoverable code, other subcode", held(code=30, sub=3), remove=1),
    SanitizeCase("unlisted code", held(code=99), remove=1),
    SanitizeCase("no hold code", held(code=None), remove=1),
    SanitizeCase("10 holds still releasable", held(holds=10, age=3000), release=1),
    SanitizeCase("11 holds: removed", held(holds=11, age=10**6), remove=1),
    SanitizeCase("20 holds: plain remove", held(code=99, holds=20), remove=1),
    SanitizeCase("21 holds: forcex", held(holds=21), forcex=1),
    SanitizeCase(
        "empty RecoverableExitcodes removes all held",
        held(2),
        remove=2,
        limits=replace(LIMITS, recoverable=parse_recoverable("")),
    ),
    SanitizeCase("MaxReleaseRate caps", held(7), release=3),
    SanitizeCase("MaxRemoveRate caps each call", held(7, code=99), remove=5),
    SanitizeCase("forcex capped too", held(7, holds=30), forcex=5),
    SanitizeCase(
        "MaxRemoveRate over all kinds",
        aged(6, State.WAIT, 2000) + aged(6, State.RUNNING, 6000) + held(6, code=1),
        remove=5,
    ),
    SanitizeCase(
        "forcex and plain share the rate",
        held(3, code=1, holds=21) + held(4, code=1),
        remove=2,
        forcex=3,
    ),
]


def test_sanitize_order_is_upstreams() -> None:
    queue = held(2, code=1) + held(2, code=1, holds=21) + aged(2, State.RUNNING, 6000)
    queue += aged(2, State.WAIT, 2000)
    cleanup = sanitize(queue, replace(LIMITS, max_remove_rate=7))
    ids = [job.id for job in queue]
    # stale idle, stale running, forcex, then unrecoverable held while the rate lasts
    assert cleanup.remove == (ids[6], ids[7], ids[4], ids[5], ids[0])
    assert cleanup.remove_forcex == (ids[2], ids[3])


@pytest.mark.parametrize("case", SANITIZE_CASES, ids=lambda c: c.name)
def test_sanitize(case: SanitizeCase) -> None:
    cleanup = sanitize(case.queue, case.limits)
    assert (len(cleanup.remove), len(cleanup.remove_forcex), len(cleanup.release)) == (
        case.remove,
        case.forcex,
        case.release,
    )
    ids = [job.id for job in case.queue]
    for chosen in (cleanup.remove, cleanup.remove_forcex, cleanup.release):
        assert list(chosen) == [i for i in ids if i in chosen]  # queue order kept


# ---- the cycle: one running tally ------------------------------------------------------


def test_running_tally_across_requests_of_one_frontend() -> None:
    snapshot = QueueSnapshot([])
    first = request(idle=20)
    second = request(key=OTHER_CRED, idle=20)
    plan = plan_cycle([first, second], snapshot, LIMITS)
    assert [a.submit for a in plan.requests] == [20, 10]  # upstream would give 20 + 20
    assert plan.requests[1].limits_reached == {f"{LIMIT}IdlePerClass_fe1:sc": "count=20, limit=30"}
    assert plan.entry_cleanup is None


def test_running_tally_entry_cap_across_frontends() -> None:
    limits = replace(LIMITS, default_frontend=FrontendLimits(100, 40, 10))
    plan = plan_cycle(
        [
            request(idle=40, max_glideins=100),
            request(key=STRANGER, frontend_name="fe2:x", idle=40),
            request(key=OTHER_CRED, idle=5),
        ],
        QueueSnapshot([]),
        limits,
    )
    assert [a.submit for a in plan.requests] == [25, 25, 0]  # MaxSubmitRate, then idle cap 50
    assert plan.requests[2].limits_reached == {f"{LIMIT}IdleGlideinsPerEntry": "count=50, limit=50"}


def test_remove_and_release_caps_hold_for_the_whole_cycle() -> None:
    rate = LIMITS.max_remove_rate
    queue = jobs(8, State.WAIT) + jobs(8, State.WAIT, OTHER_CRED)
    wait = {"remove_excess": "WAIT", "idle": 0}
    plan = plan_cycle(
        [request(**wait), request(key=OTHER_CRED, **wait)],
        QueueSnapshot(queue),
        LIMITS,
    )
    assert [len(a.remove) for a in plan.requests] == [rate, 0]
    held_queue = held(4) + held(4, code=99) + held(2, code=99, holds=21)
    cleanup = plan_cycle([], QueueSnapshot(held_queue), LIMITS).entry_cleanup
    assert cleanup is not None
    assert len(cleanup.remove) + len(cleanup.remove_forcex) == rate
    assert len(cleanup.release) == LIMITS.max_release_rate


def test_release_cap_holds_across_requests() -> None:
    limits = replace(LIMITS, default_frontend=FrontendLimits(60, 30, 2))
    queue = held(3) + [replace(j, age=0) for j in jobs(3, State.HELD, OTHER_CRED, hold_code=12)]
    plan = plan_cycle([request(), request(key=OTHER_CRED)], QueueSnapshot(queue), limits)
    assert [len(a.release) for a in plan.requests] == [3, 0]


def test_downtime_of_one_request_does_not_stop_the_others() -> None:
    plan = plan_cycle(
        [request(down=True), request(key=STRANGER, frontend_name="fe2:x", down=False)],
        QueueSnapshot([]),
        LIMITS,
    )
    assert [a.submit for a in plan.requests] == [0, 10]
    assert [a.adjusted_idle for a in plan.requests] == [0, 10]


def test_entry_sanitize_only_when_no_request_worked() -> None:
    queue = held(2, code=99) + jobs(10, State.WAIT)
    idle_plan = plan_cycle([request()], QueueSnapshot(queue), LIMITS)
    assert idle_plan.requests == (Actions(adjusted_idle=10),)
    assert idle_plan.entry_cleanup is not None and len(idle_plan.entry_cleanup.remove) == 2
    no_work = plan_cycle([], QueueSnapshot(queue), LIMITS)
    assert no_work.requests == () and no_work.entry_cleanup == idle_plan.entry_cleanup
    busy = plan_cycle([request(idle=12)], QueueSnapshot(queue), LIMITS)
    assert busy.requests[0].submit == 2 and busy.entry_cleanup is None
    assert busy.requests[0].did_work and not Actions(release=("1.0",)).did_work


# ---- guard rail on removing running glideins (upstream #282) ---------------------------


@pytest.mark.parametrize(
    ("running", "percent", "removed"),
    [(100, 10, 10), (55, 10, 5), (5, 10, 1), (100, 50, 40)],  # 40: MaxRemoveRate below
)
def test_running_removals_are_capped_per_cycle_and_request(
    running: int, percent: int, removed: int
) -> None:
    """RemoveExcess ALL with a max of 0 asks for every running glidein; the guard lets at
    most `percent` of them go per cycle (at least one), and says so."""
    queue = jobs(running, State.RUNNING)
    limits = replace(
        LIMITS,
        max_remove_rate=40,
        running_removal_percent=percent,
        max_glideins=1000,
        default_frontend=FrontendLimits(1000, 30, 10),
    )
    snapshot = QueueSnapshot(queue)
    actions = plan_request(
        request(remove_excess="ALL", idle=0, max_glideins=0), snapshot, Tally(snapshot), limits
    )
    assert len(actions.remove) == removed
    asked = min(running, 40)
    capped = max(1, running * percent // 100)
    if asked > capped:
        assert actions.limits_reached[f"{LIMIT}RunningRemovalsPerCycle"] == (
            f"count={asked}, limit={capped}"
        )
    else:
        assert f"{LIMIT}RunningRemovalsPerCycle" not in actions.limits_reached


def test_the_guard_leaves_idle_and_held_victims_alone() -> None:
    queue = jobs(20, State.RUNNING) + jobs(3, State.HELD)
    snapshot = QueueSnapshot(queue)
    limits = replace(LIMITS, max_remove_rate=30)
    actions = plan_request(
        request(remove_excess="ALL", idle=0, max_glideins=0), snapshot, Tally(snapshot), limits
    )
    states = [next(j.state for j in queue if j.id == victim) for victim in actions.remove]
    assert states.count(State.RUNNING) == 2 and states.count(State.HELD) == 3
