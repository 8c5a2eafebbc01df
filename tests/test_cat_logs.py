"""cat_* log extractors and glidein_summary, on the .out/.err of real glidein runs."""

from __future__ import annotations

import base64
import gzip
import subprocess
import sys
from pathlib import Path

import pytest
from staging_fixture import (
    RecordingCollector,
    build_staging,
    glidein_argv,
    http_server,
    run_glidein,
)

from glideinwms_factory.lib.glidein_output import LogError, extract_log, log_blocks, summarize_out
from glideinwms_factory.tools.cat_logs import cat_starter_log

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def returned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """job.<n>.out/.err of one good and one failed glidein, as Condor-G returns them."""
    root = tmp_path_factory.mktemp("cat_logs")
    staging = build_staging(root / "s", "CAT_ENTRY")
    collector = RecordingCollector()
    files = {}
    try:
        with http_server(staging.stage_dir) as url:
            runs = {
                "good": {"GLIDEIN_Standin_Lifetime": "0"},
                "failed": {"GLIDEIN_MIN_DISK_MB": "999999999"},
            }
            for label, params in runs.items():
                params["GLIDEIN_Collector"] = collector.address
                result = run_glidein(glidein_argv(staging, url, root, **params))
                for ext, text in (("out", result.stdout), ("err", result.stderr)):
                    path = root / f"job.{label}.{ext}"
                    path.write_text(text)
                    files[f"{label}.{ext}"] = path
    finally:
        collector.close()
    return files


def cli(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / name), *args], capture_output=True, text=True, timeout=30, check=False
    )


def test_cat_startd_and_master_log_recover_the_worker_logs(returned: dict[str, Path]) -> None:
    startd = cli("cat_StartdLog", str(returned["good.err"]))
    assert startd.returncode == 0, startd.stderr
    assert "advertised slot1@" in startd.stdout and "invalidated slot1@" in startd.stdout
    master = cli("cat_MasterLog", str(returned["good.err"]))
    assert master.returncode == 0
    assert "worker stand-in exiting: its lifetime ended" in master.stdout


def test_a_missing_log_is_a_one_line_error(returned: dict[str, Path]) -> None:
    result = cli("cat_StarterLog", str(returned["good.err"]))
    assert result.returncode == 1
    assert result.stderr == (
        f"cat_StarterLog: {returned['good.err']}: no StarterLog in this file "
        "(logs found: MasterLog, StartdLog)\n"
    )
    missing = cli("cat_MasterLog", "/nonexistent/job.err")
    assert missing.returncode == 1 and len(missing.stderr.splitlines()) == 1


def _block(name: str, content: bytes) -> str:
    data = base64.encodebytes(gzip.compress(content)).decode()
    return f"{name}\n======== gzip | uuencode =============\nbegin-base64 644 -\n{data}====\n"


def test_starter_log_of_a_slot_and_monitor_logs(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    err = tmp_path / "job.err"
    err.write_text(
        "noise\n" + _block("StarterLog.slot2", b"slot two\n") + _block("StarterLog.monitor", b"m\n")
    )
    assert cat_starter_log(["-slot", "2", str(err)]) == 0
    assert capsysbinary.readouterr().out == b"slot two\n"
    assert cat_starter_log(["-monitor", str(err)]) == 0
    assert capsysbinary.readouterr().out == b"m\n"


def test_a_corrupt_block_is_reported_not_raised() -> None:
    text = "StartdLog\n======== gzip | uuencode =============\nbegin-base64 644 -\nAAAA\n====\n"
    assert list(log_blocks(text)) == ["StartdLog"]
    with pytest.raises(LogError, match="the StartdLog block is corrupt"):
        extract_log(text, "StartdLog")


def test_summary_of_a_good_and_a_failed_glidein(returned: dict[str, Path]) -> None:
    good = summarize_out(returned["good.out"].read_text())
    assert good.exit_code == 0 and good.failed_test is None
    assert good.scripts == [
        ("main/cat_consts.sh", True),
        ("main/setup_checks.sh", True),
        ("main/condor_platform_select.sh", True),
        ("entry/cat_consts.sh", True),
        ("entry/check_blacklist.sh", True),
        ("main/cvmfs_check.sh", True),
        ("main/singularity_setup.sh", True),
    ]
    assert good.validated_after is not None and good.worker_ran_for is not None
    failed = summarize_out(returned["failed.out"].read_text())
    assert failed.exit_code == 1
    assert failed.scripts[-1] == ("main/setup_checks.sh", False)
    assert failed.failed_test == "setup_checks.sh"
    assert failed.worker_ran_for is None
    result = cli("glidein_summary", str(returned["good.out"]), str(returned["failed.out"]))
    assert result.returncode == 0
    assert "succeeded after" in result.stdout and "FAILED (code 1)" in result.stdout
    assert "FAILED main/setup_checks.sh" in result.stdout


def test_summary_of_a_truncated_out_says_so() -> None:
    summary = summarize_out("=== Glidein starting Sun (123) ===\n=== Executing main/a.sh ===\n")
    assert summary.started == 123 and summary.exit_code is None
    assert summary.scripts == [("main/a.sh", False)]
