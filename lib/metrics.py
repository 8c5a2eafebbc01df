"""The factory's numbers in the Prometheus text exposition format (MONITOR/metrics.prom).

The same counts as schedd_status.xml, one sample per entry x client x field, so a node
exporter's textfile collector (or any scraper of a static file) can pick them up.
All metrics are gauges: they are the values of the last aggregation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from glideinwms_factory.lib.atomicfile import atomic_write
from glideinwms_factory.lib.monitoring_model import ClientStats, FactoryTotals

# metric name -> (ClientStats group, label naming the field, help text)
_GROUP_METRICS = {
    "gwms_factory_glideins": ("Status", "state", "Glideins in the queue by state"),
    "gwms_factory_requested": ("Requested", "field", "What the client requested"),
    "gwms_factory_client_monitor": ("ClientMonitor", "field", "What the client reported"),
}

# metric name -> (ClientStats named counts, label, help text)
_NAMED_METRICS = (
    ("gwms_factory_rejected_requests", "rejected", "reason", "Requests rejected in the last cycle"),
    ("gwms_factory_requests", "protocols", "protocol", "Requests served, by Frontend protocol"),
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _sample(name: str, labels: dict[str, str], value: float) -> str:
    text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    number = float(value)
    return f"{name}{{{text}}} {int(number) if number.is_integer() else number!r}"


def _header(name: str, help_text: str) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]


def _client_rows(totals: FactoryTotals) -> Iterator[tuple[str, str, ClientStats]]:
    for entry_name, entry in sorted(totals.entries.items()):
        for client_name, client in sorted(entry.clients.items()):
            yield entry_name, client_name, client


def render(totals: FactoryTotals) -> str:
    """The whole exposition text for one aggregation."""
    lines: list[str] = []
    for metric, (group, label, help_text) in _GROUP_METRICS.items():
        lines += _header(metric, help_text)
        for entry, client, stats in _client_rows(totals):
            for name, value in stats.groups().get(group, {}).items():
                labels = {"entry": entry, "client": client, label: name}
                lines.append(_sample(metric, labels, value))
    for metric, attr, label, help_text in _NAMED_METRICS:
        lines += _header(metric, help_text)
        for entry, client, stats in _client_rows(totals):
            for name, count in sorted(getattr(stats, attr).items()):
                labels = {"entry": entry, "client": client, label: name}
                lines.append(_sample(metric, labels, count))
    lines += _header("gwms_factory_completed_glideins", "Glideins completed in the last cycle")
    for entry_name, snapshot in sorted(totals.entries.items()):
        for client, log in sorted(snapshot.logs.items()):
            labels = {"entry": entry_name, "client": client}
            value = log.completed.sums["Glideins"]
            lines.append(_sample("gwms_factory_completed_glideins", labels, value))
    lines += _header("gwms_factory_entry_in_downtime", "1 if the entry is in downtime")
    for name, snapshot in sorted(totals.entries.items()):
        lines.append(_sample("gwms_factory_entry_in_downtime", {"entry": name}, snapshot.downtime))
    lines += _header("gwms_factory_entry_stats_age_seconds", "Age of the entry's statistics")
    for name, snapshot in sorted(totals.entries.items()):
        age = max(totals.updated - snapshot.updated, 0)
        lines.append(_sample("gwms_factory_entry_stats_age_seconds", {"entry": name}, age))
    lines += _header("gwms_factory_entry_unreadable", "1 if the entry's statistics were unreadable")
    for name in sorted(totals.errors):
        lines.append(_sample("gwms_factory_entry_unreadable", {"entry": name}, 1))
    return "\n".join(lines) + "\n"


def write_metrics(path: Path, totals: FactoryTotals) -> None:
    """Write the exposition file atomically (scrapers never read half of it)."""
    atomic_write(path, render(totals), make_parents=True)
