"""The factory's numbers in the Prometheus text format: MONITOR/metrics.prom, served at /metrics.

Made with prometheus_client from one aggregation, so a scrape of the factory web server's
`/metrics` (see webserver.py) and a node exporter's textfile collector read the same text,
with the numbers of schedd_status.xml and the pages:

* gauges, the values of the last aggregation: glideins by state, requested, client
  monitor numbers (per entry x client), rejected requests and completed glideins of the
  last cycle, downtime, age of the statistics, the entry cycle's duration and the time of
  its last successful cycle;
* counters: the running totals each entry keeps per client (schedd_status.xml
  `<Counters>`, so no cycle is missed however seldom the factory aggregates) of glideins
  submitted, removed, released, completed and failed, and of rejected requests by reason;
  and the entry daemons' restarts as the supervisor counts them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from glideinwms_factory.lib.atomicfile import atomic_write
from glideinwms_factory.lib.monitoring_model import ClientStats, FactoryTotals

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# metric name -> (ClientStats group, label naming the field, help text)
_GROUP_METRICS = {
    "gwms_factory_glideins": ("Status", "state", "Glideins in the queue by state"),
    "gwms_factory_requested": ("Requested", "field", "What the client requested"),
    "gwms_factory_client_monitor": ("ClientMonitor", "field", "What the client reported"),
}
# counter name (without _total) -> (ClientStats.counters field, help text)
COUNTERS = {
    "gwms_factory_glideins_submitted": ("Submitted", "Glideins submitted"),
    "gwms_factory_glideins_removed": ("Removed", "Glideins removed (plain or forcex)"),
    "gwms_factory_glideins_released": ("Released", "Held glideins released"),
    "gwms_factory_glideins_completed": ("Completed", "Glideins that completed"),
    "gwms_factory_glideins_failed": ("Failed", "Completed glideins whose HTCondor ran < 5 s"),
}
# metric name -> (ClientStats named counts, label, help text)
_NAMED_METRICS = (
    ("gwms_factory_rejected_requests", "rejected", "reason", "Requests rejected in the last cycle"),
    ("gwms_factory_requests", "protocols", "protocol", "Requests served, by Frontend protocol"),
)


def _client_rows(totals: FactoryTotals) -> Iterator[tuple[str, str, ClientStats]]:
    for entry_name, entry in sorted(totals.entries.items()):
        for client_name, client in sorted(entry.clients.items()):
            yield entry_name, client_name, client


class _FactoryCollector(Collector):
    """Every metric family of one aggregation (see the module docstring)."""

    def __init__(self, totals: FactoryTotals, restarts: Mapping[str, int]) -> None:
        self.totals, self.restarts = totals, restarts

    def collect(self) -> Iterator[Metric]:
        totals = self.totals
        for metric, (group, label, help_text) in _GROUP_METRICS.items():
            family = GaugeMetricFamily(metric, help_text, labels=["entry", "client", label])
            for entry, client, stats in _client_rows(totals):
                for name, value in stats.groups().get(group, {}).items():
                    family.add_metric([entry, client, name], value)
            yield family
        for metric, attr, label, help_text in _NAMED_METRICS:
            named = GaugeMetricFamily(metric, help_text, labels=["entry", "client", label])
            for entry, client, stats in _client_rows(totals):
                for name, count in sorted(getattr(stats, attr).items()):
                    named.add_metric([entry, client, name], count)
            yield named
        completed = GaugeMetricFamily(
            "gwms_factory_completed_glideins",
            "Glideins completed in the last cycle",
            labels=["entry", "client"],
        )
        for entry_name, snapshot in sorted(totals.entries.items()):
            for client, one in sorted(snapshot.logs.items()):
                completed.add_metric([entry_name, client], one.completed.sums["Glideins"])
        yield completed
        yield from self._entry_gauges()
        for name, (field, help_text) in COUNTERS.items():
            counter = CounterMetricFamily(name, help_text, labels=["entry", "client"])
            for entry, client, stats in _client_rows(totals):
                if field in stats.counters:
                    counter.add_metric([entry, client], stats.counters[field])
            yield counter
        rejected_total = CounterMetricFamily(
            "gwms_factory_requests_rejected",
            "Requests rejected, by reason",
            labels=["entry", "client", "reason"],
        )
        for entry, client, stats in _client_rows(totals):
            for reason, total in sorted(stats.rejected_total.items()):
                rejected_total.add_metric([entry, client, reason], total)
        yield rejected_total
        restarts = CounterMetricFamily(
            "gwms_factory_entry_daemon_restarts",
            "Times the factory restarted an entry daemon",
            labels=["daemon"],
        )
        for daemon, count in sorted(self.restarts.items()):
            restarts.add_metric([daemon], count)
        yield restarts

    def _entry_gauges(self) -> Iterator[Metric]:
        totals = self.totals
        entries = sorted(totals.entries.items())
        per_entry = (
            ("gwms_factory_entry_in_downtime", "1 if the entry is in downtime", "downtime"),
            ("gwms_factory_entry_stats_age_seconds", "Age of the entry's statistics", "age"),
            ("gwms_factory_entry_cycle_seconds", "Duration of the entry's last cycle", "cycle"),
            (
                "gwms_factory_entry_last_cycle_timestamp_seconds",
                "When the entry last finished a cycle (Unix time)",
                "updated",
            ),
        )
        for metric, help_text, what in per_entry:
            family = GaugeMetricFamily(metric, help_text, labels=["entry"])
            for name, entry in entries:
                value = {
                    "downtime": float(entry.downtime),
                    "age": max(totals.updated - entry.updated, 0),
                    "cycle": entry.cycle_seconds,
                    "updated": entry.updated,
                }[what]
                family.add_metric([name], value)
            yield family
        unreadable = GaugeMetricFamily(
            "gwms_factory_entry_unreadable",
            "1 if the entry's statistics were unreadable",
            labels=["entry"],
        )
        for name in sorted(totals.errors):
            unreadable.add_metric([name], 1)
        yield unreadable


def render(totals: FactoryTotals, restarts: Mapping[str, int] | None = None) -> str:
    """The whole exposition text for one aggregation."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_FactoryCollector(totals, restarts or {}))
    return generate_latest(registry).decode()


def write_metrics(
    path: Path, totals: FactoryTotals, restarts: Mapping[str, int] | None = None
) -> None:
    """Write the exposition file atomically (scrapers never read half of it)."""
    atomic_write(path, render(totals, restarts), make_parents=True)
