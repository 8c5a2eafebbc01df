"""The entry daemon's command line on a broken tree: one line and exit 6, no traceback."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from factory_testlib import EntrySpec, config_xml, create, free_port
from waiting import wait_for

from glideinwms_factory.entry.__main__ import entry_lock, main
from glideinwms_factory.lib import pidlock
from glideinwms_factory.lib.pool.embedded.executor import process_ticks


def test_a_tree_without_the_entrys_signature_line_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = create(tmp_path, config_xml([EntrySpec("ce1")], free_port()))
    signatures = tree.work / "signatures.sha1"
    lines = signatures.read_text().splitlines(keepends=True)
    signatures.write_text(
        "".join(line for line in lines if not line.rstrip().endswith("entry_ce1"))
    )

    assert main(["--root", str(tree.work), "--entry", "ce1", "--once"]) == 6
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "signatures.sha1" in err[0] and "entry_ce1" in err[0]


def test_a_malformed_num_factories_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = create(tmp_path, config_xml([EntrySpec("ce1")], free_port()))
    job = tree.work / "entry_ce1" / "job.descript"
    job.write_text(job.read_text() + "NumFactories \ttwo\n")

    assert main(["--root", str(tree.work), "--entry", "ce1", "--once"]) == 6
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "NumFactories" in err[0]


def test_one_process_per_entry_a_new_daemon_waits_for_the_previous_one(tmp_path: Path) -> None:
    """After a factory is killed its entry daemon may live on: a new one must not serve
    the same entry alongside it, but wait for its lock; a refused --once says so."""
    tree = create(tmp_path, config_xml([EntrySpec("ce1")], free_port()))
    lock = entry_lock(tree.work, "ce1")
    held = pidlock.wait_for_locks([lock], lambda: False, lambda _path: None)
    assert held is not None
    once = subprocess.run(
        _entry_command(tree.work, "--once"), capture_output=True, text=True, timeout=60
    )
    assert once.returncode == 1 and f"served by another daemon (pid {os.getpid()})" in once.stderr
    # A daemon started by a parent that then dies gives up waiting and exits.
    err = tmp_path / "waiter.err"
    parent, waiter = _daemon_under_a_parent(tree.work, err)
    try:
        wait_for(lambda: err.exists() and "waiting for" in err.read_text(), what="waiting")
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        wait_for(lambda: not _alive(waiter), timeout=10, what="orphaned waiter exits")
        assert pidlock.read_pid(lock) == os.getpid()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(waiter, signal.SIGKILL)
    # A daemon waits while the lock is held and takes over once it is released.
    daemon = subprocess.Popen(_entry_command(tree.work), stderr=subprocess.PIPE, text=True)
    try:
        assert daemon.stderr is not None
        assert "waiting for another daemon" in daemon.stderr.readline()
        assert daemon.poll() is None and pidlock.read_pid(lock) == os.getpid()
        for fd in held:
            os.close(fd)
        wait_for(lambda: pidlock.read_pid(lock) == daemon.pid, what="lock taken over")
    finally:
        daemon.terminate()
        daemon.wait(30)


def test_an_orphaned_daemon_leaves_promptly_not_after_its_loop_delay(tmp_path: Path) -> None:
    tree = create(tmp_path, config_xml([EntrySpec("ce1")], free_port(), loop_delay=120))
    parent, daemon = _daemon_under_a_parent(tree.work, tmp_path / "daemon.err")
    try:
        # No pool runs: its first iteration fails and it backs off for >= 120 s.
        wait_for(lambda: pidlock.read_pid(entry_lock(tree.work, "ce1")) == daemon, what="lock")
        log = tmp_path / "tree" / "log"
        wait_for(lambda: "retrying in" in _text(log), what="the daemon backing off")
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        wait_for(lambda: not _alive(daemon), timeout=10, what="the orphan to leave")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(daemon, signal.SIGKILL)


def _text(log_dir: Path) -> str:
    return "".join(p.read_text() for p in log_dir.rglob("*.log"))


def _daemon_under_a_parent(work: Path, err: Path) -> tuple[subprocess.Popen[str], int]:
    """An entry daemon whose parent (a stand-in factory) the test can kill."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            f"p = subprocess.Popen([sys.executable, '-m', 'glideinwms_factory.entry', '--root', "
            f"{str(work)!r}, '--entry', 'ce1'], stderr=open({str(err)!r}, 'w'))\n"
            "print(p.pid, flush=True)\ntime.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    return parent, int(parent.stdout.readline())


def _entry_command(work: Path, *extra: str) -> list[str]:
    module = [sys.executable, "-m", "glideinwms_factory.entry"]
    return [*module, "--root", str(work), "--entry", "ce1", *extra]


def _alive(pid: int) -> bool:
    return process_ticks(pid) is not None  # alive and not a zombie
