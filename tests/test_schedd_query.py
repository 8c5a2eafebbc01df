"""Constraint queries: projection, and the index path answering exactly like a full scan."""

import pathlib

import pytest
from test_schedd_support import description, running_core, script
from waiting import wait_for

from glideinwms_factory.entry.accounting import QUERY_PROJECTION as ACCOUNTING_PROJECTION
from glideinwms_factory.lib.pool import JobAction, JobStatus
from glideinwms_factory.lib.pool.embedded.constraint import AttrIndex, pins

ACCOUNTING = (
    '(GlideinFactory =?= "fact") && (GlideinName =?= "gwms") && (GlideinEntryName =?= "e1")'
    " && (GlideinCredentialIdentifier =!= UNDEFINED)"
)


def test_pins_read_only_safe_top_level_conjuncts() -> None:
    assert pins(ACCOUNTING) == {
        "glideinfactory": "fact",
        "glideinname": "gwms",
        "glideinentryname": "e1",
    }
    assert pins('"E2" == GlideinEntryName && (JobStatus == 1 && GlideinClient == "C")') == {
        "glideinentryname": "e2",
        "glideinclient": "c",
    }
    # Operators and brackets inside string literals are not structure.
    assert pins('(GlideinEntryName =?= "a&&b") && GlideinClient =?= "x)||("') == {
        "glideinentryname": "a&&b",
        "glideinclient": "x)||(",
    }
    assert pins('GlideinEntryName =?= "a" && (JobStatus == 1') == {}
    assert pins('GlideinClient =?= "a" || GlideinClient =?= "b"') == {}
    assert pins('GlideinEntryName =?= "a" && JobStatus == 1 || true') == {}
    assert pins('!(GlideinEntryName =?= "a")') == {}
    assert pins('GlideinEntryName =?= "a" ? true : false') == {}
    assert pins('GlideinEntryName =!= "a"') == {}
    assert pins('Other =?= "a"') == {}
    assert pins('GlideinEntryName =?= "a\\"b"') == {}


def test_attr_index_candidates() -> None:
    index = AttrIndex()
    index.add(1, {"GlideinEntryName": '"E1"', "GlideinClient": '"c1"'})
    index.add(2, {"GlideinEntryName": '"e1"', "GlideinClient": '"c2"'})
    index.add(3, {"GlideinEntryName": 'strcat("e", "1")'})
    assert index.candidates({}) is None
    assert index.candidates({"glideinentryname": "e1"}) == {1, 2, 3}
    assert index.candidates({"glideinentryname": "e1", "glideinclient": "c2"}) == {2}
    index.discard(2, {"GlideinEntryName": '"e1"', "GlideinClient": '"c2"'})
    assert index.candidates({"glideinclient": "c2"}) == set()


def _populate(core, exe: pathlib.Path) -> None:
    for entry in ("e1", "e2", "E1"):
        for client in ("c1", "c2"):
            text = description(
                exe,
                universe="grid",
                grid_resource=f"condor {entry} {entry}:9619",
                hold="true",
            )
            attrs = {
                "GlideinFactory": "fact",
                "GlideinName": "gwms",
                "GlideinEntryName": entry,
                "GlideinClient": client,
                "GlideinFrontendName": f"fe:{client}",
            }
            if client == "c1":
                attrs["GlideinCredentialIdentifier"] = "cred1"
            core.submit(text, count=20, attrs=attrs)
    # Entry name as an expression: the index cannot key it, the query must still find it.
    core.submit(
        description(exe, hold="true", **{"+GlideinEntryName": 'strcat("e", "1")'}),
        count=3,
        attrs={"GlideinFactory": "fact", "GlideinName": "gwms", "GlideinCredentialIdentifier": "x"},
    )


CONSTRAINTS = [
    ACCOUNTING,
    'GlideinEntryName == "E1"',
    'GlideinEntryName =?= "E1"',
    '"e2" == GlideinEntryName && GlideinClient =?= "c2" && ProcId < 5',
    '(GlideinEntryName =?= "e1") && (GlideinClient =?= "nobody")',
    'GlideinEntryName =?= "e1" && JobStatus == 1',
]


@pytest.mark.parametrize("constraint", CONSTRAINTS)
def test_index_path_equals_full_evaluation(tmp_path: pathlib.Path, constraint: str) -> None:
    exe = script(tmp_path, "never.sh", "exit 0\n")
    with running_core(tmp_path / "state") as core:
        _populate(core, exe)
        assert pins(constraint), "this constraint must take the index path"
        indexed = core.query(constraint, ["ClusterId", "ProcId", "GlideinEntryName"])
        # A top-level `||` defeats the index: this is the full scan of the same question.
        scanned = core.query(
            f"({constraint}) || false", ["ClusterId", "ProcId", "GlideinEntryName"]
        )
        key = lambda ad: (ad["ClusterId"], ad["ProcId"])  # noqa: E731
        assert sorted(map(key, indexed)) == sorted(map(key, scanned))
        assert [str(ad) for ad in indexed] == [str(ad) for ad in sorted(scanned, key=key)]


def test_accounting_query_answers(tmp_path: pathlib.Path) -> None:
    exe = script(tmp_path, "never.sh", "exit 0\n")
    with running_core(tmp_path / "state") as core:
        _populate(core, exe)
        ads = core.query(ACCOUNTING, ACCOUNTING_PROJECTION)
        # e1/c1 (20 jobs, credential set) + the 3 expression-valued e1 jobs; "E1" is a
        # different entry for =?=, and e1/c2 has no credential id.
        assert len(ads) == 23
        ad = ads[0]
        assert ad["JobStatus"] == JobStatus.HELD and ad["HoldReasonCode"] == 15
        assert ad["GridJobStatus"] == "HELD" and ad["GlideinClient"] == "c1"
        assert ad["ServerTime"] >= ad["EnteredCurrentStatus"]
        assert set(ad.keys()) == set(ACCOUNTING_PROJECTION) - {
            "GlideinEntrySubmitFile",
            "GlideinSecurityClass",
        }
        assert len(core.query('GlideinEntryName == "e1"')) == 83, "== ignores case"


def test_removed_jobs_leave_the_queue_and_the_index(tmp_path: pathlib.Path) -> None:
    exe = script(tmp_path, "never.sh", "exit 0\n")
    with running_core(tmp_path / "state", linger=0.0) as core:
        _populate(core, exe)
        assert core.act(JobAction.REMOVE, 'GlideinEntryName =?= "e2"') == 40
        wait_for(lambda: not core.query('GlideinEntryName =?= "e2"'), what="removed jobs purged")
        assert len(core.query()) == 83
    with running_core(tmp_path / "state") as core:
        assert len(core.query()) == 83, "the purge reached the database"
