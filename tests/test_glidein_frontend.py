"""A Frontend's staging area, laid out as upstream's Frontend does (main + group, its own
constants, cat_consts.sh, check_blacklist.sh and nodes.blacklist, a VO validation script, a job
wrapper, a periodic script), run by the real glidein_startup.sh: the Frontend's scripts do
their job through upstream's helper contract (spec/glidein_startup.md §5)."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from staging_fixture import (
    FrontendArea,
    FrontendFile,
    RecordingCollector,
    Staging,
    build_frontend_staging,
    build_staging,
    glidein_argv,
    glidein_env,
    http_server,
    run_glidein,
)

from glideinwms_factory.lib.classad import parse_old
from glideinwms_factory.lib.glidein_output import summarize_out

ENTRY = "FE_ENTRY"
GROUP = "cms"
START = '(TARGET.VO == "cms") && (TARGET.RequestCpus <= 8)'
GROUP_START = 'TARGET.Group =?= "analysis"'

# Only what upstream documents: ADD_CONFIG_LINE_SOURCE (gconfig_get, gconfig_add,
# add_condor_vars_line), GET_ID_SELECTORS_SOURCE (get_prefix), ERROR_GEN_PATH.
VO_CHECK = """#!/bin/bash
glidein_config=$1
add_config_line_source=$(grep -m1 '^ADD_CONFIG_LINE_SOURCE ' "$glidein_config" | cut -d ' ' -f 2-)
. "$add_config_line_source"
. "$(gconfig_get GET_ID_SELECTORS_SOURCE "$glidein_config")"
error_gen=$(gconfig_get ERROR_GEN_PATH "$glidein_config")
condor_vars_file=$(gconfig_get "$(get_prefix "$2")CONDOR_VARS_FILE" "$glidein_config")
sw_dir=$(gconfig_get VO_SW_DIR "$glidein_config")
if [ ! -d "$sw_dir" ]; then
    "$error_gen" -error "vo_check.sh" "VO_Config" "VO software area '$sw_dir' is missing" "dir" "$sw_dir"
    exit 1
fi
gconfig_add VO_SW_OK "$sw_dir"
add_condor_vars_line VO_SW_OK "S" "-" "+" "N" "Y" "-"
"$error_gen" -ok "vo_check.sh" "dir" "$sw_dir"
"""
WRAPPER = """# job wrapper fragment: the job sees where the VO software is
export VO_SW_DIR_SEEN=yes
"""
PERIODIC = """#!/bin/bash
glidein_config=$1
. "$(grep -m1 '^ADD_CONFIG_LINE_SOURCE ' "$glidein_config" | cut -d ' ' -f 2-)"
"$(gconfig_get ERROR_GEN_PATH "$glidein_config")" -ok "health.sh"
"""
MAIN_FILES = (FrontendFile("vo_check.sh", VO_CHECK),)
GROUP_FILES = (
    FrontendFile("vo_wrapper.sh", WRAPPER, type="wrapper"),
    FrontendFile("health.sh", PERIODIC, period=300),
)


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Staging, str, FrontendArea, str]]:
    root = tmp_path_factory.mktemp("fe")
    staging = build_staging(root / "factory", ENTRY)
    consts = (
        {"GLIDECLIENT_Start": START, "FE_MAIN_CONST": "main value"},
        {"GLIDECLIENT_Group_Start": GROUP_START, "FE_GROUP_CONST": "group value"},
    )
    area = build_frontend_staging(root / "frontend", GROUP, consts, (MAIN_FILES, GROUP_FILES))
    with http_server(staging.stage_dir) as url, http_server(area.directory) as fe_url:
        yield staging, url, area, fe_url


def run(
    served: tuple[Staging, str, FrontendArea, str], run_dir: Path, **params: str
) -> subprocess.CompletedProcess[str]:
    staging, url, area, fe_url = served
    params = {"GLIDEIN_Collector": "127.0.0.1:9", "GLIDEIN_Standin_Lifetime": "0", **params}
    return run_glidein(glidein_argv(staging, url, run_dir, client=area.staging(fe_url), **params))


def config_of(run_dir: Path) -> dict[str, str]:
    (work_dir,) = run_dir.glob("glide_*")
    lines = (work_dir / "glidein_config").read_text().splitlines()
    keys = [line.split(" ", 1)[0] for line in lines if line and not line.startswith("#")]
    assert len(keys) == len(set(keys))  # one line a key: upstream reads it with grep '^KEY '
    return dict(line.split(" ", 1) for line in lines if " " in line)


def test_frontend_constants_scripts_wrapper_and_cron_reach_the_glidein(
    served: tuple[Staging, str, FrontendArea, str], tmp_path: Path
) -> None:
    collector = RecordingCollector()
    try:
        result = run(served, tmp_path, GLIDEIN_Collector=collector.address,
                     VO_SW_DIR=str(tmp_path), GLIDEIN_DEBUG_OPTIONS="nocleanup")  # fmt: skip
    finally:
        collector.close()
    assert result.returncode == 0, result.stderr
    ran = re.findall(r"^=== Executing (\S+) ===$", result.stdout, re.M)
    assert ran[ran.index("client/cat_consts.sh") :][:6] == [
        "client/cat_consts.sh", "client/check_blacklist.sh",
        "client_group/cat_consts.sh", "client_group/check_blacklist.sh",
        "entry/cat_consts.sh", "entry/check_blacklist.sh",
    ]  # fmt: skip
    assert "client/vo_check.sh" in ran and "client_group/health.sh" in ran
    config = config_of(tmp_path)
    assert config["GLIDECLIENT_Start"] == START
    assert config["GLIDECLIENT_Group_Start"] == GROUP_START
    assert config["FE_MAIN_CONST"] == "main value" and config["FE_GROUP_CONST"] == "group value"
    assert config["VO_SW_OK"] == str(tmp_path)  # the VO script's gconfig_add
    work_dir = Path(config["GLIDEIN_WORK_DIR"]).parent
    client_vars = Path(config["GLIDECLIENT_CONDOR_VARS_FILE"]).read_text()
    assert "VO_SW_OK\tS\t-\t+\tN\tY\t-\n" in client_vars  # its add_condor_vars_line
    # The wrapper is listed for the job wrapper; the periodic script is a startd cron job.
    assert (
        Path(config["WRAPPER_LIST"]).read_text()
        == f"{work_dir}/client_group_{GROUP}/vo_wrapper.sh\n"
    )
    include = Path(config["GLIDEIN_condor_config_startd_cron_include"]).read_text()
    cron = dict(re.findall(r"^STARTD_CRON_GLIDEIN_PS_1_(\w+) = (.*)$", include, re.M))
    assert cron["PERIOD"] == "300s" and cron["PREFIX"] == "GLIDEIN_PS_"
    # Run the cron job the way the startd would: its stdout is the slot ad update.
    job = subprocess.run([cron["EXECUTABLE"], *cron["ARGS"].split()], cwd=cron["CWD"],
                         capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    assert job.returncode == 0, job.stderr
    update = parse_old(job.stdout.rsplit("\n-", 1)[0])
    assert update["OK"] is True and update["LAST_SCRIPT"] == "health.sh"


@pytest.mark.parametrize("part", ["main", "group"])
def test_the_frontend_blacklists_are_honoured(
    served: tuple[Staging, str, FrontendArea, str], tmp_path: Path, part: str
) -> None:
    area = served[2]
    node = os.uname().nodename
    area.blacklist(part).write_text(f"'other.example.org'\n'{node}' # broken disk\n")
    try:
        result = run(served, tmp_path, VO_SW_DIR=str(tmp_path))
    finally:
        area.blacklist(part).write_text("")
    assert result.returncode == 1
    owner = "client" if part == "main" else "client_group"
    assert f"worker node {node} is in the {owner}'s nodes.blacklist" in result.stderr
    assert "=== Executing entry/cat_consts.sh ===" not in result.stdout


def test_a_vo_script_failure_keeps_its_type_and_detail(
    served: tuple[Staging, str, FrontendArea, str], tmp_path: Path
) -> None:
    collector = RecordingCollector()
    try:
        result = run_glidein(
            glidein_argv(served[0], served[1], tmp_path, client=served[2].staging(served[3]),
                         GLIDEIN_Collector=collector.address, GLIDEIN_Report_Failed="ALWAYS",
                         VO_SW_DIR="/no/such/vo/area"),
            env=glidein_env(GWMS_GLIDEIN_FAILURE_SLEEP="1"),
        )  # fmt: skip
    finally:
        collector.close()
    assert result.returncode == 1
    summary = result.stdout.split("=== XML description of glidein activity ===")[1]
    assert re.search(r'<metric name="TestID"[^>]*>vo_check.sh</metric>', summary)
    assert re.search(r'<metric name="failure"[^>]*>VO_Config</metric>', summary)
    assert "<detail>VO software area '/no/such/vo/area' is missing</detail>" in summary
    assert "=== Last script starting" not in result.stdout
    summary_read = summarize_out(result.stdout)  # what the factory's parser makes of it
    assert (summary_read.failed_test, summary_read.failure_type) == ("vo_check.sh", "VO_Config")
    assert summary_read.failure_detail == "VO software area '/no/such/vo/area' is missing"
    failed_ad = parse_old(collector.requests[0].body)
    assert failed_ad["GLIDEIN_Failed_Script"] == "vo_check.sh"
    assert failed_ad["GLIDEIN_Failure_Detail"] == "VO software area '/no/such/vo/area' is missing"
