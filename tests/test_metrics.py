"""lib/metrics.py, parsed by the real Prometheus text parser and checked against the XML."""

from __future__ import annotations

from pathlib import Path

from lxml import etree
from prometheus_client.parser import text_string_to_metric_families

from glideinwms_factory.aggregate import aggregate
from glideinwms_factory.entry.stats import EntryStats, EntryStatsWriter
from glideinwms_factory.lib.metrics import write_metrics
from glideinwms_factory.lib.monitoring_model import ClientStats, CompletedGlidein

T0 = 1_700_000_100


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
