"""The real glidein_startup.sh against the full example config's tree, made by create_glidein.

An unmodified glidein verifies and runs everything that tree stages (its many entries, files
and attrs), and stops at a tampered file. tests/test_glidein.py covers the glidein itself on
small trees of the same creation code.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from test_create_support import EXAMPLE, stage_dir, work_dir

from glideinwms_factory.creation.commands import build_tree


def _run_glidein(root: Path, run: Path) -> str:
    run.mkdir()
    command = [
        sys.executable, "-m", "glideinwms_factory.tools.local_glidein",
        str(work_dir(root)), "local_site_a", "--collector", "127.0.0.1:9",
        "--stage", str(stage_dir(root)), "--lifetime", "1", "--dir", str(run), "--failure-sleep", "0",
    ]  # fmt: skip
    subprocess.run(command, capture_output=True, timeout=120)
    return (run / "job.local.out").read_text()


def test_glidein_verifies_and_runs_every_staged_file(tmp_path: Path) -> None:
    build_tree(EXAMPLE, tmp_path / "root", reconfig=False)
    out = _run_glidein(tmp_path / "root", tmp_path / "run")
    assert "=== entry/check_blacklist.sh passed ===" in out
    assert "=== Last script starting" in out  # every list walked, every check passed


def test_glidein_stops_at_a_tampered_staged_file(tmp_path: Path) -> None:
    build_tree(EXAMPLE, tmp_path / "root", reconfig=False)
    [script] = (stage_dir(tmp_path / "root") / "entry_local_site_a").glob("check_blacklist.*.sh")
    data = script.read_bytes()
    script.unlink()  # staged copies share inodes: replace, do not edit in place
    script.write_bytes(data.replace(b"#!/", b"#!/ ", 1))
    out = _run_glidein(tmp_path / "root", tmp_path / "run")
    assert (
        "signature mismatch" in out
        or "signature mismatch" in (tmp_path / "run/job.local.err").read_text()
    )
    assert "=== Last script starting" not in out
