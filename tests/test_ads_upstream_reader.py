"""Our factory's ads as the upstream 3.10 and 3.11 Frontends read them.

`UpstreamReader` restates, in our words, what upstream's Frontend does with the
`glidefactory` and `glidefactoryglobal` ads (frontend/glideinFrontendElement.py
query_globals / query_entries / populate_pubkey / iterate_one, glideinFrontendInterface.py
findGlideins / findGlobals, lib/credentials AuthenticationMethod and the 3.10
Credential.supports_auth_method). An entry it cannot use, or an attribute that would make
it raise, fails the test. First on ads built from a created tree (with auth methods
spelled in ways the operator may write them), then on the ads a running factory put in
its pool, fetched with upstream's own constraints.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import classad2
import htcondor2  # noqa: F401  (before any ExprTree: else stringListMember evaluates to Error)
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from factory_testlib import EntrySpec, config_xml, create, free_port, running, wait_for
from test_ads import KEY, factory_ad

from glideinwms_factory.entry.config import EntryConfig, load_entry
from glideinwms_factory.global_ads import factory_global_ad
from glideinwms_factory.lib.classad import format_old_many, parse_old_many
from glideinwms_factory.lib.factory_config import load_factory
from glideinwms_factory.lib.pool.embedded.auth import FACTORY_IDENTITY
from glideinwms_factory.tools import frontend_ads

# upstream findGlideins with the default sha1 sign type, and findGlobals (no identity)
ENTRY_QUERY = '(GlideinMyType=?="glidefactory") && stringListMember("sha1",SupportedSignTypes)'
GLOBAL_QUERY = '(GlideinMyType=?="glidefactoryglobal")'

# The words 3.11's AuthenticationMethod accepts (CredentialType, CredentialPairType and
# ParameterName with their extra spellings), compared after lower-casing, never stripped.
UPSTREAM_311_WORDS = frozenset(
    {
        *("token", "scitoken", "idtoken", "x509_cert", "rsa_public_key", "rsa_private_key"),
        *("symmetric_key", "dynamic", "text", "grid_proxy", "rsa_key", "auth_file"),
        *("generator", "x509_pair", "key_pair", "username_password", "cert_pair"),
        *("vmid", "vmtype", "glideinproxy", "remoteusername", "projectid"),
        *("vm_id", "vm_type", "project_id"),
    }
)


class UpstreamError(Exception):
    """Where upstream's Frontend would raise (its group cycle dies) or skip the entry."""


def upstream_311_auth_groups(text: str) -> list[list[str]]:
    """3.11 AuthenticationMethod.load: `+` becomes `;`, groups by `;`, alternatives by
    `,`; an unknown word raises CredentialError, which nothing catches in the cycle."""
    groups = []
    for group in text.replace("+", ";").split(";"):
        if group.lower() == "any":
            groups.append([])
            continue
        for word in group.split(","):
            if word.lower() not in UPSTREAM_311_WORDS:
                raise UpstreamError(f"3.11: unknown authentication requirement {word!r}")
        groups.append(group.split(","))
    return groups


def upstream_310_needs(text: str) -> set[str]:
    """3.10 Credential.supports_auth_method: the `+` parts must all be in the
    credential's own type words (e.g. `grid_proxy`, `scitoken`, `project_id`)."""
    return set(text.split("+"))


def safe_boolcomp_true(value: object) -> bool:
    return str(value).lower() == "true"


def recover_key(ad: Mapping[str, Any]) -> rsa.RSAPublicKey:
    """query_globals + populate_pubkey: only an `RSA` key, every backslash run + `n`
    made a newline, then loaded as a PEM public key."""
    if ad.get("PubKeyType") != "RSA" or "PubKeyID" not in ad:
        raise UpstreamError(f"global {ad.get('Name')}: no usable key")
    pem = re.sub(r"\\+n", "\n", str(ad["PubKeyValue"]))
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    return key


@dataclasses.dataclass(frozen=True)
class Usable:
    name: str
    key_id: str
    trust_domain: str
    auth_groups: list[list[str]]
    needs_310: set[str]
    in_downtime: bool


def upstream_read(
    entry_ads: list[Mapping[str, Any]], global_ads: list[Mapping[str, Any]], identity: str
) -> dict[str, Usable]:
    """What the Frontend keeps of the ads the two queries returned."""
    keys = {str(ad["Name"]): (str(ad["PubKeyID"]), recover_key(ad)) for ad in global_ads}
    usable = {}
    for ad in entry_ads:
        if ad.get("AuthenticatedIdentity") != identity:  # upstream stops at the first one
            raise UpstreamError(
                f"entry {ad.get('Name')}: identity {ad.get('AuthenticatedIdentity')}"
            )
        name = str(ad["Name"])
        key = next((k for g, k in keys.items() if name.endswith(g)), None)
        if key is None:
            raise UpstreamError(f"entry {name}: no factory key, no request")
        auth = str(ad.get("GLIDEIN_SupportedAuthenticationMethod", "grid_proxy"))
        downtime = ad.get("GLIDEIN_In_Downtime", False)
        usable[str(ad["EntryName"])] = Usable(
            name,
            key[0],
            str(ad.get("GLIDEIN_TrustDomain", "Grid")),
            upstream_311_auth_groups(auth),
            upstream_310_needs(auth),
            safe_boolcomp_true(downtime),
        )
    return usable


def _with_auth(entry: EntryConfig, method: str) -> EntryConfig:
    """The entry as create_glidein makes it for `method` (job.descript and attributes.cfg)."""
    attributes = {**entry.attributes, "GLIDEIN_SupportedAuthenticationMethod": method}
    return dataclasses.replace(
        entry, job=dataclasses.replace(entry.job, auth_method=method), attributes=attributes
    )


def _wire(ads: list[classad2.ClassAd], identity: str) -> list[classad2.ClassAd]:
    """Through the old ClassAd text the Collector takes, stamped as it stamps them."""
    back = parse_old_many(format_old_many(ads))
    for ad in back:
        ad["AuthenticatedIdentity"] = identity
    return back


@pytest.mark.parametrize(
    ("written", "published", "groups_311", "needs_310"),
    [
        ("grid_proxy", "grid_proxy", [["grid_proxy"]], {"grid_proxy"}),
        ("scitoken , idtoken", "scitoken,idtoken", [["scitoken", "idtoken"]], {"scitoken,idtoken"}),
        ("grid_proxy ; project_id", "grid_proxy+project_id", [["grid_proxy"], ["project_id"]], {"grid_proxy", "project_id"}),
        ("X509_CERT+ProjectId", "grid_proxy+project_id", [["grid_proxy"], ["project_id"]], {"grid_proxy", "project_id"}),
        ("Any", "any", [[]], {"any"}),
    ],
)  # fmt: skip
def test_upstream_frontends_parse_the_published_auth_method(
    entries: dict[str, EntryConfig],
    written: str,
    published: str,
    groups_311: list[list[str]],
    needs_310: set[str],
) -> None:
    entry = _with_auth(entries["ce2"], written)
    ad = factory_ad(entry)
    glob = factory_global_ad(
        entry.factory.factory_name,
        entry.factory.glidein_name,
        KEY,
        start_time=1,
        sequence=0,
        sign_types="sha1",
    )
    wired = _wire([ad, glob], FACTORY_IDENTITY)
    seen = upstream_read([wired[0]], [wired[1]], FACTORY_IDENTITY)
    assert ad["GLIDEIN_SupportedAuthenticationMethod"] == published
    assert seen["ce2"].auth_groups == groups_311
    assert seen["ce2"].needs_310 == needs_310
    assert seen["ce2"].key_id == KEY.pub_key_id and not seen["ce2"].in_downtime


@pytest.mark.parametrize("method", ["grid_proxy", "grid_proxy,scitoken", "scitoken;grid_proxy"])
def test_proxy_flags_are_upstreams_strings(entries: dict[str, EntryConfig], method: str) -> None:
    """Upstream's factory says "True" for both whenever grid_proxy is named at all."""
    ad = factory_ad(_with_auth(entries["ce2"], method))
    flags = ("GlideinAllowx509_Proxy", "GlideinRequirex509_Proxy", "GlideinRequireGlideinProxy")
    assert [ad[f] for f in flags] == ["True", "True", "False"]


@pytest.fixture(scope="module")
def entries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, EntryConfig]:
    specs = [EntrySpec("ce2")]
    factory = create(tmp_path_factory.mktemp("reader"), config_xml(specs, free_port()))
    config = load_factory(factory.work)
    return {spec.name: load_entry(config, spec.name) for spec in specs}


def test_a_running_factorys_ads_are_found_and_usable(tmp_path: Path) -> None:
    """The ads in the pool of a real factory, fetched with upstream's constraints."""
    specs = [
        EntrySpec("proxy", auth_method="grid_proxy"),
        EntrySpec("tokens", auth_method="scitoken , idtoken"),
    ]
    factory = create(tmp_path, config_xml(specs, free_port(), pool_port=free_port()))
    with running(factory):
        collector = factory.collector()

        def both() -> bool:
            return len(collector.query(ENTRY_QUERY)) == 2 and bool(collector.query(GLOBAL_QUERY))

        wait_for(both, 60, "the entry and global ads")
        seen = upstream_read(
            collector.query(ENTRY_QUERY), collector.query(GLOBAL_QUERY), FACTORY_IDENTITY
        )
    assert sorted(seen) == ["proxy", "tokens"]
    assert seen["proxy"].auth_groups == [["grid_proxy"]]
    assert seen["tokens"].auth_groups == [["scitoken", "idtoken"]]
    assert {u.trust_domain for u in seen.values()} == {"grid"}
    assert not any(u.in_downtime for u in seen.values())


def test_the_simulator_reads_entries_as_upstream() -> None:
    """tools/frontend_ads: the auth method (default grid_proxy) and the trust domain
    (default "Grid") decide, never the old x509 flags; downtime as safe_boolcomp does."""
    glob = factory_global_ad("f", "g", KEY, start_time=1, sequence=0, sign_types="sha1")
    keys = frontend_ads.factory_keys([glob])
    entry_ads = [
        {"Name": "a@g@f", "EntryName": "a", "GlideinRequirex509_Proxy": "False"},
        {"Name": "b@g@f", "EntryName": "b", "GLIDEIN_SupportedAuthenticationMethod": "scitoken"},
        {"Name": "c@g@f", "EntryName": "c", "GLIDEIN_SupportedAuthenticationMethod": "bogus"},
        {"Name": "d@g@f", "EntryName": "d", "GLIDEIN_SupportedAuthenticationMethod": "grid_proxy"},
    ]
    a, b, d = frontend_ads.find_targets(["a", "b", "d"], entry_ads, keys)
    assert (a.proxy_param, a.auth_method, a.trust_domain) == ("SubmitProxy", "grid_proxy", "Grid")
    assert (b.proxy_param, d.proxy_param) == ("GlideinProxy", "SubmitProxy")
    with pytest.raises(frontend_ads.SimError, match="not found"):
        frontend_ads.find_targets(["c"], entry_ads, keys)  # upstream 3.11 would raise: skipped
    assert [frontend_ads.safe_true(v) for v in (True, "TRUE", "true", False, "False", None)] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
