"""The entry daemon end to end (issue 4): real pool, real factory, real glideins.

One factory per test module keeps the suite fast; each test uses its own entry so that
they do not see each other's glideins.
"""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from cdp import Browser
from factory_testlib import EntrySpec, config_xml, create, free_port, running
from lxml import etree
from lxml import html as lxml_html
from prometheus_client.parser import text_string_to_metric_families
from waiting import wait_for

from glideinwms_factory.lib.pool import JobAction, JobStatus
from glideinwms_factory.lib.pool.embedded import control

IDLE, RUNNING, HELD = JobStatus.IDLE, JobStatus.RUNNING, JobStatus.HELD
ENTRIES = [
    EntrySpec("busy", max_glideins=10, max_idle=5),
    EntrySpec("shrink", max_glideins=10, max_idle=5),
    EntrySpec("down", max_glideins=10, max_idle=5),
    EntrySpec("spoof", max_glideins=10, max_idle=5),
    EntrySpec("held", max_glideins=4, max_idle=4),
    EntrySpec("outage", max_glideins=4, max_idle=4),
    EntrySpec("proxy", max_glideins=2, max_idle=2, auth_method="grid_proxy"),
    EntrySpec("both", max_glideins=4, max_idle=2),
    EntrySpec("scraped", max_glideins=4, max_idle=2),
]


@pytest.fixture(scope="module")
def factory(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("entry")
    tree = create(tmp, config_xml(ENTRIES, free_port(), slots=2, recoverable_exitcodes="30"))
    # Release held glideins at once (production waits 300 s per previous hold).
    held_descript = tree.work / "entry_held" / "job.descript"
    held_descript.write_text(
        held_descript.read_text() + "HoldReleaseBackoff \t0\nMaxReleasableHolds \t2\n"
    )
    with running(tree):
        wait_for(lambda: len(tree.ads("glidefactory")) == len(ENTRIES), 60, "entry ads")
        yield tree


def test_request_fills_slots_and_keeps_idle(factory):
    factory.request("request", "--entry", "busy", "--idle", "5", "--max", "10")
    # 2 slots on this site: 2 run, and the entry keeps 5 idle beside them (cap 10).
    wait_for(lambda: len(factory.glideins("busy", RUNNING)) == 2, 60, "2 running")
    wait_for(lambda: len(factory.glideins("busy", IDLE)) == 5, 60, "5 idle")

    def reported():
        ads = [a for a in factory.ads("glidefactoryclient") if a.get("ReqEntryName") == "busy"]
        counts = ads and (
            ads[0].get("GlideinMonitorStatusRunning"),
            ads[0].get("GlideinMonitorStatusIdle"),
        )
        return counts == (2, 5) and ads[0]

    ad = wait_for(reported, 60, "glidefactoryclient ad with 2 running, 5 idle")
    assert ad["GlideinMonitorRequestedIdle"] == 5
    assert ad["GlideinMonitorRequestedMaxGlideins"] == 10
    assert ad["ReqClientName"] == "frontend.main"
    assert ad["AuthenticatedIdentity"] == "gfactory@localhost"
    # Never more than the request allows.
    assert len(factory.glideins("busy", IDLE, RUNNING)) <= 10


def test_lowering_the_request_removes_idle_glideins(factory):
    factory.request("request", "--entry", "shrink", "--idle", "4", "--max", "6")
    wait_for(lambda: len(factory.glideins("shrink", IDLE)) >= 3, 60, "idle glideins")
    factory.request(
        "request", "--entry", "shrink", "--idle", "0", "--max", "6", "--remove-excess", "IDLE"
    )
    wait_for(lambda: not factory.glideins("shrink", IDLE), 60, "idle glideins removed")
    assert factory.glideins("shrink", RUNNING)  # running ones are left alone in IDLE mode
    assert "removed" in factory.log_text("shrink")


def test_entry_in_downtime_submits_nothing_and_says_so(factory):
    factory.startup("down", "-entry", "down", "-comment", "maintenance")

    def ad_down():
        ads = [a for a in factory.ads("glidefactory") if a.get("EntryName") == "down"]
        return ads and ads[0].get("GLIDEIN_In_Downtime") is True and ads[0]

    ad = wait_for(ad_down, 30, "downtime in the ad")
    assert ad["GLIDEIN_Downtime_Comment"] == "maintenance"
    factory.request("request", "--entry", "down", "--idle", "3", "--max", "5")
    wait_for(
        lambda: any(
            a.get("ReqEntryName") == "down" and a.get("GlideinMonitorRequestedAdjustedIdle") == 0
            for a in factory.ads("glidefactoryclient")
        ),
        30,
        "adjusted idle 0 while down",
    )
    assert factory.glideins("down") == []
    factory.startup("up", "-entry", "down")
    wait_for(lambda: factory.glideins("down"), 60, "submissions after up")


def test_spoofed_request_is_rejected_and_the_good_one_served(factory):
    # Same entry, two frontend groups: one signs as somebody else than its token says.
    factory.request(
        "--group",
        "evil",
        "request",
        "--entry",
        "spoof",
        "--idle",
        "2",
        "--max",
        "2",
        identity="mallory@example.org",
    )
    factory.request("--group", "good", "request", "--entry", "spoof", "--idle", "2", "--max", "2")
    wait_for(lambda: factory.glideins("spoof"), 60, "the good request served")
    log = factory.log_text("spoof")
    assert "spoofed request" in log and "frontend.evil" in log

    def clients():  # the ad goes out after the submission: wait for it
        return {
            a["ReqClientName"]
            for a in factory.ads("glidefactoryclient")
            if a.get("ReqEntryName") == "spoof"
        }

    assert wait_for(clients, 30, "the served client's ad") == {"frontend.good"}
    status = (factory.root / "monitor" / "entry_spoof" / "schedd_status.xml").read_text()
    assert "frontend.evil" in status  # the rejection is counted for that client


def test_held_glideins_are_released_up_to_the_limit_then_removed(factory):
    factory.request("request", "--entry", "held", "--idle", "1", "--max", "1")
    (job,) = wait_for(lambda: factory.glideins("held"), 60, "a glidein")
    job_id = f"{job['ClusterId']}.{job['ProcId']}"
    schedd = factory.schedd()
    for _ in range(2):  # recoverable system holds (code 30): released each time
        schedd.act(JobAction.HOLD, [job_id], "site trouble", hold_code=30)
        wait_for(
            lambda: (
                schedd.query(f"ClusterId == {job['ClusterId']}", ["JobStatus"])[0]["JobStatus"]
                != HELD
            ),
            60,
            "release",
        )
    assert "released 1 glidein(s): " + job_id in factory.log_text("held")
    schedd.act(JobAction.HOLD, [job_id], "site trouble again", hold_code=30)  # third: over 2
    wait_for(
        lambda: (
            schedd.query(f"ClusterId == {job['ClusterId']}", ["JobStatus"])[0]["JobStatus"]
            == JobStatus.REMOVED
        ),
        60,
        "removal after too many holds",
    )


def test_pool_outage_backs_off_and_recovers_without_duplicates(factory):
    factory.request("request", "--entry", "outage", "--idle", "2", "--max", "4")
    wait_for(lambda: len(factory.glideins("outage")) >= 2, 60, "glideins before the outage")
    address = factory.address
    control.stop(factory.state_dir)
    wait_for(lambda: "pool unreachable" in factory.log_text("outage"), 30, "the entry noticing")
    # The factory restarts its pool by itself (on a new port: EmbeddedPoolPort is 0 here).
    restarted = wait_for(lambda: control.running_address(factory.state_dir), 30, "the pool")
    assert restarted != address
    wait_for(
        lambda: (
            any(a.get("EntryName") == "outage" for a in factory.ads("glidefactory"))
            and factory.ads("glidefactoryglobal")
        ),
        60,
        "the entry and the factory's key advertised again",
    )
    factory.request("request", "--entry", "outage", "--idle", "2", "--max", "4")
    time.sleep(5)  # a few iterations after recovery
    alive = factory.glideins("outage", IDLE, RUNNING)
    assert 2 <= len(alive) <= 4, alive  # the cap holds: nothing was submitted twice


def test_credentials_from_the_frontend_reach_the_glideins(factory, tmp_path):
    proxy = tmp_path / "x509up"
    proxy.write_text("-----BEGIN CERTIFICATE-----\nfake proxy\n-----END CERTIFICATE-----\n")
    factory.request(
        "--group",
        "px",
        "request",
        "--entry",
        "proxy",
        "--idle",
        "1",
        "--max",
        "1",
        "--credential",
        str(proxy),
    )
    (job,) = wait_for(
        lambda: factory.schedd().query(
            'GlideinEntryName =?= "proxy"', ["x509userproxy", "GlideinCredentialIdentifier"]
        ),
        60,
        "a glidein submitted with the frontend's proxy",
    )
    stored = Path(job["x509userproxy"])
    # Stored by the factory daemon from the glideclientglobal ad (security.md §5-§6).
    assert stored.parent == factory.root / "client_proxies" / "user_vofe" / "glidein_gtest"
    assert stored.name == f"credential_frontend.px_{job['GlideinCredentialIdentifier']}"
    assert stored.read_text() == proxy.read_text()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600


def test_3_10_and_3_11_frontends_get_glideins_from_the_same_entry(factory, tmp_path):
    scitoken = tmp_path / "scitoken.jwt"
    scitoken.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzY29wZSI6ImNvbXB1dGUuY3JlYXRlIn0.c2NpdG9rZW4\n")
    callback = tmp_path / "callback.idtoken"
    callback.write_text("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJnbGlkZWluQDMxMSJ9.Y2FsbGJhY2s\n")
    legacy = tmp_path / "legacy.idtoken"
    legacy.write_text("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJnbGlkZWluQDMxMCJ9.bGVnYWN5\n")
    ask = ["request", "--entry", "both", "--idle", "1", "--max", "1"]
    factory.request(
        "--group",
        "g311",
        *ask,
        "--remove-excess",
        "ALL",
        "--scitoken",
        str(scitoken),
        "--idtoken",
        str(callback),
        protocol="3.11",
    )
    factory.request("--group", "g310", *ask, "--idtoken", str(legacy), "--scitoken", str(scitoken))
    projection = ["GlideinClient", "SciTokensFile", "Environment", "GlideinCredentialIdentifier"]

    def both_served():
        rows = factory.schedd().query('GlideinEntryName =?= "both"', projection)
        by_client = {row["GlideinClient"]: row for row in rows}
        return len(by_client) == 2 and by_client

    jobs = wait_for(both_served, 60, "glideins for the 3.10 and the 3.11 client")

    def idtoken_file(job) -> Path:
        match = re.search(r"IDTOKENS_FILE=([^\s'\"]+)", job["Environment"])
        assert match, job["Environment"]
        return Path(match.group(1))

    new, old = jobs["frontend.g311"], jobs["frontend.g310"]
    for path, sent in (
        (Path(new["SciTokensFile"]), scitoken),
        (idtoken_file(new), callback),
        (idtoken_file(old), legacy),
        (Path(old["SciTokensFile"]), scitoken),  # 3.10: frontend_scitoken
    ):
        assert path.read_text() == sent.read_text()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.parent == factory.root / "client_proxies" / "user_vofe" / "glidein_gtest"
    for job in (new, old):  # counted by the SciToken's id (3.10: ScitokenId)
        [ad] = [a for a in factory.ads("glideclient") if a["ClientName"] == job["GlideinClient"]]
        assert job["GlideinCredentialIdentifier"] == ad["Name"].split("_", 1)[0]

    def protocols():
        return {
            a["ReqClientName"]: a.get("GlideinRequestProtocol")
            for a in factory.ads("glidefactoryclient")
            if a.get("ReqEntryName") == "both"
        }

    wait_for(
        lambda: protocols() == {"frontend.g311": "3.11", "frontend.g310": "3.10"},
        30,
        "each client's protocol in its glidefactoryclient ad",
    )
    # The files travel with the glideins: both start (a failed transfer would hold them).
    wait_for(
        lambda: {j["GlideinClient"] for j in factory.schedd().query(
            'GlideinEntryName =?= "both" && JobStatus == 2', ["GlideinClient"]
        )} == {"frontend.g311", "frontend.g310"},
        60,
        "running glideins of both clients",
    )  # fmt: skip

    # A 3.11 Frontend stops advertising instead of asking for 0: its glideins go (ALL).
    def live_clients():
        return {j["GlideinClient"] for j in factory.schedd().query(
            'GlideinEntryName =?= "both" && (JobStatus == 1 || JobStatus == 2)',
            ["GlideinClient"],
        )}  # fmt: skip

    stop = factory.frontend_sim("--group", "g311", "stop", protocol="3.11")
    assert subprocess.run(stop, capture_output=True, timeout=60).returncode == 0
    left = "frontend.g311" in live_clients()
    wait_for(
        lambda: live_clients() == {"frontend.g310"},
        60,
        "the vanished 3.11 request's glideins removed, the 3.10 ones kept",
    )
    # Under load a glidein can end on its own and be resubmitted; one that ended before
    # the stop leaves nothing for the vanished request to remove, and so no log line.
    if left:
        wait_for(
            lambda: "is gone: counted as a request for 0 idle" in factory.log_text("both"),
            30,
            "the vanished 3.11 request logged",
        )


def test_monitoring_after_a_real_run(factory):
    """The entry "busy" of the first test: its numbers reach the XML, RRDs, pages, metrics."""
    monitor = factory.root / "monitor"

    def metrics_running():
        try:
            families = text_string_to_metric_families((monitor / "metrics.prom").read_text())
        except FileNotFoundError:
            return None
        for family in families:
            for sample in family.samples:
                labels = sample.labels
                if labels.get("entry") == "busy" and labels.get("state") == "Running":
                    return sample.value
        return None

    wait_for(lambda: metrics_running() == 2, 60, "metrics: 2 running glideins on busy")
    qstats = etree.parse(str(monitor / "entry_busy" / "schedd_status.xml"))
    assert qstats.find(".//total/Status").get("Running") == "2"
    rrd = monitor / "entry_busy" / "total" / "Status_Attributes.rrd"
    fetched = subprocess.run(
        ["rrdtool", "lastupdate", str(rrd)], capture_output=True, text=True, check=True
    ).stdout
    names, values = fetched.split("\n", 1)
    last = dict(zip(names.split(), values.split(":", 1)[1].split(), strict=True))
    assert float(last["StatusRunning"]) == 2
    for page in monitor.glob("*.html"):
        for link in lxml_html.parse(str(page)).getroot().iterlinks():
            target = link[2].split("#")[0].split("?")[0]
            if target and "://" not in target:
                assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
    png = next(monitor.glob("images/*.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The factory's aggregation tells the entries how many jobs completed glideins ran.
    def completed_jobs_in_ad():
        ads = [a for a in factory.ads("glidefactory") if a.get("EntryName") == "busy"]
        return ads and "GlideinMonitorCompletedJobsPerFactoryNone" in ads[0] and ads[0]

    ad = wait_for(completed_jobs_in_ad, 30, "completed-jobs counts in the glidefactory ad")
    assert isinstance(ad["GlideinMonitorCompletedJobsPerEntryMany"], int)


def scrape(factory) -> dict[str, list]:
    """GET /metrics from the factory's own web server: family name -> samples."""
    port = re.search(r"127\.0\.0\.1:(\d+)/stage", factory.config.read_text()).group(1)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_metrics_endpoint_agrees_with_the_queue(factory):
    """/metrics scraped over HTTP while the factory runs: the entry's glideins by state are
    the queue's, and the counters count what was submitted and removed."""
    factory.request("request", "--entry", "scraped", "--idle", "2", "--max", "4")
    wait_for(lambda: len(factory.glideins("scraped", RUNNING)) == 2, 60, "2 running")
    wait_for(lambda: len(factory.glideins("scraped", IDLE)) == 2, 60, "2 idle")

    def value(families, family, **labels):
        return sum(
            s.value
            for s in families.get(family, [])
            if all(s.labels.get(k) == v for k, v in labels.items())
        )

    def agrees():
        families = scrape(factory)
        queue = {
            "Idle": len(factory.glideins("scraped", IDLE)),
            "Running": len(factory.glideins("scraped", RUNNING)),
            "Held": len(factory.glideins("scraped", HELD)),
        }
        scraped = {
            state: value(families, "gwms_factory_glideins", entry="scraped", state=state)
            for state in queue
        }
        submitted = value(families, "gwms_factory_glideins_submitted", entry="scraped")
        seen.append((scraped, queue, submitted))
        return scraped == queue and submitted == len(factory.glideins("scraped")) and families

    seen: list = []

    try:
        families = wait_for(agrees, 60, "/metrics agreeing with the queue of entry scraped")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last (scraped, queue, submitted): {seen[-2:]}") from exc
    assert value(families, "gwms_factory_requested", entry="scraped", field="MaxGlideins") == 4
    assert value(families, "gwms_factory_entry_cycle_seconds", entry="scraped") > 0
    last = value(families, "gwms_factory_entry_last_cycle_timestamp_seconds", entry="scraped")
    assert time.time() - 120 < last <= time.time()
    assert value(families, "gwms_factory_entry_daemon_restarts", daemon="scraped") == 0

    factory.request(
        "request", "--entry", "scraped", "--idle", "0", "--max", "2", "--remove-excess", "IDLE"
    )
    wait_for(lambda: not factory.glideins("scraped", IDLE), 60, "idle glideins removed")
    wait_for(
        lambda: value(scrape(factory), "gwms_factory_glideins_removed", entry="scraped") == 2,
        60,
        "the removed counter counting the 2 idle glideins",
    )


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs chromium")
def test_browser_graphs_after_a_short_run(factory, tmp_path):
    """A minute into the run, the factory's web server shows graphs with data points."""
    factory.request("request", "--entry", "scraped", "--idle", "2", "--max", "4")
    data = factory.root / "monitor" / "total" / "graphs_1h.js"

    def has_points():
        text = data.read_text() if data.exists() else ""
        return '"StatusIdle":[' in text and re.search(r'"StatusIdle":\[[^\]]*\d', text)

    wait_for(has_points, 120, "graph data with points for the last hour")
    port = re.search(r"127\.0\.0\.1:(\d+)/stage", factory.config.read_text()).group(1)
    browser = Browser(tmp_path / "profile")
    try:
        browser.open(f"http://127.0.0.1:{port}/monitor/factoryGraphs.html?range=1h")
        browser.wait_for("document.body.getAttribute('data-drawn') === '1h'")
        drawn = browser.evaluate(
            "Number(document.getElementById('graph-status').getAttribute('data-points'))"
        )
        assert drawn > 0
        shot = browser.screenshot(tmp_path / "real_run_graphs.png")
        assert shot[:8] == b"\x89PNG\r\n\x1a\n"
        assert browser.errors == []
    finally:
        browser.close()
