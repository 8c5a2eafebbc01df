"""The factory's numbers in the Prometheus text format: MONITOR/metrics.prom, served at /metrics.

Made with prometheus_client from one aggregation, so a scrape of the factory web server's
`/metrics` (see webserver.py) and a node exporter's textfile collector read the same text,
with the numbers of schedd_status.xml and the pages:

* gauges, the values of the last aggregation: glideins by state, requested, client
  monitor numbers (per entry x client), rejected requests and completed glideins of the
  last cycle, downtime, age of the statistics, the entry cycle's duration and the time of
  its last successful cycle;
* counters, kept across aggregations in metrics_counters.json (each entry snapshot is
  counted once, like the movements of aggregate.py): glideins submitted, removed,
  released, completed and failed, rejected requests by reason; and the entry daemons'
  restarts as the supervisor counts them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from glideinwms_factory.lib.atomicfile import atomic_write
from glideinwms_factory.lib.monitoring_model import ClientStats, FactoryTotals

COUNTERS_FILE = "metrics_counters.json"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# metric name -> (ClientStats group, label naming the field, help text)
_GROUP_METRICS = {
    "gwms_factory_glideins": ("Status", "state", "Glideins in the queue by state"),
    "gwms_factory_requested": ("Requested", "field", "What the client requested"),
    "gwms_factory_client_monitor": ("ClientMonitor", "field", "What the client reported"),
}
# counter name (without _total) -> help text; labels are entry, client (and reason)
COUNTERS = {
    "gwms_factory_glideins_submitted": "Glideins submitted",
    "gwms_factory_glideins_removed": "Glideins removed (plain or forcex)",
    "gwms_factory_glideins_released": "Held glideins released",
    "gwms_factory_glideins_completed": "Glideins that completed",
    "gwms_factory_glideins_failed": "Completed glideins whose HTCondor never ran 5 s",
    "gwms_factory_requests_rejected": "Requests rejected, by reason",
}
_ACTION_COUNTERS = {
    "gwms_factory_glideins_submitted": "Submitted",
    "gwms_factory_glideins_removed": "Removed",
    "gwms_factory_glideins_released": "Released",
}
Labels = tuple[str, ...]

# metric name -> (ClientStats named counts, label, help text)
_NAMED_METRICS = (
    ("gwms_factory_rejected_requests", "rejected", "reason", "Requests rejected in the last cycle"),
    ("gwms_factory_requests", "protocols", "protocol", "Requests served, by Frontend protocol"),
)


class Counters:
    """Running totals per counter and label values, loaded from and saved to a JSON file."""

    def __init__(self, values: dict[str, dict[Labels, float]] | None = None) -> None:
        self.values: dict[str, dict[Labels, float]] = values or {n: {} for n in COUNTERS}

    @classmethod
    def load(cls, path: Path) -> Counters:
        """The saved totals; a missing or unreadable file starts from zero (a counter reset)."""
        try:
            saved = json.loads(Path(path).read_text())
            return cls(
                {
                    name: {tuple(labels): float(value) for labels, value in saved.get(name, [])}
                    for name in COUNTERS
                }
            )
        except (OSError, ValueError, TypeError):
            return cls()

    def save(self, path: Path) -> None:
        data = {name: [[list(k), v] for k, v in rows.items()] for name, rows in self.values.items()}
        atomic_write(path, json.dumps(data), make_parents=True)

    def _add(self, name: str, labels: Labels, value: float) -> None:
        if value:
            rows = self.values[name]
            rows[labels] = rows.get(labels, 0.0) + value

    def add(self, totals: FactoryTotals) -> None:
        """Count what the entry snapshots not counted before did and saw."""
        for entry_name, entry in totals.entries.items():
            if not entry.fresh:
                continue
            for client, stats in entry.clients.items():
                for name, action in _ACTION_COUNTERS.items():
                    self._add(name, (entry_name, client), stats.actions.get(action, 0))
                for reason, count in stats.rejected.items():
                    self._add("gwms_factory_requests_rejected", (entry_name, client, reason), count)
            for client, one in entry.logs.items():
                sums = one.completed.sums
                self._add("gwms_factory_glideins_completed", (entry_name, client), sums["Glideins"])
                self._add("gwms_factory_glideins_failed", (entry_name, client), sums["FailedNr"])


def _client_rows(totals: FactoryTotals) -> Iterator[tuple[str, str, ClientStats]]:
    for entry_name, entry in sorted(totals.entries.items()):
        for client_name, client in sorted(entry.clients.items()):
            yield entry_name, client_name, client


class _FactoryCollector(Collector):
    """Every metric family of one aggregation (see the module docstring)."""

    def __init__(
        self, totals: FactoryTotals, counters: Counters, restarts: Mapping[str, int]
    ) -> None:
        self.totals, self.counters, self.restarts = totals, counters, restarts

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
        for entry_name, entry in sorted(totals.entries.items()):
            for client, one in sorted(entry.logs.items()):
                completed.add_metric([entry_name, client], one.completed.sums["Glideins"])
        yield completed
        yield from self._entry_gauges()
        for name, help_text in COUNTERS.items():
            labels = ["entry", "client", "reason"][: 3 if name.endswith("rejected") else 2]
            family = CounterMetricFamily(name, help_text, labels=labels)
            for values, total in sorted(self.counters.values[name].items()):
                family.add_metric(list(values), total)
            yield family
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


def render(
    totals: FactoryTotals,
    counters: Counters | None = None,
    restarts: Mapping[str, int] | None = None,
) -> str:
    """The whole exposition text for one aggregation."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_FactoryCollector(totals, counters or Counters(), restarts or {}))
    return generate_latest(registry).decode()


def write_metrics(
    path: Path, totals: FactoryTotals, restarts: Mapping[str, int] | None = None
) -> None:
    """Add this aggregation to the counters kept beside `path`, then write the exposition
    file atomically (scrapers never read half of it)."""
    counters_path = Path(path).with_name(COUNTERS_FILE)
    counters = Counters.load(counters_path)
    counters.add(totals)
    counters.save(counters_path)
    atomic_write(path, render(totals, counters, restarts), make_parents=True)
