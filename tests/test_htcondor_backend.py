"""The htcondor2 backend against the bindings' own objects.

No HTCondor daemon can exist here, so only the calls that would open a socket (the
bindings' C-level `_collector_*` / `_schedd_*` functions) are doubled; everything above
them — our backend, the bindings' Python layer, real `Submit` and `ClassAd` objects — runs.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

import classad2
import htcondor2
import htcondor2._collector as bindings_collector
import htcondor2._schedd as bindings_schedd
import pytest

from glideinwms_factory.lib.pool import JobAction, PoolError
from glideinwms_factory.lib.pool.htcondor import (
    HTCondorCollector,
    HTCondorSchedd,
    attr_expression,
    build_submit,
    invalidation_ad,
)

LOCATION = {"MyAddress": "<127.0.0.1:9618?sock=schedd>", "CondorVersion": "$CondorVersion: 25 $"}


class Wire:
    """Records what would have gone over the network and answers with canned data."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.answer: Any = None

    def __call__(self, name: str):
        def fake(*args: Any) -> Any:
            self.calls.append((name, args))
            return self.answer(name, args) if callable(self.answer) else self.answer

        return fake


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    wire = Wire()
    for module, name in [
        (bindings_collector, "_collector_query"),
        (bindings_collector, "_collector_advertise"),
        (bindings_schedd, "_schedd_submit"),
        (bindings_schedd, "_schedd_query"),
        (bindings_schedd, "_schedd_act_on_job_ids"),
        (bindings_schedd, "_schedd_act_on_job_constraint"),
    ]:
        monkeypatch.setattr(module, name, wire(name))
    return wire


def test_environment_requires_integrity_and_bounds_queries() -> None:
    HTCondorCollector("127.0.0.1:9618")
    for context in ("DEFAULT", "CLIENT", "READ", "WRITE"):
        assert os.environ[f"_CONDOR_SEC_{context}_INTEGRITY"] == "REQUIRED"
        assert htcondor2.param[f"SEC_{context}_INTEGRITY"] == "REQUIRED"
    assert int(htcondor2.param["QUERY_TIMEOUT"]) == int(os.environ["_CONDOR_QUERY_TIMEOUT"])


def test_advertise_sends_all_ads_in_one_tcp_call(wire: Wire) -> None:
    ads = [classad2.ClassAd({"MyType": "glidefactory", "Name": f"e{i}@g@f"}) for i in range(3)]
    HTCondorCollector("127.0.0.1:9618").advertise(ads, "UPDATE_AD_GENERIC")
    [(name, (_handle, sent, command, use_tcp))] = wire.calls
    assert name == "_collector_advertise"
    assert [ad["Name"] for ad in sent] == ["e0@g@f", "e1@g@f", "e2@g@f"]
    assert command == "UPDATE_AD_GENERIC" and use_tcp is True


def test_advertise_refuses_unknown_command_without_network(wire: Wire) -> None:
    collector = HTCondorCollector("127.0.0.1:9618")
    with pytest.raises(PoolError, match="unknown advertise command 'UPDATE_BOGUS'"):
        collector.advertise([classad2.ClassAd({"Name": "x"})], "UPDATE_BOGUS")
    collector.advertise([], "UPDATE_MASTER_AD")
    assert wire.calls == []


def test_query_passes_constraint_projection_any_table(wire: Wire) -> None:
    wire.answer = [classad2.ClassAd({"Name": "e@g@f", "GlideinMyType": "glidefactory"})]
    got = HTCondorCollector("127.0.0.1:9618").query(
        '(GlideinMyType=?="glidefactory")', ["Name", "PubKeyID"]
    )
    assert [ad["Name"] for ad in got] == ["e@g@f"]
    [(_, (_handle, ad_type, constraint, projection, _stats, _name))] = wire.calls
    assert ad_type == int(htcondor2.AdTypes.Any)
    assert constraint == '(GlideinMyType=?="glidefactory")'
    assert projection == ["Name", "PubKeyID"]


@pytest.mark.parametrize(
    ("command", "constraint", "target"),
    [
        (
            "INVALIDATE_ADS_GENERIC",
            '(FactoryName =?= "f")&&(GlideinName =?= "g")',
            "glidefactory",
        ),
        (
            "INVALIDATE_ADS_GENERIC",
            '(Name == "g@f")&&(GlideinMyType == "glidefactoryglobal")',
            "glidefactoryglobal",
        ),
        (
            "INVALIDATE_LICENSE_ADS",
            '(ReqGlidein == "e@g@f")&&(GlideinMyType == "glidefactoryclient")',
            "glidefactoryclient",
        ),
        (
            "INVALIDATE_MASTER_ADS",
            '(ClientName == "fe.main") && (GlideinMyType == "glideclientglobal")',
            "glideclientglobal",
        ),
        ("INVALIDATE_MASTER_ADS", '(ClientName == "fe.main")', "glideclient"),
    ],
)
def test_invalidate_sends_the_query_ad(
    wire: Wire, command: str, constraint: str, target: str
) -> None:
    HTCondorCollector("127.0.0.1:9618").invalidate(constraint, command)
    [(name, (_handle, [query_ad], sent_command, use_tcp))] = wire.calls
    assert name == "_collector_advertise" and sent_command == command and use_tcp
    assert query_ad["MyType"] == "Query" and query_ad["TargetType"] == target
    assert isinstance(query_ad["Requirements"], classad2.ExprTree)
    assert str(query_ad["Requirements"]) == str(classad2.ExprTree(constraint))
    # The requirement really selects the ads it names.
    if "GlideinMyType" in constraint:
        ad = classad2.ClassAd(
            {"GlideinMyType": target, "Name": "g@f", "ReqGlidein": "e@g@f", "ClientName": "fe.main"}
        )
        assert query_ad["Requirements"].eval(ad) is True


def test_invalidation_errors_are_pool_errors() -> None:
    with pytest.raises(PoolError, match="unknown invalidate command"):
        invalidation_ad("true", "UPDATE_AD_GENERIC")
    with pytest.raises(PoolError, match="bad invalidation constraint"):
        invalidation_ad("(Name == ", "INVALIDATE_ADS_GENERIC")


def test_dead_collector_is_a_quick_pool_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    collector = HTCondorCollector(f"127.0.0.1:{port}")
    start = time.monotonic()
    with pytest.raises(PoolError, match=f"query collector 127.0.0.1:{port}: ") as info:
        collector.query("true", ["Name"])
    assert "\n" not in str(info.value)
    with pytest.raises(PoolError, match="advertise to collector"):
        collector.advertise([classad2.ClassAd({"MyType": "glidefactory", "Name": "x"})])
    with pytest.raises(PoolError, match="locate schedd s1 via"):
        HTCondorSchedd("s1", f"127.0.0.1:{port}").query()
    assert time.monotonic() - start < 5


def test_local_schedd_without_daemon_is_a_pool_error() -> None:
    schedd = HTCondorSchedd()  # constructing does not touch the network
    with pytest.raises(PoolError, match="locate schedd local"):
        schedd.query("true")


def test_schedd_not_known_to_collector(wire: Wire) -> None:
    wire.answer = []
    with pytest.raises(PoolError, match="schedd s9 via c:9618: not known to the collector"):
        HTCondorSchedd("s9", "c:9618").act(JobAction.REMOVE, ["1.0"])


def _answer_with_location(result: Any):
    def answer(name: str, args: tuple[Any, ...]) -> Any:
        if name == "_collector_query":
            return [classad2.ClassAd(LOCATION)]
        return result(name, args) if callable(result) else result

    return answer


def test_submit_builds_and_sends_a_real_submit(wire: Wire) -> None:
    wire.answer = _answer_with_location(
        lambda name, args: htcondor2.SubmitResult(42, 0, args[2], classad2.ClassAd(), None)
    )
    schedd = HTCondorSchedd("schedd_glideins1@f", "c:9618")
    cluster = schedd.submit(
        {"universe": "grid", "grid_resource": "condor ce.example.org", "executable": "x.sh"},
        count=5,
        attrs={"GlideinClient": "fe.main", "GlideinCredentialIdentifier": "ABCD", "Cores": 8},
    )
    assert cluster == 42
    located, submitted = wire.calls
    assert located[0] == "_collector_query"
    assert located[1][2] == 'Name == "schedd_glideins1@f"'
    name, (addr, _handle, count, spool) = submitted
    assert name == "_schedd_submit" and addr == LOCATION["MyAddress"]
    assert count == 5 and spool is False


def test_build_submit_escapes_hostile_attribute_values() -> None:
    hostile = 'x"\nqueue 100\n+Evil = "$(ENV(HOME))`id`'
    submit = build_submit(
        "universe = vanilla\nexecutable = /bin/true\n", {"GlideinClient": hostile}
    )
    assert submit["universe"] == "vanilla"
    assert submit.getQArgs() in ("", "1")
    expanded = submit.expand("MY.GlideinClient")
    assert "\n" not in expanded
    assert classad2.ExprTree(expanded).eval() == hostile
    # Serialized and parsed again (what the bindings do before sending): still one attribute.
    again = htcondor2.Submit(str(submit))
    assert sorted(again.keys()) == ["MY.GlideinClient", "executable", "universe"]
    assert classad2.ExprTree(again.expand("MY.GlideinClient")).eval() == hostile


def test_build_submit_refusals() -> None:
    with pytest.raises(ValueError, match="bad job attribute name"):
        build_submit({"executable": "x"}, {"a b": 1})
    with pytest.raises(ValueError, match="contains a newline"):
        build_submit({"arguments": "a\nqueue 5"})
    with pytest.raises(ValueError, match="unsupported job attribute value"):
        attr_expression([1])
    assert attr_expression(True) == "true" and attr_expression(3) == "3"
    assert attr_expression(classad2.ExprTree("a + 1")) == "a + 1"


def test_bad_submit_description_is_pool_error(wire: Wire) -> None:
    schedd = HTCondorSchedd("s", "c:9618")
    with pytest.raises(PoolError, match="bad submit description"):
        schedd.submit({"executable": "x"}, attrs={"bad name": 1})
    with pytest.raises(ValueError, match="at least 1"):
        schedd.submit({"executable": "x"}, count=0)
    assert wire.calls == []


def test_schedd_query_passes_constraint_and_projection(wire: Wire) -> None:
    job = classad2.ClassAd({"ClusterId": 7, "ProcId": 0, "JobStatus": 1})
    wire.answer = _answer_with_location([job])
    got = HTCondorSchedd("s", "c:9618").query('GlideinEntryName == "e"', ["ClusterId", "JobStatus"])
    assert [dict(ad) for ad in got] == [dict(job)]
    name, (addr, constraint, projection, limit, _opts) = wire.calls[-1]
    assert name == "_schedd_query" and addr == LOCATION["MyAddress"]
    assert constraint == 'GlideinEntryName == "e"' and projection == ["ClusterId", "JobStatus"]
    assert limit == -1


@pytest.mark.parametrize(
    ("action", "binding"),
    [
        (JobAction.REMOVE, htcondor2.JobAction.Remove),
        (JobAction.REMOVE_X, htcondor2.JobAction.RemoveX),
        (JobAction.HOLD, htcondor2.JobAction.Hold),
        (JobAction.RELEASE, htcondor2.JobAction.Release),
    ],
)
def test_act_maps_actions_and_counts_successes(
    wire: Wire, action: JobAction, binding: htcondor2.JobAction
) -> None:
    totals = {f"result_total_{i}": 0 for i in range(6)}
    wire.answer = _answer_with_location(
        {**totals, "result_total_1": 2, "TotalJobAds": 2, "ActionResult": 2}
    )
    schedd = HTCondorSchedd("s", "c:9618")
    assert schedd.act(action, ["3.0", "3.1"], "too many idle") == 2
    name, (addr, ids, code, reason, _reason_code) = wire.calls[-1]
    assert name == "_schedd_act_on_job_ids" and addr == LOCATION["MyAddress"]
    assert ids == "3.0, 3.1" and code == int(binding) and reason == "too many idle"
    assert schedd.act(action, 'GlideinClient == "fe.main"') == 2
    name, (_addr, constraint, code, reason, _) = wire.calls[-1]
    assert name == "_schedd_act_on_job_constraint" and code == int(binding)
    assert (
        constraint == 'GlideinClient == "fe.main"' and reason == f"glidein factory {action.value}"
    )
    calls = len(wire.calls)
    assert schedd.act(action, []) == 0
    assert len(wire.calls) == calls


def test_bad_act_constraint_is_pool_error(wire: Wire) -> None:
    wire.answer = _answer_with_location(None)
    with pytest.raises(PoolError, match="remove at schedd s via c:9618"):
        HTCondorSchedd("s", "c:9618").act(JobAction.REMOVE, "(((")
