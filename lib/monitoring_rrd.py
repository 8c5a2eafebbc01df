"""The RRD layout of the monitoring files (operations.md §7), entry and factory alike.

Every client folder (and `total`) holds one RRD per `RRD_NAMES`; `rrd_values` maps the
model onto their data sources, `write_rrd_xml` writes their 2 h / 1 day / 1 week
averages as rrd_<RRD>.xml, and `completed_history` adds up the completed glideins of the
last hour / day / week from the Log_Completed* RRDs (a cycle's counts are gone from the
XML at the next cycle; the RRDs keep them).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from lxml import etree

from glideinwms_factory.lib import xml_stats
from glideinwms_factory.lib.monitoring_model import (
    CLIENT_MONITOR,
    ENTERED,
    JOBS_BUCKETS,
    LOG_STATES,
    MILL_BUCKETS,
    REQUESTED,
    STATUS,
    TIME_BUCKETS,
    WASTE_KINDS,
    ClientLog,
    ClientStats,
    CompletedCounts,
)
from glideinwms_factory.lib.rrd import DataSource, RRDError, RRDTool

log = logging.getLogger(__name__)

RRD_NAMES = (
    "Status_Attributes",
    "Log_Counts",
    "Log_Completed",
    "Log_Completed_Stats",
    "Log_Completed_WasteTime",
)


def _prefixed(
    prefix: str, values: Mapping[str, float] | None, names: Sequence[str]
) -> dict[str, float | None]:
    return {f"{prefix}{n}": (None if values is None else values[n]) for n in names}


def rrd_values(stats: ClientStats, client: ClientLog) -> dict[str, dict[str, float | None]]:
    """Data-source values of every RRD, by RRD name (None is an unknown sample)."""
    completed = client.completed
    return {
        "Status_Attributes": {
            **_prefixed("Status", stats.status, STATUS),
            **_prefixed("Req", stats.requested, REQUESTED),
            **_prefixed("Client", stats.client_monitor, CLIENT_MONITOR),
        },
        "Log_Counts": {
            **_prefixed("Status", client.current, LOG_STATES),
            **_prefixed("Entered", client.entered, ENTERED),
            # upstream stores the glideins that left a state as a negative count
            **{f"Exited{n}": -client.exited[n] for n in LOG_STATES},
        },
        "Log_Completed": dict(completed.sums),
        "Log_Completed_Stats": {
            **_prefixed("Lasted_", completed.lasted, TIME_BUCKETS),
            **_prefixed("JobsLasted_", completed.jobs_duration, TIME_BUCKETS),
            **_prefixed("JobsNr_", completed.jobs_nr, JOBS_BUCKETS),
        },
        "Log_Completed_WasteTime": {
            f"{kind}_{bucket}": completed.waste_time[kind][bucket]
            for kind in WASTE_KINDS
            for bucket in MILL_BUCKETS
        },
    }


def rrd_sources(rrd_name: str, names: Iterable[str]) -> list[DataSource]:
    """Data-source types: levels are GAUGE, movements and completions ABSOLUTE."""
    gauge = rrd_name == "Status_Attributes"
    return [
        DataSource(n, "GAUGE" if gauge or n.startswith("Status") else "ABSOLUTE") for n in names
    ]


def update_rrds(
    tool: RRDTool, folder: Path, when: int, stats: ClientStats, client: ClientLog
) -> None:
    """Create if needed and update the five RRDs in `folder`; failures are logged.

    A second update within the same second (two iterations in one second) is skipped:
    RRD steps are a minute, so it would add nothing.
    """
    for rrd_name, values in rrd_values(stats, client).items():
        path = folder / f"{rrd_name}.rrd"
        try:
            tool.ensure(path, rrd_sources(rrd_name, values), when - 300)
            if tool.last(path) >= when:
                continue
            tool.update(path, when, values)
        except RRDError as exc:
            log.warning("RRD %s not updated: %s", path, exc)


def fix_rrds(tool: RRDTool, monitor_dir: Path) -> list[str]:
    """Add the data sources this version writes to every existing monitoring RRD that
    lacks them (upstream `verifyRRD` with fix); one line per file changed."""
    expected = rrd_values(ClientStats(), ClientLog())
    changed = []
    for path in sorted(Path(monitor_dir).rglob("*.rrd")):
        names = expected.get(path.stem)
        if names is None:
            continue
        missing = [n for n in names if n not in set(tool.source_names(path))]
        if missing:
            tool.add_sources(path, rrd_sources(path.stem, missing))
            changed.append(f"{path}: added {', '.join(missing)}")
    return changed


RRD_PERIODS = (7200, 86400, 604800)


def _rrd_xml(tool: RRDTool, folder: Path, rrd_name: str, now: int) -> etree._Element:
    """`<total>` (or `<frontend>`) holding `<periods>` with one `<period name="7200"
    DS="mean"/>` per period, as upstream writes them."""
    node = etree.Element("rrd")
    periods = etree.SubElement(node, "periods")
    path = folder / f"{rrd_name}.rrd"
    if not path.exists():
        return node
    for period, means in tool.averages(path, now, RRD_PERIODS).items():
        known = {k: v for k, v in means.items() if v is not None}
        xml_stats.attrs_element(periods, "period", known)
        periods[-1].set("name", str(period))
    return node


def write_rrd_xml(
    tool: RRDTool, folder: Path, root_tag: str, clients: Mapping[str, Path], now: int
) -> None:
    """rrd_<RRD>.xml in `folder`: averages of the RRDs in folder/total and in each client's
    folder over 2 h, 1 day and 1 week (`<periods><period name="7200" DS="mean" .../>`)."""
    for rrd_name in RRD_NAMES:
        root = etree.Element(root_tag)
        xml_stats.updated_element(root, now)
        try:
            total = _rrd_xml(tool, folder / "total", rrd_name, now)
            total.tag = "total"
            root.append(total)
            frontends = etree.SubElement(root, "frontends")
            for client, client_folder in sorted(clients.items()):
                one = _rrd_xml(tool, client_folder, rrd_name, now)
                one.tag = "frontend"
                one.set("name", client)
                frontends.append(one)
        except RRDError as exc:
            log.warning("rrd_%s.xml not written: %s", rrd_name, exc)
            continue
        xml_stats.write_xml(folder / f"rrd_{rrd_name}.xml", root)


HISTORY_WINDOWS = {"hour": 3600, "day": 86400, "week": 604800}


def completed_history(tool: RRDTool, folder: Path, now: int) -> dict[str, CompletedCounts]:
    """Completed glideins of the last hour, day and week in `folder` (a client's or total),
    by window name; the `waste` counts are not kept in RRDs (upstream keeps only WasteTime)
    and stay 0. A missing or unreadable RRD counts nothing (logged)."""
    result = {window: CompletedCounts() for window in HISTORY_WINDOWS}
    try:
        for rrd_name in ("Log_Completed", "Log_Completed_Stats", "Log_Completed_WasteTime"):
            path = folder / f"{rrd_name}.rrd"
            if not path.exists():
                continue
            sums = tool.sums(path, now, tuple(HISTORY_WINDOWS.values()))
            for window, period in HISTORY_WINDOWS.items():
                _fill(result[window], rrd_name, sums[period])
    except RRDError as exc:
        log.warning("completed history of %s not read: %s", folder, exc)
    return result


def _fill(counts: CompletedCounts, rrd_name: str, sums: Mapping[str, float]) -> None:
    """Put one RRD's window sums back into the model (rounded to whole glideins/seconds)."""

    def take(table: dict[str, float], prefix: str) -> None:
        for name in table:
            table[name] = round(sums.get(f"{prefix}{name}", 0.0))

    if rrd_name == "Log_Completed":
        take(counts.sums, "")
    elif rrd_name == "Log_Completed_Stats":
        take(counts.lasted, "Lasted_")
        take(counts.jobs_duration, "JobsLasted_")
        take(counts.jobs_nr, "JobsNr_")
    else:
        for kind in WASTE_KINDS:
            take(counts.waste_time[kind], f"{kind}_")
