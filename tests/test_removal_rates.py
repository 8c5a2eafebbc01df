"""Removals and releases as configured, through a real entry iteration on the in-process
embedded pool: no call and no cycle goes past MaxRemoveRate / MaxReleaseRate, and
unrecoverable glideins held too often leave the queue through RemoveX (forcex)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from factory_testlib import EntrySpec, config_xml, create, free_port, processes_under
from waiting import wait_for

from glideinwms_factory.entry.daemon import EntryGroupDaemon
from glideinwms_factory.lib.factory_key import load_keys
from glideinwms_factory.lib.pool import JobAction, JobStatus, Schedd
from glideinwms_factory.lib.pool.connect import Pool
from glideinwms_factory.lib.pool.embedded.auth import ADMIN_IDENTITY
from glideinwms_factory.lib.pool.embedded.inprocess import InProcessPool


@dataclass
class RecordingSchedd:
    """The in-process Schedd, recording every act call (what the daemon asked for)."""

    inner: Schedd
    calls: list[tuple[JobAction, int]] = field(default_factory=list)

    def submit(self, description, count=1, attrs=None):  # type: ignore[no-untyped-def]
        return self.inner.submit(description, count, attrs)

    def query(self, constraint="true", projection=()):  # type: ignore[no-untyped-def]
        return self.inner.query(constraint, projection)

    def act(self, action: JobAction, jobs: Sequence[str] | str, reason: str = "") -> int:
        self.calls.append((action, len(jobs)))
        return self.inner.act(action, jobs, reason)


@pytest.fixture(params=[""])
def pool_and_tree(request: pytest.FixtureRequest, tmp_path: Path):
    xml = config_xml(
        [EntrySpec("solo", max_held=1000)], free_port(), recoverable_exitcodes=request.param
    )
    factory = create(tmp_path, xml)
    descript = factory.work / "entry_solo" / "job.descript"
    text = descript.read_text()
    text = text.replace("MaxRemoveRate \t20", "MaxRemoveRate \t3")
    descript.write_text(text.replace("MaxReleaseRate \t20", "MaxReleaseRate \t2"))
    load_keys(factory.work)
    with InProcessPool(factory.state_dir, slots=1, tick=0.05, kill_grace=0.5) as pool:
        yield pool, factory
        pool.pool(ADMIN_IDENTITY).schedd("").act(JobAction.REMOVE, "true", "test over")
        wait_for(lambda: not processes_under(factory.root), 30, "glidein processes gone")


GLIDEIN_ATTRS = {  # what the factory's job.condor sets on each glidein
    "GlideinFactory": "testfactory",
    "GlideinName": "gtest",
    "GlideinEntryName": "solo",
    "GlideinClient": "frontend.main",
    "GlideinFrontendName": "vofrontend:frontend",
    "GlideinSecurityClass": "frontend",
    "GlideinCredentialIdentifier": "none",
}


def held_glideins(pool: InProcessPool, count: int, system_holds: int = 0) -> list[str]:
    """`count` glideins held at submission (hold code 15), then held `system_holds` more
    times by the system, as a failing site does."""
    schedd = pool.pool().schedd("")
    description = "executable = /bin/sleep\narguments = 60\nhold = true\n"
    cluster = schedd.submit(description, count, GLIDEIN_ATTRS)
    ids = [f"{cluster}.{proc}" for proc in range(count)]
    for _ in range(system_holds):
        pool.core.act(JobAction.RELEASE, ids)
        pool.core.act(JobAction.HOLD, ids, "site trouble", hold_code=15)
    return ids


def recording_daemon(pool: InProcessPool, work: Path) -> tuple[EntryGroupDaemon, RecordingSchedd]:
    recording = RecordingSchedd(pool.pool().schedd(""))

    def connect() -> Pool:
        return Pool(pool.pool().collector, "embedded", make_schedd=lambda _name: recording)

    return EntryGroupDaemon(work, ["solo"], connect=connect), recording


def states(schedd: Schedd) -> dict[str, int]:
    return {f"{ad['ClusterId']}.{ad['ProcId']}": ad["JobStatus"] for ad in schedd.query()}


def test_one_cycle_removes_at_most_max_remove_rate_in_calls_of_at_most_that(pool_and_tree):
    pool, factory = pool_and_tree
    plain = held_glideins(pool, 6)  # unrecoverable: no hold code is recoverable here
    forced = held_glideins(pool, 2, system_holds=21)  # held too often: forcex
    daemon, recording = recording_daemon(pool, factory.work)
    daemon.iteration()
    removes = [n for action, n in recording.calls if action is JobAction.REMOVE]
    assert removes and max(removes) <= 3
    left = states(recording.inner)
    assert [job for job in forced if job in left] == []  # out at once: no X lingering
    assert (JobAction.REMOVE_X, 2) in recording.calls
    # a removed job with no process may already have left the queue
    removed = [job for job in plain if left.get(job, JobStatus.REMOVED) == JobStatus.REMOVED]
    assert len(removed) == 1  # the cycle's MaxRemoveRate (3) in all, forcex first
    assert sum(left.get(job) == JobStatus.HELD for job in plain) == 5


@pytest.mark.parametrize("pool_and_tree", ["15"], indirect=True)
def test_one_cycle_releases_at_most_max_release_rate(pool_and_tree):
    pool, factory = pool_and_tree
    held = held_glideins(pool, 5)  # hold code 15 is recoverable here
    daemon, recording = recording_daemon(pool, factory.work)
    daemon.iteration()
    assert [n for action, n in recording.calls if action is JobAction.RELEASE] == [2]
    assert sum(state != JobStatus.HELD for state in states(recording.inner).values()) == 2
    assert len(held) == 5
