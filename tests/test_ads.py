"""The entry's ads (classads.md §1, §3, §6) built from a real created tree.

Each attribute group is checked for presence and type, the ads go through the old
ClassAd text form and back, and the invalidation constraints are evaluated by classad2.
"""

from __future__ import annotations

import dataclasses

import classad2
import htcondor2  # noqa: F401  (before any ExprTree: else stringListMember evaluates to Error)
import pytest
from factory_testlib import EntrySpec, config_xml, create, free_port

from glideinwms_factory.entry import ads
from glideinwms_factory.entry.config import EntryConfig, load_entry
from glideinwms_factory.entry.limits import FrontendLimits
from glideinwms_factory.lib.classad import format_old, format_old_many, parse_old, parse_old_many
from glideinwms_factory.lib.descript import read_signatures
from glideinwms_factory.lib.factory_config import load_factory
from glideinwms_factory.lib.factory_key import (
    generate_key,
    load_public_key,
    pem_from_ad_value,
    pub_key_id,
)
from glideinwms_factory.lib.monitoring_model import CLIENT_MONITOR, REQUESTED, STATUS, ClientStats

KEY = generate_key()
START = 1_800_000_000


@pytest.fixture(scope="module")
def entries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, EntryConfig]:
    specs = [
        EntrySpec("ce1", auth_method="grid_proxy", max_glideins=30, max_idle=7),
        EntrySpec("ce2"),
    ]
    factory = create(tmp_path_factory.mktemp("ads"), config_xml(specs, free_port()))
    config = load_factory(factory.work)
    return {spec.name: load_entry(config, spec.name) for spec in specs}


def staging(entry: EntryConfig) -> ads.Staging:
    lines = read_signatures(entry.factory.work_dir / "signatures.sha1")
    return ads.Staging(main=lines["main"], entry=lines[f"entry_{entry.name}"])


def stats(scale: int, *, requested: bool) -> ClientStats:
    return ClientStats(
        status={name: scale + i for i, name in enumerate(STATUS)},
        requested={name: scale + i for i, name in enumerate(REQUESTED)} if requested else None,
        client_monitor=(
            {name: scale + i for i, name in enumerate(CLIENT_MONITOR)} if requested else None
        ),
    )


def factory_ad(
    entry: EntryConfig,
    *,
    in_downtime: bool = False,
    requested: bool = True,
    completed_jobs: dict[str, int] | None = None,
):
    return ads.factory_ad(
        entry,
        KEY,
        staging(entry),
        start_time=START,
        sequence=4,
        in_downtime=in_downtime,
        downtime_comment="infosys: CE drained",
        total=stats(100, requested=requested),
        completed_jobs=completed_jobs or {},
    )


def client_ad(entry: EntryConfig, client_name: str = "vofe.main"):
    return ads.client_ad(
        entry,
        req_name=entry.ad_name,
        client_name=client_name,
        sequence=2,
        client=stats(10, requested=True),
        total=stats(100, requested=True),
        params={
            "GLIDEIN_Collector": "pool.example.org:9618",
            "GLIDEIN_Standin_Lifetime": 60,
            "Extra": 5,
        },
        limits_reached={
            "GlideinMonitorStatus_GlideFactoryLimitIdleGlideinsPerEntry": "count=7, limit=7"
        },
        protocol="3.11",
    )


def test_factory_ad_names_and_key(entries: dict[str, EntryConfig]) -> None:
    ce1 = entries["ce1"]
    ad = factory_ad(ce1)
    assert ad["MyType"] == ad["GlideinMyType"] == "glidefactory"
    assert ad["Name"] == "ce1@gtest@testfactory" == ce1.ad_name
    assert (ad["FactoryName"], ad["GlideinName"], ad["EntryName"]) == (
        "testfactory",
        "gtest",
        "ce1",
    )
    assert ad["GlideinWMSVersion"].startswith("glideinWMS ")
    assert (ad["DaemonStartTime"], ad["UpdateSequenceNumber"]) == (START, 4)
    assert ad["SupportedSignTypes"] == ce1.factory.glidein["SupportedSignTypes"]
    assert ad["PubKeyID"] == KEY.pub_key_id
    assert ad["PubKeyType"] == "RSA"
    assert "\n" not in ad["PubKeyValue"]
    # What a frontend does with it: the same key, the same ID.
    pem = pem_from_ad_value(ad["PubKeyValue"])
    assert pub_key_id(pem) == KEY.pub_key_id
    assert load_public_key(pem).public_numbers() == KEY.private_key.public_key().public_numbers()


def test_factory_ad_auth_flags_follow_the_auth_method(entries: dict[str, EntryConfig]) -> None:
    flags = ("GlideinAllowx509_Proxy", "GlideinRequirex509_Proxy", "GlideinRequireGlideinProxy")
    proxy, token = factory_ad(entries["ce1"]), factory_ad(entries["ce2"])
    assert [proxy[f] for f in flags] == ["True", "True", "False"]
    assert [token[f] for f in flags] == ["False", "False", "True"]
    assert proxy["GLIDEIN_SupportedAuthenticationMethod"] == "grid_proxy"
    assert token["GLIDEIN_SupportedAuthenticationMethod"] == "scitoken"


def test_factory_ad_entry_attributes(entries: dict[str, EntryConfig]) -> None:
    ad = factory_ad(entries["ce1"])
    for name in (
        "GLIDEIN_Gatekeeper",
        "GLIDEIN_GridType",
        "GLIDEIN_REQUIRE_VOMS",
        "GLIDEIN_TrustDomain",
        "GLIDEIN_SupportedAuthenticationMethod",
        "GLIDEIN_SlotsLayout",
        "GLIDEIN_WorkDir",
        "GLIDEIN_Verbosity",
    ):
        assert isinstance(ad[name], str), name
    assert ad["GLIDEIN_Gatekeeper"] == "ce.ce1.example.org"
    assert ad["GLIDEIN_GridType"] == "condor"
    assert ad["GLIDEIN_TrustDomain"] == "grid"
    assert ad["GLIDEIN_Site"] == "Site_ce1"  # an operator attribute with glidein_publish


@pytest.mark.parametrize(("down", "comment"), [(True, "infosys: CE drained"), (False, "")])
def test_factory_ad_downtime(entries: dict[str, EntryConfig], down: bool, comment: str) -> None:
    ad = factory_ad(entries["ce1"], in_downtime=down)
    assert ad["GLIDEIN_In_Downtime"] is down
    assert ad["GLIDEIN_Downtime_Comment"] == comment
    assert f"GLIDEIN_In_Downtime = {down}\n".lower() in format_old(ad).lower()


def test_factory_ad_params_and_submit_attrs(entries: dict[str, EntryConfig]) -> None:
    ce1 = entries["ce1"]
    ad = factory_ad(ce1)
    assert ad["GlideinParamGLIDEIN_Standin_Lifetime"] == 600  # an int parameter stays an int
    odd = dataclasses.replace(
        ce1,
        params={**ce1.params, "a:b": "colon"},
        submit_attrs={"+maxWallTime": 60, "+Site:Name": "x", "request_memory": "2 GB"},
    )
    ad = factory_ad(odd)
    assert ad["GlideinParama__b"] == "colon"
    assert ad["GlideinSubmit_PLUS_maxWallTime"] == 60
    assert ad["GlideinSubmit_PLUS_Site__Name"] == "x"
    assert ad["GlideinSubmitrequest_memory"] == "2 GB"
    assert not [k for k in ad if "+" in k or ":" in k]


def test_factory_ad_sign_types_are_sha1_only(entries: dict[str, EntryConfig]) -> None:
    """security.md §7: glidein_startup.sh verifies SHA-1 only, so only sha1 is offered."""
    assert factory_ad(entries["ce1"])["SupportedSignTypes"] == "sha1"


def test_factory_ad_default_params(entries: dict[str, EntryConfig]) -> None:
    """classads.md §1: parameters every entry publishes, for frontends to override."""
    ad = factory_ad(entries["ce1"])
    assert ad.get("GlideinParamGLIDEIN_Collector") == "Fake"
    assert ad.get("GlideinParamGLIDEIN_Report_Failed") == "NEVER"
    for name in ("CONDOR_OS", "CONDOR_ARCH", "CONDOR_VERSION"):
        assert ad.get(f"GlideinParam{name}") == "default"


def test_factory_ad_web_attributes_come_from_the_signatures(
    entries: dict[str, EntryConfig],
) -> None:
    ce1 = entries["ce1"]
    lines = read_signatures(ce1.factory.work_dir / "signatures.sha1")
    ad = factory_ad(ce1)
    assert ad["WebURL"] == ce1.factory.glidein["WebURL"]
    assert ad["WebURL"].startswith("http://127.0.0.1:")
    assert ad["WebSignType"] == "sha1"
    assert (ad["WebDescriptFile"], ad["WebDescriptSign"]) == (
        lines["main"].description,
        lines["main"].digest,
    )
    assert (ad["WebEntryDescriptFile"], ad["WebEntryDescriptSign"]) == (
        lines["entry_ce1"].description,
        lines["entry_ce1"].digest,
    )
    assert len(ad["WebDescriptSign"]) == 40 and ad["WebDescriptSign"] != ad["WebEntryDescriptSign"]


def test_factory_ad_limits(entries: dict[str, EntryConfig]) -> None:
    ce1 = entries["ce1"]
    ad = factory_ad(ce1)
    assert (
        ad["GlideinConfigPerEntryMaxGlideins"],
        ad["GlideinConfigPerEntryMaxIdle"],
        ad["GlideinConfigPerEntryMaxHeld"],
    ) == (30, 7, 5)
    assert (
        ad["GlideinConfigDefaultPerFrontendMaxGlideins"],
        ad["GlideinConfigDefaultPerFrontendMaxIdle"],
        ad["GlideinConfigDefaultPerFrontendMaxHeld"],
    ) == (30, 7, 5)
    assert ad["GlideinConfigPerFrontendMaxGlideins"] == ""
    limits = dataclasses.replace(
        ce1.limits,
        per_frontend={"fe2:sc": FrontendLimits(9, 3, 1), "fe1:sc": FrontendLimits(8, 2, 0)},
    )
    ad = factory_ad(dataclasses.replace(ce1, limits=limits))
    assert ad["GlideinConfigPerFrontendMaxGlideins"] == "fe1:sc=8,fe2:sc=9"
    assert ad["GlideinConfigPerFrontendMaxIdle"] == "fe1:sc=2,fe2:sc=3"
    assert ad["GlideinConfigPerFrontendMaxHeld"] == "fe1:sc=0,fe2:sc=1"


def test_factory_ad_monitor_totals(entries: dict[str, EntryConfig]) -> None:
    ad = factory_ad(entries["ce1"])
    for group, names in (
        ("Status", STATUS),
        ("Requested", REQUESTED),
        ("ClientMonitor", CLIENT_MONITOR),
    ):
        for i, name in enumerate(names):
            assert ad[f"GlideinMonitorTotal{group}{name}"] == 100 + i, (group, name)
    idle = factory_ad(entries["ce1"], requested=False)
    assert idle["GlideinMonitorTotalStatusIdle"] == 100
    assert not [
        k
        for k in idle
        if k.startswith(("GlideinMonitorTotalRequested", "GlideinMonitorTotalClientMonitor"))
    ]


def test_factory_ad_completed_jobs(entries: dict[str, EntryConfig]) -> None:
    """The aggregation's completed-jobs counts reach the ad; stale ones (empty) do not."""
    ad = factory_ad(entries["ce1"], completed_jobs={"GlideinMonitorCompletedJobsPerEntry1job": 3})
    assert ad["GlideinMonitorCompletedJobsPerEntry1job"] == 3
    assert not [k for k in factory_ad(entries["ce1"]) if k.startswith("GlideinMonitorCompleted")]


def test_client_ad(entries: dict[str, EntryConfig]) -> None:
    ce1 = entries["ce1"]
    ad = client_ad(
        dataclasses.replace(ce1, params={**ce1.params, "GLIDEIN_Report_Failed": "NEVER"})
    )
    assert ad["MyType"] == ad["GlideinMyType"] == "glidefactoryclient"
    assert ad["Name"] == f"{ce1.ad_name}@vofe.main"
    assert ad["UpdateSequenceNumber"] == 2
    assert ad["GlideinRequestProtocol"] == "3.11"
    assert ad["GlideinWMSVersion"].startswith("glideinWMS ")
    assert (ad["ReqGlidein"], ad["ReqFactoryName"], ad["ReqGlideinName"], ad["ReqEntryName"]) == (
        ce1.ad_name,
        "testfactory",
        "gtest",
        "ce1",
    )
    assert (ad["ReqClientName"], ad["ReqClientReqName"]) == ("vofe.main", ce1.ad_name)
    assert ad["GLIDEIN_Gatekeeper"] == "ce.ce1.example.org"
    assert ad["GLIDEIN_Site"] == "Site_ce1"
    # Effective parameters: the client's values over the entry defaults.
    assert ad["GlideinParamGLIDEIN_Collector"] == "pool.example.org:9618"
    assert ad["GlideinParamExtra"] == 5
    assert ad["GlideinParamGLIDEIN_Standin_Lifetime"] == 60
    assert ad["GlideinParamGLIDEIN_Report_Failed"] == "NEVER"  # not overridden: the default
    assert ad["GlideinMonitorStatusIdle"] == 10
    assert ad["GlideinMonitorRequestedAdjustedIdle"] == 10 + REQUESTED.index("AdjustedIdle")
    assert ad["GlideinMonitorClientMonitorCoresTotal"] == 10 + CLIENT_MONITOR.index("CoresTotal")
    assert ad["GlideinMonitorTotalStatusRunning"] == 100 + STATUS.index("Running")
    assert ad["GlideinMonitorStatus_GlideFactoryLimitIdleGlideinsPerEntry"] == "count=7, limit=7"


def test_ads_print_and_parse_back(entries: dict[str, EntryConfig]) -> None:
    """The old text form loses nothing: every attribute comes back with its value and type."""
    originals = [factory_ad(entries["ce1"], in_downtime=True), client_ad(entries["ce2"])]
    text = format_old_many(originals)
    assert not text.startswith("\n") and "\n\n\n" not in text
    parsed = parse_old_many(text)
    assert len(parsed) == 2
    for original, back in zip(originals, parsed, strict=True):
        assert set(back.keys()) == set(original.keys())
        for name in original:
            assert back[name] == original[name], name
            assert type(back[name]) is type(original[name]), name
        assert parse_old(format_old(original)) == back
    # A frontend reading the text gets a usable key (PubKeyValue keeps its `\n` escapes).
    pem = pem_from_ad_value(parsed[0]["PubKeyValue"])
    assert pub_key_id(pem) == KEY.pub_key_id


def test_invalidation_constraints_match_only_this_entrys_ads(
    entries: dict[str, EntryConfig],
) -> None:
    ce1, ce2 = entries["ce1"], entries["ce2"]
    mine = {"glidefactory": factory_ad(ce1), "glidefactoryclient": client_ad(ce1)}
    others = [factory_ad(ce2), client_ad(ce2), client_ad(ce2, "vofe.other")]
    constraints = ads.invalidate_constraints(ce1)
    assert [command for command, _ in constraints] == [
        "INVALIDATE_ADS_GENERIC",
        "INVALIDATE_LICENSE_ADS",
    ]
    for (_, constraint), my_type in zip(constraints, mine, strict=True):
        expr = classad2.ExprTree(constraint)
        for kind, ad in mine.items():
            assert (expr.eval(ad) is True) == (kind == my_type), (constraint, kind)
        for ad in others:
            assert expr.eval(ad) is not True, (constraint, ad["Name"])


def test_hostile_parameter_names_and_values_stay_one_attribute(
    entries: dict[str, EntryConfig],
) -> None:
    """The ad is built from text in one parse: what a Frontend sends never becomes text."""
    params = {
        "X = 1; GLIDEIN_In_Downtime = true; Y": "v",
        "Quote": 'a" ; Injected = 1; B = "',
        "Newline": "line1\nline2",
        "NotFinite": float("nan"),
        "Flag": True,
    }
    ad = ads.client_ad(
        entries["ce1"],
        req_name=entries["ce1"].ad_name,
        client_name="vofe.main",
        sequence=0,
        client=stats(1, requested=True),
        total=stats(1, requested=True),
        params=params,
        limits_reached={},
    )
    assert ad["GlideinParamX = 1; GLIDEIN_In_Downtime = true; Y"] == "v"
    assert ad["GLIDEIN_In_Downtime"] is False
    assert ad["GlideinParamQuote"] == 'a" ; Injected = 1; B = "' and "Injected" not in ad
    assert ad["GlideinParamNewline"] == "line1\nline2"
    assert ad["GlideinParamFlag"] is True
    assert "GlideinParamNotFinite" in ad
