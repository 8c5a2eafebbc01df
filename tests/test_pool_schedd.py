"""The Schedd side of the real daemon through `EmbeddedSchedd`: states, slots, durability."""

from __future__ import annotations

import collections
import signal

import pytest
from pool_testlib import running_pool, start_daemon, stop_daemon
from waiting import wait_for

from glideinwms_factory.lib.pool import JobAction, JobStatus, PoolError
from glideinwms_factory.lib.pool.embedded.auth import FACTORY_IDENTITY
from glideinwms_factory.lib.pool.embedded.client import EmbeddedSchedd


def sleeper(seconds: float) -> dict[str, str]:
    return {"executable": "/bin/sleep", "arguments": str(seconds), "universe": "vanilla"}


def states(schedd: EmbeddedSchedd, constraint: str = "true") -> dict[str, int]:
    return {
        f"{ad['ClusterId']}.{ad['ProcId']}": ad["JobStatus"]
        for ad in schedd.query(constraint, ["ClusterId", "ProcId", "JobStatus"])
    }


def test_fifty_jobs_go_idle_running_completed_within_four_slots(tmp_path):
    with running_pool(tmp_path / "pool", "--slots", "4") as pool:
        schedd = EmbeddedSchedd(pool.address, pool.token())
        cluster = schedd.submit(sleeper(0.2), count=50, attrs={"GlideinEntryName": "E1"})
        seen: collections.Counter[int] = collections.Counter()
        most_running = 0

        def all_done() -> bool:
            nonlocal most_running
            now = collections.Counter(states(schedd, f"ClusterId == {cluster}").values())
            seen.update(now.keys())
            most_running = max(most_running, now[JobStatus.RUNNING])
            return now[JobStatus.COMPLETED] == 50

        wait_for(all_done, timeout=30, step=0.05)
        assert {JobStatus.IDLE, JobStatus.RUNNING, JobStatus.COMPLETED} <= set(seen)
        assert 1 <= most_running <= 4
        done = schedd.query('GlideinEntryName == "E1"', ["ExitCode", "Owner"])
        assert len(done) == 50 and {ad["ExitCode"] for ad in done} == {0}
        assert {ad["Owner"] for ad in done} == {FACTORY_IDENTITY.split("@")[0]}


def test_hold_release_remove_by_id_and_constraint(tmp_path):
    with running_pool(tmp_path / "pool", "--slots", "4") as pool:
        schedd = EmbeddedSchedd(pool.address, pool.token())
        cluster = schedd.submit(sleeper(60), count=3, attrs={"GlideinClient": "fe.g"})
        ids = [f"{cluster}.{proc}" for proc in range(3)]
        wait_for(lambda: set(states(schedd).values()) == {JobStatus.RUNNING})
        assert schedd.act(JobAction.HOLD, [ids[0]], reason="testing hold") == 1
        (held,) = schedd.query(
            f"ClusterId == {cluster} && ProcId == 0", ["JobStatus", "HoldReason"]
        )
        assert (held["JobStatus"], held["HoldReason"]) == (JobStatus.HELD, "testing hold")
        assert schedd.act(JobAction.RELEASE, [ids[0]]) == 1
        assert states(schedd)[ids[0]] in (JobStatus.IDLE, JobStatus.RUNNING)
        assert schedd.act(JobAction.REMOVE, 'GlideinClient == "fe.g"') == 3
        wait_for(lambda: set(states(schedd).values()) == {JobStatus.REMOVED})
        with pytest.raises(PoolError, match="needs a token"):
            EmbeddedSchedd(pool.address).act(JobAction.REMOVE, "true")
        with pytest.raises(PoolError, match="400"):
            schedd.act(JobAction.HOLD, ["not-an-id"])


def test_forcex_drops_a_removed_job_at_once_and_nothing_else(tmp_path):
    """RemoveX (`condor_rm -forcex`) acts only on jobs already in X; those leave the queue
    without the linger a plain removal keeps them for, their process killed."""
    with running_pool(tmp_path / "pool", "--slots", "4") as pool:
        schedd = EmbeddedSchedd(pool.address, pool.token())
        cluster = schedd.submit(sleeper(60), count=3)
        ids = [f"{cluster}.{proc}" for proc in range(3)]
        wait_for(lambda: set(states(schedd).values()) == {JobStatus.RUNNING})
        assert schedd.act(JobAction.REMOVE_X, ids[:2]) == 0  # not removed yet: untouched
        assert set(states(schedd).values()) == {JobStatus.RUNNING}
        assert schedd.act(JobAction.REMOVE, ids[:2], "stuck") == 2
        assert [states(schedd)[i] for i in ids[:2]] == [JobStatus.REMOVED] * 2  # X lingers
        assert schedd.act(JobAction.REMOVE_X, ids) == 2
        assert states(schedd) == {ids[2]: JobStatus.RUNNING}


def test_kill_9_and_restart_keep_every_acknowledged_change(tmp_path):
    state_dir = tmp_path / "pool"
    pool = start_daemon(state_dir, "--slots", "2")
    try:
        schedd = EmbeddedSchedd(pool.address, pool.token())
        clusters = [schedd.submit(sleeper(60), count=3, attrs={"Batch": i}) for i in range(8)]
        schedd.act(JobAction.HOLD, [f"{clusters[1]}.1"], reason="kept on hold")
        schedd.act(JobAction.REMOVE, [f"{clusters[2]}"])
        last = schedd.submit(sleeper(60), count=1)
        before = states(schedd)
        pool.process.send_signal(signal.SIGKILL)  # right after the last acknowledged call
        pool.process.wait(10)
        stop_daemon(pool)

        pool = start_daemon(state_dir, "--slots", "2")
        schedd = EmbeddedSchedd(pool.address, pool.token())
        after = states(schedd)
        assert set(after) == set(before)
        assert after[f"{clusters[1]}.1"] == JobStatus.HELD
        # A removed job leaves the queue once its process is gone (as a real schedd does);
        # until then it is REMOVED. Either way it never comes back.
        removed = [f"{clusters[2]}.{p}" for p in range(3)]
        assert {after.get(job, JobStatus.REMOVED) for job in removed} == {JobStatus.REMOVED}
        unchanged = {k: v for k, v in before.items() if v in (JobStatus.HELD, JobStatus.REMOVED)}
        assert all(after[k] == v for k, v in unchanged.items())
        assert schedd.submit(sleeper(1)) > last  # cluster ids are not reused
        schedd.act(JobAction.REMOVE, "true")
        wait_for(lambda: JobStatus.RUNNING not in states(schedd).values())
    finally:
        stop_daemon(pool)
