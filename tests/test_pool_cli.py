"""`gwms-pool` as a user runs it: real processes, a real detached daemon."""

from __future__ import annotations

import json
import os
import signal
import stat

import pytest
from pool_testlib import run_cli
from waiting import wait_for

from glideinwms_factory.lib.pool.embedded.auth import FACTORY_IDENTITY

ADS = """MyType = "glidefactory"
Name = "e1@g@f"
GlideinMyType = "glidefactory"
AuthenticatedIdentity = "someone@else"
GLIDEIN_CPUS = 8

MyType = "glidefactory"
Name = "e2@g@f"
GlideinMyType = "glidefactory"
GLIDEIN_CPUS = 1
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    """A daemon started by `gwms-pool start`, with a token file; stopped at the end."""
    state_dir = tmp_path_factory.mktemp("cli") / "pool"
    started = run_cli("start", "--state-dir", str(state_dir), "--port", "0")
    assert started.returncode == 0, started.stderr
    address = started.stdout.strip()
    token = state_dir.parent / "token"
    created = run_cli(
        "token",
        "create",
        "--state-dir",
        str(state_dir),
        "--identity",
        FACTORY_IDENTITY,  # the factory's ads and its schedd take only the factory's token
        "--output",
        str(token),
    )
    assert created.returncode == 0, created.stderr
    yield state_dir, address, token
    assert run_cli("stop", "--state-dir", str(state_dir)).returncode == 0


def test_start_status_stop_lifecycle(tmp_path):
    state_dir = str(tmp_path / "pool")
    started = run_cli("start", "--state-dir", state_dir, "--port", "0")
    assert started.returncode == 0 and ":" in started.stdout
    address = started.stdout.strip()
    assert (tmp_path / "pool" / "pool.address").read_text().strip() == address
    status = run_cli("status", "--state-dir", state_dir)
    assert (status.returncode, status.stdout.strip()) == (0, address)
    again = run_cli("start", "--state-dir", state_dir)  # already running: same daemon
    assert again.stdout.strip() == address
    assert run_cli("stop", "--state-dir", state_dir).returncode == 0
    stopped = run_cli("status", "--state-dir", state_dir)
    assert stopped.returncode == 1 and stopped.stdout == ""
    assert "pool daemon stopped" in (tmp_path / "pool" / "pool.log").read_text()


def test_start_on_a_busy_port_fails_in_one_line(daemon, tmp_path):
    _, address, _ = daemon
    busy = run_cli("start", "--state-dir", str(tmp_path / "other"), "--port", address.split(":")[1])
    assert busy.returncode == 1
    assert busy.stderr.count("\n") == 1 and "Address already in use" in busy.stderr


def test_start_with_a_corrupt_secret_fails_in_one_line(tmp_path):
    state_dir = tmp_path / "pool"
    state_dir.mkdir()
    (state_dir / "pool_secret").write_bytes(b"\xff\xfe not a secret\n")
    os.chmod(state_dir / "pool_secret", 0o600)
    started = run_cli("start", "--state-dir", str(state_dir), "--port", "0")
    assert started.returncode == 1
    assert started.stderr.count("\n") == 1 and "does not hold a hex secret" in started.stderr


def test_token_file_is_private(daemon):
    _, _, token = daemon
    assert stat.S_IMODE(os.stat(token).st_mode) == 0o600
    printed = run_cli("token", "create", "--state-dir", str(daemon[0]), "--identity", "a@b")
    assert printed.returncode == 0 and printed.stdout.count(".") == 2


def test_advertise_file_then_query_af_long_json(daemon, tmp_path):
    state_dir, address, token = daemon
    ads = tmp_path / "ads"
    ads.write_text(ADS)
    single = run_cli(
        "advertise", "--pool", address, "--token", str(token), "UPDATE_AD_GENERIC", str(ads)
    )
    assert single.returncode == 1 and "-multiple" in single.stderr
    sent = run_cli(
        "advertise",
        "--pool",
        address,
        "--token",
        str(token),
        "-multiple",
        "UPDATE_AD_GENERIC",
        str(ads),
    )
    assert sent.returncode == 0, sent.stderr

    af = run_cli(
        "query",
        "--pool",
        address,
        "-constraint",
        'GlideinMyType == "glidefactory"',
        "-af",
        "Name",
        "GLIDEIN_CPUS",
        "AuthenticatedIdentity",
        "Missing",
    )
    assert sorted(af.stdout.splitlines()) == [
        f"e1@g@f 8 {FACTORY_IDENTITY} undefined",
        f"e2@g@f 1 {FACTORY_IDENTITY} undefined",
    ]
    long = run_cli(
        "query", "--state-dir", str(state_dir), "-constraint", 'Name == "e1@g@f"', "-long"
    )
    assert (
        "GLIDEIN_CPUS = 8" in long.stdout
        and f'AuthenticatedIdentity = "{FACTORY_IDENTITY}"' in long.stdout
    )
    as_json = run_cli(
        "query", "-constraint", "GLIDEIN_CPUS > 4", "-json", env={"GWMS_POOL": address}
    )
    assert [ad["Name"] for ad in json.loads(as_json.stdout)] == ["e1@g@f"]
    table = run_cli("query", "--pool", address)
    assert table.stdout.splitlines()[0].split() == ["MyType", "Name", "AuthenticatedIdentity"]
    assert "e2@g@f" in table.stdout

    query_ad = tmp_path / "invalidate"
    query_ad.write_text(
        'MyType = "Query"\nTargetType = "glidefactory"\nRequirements = Name == "e2@g@f"\n'
    )
    gone = run_cli(
        "advertise",
        "--pool",
        address,
        "--token",
        str(token),
        "INVALIDATE_ADS_GENERIC",
        str(query_ad),
    )
    assert gone.returncode == 0, gone.stderr
    left = run_cli(
        "query", "--pool", address, "-constraint", 'GlideinMyType == "glidefactory"', "-af", "Name"
    )
    assert left.stdout.split() == ["e1@g@f"]


def test_submit_q_hold_release_rm(daemon, tmp_path):
    _, address, token = daemon
    submit = tmp_path / "job.sub"
    submit.write_text(
        'executable = /bin/sleep\narguments = 60\n+GlideinEntryName = "E9"\nqueue 2\n'
    )
    queued = run_cli("submit", "--pool", address, "--token", str(token), str(submit))
    assert queued.returncode == 0, queued.stderr
    cluster = queued.stdout.split()[-1]

    def statuses() -> list[str]:
        out = run_cli(
            "q", "--pool", address, "-constraint", 'GlideinEntryName == "E9"', "-af", "JobStatus"
        )
        return out.stdout.split()

    wait_for(lambda: statuses() == ["2", "2"])
    table = run_cli("q", "--pool", address, "-nobatch").stdout.splitlines()
    assert table[3].split()[:5] == ["ID", "OWNER", "SUBMITTED", "RUN_TIME", "ST"]
    assert table[4].split()[0] == f"{cluster}.0"
    held = run_cli(
        "hold", "--pool", address, "--token", str(token), f"{cluster}.0", "-reason", "cli test"
    )
    assert (held.returncode, held.stdout.strip()) == (0, "hold: 1 job(s)")
    assert sorted(statuses()) == ["2", "5"]
    reason = run_cli("q", "--pool", address, "-constraint", "JobStatus == 5", "-json")
    assert json.loads(reason.stdout)[0]["HoldReason"] == "cli test"
    assert (
        run_cli("release", "--pool", address, "--token", str(token), f"{cluster}.0").returncode == 0
    )
    removed = run_cli(
        "rm", "--pool", address, "--token", str(token), "-constraint", 'GlideinEntryName == "E9"'
    )
    assert removed.stdout.strip() == "remove: 2 job(s)"
    wait_for(lambda: statuses() == ["3", "3"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["advertise", "--token", "/nonexistent/token", "UPDATE_AD_GENERIC", "/dev/null"],
            "cannot read token file",
        ),
        (
            ["advertise", "--token", "{token}", "UPDATE_AD_GENERIC", "{bad_ad}"],
            "not an 'Attr = value' line",
        ),
        (
            ["advertise", "--token", "{bad_token}", "UPDATE_AD_GENERIC", "{good_ad}"],
            "401 bad token",
        ),
        (["query", "-constraint", "(((("], "does not parse"),
        (["rm", "--token", "{token}"], "give job ids"),
        (["submit", "--token", "{token}", "{bad_ad}"], "400"),
        (["token", "create", "--state-dir", "{tmp}", "--identity", "no-domain"], "bad identity"),
    ],
)
def test_bad_input_exits_1_with_one_line(daemon, tmp_path, args, message):
    _, address, token = daemon
    (tmp_path / "bad").write_text("this is not a classad\n")
    (tmp_path / "good").write_text('MyType = "t"\nName = "n"\n')
    (tmp_path / "badtoken").write_text("a.b.c\n")
    values = {
        "token": str(token),
        "bad_ad": str(tmp_path / "bad"),
        "good_ad": str(tmp_path / "good"),
        "bad_token": str(tmp_path / "badtoken"),
        "tmp": str(tmp_path),
    }
    result = run_cli(*[a.format(**values) for a in args], env={"GWMS_POOL": address})
    assert result.returncode == 1
    assert result.stderr.startswith("gwms-pool: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr


def test_usage_errors_exit_2_without_traceback():
    for args in (
        ["frobnicate"],
        ["query", "-af"],
        ["advertise", "--token", "t", "UPDATE_NOTHING", "f"],
    ):
        result = run_cli(*args)
        assert result.returncode == 2 and "Traceback" not in result.stderr


def test_stale_files_after_kill_9_do_not_fool_status_or_start(tmp_path):
    state_dir = str(tmp_path / "pool")
    first = run_cli("start", "--state-dir", state_dir, "--port", "0").stdout.strip()
    pid = int((tmp_path / "pool" / "pool.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: run_cli("status", "--state-dir", state_dir).returncode == 1)
    assert (tmp_path / "pool" / "pool.address").read_text().strip() == first  # stale, ignored
    second = run_cli("start", "--state-dir", state_dir, "--port", "0")
    assert second.returncode == 0, second.stderr
    assert run_cli("status", "--state-dir", state_dir).stdout.strip() == second.stdout.strip()
    assert run_cli("stop", "--state-dir", state_dir).returncode == 0


def test_stop_ends_the_running_jobs_unless_keep_jobs(tmp_path, shared):
    state_dir = str(tmp_path / "pool")
    address = run_cli("start", "--state-dir", state_dir, "--port", "0").stdout.strip()
    token = tmp_path / "token"
    run_cli(
        "token",
        "create",
        "--state-dir",
        state_dir,
        "--identity",
        FACTORY_IDENTITY,  # only the factory (or the admin) may submit
        "--output",
        str(token),
    )
    pids = shared / "pids"  # the jobs run as the job user: they write where it may
    script = tmp_path / "job.sh"
    script.write_text(f"#!/bin/sh\necho $$ >> {pids}\nexec sleep 300\n")
    script.chmod(0o755)
    (tmp_path / "job.sub").write_text(f"executable = {script}\nqueue 2\n")
    queued = run_cli("submit", "--pool", address, "--token", str(token), str(tmp_path / "job.sub"))
    assert queued.returncode == 0, queued.stderr

    def alive() -> list[int]:
        found = [int(p) for p in pids.read_text().split()] if pids.exists() else []
        return [p for p in found if os.path.exists(f"/proc/{p}")]

    wait_for(lambda: len(alive()) == 2, what="both jobs running")
    kept = run_cli("stop", "--state-dir", state_dir, "--keep-jobs")
    assert kept.returncode == 0 and "go on" in kept.stdout
    assert len(alive()) == 2  # still running, the daemon gone
    restarted = run_cli("start", "--state-dir", state_dir, "--port", "0").stdout.strip()
    jobs = run_cli("q", "--pool", restarted, "-af", "JobStatus").stdout.split()
    assert jobs == ["2", "2"]  # found running again after the restart
    stopped = run_cli("stop", "--state-dir", state_dir)
    assert stopped.returncode == 0 and "ended" in stopped.stdout
    assert alive() == []  # ended before stop returned
    again = run_cli("start", "--state-dir", state_dir, "--port", "0").stdout.strip()
    wait_for(lambda: len(alive()) == 2, what="the requeued jobs running again")
    run_cli("rm", "--pool", again, "--token", str(token), "-constraint", "true")
    assert run_cli("stop", "--state-dir", state_dir).returncode == 0
    assert alive() == []


def test_advertise_takes_the_command_line_and_names_upstream_frontends_use(daemon, tmp_path):
    """Upstream Frontends run `condor_advertise [-pool P] [-tcp] [-multiple] CMD file`
    (condorManager.condorAdvertise, `-tcp` when advertise_with_tcp is set, as by default)
    and name a 3.10 per-entry IDTOKEN `GlideinEncParam<EntryName>.idtoken`, entry names
    holding `-`."""
    _, address, token = daemon
    ads = tmp_path / "gfi_ad_batch"
    ads.write_text(
        'MyType = "glideclient"\nGlideinMyType = "glideclient"\n'
        'Name = "K7QW2ZRA_OSG_US_FNAL-CMS_T1@g@f@fe.main"\n'
        'GlideinEncParamOSG_US_FNAL-CMS_T1.idtoken = "0a1b"\n\n'
        'MyType = "glideclient"\nGlideinMyType = "glideclient"\n'
        'Name = "K7QW2ZRA_CE_2@g@f@fe.main"\nReqIdleGlideins = 3\n\n'
    )
    sent = run_cli(
        "advertise", "-pool", address, "-token", str(token), "-tcp", "-multiple",
        "UPDATE_MASTER_AD", str(ads),
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    got = run_cli(
        "query", "--pool", address, "-constraint", 'GlideinMyType == "glideclient"', "-json"
    )
    by_name = {ad["Name"]: ad for ad in json.loads(got.stdout)}
    assert (
        by_name["K7QW2ZRA_OSG_US_FNAL-CMS_T1@g@f@fe.main"][
            "GlideinEncParamOSG_US_FNAL-CMS_T1.idtoken"
        ]
        == "0a1b"
    )
    assert by_name["K7QW2ZRA_CE_2@g@f@fe.main"]["ReqIdleGlideins"] == 3
