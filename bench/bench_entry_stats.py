"""Time one entry's statistics write (XML, completed log, RRDs, rrd_*.xml averages).

.venv/bin/python bench/bench_entry_stats.py [--clients 10] [--jobs 200] [--iterations 20]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from glideinwms_factory.entry.stats import EntryStats, EntryStatsWriter
from glideinwms_factory.lib.monitoring_model import STATUS, ClientStats, CompletedGlidein


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=200, help="glideins per client")
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    rng = random.Random(1)
    states = ("Idle", "Running", "Held", "Wait")
    with tempfile.TemporaryDirectory() as tmp:
        writer = EntryStatsWriter(Path(tmp) / "mon", Path(tmp) / "log", "ce", rrd_xml_interval=0)
        start_at = (int(time.time()) // 300) * 300
        times = []
        for i in range(args.iterations):
            now = start_at + 300 * i
            clients = {
                f"fe{c}_class": ClientStats(status={f: rng.randint(0, 50) for f in STATUS})
                for c in range(args.clients)
            }
            jobs = {
                name: {f"{i}.{j}": rng.choice(states) for j in range(args.jobs)} for name in clients
            }
            completed = [
                CompletedGlidein(name, "u", f"{i - 1}.{j}", now, 3600, True, 3500, 2, 3000, 2900)
                for name in clients
                for j in range(5)
            ]
            start = time.perf_counter()
            writer.write(EntryStats("ce", now, False, clients, jobs), completed)
            times.append(time.perf_counter() - start)
        times.sort()
        print(
            f"entry stats write, {args.clients} clients x {args.jobs} glideins"
            f" (with rrd_*.xml every time): slowest {times[-1] * 1000:.0f} ms,"
            f" median {times[len(times) // 2] * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
