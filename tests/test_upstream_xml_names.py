"""The monitoring XML files carry the element and attribute names upstream's readers use
(operations.md §7.1), checked on files written by the real entry writer, aggregation and
descript writer."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from factory_testlib import EntrySpec, config_xml, create, free_port
from lxml import etree

from glideinwms_factory.aggregate import aggregate
from glideinwms_factory.entry.stats import EntryStats, EntryStatsWriter
from glideinwms_factory.lib.monitoring_descript import write_descripts
from glideinwms_factory.lib.monitoring_model import (
    CLIENT_MONITOR,
    COMPLETED_SUMS,
    JOBS_BUCKETS,
    MILL_BUCKETS,
    REQUESTED,
    STATUS,
    TIME_BUCKETS,
    WASTE_KINDS,
    ClientStats,
    CompletedGlidein,
)

T0 = 1_700_000_100
UPDATED = {"UTC": {"unixtime", "ISO8601", "RFC2822"}, "Local": {"ISO8601", "RFC2822", "human"}}


@pytest.fixture(scope="module")
def mon(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("names")
    mon = tmp / "mon"
    writer = EntryStatsWriter(mon, tmp / "log", "ce1")
    stats = ClientStats(
        status={"Idle": 2, "Running": 1},
        requested={"Idle": 4, "MaxGlideins": 9},
        client_monitor={"JobsIdle": 7},
    )
    writer.write(
        EntryStats("ce1", T0, True, {"fe_a": stats}, jobs={"fe_a": {"1.0": "Idle", "2.0": "Idle"}})
    )
    writer.write(
        EntryStats("ce1", T0 + 60, True, {"fe_a": stats}, jobs={"fe_a": {"1.0": "Running"}}),
        completed=[CompletedGlidein("fe_a", "u", "2.0", T0, 9000, True, 8000, 3, 7000, 6000, 7000)],
    )
    aggregate(mon, ["ce1"], now=T0 + 60)
    return mon


def parse(path: Path) -> etree._Element:
    return etree.parse(str(path)).getroot()


def check_updated(root: etree._Element) -> None:
    for zone, names in UPDATED.items():
        node = root.find(f"updated/timezone[@name='{zone}']")
        assert node is not None and names <= set(node.attrib), (root.tag, zone)
    utc = root.find("updated/timezone[@name='UTC']")
    assert time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(utc.get("unixtime")))) == utc.get(
        "ISO8601"
    )


def check_groups(node: etree._Element, with_request: bool = True) -> None:
    assert set(STATUS) <= set(node.find("Status").attrib)
    if with_request:
        assert set(REQUESTED) <= set(node.find("Requested").attrib)
        assert node.find("Requested/Parameters") is not None
        assert set(CLIENT_MONITOR) <= set(node.find("ClientMonitor").attrib)


def check_completed(counts: etree._Element) -> None:
    assert set(COMPLETED_SUMS) <= set(counts.find("Sum").attrib)
    for tag, item, buckets in (
        ("Lasted", "TimeRange", TIME_BUCKETS),
        ("JobsDuration", "TimeRange", TIME_BUCKETS),
        ("JobsNr", "Range", JOBS_BUCKETS),
    ):
        assert [r.get("name") for r in counts.iterfind(f"{tag}/{item}")] == list(buckets), tag
        assert all(r.get("val") is not None for r in counts.iterfind(f"{tag}/{item}"))
    for tag in ("Waste", "WasteTime"):
        for kind in WASTE_KINDS:
            names = [r.get("name") for r in counts.iterfind(f"{tag}/{kind}/Fraction")]
            assert names == list(MILL_BUCKETS), (tag, kind)


@pytest.mark.parametrize("where", ["entry", "factory"])
def test_schedd_status(mon: Path, where: str) -> None:
    if where == "entry":
        root = parse(mon / "entry_ce1" / "schedd_status.xml")
        assert root.tag == "glideFactoryEntryQStats"
        entry = root
    else:
        root = parse(mon / "schedd_status.xml")
        assert root.tag == "glideFactoryQStats"
        entry = root.find("entries/entry[@name='ce1']")
    check_updated(root)
    assert entry.find("downtime").get("status") == "True"
    frontend = entry.find("frontends/frontend[@name='fe_a']")
    assert frontend.find("Downtime").get("status") == "True"  # per frontend, as upstream
    check_groups(frontend)
    check_groups(root.find("total"))


@pytest.mark.parametrize("where", ["entry", "factory"])
def test_log_summary(mon: Path, where: str) -> None:
    path = mon / ("entry_ce1" if where == "entry" else "") / "log_summary.xml"
    root = parse(path)
    assert (
        root.tag
        == {"entry": "glideFactoryEntryLogSummary", "factory": "glideFactoryLogSummary"}[where]
    )
    check_updated(root)
    frontend = root.find("frontends/frontend[@name='fe_a']")
    for node in (frontend, root.find("total")):
        for tag in ("Current", "Entered", "Exited"):
            assert node.find(tag) is not None, tag
        check_completed(node.find("CompletedCounts"))
    assert float(frontend.find("CompletedCounts/Sum").get("Glideins")) == 1
    # one glidein left Idle (to Running) and one left Idle (completed): upstream writes a
    # frontend's Exited negative and the total's positive
    assert float(frontend.find("Exited").get("Idle")) == -2
    assert float(root.find("total/Exited").get("Idle")) == 2


@pytest.mark.parametrize("where", ["entry", "factory"])
def test_rrd_xml(mon: Path, where: str) -> None:
    folder = mon / "entry_ce1" if where == "entry" else mon
    for rrd in ("Status_Attributes", "Log_Counts", "Log_Completed", "Log_Completed_Stats"):
        root = parse(folder / f"rrd_{rrd}.xml")
        assert root.tag == (
            "glideFactoryEntryRRDStats" if where == "entry" else "glideFactoryRRDStats"
        )
        check_updated(root)
        names = [p.get("name") for p in root.iterfind("total/periods/period")]
        assert names == ["7200", "86400", "604800"]
        assert root.find("frontends/frontend[@name='fe_a']/periods/period") is not None


def test_the_rrds_store_exited_negative(mon: Path) -> None:
    out = subprocess.run(
        ["rrdtool", "lastupdate", str(mon / "entry_ce1" / "frontend_fe_a" / "Log_Counts.rrd")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names, values = out.split("\n", 1)
    last = dict(zip(names.split(), values.split(":", 1)[1].split(), strict=True))
    assert float(last["ExitedIdle"]) == -2 and float(last["EnteredRunning"]) == 1


def test_descript_xml(tmp_path: Path) -> None:
    factory = create(tmp_path, config_xml([EntrySpec("ce_a"), EntrySpec("ce_b")], free_port()))
    mon = tmp_path / "mon"
    write_descripts(factory.work, mon, ["ce_a", "ce_b"], T0)
    root = parse(mon / "descript.xml")
    assert root.tag == "glideFactoryDescript"
    check_updated(root)
    shown = root.find("factory").attrib
    assert shown["FactoryName"] == "testfactory" and shown["GlideinName"] == "gtest"
    assert {"LoopDelay", "AdvertiseDelay", "WebURL", "MonitorDisplayText", "MonitorLink"} <= set(
        shown
    )
    frontend = root.find("frontends/frontend[@name='vofrontend']")
    assert frontend.get("ident") == "frontend@example.org" and "usermap" not in frontend.attrib
    for name in ("ce_a", "ce_b"):
        entry = root.find(f"entries/entry[@name='{name}']")
        assert [child.tag for child in entry] == ["attributes", "descript", "params"]
        assert entry.find("attributes").get("GLIDEIN_Site") == f"Site_{name}"
        assert "Schedd" not in entry.find("descript").attrib  # hidden, as upstream
        assert entry.find("descript").get("GridType") == "condor"
        one = parse(mon / f"entry_{name}" / "descript.xml")
        assert one.tag == "glideFactoryEntryDescript"
        check_updated(one)
        assert one.find("entry").get("name") == name
        assert one.find("entry/descript").attrib == entry.find("descript").attrib
