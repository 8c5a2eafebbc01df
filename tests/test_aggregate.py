"""glideinwms_factory/aggregate.py on entries written by the real entry writer."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from rrd_helpers import fetch_cmd

from glideinwms_factory.aggregate import aggregate
from glideinwms_factory.entry.stats import EntryStats, EntryStatsWriter
from glideinwms_factory.lib.monitoring_model import ClientStats, CompletedGlidein
from glideinwms_factory.lib.monitoring_rejected import reasons
from glideinwms_factory.lib.monitoring_xml import (
    completed_jobs_attributes,
    read_log_summary,
    read_qstats,
)
from glideinwms_factory.lib.rrd import RRDTool

T0 = 1_700_000_100


def done(client: str, job_id: str, jobs_nr: int) -> CompletedGlidein:
    return CompletedGlidein(client, "u", job_id, T0, 7200, True, 7000, jobs_nr, 6000, 6000, 6000)


def write_two_entries(mon: Path, tmp_path: Path, when: int) -> None:
    EntryStatsWriter(mon, tmp_path / "log_a", "A").write(
        EntryStats(
            "A",
            when,
            False,
            {
                "fe_x": ClientStats(
                    status={"Idle": 2, "Running": 3}, requested={"Idle": 5, "MaxGlideins": 20}
                ),
                "fe_y": ClientStats(status={"Held": 1}),
            },
            jobs={"fe_x": {"1.0": "Idle"}},
        ),
        completed=[done("fe_x", "0.1", 1)],
    )
    EntryStatsWriter(mon, tmp_path / "log_b", "B").write(
        EntryStats(
            "B",
            when,
            True,
            {
                "fe_x": ClientStats(
                    status={"Idle": 4, "Running": 1}, requested={"Idle": 1, "MaxGlideins": 5}
                )
            },
        ),
        completed=[done("fe_x", "9.0", 3), done("fe_x", "9.1", 40)],
    )


def test_aggregate_sums_entries_per_frontend_and_total(tmp_path: Path) -> None:
    mon = tmp_path / "mon"
    write_two_entries(mon, tmp_path, T0)
    (mon / "entry_C").mkdir()
    (mon / "entry_C" / "schedd_status.xml").write_text("<broken")

    totals = aggregate(mon, ["A", "B", "C", "missing"], now=T0)

    assert set(totals.entries) == {"A", "B"}
    assert set(totals.errors) == {"C", "missing"}
    assert totals.total.status["Idle"] == 6 and totals.total.status["Running"] == 4
    assert totals.total.status["Held"] == 1
    assert totals.clients["fe_x"].requested["MaxGlideins"] == 25
    assert totals.entries["B"].downtime is True
    assert totals.completed_jobs() == {
        "None": 0,
        "1job": 1,
        "2jobs": 0,
        "4jobs": 1,
        "16jobs": 0,
        "Many": 1,
    }
    attrs = totals.total.monitor_attributes("GlideinMonitorTotal")
    assert attrs["GlideinMonitorTotalStatusIdle"] == 6

    # the factory XML files say the same, entry by entry and in total
    qstats = read_qstats(mon / "schedd_status.xml", "glideFactoryQStats")
    assert qstats.clients["fe_x"].status["Idle"] == 6
    root = etree.parse(str(mon / "schedd_status.xml")).getroot()
    assert root.find("total/Status").get("Running") == "4"
    assert root.find("entries/entry[@name='B']/downtime").get("status") == "True"
    assert (
        root.find("entries/entry[@name='A']/frontends/frontend[@name='fe_y']/Status").get("Held")
        == "1"
    )
    logs = read_log_summary(mon / "log_summary.xml", "glideFactoryLogSummary")
    assert logs.clients["fe_x"].completed.sums["Glideins"] == 3

    # the factory RRDs
    total = fetch_cmd(mon / "total" / "Status_Attributes.rrd", T0 - 300, T0)
    assert total[T0]["StatusIdle"] == 6 and total[T0]["ReqIdle"] == 6
    fe_y = fetch_cmd(mon / "total" / "frontend_fe_y" / "Status_Attributes.rrd", T0 - 300, T0)
    assert fe_y[T0]["StatusHeld"] == 1
    completed = fetch_cmd(mon / "total" / "Log_Completed.rrd", T0 - 300, T0)
    assert completed[T0]["Glideins"] * 300 == pytest.approx(3)

    # rrd_<RRD>.xml: averages over the three periods
    rrd_xml = etree.parse(str(mon / "rrd_Status_Attributes.xml")).getroot()
    assert rrd_xml.tag == "glideFactoryRRDStats"
    periods = {p.get("name"): p for p in rrd_xml.iterfind("total/periods/period")}
    assert set(periods) == {"7200", "86400", "604800"}
    assert float(periods["7200"].get("StatusIdle")) == pytest.approx(6)
    assert (
        rrd_xml.find("frontends/frontend[@name='fe_y']/periods/period[@name='7200']").get(
            "StatusHeld"
        )
        == "1"
    )


def test_an_entry_snapshot_is_counted_once(tmp_path: Path) -> None:
    mon = tmp_path / "mon"
    write_two_entries(mon, tmp_path, T0)
    aggregate(mon, ["A", "B"], now=T0)
    again = aggregate(mon, ["A", "B"], now=T0 + 300)  # the entries did not write meanwhile
    assert again.total_log.completed.sums["Glideins"] == 0
    assert again.total_log.current["Idle"] == 1  # levels stay
    assert again.total.status["Idle"] == 6
    completed = fetch_cmd(mon / "total" / "Log_Completed.rrd", T0, T0 + 300)
    assert completed[T0 + 300]["Glideins"] == 0


def test_stale_entries_are_left_out_when_asked(tmp_path: Path) -> None:
    mon = tmp_path / "mon"
    write_two_entries(mon, tmp_path, T0)
    EntryStatsWriter(mon, tmp_path / "log_a", "A").write(
        EntryStats("A", T0 + 3600, False, {"fe_x": ClientStats(status={"Idle": 1})})
    )
    totals = aggregate(mon, ["A", "B"], now=T0 + 3600, stale_after=1800)
    assert list(totals.entries) == ["A"]
    assert totals.errors == {"B": "statistics are 3600 s old"}
    assert totals.total.status["Idle"] == 1
    kept = aggregate(mon, ["A", "B"], now=T0 + 3900)
    assert set(kept.entries) == {"A", "B"}


def test_entries_read_the_completed_jobs_of_the_last_aggregation(tmp_path: Path) -> None:
    mon = tmp_path / "mon"
    assert completed_jobs_attributes(mon, "A", T0) == {}  # no aggregation yet
    write_two_entries(mon, tmp_path, T0)
    aggregate(mon, ["A", "B"], now=T0)
    attrs = completed_jobs_attributes(mon, "B", T0 + 60)
    assert attrs["GlideinMonitorCompletedJobsPerEntry4jobs"] == 1
    assert attrs["GlideinMonitorCompletedJobsPerEntryMany"] == 1
    assert attrs["GlideinMonitorCompletedJobsPerEntry1job"] == 0
    assert attrs["GlideinMonitorCompletedJobsPerFactory1job"] == 1
    assert len(attrs) == 12
    assert completed_jobs_attributes(mon, "A", T0 + 3601) == {}  # factory stats over 1 h old
    assert (
        completed_jobs_attributes(mon, "unknown", T0)["GlideinMonitorCompletedJobsPerEntryNone"]
        == 0
    )
    (mon / "completed_jobs.json").write_text("{broken")
    assert completed_jobs_attributes(mon, "A", T0) == {}


def test_completed_glideins_accumulate_over_the_hour_day_and_week(tmp_path: Path) -> None:
    """The per-cycle CompletedCounts hold one cycle; CompletedHistory adds up every cycle."""
    mon = tmp_path / "mon"
    for cycle in range(5):
        write_two_entries(mon, tmp_path, T0 + 60 * cycle)
        aggregate(mon, ["A", "B"], now=T0 + 60 * cycle)
    root = etree.parse(str(mon / "log_summary.xml")).getroot()

    def glideins(node: etree._Element, window: str) -> float:
        (found,) = node.iterfind(f"CompletedHistory/window[@name='{window}']/Sum")
        return float(found.get("Glideins"))

    assert float(root.find("total/CompletedCounts/Sum").get("Glideins")) == 3  # last cycle
    for window in ("hour", "day", "week"):
        assert glideins(root.find("total"), window) == 15, window
        assert glideins(root.find("frontends/frontend[@name='fe_x']"), window) == 15
        assert glideins(root.find("entries/entry[@name='A']"), window) == 5
        assert glideins(root.find("entries/entry[@name='B']"), window) == 10
    week = root.find("entries/entry[@name='B']/CompletedHistory/window[@name='week']")
    jobs_nr = {r.get("name"): float(r.get("val")) for r in week.find("JobsNr")}
    assert jobs_nr["4jobs"] == 5 and jobs_nr["Many"] == 5 and jobs_nr["1job"] == 0
    assert float(week.find("Sum").get("Lasted")) == 10 * 7200
    # an hour later the hour is empty again, the day still counts them all
    aggregate(mon, ["A", "B"], now=T0 + 240 + 3700)
    root = etree.parse(str(mon / "log_summary.xml")).getroot()
    assert glideins(root.find("total"), "hour") == 0
    assert glideins(root.find("total"), "day") == 15


def test_rejections_by_reason_over_time(tmp_path: Path) -> None:
    """Every rejection reaches the per-reason RRDs of the entry and of the factory, even
    when the factory aggregates only every third entry cycle."""
    mon = tmp_path / "mon"
    writer = EntryStatsWriter(mon, tmp_path / "log", "A")
    for cycle in range(6):
        when = T0 + 60 * cycle
        rejected = {"bad identity": 1, "credentials: none": cycle % 2}
        writer.write(EntryStats("A", when, False, {"fe_x": ClientStats(rejected=rejected)}))
        if cycle % 3 == 2:
            aggregate(mon, ["A"], now=when)
    tool = RRDTool()
    for folder in (mon / "entry_A" / "total", mon / "total", mon / "total" / "frontend_fe_x"):
        index = reasons(folder)
        assert sorted(index.values()) == ["bad identity", "credentials: none"], folder
        counted = {
            reason: tool.sums(folder / f"{stem}.rrd", T0 + 300, (3600,))[3600]["Requests"]
            for stem, reason in index.items()
        }
        assert counted == {
            "bad identity": pytest.approx(6),
            "credentials: none": pytest.approx(3),
        }, folder
