"""gwms-demo never deletes a directory it did not make."""

from __future__ import annotations

import socket
import subprocess

import pytest
from factory_testlib import BIN, processes_under

from glideinwms_factory.lib.pool import DEFAULT_POOL_PORT


def test_demo_refuses_a_directory_it_did_not_make(tmp_path):
    mine = tmp_path / "important"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work\n")
    done = subprocess.run(
        [str(BIN / "gwms-demo"), "--dir", str(mine), "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and done.stderr.count("\n") == 1
    assert "was not made by gwms-demo" in done.stderr and "--force" in done.stderr
    assert sorted(p.name for p in mine.iterdir()) == ["thesis.tex"]


def _busy(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_demo_leaves_no_process_behind(tmp_path):
    if _busy(DEFAULT_POOL_PORT) or _busy(8319):
        pytest.skip("the demo's fixed ports (9618, 8319) are in use on this machine")
    demo = tmp_path / "demo"
    done = subprocess.run(
        [str(BIN / "gwms-demo"), "--dir", str(demo), "--duration", "30"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "glidein slot(s) in the pool" in done.stdout and "running" in done.stdout  # glideins ran
    assert processes_under(demo) == {}
