"""lib/metrics.py, parsed by the real Prometheus text parser and checked against the XML."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest
from lxml import etree
from prometheus_client.parser import text_string_to_metric_families

from glideinwms_factory.aggregate import aggregate
from glideinwms_factory.entry.stats import EntryStats, EntryStatsWriter
from glideinwms_factory.lib import metrics
from glideinwms_factory.lib.metrics import COUNTERS, render, write_metrics
from glideinwms_factory.lib.monitoring_model import ClientStats, CompletedGlidein

T0 = 1_700_000_100
DASHBOARD = "gwms_factory_dashboard.json"


def test_metrics_parse_and_agree_with_the_xml(tmp_path: Path) -> None:
    mon = tmp_path / "mon"
    EntryStatsWriter(mon, tmp_path / "l1", "ce_1").write(
        EntryStats(
            "ce_1",
            T0,
            False,
            {
                'fe"odd\\name': ClientStats(
                    status={"Idle": 123456789, "Running": 2}, rejected={"bad identity": 3}
                ),
                "fe_b": ClientStats(
                    status={"Idle": 1, "Held": 4},
                    requested={"Idle": 7, "MaxGlideins": 9},
                    protocols={"3.10": 1, "3.11": 2},
                ),
            },
        ),
        completed=[CompletedGlidein("fe_b", "u", "1.0", T0, 100, False)],
    )
    EntryStatsWriter(mon, tmp_path / "l2", "ce_2").write(
        EntryStats("ce_2", T0 - 60, True, {"fe_b": ClientStats(status={"Running": 8})})
    )
    (mon / "entry_bad").mkdir()
    totals = aggregate(mon, ["ce_1", "ce_2", "bad"], now=T0)
    path = mon / "metrics.prom"
    write_metrics(path, totals)

    families = {f.name: f for f in text_string_to_metric_families(path.read_text())}
    glideins = families["gwms_factory_glideins"].samples
    root = etree.parse(str(mon / "schedd_status.xml")).getroot()
    for state in ("Idle", "Running", "Held", "RunningCores"):
        total = sum(s.value for s in glideins if s.labels["state"] == state)
        assert total == float(root.find("total/Status").get(state)), state
    for entry in root.iterfind("entries/entry"):
        for frontend in entry.iterfind("frontends/frontend"):
            for state, value in frontend.find("Status").attrib.items():
                (sample,) = [
                    s
                    for s in glideins
                    if s.labels
                    == {"entry": entry.get("name"), "client": frontend.get("name"), "state": state}
                ]
                assert sample.value == float(value)
    # awkward label values survive escaping; big counts keep every digit
    odd = [
        s for s in glideins if s.labels["client"] == 'fe"odd\\name' and s.labels["state"] == "Idle"
    ]
    assert odd[0].value == 123456789
    requested = {
        (s.labels["client"], s.labels["field"]): s.value
        for s in families["gwms_factory_requested"].samples
    }
    assert requested[("fe_b", "MaxGlideins")] == 9
    rejected = families["gwms_factory_rejected_requests"].samples
    assert [(s.labels["reason"], s.value) for s in rejected] == [("bad identity", 3)]
    served = families["gwms_factory_requests"].samples
    assert [(s.labels["protocol"], s.value) for s in served] == [("3.10", 1), ("3.11", 2)]
    completed = {
        s.labels["client"]: s.value
        for s in families["gwms_factory_completed_glideins"].samples
        if s.labels["entry"] == "ce_1"
    }
    assert completed["fe_b"] == 1
    downtime = {
        s.labels["entry"]: s.value for s in families["gwms_factory_entry_in_downtime"].samples
    }
    assert downtime == {"ce_1": 0, "ce_2": 1}
    age = {
        s.labels["entry"]: s.value for s in families["gwms_factory_entry_stats_age_seconds"].samples
    }
    assert age == {"ce_1": 0, "ce_2": 60}
    assert [s.labels["entry"] for s in families["gwms_factory_entry_unreadable"].samples] == ["bad"]


def exported_names(text: str) -> set[str]:
    """Every series name the exposition declares (counters are declared with _total)."""
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def test_counters_count_every_entry_cycle_once(tmp_path: Path) -> None:
    mon = tmp_path / "mon"
    # an iteration without any client leaves no totals to carry over
    EntryStatsWriter(mon, tmp_path / "l1", "ce_1").write(EntryStats("ce_1", T0 - 60, False, {}))
    for cycle in range(3):
        writer = EntryStatsWriter(mon, tmp_path / "l1", "ce_1")  # totals survive a restart
        stats = ClientStats(
            status={"Idle": 1},
            rejected={"bad identity": 1},
            actions={"Submitted": 5, "Removed": 2, "Released": 1},
        )
        writer.write(
            EntryStats("ce_1", T0 + 60 * cycle, False, {"fe_a": stats}, cycle_seconds=1.5),
            completed=[CompletedGlidein("fe_a", "u", f"{cycle}.0", T0, 100, False)],
        )
        if cycle != 1:  # the factory aggregates more or less often than the entry loops
            for again in range(2):
                totals = aggregate(mon, ["ce_1"], now=T0 + 60 * cycle + again)
                write_metrics(mon / "metrics.prom", totals, restarts={"ce_1": 2})
    families = {
        s.name: s.value
        for f in text_string_to_metric_families((mon / "metrics.prom").read_text())
        for s in f.samples
    }
    assert families["gwms_factory_glideins_submitted_total"] == 15
    assert families["gwms_factory_glideins_removed_total"] == 6
    assert families["gwms_factory_glideins_released_total"] == 3
    assert families["gwms_factory_requests_rejected_total"] == 3
    assert families["gwms_factory_glideins_completed_total"] == 3
    assert families["gwms_factory_glideins_failed_total"] == 3
    assert families["gwms_factory_entry_daemon_restarts_total"] == 2
    assert families["gwms_factory_entry_cycle_seconds"] == 1.5
    assert families["gwms_factory_entry_last_cycle_timestamp_seconds"] == T0 + 120


def test_grafana_dashboard_queries_exported_metrics(tmp_path: Path) -> None:
    dashboard = json.loads(
        (resources.files("glideinwms_factory.web_base") / "grafana" / DASHBOARD).read_text()
    )
    mon = tmp_path / "mon"
    EntryStatsWriter(mon, tmp_path / "l1", "ce_1").write(
        EntryStats("ce_1", T0, False, {"fe_a": ClientStats(status={"Idle": 1})})
    )
    exported = exported_names(render(aggregate(mon, ["ce_1"], now=T0)))
    queries = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    queries += [
        v["query"]["query"]
        for v in dashboard["templating"]["list"]
        if "query" in v and isinstance(v["query"], dict)
    ]
    assert len(dashboard["panels"]) >= 10
    for query in queries:
        named = set(re.findall(r"gwms_factory_[a-z_]+", query))
        assert named, query
        assert named <= exported, f"{query}: {named - exported} not exported"
    # every panel shows something the endpoint exports, and each counter is graphed
    graphed = {n for q in queries for n in re.findall(r"gwms_factory_[a-z_]+", q)}
    counters = [*COUNTERS, "gwms_factory_requests_rejected", "gwms_factory_entry_daemon_restarts"]
    assert {f"{name}_total" for name in counters} <= graphed


def test_render_reuses_only_the_lines_of_unchanged_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mon = tmp_path / "mon"

    def cycle(when: int, idle: int) -> str:
        for name, count in (("ce_1", 3), ("ce_2", idle)):
            EntryStatsWriter(mon, tmp_path / name, name).write(
                EntryStats(name, when, False, {"fe_a": ClientStats(status={"Idle": count})})
            )
        return render(aggregate(mon, ["ce_1", "ce_2"], now=when))

    cycle(T0, idle=1)
    text = cycle(T0 + 60, idle=7)  # ce_1 unchanged, ce_2 changed since the last render
    idle = {
        s.labels["entry"]: s.value
        for f in text_string_to_metric_families(text)
        if f.name == "gwms_factory_glideins"
        for s in f.samples
        if s.labels["state"] == "Idle"
    }
    assert idle == {"ce_1": 3, "ce_2": 7}
    monkeypatch.setattr(metrics, "_CHUNKS", metrics._EntryChunks())  # nothing kept
    assert render(aggregate(mon, ["ce_1", "ce_2"], now=T0 + 60)) == text


def test_new_values_on_kept_labels_are_written_as_prometheus_client_writes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Odd client names (quote, backslash, newline, a line separator splitlines would cut
    at) and values prometheus_client writes in its own way (big ones in Go's exponent
    form, fractions, zero) change between cycles under the same labels."""
    mon = tmp_path / "mon"
    names = ('fe"odd\\name', "fe\nnew\u2028line", "fe_b")

    def cycle(when: int, idle: float) -> str:
        clients = {
            name: ClientStats(
                status={"Idle": idle * (i + 1), "Running": 0},
                client_monitor={"InfoAge": idle / 7, "GlideTotal": 12_345_678 + idle},
            )
            for i, name in enumerate(names)
        }
        EntryStatsWriter(mon, tmp_path / "ce_1", "ce_1").write(
            EntryStats("ce_1", when, False, clients)
        )
        return render(aggregate(mon, ["ce_1"], now=when))

    first = cycle(T0, idle=3)
    text = cycle(T0 + 60, idle=123_456_789)
    assert text != first
    monkeypatch.setattr(metrics, "_CHUNKS", metrics._EntryChunks())  # nothing kept
    assert render(aggregate(mon, ["ce_1"], now=T0 + 60)) == text
    assert "1.23456789e+08" in text
