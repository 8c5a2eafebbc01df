"""Which attributes of a `glideclient` ad find-work reads, and reading only those.

A ClassAd converts a value on every access, and a real Frontend's ad carries many values
find-work never uses (GlideinConfig*, most GlideinMonitor*, web and HA details). A
Frontend's ads keep the same attribute names from cycle to cycle, so each layout of
names is sorted out once (`layout`) and a request then reads just what it needs.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from glideinwms_factory.lib.crypto import ENC_PARAM_PREFIX

PARAM_PREFIX, MONITOR_PREFIX = "GlideinParam", "GlideinMonitor"
# The Frontend's own counts shown in monitoring (classads.md §1): client_monitor name ->
# GlideinMonitor<name>. The other GlideinMonitor* values are not read.
CLIENT_MONITOR = {
    "JobsIdle": "Idle",
    "JobsRunning": "Running",
    "JobsRunHere": "RunningHere",
    "GlideIdle": "GlideinsIdle",
    "GlideRunning": "GlideinsRunning",
    "GlideTotal": "GlideinsTotal",
    "CoresIdle": "GlideinsIdleCores",
    "CoresRunning": "GlideinsRunningCores",
    "CoresTotal": "GlideinsTotalCores",
}
_MONITORED = frozenset(MONITOR_PREFIX + name for name in CLIENT_MONITOR.values())
# The plain attributes the checks and the WorkRequest read (security.md §4); the legacy
# ReqMaxRunningGlideins only when ReqMaxGlideins is not there.
PLAIN = frozenset(
    {
        "Name",
        "ClientName",
        "ReqName",
        "ReqPubKeyID",
        "ReqEncKeyCode",
        "ReqEncIdentity",
        "AuthenticatedIdentity",
        "ReqIdleGlideins",
        "ReqMaxGlideins",
        "ReqMaxRunningGlideins",
        "ReqRemoveExcess",
        "ReqRemoveExcessMargin",
        "ReqIdleLifetime",
        "WebSignType",
        "WebURL",
        "WebDescriptFile",
        "WebDescriptSign",
    }
)
# Read only when the Frontend has a staging area (`WebURL` ... not "None").
STAGING_GROUP = ("WebGroupURL", "WebGroupDescriptFile", "WebGroupDescriptSign", "GroupName")


@dataclass(frozen=True)
class Layout:
    """One layout of attribute names, sorted out for find-work."""

    read: tuple[str, ...]  # the names find-work reads, of those present
    enc: frozenset[str]  # GlideinEncParam<name> short names
    v2: bool  # a retired v2 protocol name among them (x509_proxy_0...)
    params: tuple[tuple[str, str], ...]  # (GlideinParam<name>, name)
    monitor: tuple[tuple[str, str], ...]  # (GlideinMonitor<name>, name), reported ones


@functools.lru_cache(maxsize=256)
def layout(names: tuple[str, ...]) -> Layout:
    """The find-work view of an ad with these attribute names (in the ad's order)."""

    def short(prefix: str) -> tuple[tuple[str, str], ...]:
        return tuple(
            (name, name[len(prefix) :])
            for name in names
            if name.startswith(prefix) and len(name) > len(prefix)
        )

    enc, params = short(ENC_PARAM_PREFIX), short(PARAM_PREFIX)
    monitor = tuple(pair for pair in short(MONITOR_PREFIX) if pair[0] in _MONITORED)
    wanted = PLAIN | {name for name, _ in enc + params + monitor}
    if "ReqMaxGlideins" in names:
        wanted -= {"ReqMaxRunningGlideins"}
    return Layout(
        read=tuple(name for name in names if name in wanted),
        enc=frozenset(name for _, name in enc),
        v2=any(name.startswith("x509_proxy_0") for _, name in enc),
        params=params,
        monitor=monitor,
    )


def read(ad: Mapping[str, Any]) -> tuple[dict[str, Any], Layout]:
    """The values find-work reads from `ad` (each converted once), and its layout."""
    names = layout(tuple(ad))
    return {name: ad[name] for name in names.read}, names
