"""The Collector's ad store on its own: replacement, expiry, tables, index pre-filter."""

from __future__ import annotations

import subprocess
import sys

import classad2
import pytest

from glideinwms_factory.lib.pool.embedded.auth import ADMIN_IDENTITY, FACTORY_IDENTITY
from glideinwms_factory.lib.pool.embedded.collector import CollectorStore, NotOwnerError
from glideinwms_factory.lib.pool.embedded.constraint import pinned_values
from glideinwms_factory.lib.pool.embedded.wire import decode_ads, encode_ad

WRITER = FACTORY_IDENTITY  # most ads here are factory ads, which only the factory may send
INDEXED = frozenset({"mytype", "glideinmytype", "reqglidein"})


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def ad(**attrs) -> classad2.ClassAd:
    return classad2.ClassAd(attrs)


def names(store: CollectorStore, constraint: str = "true") -> list[str]:
    return sorted(a["Name"] for a in decode_ads("\n".join(store.query_blocks(constraint))))


def test_same_mytype_and_name_replaces_and_counts_updates():
    store = CollectorStore()
    store.advertise([ad(MyType="glidefactory", Name="e@g@f", X=1)], "UPDATE_AD_GENERIC", WRITER)
    store.advertise([ad(MyType="glidefactory", Name="e@g@f", X=2)], "UPDATE_AD_GENERIC", WRITER)
    store.advertise([ad(MyType="glideclient", Name="e@g@f", X=3)], "UPDATE_MASTER_AD", WRITER)
    ads = decode_ads("\n".join(store.query_blocks('MyType == "glidefactory"')))
    assert [(a["X"], a["UpdatesTotal"]) for a in ads] == [(2, 2)]
    assert len(store) == 2


def test_client_cannot_choose_identity_even_in_other_case():
    store = CollectorStore()
    sent = ad(MyType="t", Name="n", authenticatedidentity="root@evil", AuthenticationMethod="X")
    store.advertise([sent], "UPDATE_AD_GENERIC", "fe@example.org")
    (stored,) = decode_ads("\n".join(store.query_blocks()))
    assert stored["AuthenticatedIdentity"] == "fe@example.org"
    assert stored["AuthenticationMethod"] == "TOKEN"
    assert [k for k in stored if k.lower() == "authenticatedidentity"] == ["AuthenticatedIdentity"]


def test_expiry_honours_classad_lifetime():
    clock = Clock()
    store = CollectorStore(default_lifetime=900, clock=clock)
    store.advertise(
        [ad(MyType="t", Name="short", ClassAdLifetime=5), ad(MyType="t", Name="long")],
        "UPDATE_AD_GENERIC",
        WRITER,
    )
    clock.now += 6
    assert names(store) == ["long"]  # hidden at once, before any sweep
    assert store.expire() == 1
    clock.now += 900
    assert store.expire() == 1 and len(store) == 0


def test_invalidate_stays_in_its_table_and_target_type():
    store = CollectorStore()
    store.advertise(
        [ad(MyType="glidefactory", Name="e1", FactoryName="f")], "UPDATE_AD_GENERIC", WRITER
    )
    store.advertise(
        [ad(MyType="glidefactoryglobal", Name="g", FactoryName="f")], "UPDATE_AD_GENERIC", WRITER
    )
    store.advertise(
        [ad(MyType="glidefactoryclient", Name="c", FactoryName="f")], "UPDATE_LICENSE_AD", WRITER
    )
    query = classad2.ClassAd({"MyType": "Query", "TargetType": "glidefactory"})
    query["Requirements"] = classad2.ExprTree('FactoryName =?= "f"')
    assert store.invalidate(query, "INVALIDATE_ADS_GENERIC", WRITER) == (1, 0)
    assert names(store) == ["c", "g"]
    query["TargetType"] = "glidefactoryclient"
    assert store.invalidate(query, "INVALIDATE_LICENSE_ADS", WRITER) == (1, 0)
    assert names(store) == ["g"]


@pytest.mark.parametrize(
    "bad",
    [
        lambda s: s.advertise([ad(MyType="t")], "UPDATE_AD_GENERIC", WRITER),
        lambda s: s.advertise([ad(MyType="t", Name="n")], "UPDATE_NOTHING", WRITER),
        lambda s: s.query_blocks("(((("),
        lambda s: s.invalidate(ad(MyType="Query"), "INVALIDATE_ADS_GENERIC", WRITER),
    ],
)
def test_bad_calls_raise_value_error_and_store_nothing(bad):
    store = CollectorStore()
    with pytest.raises(ValueError):
        bad(store)
    assert len(store) == 0


def test_pins_read_only_top_level_conjuncts():
    request = (
        '(GlideinMyType=?="glideclient") && (stringListMember(ReqGlidein,"E1@g@f,E2@g@f")=?=True)'
        ' && ((ReqPubKeyID=?="k") || (ReqPubKeyID=?=Undefined))'
    )
    assert pinned_values(request, INDEXED) == {
        "glideinmytype": frozenset({"glideclient"}),
        "reqglidein": frozenset({"e1@g@f", "e2@g@f"}),
    }
    assert pinned_values('MyType == "a" || MyType == "b"', INDEXED) == {}
    assert pinned_values('MyType == "a" && x ? 1 : 0', INDEXED) == {}
    assert pinned_values('!(MyType == "a") && Other == "b"', INDEXED) == {}
    assert pinned_values('"A" =?= MyType && (mytype == "a")', INDEXED) == {
        "mytype": frozenset({"a"})
    }


CONSTRAINTS = [
    "true",
    'GlideinMyType =?= "glideclient"',
    'MyType == "GLIDECLIENT"',
    'MyType =?= "GLIDECLIENT"',
    '(GlideinMyType=?="glideclient") && (stringListMember(ReqGlidein,"e1@g@f,e7@g@f")=?=True)',
    'stringListMember(ReqGlidein, "e3@g@f") && Idle > 5',
    'ReqGlidein == "e2@g@f" || MyType == "glidefactory"',
    'MyType == "glidefactory" && Name == "e4@g@f"',
    'MyType == "nothing"',
]


@pytest.mark.parametrize("constraint", CONSTRAINTS)
def test_index_answers_equal_a_full_scan(constraint):
    store = CollectorStore()
    ads = []
    for i in range(200):
        ads.append(
            ad(
                MyType="glideclient",
                GlideinMyType="glideclient",
                Name=f"r{i}",
                ReqGlidein=f"e{i % 10}@g@f",
                Idle=i % 9,
            )
        )
    for i in range(10):
        ads.append(ad(MyType="glidefactory", GlideinMyType="glidefactory", Name=f"e{i}@g@f"))
    store.advertise(ads, "UPDATE_AD_GENERIC", WRITER)
    expr = classad2.ExprTree(constraint)
    expected = sorted(a["Name"] for a in ads if expr.eval(a) is True)
    assert names(store, constraint) == expected
    assert expected or constraint in ('MyType == "nothing"', 'MyType =?= "GLIDECLIENT"')


def test_string_list_functions_work_in_a_fresh_process():
    """A constraint compiled before htcondor2 is imported evaluates stringListMember to Error."""
    code = (
        "import classad2\n"
        "from glideinwms_factory.lib.pool.embedded.collector import CollectorStore\n"
        "s = CollectorStore()\n"
        "s.advertise([classad2.ClassAd({'MyType': 't', 'Name': 'n', 'R': 'e1'})], 'UPDATE_AD_GENERIC', 'a@b')\n"
        "print(len(s.query_blocks('stringListMember(R, \"e0,e1\")')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "1", result.stderr


def test_projection_keeps_only_asked_attributes():
    store = CollectorStore()
    store.advertise([ad(MyType="t", Name="n", A=1, B="x")], "UPDATE_AD_GENERIC", WRITER)
    (projected,) = decode_ads("\n".join(store.query_blocks("true", ("Name", "B", "Missing"))))
    assert dict(projected) == {"Name": "n", "B": "x"}


def test_answer_lines_survive_unicode_line_separators():
    odd = ad(MyType="t", Name="n", X="a\u2028b\rc\x85d\nline")
    (back,) = decode_ads(encode_ad(odd))
    assert back["X"] == odd["X"]


def test_an_ad_is_replaced_only_by_its_advertiser_or_the_admin():
    store = CollectorStore()
    store.advertise([ad(MyType="glideclient", Name="r@fe", X=1)], "UPDATE_AD_GENERIC", "fe@x")
    with pytest.raises(NotOwnerError, match="advertised by fe@x"):
        store.advertise(
            [ad(MyType="t", Name="mine", X=9), ad(MyType="glideclient", Name="r@fe", X=2)],
            "UPDATE_AD_GENERIC",
            "mallory@x",
        )
    assert names(store) == ["r@fe"]  # all or nothing: not even mallory's own ad
    assert store.refused == 1
    store.advertise([ad(MyType="glideclient", Name="r@fe", X=3)], "UPDATE_AD_GENERIC", "fe@x")
    store.advertise(
        [ad(MyType="glideclient", Name="r@fe", X=4)], "UPDATE_AD_GENERIC", ADMIN_IDENTITY
    )
    [only] = decode_ads("\n".join(store.query_blocks()))
    assert only["X"] == 4 and only["AuthenticatedIdentity"] == ADMIN_IDENTITY


@pytest.mark.parametrize("my_type", ["glidefactory", "GlideFactoryGlobal", "glidefactoryclient"])
def test_factory_ad_types_come_only_from_the_factory(my_type):
    store = CollectorStore()
    with pytest.raises(NotOwnerError, match="only the factory"):
        store.advertise([ad(MyType=my_type, Name="g@f")], "UPDATE_AD_GENERIC", "fe@x")
    assert len(store) == 0 and store.refused == 1
    store.advertise([ad(MyType=my_type, Name="g@f")], "UPDATE_AD_GENERIC", FACTORY_IDENTITY)
    assert len(store) == 1


def test_invalidation_drops_only_the_callers_ads_and_counts_the_others():
    store = CollectorStore()
    for who in ("fe1@x", "fe2@x"):
        store.advertise([ad(MyType="glideclient", Name=who, F="f")], "UPDATE_AD_GENERIC", who)
    query = classad2.ClassAd({"MyType": "Query", "TargetType": "glideclient"})
    query["Requirements"] = classad2.ExprTree("true")
    assert store.invalidate(query, "INVALIDATE_ADS_GENERIC", "fe1@x") == (1, 1)
    assert names(store) == ["fe2@x"] and store.refused == 1
    assert store.invalidate(query, "INVALIDATE_ADS_GENERIC", ADMIN_IDENTITY) == (1, 0)
    assert len(store) == 0
