"""Whether the factories serve the simulator's requests, read from their answers: an entry
publishes a `glidefactoryclient` ad for each request it served in its last cycle
(classads.md §3), and none for a request it skipped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import classad2

from glideinwms_factory.lib.pool import Collector

NOT_SERVED_HINT = (
    "the factory skips a request whose identity, --security-name or --security-class its"
    " frontend.descript does not list, that it cannot decrypt, or that lacks a credential"
    " the entry's auth method needs (--scitoken); its entry log says which"
)


@dataclass(frozen=True)
class Answer:
    """What one entry answered to this client's request."""

    entry: str  # entry@glidein@factory
    served: bool
    text: str


def _int(ad: classad2.ClassAd, name: str) -> int | None:
    value = ad.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def describe(ad: classad2.ClassAd) -> str:
    """The served request as the factory reports it."""
    asked, adjusted = (
        _int(ad, "GlideinMonitorRequestedIdle"),
        _int(ad, "GlideinMonitorRequestedAdjustedIdle"),
    )
    parts = [f"asked idle {asked}" + (f" (adjusted to {adjusted})" if adjusted != asked else "")]
    parts.append(
        f"glideins idle {_int(ad, 'GlideinMonitorStatusIdle') or 0},"
        f" running {_int(ad, 'GlideinMonitorStatusRunning') or 0},"
        f" held {_int(ad, 'GlideinMonitorStatusHeld') or 0}"
    )
    limits = sorted(
        f"{key.removeprefix('GlideinMonitorStatus_GlideFactoryLimit')} ({ad[key]})"
        for key in ad
        if key.startswith("GlideinMonitorStatus_GlideFactoryLimit")
    )
    if limits:
        parts.append("limits reached: " + ", ".join(limits))
    if ad.get("GLIDEIN_In_Downtime") is True:
        parts.append("entry in downtime")
    return "; ".join(parts)


def answers(
    collector: Collector, client_name: str, entries: Sequence[str], since: float
) -> list[Answer]:
    """Per requested entry: served (a glidefactoryclient ad heard since `since`) or not."""
    constraint = (
        '(GlideinMyType =?= "glidefactoryclient") && '
        f"(ReqClientName =?= {classad2.quote(client_name)})"
    )
    fresh = {
        str(ad.get("ReqGlidein")): ad
        for ad in collector.query(constraint)
        if (_int(ad, "LastHeardFrom") or 0) >= since
    }
    result = []
    for entry in entries:
        ad = fresh.get(entry)
        if ad is None:
            text = f"{entry}: not served (no glidefactoryclient ad for {client_name}):"
            result.append(Answer(entry, False, f"{text} {NOT_SERVED_HINT}"))
        else:
            result.append(Answer(entry, True, f"{entry}: served: {describe(ad)}"))
    return result
