"""The monitoring XML files, entry and factory alike: schedd_status.xml (`qstats_element`,
`read_qstats`) and log_summary.xml (`log_summary_element`, `read_log_summary`), and the
completed_jobs.json the aggregation leaves for the entries' glidefactory ads.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from glideinwms_factory.lib import xml_stats
from glideinwms_factory.lib.atomicfile import atomic_write
from glideinwms_factory.lib.monitoring_model import (
    JOBS_BUCKETS,
    WASTE_KINDS,
    ClientLog,
    ClientStats,
    CompletedCounts,
    is_folder_name,
    sum_clients,
)


def qstats_element(
    root_tag: str,
    updated: float,
    clients: Mapping[str, ClientStats],
    downtime: bool | None = None,
    cycle_seconds: float | None = None,
    total: ClientStats | None = None,
) -> etree._Element:
    """`<glideFactory[Entry]QStats>`: per-client groups and their total (`total`, when the
    caller has summed them already); our additions are `<cycle seconds=>` (the entry
    cycle's duration), `<Actions>`, `<Rejected>` and `<Counters>` (running totals, with
    `<reason name= count=>` of the rejected requests)."""
    root = etree.Element(root_tag)
    xml_stats.updated_element(root, updated)
    if downtime is not None:
        etree.SubElement(root, "downtime", status=str(downtime))
    if cycle_seconds is not None:
        etree.SubElement(root, "cycle", seconds=f"{cycle_seconds:.3f}")
    frontends = etree.SubElement(root, "frontends")
    for name, client in sorted(clients.items()):
        node = etree.SubElement(frontends, "frontend", name=name)
        if downtime is not None:  # upstream repeats the entry's downtime in each frontend
            etree.SubElement(node, "Downtime", status=str(downtime))
        _client_element(node, client)
    if total is None:
        total = sum_clients(clients.values())
    _client_element(etree.SubElement(root, "total"), total)
    return root


# Named counts of a client: (ClientStats field, XML element, XML child element).
NAMED_COUNTS = (("rejected", "Rejected", "reason"), ("protocols", "Protocols", "protocol"))


def _client_element(node: etree._Element, client: ClientStats) -> None:
    for group, values in client.groups().items():
        xml_stats.attrs_element(node, group, values)
        if group == "Requested":  # upstream's (always empty) request parameters
            etree.SubElement(node[-1], "Parameters")
    if any(client.actions.values()):
        xml_stats.attrs_element(node, "Actions", client.actions)
    for attr, tag, child in NAMED_COUNTS:
        counts: dict[str, int] = getattr(client, attr)
        if counts:
            element = etree.SubElement(node, tag)
            for name, count in sorted(counts.items()):
                etree.SubElement(element, child, name=name, count=str(count))
    if client.counters or client.rejected_total:
        xml_stats.attrs_element(node, "Counters", client.counters)
        for reason, total in sorted(client.rejected_total.items()):
            etree.SubElement(node[-1], "reason", name=reason, count=str(int(total)))


def log_summary_element(
    root_tag: str, updated: float, clients: Mapping[str, ClientLog]
) -> etree._Element:
    """`<glideFactory[Entry]LogSummary>`: per-client movements, completions and total."""
    root = etree.Element(root_tag)
    xml_stats.updated_element(root, updated)
    frontends = etree.SubElement(root, "frontends")
    total = ClientLog()
    for name, client in sorted(clients.items()):
        log_element(etree.SubElement(frontends, "frontend", name=name), client, exited_sign=-1)
        total.merge(client)
    log_element(etree.SubElement(root, "total"), total)
    return root


def log_element(node: etree._Element, client: ClientLog, exited_sign: int = 1) -> None:
    """Current/Entered/Exited counts and CompletedCounts of one client (or a total).

    Upstream writes a frontend's Exited counts negative and a total's positive:
    `exited_sign` -1 for a frontend (readers take the magnitude either way).
    """
    xml_stats.attrs_element(node, "Current", client.current)
    xml_stats.attrs_element(node, "Entered", client.entered)
    xml_stats.attrs_element(
        node, "Exited", {k: exited_sign * v if v else 0 for k, v in client.exited.items()}
    )
    completed_element(etree.SubElement(node, "CompletedCounts"), client.completed)


def history_element(node: etree._Element, history: Mapping[str, CompletedCounts]) -> None:
    """Our addition to the factory's log_summary.xml: `<CompletedHistory><window name="hour">`
    with the CompletedCounts children over the last hour, day and week (from the RRDs)."""
    if not history:
        return
    parent = etree.SubElement(node, "CompletedHistory")
    for window, counts in history.items():
        completed_element(etree.SubElement(parent, "window", name=window), counts)


# A table of a <CompletedCounts>: (group element or "", element, bucket element or "" for
# a table written as attributes, values)
_Table = tuple[str, str, str, Mapping[str, float]]


def _completed_tables(completed: CompletedCounts) -> list[_Table]:
    """The tables of a `<CompletedCounts>` in document order (upstream's names)."""
    return [
        ("", "Sum", "", completed.sums),
        ("", "Lasted", "TimeRange", completed.lasted),
        ("", "JobsDuration", "TimeRange", completed.jobs_duration),
        ("", "JobsNr", "Range", completed.jobs_nr),
        *(("Waste", kind, "Fraction", completed.waste[kind]) for kind in WASTE_KINDS),
        *(("WasteTime", kind, "Fraction", completed.waste_time[kind]) for kind in WASTE_KINDS),
    ]


# (element index in document order, attribute) of each value of the tables, in their order
_Slots = list[tuple[int, str]]


def _layout(tables: list[_Table]) -> tuple[etree._Element, _Slots]:
    """The elements of `tables` without their values, under a container element."""
    root = etree.Element("CompletedCounts")
    groups: dict[str, etree._Element] = {}
    slots: list[tuple[etree._Element, str]] = []
    for group, tag, item, values in tables:
        parent = root
        if group:
            parent = groups.get(group)
            if parent is None:
                parent = groups[group] = etree.SubElement(root, group)
        node = etree.SubElement(parent, tag)
        for name in values:
            if item:
                slots.append((etree.SubElement(node, item, name=name, val=""), "val"))
            else:
                node.set(name, "")  # in order; the value comes later
                slots.append((node, name))
    index = {element: i for i, element in enumerate(root.iter())}
    return root, [(index[element], attr) for element, attr in slots]


# layouts by the names in the tables (one in practice: the model's bucket names)
_LAYOUTS: dict[tuple[tuple[str, ...], ...], tuple[etree._Element, _Slots]] = {}
LAYOUTS_KEPT = 16


def completed_element(counts: etree._Element, completed: CompletedCounts) -> None:
    """The children of a `<CompletedCounts>`: a copy of the layout's elements with the
    values set (lxml makes an element in ~1.5 us, copies one in ~0.3 us; the factory
    writes ~100 elements for each of ~2000 of these every cycle)."""
    tables = _completed_tables(completed)
    key = tuple(tuple(values) for *_, values in tables)
    found = _LAYOUTS.get(key)
    if found is None:
        if len(_LAYOUTS) >= LAYOUTS_KEPT:
            _LAYOUTS.clear()
        found = _LAYOUTS[key] = _layout(tables)
    template, slots = found
    filled = copy.deepcopy(template)
    elements = list(filled.iter())
    values = [value for *_, table in tables for value in table.values()]
    for (index, attr), value in zip(slots, values, strict=True):
        elements[index].set(attr, xml_stats.number_text(value))
    counts.extend(list(filled))


@dataclass
class QStats:
    """A parsed schedd_status.xml (entry or factory)."""

    updated: float
    downtime: bool
    clients: dict[str, ClientStats]
    cycle_seconds: float = 0.0


def _named(node: etree._Element, path: str, number: type[int] | type[float]) -> dict[str, Any]:
    return {r.get("name", ""): number(r.get("count", "0")) for r in node.iterfind(path)}


def _parse_client(node: etree._Element) -> ClientStats:
    parts = _children(node)
    requested = parts.get("Requested")
    monitor = parts.get("ClientMonitor")
    try:
        return ClientStats(
            status=xml_stats.read_attrs(parts.get("Status")),
            requested=None if requested is None else xml_stats.read_attrs(requested),
            client_monitor=None if monitor is None else xml_stats.read_attrs(monitor),
            **{
                attr: _named(node, f"{tag}/{child}", int) if tag in parts else {}
                for attr, tag, child in NAMED_COUNTS
            },
            actions=xml_stats.read_attrs(parts.get("Actions")),
            counters=xml_stats.read_attrs(parts.get("Counters")),
            rejected_total=_named(node, "Counters/reason", float) if "Counters" in parts else {},
        )
    except ValueError as exc:
        raise xml_stats.StatsFileError(str(exc)) from exc


def _frontends(root: etree._Element) -> Iterator[tuple[str, etree._Element]]:
    for node in root.iterfind("frontends/frontend"):
        name = node.get("name", "")
        if not is_folder_name(name):
            raise xml_stats.StatsFileError(f"client name {name!r} cannot name a folder")
        yield name, node


def read_qstats(path: Path, root_tag: str = "glideFactoryEntryQStats") -> QStats:
    root = xml_stats.parse_file(path, root_tag)
    downtime = root.find("downtime")
    return QStats(
        updated=xml_stats.read_updated(root),
        downtime=downtime is not None and downtime.get("status") == "True",
        clients={name: _parse_client(node) for name, node in _frontends(root)},
        cycle_seconds=xml_stats.read_attrs(root.find("cycle")).get("seconds", 0.0),
    )


def _children(node: etree._Element | None) -> dict[object, etree._Element]:
    """Each child tag's first element (what `node.find(tag)` gives), in one pass."""
    found: dict[object, etree._Element] = {}
    for child in () if node is None else node:
        found.setdefault(child.tag, child)
    return found


def _parse_log(node: etree._Element) -> ClientLog:
    result = ClientLog()
    parts = _children(node)
    for name, table in (("Current", result.current), ("Entered", result.entered)):
        table.update(xml_stats.read_attrs(parts.get(name)))
    exited = xml_stats.read_attrs(parts.get("Exited"))
    result.exited.update({k: abs(v) for k, v in exited.items()})
    counts = parts.get("CompletedCounts")
    if counts is None:
        return result
    completed = result.completed
    parts = _children(counts)
    completed.sums.update(xml_stats.read_attrs(parts.get("Sum")))
    completed.lasted.update(xml_stats.read_ranges(parts.get("Lasted")))
    completed.jobs_duration.update(xml_stats.read_ranges(parts.get("JobsDuration")))
    completed.jobs_nr.update(xml_stats.read_ranges(parts.get("JobsNr")))
    for tag, tables in (("Waste", completed.waste), ("WasteTime", completed.waste_time)):
        kinds = _children(parts.get(tag))
        for kind in WASTE_KINDS:
            tables[kind].update(xml_stats.read_ranges(kinds.get(kind)))
    return result


@dataclass
class LogSummary:
    """A parsed log_summary.xml (entry or factory)."""

    updated: float
    clients: dict[str, ClientLog]


def read_log_summary(path: Path, root_tag: str = "glideFactoryEntryLogSummary") -> LogSummary:
    root = xml_stats.parse_file(path, root_tag)
    return LogSummary(
        updated=xml_stats.read_updated(root),
        clients={name: _parse_log(node) for name, node in _frontends(root)},
    )


# --- what the factory's aggregation tells the entries ------------------------------------

COMPLETED_JOBS_FILE = "completed_jobs.json"


def completed_jobs_attributes(
    monitor_dir: Path, entry: str, now: float, max_age: float = 3600
) -> dict[str, int]:
    """`GlideinMonitorCompletedJobsPer{Entry,Factory}<R>` for the glidefactory ad, from the
    last aggregation; empty if it is missing, unreadable or older than `max_age` seconds
    (classads.md §1)."""
    try:
        data = json.loads((Path(monitor_dir) / COMPLETED_JOBS_FILE).read_text())
        if now - float(data["updated"]) > max_age:
            return {}
        parts = {"Factory": data["factory"], "Entry": data["entries"].get(entry, {})}
        return {
            f"GlideinMonitorCompletedJobsPer{scope}{bucket}": int(counts.get(bucket, 0))
            for scope, counts in parts.items()
            for bucket in JOBS_BUCKETS
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


# --- what an entry tells the factory's aggregation ---------------------------------------

HISTORY_FILE = "completed_history.json"


def write_history(folder: Path, history: Mapping[str, CompletedCounts]) -> None:
    """entry_<e>/completed_history.json: the entry's completions of the last hour, day and
    week (read from its RRDs by the entry, so the factory need not open 500 entries' RRDs)."""
    data = {window: counts.to_json() for window, counts in history.items()}
    atomic_write(folder / HISTORY_FILE, json.dumps(data), make_parents=True)


def read_history(folder: Path) -> dict[str, CompletedCounts]:
    """What `write_history` wrote; empty if missing or unreadable."""
    try:
        data = json.loads((folder / HISTORY_FILE).read_text())
        return {window: CompletedCounts.from_json(counts) for window, counts in data.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}
