"""Time one factory aggregation over many synthetic entries (ARCHITECTURE.md: ~500 entries,
~10 frontend clients each). Entry XML is written with the entry writer's own XML builders;
entry RRDs are not made (the aggregation reads only the XML).

    .venv/bin/python bench/bench_aggregate.py [--entries 500] [--clients 10]
"""

from __future__ import annotations

import argparse
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
)
from glideinwms_factory.lib.monitoring_xml import log_summary_element, qstats_element
from glideinwms_factory.lib.rrd import RRDTool
from glideinwms_factory.pages import PageWriter


def synthetic_entry(folder: Path, name: str, clients: int, when: float, rng: random.Random) -> None:
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
        for name in names:
            synthetic_entry(mon, name, args.clients, now, rng)
        print(
            f"wrote {args.entries} entries x {args.clients} clients of XML:"
            f" {time.perf_counter() - start:.2f} s"
        )
        for label, when in (
            ("first aggregation (creates RRDs)", now),
            ("second aggregation", now + 300),
        ):
            start = time.perf_counter()
            totals = aggregate(mon, names, now=when)
            elapsed = time.perf_counter() - start
            print(
                f"{label}: {elapsed:.2f} s"
                f" ({len(totals.entries)} entries, {len(totals.errors)} errors)"
            )
        start = time.perf_counter()
        pages = PageWriter(mon).write(totals)
        print(f"pages + graphs: {time.perf_counter() - start:.2f} s ({len(pages)} pages)")
        start = time.perf_counter()
        write_metrics(mon / "metrics.prom", totals)
        print(f"metrics.prom: {time.perf_counter() - start:.2f} s")
        graph_cost(mon, now + 300)
        size = sum(p.stat().st_size for p in mon.glob("*.xml"))
        print(f"factory XML written: {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
