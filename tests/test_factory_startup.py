"""factory_startup as an operator uses it (issue 5): one scenario, real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from factory_testlib import (
    EntrySpec,
    config_xml,
    create,
    free_port,
    processes_under,
    running,
)
from waiting import wait_for

from glideinwms_factory.lib import pidlock
from glideinwms_factory.lib.pool.embedded import statedir

ENTRIES = [EntrySpec("alpha", max_glideins=3, max_idle=2), EntrySpec("beta", 3, 2)]


def entry_pids(factory, entry: str) -> list[int]:
    return [
        pid
        for pid, cmdline in processes_under(factory.work).items()
        if "glideinwms_factory.entry" in cmdline and f"--entry {entry}" in cmdline
    ]


def tree_hashes(root) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file()
        and "log" not in p.parts
        and "monitor" not in p.parts
        and "pool" not in p.parts
        and "lock" not in p.parts
        and p.suffix != ".json"
    }


@pytest.fixture
def factory(tmp_path):
    return create(tmp_path, config_xml(ENTRIES, free_port(), slots=2))


def test_operating_a_factory(factory, tmp_path):
    assert factory.startup("status", check=False).returncode == 3
    with running(factory):
        assert factory.startup("status").stdout.startswith("Running")
        wait_for(lambda: len(factory.ads("glidefactory")) == 2, 60, "both entries advertise")
        assert len(factory.ads("glidefactoryglobal")) == 1

        # A second factory on the same tree is refused with a clear message.
        second = subprocess.run(
            [sys.executable, "-m", "glideinwms_factory.factory", "--root", str(factory.work)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1 and "already running" in second.stderr

        # down ENTRY: its ad says so and it stops submitting; the other entry goes on.
        factory.startup("down", "alpha")  # the old positional form
        wait_for(
            lambda: any(
                a.get("EntryName") == "alpha" and a.get("GLIDEIN_In_Downtime") is True
                for a in factory.ads("glidefactory")
            ),
            30,
            "alpha's ad in downtime",
        )
        statusdown = factory.startup("statusdown", "-entry", "All").stdout
        assert "alpha Down" in statusdown and "beta Up" in statusdown
        factory.request(
            "request", "--entry", "alpha", "--entry", "beta", "--idle", "2", "--max", "3"
        )
        wait_for(lambda: factory.glideins("beta"), 60, "beta submitting")
        assert factory.glideins("alpha") == []
        factory.startup("up", "-entry", "alpha")
        wait_for(lambda: factory.glideins("alpha"), 60, "alpha submitting after up")

        # kill -9 of one entry daemon: repaired by the factory, beta untouched.
        (victim,) = entry_pids(factory, "alpha")
        (bystander,) = entry_pids(factory, "beta")
        os.kill(victim, signal.SIGKILL)
        wait_for(
            lambda: entry_pids(factory, "alpha") and entry_pids(factory, "alpha") != [victim],
            60,
            "alpha restarted",
        )
        assert entry_pids(factory, "beta") == [bystander]

        # reconfig with a bad file changes nothing and exits non-zero ...
        before = tree_hashes(factory.work)
        bad = tmp_path / "bad.xml"
        bad.write_text(factory.config.read_text().replace('loop_delay="1"', 'loop_delay="x"'))
        done = factory.startup("reconfig", str(bad), check=False)
        assert done.returncode == 6 and "loop_delay" in done.stderr
        assert tree_hashes(factory.work) == before
        assert factory.startup("status").returncode == 0

        # ... and a good one adds an entry that starts advertising.
        good = tmp_path / "good.xml"
        good.write_text(
            config_xml(
                [*ENTRIES, EntrySpec("gamma")],
                int(factory.config.read_text().split("127.0.0.1:")[1][:5]),
                slots=2,
            )
        )
        done = factory.startup("reconfig", str(good), check=False)
        assert done.returncode == 0, done.stderr
        assert "gamma" in done.stdout
        wait_for(
            lambda: any(a.get("EntryName") == "gamma" for a in factory.ads("glidefactory")),
            60,
            "the new entry advertising",
        )
        collector = factory.collector()
        ads_before_stop = collector.query('GlideinMyType =?= "glidefactory"')
        assert ads_before_stop
    # After stop: no daemon of ours left (glideins belong to the site and may linger).
    assert pidlock.state(factory.work / "lock" / "glideinWMS.lock") is pidlock.State.STOPPED
    daemons = [c for c in processes_under(factory.work).values() if "glideinwms_factory" in c]
    assert daemons == []


def test_grouped_entries_and_recovery_from_a_crashed_factory(tmp_path):
    xml = config_xml(ENTRIES, free_port(), slots=2).replace(
        'loop_delay="1"', 'loop_delay="1" entry_group_size="2"'
    )
    factory = create(tmp_path, xml)
    with running(factory):
        wait_for(lambda: len(factory.ads("glidefactory")) == 2, 60, "both entries advertise")
        groups = [
            c for c in processes_under(factory.work).values() if "glideinwms_factory.entry" in c
        ]
        assert len(groups) == 1 and "--entry alpha" in groups[0] and "--entry beta" in groups[0]

        # kill -9 the factory: status tells a dead factory from a stopped one, the orphaned
        # entry group notices and leaves, and a new start is not blocked by the pid file.
        pid = pidlock.read_pid(factory.work / "lock" / "glideinWMS.lock")
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: factory.startup("status", check=False).returncode == 1, 30, "dead")
        assert "pid file remains" in factory.startup("status", check=False).stdout
        wait_for(
            lambda: (
                not any(
                    "glideinwms_factory.entry" in c for c in processes_under(factory.work).values()
                )
            ),
            30,
            "the orphaned entry group to exit",
        )
        wait_for(lambda: not factory.ads("glidefactory"), 30, "its ads invalidated")
        factory.startup("start")
        assert factory.startup("status").returncode == 0
        wait_for(lambda: len(factory.ads("glidefactory")) == 2, 60, "entries back")


def test_a_dead_pool_or_web_server_is_reported_then_restarted(factory):
    with running(factory):
        wait_for(lambda: len(factory.ads("glidefactory")) == 2, 60, "both entries advertise")
        daemon = pidlock.read_pid(factory.work / "lock" / "glideinWMS.lock")
        pool = int((factory.state_dir / "pool.pid").read_text())
        web = int((factory.work / "lock" / "webserver.pid").read_text())
        os.kill(daemon, signal.SIGSTOP)  # hold the factory still: the pool stays dead
        try:
            os.kill(pool, signal.SIGKILL)
            wait_for(lambda: not pool_lock_held(factory), 30, "the pool's lock released")
            shown = factory.startup("status", check=False)
            assert shown.returncode == 1, shown.stdout
            assert shown.stdout.startswith("Degraded") and "embedded pool" in shown.stdout
            os.kill(web, signal.SIGKILL)
        finally:
            os.kill(daemon, signal.SIGCONT)
        wait_for(lambda: factory.startup("status", check=False).returncode == 0, 60, "running")
        assert int((factory.state_dir / "pool.pid").read_text()) != pool
        wait_for(
            lambda: int((factory.work / "lock" / "webserver.pid").read_text()) != web,
            30,
            "the web server restarted",
        )
        wait_for(lambda: len(factory.ads("glidefactory")) == 2, 60, "entries advertise again")
        wait_for(
            lambda: [a["FactoryProblems"] for a in factory.ads("glidefactoryglobal")] == [""],
            30,
            "the global ad to say all is well again",
        )
        text = "".join(p.read_text() for p in (factory.root / "log" / "factory").rglob("*.log"))
        assert "embedded pool is down: restarting it" in text


def pool_lock_held(factory) -> bool:
    return statedir.lock_is_held(factory.state_dir)
