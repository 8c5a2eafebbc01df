"""Completed glideins come from the Condor-G activity log, not from the queue: the embedded
schedd drops a finished job at once (as a real one does) unless LeaveJobInQueue is true, and
the entry reads the terminated/aborted events with htcondor2.JobEventLog plus the `.out`."""

from __future__ import annotations

import os
import pathlib

from test_schedd_support import running_core, script, status
from waiting import wait_for

from glideinwms_factory.entry.client_logs import DAY, prune_entry_logs
from glideinwms_factory.entry.completed import CompletedTracker
from glideinwms_factory.lib.pool import JobAction
from glideinwms_factory.lib.pool.embedded.schedd_core import ScheddCore

STATS_OUT = """=== Condor starting Fri (1000) ===
=== Condor ended Fri (1100) after 100 ===
=== Stats of main ===
(Real) Total jobs 2 utilization 90
(Normalized) Total goodZ jobs 1  (50%) utilization 60 (66%)
(Normalized) Total goodNZ jobs 1  (50%) utilization 30 (33%)
=== End Stats of main ===
Total number of activations/claims: 2
"""


def submit(
    core: ScheddCore, client_dir: pathlib.Path, name: str, body: str, leave: bool = False
) -> str:
    """One glidein-like job logging to the client's activity log, output next to it."""
    exe = script(client_dir, name, body)
    text = (
        f"executable = {exe}\ninitialdir = {client_dir}\n"
        f"log = {client_dir}/condor_activity_20261204_fe1.main.log\n"
        "output = job.$(Cluster).$(Process).out\nerror = job.$(Cluster).$(Process).err\n"
        f"leave_in_queue = {'true' if leave else 'false'}\n"
    )
    return f"{core.submit(text)}.0"


def test_completions_come_from_the_activity_log_once_each(tmp_path: pathlib.Path) -> None:
    client_log = tmp_path / "client_log"
    client_dir = client_log / "user_vofe" / "glidein_g1" / "entry_e1"
    client_dir.mkdir(parents=True)
    state = tmp_path / "entry_e1" / "completed_ids.json"
    tracker = CompletedTracker(state, client_log, "g1", "e1")
    rows = [{"GlideinClient": "fe1.main", "GlideinFrontendName": "fe1:main"}]
    with running_core(tmp_path / "schedd", linger=0.0) as core:
        done = submit(core, client_dir, "done.sh", f"cat <<'EOF'\n{STATS_OUT}EOF\n")
        kept = submit(core, client_dir, "kept.sh", "exit 0\n", leave=True)
        removed = submit(core, client_dir, "removed.sh", "sleep 60\n")
        wait_for(lambda: status(core, removed) == 2, 20, "the third glidein running")
        core.act(JobAction.REMOVE, [removed], "test")
        wait_for(lambda: status(core, done) is None, 20, "the finished job leaving the queue")
        wait_for(lambda: status(core, removed) is None, 20, "the removed job leaving the queue")
        assert status(core, kept) == 4  # LeaveJobInQueue keeps it queryable, Completed
        found = wait_for(lambda: tracker.new_completions(rows), 20, "completions in the log")
        while len(found) < 3:
            found += wait_for(lambda: tracker.new_completions([]), 20, "the other completions")
    by_id = {glidein.job_id: glidein for glidein in found}
    assert set(by_id) == {done, kept, removed}
    worked = by_id[done]
    assert (worked.client, worked.username) == ("fe1_main", "vofe")
    assert worked.condor_started and worked.condor_duration == 100
    assert (worked.jobs_nr, worked.goodput, worked.jobs_terminated) == (2, 60, 90)
    assert worked.terminated > 0 and 0 <= worked.duration < 60
    assert not by_id[removed].condor_started  # aborted before HTCondor said anything
    assert tracker.new_completions([]) == []  # each once
    written = state.stat()
    assert tracker.new_completions(rows) == []
    assert state.stat().st_ino == written.st_ino  # nothing new: the state is not rewritten
    assert CompletedTracker(state, client_log, "g1", "e1").new_completions([]) == []  # restart


RETENTION = {
    "JobLogRetentionMaxDays": "7", "JobLogRetentionMinDays": "2", "JobLogRetentionMaxMBs": "100",
    "CondorLogRetentionMaxDays": "14", "CondorLogRetentionMinDays": "3",
    "CondorLogRetentionMaxMBs": "0.001",  # ~1 KB: the size rule, once past min_days
    "SummaryLogRetentionMaxDays": "31", "SummaryLogRetentionMinDays": "3",
    "SummaryLogRetentionMaxMBs": "100",
}  # fmt: skip


def test_client_logs_and_summaries_are_pruned_after_their_retention(tmp_path: pathlib.Path) -> None:
    client_dir = tmp_path / "client_log" / "user_vofe" / "glidein_g1" / "entry_e1"
    other_entry = tmp_path / "client_log" / "user_vofe" / "glidein_g1" / "entry_e2"
    summaries = tmp_path / "log" / "entry_e1"
    now = 1_800_000_000.0
    ages = {  # file -> (age in days, size)
        client_dir / "job.1.0.out": (8, 10), client_dir / "job.1.0.err": (8, 10),
        client_dir / "job.2.0.out": (6, 10),
        client_dir / "condor_activity_20261101_fe.log": (15, 10),
        client_dir / "condor_activity_20261120_fe.log": (4, 800),  # over 1 KB together: oldest
        client_dir / "condor_activity_20261122_fe.log": (2, 800),  # too young for the size rule
        summaries / "completed_jobs_20261001.log": (40, 10),
        summaries / "completed_jobs_20261120.log": (10, 10),
        other_entry / "job.9.0.out": (30, 10),  # another entry's, not this one's to prune
    }  # fmt: skip
    for path, (days, size) in ages.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
        os.utime(path, (now - days * DAY, now - days * DAY))
    removed = prune_entry_logs(RETENTION, tmp_path / "client_log", summaries, "g1", "e1", now)
    kept = {path.name for path in ages if path.exists()}
    assert kept == {"job.2.0.out", "condor_activity_20261122_fe.log", "completed_jobs_20261120.log",
                    "job.9.0.out"}  # fmt: skip
    assert removed == 5
    # Without retention values in glidein.descript nothing is removed.
    assert prune_entry_logs({}, tmp_path / "client_log", summaries, "g1", "e1", now + 1e9) == 0


def test_the_first_reading_after_the_queue_based_tracker_only_takes_note(
    tmp_path: pathlib.Path,
) -> None:
    client_log = tmp_path / "client_log"
    client_dir = client_log / "user_vofe" / "glidein_g1" / "entry_e1"
    client_dir.mkdir(parents=True)
    state = tmp_path / "completed_ids.json"
    state.write_text('["1.0"]')  # what the queue-based tracker saved
    with running_core(tmp_path / "schedd", linger=0.0) as core:
        old = submit(core, client_dir, "old.sh", "exit 0\n")
        log = client_dir / "condor_activity_20261204_fe1.main.log"
        wait_for(lambda: log.exists() and "Job terminated" in log.read_text(), 20, "the old end")
        tracker = CompletedTracker(state, client_log, "g1", "e1")
        assert tracker.new_completions([]) == []  # reported before the upgrade
        new = submit(core, client_dir, "new.sh", "exit 0\n")
        found = wait_for(lambda: tracker.new_completions([]), 20, "the new completion")
    assert [glidein.job_id for glidein in found] == [new] and old != new
