"""Jobs really run as local process groups: slot limits, hold/release/remove, policy, user log."""

import os
import pathlib
import threading

import htcondor2
import pytest
from test_schedd_support import (
    description,
    job,
    process_alive,
    running_core,
    script,
    status,
)
from waiting import wait_for

from glideinwms_factory.lib.pool import JobAction, JobStatus
from glideinwms_factory.lib.pool.embedded import runas

IDLE, RUNNING, REMOVED, COMPLETED, HELD = (
    JobStatus.IDLE,
    JobStatus.RUNNING,
    JobStatus.REMOVED,
    JobStatus.COMPLETED,
    JobStatus.HELD,
)


def test_fifty_jobs_with_four_slots_run_to_completion(tmp_path: pathlib.Path) -> None:
    exe = script(
        tmp_path, "job.sh", 'echo "$1 $_CONDOR_SCRATCH_DIR $(pwd) $TMPDIR"; sleep 0.1; exit 7\n'
    )
    text = description(
        exe,
        universe="grid",
        grid_resource="condor ce.example.org ce.example.org:9619",
        arguments='"$(Cluster).$(Process)"',
        output="out.$(Process)",
        log="fifty.log",
    )
    with running_core(tmp_path / "state", slots=4) as core:
        execute_dir = core.execute_dir
        cluster = core.submit(text, count=50)
        seen_states: set[tuple[int, str]] = set()
        max_running = 0

        def all_completed() -> bool:
            nonlocal max_running
            ads = core.query("true", ["JobStatus", "GridJobStatus"])
            for ad in ads:
                seen_states.add((ad["JobStatus"], ad["GridJobStatus"]))
            max_running = max(max_running, sum(ad["JobStatus"] == RUNNING for ad in ads))
            return len(ads) == 50 and all(ad["JobStatus"] == COMPLETED for ad in ads)

        wait_for(all_completed, timeout=30, what="50 jobs completed")
        assert max_running == 4
        assert {(1, "IDLE"), (2, "RUNNING"), (4, "COMPLETED")} <= seen_states
        done = job(core, f"{cluster}.49", "ExitCode", "NumJobStarts", "CompletionDate")
        assert done["ExitCode"] == 7 and done["NumJobStarts"] == 1 and done["CompletionDate"] > 0
    # The user log is written in event order: replaying it gives the exact concurrency.
    running = peak = 0
    for event in htcondor2.JobEventLog(str(tmp_path / "fifty.log")).events(stop_after=0):
        running += {1: 1, 5: -1}.get(int(event.type), 0)
        peak = max(peak, running)
    assert peak == 4 and running == 0
    first, scratch, cwd, tmpdir = (tmp_path / "out.49").read_text().split()
    assert first == f"{cluster}.49"
    assert scratch == cwd == tmpdir and scratch.startswith(str(execute_dir))
    assert not pathlib.Path(scratch).exists(), "scratch dir is cleaned after the job"


def test_slot_limit_is_per_site(tmp_path: pathlib.Path, shared: pathlib.Path) -> None:
    exe = script(tmp_path, "wait.sh", f"while [ ! -e {shared}/go ]; do sleep 0.05; done\n")
    with running_core(tmp_path / "state", slots=2) as core:
        for ce in ("a", "b"):
            core.submit(
                description(exe, universe="grid", grid_resource=f"condor {ce} {ce}:9619"), count=4
            )
        core.submit(description(exe), count=3)

        def running_per_site() -> dict[str, int] | None:
            ads = core.query("JobStatus == 2", ["GridResource"])
            counts: dict[str, int] = {}
            for ad in ads:
                site = ad.get("GridResource", "local")
                counts[site] = counts.get(site, 0) + 1
            return counts if len(ads) == 6 else None

        counts = wait_for(running_per_site, what="two jobs running per site")
        assert counts == {"condor a a:9619": 2, "condor b b:9619": 2, "local": 2}
        (shared / "go").touch()
        wait_for(lambda: len(core.query("JobStatus == 4")) == 11, timeout=20, what="all done")


def test_arguments_environment_and_input_files_reach_the_job(tmp_path: pathlib.Path) -> None:
    exe = script(
        tmp_path,
        "show.sh",
        'for a in "$@"; do echo "arg<$a>"; done\necho "A<$A> B<$B>"; cat input.txt; ls\n',
    )
    (tmp_path / "input.txt").write_text("payload\n")
    text = description(
        exe,
        arguments="\"one 'two three' 'it''s'\"",
        environment="\"A=1 B='x y'\"",
        transfer_input_files="input.txt",
        output="show.out",
        error="show.err",
    )
    with running_core(tmp_path / "state") as core:
        cluster = core.submit(text)
        wait_for(lambda: status(core, f"{cluster}.0") == COMPLETED, what="job done")
    lines = (tmp_path / "show.out").read_text().splitlines()
    assert lines[:5] == ["arg<one>", "arg<two three>", "arg<it's>", "A<1> B<x y>", "payload"]
    assert sorted(lines[5:]) == ["input.txt", "show.sh"]
    assert (tmp_path / "show.out").stat().st_mode & 0o077 == 0


def _spawning_job(tmp_path: pathlib.Path, shared: pathlib.Path) -> pathlib.Path:
    # The job starts a child that ignores SIGTERM (so only the SIGKILL escalation ends it),
    # records both pids, then waits.
    return script(
        tmp_path,
        "spawn.sh",
        "sh -c 'trap \"\" TERM; while :; do sleep 0.05; done' &\n"
        f'echo "$$ $!" > "{shared}/pids.$1.tmp"; mv "{shared}/pids.$1.tmp" "{shared}/pids.$1"\n'
        "wait\n",
    )


def _pids(directory: pathlib.Path, tag: str) -> list[int]:
    path = directory / f"pids.{tag}"
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_hold_release_remove_kill_the_whole_process_group(
    tmp_path: pathlib.Path, shared: pathlib.Path
) -> None:
    exe = _spawning_job(tmp_path, shared)
    with running_core(tmp_path / "state") as core:
        cluster = core.submit(description(exe, arguments="$(Process)"), count=2)
        held_id, removed_id = f"{cluster}.0", f"{cluster}.1"
        pids_held = wait_for(lambda: _pids(shared, "0"), what="job 0 started")
        pids_removed = wait_for(lambda: _pids(shared, "1"), what="job 1 started")
        assert all(process_alive(p) for p in pids_held + pids_removed)

        assert core.act(JobAction.HOLD, [held_id], reason="admin says stop") == 1
        held = job(core, held_id, "JobStatus", "HoldReason", "HoldReasonCode", "NumSystemHolds")
        assert held == {
            "JobStatus": HELD,
            "HoldReason": "admin says stop",
            "HoldReasonCode": 1,
            "NumSystemHolds": 0,
        }
        assert core.act(JobAction.HOLD, [held_id]) == 0, "already held"
        wait_for(lambda: not any(map(process_alive, pids_held)), what="held job's group dead")

        assert core.act(JobAction.REMOVE, f"ClusterId == {cluster} && ProcId == 1") == 1
        assert job(core, removed_id, "JobStatus", "RemoveReason") == {
            "JobStatus": REMOVED,
            "RemoveReason": "via condor_rm",
        }
        wait_for(lambda: not any(map(process_alive, pids_removed)), what="removed group dead")

        (shared / "pids.0").unlink()
        assert core.act(JobAction.RELEASE, [str(cluster)]) == 1, "only the held job"
        wait_for(lambda: _pids(shared, "0"), what="released job runs again")
        again = job(core, held_id, "JobStatus", "NumJobStarts", "HoldReasonCode")
        assert again == {"JobStatus": RUNNING, "NumJobStarts": 2}

        assert core.act(JobAction.HOLD, [held_id], "glidein stuck", hold_code=42, hold_subcode=7)
        system = job(core, held_id, "HoldReasonCode", "HoldReasonSubCode", "NumSystemHolds")
        assert system == {"HoldReasonCode": 42, "HoldReasonSubCode": 7, "NumSystemHolds": 1}


def test_periodic_policy_expressions(tmp_path: pathlib.Path) -> None:
    exe = script(tmp_path, "long.sh", "while :; do sleep 0.05; done\n")
    with running_core(tmp_path / "state") as core:
        cycling = core.submit(
            description(
                exe,
                periodic_hold="JobStatus == 2",
                periodic_release="NumJobStarts < 2",
            )
        )
        doomed = core.submit(
            description(exe, periodic_remove="JobStatus == 2 && NumJobStarts >= 1")
        )

        def held_twice() -> dict | None:
            info = job(core, f"{cycling}.0", "JobStatus", "NumJobStarts", "NumSystemHolds")
            return info if info.get("NumSystemHolds") == 2 else None

        info = wait_for(held_twice, what="hold, release, run, hold again")
        assert info == {"JobStatus": HELD, "NumJobStarts": 2, "NumSystemHolds": 2}
        assert job(core, f"{cycling}.0", "HoldReasonCode")["HoldReasonCode"] == 3
        wait_for(lambda: status(core, f"{doomed}.0") == REMOVED, what="periodic remove")
        reason = job(core, f"{doomed}.0", "RemoveReason")["RemoveReason"]
        assert "PeriodicRemove" in reason


def test_user_log_reads_back_with_htcondor_bindings(tmp_path: pathlib.Path) -> None:
    quick = script(tmp_path, "quick.sh", "exit 3\n")
    slow = script(tmp_path, "slow.sh", "while :; do sleep 0.05; done\n")
    with running_core(tmp_path / "state") as core:
        done = core.submit(description(quick, log="user.log"))
        cycled = core.submit(description(slow, log="user.log"))
        wait_for(lambda: status(core, f"{done}.0") == COMPLETED, what="quick job done")
        wait_for(lambda: status(core, f"{cycled}.0") == RUNNING, what="slow job running")
        core.act(JobAction.HOLD, [f"{cycled}.0"], "pause")
        core.act(JobAction.RELEASE, [f"{cycled}.0"], "resume")
        wait_for(lambda: job(core, f"{cycled}.0", "NumJobStarts")["NumJobStarts"] == 2)
        core.act(JobAction.REMOVE, [f"{cycled}.0"], "enough")
    events = list(htcondor2.JobEventLog(str(tmp_path / "user.log")).events(stop_after=0))
    by_job: dict[int, list[int]] = {}
    for event in events:
        by_job.setdefault(event.cluster, []).append(int(event.type))
    assert by_job[done] == [0, 1, 5]
    assert by_job[cycled] == [0, 1, 12, 13, 1, 9]
    terminated = next(e for e in events if e.cluster == done and int(e.type) == 5)
    assert terminated["ReturnValue"] == 3 and terminated["TerminatedNormally"] is True
    held = next(e for e in events if int(e.type) == 12)
    assert held["HoldReason"] == "pause" and held["HoldReasonCode"] == 1


def test_job_that_cannot_start_is_held_not_lost(tmp_path: pathlib.Path) -> None:
    exe = script(tmp_path, "ok.sh", "exit 0\n")
    with running_core(tmp_path / "state") as core:
        cluster = core.submit(description(exe, transfer_input_files="missing.txt"))
        wait_for(lambda: status(core, f"{cluster}.0") == HELD, what="start failure hold")
        info = job(core, f"{cluster}.0", "HoldReasonCode", "HoldReason", "NumSystemHolds")
        assert info["HoldReasonCode"] == 13 and info["NumSystemHolds"] == 1
        assert "missing.txt" in info["HoldReason"]


def test_bad_requests_raise_value_error(tmp_path: pathlib.Path) -> None:
    exe = script(tmp_path, "ok.sh", "exit 0\n")
    with running_core(tmp_path / "state") as core:
        with pytest.raises(ValueError, match="does not exist"):
            core.submit(description(tmp_path / "nope.sh"))
        with pytest.raises(ValueError, match="directory of log"):
            core.submit(description(exe, log="no/such/dir/x.log"))
        with pytest.raises(ValueError, match="count"):
            core.submit(description(exe), count=-1)
        with pytest.raises(ValueError, match="constraint does not parse"):
            core.query("JobStatus ==")
        with pytest.raises(ValueError, match="bad job id"):
            core.act(JobAction.REMOVE, ["1.x"])
        with pytest.raises(ValueError, match="unknown action"):
            core.act("explode", ["1.0"])  # type: ignore[arg-type]
        assert core.query() == [], "refused submissions queue nothing"


def test_concurrent_submitters_get_distinct_clusters(tmp_path: pathlib.Path) -> None:
    exe = script(tmp_path, "ok.sh", "exit 0\n")
    clusters: list[int] = []
    with running_core(tmp_path / "state") as core:

        def submit_some() -> None:
            for _ in range(10):
                clusters.append(core.submit(description(exe), count=2))

        threads = [threading.Thread(target=submit_some) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(clusters)) == 40
        assert len(core.query("true", ["ClusterId"])) == 80
    assert os.path.isdir(tmp_path / "state")


JOB_CONDOR = """Universe = grid
Grid_Resource = condor ce.example.org ce.example.org:9619
Executable = glidein_startup.sh
Arguments = $ENV(GLIDEIN_ARGUMENTS)
Transfer_Executable = True
environment = "IDTOKENS_FILE=$ENV(IDTOKENS_FILE:) JOB_TOKENS='a b'"
transfer_Input_files = $ENV(IDTOKENS_FILE:)
+GlideinFactory = "$ENV(FACTORY_NAME)"
+GlideinName = "$ENV(GLIDEIN_NAME)"
+GlideinEntryName = "$ENV(GLIDEIN_ENTRY_NAME)"
+GlideinClient = "$ENV(GLIDEIN_CLIENT)"
+GlideinCredentialIdentifier = "$ENV(GLIDEIN_CREDENTIAL_ID)"
+GlideinMaxWalltime = 7200
+Owner = undefined
periodic_remove = (JobStatus == 1) && (time() - QDate > $ENV(GLIDEIN_IDLE_LIFETIME))
LeaveJobInQueue = false
Log = log/condor_activity_$ENV(GLIDEIN_LOGNR)_$ENV(GLIDEIN_CLIENT).log
Output = log/job.$(Cluster).$(Process).out
Error = log/job.$(Cluster).$(Process).err
Queue $ENV(GLIDEIN_COUNT)
"""


def test_factory_job_condor_with_submitter_environment(tmp_path: pathlib.Path) -> None:
    script(tmp_path, "glidein_startup.sh", 'echo "$@"; echo "$IDTOKENS_FILE"; cat tok\n')
    (tmp_path / "log").mkdir()
    (tmp_path / "tok").write_text("token-bytes\n")
    env = {
        "GLIDEIN_ARGUMENTS": "-v std -name gfactory -entry e1 -clientname fe-1",
        "IDTOKENS_FILE": "tok",
        "FACTORY_NAME": "fact",
        "GLIDEIN_NAME": "gwms",
        "GLIDEIN_ENTRY_NAME": "e1",
        "GLIDEIN_CLIENT": "fe-1",
        "GLIDEIN_CREDENTIAL_ID": "cred",
        "GLIDEIN_IDLE_LIFETIME": "3600",
        "GLIDEIN_LOGNR": "20261122",
        "GLIDEIN_COUNT": "3",
    }
    text = f"initialdir = {tmp_path}\n" + JOB_CONDOR
    with running_core(tmp_path / "state") as core:
        cluster = core.submit(text, count=0, env=env, owner="factory")
        constraint = (
            '(GlideinFactory =?= "fact") && (GlideinName =?= "gwms") && '
            '(GlideinEntryName =?= "e1") && (GlideinCredentialIdentifier =!= UNDEFINED)'
        )
        wait_for(lambda: len(core.query(constraint + " && JobStatus == 4")) == 3)
        ads = core.query(constraint, ["Owner", "GlideinClient", "ExitCode", "UserLog"])
    assert [ad["Owner"] for ad in ads] == ["factory"] * 3, "+Owner cannot override the owner"
    assert {ad["UserLog"] for ad in ads} == {f"{tmp_path}/log/condor_activity_20261122_fe-1.log"}
    out = (tmp_path / "log" / f"job.{cluster}.2.out").read_text().splitlines()
    assert out == [env["GLIDEIN_ARGUMENTS"], "tok", "token-bytes"]


@pytest.mark.skipif(os.geteuid() != 0, reason="only a root pool switches jobs to the job user")
def test_a_job_runs_unprivileged_and_cannot_read_the_factorys_key(
    tmp_path: pathlib.Path, shared: pathlib.Path
) -> None:
    """A glidein runs a Frontend's code: the factory's key must be out of its reach."""
    key = tmp_path / "rsa.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\nsecret\n")
    key.chmod(0o600)
    proxy = tmp_path / "proxy.pem"
    proxy.write_text("the glidein's own credential\n")
    proxy.chmod(0o600)
    exe = script(
        tmp_path,
        "peek.sh",
        f'id -u > "{shared}/uid"\n'
        f'cat "{key}" > "{shared}/stolen" 2>&1; echo "key:$?" > "{shared}/rc"\n'
        f'cat "$_CONDOR_SCRATCH_DIR/proxy.pem" > "{shared}/proxy"\n'
        f'touch "$_CONDOR_SCRATCH_DIR/mine" && echo ok > "{shared}/scratch"\n',
    )
    text = description(exe, x509userproxy=str(proxy))
    with running_core(tmp_path / "state") as core:
        cluster = core.submit(text)
        wait_for(lambda: status(core, f"{cluster}.0") == COMPLETED, what="job done")
    uid = int((shared / "uid").read_text())
    assert uid != 0 and uid == runas.job_user().uid
    assert (shared / "rc").read_text().strip() != "key:0"
    assert "secret" not in (shared / "stolen").read_text()
    assert (shared / "proxy").read_text() == "the glidein's own credential\n"
    assert (shared / "scratch").read_text() == "ok\n"
