"""Figures for the embedded pool on this machine (prints them; no pass/fail).

* advertise rate: 20,000 glideclient-like ads in multi-ad requests of 500 (ads/s),
  and single-ad requests (requests/s);
* query time over those 20,000 ads: an entry's request query (index-pinned), a
  constraint every ad must be evaluated for, and the whole table;
* submit rate: 50,000 jobs in clusters of 100 (jobs/s);
* queue query time over 50,000 jobs: one entry's jobs (index-pinned), all jobs with
  the accounting projection, and an unindexed constraint.

Usage: .venv/bin/python bench/bench_pool.py [--ads N] [--jobs N]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import tempfile
import time
from collections.abc import Callable

import classad2

from glideinwms_factory.lib.pool import JobAction
from glideinwms_factory.lib.pool.embedded import control, statedir
from glideinwms_factory.lib.pool.embedded.auth import create_token, load_or_create_secret
from glideinwms_factory.lib.pool.embedded.client import EmbeddedCollector, EmbeddedSchedd

ENTRIES = 500


def request_ad(i: int) -> classad2.ClassAd:
    entry = f"entry{i % ENTRIES}@gfactory_instance@factory"
    ad = classad2.ClassAd()
    ad["MyType"] = "glideclient"
    ad["GlideinMyType"] = "glideclient"
    ad["Name"] = f"cred{i}_{entry}@frontend.group{i % 7}"
    ad["ClientName"] = f"frontend.group{i % 7}"
    ad["ReqName"] = entry
    ad["ReqGlidein"] = entry
    ad["ReqIdleGlideins"] = i % 50
    ad["ReqMaxGlideins"] = 100
    ad["WebSignType"] = "sha256"
    ad["ReqPubKeyID"] = "0123456789abcdef"
    ad["ReqEncKeyCode"] = "ab" * 256
    ad["ReqEncIdentity"] = "cd" * 256
    for k in range(15):
        ad[f"GlideinParamX{k}"] = f"value {k}"
    for k in ("Idle", "Running", "GlideinsTotal"):
        ad[f"GlideinMonitor{k}"] = i % 13
    return ad


def timed(call: Callable[[], object], repeat: int = 5) -> tuple[float, object]:
    """Median seconds of `repeat` calls, and the last result."""
    times = []
    result: object = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def daemon_rss_mb(state_dir: pathlib.Path) -> float:
    """Resident memory of the daemon process, from /proc."""
    pid = (state_dir / statedir.PID_FILE).read_text().strip()
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_collector(address: str, token: str, count: int) -> None:
    collector = EmbeddedCollector(address, token, timeout=300)
    ads = [request_ad(i) for i in range(count)]
    start = time.perf_counter()
    for first in range(0, count, 500):
        collector.advertise(ads[first : first + 500], "UPDATE_MASTER_AD")
    elapsed = time.perf_counter() - start
    print(f"advertise, 500 ads/request: {count / elapsed:10.0f} ads/s  ({count} ads)")
    start = time.perf_counter()
    for ad in ads[:1000]:
        collector.advertise([ad], "UPDATE_MASTER_AD")
    print(f"advertise, 1 ad/request:    {1000 / (time.perf_counter() - start):10.0f} ads/s")

    entries = ",".join(f"entry{e}@gfactory_instance@factory" for e in range(10))
    queries = {
        "entry-group request query (10 entries, indexed)": (
            f'(GlideinMyType=?="glideclient") && (stringListMember(ReqGlidein,"{entries}")=?=True)'
            ' && stringListMember(WebSignType,"sha1,sha256")'
            ' && (((ReqPubKeyID=?="0123456789abcdef") && (ReqEncKeyCode=!=Undefined))'
            " || (ReqPubKeyID=?=Undefined))"
        ),
        "unindexed constraint (evaluates every ad)": "ReqIdleGlideins > 1000",
        "whole table, projection Name": "true",
    }
    for label, constraint in queries.items():
        projection = ["Name"] if constraint == "true" else []
        seconds, result = timed(lambda c=constraint, p=projection: collector.query(c, p))
        print(f"query {label:48s} {seconds * 1000:8.1f} ms  ({len(result)} ads)")
    seconds, result = timed(lambda: collector.query("true"), repeat=3)
    print(f"query {'whole table, full ads':48s} {seconds * 1000:8.1f} ms  ({len(result)} ads)")


def bench_schedd(address: str, token: str, count: int) -> None:
    schedd = EmbeddedSchedd(address, token, timeout=600)
    description = {"executable": "/bin/sleep", "arguments": "3600", "universe": "vanilla"}
    per_cluster = 100
    start = time.perf_counter()
    for cluster in range(count // per_cluster):
        entry = f"entry{cluster % ENTRIES}"
        attrs = {"GlideinEntryName": entry, "GlideinClient": f"frontend.group{cluster % 7}"}
        schedd.submit(description, count=per_cluster, attrs=attrs)
    elapsed = time.perf_counter() - start
    print(
        f"submit, {per_cluster} jobs/cluster:      {count / elapsed:10.0f} jobs/s  ({count} jobs)"
    )
    queries = {
        "one entry's jobs (indexed)": ('GlideinEntryName == "entry17"', []),
        "all jobs, accounting projection": (
            "true",
            ["ClusterId", "ProcId", "JobStatus", "GlideinEntryName", "GlideinClient"],
        ),
        "unindexed constraint": ("JobStatus == 5", ["ClusterId", "ProcId"]),
    }
    for label, (constraint, projection) in queries.items():
        seconds, result = timed(lambda c=constraint, p=projection: schedd.query(c, p), repeat=3)
        print(f"queue query {label:42s} {seconds * 1000:8.1f} ms  ({len(result)} jobs)")
    schedd.act(JobAction.REMOVE, "true")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ads", type=int, default=20_000)
    parser.add_argument("--jobs", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_pool.") as tmp:
        state_dir = pathlib.Path(tmp) / "pool"
        address = control.start(state_dir, slots=1)
        token = create_token(load_or_create_secret(state_dir), "bench@example.org")
        try:
            bench_collector(address, token, args.ads)
            print(f"daemon memory with {args.ads} ads: {daemon_rss_mb(state_dir):.0f} MB RSS")
            bench_schedd(address, token, args.jobs)
            print(f"daemon memory with the jobs too: {daemon_rss_mb(state_dir):.0f} MB RSS")
        finally:
            control.stop(state_dir)


if __name__ == "__main__":
    main()
