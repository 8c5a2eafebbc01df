"""Time one factory monitoring cycle over many synthetic entries (ARCHITECTURE.md: ~500
entries, ~10 frontend clients each): aggregation (XML, factory RRDs, the last hour/day/week
of completions read from every entry's RRDs, the graph data), metrics, pages. Entry XML is
written with the entry writer's own XML builders, each entry's total RRDs with the entry
writer's RRD code (setup, not timed). The target (issue 16) is a whole cycle <= 3 s. The
entries' files do not change between cycles here, so the steady pages keep their PNGs and
the steady metrics reuse every entry's lines (the first run of each shows the other end).

    .venv/bin/python bench/bench_aggregate.py [--entries 500] [--clients 10]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

from glideinwms_factory.aggregate import aggregate
from glideinwms_factory.lib import xml_stats
from glideinwms_factory.lib.metrics import write_metrics
from glideinwms_factory.lib.monitoring_model import (
    CLIENT_MONITOR,
    REQUESTED,
    STATUS,
    ClientLog,
    ClientStats,
    CompletedGlidein,
    sum_clients,
)
from glideinwms_factory.lib.monitoring_rrd import update_rrds
from glideinwms_factory.lib.monitoring_xml import log_summary_element, qstats_element
from glideinwms_factory.lib.rrd import RRDTool
from glideinwms_factory.pages import PageWriter


def synthetic_entry(
    folder: Path, name: str, clients: int, when: int, rng: random.Random, tool: RRDTool
) -> None:
    stats, logs = {}, {}
    for i in range(clients):
        client = f"fe{i}_class"
        stats[client] = ClientStats(
            status={f: rng.randint(0, 200) for f in STATUS},
            requested={f: rng.randint(0, 100) for f in REQUESTED},
            client_monitor={f: rng.randint(0, 1000) for f in CLIENT_MONITOR},
        )
        one = ClientLog()
        for n in range(rng.randint(0, 5)):
            one.completed.add(
                CompletedGlidein(
                    client,
                    "u",
                    f"{n}.0",
                    when,
                    rng.randint(0, 90000),
                    True,
                    rng.randint(0, 80000),
                    rng.randint(0, 40),
                    3000,
                    2000,
                    2500,
                )
            )
        logs[client] = one
    entry = folder / f"entry_{name}"
    xml_stats.write_xml(
        entry / "schedd_status.xml", qstats_element("glideFactoryEntryQStats", when, stats, False)
    )
    xml_stats.write_xml(
        entry / "log_summary.xml", log_summary_element("glideFactoryEntryLogSummary", when, logs)
    )
    total = ClientLog()
    for one in logs.values():
        total.merge(one)
    for stamp in (when - 600, when - 300):
        update_rrds(tool, entry / "total", stamp, sum_clients(stats.values()), total)


def graph_cost(mon: Path, end: int, count: int = 20) -> None:
    """Per-entry graphs need entry RRDs, which this bench does not make: time one graph."""
    tool = RRDTool()
    rrd = mon / "total" / "Status_Attributes.rrd"
    start = time.perf_counter()
    for i in range(count):
        tool.graph(
            mon / f"g{i}.png",
            [
                f"DEF:i={rrd}:StatusIdle:AVERAGE",
                "LINE2:i#0000ff:Idle",
                "--end",
                str(end),
                "--start",
                str(end - 86400),
            ],
        )
    each = (time.perf_counter() - start) / count
    print(f"one status graph: {each * 1000:.1f} ms (x {len(list(mon.glob('entry_*')))} entries)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=500)
    parser.add_argument("--clients", type=int, default=10)
    args = parser.parse_args()
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        mon = Path(tmp)
        names = [f"entry{i:04d}" for i in range(args.entries)]
        now = (int(time.time()) // 300) * 300
        start = time.perf_counter()
        tool = RRDTool()
        for name in names:
            synthetic_entry(mon, name, args.clients, now, rng, tool)
        print(
            f"setup: {args.entries} entries x {args.clients} clients of XML and entry RRDs:"
            f" {time.perf_counter() - start:.2f} s"
        )
        for label, when in (
            ("first aggregation (creates RRDs)", now),
            ("second aggregation", now + 300),
        ):
            start, cpu = time.perf_counter(), time.process_time()
            totals = aggregate(mon, names, now=when)
            elapsed, aggregation_cpu = time.perf_counter() - start, time.process_time() - cpu
            print(
                f"{label}: {elapsed:.2f} s, {aggregation_cpu:.2f} s CPU"
                f" ({len(totals.entries)} entries, {len(totals.errors)} errors)"
            )
        aggregation = elapsed
        for label in ("first pages (draws every PNG)", "pages again (PNGs < 5 min old kept)"):
            start, cpu = time.perf_counter(), time.process_time()
            pages = PageWriter(mon).write(totals)
            page_time, page_cpu = time.perf_counter() - start, time.process_time() - cpu
            print(f"{label}: {page_time:.2f} s, {page_cpu:.2f} s CPU ({len(pages)} pages)")
        for label in ("first metrics.prom (formats every entry)", "metrics.prom again"):
            start, cpu = time.perf_counter(), time.process_time()
            write_metrics(mon / "metrics.prom", totals)
            metric_time, metric_cpu = time.perf_counter() - start, time.process_time() - cpu
            print(f"{label}: {metric_time:.2f} s, {metric_cpu:.2f} s CPU")
        cycle = aggregation + page_time + metric_time
        cycle_cpu = aggregation_cpu + page_cpu + metric_cpu
        verdict = "within" if cycle <= 3 else "OVER"
        print(f"one steady monitoring cycle (aggregation + pages + metrics): {cycle:.2f} s,")
        print(f"  {verdict} the 3 s target (issue 16); {cycle_cpu:.2f} s of CPU;")
        print(f"  machine load {os.getloadavg()[0]:.1f} (on a shared machine, CPU s is the figure)")
        graph_data = sum(p.stat().st_size for p in mon.glob("total/**/graphs_*.js"))
        print(f"graph data written by the factory: {graph_data / 1e6:.2f} MB")
        graph_cost(mon, now + 300)
        size = sum(p.stat().st_size for p in mon.glob("*.xml"))
        print(f"factory XML written: {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
