"""Time one factory monitoring cycle over many synthetic entries (ARCHITECTURE.md: ~500
entries, ~10 frontend clients each): aggregation (XML, factory RRDs, the last hour/day/week
of completions read from every entry's RRDs, the graph data), metrics, pages. Entry XML is
written with the entry writer's own XML builders (with the running counters, actions and
cycle time a live entry writes), each entry's total RRDs and completed_history.json with
the entry writer's RRD code (setup, not timed). The target (issue 16) is a whole cycle
<= 3 s. Two cycles are timed, in CPU seconds of this process (the RRD binding runs in it):
a steady one (no entry wrote since the last aggregation: unchanged files, the pages keep
their PNGs, the metrics reuse every entry's lines) and a changing one (every entry wrote
new numbers since, as in a live factory whose entries loop faster than it aggregates).

    .venv/bin/python bench/bench_aggregate.py [--entries 500] [--clients 10] [--repeat 3]
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
    ACTIONS,
    CLIENT_MONITOR,
    COUNTERS,
    REQUESTED,
    STATUS,
    ClientLog,
    ClientStats,
    CompletedGlidein,
    FactoryTotals,
    sum_clients,
)
from glideinwms_factory.lib.monitoring_rrd import completed_history, update_rrds
from glideinwms_factory.lib.monitoring_xml import (
    log_summary_element,
    qstats_element,
    write_history,
)
from glideinwms_factory.lib.rrd import RRDTool
from glideinwms_factory.pages import PageWriter


def entry_numbers(
    clients: int, when: int, rng: random.Random, cycle: int
) -> tuple[dict[str, ClientStats], dict[str, ClientLog]]:
    """One entry cycle's numbers per client; `cycle` grows the running counters."""
    stats, logs = {}, {}
    for i in range(clients):
        client = f"fe{i}_class"
        actions = {f: rng.randint(0, 20) for f in ACTIONS}
        stats[client] = ClientStats(
            status={f: rng.randint(0, 200) for f in STATUS},
            requested={f: rng.randint(0, 100) for f in REQUESTED},
            client_monitor={f: rng.randint(0, 1000) for f in CLIENT_MONITOR},
            actions=actions,
            counters={f: 10 * cycle + rng.randint(0, 9) for f in COUNTERS},
            rejected_total={"bad identity": cycle} if i == 0 else {},
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
    return stats, logs


def write_entry_xml(
    entry: Path, when: int, stats: dict[str, ClientStats], logs: dict[str, ClientLog]
) -> None:
    """The two files an entry rewrites every cycle, as entry/stats.py writes them."""
    xml_stats.write_xml(
        entry / "schedd_status.xml",
        qstats_element("glideFactoryEntryQStats", when, stats, False, 12.5),
        fsync=False,
    )
    xml_stats.write_xml(
        entry / "log_summary.xml",
        log_summary_element("glideFactoryEntryLogSummary", when, logs),
        fsync=False,
    )


def synthetic_entry(
    folder: Path, name: str, clients: int, when: int, rng: random.Random, tool: RRDTool
) -> None:
    entry = folder / f"entry_{name}"
    stats, logs = entry_numbers(clients, when, rng, 1)
    write_entry_xml(entry, when, stats, logs)
    total = ClientLog()
    for one in logs.values():
        total.merge(one)
    for stamp in (when - 600, when - 300):
        update_rrds(tool, entry / "total", stamp, sum_clients(stats.values()), total)
    write_history(entry, completed_history(tool, entry / "total", when - 300))


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


Phases = dict[str, float]


def cycle(mon: Path, names: list[str], when: int) -> tuple[Phases, FactoryTotals]:
    """One monitoring cycle as `pages.publish` runs it; CPU seconds per phase."""
    phases = {}
    cpu = time.process_time()
    totals = aggregate(mon, names, now=when)
    phases["aggregation"] = time.process_time() - cpu
    cpu = time.process_time()
    write_metrics(mon / "metrics.prom", totals)
    phases["metrics"] = time.process_time() - cpu
    cpu = time.process_time()
    PageWriter(mon).write(totals)
    phases["pages"] = time.process_time() - cpu
    return phases, totals


def show(label: str, phases: Phases) -> float:
    whole = sum(phases.values())
    parts = ", ".join(f"{name} {cpu:.2f}" for name, cpu in phases.items())
    verdict = "within" if whole <= 3 else "OVER"
    print(f"{label}: {whole:.2f} s CPU ({parts}); {whole / 3:.2f} x the 3 s target: {verdict}")
    return whole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=500)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="timed cycles of each kind")
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
        phases, totals = cycle(mon, names, now)
        show("first cycle (creates RRDs, draws every PNG, formats every metric)", phases)
        print(f"  ({len(totals.entries)} entries, {len(totals.errors)} errors)")
        when = now
        steady, changing = [], []
        for round_ in range(args.repeat):
            when += 60
            steady.append(cycle(mon, names, when)[0])
            when += 60
            for name in names:  # every entry wrote a new cycle (not timed)
                stats, logs = entry_numbers(args.clients, when, rng, round_ + 2)
                write_entry_xml(mon / f"entry_{name}", when, stats, logs)
            changing.append(cycle(mon, names, when)[0])
        print(f"best of {args.repeat}, CPU seconds of this process:")
        calm = show(
            "steady cycle (no entry wrote since)", min(steady, key=lambda p: sum(p.values()))
        )
        busy = show(
            "changing cycle (every entry wrote)", min(changing, key=lambda p: sum(p.values()))
        )
        print(f"  changing / steady: {busy / calm:.2f}")
        print(f"  machine load {os.getloadavg()[0]:.1f} (on a shared machine, CPU s is the figure)")
        graph_data = sum(p.stat().st_size for p in mon.glob("total/**/graphs_*.js"))
        print(f"graph data written by the factory: {graph_data / 1e6:.2f} MB")
        graph_cost(mon, when)
        size = sum(p.stat().st_size for p in mon.glob("*.xml"))
        print(f"factory XML written: {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
