"""The ads an entry publishes: `glidefactory` (one per entry) and `glidefactoryclient`
(one per client served this cycle), with the attributes of classads.md §1 and §3.

Pure functions of the entry's config and this cycle's numbers; the daemon sends them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import classad2

from glideinwms_factory.entry.config import EntryConfig
from glideinwms_factory.lib.classad import VERSION, wire_name
from glideinwms_factory.lib.descript import SignatureLine
from glideinwms_factory.lib.factory_key import FactoryKey
from glideinwms_factory.lib.monitoring_model import ClientStats
from glideinwms_factory.lib.pool.submit_text import IDENTIFIER, literal

_LIMIT_KINDS = ("Glideins", "Idle", "Held")


@dataclass(frozen=True)
class Staging:
    """The signature lines (WORK/signatures.sha1) of the main and the entry staging areas."""

    main: SignatureLine
    entry: SignatureLine


def _ad_value(value: object) -> object:
    """ClassAds take str/int/float/bool; anything else (lists, dicts) goes as its text."""
    if isinstance(value, (str, bool, int, float)):
        return value
    return str(value)


def _limits(entry: EntryConfig) -> dict[str, object]:
    limits = entry.limits
    attrs: dict[str, object] = {
        "GlideinConfigPerEntryMaxGlideins": limits.max_glideins,
        "GlideinConfigPerEntryMaxIdle": limits.max_idle,
        "GlideinConfigPerEntryMaxHeld": limits.max_held,
        "GlideinConfigDefaultPerFrontendMaxGlideins": limits.default_frontend.glideins,
        "GlideinConfigDefaultPerFrontendMaxIdle": limits.default_frontend.idle,
        "GlideinConfigDefaultPerFrontendMaxHeld": limits.default_frontend.held,
    }
    for kind in _LIMIT_KINDS:
        attrs[f"GlideinConfigPerFrontendMax{kind}"] = ",".join(
            f"{name}={getattr(fl, kind.lower())}"
            for name, fl in sorted(limits.per_frontend.items())
        )
    return attrs


def _auth_flags(entry: EntryConfig) -> dict[str, str]:
    """Strings, as upstream's factory publishes them: "True" twice whenever `grid_proxy`
    is named (even as one alternative). 3.10+ Frontends no longer query them."""
    if "grid_proxy" in entry.auth.words:
        return {
            "GlideinAllowx509_Proxy": "True",
            "GlideinRequirex509_Proxy": "True",
            "GlideinRequireGlideinProxy": "False",
        }
    return {
        "GlideinAllowx509_Proxy": "False",
        "GlideinRequirex509_Proxy": "False",
        "GlideinRequireGlideinProxy": "True",
    }


def _entry_attributes(entry: EntryConfig) -> dict[str, object]:
    """The entry's published attributes (no prefix) and its attributes from job.descript."""
    attrs: dict[str, object] = {
        "GLIDEIN_Gatekeeper": entry.job.gatekeeper,
        "GLIDEIN_GridType": entry.job.grid_type,
        "GLIDEIN_REQUIRE_VOMS": entry.job.require_voms_proxy,
        "GLIDEIN_TrustDomain": entry.job.trust_domain,
        "GLIDEIN_SupportedAuthenticationMethod": entry.job.auth_method,
        "GLIDEIN_SlotsLayout": entry.job.slots_layout,
        "GLIDEIN_WorkDir": entry.job.startup_dir,
        "GLIDEIN_Verbosity": entry.job.verbosity,
    }
    for value, attr in (
        (entry.job.globus_rsl, "GLIDEIN_GlobusRSL"),
        (entry.job.bosco_dir, "GLIDEIN_BoscoDir"),
        (entry.job.proxy_url, "GLIDEIN_ProxyURL"),
    ):
        if value:
            attrs[attr] = value
    attrs.update(entry.attributes)
    # Frontends parse it (classads.md §1): never the operator's raw spelling.
    attrs["GLIDEIN_SupportedAuthenticationMethod"] = entry.auth.canonical
    return attrs


def factory_ad(
    entry: EntryConfig,
    key: FactoryKey,
    staging: Staging,
    *,
    start_time: int,
    sequence: int,
    in_downtime: bool,
    downtime_comment: str,
    total: ClientStats,
    completed_jobs: Mapping[str, int],
    queue_problem: str = "",
) -> classad2.ClassAd:
    """The `glidefactory` ad of one entry (classads.md §1); `completed_jobs` holds the
    `GlideinMonitorCompletedJobsPer*` attributes of the last aggregation (empty if stale);
    `GlideinQueueProblem` says why this cycle acted on nothing ("" when it could)."""
    factory = entry.factory
    attrs: dict[str, object] = {
        "MyType": "glidefactory",
        "GlideinMyType": "glidefactory",
        "Name": entry.ad_name,
        "FactoryName": factory.factory_name,
        "GlideinName": factory.glidein_name,
        "EntryName": entry.name,
        "GlideinWMSVersion": VERSION,
        "DaemonStartTime": start_time,
        "UpdateSequenceNumber": sequence,
        "SupportedSignTypes": factory.descript.supported_sign_types,
        **key.ad_attributes(),
        **_auth_flags(entry),
        **_entry_attributes(entry),
        "GLIDEIN_In_Downtime": in_downtime,
        "GLIDEIN_Downtime_Comment": downtime_comment if in_downtime else "",
        "WebURL": factory.web_url,
        "WebSignType": "sha1",
        "WebDescriptFile": staging.main.description,
        "WebDescriptSign": staging.main.digest,
        "WebEntryDescriptFile": staging.entry.description,
        "WebEntryDescriptSign": staging.entry.digest,
        **_limits(entry),
        "GlideinQueueProblem": queue_problem,
    }
    attrs.update({f"GlideinParam{wire_name(k)}": v for k, v in entry.params.items()})
    attrs.update({f"GlideinSubmit{wire_name(k)}": v for k, v in entry.submit_attrs.items()})
    attrs.update(total.monitor_attributes("GlideinMonitorTotal"))
    attrs.update(completed_jobs)
    return _to_ad(attrs)


def client_ad(
    entry: EntryConfig,
    *,
    req_name: str,
    client_name: str,
    sequence: int,
    client: ClientStats,
    total: ClientStats,
    params: Mapping[str, Any],
    limits_reached: Mapping[str, str],
    protocol: str = "3.10",
    in_downtime: bool = False,
) -> classad2.ClassAd:
    """The `glidefactoryclient` ad of one client of this entry (classads.md §3), its
    numbers summed over the client's credentials by the caller.

    `GlideinRequestProtocol` says which Frontend line ("3.10", "3.11") sent the request.
    """
    factory = entry.factory
    attrs: dict[str, object] = {
        "MyType": "glidefactoryclient",
        "GlideinMyType": "glidefactoryclient",
        "Name": f"{req_name}@{client_name}",
        "GlideinWMSVersion": VERSION,
        "UpdateSequenceNumber": sequence,
        "ReqGlidein": entry.ad_name,
        "ReqFactoryName": factory.factory_name,
        "ReqGlideinName": factory.glidein_name,
        "ReqEntryName": entry.name,
        "ReqClientName": client_name,
        "ReqClientReqName": req_name,
        "GlideinRequestProtocol": protocol,
        **_entry_attributes(entry),
        "GLIDEIN_In_Downtime": in_downtime,
    }
    # The effective parameters: entry defaults, overridden by the client's own.
    effective = {**entry.params, **params}
    attrs.update({f"GlideinParam{wire_name(k)}": v for k, v in effective.items()})
    attrs.update(client.monitor_attributes("GlideinMonitor"))
    attrs.update(total.monitor_attributes("GlideinMonitorTotal"))
    attrs.update(limits_reached)
    return _to_ad(attrs)


def _to_ad(attrs: Mapping[str, object]) -> classad2.ClassAd:
    """The ad in one parse of its text (an entry group sends thousands of ~80-attribute
    ads a cycle; setting them one by one cost 4x more). A name that is not a plain
    identifier, or a value without a literal, is set on its own, never spliced in."""
    texts, apart = [], {}
    for name, value in attrs.items():
        wire, plain = wire_name(name), _ad_value(value)
        try:
            if not IDENTIFIER.fullmatch(wire):
                raise ValueError(wire)
            texts.append(f"{wire} = {literal(plain)}")
        except ValueError:
            apart[wire] = plain
    ad = classad2.ClassAd("[" + "; ".join(texts) + "]")
    for wire, plain in apart.items():
        ad[wire] = plain
    return ad


def invalidate_constraints(entry: EntryConfig) -> list[tuple[str, str]]:
    """(command, constraint) pairs that drop this entry's ads (classads.md §6)."""
    name = classad2.quote(entry.ad_name)
    return [
        (
            "INVALIDATE_ADS_GENERIC",
            f'(Name == {name}) && (GlideinMyType == "glidefactory")',
        ),
        (
            "INVALIDATE_LICENSE_ADS",
            f'(ReqGlidein == {name}) && (GlideinMyType == "glidefactoryclient")',
        ),
    ]
