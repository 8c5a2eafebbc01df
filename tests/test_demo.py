"""gwms-demo never deletes a directory it did not make."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from factory_testlib import BIN, processes_under
from waiting import wait_for

from glideinwms_factory.demo import EXAMPLE
from glideinwms_factory.lib.pool import DEFAULT_POOL_PORT
from glideinwms_factory.lib.pool.embedded.client import EmbeddedCollector


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


@pytest.mark.slow
def test_the_readme_frontend_line_is_served_by_the_example_factory(tmp_path):
    """README "A Frontend against the example factory", as written (plus --once --wait)."""
    if _busy(DEFAULT_POOL_PORT) or _busy(8319):
        pytest.skip("the example's fixed ports (9618, 8319) are in use on this machine")
    made = subprocess.run(
        [str(BIN / "create_glidein"), str(EXAMPLE), "--root", str(tmp_path / "tree")],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    work = Path(made.stdout.strip().splitlines()[-1])
    startup = str(work / "factory_startup")
    subprocess.run([startup, "start"], capture_output=True, timeout=120, check=True)
    try:
        for who, name in (("frontend", "fe.token"), ("glidein", "glidein.token")):
            subprocess.run(
                [str(BIN / "gwms-pool"), "token", "create", "--state-dir", str(work / "pool"),
                 "--identity", f"{who}@example.org", "--output", str(tmp_path / name)],
                check=True, timeout=60,
            )  # fmt: skip
        (tmp_path / "scitoken.jwt").write_text("eyJhbGciOiJub25lIn0.eyJzY29wZSI6ImRlbW8ifQ.\n")
        collector = EmbeddedCollector(f"127.0.0.1:{DEFAULT_POOL_PORT}")
        wait_for(lambda: collector.query('GlideinMyType =?= "glidefactory"'), 60, "the entries")
        line = [
            str(BIN / "gwms-frontend-sim"), "--pool", f"127.0.0.1:{DEFAULT_POOL_PORT}",
            "--token", str(tmp_path / "fe.token"), "--security-name", "vofrontend",
            "--protocol", "3.10", "request", "--entry", "local_site_a", "--idle", "2", "--max", "4",
            "--idtoken", str(tmp_path / "glidein.token"), "--scitoken", str(tmp_path / "scitoken.jwt"),
        ]  # fmt: skip
        done = subprocess.run([*line, "--once", "--wait", "90"], capture_output=True,
                              text=True, timeout=180)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "local_site_a@demo@demo-factory: served" in done.stdout
    finally:
        subprocess.run([startup, "stop"], capture_output=True, timeout=180)
    assert processes_under(tmp_path) == {}
