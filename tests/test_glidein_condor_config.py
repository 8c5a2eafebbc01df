"""The HTCondor configuration a glidein writes for a real condor_master, read back with HTCondor's
own configuration parser (htcondor2.param after reload_config) and its START expression
evaluated by classad2 against job ads. HTCondor daemons cannot run here, so the condor tarball's
condor_master only records how it was started; everything else is the real glidein."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import classad2
import pytest
from staging_fixture import (
    WEB_BASE,
    Attr,
    FrontendArea,
    Staging,
    build_frontend_staging,
    build_staging,
    condor_tarball,
    glidein_argv,
    glidein_env,
    http_server,
    run_glidein,
)
from test_glidein_frontend import GROUP_FILES, MAIN_FILES

ENTRY = "CONDOR_ENTRY"
FACTORY_START = "TARGET.RequestMemory <= 4000"
FE_START = 'TARGET.VO =?= "cms"'
GROUP_START = 'TARGET.Group =?= "analysis"'
MASTER = '#!/bin/bash\necho "condor_master $*" >"$(dirname "$CONDOR_CONFIG")/master_args"\n'
KEYS = (
    "COLLECTOR_HOST", "MASTER.COLLECTOR_HOST", "CCB_ADDRESS", "SEC_TOKEN_DIRECTORY",
    "SEC_DEFAULT_AUTHENTICATION", "SEC_DEFAULT_AUTHENTICATION_METHODS", "AUTH_SSL_CLIENT_CERTFILE",
    "GSI_DAEMON_PROXY", "NUM_CPUS", "MEMORY", "NUM_SLOTS_TYPE_1", "SLOT_TYPE_1",
    "SLOT_TYPE_1_PARTITIONABLE", "START", "STARTD_ATTRS", "GLIDEIN_ToRetire", "GLIDEIN_ToDie",
    "GLIDEIN_START_TIME", "STARTD_NOCLAIM_SHUTDOWN", "STARTD.DAEMON_SHUTDOWN", "USER_JOB_WRAPPER",
    "STARTD_CRON_JOBLIST", "STARTD_CRON_GLIDEIN_PS_1_EXECUTABLE", "STARTER_JOB_ENVIRONMENT",
    "VO_SW_OK", "GLIDEIN_Site", "LOCAL_CONFIG_DIR",
)  # fmt: skip


def condor_params(config: Path) -> dict[str, str]:
    """KEYS as HTCondor's parser sees `config` (in a child: reload_config is process-wide)."""
    code = (
        "import json, sys, htcondor2\nhtcondor2.reload_config()\n"
        "print(json.dumps({k: htcondor2.param.get(k) for k in sys.argv[1:]}, default=str))"
    )
    env = {**os.environ, "CONDOR_CONFIG": str(config)}
    done = subprocess.run([sys.executable, "-c", code, *KEYS], env=env, capture_output=True,
                          text=True, timeout=60, check=True)  # fmt: skip
    return {k: str(v) for k, v in json.loads(done.stdout).items() if v is not None}


Served = tuple[Staging, str, FrontendArea, str]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("cc")
    staging = build_staging(
        root / "factory", ENTRY,
        entry_attrs=(Attr("GLIDEIN_Site", "Site_X", glidein_publish=True, job_publish=True),
                     Attr("GLIDEIN_Entry_Start", FACTORY_START, "expr")),
        condor_tarball=("24.0.1-default-default", condor_tarball(MASTER)),
    )  # fmt: skip
    consts = ({"GLIDECLIENT_Start": FE_START}, {"GLIDECLIENT_Group_Start": GROUP_START})
    area = build_frontend_staging(root / "fe", "g1", consts, (MAIN_FILES, GROUP_FILES))
    with http_server(staging.stage_dir) as url, http_server(area.directory) as fe_url:
        yield staging, url, area, fe_url


def run_condor_glidein(
    served: Served, run_dir: Path, layout: str = "partitionable", env: dict[str, str] | None = None,
    **params: str,
) -> tuple[Path, dict[str, str]]:  # fmt: skip
    staging, url, area, fe_url = served
    params = {"GLIDEIN_DEBUG_OPTIONS": "nocleanup", "VO_SW_DIR": str(run_dir), **params}
    argv = glidein_argv(staging, url, run_dir, client=area.staging(fe_url), **params)
    argv[argv.index("-slotslayout") + 1] = layout
    result = run_glidein(argv, env=glidein_env(**(env or {})))
    assert result.returncode == 0, result.stderr
    (work_dir,) = run_dir.glob("glide_*")
    return work_dir, condor_params(work_dir / "condor_config")


def machine_ad(params: dict[str, str], **attrs: object) -> classad2.ClassAd:
    """The slot ad as the startd would publish it: START and the glidein's lifetimes.
    CurrentTime is HTCondor's time() alias in startd expressions."""
    ad = classad2.ClassAd({"GLIDEIN_ToRetire": int(params["GLIDEIN_ToRetire"]), **attrs})
    ad["CurrentTime"] = classad2.ExprTree("time()")
    ad["START"] = classad2.ExprTree(params["START"])
    return ad


def job(**attrs: object) -> classad2.ClassAd:
    return classad2.ClassAd({"VO": "cms", "Group": "analysis", "RequestMemory": 2000, **attrs})


def test_a_partitionable_glidein_joins_with_tokens_x509_ccb_and_the_combined_start(
    served: Served, tmp_path: Path
) -> None:
    token, proxy = tmp_path / "pool.idtoken", tmp_path / "x509up"
    token.write_text("eyJ.pool-token\n")
    proxy.write_text("-----BEGIN CERTIFICATE-----\n")
    started = int(time.time())
    work_dir, params = run_condor_glidein(
        served, tmp_path, env={"IDTOKENS_FILE": str(token), "X509_USER_PROXY": str(proxy)},
        GLIDEIN_Collector="pool.example.org:9618?sock=collector1-40;backup.example.org:9620-9630",
        GLIDEIN_Factory_Collector="factory.example.org:9618", USE_CCB="True",
        GLIDEIN_CCB="ccb.example.org:9618?sock=ccb3-3", GLIDEIN_CPUS="3", GLIDEIN_MaxMemMBs="6000",
        GLIDEIN_DISK="20000000", GLIDEIN_Max_Walltime="7200",
    )  # fmt: skip
    match = re.fullmatch(
        r"pool\.example\.org:9618\?sock=collector(\d+),backup\.example\.org:(\d+)",
        params["COLLECTOR_HOST"],
    )
    assert match and 1 <= int(match[1]) <= 40 and 9620 <= int(match[2]) <= 9630
    assert params["MASTER.COLLECTOR_HOST"] == params["COLLECTOR_HOST"] + ",factory.example.org:9618"
    assert params["CCB_ADDRESS"] == "ccb.example.org:9618?sock=ccb3"
    # The delivered token, 0600, in the tokens dir; x509 next to it when a proxy is given.
    tokens = Path(params["SEC_TOKEN_DIRECTORY"])
    assert (tokens / "glidein.token").read_text() == "eyJ.pool-token\n"
    assert stat.S_IMODE((tokens / "glidein.token").stat().st_mode) == 0o600
    assert params["SEC_DEFAULT_AUTHENTICATION"] == "REQUIRED"
    assert params["SEC_DEFAULT_AUTHENTICATION_METHODS"].split(", ")[0] == "IDTOKENS"
    assert "SSL" in params["SEC_DEFAULT_AUTHENTICATION_METHODS"]
    assert params["AUTH_SSL_CLIENT_CERTFILE"] == params["GSI_DAEMON_PROXY"] == str(proxy)
    # One partitionable slot of GLIDEIN_CPUS, GLIDEIN_MaxMemMBs, GLIDEIN_DISK.
    assert params["NUM_CPUS"] == "3" and params["MEMORY"] == "6000"
    assert params["SLOT_TYPE_1"] == "cpus=3, mem=6000, disk=20000000"
    assert params["SLOT_TYPE_1_PARTITIONABLE"] == "True" and params["NUM_SLOTS_TYPE_1"] == "1"
    # Lifetimes: dies 370 s (an update) + 120 s (graceful) before the walltime, minus spread.
    to_die, to_retire = int(params["GLIDEIN_ToDie"]), int(params["GLIDEIN_ToRetire"])
    start = int(params["GLIDEIN_START_TIME"])
    assert started <= start <= int(time.time())
    assert 7200 - 370 - 120 - 660 <= to_die - start <= 7200 - 370 - 120
    assert 600 <= to_retire - start < to_die - start
    assert (work_dir / "master_args").read_text() == "condor_master -f -r 120\n"
    # START: the factory's entry start, both Frontend starts, and not once retired.
    slot = machine_ad(params)
    assert slot["START"].eval(slot, job()) is True
    for mismatch in ({"VO": "atlas"}, {"Group": "production"}, {"RequestMemory": 8000}):
        assert slot["START"].eval(slot, job(**mismatch)) is False, mismatch
    retired = machine_ad(params, GLIDEIN_ToRetire=start - 1)
    assert retired["START"].eval(retired, job()) is False
    # The shutdown policy is a valid expression that fires past GLIDEIN_ToDie.
    dying = machine_ad(params, GLIDEIN_ToDie=start - 1)
    shutdown = classad2.ExprTree(params["STARTD.DAEMON_SHUTDOWN"])
    assert shutdown.eval(dying) is True
    assert params["STARTD_NOCLAIM_SHUTDOWN"] == "1200"  # GLIDEIN_Max_Idle's default


def test_condor_vars_wrapper_and_cron_are_wired_into_the_worker(
    served: Served, tmp_path: Path
) -> None:
    _, params = run_condor_glidein(served, tmp_path, GLIDEIN_Collector="pool.example.org:9618",
                                   GLIDEIN_Max_Walltime="7200")  # fmt: skip
    attrs = {a.strip() for a in params["STARTD_ATTRS"].split(",")}
    # Published into the slot ad: the entry's attr and the VO script's add_condor_vars_line.
    assert {"GLIDEIN_Site", "VO_SW_OK", "GLIDEIN_ToRetire", "GLIDEIN_ToDie"} <= attrs
    assert params["GLIDEIN_Site"] == '"Site_X"' and params["VO_SW_OK"] == f'"{tmp_path}"'
    assert "'GLIDEIN_Site=Site_X'" in params["STARTER_JOB_ENVIRONMENT"]  # job_publish
    # The Frontend's wrapper runs before the job, which it then becomes.
    wrapped = subprocess.run([params["USER_JOB_WRAPPER"], "sh", "-c", "echo $VO_SW_DIR_SEEN"],
                             capture_output=True, text=True, timeout=30, check=True)  # fmt: skip
    assert wrapped.stdout == "yes\n"
    assert params["STARTD_CRON_JOBLIST"].split() == ["GLIDEIN_PS_1"]
    assert params["STARTD_CRON_GLIDEIN_PS_1_EXECUTABLE"].endswith("/main/script_wrapper.sh")
    assert Path(params["LOCAL_CONFIG_DIR"]).is_dir()


def test_fixed_slots_sized_from_the_batch_slot(served: Served, tmp_path: Path) -> None:
    machine = tmp_path / ".machine.ad"
    machine.write_text('Cpus = 5\nName = "slot1@wn"\n')
    _, params = run_condor_glidein(
        served, tmp_path, "fixed", env={"_CONDOR_MACHINE_AD": str(machine)},
        GLIDEIN_Collector="pool.example.org:9618", GLIDEIN_CPUS="auto",
        GLIDEIN_MaxMemMBs="5000", GLIDEIN_Max_Walltime="7200",
    )  # fmt: skip
    assert params["NUM_CPUS"] == "5" and params["NUM_SLOTS_TYPE_1"] == "5"
    assert params["SLOT_TYPE_1"] == "cpus=1, mem=1000"
    assert "SLOT_TYPE_1_PARTITIONABLE" not in params
    assert "SSL" not in params["SEC_DEFAULT_AUTHENTICATION_METHODS"]  # no proxy, tokens only


def pick(collectors: str, times: int) -> list[str]:
    script = f'source {WEB_BASE}/worker_config.source; for i in $(seq {times}); do pick_collectors "$1"; done'
    done = subprocess.run(["bash", "-c", script, "pick", collectors], capture_output=True,
                          text=True, timeout=30, check=True)  # fmt: skip
    return done.stdout.split()


def test_collector_ranges_and_alternatives_are_picked_at_random() -> None:
    picks = pick("a.org:9618?sock=collector1-40,b.org:9620-9622;c.org", 300)
    numbers = set()
    for chosen in picks:
        first, second = chosen.split(",")
        assert second == "c.org"
        sock = re.fullmatch(r"a\.org:9618\?sock=collector(\d+)", first)
        port = re.fullmatch(r"b\.org:(962[0-2])", first)
        assert sock or port, first
        numbers.add(first)
    assert len(numbers) > 10  # both alternatives, many numbers of each range


def test_a_walltime_too_short_for_the_retire_margin_fails_as_upstream(
    served: Served, tmp_path: Path
) -> None:
    staging, url, area, fe_url = served
    argv = glidein_argv(staging, url, tmp_path, client=area.staging(fe_url),
                        GLIDEIN_Collector="pool.example.org:9618", GLIDEIN_Max_Walltime="900",
                        VO_SW_DIR=str(tmp_path))  # fmt: skip
    result = run_glidein(argv)
    assert result.returncode == 1
    summary = result.stdout.split("=== XML description of glidein activity ===")[1]
    assert re.search(r'<metric name="failure"[^>]*>Config</metric>', summary)
    assert "Retire time still too low" in summary
