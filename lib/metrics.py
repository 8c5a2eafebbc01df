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

The process keeps each entry's lines of the last exposition: an entry whose numbers did not
change gets the same lines, one whose values changed gets its kept label parts with the
new values (byte-identical to one `generate_latest` of every family).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from glideinwms_factory.lib.atomicfile import atomic_write
from glideinwms_factory.lib.monitoring_model import ClientStats, EntrySnapshot, FactoryTotals

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


# one row of a family: its label values and its value
Row = tuple[tuple[str, ...], float]
# value texts remembered at most (counts repeat; running totals grow without end)
VALUE_TEXTS_KEPT = 100_000


@dataclass(frozen=True)
class _EntryFamily:
    """A metric family whose samples are grouped by entry (the bulk of the exposition)."""

    name: str
    help_text: str
    labels: tuple[str, ...]
    rows: Callable[[str, EntrySnapshot], Iterator[Row]]
    counter: bool = False

    def family(self, rows: Iterable[Row] = ()) -> Metric:
        kind = CounterMetricFamily if self.counter else GaugeMetricFamily
        family = kind(self.name, self.help_text, labels=self.labels)
        for labels, value in rows:
            family.add_metric(labels, value)
        return family


def _clients(entry: EntrySnapshot) -> list[tuple[str, ClientStats]]:
    return sorted(entry.clients.items())


def _group_rows(group: str) -> Callable[[str, EntrySnapshot], Iterator[Row]]:
    def rows(name: str, entry: EntrySnapshot) -> Iterator[Row]:
        for client, stats in _clients(entry):
            for field, value in stats.groups().get(group, {}).items():
                yield (name, client, field), value

    return rows


def _named_rows(attr: str) -> Callable[[str, EntrySnapshot], Iterator[Row]]:
    def rows(name: str, entry: EntrySnapshot) -> Iterator[Row]:
        for client, stats in _clients(entry):
            for key, count in sorted(getattr(stats, attr).items()):
                yield (name, client, key), count

    return rows


def _counter_rows(field: str) -> Callable[[str, EntrySnapshot], Iterator[Row]]:
    def rows(name: str, entry: EntrySnapshot) -> Iterator[Row]:
        for client, stats in _clients(entry):
            if field in stats.counters:
                yield (name, client), stats.counters[field]

    return rows


def _completed_rows(name: str, entry: EntrySnapshot) -> Iterator[Row]:
    for client, one in sorted(entry.logs.items()):
        yield (name, client), one.completed.sums["Glideins"]


_GAUGES = (
    *(
        _EntryFamily(metric, help_text, ("entry", "client", label), _group_rows(group))
        for metric, (group, label, help_text) in _GROUP_METRICS.items()
    ),
    *(
        _EntryFamily(metric, help_text, ("entry", "client", label), _named_rows(attr))
        for metric, attr, label, help_text in _NAMED_METRICS
    ),
    _EntryFamily(
        "gwms_factory_completed_glideins",
        "Glideins completed in the last cycle",
        ("entry", "client"),
        _completed_rows,
    ),
)
_COUNTERS = (
    *(
        _EntryFamily(name, help_text, ("entry", "client"), _counter_rows(field), counter=True)
        for name, (field, help_text) in COUNTERS.items()
    ),
    _EntryFamily(
        "gwms_factory_requests_rejected",
        "Requests rejected, by reason",
        ("entry", "client", "reason"),
        _named_rows("rejected_total"),
        counter=True,
    ),
)


class _Families(Collector):
    """Metric families made beforehand, for `generate_latest`."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def _text(families: Iterable[Metric]) -> str:
    return generate_latest(_Families(families)).decode()


@dataclass
class _Chunk:
    """One (family, entry)'s exposition lines, and the label part of each line (what
    prometheus_client wrote before the value) while the same label sets come again."""

    labels: list[tuple[str, ...]]
    values: list[float]
    prefixes: list[str]
    text: str


class _EntryChunks:
    """The exposition lines of each (family, entry), kept from one render to the next: most
    entries of a large factory are quiet, and prometheus_client spends ~5 us formatting one
    sample (150k samples for 500 entries x 10 clients), nearly all of it on the labels. An
    entry whose label sets are unchanged gets its kept label parts with its new values
    (each value text made by prometheus_client's own `floatToGoString`, remembered)."""

    def __init__(self) -> None:
        self._chunks: dict[tuple[str, str], _Chunk] = {}
        self._value_texts: dict[float, str] = {}

    def _value(self, value: float) -> str:
        if not value:  # -0.0 == 0.0 as a key, but prometheus_client writes them apart
            return floatToGoString(value)
        text = self._value_texts.get(value)
        if text is None:
            if len(self._value_texts) >= VALUE_TEXTS_KEPT:
                self._value_texts.clear()
            text = self._value_texts[value] = floatToGoString(value)
        return text

    def _chunk(
        self, spec: _EntryFamily, rows: list[Row], header: str, kept: _Chunk | None
    ) -> _Chunk:
        labels = [row[0] for row in rows]
        values = [row[1] for row in rows]
        if kept is not None and kept.labels == labels:
            if kept.values == values:
                return kept
            text = "".join(
                [
                    f"{prefix}{self._value(value)}\n"
                    for prefix, value in zip(kept.prefixes, values, strict=True)
                ]
            )
            return _Chunk(labels, values, kept.prefixes, text)
        text = _text([spec.family(rows)])[len(header) :]
        # label values never hold a newline (escaped), but may hold what splitlines splits at
        prefixes = [line[: line.rindex(" ") + 1] for line in text.split("\n")[:-1]]
        return _Chunk(labels, values, prefixes, text)

    def text(self, spec: _EntryFamily, entries: list[tuple[str, EntrySnapshot]]) -> str:
        header = _text([spec.family()])
        parts, kept = [header], {}
        for name, entry in entries:
            chunk = self._chunk(
                spec, list(spec.rows(name, entry)), header, self._chunks.get((spec.name, name))
            )
            kept[spec.name, name] = chunk
            parts.append(chunk.text)
        self._chunks = {**{k: v for k, v in self._chunks.items() if k[0] != spec.name}, **kept}
        return "".join(parts)


_CHUNKS = _EntryChunks()


def _entry_gauges(totals: FactoryTotals) -> Iterator[Metric]:
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


def _restarts(restarts: Mapping[str, int]) -> Metric:
    family = CounterMetricFamily(
        "gwms_factory_entry_daemon_restarts",
        "Times the factory restarted an entry daemon",
        labels=["daemon"],
    )
    for daemon, count in sorted(restarts.items()):
        family.add_metric([daemon], count)
    return family


def render(totals: FactoryTotals, restarts: Mapping[str, int] | None = None) -> str:
    """The whole exposition text for one aggregation, written by prometheus_client's
    `generate_latest` family by family (the entry families reuse unchanged entries' lines)."""
    entries = sorted(totals.entries.items())
    return "".join(
        [
            *(_CHUNKS.text(spec, entries) for spec in _GAUGES),
            _text(_entry_gauges(totals)),
            *(_CHUNKS.text(spec, entries) for spec in _COUNTERS),
            _text([_restarts(restarts or {})]),
        ]
    )


def write_metrics(
    path: Path, totals: FactoryTotals, restarts: Mapping[str, int] | None = None
) -> None:
    """Write the exposition file atomically (scrapers never read half of it)."""
    atomic_write(path, render(totals, restarts), make_parents=True)
