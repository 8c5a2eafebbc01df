"""entry/stats.py and lib/monitoring_*: buckets, waste, movements, the files one entry writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree
from rrd_helpers import fetch_cmd

from glideinwms_factory.entry.stats import EntryStats, EntryStatsWriter
from glideinwms_factory.lib import xml_stats
from glideinwms_factory.lib.monitoring_model import (
    WASTE_KINDS,
    ClientStats,
    CompletedCounts,
    CompletedGlidein,
    client_log,
    jobs_bucket,
    mill_bucket,
    sum_clients,
    time_bucket,
)
from glideinwms_factory.lib.monitoring_xml import completed_element, read_log_summary, read_qstats
from glideinwms_factory.lib.xml_stats import StatsFileError

T0 = 1_700_000_100


def glidein(**kw) -> CompletedGlidein:
    base = dict(
        client="fe_a",
        username="u1",
        job_id="5.0",
        terminated=T0,
        duration=3600,
        condor_started=True,
        condor_duration=3400,
        jobs_nr=2,
        jobs_duration=3000,
        goodput=2700,
        jobs_terminated=3000,
    )
    return CompletedGlidein(**(base | kw))


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [
        (0, "Unknown"),
        (0.5, "Unknown"),
        (60, "Minutes"),
        (1499, "Minutes"),
        (1500, "30mins"),
        (3600, "2hours"),
        (7200, "2hours"),
        (6 * 3600, "8hours"),
        (30 * 3600, "32hours"),
        (64 * 3600, "32hours"),
        (64 * 3600 + 1, "Days"),
    ],
)
def test_time_bucket(seconds: float, bucket: str) -> None:
    assert time_bucket(seconds) == bucket


@pytest.mark.parametrize(
    ("jobs", "bucket"),
    [
        (0, "None"),
        (1, "1job"),
        (2, "2jobs"),
        (3, "4jobs"),
        (8, "4jobs"),
        (9, "16jobs"),
        (29, "16jobs"),
        (30, "Many"),
    ],
)
def test_jobs_bucket(jobs: int, bucket: str) -> None:
    assert jobs_bucket(jobs) == bucket


@pytest.mark.parametrize(
    ("mill", "bucket"),
    [
        (0, "None"),
        (1, "None"),
        (2, "5m"),
        (14, "5m"),
        (15, "25m"),
        (59, "25m"),
        (60, "100m"),
        (179, "100m"),
        (180, "250m"),
        (399, "250m"),
        (400, "500m"),
        (699, "500m"),
        (700, "Most"),
        (998, "Most"),
        (999, "All"),
        (1000, "All"),
    ],
)
def test_mill_bucket(mill: int, bucket: str) -> None:
    assert mill_bucket(mill) == bucket


def test_waste_mill_of_a_working_glidein() -> None:
    assert glidein().waste_mill() == {
        "validation": 56,  # 200 s of 3600 before HTCondor started
        "idle": 118,  # 400 s of 3400 with no job
        "nosuccess": 100,  # 300 s of 3000 in jobs that failed
        "badput": 167,  # 600 s of 3600 not in terminated jobs
    }


@pytest.mark.parametrize(
    "kw", [{"condor_started": False, "condor_duration": 0}, {"condor_duration": 4}]
)
def test_waste_mill_when_condor_never_worked(kw) -> None:
    g = glidein(**kw)
    assert g.failed
    assert g.waste_mill() == {"validation": 1000, "idle": 0, "nosuccess": 0, "badput": 1000}


def test_completed_log_line_is_one_xml_element_with_escaped_values() -> None:
    line = glidein(username='a"b<c', client="fe_a").log_line()
    assert "\n" not in line
    job = etree.fromstring(line)
    assert job.tag == "job"
    assert job.get("terminated") == "2023-11-14T22:15:00Z"
    assert job.get("username") == 'a"b<c'
    assert job.get("id") == "5.0" and job.get("duration") == "3600"
    assert job.get("condor_started") == "True" and job.get("condor_duration") == "3400"
    user = job.find("user")
    assert (
        user.get("jobsnr"),
        user.get("duration"),
        user.get("goodput"),
        user.get("terminated"),
    ) == ("2", "3000", "2700", "3000")
    assert job.find("wastemill").attrib == {
        "validation": "56",
        "idle": "118",
        "nosuccess": "100",
        "badput": "167",
    }


def test_client_stats_reject_unknown_fields_and_fill_missing() -> None:
    with pytest.raises(ValueError, match="Bogus"):
        ClientStats(status={"Bogus": 1})
    stats = ClientStats(status={"Idle": 2}, requested={"Idle": 3})
    assert stats.status["Running"] == 0 and stats.requested["MaxGlideins"] == 0
    attrs = stats.monitor_attributes("GlideinMonitorTotal")
    assert attrs["GlideinMonitorTotalStatusIdle"] == 2
    assert attrs["GlideinMonitorTotalRequestedIdle"] == 3
    assert not any("ClientMonitor" in k for k in attrs)


def test_sum_clients_sums_and_keeps_the_oldest_info_age() -> None:
    a = ClientStats(
        status={"Idle": 1}, client_monitor={"InfoAge": 30, "JobsIdle": 5}, rejected={"x": 1}
    )
    b = ClientStats(
        status={"Idle": 2, "Held": 1},
        client_monitor={"InfoAge": 10, "JobsIdle": 1},
        rejected={"x": 2},
    )
    total = sum_clients([a, b, ClientStats()])
    assert total.status["Idle"] == 3 and total.status["Held"] == 1
    assert total.client_monitor["InfoAge"] == 30 and total.client_monitor["JobsIdle"] == 6
    assert total.requested is None and total.rejected == {"x": 3}


def test_client_log_movements() -> None:
    previous = {"1.0": "Idle", "1.1": "Running", "1.2": "Held", "1.3": "Idle"}
    current = {"1.0": "Running", "1.2": "Held", "2.0": "Idle"}
    result = client_log(previous, current, [glidein(job_id="1.1")])
    assert result.current == {"Running": 1, "Idle": 1, "Wait": 0, "Held": 1}
    assert result.entered == {
        "Running": 1,
        "Idle": 1,
        "Wait": 0,
        "Held": 0,
        "Completed": 1,
        "Removed": 1,
    }
    assert result.exited == {"Running": 1, "Idle": 2, "Wait": 0, "Held": 0}
    assert result.completed.sums["Glideins"] == 1


def test_writer_files_and_rrds(tmp_path: Path) -> None:
    mon, logs = tmp_path / "mon", tmp_path / "log" / "entry_ce1"
    writer = EntryStatsWriter(mon, logs, "ce1")
    writer.write(
        EntryStats(
            "ce1",
            T0,
            False,
            {
                "fe_a": ClientStats(
                    status={"Idle": 3, "Running": 5},
                    requested={"Idle": 4, "MaxGlideins": 10},
                    rejected={"bad identity": 2},
                    protocols={"3.11": 1},
                ),
                "fe_b": ClientStats(status={"Held": 1}),
            },
            jobs={"fe_a": {"1.0": "Idle", "1.1": "Running"}},
        )
    )
    # a restarted entry reads the previous job states back from disk
    writer = EntryStatsWriter(mon, logs, "ce1")
    writer.write(
        EntryStats(
            "ce1",
            T0 + 300,
            True,
            {"fe_a": ClientStats(status={"Idle": 1, "Running": 6})},
            jobs={"fe_a": {"1.1": "Running", "2.0": "Idle"}},
        ),
        completed=[
            glidein(job_id="1.0"),
            glidein(job_id="1.5", condor_started=False, condor_duration=0, terminated=T0 + 86400),
        ],
    )
    entry = mon / "entry_ce1"
    qstats = read_qstats(entry / "schedd_status.xml")
    assert qstats.updated == T0 + 300 and qstats.downtime is True
    assert qstats.clients["fe_a"].status["Running"] == 6
    assert qstats.clients["fe_a"].requested is None
    root = etree.parse(str(entry / "schedd_status.xml")).getroot()
    assert root.tag == "glideFactoryEntryQStats"
    assert root.find("total/Status").get("Running") == "6"

    logsum = read_log_summary(entry / "log_summary.xml")
    assert logsum.updated == T0 + 300
    assert (
        logsum.clients["fe_a"].entered["Idle"] == 1
        and logsum.clients["fe_a"].entered["Completed"] == 2
    )
    assert logsum.clients["fe_a"].exited["Idle"] == 1
    assert logsum.clients["fe_a"].completed.sums["FailedNr"] == 1
    assert logsum.clients["fe_a"].completed.waste["validation"]["All"] == 1
    assert json.loads((entry / "job_states.json").read_text()) == {
        "fe_a": {"1.1": "Running", "2.0": "Idle"}
    }

    # one completed line per glidein, in the file of its UTC day
    day1 = (logs / "completed_jobs_20231114.log").read_text().splitlines()
    day2 = (logs / "completed_jobs_20231115.log").read_text().splitlines()
    assert [etree.fromstring(x).get("id") for x in day1 + day2] == ["1.0", "1.5"]

    first = fetch_cmd(entry / "frontend_fe_a" / "Status_Attributes.rrd", T0 - 300, T0 + 300)
    assert first[T0]["StatusIdle"] == 3 and first[T0]["ReqMaxGlideins"] == 10
    assert first[T0 + 300]["StatusIdle"] == 1 and first[T0 + 300]["ReqIdle"] is None
    total = fetch_cmd(entry / "total" / "Status_Attributes.rrd", T0 - 300, T0 + 300)
    assert total[T0]["StatusHeld"] == 1 and total[T0]["StatusRunning"] == 5
    completed = fetch_cmd(entry / "total" / "Log_Completed.rrd", T0, T0 + 300)
    assert completed[T0 + 300]["Glideins"] * 300 == pytest.approx(2)
    assert completed[T0 + 300]["Lasted"] * 300 == pytest.approx(7200)
    counts = fetch_cmd(entry / "frontend_fe_a" / "Log_Counts.rrd", T0, T0 + 300)
    assert counts[T0 + 300]["StatusRunning"] == 1
    assert counts[T0 + 300]["EnteredCompleted"] * 300 == pytest.approx(2)
    waste = fetch_cmd(entry / "total" / "Log_Completed_WasteTime.rrd", T0, T0 + 300)
    assert waste[T0 + 300]["badput_All"] * 300 == pytest.approx(3600)
    assert waste[T0 + 300]["badput_100m"] * 300 == pytest.approx(3600)
    stats = fetch_cmd(entry / "total" / "Log_Completed_Stats.rrd", T0, T0 + 300)
    assert stats[T0 + 300]["JobsNr_2jobs"] * 300 == pytest.approx(2)
    assert stats[T0 + 300]["Lasted_2hours"] * 300 == pytest.approx(2)


def test_writer_refuses_another_entrys_stats(tmp_path: Path) -> None:
    writer = EntryStatsWriter(tmp_path, tmp_path, "ce1")
    with pytest.raises(ValueError, match="ce2"):
        writer.write(EntryStats("ce2", T0, False, {}))


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".."])
def test_writer_leaves_out_client_names_that_are_paths(tmp_path: Path, name: str) -> None:
    writer = EntryStatsWriter(tmp_path / "mon", tmp_path / "log", "ce1")
    writer.write(
        EntryStats(
            "ce1",
            T0,
            False,
            {name: ClientStats(status={"Idle": 9}), "fe_ok": ClientStats(status={"Idle": 1})},
            jobs={name: {"1.0": "Idle"}},
        ),
        completed=[glidein(client=name)],
    )
    entry = tmp_path / "mon" / "entry_ce1"
    assert list(read_qstats(entry / "schedd_status.xml").clients) == ["fe_ok"]
    assert read_qstats(entry / "schedd_status.xml").clients["fe_ok"].status["Idle"] == 1
    assert sorted(p.name for p in entry.iterdir() if p.is_dir()) == ["frontend_fe_ok", "total"]
    assert json.loads((entry / "job_states.json").read_text()) == {}
    assert not (tmp_path / "log").exists()
    assert not (tmp_path / "x").exists()
    # nor is it read as a folder for the averages
    rrd_xml = etree.parse(str(entry / "rrd_Status_Attributes.xml")).getroot()
    assert [f.get("name") for f in rrd_xml.iterfind("frontends/frontend")] == ["fe_ok"]


def test_reader_refuses_a_path_in_a_frontend_name(tmp_path: Path) -> None:
    path = tmp_path / "schedd_status.xml"
    path.write_text(
        '<glideFactoryEntryQStats><frontends><frontend name="../../etc"/></frontends></glideFactoryEntryQStats>'
    )
    with pytest.raises(StatsFileError, match="cannot name a folder"):
        read_qstats(path)


def test_entry_rrd_xml_averages(tmp_path: Path) -> None:
    writer = EntryStatsWriter(tmp_path / "mon", tmp_path, "ce1", rrd_xml_interval=600)
    for i, idle in enumerate((2, 4, 6)):
        writer.write(
            EntryStats("ce1", T0 + 300 * i, False, {"fe_a": ClientStats(status={"Idle": idle})})
        )
    root = etree.parse(str(tmp_path / "mon" / "entry_ce1" / "rrd_Status_Attributes.xml")).getroot()
    assert root.tag == "glideFactoryEntryRRDStats"
    # written at the first and third iteration only (600 s apart): the mean of 2, 4, 6
    assert root.find("updated/timezone[@name='UTC']").get("unixtime") == str(T0 + 600)
    period = root.find("frontends/frontend[@name='fe_a']/periods/period[@name='7200']")
    assert float(period.get("StatusIdle")) == pytest.approx(4)
    assert float(
        root.find("total/periods/period[@name='86400']").get("StatusIdle")
    ) == pytest.approx(4)
    # a week is read from the hourly archive, which 15 minutes of history do not fill yet
    assert root.find("total/periods/period[@name='604800']").get("StatusIdle") is None
    counts = etree.parse(str(tmp_path / "mon" / "entry_ce1" / "rrd_Log_Counts.xml")).getroot()
    assert counts.find("total/periods/period[@name='86400']") is not None


def test_groups_assigned_after_construction_are_checked_and_filled(tmp_path: Path) -> None:
    stats = ClientStats()
    stats.status = {"Idle": 4}  # as a caller may do with counts from elsewhere
    EntryStatsWriter(tmp_path / "mon", tmp_path, "ce1").write(
        EntryStats("ce1", T0, False, {"fe": stats})
    )
    written = read_qstats(tmp_path / "mon" / "entry_ce1" / "schedd_status.xml").clients["fe"]
    assert written.status["Idle"] == 4 and written.status["RunningCores"] == 0
    stats.status = {"Nonsense": 1}
    with pytest.raises(ValueError, match="Nonsense"):
        EntryStatsWriter(tmp_path / "mon", tmp_path, "ce1").write(
            EntryStats("ce1", T0 + 300, False, {"fe": stats})
        )


def test_named_counts_round_trip_through_schedd_status(tmp_path: Path) -> None:
    """Rejections by reason and served requests by Frontend protocol are kept on disk."""
    client = ClientStats(
        status={"Idle": 1}, rejected={"bad identity": 2}, protocols={"3.10": 1, "3.11": 3}
    )
    EntryStatsWriter(tmp_path / "mon", tmp_path / "log", "ce1").write(
        EntryStats("ce1", T0, False, {"fe_a": client})
    )
    qstats = read_qstats(tmp_path / "mon" / "entry_ce1" / "schedd_status.xml")
    assert qstats.clients["fe_a"].protocols == {"3.10": 1, "3.11": 3}
    assert qstats.clients["fe_a"].rejected == {"bad identity": 2}
    root = etree.parse(str(tmp_path / "mon" / "entry_ce1" / "schedd_status.xml")).getroot()
    assert root.find("total/Protocols/protocol[@name='3.11']").get("count") == "3"


def test_completed_counts_elements_keep_each_layout_and_value() -> None:
    """CompletedCounts elements are copies of a layout filled with values: counts of another
    layout written in between (an extra sum and a missing bucket, as read back from another
    version's file) get their own elements, and every value lands in its own place."""
    usual = CompletedCounts()
    for duration, jobs in ((60, 0), (4000, 3), (90000, 40)):
        usual.add(glidein(duration=duration, jobs_nr=jobs, condor_duration=duration * 0.9))
    other = CompletedCounts()
    other.sums["Extra"] = 2.5
    del other.lasted["Days"]
    written = [(etree.Element("CompletedCounts"), c) for c in (usual, other, usual)]
    for parent, counts in written:
        completed_element(parent, counts)
    for parent, counts in written:
        assert [c.tag for c in parent] == [
            *("Sum", "Lasted", "JobsDuration", "JobsNr", "Waste", "WasteTime")
        ]
        assert parent.find("Sum").keys() == list(counts.sums)
        assert xml_stats.read_attrs(parent.find("Sum")) == counts.sums
        for tag, table in (("Lasted", counts.lasted), ("JobsNr", counts.jobs_nr)):
            assert [r.get("name") for r in parent.find(tag)] == list(table)
            assert xml_stats.read_ranges(parent.find(tag)) == table
        assert xml_stats.read_ranges(parent.find("JobsDuration")) == counts.jobs_duration
        for kind in WASTE_KINDS:
            assert xml_stats.read_ranges(parent.find(f"Waste/{kind}")) == counts.waste[kind]
            assert (
                xml_stats.read_ranges(parent.find(f"WasteTime/{kind}")) == counts.waste_time[kind]
            )
    assert usual.sums["Glideins"] == 3 and sum(usual.lasted.values()) == 3
