"""Time the pure per-cycle work of all entries at production scale (ARCHITECTURE.md "Scale":
~500 entries, ~10 clients each, ~100,000 glideins): query rows -> Job records, grouping,
the decision for every request, glidein arguments, and downtime queries.

    .venv/bin/python bench/bench_entry_decision.py [--entries 500] [--clients 10] [--jobs 100000]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import classad2

from glideinwms_factory.entry.accounting import Job, QueueSnapshot, RequestKey, jobs_from_rows
from glideinwms_factory.entry.decision import Request, plan_cycle
from glideinwms_factory.entry.glidein_args import GlideinArgs, build_glidein_arguments
from glideinwms_factory.entry.limits import EntryLimits
from glideinwms_factory.lib.downtimes import Downtime, parse_downtimes, request_down

T = TypeVar("T")
GRID_STATES = [None, "IDLE", "RUNNING", "STAGE_IN", "DONE"]


Row = dict[str, Any]


def synthetic_rows(entries: int, clients: int, jobs: int, rng: random.Random) -> list[list[Row]]:
    per_entry: list[list[Row]] = [[] for _ in range(entries)]
    for n in range(jobs):
        client = rng.randrange(clients)
        per_entry[n % entries].append(
            {
                "ClusterId": n // 10,
                "ProcId": n % 10,
                "JobStatus": rng.choice([1, 1, 2, 2, 2, 5]),
                "GridJobStatus": rng.choice(GRID_STATES),
                "ServerTime": 2_000_000,
                "EnteredCurrentStatus": 2_000_000 - rng.randrange(10**6),
                "GlideinClient": f"fe{client}.main",
                "GlideinFrontendName": f"fe{client}:frontend",
                "GlideinSecurityClass": "frontend",
                "GlideinCredentialIdentifier": "cred",
                "HoldReasonCode": rng.choice([12, 30, 99]),
                "NumSystemHolds": rng.randrange(25),
            }
        )
    return [[{k: v for k, v in row.items() if v is not None} for row in rows] for rows in per_entry]


def timed(label: str, count: int, unit: str, work: Callable[[], T]) -> T:
    start = time.perf_counter()
    result = work()
    elapsed = time.perf_counter() - start
    print(f"{label:<44} {elapsed * 1000:9.1f} ms  {elapsed / count * 1e6:8.2f} us/{unit}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=500)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=100_000)
    options = parser.parse_args()
    rng = random.Random(1)
    rows = synthetic_rows(options.entries, options.clients, options.jobs, rng)
    ads = [[classad2.ClassAd(row) for row in entry_rows] for entry_rows in rows]
    limits = EntryLimits.from_descript({}, recoverable_exitcodes="12,30 2")
    requests = [
        Request(
            RequestKey(f"fe{c}.main", "frontend", "cred"),
            f"fe{c}:frontend",
            idle=rng.randrange(200),
            max_glideins=rng.randrange(2000),
            remove_excess=rng.choice(["NO", "WAIT", "IDLE", "ALL"]),
        )
        for c in range(options.clients)
    ]
    n_requests = options.entries * options.clients
    print(f"{options.entries} entries, {options.clients} requests each, {options.jobs} glideins\n")

    def records_from(source: list[list[Row]] | list[list[classad2.ClassAd]]) -> list[list[Job]]:
        return [jobs_from_rows(entry_rows, 2_000_000)[0] for entry_rows in source]

    timed("Job records from dict rows", options.jobs, "job", lambda: records_from(rows))
    jobs = timed("Job records from classad2 ads", options.jobs, "job", lambda: records_from(ads))
    snapshots = timed(
        "QueueSnapshot (E/F/C grouping)",
        options.jobs,
        "job",
        lambda: [QueueSnapshot(entry_jobs) for entry_jobs in jobs],
    )
    timed(
        "plan_cycle: every request of every entry",
        n_requests,
        "request",
        lambda: [plan_cycle(requests, snapshot, limits) for snapshot in snapshots],
    )
    args = GlideinArgs(
        "std", "gfi", "ENTRY", "fe1.main", "schedd@h", "fact", "http://h/stage", "ab12",
        "cd34", "description.a.cfg", "description.b.cfg", "OSG", "cred", "fixed",
        params={f"P{i}": f"value {i}.x:y" for i in range(20)},
    )  # fmt: skip
    timed(
        "build_glidein_arguments (20 params)",
        n_requests,
        "request",
        lambda: [build_glidein_arguments(args, "condor") for _ in range(n_requests)],
    )
    now = datetime(2026, 1, 1, tzinfo=UTC)
    text = "\n".join(
        Downtime(
            now - timedelta(hours=i), now + timedelta(hours=i), f"E{i}", f"fe{i % 7}"
        ).to_line()
        for i in range(1000)
    )
    parsed = timed("parse 1000-line downtime file", 1000, "line", lambda: parse_downtimes(text))
    downtimes = parsed.downtimes
    timed(
        "request_down over 1000 lines",
        n_requests,
        "request",
        lambda: [request_down(downtimes, "E999", "fe1", "x", now) for _ in range(n_requests)],
    )


if __name__ == "__main__":
    main()
