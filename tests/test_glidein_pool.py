"""End to end with the embedded pool daemon: a glidein's stand-in slot ad in the real Collector."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from staging_fixture import build_staging, glidein_argv, glidein_env, http_server

BIN = Path(sys.executable).parent
ENTRY = "POOL_ENTRY"
SLOTS = f'MyType == "Machine" && GLIDEIN_Entry_Name == "{ENTRY}"'


def gwms_pool(*args: str) -> str:
    result = subprocess.run(
        [str(BIN / "gwms-pool"), *args], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def wait_until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    state = tmp_path / "pool"
    address = gwms_pool("start", "--state-dir", str(state), "--port", "0").strip()
    token = tmp_path / "glidein.token"
    gwms_pool("token", "create", "--state-dir", str(state), "--identity", "glidein@test.local",
              "--output", str(token))  # fmt: skip
    try:
        yield address, token
    finally:
        gwms_pool("stop", "--state-dir", str(state))


def slot_ads(address: str) -> list[dict[str, object]]:
    return json.loads(gwms_pool("query", "--pool", address, "-constraint", SLOTS, "-json") or "[]")


def test_standin_slot_ad_appears_in_the_collector_and_goes_on_sigterm(
    pool: tuple[str, Path], tmp_path: Path
) -> None:
    address, token = pool
    staging = build_staging(tmp_path / "s", ENTRY, main_consts={"GLIDEIN_Site": "Pool_Site"})
    params = {"GLIDEIN_Collector": address, "GLIDEIN_Standin_Lifetime": "600"}
    with http_server(staging.stage_dir) as url:
        proc = subprocess.Popen(
            glidein_argv(staging, url, tmp_path, **params, GLIDEIN_Standin_Update_Interval="1"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=glidein_env(IDTOKENS_FILE=str(token)),
        )
        try:
            wait_until(lambda: len(slot_ads(address)) == 1)
            (ad,) = slot_ads(address)
            assert ad["GLIDEIN_Site"] == "Pool_Site"
            assert ad["GLIDEIN_Factory"] == "test_factory"
            assert ad["GLIDECLIENT_Name"] == "fe1.main"
            assert ad["AuthenticatedIdentity"] == "glidein@test.local"  # stamped by the pool
            assert str(ad["Name"]).startswith(f"slot1@{ad['GLIDEIN_UUID']}@")
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=20)
        finally:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert slot_ads(address) == []  # invalidated, not left to expire


def test_local_glidein_tool_runs_one_glidein_of_an_entry(
    pool: tuple[str, Path], tmp_path: Path
) -> None:
    address, token = pool
    staging = build_staging(tmp_path / "s", ENTRY)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    tool = [str(BIN / "gwms-local-glidein"), str(staging.work_dir), ENTRY]
    tool += ["--stage", str(staging.stage_dir), "--collector", address, "--token-file", str(token)]
    proc = subprocess.Popen(
        [*tool, "--lifetime", "30", "--dir", str(run_dir), "--param", "GLIDEIN_Site=By_Hand"],
        stdout=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "GWMS_GLIDEIN_FAILURE_SLEEP"},
    )
    try:
        wait_until(lambda: len(slot_ads(address)) == 1)
        (ad,) = slot_ads(address)
        assert ad["GLIDEIN_Site"] == "By_Hand"
        assert ad["GLIDEIN_Name"] == "test_glidein"  # from the tree's glidein.descript
        assert ad["SlotType"] == "Static"  # job.descript SubmitSlotsLayout fixed
        proc.send_signal(signal.SIGTERM)  # the tool hands it on to its glidein
        proc.wait(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert slot_ads(address) == []
    out = (run_dir / "job.local.out").read_text()
    assert re.search(r"^=== Glidein ending .* with code 0 ", out, re.M)


def test_local_glidein_tool_rejects_a_tree_without_signatures(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "gwms-local-glidein"), str(tmp_path), "E", "--collector", "127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"gwms-local-glidein: {tmp_path}/signatures.sha1 not found: is this a factory WORK dir?"
    )
