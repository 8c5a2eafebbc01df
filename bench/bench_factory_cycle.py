"""One full factory cycle of many entries on the embedded pool (prints figures).

Issue #14 asks that 500 entries, 10 clients each and 100,000 glideins be served in one
cycle of at most 15 s, in at most 1 GB resident across all processes. This builds a real
tree of N entries, starts the real pool daemon, queues the glideins, advertises the
requests as a Frontend does (every ad with its own key code, so the factory decrypts each
one), then runs one warm-up and one measured `EntryGroupDaemon.iteration()` in each of
`--groups` entry-group processes at once (the factory spreads its entries the same way),
the requests re-advertised with new keys in between. It prints the cycle's wall time,
each group's stages (with --profile) and the peak resident memory of every process.

Usage: .venv/bin/python bench/bench_factory_cycle.py [--entries 500] [--clients 10]
       [--glideins 100000] [--groups 2] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing
import os
import pstats
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import advertise_factory, advertise_fresh_requests, fill_queue
from factory_testlib import EntrySpec, config_xml, create, free_port

from glideinwms_factory.entry.daemon import EntryGroupDaemon
from glideinwms_factory.lib.factory_key import load_keys
from glideinwms_factory.lib.pool.connect import ensure_factory_token, open_pool
from glideinwms_factory.lib.pool.embedded import control, statedir

STAGES = (
    ("find work (query, decrypt, validate)", "entry/daemon.py", "find_work"),
    ("serve the entries (all below)", "entry/daemon.py", "serve_entry"),
    ("  schedd queries", "embedded/client.py", "query"),
    ("  queue records", "entry/accounting.py", "jobs_from_rows"),
    ("  decisions", "entry/decision.py", "plan_cycle"),
    ("  advertise", "entry/daemon.py", "_ads"),
    ("  stats files (XML, RRD)", "entry/stats.py", "write"),
)


def peak_rss_mb(pid: int | str = "self") -> float:
    """The process's peak resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def group_worker(work: Path, names: list[str], group: str, profile: bool, pipe: Connection):
    """One entry group: warm-up iteration, then the measured one when told to go."""
    daemon = EntryGroupDaemon(work, names, group)
    daemon.iteration()  # RRDs created, entry ads out
    pipe.send("warm")
    pipe.recv()  # the requests were re-advertised with new keys
    profiler = cProfile.Profile() if profile else None
    started, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.runcall(daemon.iteration)
        profiler.dump_stats(f"{tempfile.gettempdir()}/bench_factory_cycle.{group}.prof")
    else:
        daemon.iteration()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    stages = {}
    if profiler is not None:
        stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
        for label, where, name in STAGES:
            stages[label] = sum(
                row[3]
                for (filename, _line, func), row in stats.items()
                if func == name and filename.endswith(where)
            )
    pipe.send((started, elapsed, cpu, stages, peak_rss_mb()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=500)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--glideins", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="stages (slows the cycle)")
    args = parser.parse_args()
    names = [f"e{i:03d}" for i in range(args.entries)]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        specs = [EntrySpec(n, max_glideins=100000, max_idle=100000, max_held=100000) for n in names]
        factory = create(Path(tmp), config_xml(specs, free_port(), 1))
        print(f"tree of {args.entries} entries: {time.perf_counter() - started:.1f} s")
        control.start(factory.state_dir, slots=1)
        try:
            ensure_factory_token(factory.state_dir)
            keys = load_keys(factory.work)
            pool = open_pool(EntryGroupDaemon(factory.work, names[:1], "setup").factory.glidein)
            EntryGroupDaemon(factory.work, names, "setup").iteration()  # the entry ads
            advertise_factory(pool.collector, keys)
            started = time.perf_counter()
            fill_queue(factory, names, args.glideins, args.clients, hold=True)
            print(f"{args.glideins} glideins queued: {time.perf_counter() - started:.1f} s")
            advertise_fresh_requests(factory, names, args.clients, cycle=0)
            context = multiprocessing.get_context("fork")
            pipes, workers = [], []
            for g in range(args.groups):
                mine, theirs = context.Pipe()
                part = names[g :: args.groups]
                worker = context.Process(
                    target=group_worker,
                    args=(factory.work, part, f"group{g}", args.profile, theirs),
                )
                worker.start()
                pipes.append(mine)
                workers.append(worker)
            for pipe in pipes:
                assert pipe.recv() == "warm"
            sent = advertise_fresh_requests(factory, names, args.clients, cycle=1)
            daemon_pid = statedir.read_pid(factory.state_dir) or os.getpid()
            daemon_cpu = cpu_seconds(daemon_pid)
            for pipe in pipes:
                pipe.send("go")
            results = [pipe.recv() for pipe in pipes]
            daemon_cpu = cpu_seconds(daemon_pid) - daemon_cpu
            for worker in workers:
                worker.join()
            begin = min(r[0] for r in results)
            wall = max(r[0] + r[1] for r in results) - begin
            print(
                f"one cycle: {args.entries} entries in {args.groups} group(s), "
                f"{sent} requests (each its own key code), {args.glideins} glideins: "
                f"{wall:.1f} s wall (load average {os.getloadavg()[0]:.1f} on "
                f"{os.cpu_count()} cores)"
            )
            for g, (_start, elapsed, cpu, stages, _rss) in enumerate(results):
                print(f"  group{g}: {elapsed:.1f} s wall, {cpu:.1f} s CPU")
                for label, seconds in stages.items():
                    print(f"    {label:40} {seconds:6.1f} s")
            print(f"  pool daemon meanwhile: {daemon_cpu:.1f} s CPU")
            daemon_rss = peak_rss_mb(daemon_pid)
            group_rss = [r[4] for r in results]
            total = daemon_rss + sum(group_rss)
            print(
                f"peak RSS: pool daemon {daemon_rss:.0f} MB, entry groups "
                f"{' + '.join(f'{m:.0f}' for m in group_rss)} MB; all {total:.0f} MB "
                f"(this driver {peak_rss_mb():.0f} MB, not a factory process; pid {os.getpid()})"
            )
        finally:
            control.stop(factory.state_dir)


if __name__ == "__main__":
    main()
