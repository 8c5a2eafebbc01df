"""Chaos (issue 17): kill -9 of entry daemons, the factory and the pool at random moments
under a requesting Frontend, >= 30 times in a bounded run; then check that nothing
acknowledged was lost, no limit was ever exceeded, and ads and status tell the truth."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time

import pytest
from factory_testlib import EntrySpec, config_xml, create, free_port, processes_under, running
from waiting import wait_for

from glideinwms_factory.lib import pidlock
from glideinwms_factory.lib.pool import PoolError
from glideinwms_factory.lib.pool.embedded.executor import process_ticks

ENTRIES = [EntrySpec("alpha", max_glideins=4, max_idle=3), EntrySpec("beta", 4, 3)]
IDLE, MAX, CLUSTER = 2, 4, 5  # what the frontend asks; the tree's submit cluster_size
KILLS = 30
BUDGET = 240.0  # seconds for the killing


def _entry_pids(factory, entry: str) -> list[int]:
    return [
        pid
        for pid, cmdline in processes_under(factory.work).items()
        if "glideinwms_factory.entry" in cmdline and f"--entry {entry}" in cmdline and _alive(pid)
    ]


def _alive(pid: int) -> bool:
    return process_ticks(pid) is not None  # alive and not a zombie


def _kill(pid: int | None) -> bool:
    if pid is None or not _alive(pid):
        return False
    os.kill(pid, signal.SIGKILL)
    return True


def _sample(factory, seen: dict[str, set[str]], worst: dict[str, tuple[int, int]]) -> None:
    """Record every glidein the schedd acknowledged and the worst idle/total per entry."""
    try:
        ads = factory.schedd().query(
            "GlideinEntryName =!= undefined",
            ["ClusterId", "ProcId", "JobStatus", "GlideinEntryName"],
        )
    except (PoolError, OSError):
        return  # the pool is down right now
    for entry in seen:
        mine = [ad for ad in ads if ad["GlideinEntryName"] == entry]
        seen[entry] |= {f"{ad['ClusterId']}.{ad['ProcId']}" for ad in mine}
        idle = sum(ad["JobStatus"] == 1 for ad in mine)
        live = sum(ad["JobStatus"] in (1, 2) for ad in mine)
        worst[entry] = (max(worst[entry][0], idle), max(worst[entry][1], live))


def _ask(factory) -> None:
    # While the pool is being restarted this fails: the next round asks again.
    with contextlib.suppress(AssertionError, OSError):
        factory.request(
            "request", "--entry", "alpha", "--entry", "beta", "--idle", str(IDLE), "--max", str(MAX)
        )


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_kill_minus_nine_everything_at_random(tmp_path):
    xml = config_xml(ENTRIES, free_port(), slots=2).replace(
        'restart_interval="600"', 'restart_interval="20"'
    )
    factory = create(tmp_path, xml)
    rng = random.Random(17)
    seen: dict[str, set[str]] = {"alpha": set(), "beta": set()}
    worst = {"alpha": (0, 0), "beta": (0, 0)}
    killed = {"entry": 0, "factory": 0, "pool": 0}
    with running(factory):
        wait_for(lambda: len(factory.ads("glidefactory")) == 2, 60, "both entries advertise")
        _ask(factory)
        wait_for(lambda: factory.glideins("alpha") and factory.glideins("beta"), 60, "glideins")
        started = time.monotonic()
        while sum(killed.values()) < KILLS and time.monotonic() - started < BUDGET:
            _ask(factory)
            _sample(factory, seen, worst)
            victim = rng.choice(["entry"] * 3 + ["factory", "pool"])
            if victim == "entry":
                pids = _entry_pids(factory, rng.choice(["alpha", "beta"]))
                hit = bool(pids) and _kill(rng.choice(pids))
            elif victim == "factory":
                hit = _kill(pidlock.read_pid(factory.work / "lock" / "glideinWMS.lock"))
                if hit:  # what the operator does: start it again
                    wait_for(
                        lambda: factory.startup("status", check=False).returncode in (1, 3),
                        30,
                        "the dead factory noticed",
                    )
                    factory.startup("start")
            else:
                pid_file = factory.state_dir / "pool.pid"
                hit = pid_file.exists() and _kill(int(pid_file.read_text()))
            killed[victim] += hit
            time.sleep(rng.uniform(0.2, 2.0))
            _sample(factory, seen, worst)
        assert sum(killed.values()) >= KILLS, killed
        assert all(killed.values()), killed  # each kind was killed at least once

        # Settled: the pool and every entry back, and status saying so truthfully.
        wait_for(
            lambda: factory.startup("status", check=False).stdout.startswith("Running"),
            120,
            "status Running",
        )
        for entry in ("alpha", "beta"):
            wait_for(lambda e=entry: len(_entry_pids(factory, e)) == 1, 60, f"{entry} served")
        _ask(factory)
        wait_for(
            lambda: (
                sorted(a["EntryName"] for a in factory.ads("glidefactory")) == ["alpha", "beta"]
            ),
            120,
            "both entries advertise again",
        )
        wait_for(
            lambda: [a["FactoryProblems"] for a in factory.ads("glidefactoryglobal")] == [""],
            30,
            "the global ad to say all is well",
        )
        _sample(factory, seen, worst)
        final = {
            f"{ad['ClusterId']}.{ad['ProcId']}"
            for ad in factory.schedd().query(
                "GlideinEntryName =!= undefined", ["ClusterId", "ProcId"]
            )
        }
        completed = "".join(p.read_text() for p in (factory.root / "log").rglob("completed_*"))
        for entry, ids in seen.items():
            lost = [i for i in ids if i not in final and f'id="{i}"' not in completed]
            assert lost == [], f"{entry}: acknowledged glideins lost: {lost}"
            idle, live = worst[entry]
            assert idle <= IDLE + CLUSTER and live <= MAX, (entry, worst[entry])
        for entry in ("alpha", "beta"):
            assert len(_entry_pids(factory, entry)) == 1
    print(f"kills: {killed}; glideins seen: { {e: len(i) for e, i in seen.items()} }")
