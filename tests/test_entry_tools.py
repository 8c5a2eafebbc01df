"""entry_q, entry_rm, entry_ls, find_logs and the analyze_* tools against a factory running
real glideins on the embedded pool."""

from __future__ import annotations

import datetime
import json
import subprocess

import pytest
from factory_testlib import BIN, EntrySpec, config_xml, create, free_port, running
from waiting import wait_for

RUNNING, COMPLETED = 2, 4


def tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / name), *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def factory(tmp_path_factory):
    """alpha runs glideins of 8 s (some complete), beta none."""
    tmp = tmp_path_factory.mktemp("entrytools")
    entries = [EntrySpec("alpha", max_glideins=2, max_idle=2), EntrySpec("beta", 2, 2)]
    made = create(tmp, config_xml(entries, free_port(), slots=2, lifetime=8))
    with running(made):
        wait_for(lambda: len(made.ads("glidefactory")) == 2, 60, "both entries advertise")
        made.ask_glideins("alpha", 1, 2)
        wait_for(lambda: made.glideins("alpha", RUNNING), 90, "alpha glideins running")
        yield made


def work(factory) -> str:
    return str(factory.work)


def test_entry_q_lists_one_entry_with_q_options(factory):
    listed = tool("entry_q", "-l", "-dir", work(factory), "-printschedd")
    assert listed.returncode == 0 and "alpha" in listed.stdout and "beta" in listed.stdout
    alpha = tool("entry_q", "alpha", "-dir", work(factory), "-af:j", "GlideinEntryName")
    assert alpha.returncode == 0, alpha.stderr
    ids = [line.split()[0] for line in alpha.stdout.splitlines()]
    assert ids and all(line.endswith(" alpha") for line in alpha.stdout.splitlines())
    expected = {f"{ad['ClusterId']}.{ad['ProcId']}" for ad in factory.glideins("alpha")}
    assert set(ids) <= expected  # glideins may have been added since
    beta = tool("entry_q", "beta", "-dir", work(factory), "-totals")
    assert beta.stdout.startswith("Total for query: 0 jobs;")
    mine = tool("entry_q", "alpha", "-dir", work(factory), "-frontend", "vofrontend", "-totals")
    other = tool("entry_q", "alpha", "-dir", work(factory), "-frontend", "otherfe", "-totals")
    assert not mine.stdout.startswith("Total for query: 0 jobs;")
    assert other.stdout.startswith("Total for query: 0 jobs;")
    unknown = tool("entry_q", "gamma", "-dir", work(factory))
    assert unknown.returncode == 1 and "unknown entry 'gamma'" in unknown.stderr
    refused = tool("entry_q", "alpha", "-dir", work(factory), "-bogus")
    assert refused.returncode == 2 and "'-bogus'" in refused.stderr


def test_analyze_queues_counts_the_queue(factory):
    report = tool("analyze_queues", "--source", work(factory))
    assert report.returncode == 0, report.stderr
    rows = {line.split()[0]: line.split() for line in report.stdout.splitlines() if line.strip()}
    assert int(rows["alpha"][-1]) >= 1 and rows["beta"][1:] == ["0"] * 6
    assert "frontend vofrontend" in report.stdout


def test_completed_glideins_in_entry_ls_find_logs_and_analyze(factory):
    day = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d")
    log = factory.root / "log" / "entry_alpha" / f"completed_jobs_{day}.log"
    wait_for(lambda: log.exists() and "<job " in log.read_text(), 120, "a completed glidein")
    listed = tool("entry_ls", "-dir", work(factory), "alpha", "vofe", day)
    assert listed.returncode == 0, listed.stderr
    paths = listed.stdout.split()
    assert paths and all(p.endswith(".err") and "entry_alpha" in p for p in paths)
    outs = tool("entry_ls", "-o", "-l", "-dir", work(factory), "alpha", "vofe", day)
    listed_out = {line.split()[-1] for line in outs.stdout.splitlines()}
    assert {p.removesuffix(".err") + ".out" for p in paths} <= listed_out  # more may complete
    nobody = tool("entry_ls", "-dir", work(factory), "alpha", "someoneelse", day)
    assert (nobody.returncode, nobody.stdout) == (0, "")
    since = datetime.datetime.now().strftime("%y/%m/%d")
    found = tool("find_logs", work(factory), since)
    assert set(paths) <= set(found.stdout.split())
    entries = tool("analyze_entries", "--source", work(factory), "-x", "1")
    assert entries.returncode == 0, entries.stderr
    totals = [line for line in entries.stdout.splitlines() if line.startswith("Total Glideins:")]
    assert totals and int(totals[0].split(":")[1]) >= 1
    assert any(line.split()[:1] == ["alpha"] for line in entries.stdout.splitlines())
    frontends = tool("analyze_frontends", "--source", work(factory))
    assert frontends.returncode == 0 and "vofrontend" in frontends.stdout


def test_entry_rm_removes_only_that_entry(factory):
    nothing = tool("entry_rm", "beta", "-dir", work(factory))
    assert nothing.returncode == 1 and "no glidein of entry beta" in nothing.stderr
    # alpha's glideins live 8 s: an idle one, else the one that started last, is still
    # there when entry_rm acts (an older one may end on its own meanwhile).
    alive = factory.schedd().query(
        'GlideinEntryName =?= "alpha" && (JobStatus == 1 || JobStatus == 2)',
        ["ClusterId", "ProcId", "JobStatus", "EnteredCurrentStatus"],
    )
    assert alive
    chosen = min(alive, key=lambda ad: (ad["JobStatus"] != 1, -ad["EnteredCurrentStatus"]))
    first = f"{chosen['ClusterId']}.{chosen['ProcId']}"
    one = tool("entry_rm", "alpha", "-dir", work(factory), first)
    assert (one.returncode, one.stdout.strip()) == (0, "remove: 1 job(s)"), one.stderr
    # At once removed (3), or gone: the queue drops a removed job once its process ends.
    after = [
        ad["JobStatus"]
        for ad in factory.glideins("alpha")
        if f"{ad['ClusterId']}.{ad['ProcId']}" == first
    ]
    assert after in ([], [3]), after


def test_explain_reads_the_running_entrys_last_cycle(factory):
    as_json = factory.startup("explain", "alpha", "-json")
    cycle = json.loads(as_json.stdout)
    assert cycle["entry"] == "alpha" and cycle["entry_downtime"] is None
    (record,) = cycle["requests"]
    assert record["request"]["security_name"] == "vofrontend"
    assert (record["request"]["idle"], record["request"]["max_glideins"]) == (1, 2)
    assert {c["name"] for c in record["checks"]} >= {"IdleGlideinsPerEntry", "HeldGlideinsPerEntry"}
    text = factory.startup("explain", "alpha", "-frontend", "vofrontend").stdout
    assert text.startswith("Entry alpha: last cycle at") and "limits checked:" in text
    other = factory.startup("explain", "alpha", "-frontend", "someone").stdout
    assert "no request (of that frontend) was served" in other
    beta = json.loads(factory.startup("explain", "beta", "-json").stdout)
    assert beta["requests"] == []
    unknown = factory.startup("explain", "gamma", check=False)
    assert unknown.returncode == 1 and "unknown entry 'gamma'" in unknown.stderr


def test_the_simulator_says_whether_its_request_is_served(factory):
    probe = ["--group", "probe", "request", "--entry", "alpha", "--idle", "0", "--max", "0"]
    served = subprocess.run(
        factory.frontend_sim(*probe, "--once", "--wait", "60"),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert served.returncode == 0, served.stderr
    assert "alpha@gtest@testfactory: served: asked idle 0" in served.stdout
    wrong = factory.frontend_sim("--group", "other", *probe[2:], "--once", "--wait", "6")
    wrong[wrong.index("--security-name") + 1] = "nosuchfrontend"
    skipped = subprocess.run(wrong, capture_output=True, text=True, timeout=120)
    assert skipped.returncode == 1 and "not every request was served" in skipped.stderr
    assert "alpha@gtest@testfactory: not served" in skipped.stdout
    assert "--security-name" in skipped.stdout


def test_manual_glidein_submit_uses_the_entrys_request(factory):
    base = ["--work-dir", work(factory), "--entry-name", "alpha"]
    unknown = tool("manual_glidein_submit", *base, "--client-name", "nobody.main")
    assert unknown.returncode == 1 and "frontend.main" in unknown.stderr
    check = tool("manual_glidein_submit", *base, "--client-name", "frontend.main", "--check-only")
    assert check.returncode == 0 and "as vofrontend:frontend" in check.stdout, check.stderr
    done = tool("manual_glidein_submit", *base, "--client-name", "frontend.main", "--count", "1")
    assert done.returncode == 0, done.stderr
    # The running factory submits too: the manual glidein is the one tagged by the tool.
    new = [ad for ad in factory.schedd().query(
        'GlideinEntryName =?= "alpha"', ["GlideinCycleId", "GlideinClient", "GlideinFrontendName"]
    ) if str(ad.get("GlideinCycleId", "")).startswith("manual.")]  # fmt: skip
    assert [(ad["GlideinClient"], ad["GlideinFrontendName"]) for ad in new] == [
        ("frontend.main", "vofrontend:frontend")
    ]
