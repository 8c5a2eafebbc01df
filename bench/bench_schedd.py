"""Embedded schedd figures: submit rate, query times over 50,000 jobs, restart, memory.

    .venv/bin/python bench/bench_schedd.py [--jobs 50000] [--cluster 100] [--entries 50]

Jobs are submitted on hold (nothing runs) with glidein-like attributes spread over
ENTRIES entries x 10 clients, then queried the way the factory does.
"""

from __future__ import annotations

import argparse
import logging
import pathlib
import resource
import tempfile
import time
from collections.abc import Callable

from glideinwms_factory.entry.accounting import QUERY_PROJECTION as PROJECTION
from glideinwms_factory.lib.pool.embedded.schedd_core import ScheddCore

CLIENTS = 10


def glidein_description(workdir: pathlib.Path, entry: str) -> str:
    return f"""universe = grid
grid_resource = condor {entry}.example.org {entry}.example.org:9619
executable = glidein_startup.sh
initialdir = {workdir}
arguments = "-v std -name gfactory -entry {entry} -clientname $(Cluster).$(Process)"
environment = "IDTOKENS_FILE=/tmp/tok"
output = job.$(Cluster).$(Process).out
error = job.$(Cluster).$(Process).err
log = condor_activity.log
periodic_remove = (JobStatus == 1) && (time() - QDate > 86400)
hold = true
+GlideinFactory = "fact"
+GlideinName = "gwms"
+GlideinEntryName = "{entry}"
+GlideinEntrySubmitFile = "entry_{entry}/job.condor"
+GlideinWebBase = "http://factory.example.org/factory/stage"
+GlideinWorkDir = "Condor"
+GlideinSlotsLayout = "fixed"
+GlideinMaxWalltime = 172800
+fename = "fe_user"
queue
"""


def timed(label: str, action: Callable[[], object], unit: str = "") -> float:
    start = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - start
    extra = f" ({len(result)} ads)" if isinstance(result, list) else ""
    print(f"{label:<52} {elapsed * 1000:10.1f} ms{extra}{unit}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50_000)
    parser.add_argument("--cluster", type=int, default=100, help="jobs per submit")
    parser.add_argument("--entries", type=int, default=50)
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        (root / "glidein_startup.sh").write_text("#!/bin/sh\nexit 0\n")
        state = root / "state"
        entries = [f"entry{i:03d}" for i in range(options.entries)]
        descriptions = {entry: glidein_description(root, entry) for entry in entries}
        core = ScheddCore(state, policy_interval=3600)
        core.start()

        single = 200
        start = time.perf_counter()
        for i in range(single):
            core.submit(descriptions[entries[i % len(entries)]], count=1)
        elapsed = time.perf_counter() - start
        print(f"{'submit, 1 job per call':<52} {single / elapsed:10.0f} submits/s")

        submits = (options.jobs - single) // options.cluster
        start = time.perf_counter()
        for i in range(submits):
            entry = entries[i % len(entries)]
            client = f"client{(i // len(entries)) % CLIENTS}@fe"
            attrs = {
                "GlideinClient": client,
                "GlideinFrontendName": f"fe:{client}",
                "GlideinCredentialIdentifier": "cred1",
                "GlideinSecurityClass": "frontend",
            }
            core.submit(descriptions[entry], count=options.cluster, attrs=attrs)
        elapsed = time.perf_counter() - start
        total = submits * options.cluster
        print(f"{f'submit, {options.cluster} jobs per call':<52} {total / elapsed:10.0f} jobs/s")

        entry = entries[7]
        accounting = (
            f'(GlideinFactory =?= "fact") && (GlideinName =?= "gwms") && '
            f'(GlideinEntryName =?= "{entry}") && (GlideinCredentialIdentifier =!= UNDEFINED)'
        )
        full_scan = "NumSystemHolds > 0 || HoldReasonCode == 16"
        per_client = f'GlideinEntryName =?= "{entry}" && GlideinClient =?= "client3@fe"'
        timed("full-scan query, cold ad cache", lambda: core.query(full_scan, ["ClusterId"]))
        timed("full-scan query, warm", lambda: core.query(full_scan, ["ClusterId"]))
        timed("all jobs, ClusterId projection", lambda: core.query("true", ["ClusterId"]))
        timed("all jobs, full ads", lambda: core.query())
        timed(
            "indexed per-entry accounting query",
            lambda: core.query(accounting, PROJECTION),
        )
        timed("indexed per-entry+client query", lambda: core.query(per_client, PROJECTION))
        n = 100
        start = time.perf_counter()
        for i in range(n):
            other = accounting.replace(entry, entries[i % len(entries)])
            core.query(other, PROJECTION)
        per_query = (time.perf_counter() - start) / n
        print(f"{'indexed accounting query, mean over entries':<52} {per_query * 1000:10.1f} ms")
        timed("periodic policy pass over all jobs", core._apply_policy)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{'peak RSS':<52} {rss:10.0f} MB")
        core.stop()

        restarted = ScheddCore(state, policy_interval=3600)
        timed("restart: recover the queue", restarted.start)
        restarted.stop()
        size = sum(p.stat().st_size for p in state.glob("queue.sqlite3*")) / 2**20
        print(f"{'queue database size':<52} {size:10.1f} MB")


if __name__ == "__main__":
    main()
