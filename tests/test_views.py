"""wmsTxtView / wmsXMLView against a real embedded pool daemon holding advertised ads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import classad2
import htcondor2._collector as bindings_collector
import pytest
from lxml import etree

from glideinwms_factory.lib.classad import to_classad
from glideinwms_factory.lib.monitoring_model import ClientStats
from glideinwms_factory.lib.pool.embedded.auth import FACTORY_IDENTITY
from glideinwms_factory.lib.pool.embedded.client import EmbeddedCollector, read_token
from glideinwms_factory.tools.views import FactorySelector, ViewError, txt_main, txt_rows

BIN = Path(sys.executable).parent


def run(tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GWMS_POOL"}
    return subprocess.run(
        [str(BIN / tool), *args], capture_output=True, text=True, timeout=60, check=check, env=env
    )


def entry_ad(
    entry: str,
    factory: str,
    site: str,
    gatekeeper: str,
    idle: int,
    running: int,
    req_idle: int,
    max_glideins: int,
) -> dict:
    totals = ClientStats(
        status={"Idle": idle, "Running": running},
        requested={"Idle": req_idle, "MaxGlideins": max_glideins},
    )
    return {
        "MyType": "glidefactory",
        "GlideinMyType": "glidefactory",
        "Name": f"{entry}@gfactory_instance@{factory}",
        "EntryName": entry,
        "GlideinName": "gfactory_instance",
        "FactoryName": factory,
        "GLIDEIN_Site": site,
        "GLIDEIN_Gatekeeper": gatekeeper,
        "GLIDEIN_In_Downtime": False,
        "GlideinParamGLIDEIN_Collector": "Fake",
        **totals.monitor_attributes("GlideinMonitorTotal"),
    }


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> Iterator[str]:
    state = tmp_path_factory.mktemp("pool")
    address = run("gwms-pool", "start", "--state-dir", str(state), "--port", "0").stdout.strip()
    try:
        token_file = state / "factory.token"
        run(
            "gwms-pool",
            "token",
            "create",
            "--state-dir",
            str(state),
            "--identity",
            FACTORY_IDENTITY,  # factory ads come only from the factory identity
            "--output",
            str(token_file),
        )
        collector = EmbeddedCollector(address, read_token(token_file))
        collector.advertise(
            [
                to_classad(ad)
                for ad in (
                    entry_ad("ce_a", "fact1", "SiteX", "gk1.example.org", 3, 10, 5, 100),
                    entry_ad("ce_b", "fact1", "SiteX", "gk2.example.org", 1, 2, 4, 50),
                    entry_ad("ce_c", "fact1", "SiteY", "gk2.example.org", 0, 7, 0, 20),
                    entry_ad("ce_a", "other", "SiteZ", "gk9.example.org", 99, 99, 99, 99),
                )
            ]
        )
        collector.advertise(
            [
                to_classad(
                    {
                        "MyType": "glidefactoryglobal",
                        "GlideinMyType": "glidefactoryglobal",
                        "Name": "gfactory_instance@fact1",
                        "FactoryName": "fact1",
                        "GlideinName": "gfactory_instance",
                        "PubKeyType": "RSA",
                    }
                )
            ]
        )
        collector.advertise(
            [
                to_classad(
                    {
                        "MyType": "glidefactoryclient",
                        "GlideinMyType": "glidefactoryclient",
                        "Name": "ce_a@gfactory_instance@fact1@fe.main",
                        "ReqGlidein": "ce_a@gfactory_instance@fact1",
                        "ReqFactoryName": "fact1",
                        "ReqGlideinName": "gfactory_instance",
                        "ReqEntryName": "ce_a",
                        "ReqClientName": "fe.main",
                        "GlideinMonitorStatusIdle": 3,
                    }
                )
            ],
            "UPDATE_LICENSE_AD",
        )
        collector.advertise(
            [
                to_classad(
                    {
                        "MyType": "glideclient",
                        "GlideinMyType": "glideclient",
                        "Name": "abcd_ce_a@gfactory_instance@fact1@fe.main",
                        "ReqName": "ce_a@gfactory_instance@fact1",
                        "ReqGlidein": "ce_a@gfactory_instance@fact1",
                        "ClientName": "fe.main",
                        "ReqIdleGlideins": 5,
                        "WebURL": 'http://fe.example.org/<"odd">',
                    }
                )
            ],
            "UPDATE_MASTER_AD",
        )
        yield address
    finally:
        run("gwms-pool", "stop", "--state-dir", str(state), check=False)


def table(text: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:] for line in text.splitlines()[1:]}


def test_txt_view_entries_sites_gatekeepers(pool: str) -> None:
    entries = run("wmsTxtView", "--pool", pool, "-factory", "fact1").stdout
    assert entries.splitlines()[0].split() == ["Entry", "ReqIdle", "Idle", "Running", "MaxGlideins"]
    rows = table(entries)
    assert rows["ce_a@gfactory_instance@fact1"] == ["5", "3", "10", "100"]
    assert rows["Total"] == ["9", "4", "19", "170"]
    assert "ce_a@gfactory_instance@other" not in rows
    sites = table(
        run("wmsTxtView", "--pool", pool, "-factory", "gfactory_instance@fact1", "Sites").stdout
    )
    assert sites == {
        "SiteX": ["9", "4", "12", "150"],
        "SiteY": ["0", "0", "7", "20"],
        "Total": ["9", "4", "19", "170"],
    }
    gatekeepers = table(
        run("wmsTxtView", "--pool", pool, "-factory", "fact1", "Gatekeepers").stdout
    )
    assert gatekeepers["gk2.example.org"] == ["4", "1", "9", "70"]
    one = table(
        run("wmsTxtView", "--pool", pool, "-factory", "ce_b@gfactory_instance@fact1").stdout
    )
    assert list(one) == ["ce_b@gfactory_instance@fact1", "Total"]
    everything = table(run("wmsTxtView", "--pool", pool).stdout)
    assert everything["Total"] == ["108", "103", "118", "269"]


def test_xml_view_dumps_entries_clients_and_requests(pool: str) -> None:
    out = run("wmsXMLView", "--pool", pool, "-factory", "fact1").stdout
    root = etree.fromstring(out.encode())
    assert root.tag == "glideinWMSFactoryAds"
    assert [f.get("name") for f in root.iterfind("factory")] == ["gfactory_instance@fact1"]
    names = [e.get("name") for e in root.iterfind("entry")]
    assert names == [f"ce_{x}@gfactory_instance@fact1" for x in "abc"]
    ce_a = root.find("entry[@name='ce_a@gfactory_instance@fact1']")
    idle = ce_a.find("attr[@name='GlideinMonitorTotalStatusIdle']")
    assert (idle.text, idle.get("type")) == ("3", "int")
    assert ce_a.find("attr[@name='GLIDEIN_In_Downtime']").get("type") == "bool"
    assert [c.get("name") for c in ce_a.iterfind("clients/client")] == [
        "ce_a@gfactory_instance@fact1@fe.main"
    ]
    (request,) = ce_a.iterfind("requests/request")
    assert request.find("attr[@name='WebURL']").text == 'http://fe.example.org/<"odd">'
    assert root.find("entry[@name='ce_b@gfactory_instance@fact1']/requests") is not None


def test_xml_view_json(pool: str) -> None:
    data = json.loads(
        run(
            "wmsXMLView", "--pool", pool, "-factory", "ce_a@gfactory_instance@fact1", "--json"
        ).stdout
    )
    (entry,) = data["entries"]
    assert entry["attrs"]["GlideinMonitorTotalRequestedMaxGlideins"] == 100
    assert entry["requests"][0]["ReqIdleGlideins"] == 5
    assert [f["Name"] for f in data["factories"]] == ["gfactory_instance@fact1"]


def test_bad_input_is_one_line(pool: str, tmp_path: Path) -> None:
    bad = run("wmsTxtView", "--pool", pool, "-factory", "a@@b", check=False)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "e@g@f" in bad.stderr
    nowhere = run("wmsXMLView", "--pool", "127.0.0.1:1", check=False)
    assert (
        nowhere.returncode == 1
        and nowhere.stderr.startswith("wmsXMLView: ")
        and "Traceback" not in nowhere.stderr
    )
    no_pool = run("wmsTxtView", check=False)
    assert no_pool.returncode == 1 and "Traceback" not in no_pool.stderr


def test_selector_quotes_values() -> None:
    selector = FactorySelector.parse('e"x@g@f')
    assert 'EntryName=?="e\\"x"' in selector.constraint("glidefactory")
    assert 'ReqEntryName=?="e\\"x"' in selector.constraint("glidefactoryclient", "Req")
    with pytest.raises(ViewError):
        FactorySelector.parse("a@b@c@d")


def test_txt_rows_tolerates_missing_counts() -> None:
    ads = [
        to_classad({"Name": "e1", "GLIDEIN_Site": "S"}),
        to_classad({"Name": "e2", "GlideinMonitorTotalStatusIdle": "x"}),
    ]
    assert txt_rows(ads, "Entries") == [
        ["e1", "0", "0", "0", "0"],
        ["e2", "0", "0", "0", "0"],
        ["Total", "0", "0", "0", "0"],
    ]


def test_txt_view_on_the_htcondor_backend(monkeypatch, capsys) -> None:
    """`--backend htcondor` reads a real collector through the bindings: only the C-level
    query (the socket) is doubled, answering what a collector holding these ads would."""
    ads = [
        classad2.ClassAd(entry_ad("ce_a", "fact1", "SiteX", "gk1.example.org", 3, 10, 5, 100)),
        classad2.ClassAd(entry_ad("ce_b", "fact1", "SiteY", "gk2.example.org", 1, 2, 4, 50)),
    ]
    asked = []

    def query(_handle, _ad_type, constraint, *_rest):
        asked.append(constraint)
        return [ad for ad in ads if classad2.ExprTree(constraint).eval(ad) is True]

    monkeypatch.setattr(bindings_collector, "_collector_query", query)
    assert txt_main(["--backend", "htcondor", "--pool", "127.0.0.1:9618", "-factory", "fact1"]) == 0
    rows = table(capsys.readouterr().out)
    assert rows["ce_a@gfactory_instance@fact1"] == ["5", "3", "10", "100"]
    assert rows["Total"] == ["9", "4", "12", "150"]
    assert asked and 'FactoryName=?="fact1"' in asked[0]
