"""Glidein accounting: state table, typed records from real ClassAds, grouped counts."""

from __future__ import annotations

import classad2
import pytest

from glideinwms_factory.entry.accounting import (
    QUERY_PROJECTION,
    Counts,
    Job,
    QueueSnapshot,
    RequestKey,
    State,
    classify,
    count_jobs,
    glidein_cpus,
    jobs_from_rows,
    queue_constraint,
)

# Every grid-status word of upstream's table (operations.md §4), as the CEs send them.
PENDING_WORDS = ["PENDING", "INLRMS: Q", "INLRMS:Q", "PREPARED", "SUBMITTING", "IDLE"]
PENDING_WORDS += ["SUSPENDED", "REGISTERED", "QUEUING"]
STAGE_IN_WORDS = ["STAGE_IN", "PREPARING", "ACCEPTING", "ACCEPTED"]
RUNNING_WORDS = ["ACTIVE", "REALLY-RUNNING", "INLRMS: R", "INLRMS:R", "RUNNING"]
STAGE_OUT_WORDS = ["STAGE_OUT", "INLRMS: E", "INLRMS:E", "EXECUTED", "FINISHING", "FINISHED"]
STAGE_OUT_WORDS += ["DONE", "COMPLETED"]
EVERY_WORD = PENDING_WORDS + STAGE_IN_WORDS + RUNNING_WORDS + STAGE_OUT_WORDS
# Words no row of the table names: an HTCondor-CE's TRANSFERRING_OUTPUT or HELD, ARC's
# DELETED, BLAH's UNKNOWN.
UNLISTED = ["TRANSFERRING_OUTPUT", "HELD", "DELETED", "UNKNOWN", "X"]


def expected_code(status: int, grid: str | None) -> int:
    """The table of operations.md §4 spelled out independently of `classify`."""
    word = None if grid is None else grid.upper()
    if status == 1:
        if word is None:
            return 1001
        if word in PENDING_WORDS:
            return 1002
        return 1010 if word in STAGE_IN_WORDS else 1100
    if status == 2:
        if word is None or word in RUNNING_WORDS:
            return 2
        return 4010 if word in STAGE_OUT_WORDS else 1100
    return status


CLASSIFY_CASES = [
    (status, grid)
    for status in (1, 2, 3, 4, 5, 6, 7)
    for grid in [None, *EVERY_WORD, *(w.lower() for w in EVERY_WORD), *UNLISTED]
]


@pytest.mark.parametrize(("status", "grid"), CLASSIFY_CASES)
def test_classify_table(status: int, grid: str | None) -> None:
    assert classify(status, grid) == expected_code(status, grid)


@pytest.mark.parametrize(
    ("status", "grid", "state"),
    [
        (1, None, State.WAIT),
        (1, "inlrms:q", State.PENDING),
        (1, "accepted", State.STAGE_IN),
        (1, "RUNNING", State.IDLE_OTHER),
        (2, "running", State.RUNNING),
        (2, "PENDING", State.IDLE_OTHER),  # running in an unlisted grid state counts as idle
        (2, "SUSPENDED", State.IDLE_OTHER),
        (2, "DONE", State.STAGE_OUT),
        (3, None, State.REMOVED),
        (4, "DONE", State.COMPLETED),
        (5, "RUNNING", State.HELD),
        (6, "RUNNING", State.TRANSFERRING_OUTPUT),
        (7, None, State.SUSPENDED),
    ],
)
def test_classify_names(status: int, grid: str | None, state: State) -> None:
    assert classify(status, grid) is state


def test_unknown_job_status_is_its_own_code() -> None:
    assert classify(9, "RUNNING") == 9 and not isinstance(classify(9, None), State)


def test_state_codes_are_the_spec_codes() -> None:
    assert sorted(s.value for s in State) == [2, 3, 4, 5, 6, 7, 1001, 1002, 1010, 1100, 4010]


def ad(**attrs: object) -> classad2.ClassAd:
    base: dict[str, object] = {
        "ClusterId": 7,
        "ProcId": 0,
        "JobStatus": 1,
        "ServerTime": 10_000,
        "EnteredCurrentStatus": 9_000,
        "GlideinClient": "fe1.main",
        "GlideinFrontendName": "fe1:frontend",
        "GlideinSecurityClass": "frontend",
        "GlideinCredentialIdentifier": "cred1",
        "GlideinEntrySubmitFile": "job.condor",
    }
    base.update(attrs)
    return classad2.ClassAd({k: v for k, v in base.items() if v is not None})


def test_job_from_classad_row() -> None:
    job = Job.from_row(
        ad(JobStatus=5, HoldReasonCode=12, HoldReasonSubCode=2, NumSystemHolds=3, HoldReason="x"),
        now=0,
    )
    assert job.id == "7.0" and job.state is State.HELD and job.age == 1000
    assert job.job_status == 5
    assert (job.hold_code, job.hold_subcode, job.system_holds) == (12, 2, 3)
    assert job.key == RequestKey("fe1.main", "frontend", "cred1")
    assert job.frontend_name == "fe1:frontend" and job.submit_file == "job.condor"


def test_job_age_without_server_time_uses_now() -> None:
    assert Job.from_row(ad(ServerTime=None), now=9_500).age == 500
    assert Job.from_row(ad(ServerTime=None, EnteredCurrentStatus=None), now=1).age == 0


def test_unusable_rows_are_reported_not_raised() -> None:
    jobs, errors = jobs_from_rows(
        [ad(), ad(ProcId=None), ad(JobStatus="x"), ad(ClusterId=8, GridJobStatus="IDLE")], now=0
    )
    assert [j.id for j in jobs] == ["7.0", "8.0"] and jobs[1].state is State.PENDING
    assert len(errors) == 2 and all("unusable" in e for e in errors)


def test_constraint_selects_exactly_the_entry_with_hostile_names() -> None:
    entry = 'E"1) || (true'
    expr = classad2.ExprTree(queue_constraint("fact", "gfi", entry))
    mine = ad(GlideinFactory="fact", GlideinName="gfi", GlideinEntryName=entry)
    other = ad(GlideinFactory="fact", GlideinName="gfi", GlideinEntryName="E1")
    no_cred = ad(GlideinFactory="fact", GlideinName="gfi", GlideinEntryName=entry)
    del no_cred["GlideinCredentialIdentifier"]
    assert expr.eval(mine) is True
    assert expr.eval(other) is False
    assert expr.eval(no_cred) is False


def test_projection_names_every_attribute_the_record_reads() -> None:
    for name in ("ClusterId", "ProcId", "JobStatus", "GridJobStatus", "NumSystemHolds"):
        assert name in QUERY_PROJECTION
    assert len(set(QUERY_PROJECTION)) == len(QUERY_PROJECTION) == 15


def job(cluster: int, state: State, client: str = "c1", fe: str = "fe:sc", cred: str = "k") -> Job:
    return Job(cluster, 0, state, 0, client, fe, fe.split(":")[1], cred)


def test_snapshot_groups_entry_frontend_request() -> None:
    jobs = [
        job(1, State.WAIT),
        job(2, State.PENDING),
        job(3, State.RUNNING),
        job(4, State.HELD),
        job(5, State.STAGE_OUT),
        job(6, State.RUNNING, client="c2"),
        job(7, State.IDLE_OTHER, client="c3", fe="fe2:sc"),
        job(8, State.STAGE_IN, cred="other"),
        job(9, State.REMOVED),
    ]
    snap = QueueSnapshot(jobs, cpus=4)
    assert snap.entry == Counts(1, 1, 1, 1, 2, 1, 1, cpus=4, removed=1)
    assert snap.entry.idle == 4 and snap.entry.running_cores == 8 and snap.entry.idle_cores == 16
    assert snap.frontend("fe:sc").idle == 3 and snap.frontend("fe:sc").running == 2
    assert snap.frontend("nobody:x") == Counts(cpus=4)
    key = RequestKey("c1", "sc", "k")
    assert [j.cluster for j in snap.request_jobs(key)] == [1, 2, 3, 4, 5, 9]
    assert snap.request(key).idle == 2 and snap.request(key).held == 1
    assert snap.request(RequestKey("c9", "sc", "k")) == Counts(cpus=4)
    assert sorted(snap.frontend_names()) == ["fe2:sc", "fe:sc"]


def test_removed_completed_transferring_suspended_counted_apart() -> None:
    rows = [
        ad(ClusterId=n, JobStatus=status, GridJobStatus=grid)
        for n, (status, grid) in enumerate(
            [
                *[(3, None), (3, "DONE"), (4, None), (6, "RUNNING"), (7, None), (7, "IDLE")],
                *[(7, None), (2, "SUSPENDED"), (2, "TRANSFERRING_OUTPUT"), (2, "INLRMS:E")],
                *[(1, "INLRMS:R"), (9, None)],
            ]
        )
    ]
    jobs, errors = jobs_from_rows(rows, now=0)
    counts = QueueSnapshot(jobs).entry
    assert not errors
    assert counts.by_code() == {3: 2, 4: 1, 6: 1, 7: 3, 1100: 3, 4010: 1, 9: 1}
    assert (counts.removed, counts.completed, counts.transferring_output, counts.suspended) == (
        2,
        1,
        1,
        3,
    )
    assert counts.idle == 3 and counts.running == 0 and counts.other == ((9, 1),)
    assert [job.job_status for job in jobs] == [3, 3, 4, 6, 7, 7, 7, 2, 2, 2, 1, 9]


def test_status_attrs() -> None:
    counts = count_jobs([job(1, State.WAIT), job(2, State.RUNNING)], cpus=8)
    assert counts.status_attrs() == {
        "Idle": 1,
        "Running": 1,
        "Held": 0,
        "Wait": 1,
        "Pending": 0,
        "StageIn": 0,
        "IdleOther": 0,
        "StageOut": 0,
        "RunningCores": 8,
    }


@pytest.mark.parametrize(
    ("attrs", "cpus"),
    [
        ({}, 1),
        ({"GLIDEIN_CPUS": 8}, 8),
        ({"GLIDEIN_CPUS": "4"}, 4),
        ({"GLIDEIN_CPUS": "auto", "GLIDEIN_ESTIMATED_CPUS": 16}, 16),
        ({"GLIDEIN_CPUS": "node"}, 1),
        ({"GLIDEIN_CPUS": 0}, 1),
    ],
)
def test_glidein_cpus(attrs: dict[str, object], cpus: int) -> None:
    assert glidein_cpus(attrs) == cpus
