"""Factory-wide statistics: every entry's XML summed into the factory's XML, RRDs and totals.

`aggregate(monitor_dir, entries)` reads MONITOR/entry_<e>/{schedd_status,log_summary}.xml,
writes MONITOR/schedd_status.xml (`<glideFactoryQStats>`), log_summary.xml
(`<glideFactoryLogSummary>`), total/[frontend_<client>/]<RRD>.rrd and rrd_<RRD>.xml
(averages of the factory RRDs over 2 h, 1 day and 1 week), the browser graphs' data
beside the factory RRDs (monitoring_graphs), completed_jobs.json (read by
the entries through `monitoring_xml.completed_jobs_attributes`), and returns a `FactoryTotals`
for the glidefactory ads (`GlideinMonitorTotal*`, `GlideinMonitorCompletedJobsPer*`),
the metrics file and the pages.

The factory's log_summary.xml also carries, per entry, per frontend client and in total,
the completed glideins of the last hour, day and week (`<CompletedHistory>`), summed from
the factory's Log_Completed* RRDs, and for each entry from its completed_history.json
(which the entry sums from its own RRDs every few minutes).

Movements and completions are counts per entry iteration; an entry snapshot is counted
once (the `updated` stamp of each consumed log_summary is kept in aggregate_state.json),
so running the aggregation more often than the entries loop never counts twice.
An unreadable entry is reported in `FactoryTotals.errors` and left out; nothing stops.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from lxml import etree

from glideinwms_factory.lib import xml_stats
from glideinwms_factory.lib.atomicfile import atomic_write
from glideinwms_factory.lib.monitoring_graphs import write_graph_data
from glideinwms_factory.lib.monitoring_model import (
    ClientLog,
    ClientStats,
    EntrySnapshot,
    FactoryTotals,
    merge_logs,
    sum_clients,
)
from glideinwms_factory.lib.monitoring_rejected import update_rejected
from glideinwms_factory.lib.monitoring_rrd import completed_history, update_rrds, write_rrd_xml
from glideinwms_factory.lib.monitoring_xml import (
    COMPLETED_JOBS_FILE,
    history_element,
    log_element,
    log_summary_element,
    qstats_element,
    read_history,
    read_log_summary,
    read_qstats,
)
from glideinwms_factory.lib.rrd import RRDTool

log = logging.getLogger(__name__)

STATE_FILE = "aggregate_state.json"
REJECTED_STATE_FILE = "rejected_state.json"  # the entries' rejection totals seen last time


def _new_rejections(
    state_path: Path, entries: Mapping[str, EntrySnapshot]
) -> dict[str, dict[str, float]]:
    """Client -> reason -> requests rejected since the last aggregation, from the running
    totals the entries keep (so no entry cycle is missed); a total that went down (the
    entry lost its counters) counts in full."""
    try:
        seen = json.loads(state_path.read_text())
    except (OSError, ValueError):
        seen = {}
    if not isinstance(seen, dict):
        seen = {}
    new: dict[str, dict[str, float]] = {}
    for name, entry in entries.items():
        before = seen.get(name)
        before = before if isinstance(before, dict) else {}
        now = {client: dict(stats.rejected_total) for client, stats in entry.clients.items()}
        for client, totals in now.items():
            earlier = before.get(client)
            earlier = earlier if isinstance(earlier, dict) else {}
            for reason, total in totals.items():
                previous = earlier.get(reason, 0)
                delta = total - previous if total >= previous else total
                if delta:
                    reasons = new.setdefault(client, {})
                    reasons[reason] = reasons.get(reason, 0) + delta
        seen[name] = now
    atomic_write(state_path, json.dumps(seen), make_parents=True)
    return new


def read_entry(monitor_dir: Path, name: str, consumed: float) -> EntrySnapshot:
    """One entry's files; `consumed` is the log_summary stamp counted last time."""
    folder = monitor_dir / f"entry_{name}"
    qstats = read_qstats(folder / "schedd_status.xml")
    summary = read_log_summary(folder / "log_summary.xml")
    logs = summary.clients
    if summary.updated <= consumed:  # keep the levels, drop the already counted movements
        logs = {client: ClientLog(current=one.current) for client, one in logs.items()}
    return EntrySnapshot(
        name,
        qstats.updated,
        qstats.downtime,
        qstats.clients,
        logs,
        summary.updated,
        cycle_seconds=qstats.cycle_seconds,
    )


def _sum_by_client(entries: Iterable[EntrySnapshot]) -> tuple[dict, dict]:
    clients: dict[str, list[ClientStats]] = {}
    logs: dict[str, list[ClientLog]] = {}
    for entry in entries:
        for name, stats in entry.clients.items():
            clients.setdefault(name, []).append(stats)
        for name, one in entry.logs.items():
            logs.setdefault(name, []).append(one)
    return (
        {name: sum_clients(items) for name, items in clients.items()},
        {name: merge_logs(items) for name, items in logs.items()},
    )


def _entries_element(
    parent: etree._Element, entries: Mapping[str, EntrySnapshot], kind: str
) -> None:
    """Per-entry detail: every frontend's queue numbers, but only the log totals (the
    entry's own log_summary.xml has its per-frontend log detail)."""
    node = etree.SubElement(parent, "entries")
    for name, entry in sorted(entries.items()):
        if kind == "qstats":
            child = qstats_element(
                "entry", entry.updated, entry.clients, entry.downtime, total=entry.total
            )
            child.set("name", name)
            node.append(child)
        else:
            child = etree.SubElement(node, "entry", name=name)
            log_element(child, entry.total_log)
            history_element(child, entry.history)


def aggregate(
    monitor_dir: Path,
    entries: Iterable[str],
    now: float | None = None,
    rrd: RRDTool | None = None,
    stale_after: float | None = None,
) -> FactoryTotals:
    """Read every entry's stats, write the factory's files, return the totals.

    An entry whose statistics are older than `stale_after` seconds (a dead or hung entry
    daemon) is reported in `errors` and left out, rather than counted at its last levels.
    """
    monitor_dir = Path(monitor_dir)
    now = time.time() if now is None else now
    tool = rrd or RRDTool()
    state_path = monitor_dir / STATE_FILE
    try:
        consumed: dict[str, float] = json.loads(state_path.read_text())
    except (OSError, ValueError):
        consumed = {}

    result = FactoryTotals(updated=now)
    for name in entries:
        try:
            snapshot = read_entry(monitor_dir, name, consumed.get(name, 0.0))
        except xml_stats.StatsFileError as exc:
            result.errors[name] = str(exc)
            log.warning("entry %s left out of the aggregation: %s", name, exc)
            continue
        age = now - snapshot.updated
        if stale_after is not None and age > stale_after:
            result.errors[name] = f"statistics are {int(age)} s old"
            log.warning("entry %s left out of the aggregation: stale for %d s", name, age)
        else:
            result.entries[name] = snapshot
    result.clients, result.logs = _sum_by_client(result.entries.values())

    when = int(now)
    total_folder = monitor_dir / "total"
    folders = {client: total_folder / f"frontend_{client}" for client in result.clients}
    for client in sorted(set(result.clients) | set(result.logs)):
        update_rrds(
            tool,
            total_folder / f"frontend_{client}",
            when,
            result.clients.get(client) or ClientStats(),
            result.logs.get(client) or ClientLog(),
        )
        result.client_history[client] = completed_history(
            tool, total_folder / f"frontend_{client}", when
        )
    update_rrds(tool, total_folder, when, result.total, result.total_log)
    by_client = _new_rejections(monitor_dir / REJECTED_STATE_FILE, result.entries)
    for client in sorted(set(by_client) | set(folders)):
        update_rejected(tool, total_folder / f"frontend_{client}", when, by_client.get(client, {}))
    all_clients: dict[str, float] = {}
    for reasons in by_client.values():
        for reason, count in reasons.items():
            all_clients[reason] = all_clients.get(reason, 0) + count
    update_rejected(tool, total_folder, when, all_clients)
    result.history = completed_history(tool, total_folder, when)
    for name, entry in result.entries.items():
        entry.history = read_history(monitor_dir / f"entry_{name}")
    write_rrd_xml(tool, monitor_dir, "glideFactoryRRDStats", folders, when)
    for folder in (total_folder, *folders.values()):
        write_graph_data(tool, folder, when)
    xml_stats.write_xml(
        monitor_dir / "schedd_status.xml", _factory_qstats(result, "glideFactoryQStats")
    )
    xml_stats.write_xml(
        monitor_dir / "log_summary.xml", _factory_logs(result, "glideFactoryLogSummary")
    )

    completed = {
        "updated": now,
        "factory": result.completed_jobs(),
        "entries": {name: entry.completed_jobs() for name, entry in result.entries.items()},
    }
    atomic_write(monitor_dir / COMPLETED_JOBS_FILE, json.dumps(completed), make_parents=True)
    consumed.update({name: e.summary_updated for name, e in result.entries.items()})
    atomic_write(state_path, json.dumps(consumed), make_parents=True)
    return result


def _factory_qstats(result: FactoryTotals, tag: str) -> etree._Element:
    root = qstats_element(tag, result.updated, result.clients, total=result.total)
    _entries_element(root, result.entries, "qstats")
    return root


def _factory_logs(result: FactoryTotals, tag: str) -> etree._Element:
    root = log_summary_element(tag, result.updated, result.logs)
    for node in root.iterfind("frontends/frontend"):
        history_element(node, result.client_history.get(node.get("name", ""), {}))
    history_element(root.find("total"), result.history)
    _entries_element(root, result.entries, "logs")
    return root
