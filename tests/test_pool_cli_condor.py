"""`gwms-pool query` / `q` read and print like condor_status / condor_q (real daemon, real CLI)."""

from __future__ import annotations

import json

import pytest
from lxml import etree
from pool_testlib import run_cli, running_pool
from waiting import wait_for

from glideinwms_factory.tools.condor_args import DEFAULT_PORT, pool_address

ADS = """MyType = "glidefactory"
Name = "e1@g@f"
GlideinMyType = "glidefactory"
GLIDEIN_CPUS = 8
Ratio = 1.5
Sites = "A,B"

MyType = "glidefactory"
Name = "e2@g@f"
GlideinMyType = "glidefactory"
GLIDEIN_CPUS = 1
Ratio = 0.25

MyType = "Machine"
Name = "slot1@host"
Arch = "X86_64"
OpSys = "LINUX"
State = "Claimed"
Memory = 2048
"""
FACTORY = 'GlideinMyType == "glidefactory"'


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """A one-slot daemon holding ADS and three jobs: 1.0 running, 1.1 held, 2.0 idle."""
    base = tmp_path_factory.mktemp("condor")
    with running_pool(base / "pool", "--slots", "1") as daemon:
        token = base / "token"
        token.write_text(daemon.token())
        env = {"GWMS_POOL": daemon.address}
        sent = run_cli("advertise", "--token", str(token), "-multiple", "UPDATE_AD_GENERIC",
                       stdin=ADS, env=env)  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        job = base / "job.sub"
        job.write_text("executable = /bin/sleep\narguments = 300\nqueue 2\n")
        for count in ("2", "1"):
            submitted = run_cli("submit", "--token", str(token), "-count", count, str(job), env=env)
            assert submitted.returncode == 0, submitted.stderr
        wait_for(lambda: q(env, "1.0", "-af", "JobStatus") == "2\n", what="job 1.0 running")
        held = run_cli("hold", "--token", str(token), "1.1", "-reason", "over quota", env=env)
        assert held.returncode == 0, held.stderr
        yield env, token


def q(env, *args):
    result = run_cli("q", *args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def query(env, *args):
    result = run_cli("query", *args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_af_evaluates_expressions_against_each_ad(pool):
    env, _ = pool
    out = query(env, "-constraint", FACTORY, "-af", "Name", "GLIDEIN_CPUS * 2",
                'strcat(Name, "!")', "size(Sites)", "Missing")  # fmt: skip
    assert out.splitlines() == [
        "e1@g@f 16 e1@g@f! 3 undefined",
        "e2@g@f 2 e2@g@f! undefined undefined",
    ]


@pytest.mark.parametrize(
    ("modifiers", "expected"),
    [
        (":h", ["Name   GLIDEIN_CPUS+1 Ratio", "e1@g@f 9              1.5", "e2@g@f 2              0.25"]),
        (":l", ["Name = e1@g@f GLIDEIN_CPUS+1 = 9 Ratio = 1.5", "Name = e2@g@f GLIDEIN_CPUS+1 = 2 Ratio = 0.25"]),
        (":V", ['"e1@g@f" 9 1.5', '"e2@g@f" 2 0.25']),
        (":r", ['"e1@g@f" GLIDEIN_CPUS+1 1.5', '"e2@g@f" GLIDEIN_CPUS+1 0.25']),
        (":,", ["e1@g@f, 9, 1.5,", "e2@g@f, 2, 0.25,"]),
        (":t", ["e1@g@f\t9\t1.5", "e2@g@f\t2\t0.25"]),
        (":lrng", ['Name = "e1@g@f"', "GLIDEIN_CPUS+1 = GLIDEIN_CPUS+1", "Ratio = 1.5", "",
                   'Name = "e2@g@f"', "GLIDEIN_CPUS+1 = GLIDEIN_CPUS+1", "Ratio = 0.25"]),
    ],
)  # fmt: skip
def test_af_modifiers(pool, modifiers, expected):
    env, _ = pool
    out = query(env, "-constraint", FACTORY, f"-af{modifiers}", "Name", "GLIDEIN_CPUS+1", "Ratio")
    assert out.splitlines() == expected


def test_format_printf_per_ad(pool):
    env, _ = pool
    out = query(env, "-constraint", FACTORY, "-format", "%s:", "Name",
                "-format", "%d cpus", "GLIDEIN_CPUS", "-format", " %.1f\\n", "Ratio * 2")  # fmt: skip
    assert out.splitlines() == ["e1@g@f:8 cpus 3.0", "e2@g@f:1 cpus 0.5"]


def test_long_json_xml_with_attributes_and_limit(pool):
    env, _ = pool
    long = query(env, "-constraint", FACTORY, "-long", "-attributes", "Name,Ratio", "-limit", "1")
    assert long == 'Name = "e1@g@f"\nRatio = 1.5\n\n' or long == 'Ratio = 1.5\nName = "e1@g@f"\n\n'
    as_json = json.loads(query(env, "-constraint", FACTORY, "-json", "-attributes", "Name"))
    assert as_json == [{"Name": "e1@g@f"}, {"Name": "e2@g@f"}]
    xml = query(env, "-constraint", FACTORY, "-xml", "-attributes", "Name,GLIDEIN_CPUS")
    ads = etree.fromstring(xml.encode(), etree.XMLParser(resolve_entities=False, no_network=True))
    values = [{a.get("n"): (a[0].tag, a[0].text) for a in c} for c in ads.findall("c")]
    assert values == [
        {"Name": ("s", "e1@g@f"), "GLIDEIN_CPUS": ("i", "8")},
        {"Name": ("s", "e2@g@f"), "GLIDEIN_CPUS": ("i", "1")},
    ]


def test_status_tables_any_total_and_names(pool):
    env, _ = pool
    tables = query(env)
    machine = tables[tables.index("\nName ") + 1 :].splitlines()
    assert machine[0].split() == [
        "Name",
        "OpSys",
        "Arch",
        "State",
        "Activity",
        "LoadAv",
        "Mem",
        "ActvtyTime",
    ]
    assert machine[1].split() == ["slot1@host", "LINUX", "X86_64", "Claimed", "2048"]
    assert ["X86_64/LINUX", "1", "0", "1", "0", "0", "0", "0", "0"] in [r.split() for r in machine]
    factory = [line.split() for line in tables.splitlines() if "@g@f" in line]
    assert [row[:2] for row in factory] == [["glidefactory", "e1@g@f"], ["glidefactory", "e2@g@f"]]
    any_rows = [line.split() for line in query(env, "-any").splitlines()]
    assert any_rows[0] == ["MyType", "TargetType", "Name"]
    assert ["Machine", "slot1@host"] in any_rows and ["glidefactory", "e2@g@f"] in any_rows
    totals = [line.split() for line in query(env, "-total").splitlines()]
    assert ["Total", "1", "0", "1", "0", "0", "0", "0", "0"] in totals
    assert ["glidefactory", "2"] in totals
    assert query(env, "slot1@host", "-af", "Name") == "slot1@host\n"


def test_q_default_batch_table_and_totals(pool):
    env, _ = pool
    lines = q(env).splitlines()
    assert lines[2].startswith("-- Schedd: ")
    assert lines[3].split() == [
        "OWNER",
        "BATCH_NAME",
        "SUBMITTED",
        "DONE",
        "RUN",
        "IDLE",
        "HOLD",
        "TOTAL",
        "JOB_IDS",
    ]
    batches = {line.split()[2]: line.split() for line in lines[4:6]}
    assert batches["1"][-5:] == ["1", "_", "1", "2", "1.0-1"]
    assert batches["2"][-5:] == ["_", "1", "_", "1", "2.0"]
    assert (
        lines[-2]
        == "Total for query: 3 jobs; 0 completed, 0 removed, 1 idle, 1 running, 1 held, 0 suspended"
    )
    assert lines[-1].startswith("Total for all users: 3 jobs;")


def test_q_views_restrictions_and_af_job_id(pool):
    env, _ = pool
    held = [line.split(None, 4) for line in q(env, "-hold").splitlines() if line.startswith("1.1")]
    assert held[0][0] == "1.1" and held[0][-1].endswith("over quota")
    running = [line.split()[0] for line in q(env, "-run").splitlines()[4:] if line.strip()]
    assert running == ["1.0"]
    idle = q(env, "-idle").splitlines()
    assert idle[3].split()[:5] == ["ID", "OWNER", "SUBMITTED", "RUN_TIME", "ST"]
    assert [line.split()[0] for line in idle[4:] if line[:1].isspace() or line[:1].isdigit()][
        :1
    ] == ["2.0"]
    nobatch = q(env, "-nobatch").splitlines()
    statuses = {
        line.split()[0]: line.split()[5] for line in nobatch if line.strip()[:2] in ("1.", "2.")
    }
    assert statuses == {"1.0": "R", "1.1": "H", "2.0": "I"}
    assert q(env, "1", "-af:j", "JobStatus") == "1.0 2\n1.1 5\n"
    assert q(env, "2.0", "1.1", "-af", "ProcId") == "1\n0\n"
    assert q(env, "-totals", "1").splitlines()[0].startswith("Total for query: 2 jobs;")


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["query", "-hold"], "'-hold'"),
        (["q", "-frobnicate"], "'-frobnicate'"),
        (["q", "-af:x", "Name"], "'x'"),
        (["query", "-af:nl,", "A"], "','"),
        (["q", "-limit", "many"], "many"),
        (["q", "-af", "Name", "-long"], "-long"),
    ],
)
def test_unknown_or_conflicting_options_are_refused_by_name(argv, named):
    result = run_cli(*argv, env={"GWMS_POOL": "127.0.0.1:1"})
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and named in result.stderr


def test_pool_without_port_gets_the_default_port():
    assert pool_address("cm.example.org") == f"cm.example.org:{DEFAULT_PORT}"
    assert pool_address("cm.example.org:9700") == "cm.example.org:9700"
    assert pool_address("[::1]") == f"[::1]:{DEFAULT_PORT}"
    unknown = run_cli("q", "-pool", "nohost.invalid", "-totals")
    assert unknown.returncode == 1 and f"nohost.invalid:{DEFAULT_PORT}" in unknown.stderr


def test_acting_on_missing_jobs_exits_1_naming_them(pool):
    env, token = pool
    missing = run_cli("hold", "--token", str(token), "99.0", env=env)
    assert missing.returncode == 1 and "no such job: 99.0" in missing.stderr
    nothing = run_cli("release", "--token", str(token), "-constraint", "ClusterId == 77", env=env)
    assert nothing.returncode == 1 and "no job" in nothing.stderr
    assert q(env, "-af", "JobStatus") == "2\n5\n1\n"  # nothing else changed


def test_query_help_lists_the_options():
    for verb, option in (("query", "-any"), ("q", "-hold")):
        result = run_cli(verb, "-help")
        assert result.returncode == 0 and option in result.stdout
