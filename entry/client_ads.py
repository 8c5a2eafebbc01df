"""The glidefactoryclient ads of one entry iteration: one per client served.

A client with several credentials sends one request each, and the Collector would keep
only the last of ads sharing a Name, so the requests of one client are summed into one ad.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import classad2

from glideinwms_factory.entry import ads
from glideinwms_factory.entry.config import EntryConfig
from glideinwms_factory.entry.decision import Actions
from glideinwms_factory.entry.requests import WorkRequest
from glideinwms_factory.lib.monitoring_model import ClientStats, sum_clients


@dataclass
class Served:
    """One request served this iteration, for its glidefactoryclient ad and stats."""

    request: WorkRequest
    actions: Actions
    stats: ClientStats  # this request's own glideins (C) and numbers


def client_ads(
    entry: EntryConfig,
    served: Iterable[Served],
    total: ClientStats,
    in_downtime: bool,
    sequences: dict[str, int],
) -> list[classad2.ClassAd]:
    """One ad per (ReqName, ClientName); `sequences` counts each ad's updates."""
    by_client: dict[tuple[str, str], list[Served]] = {}
    for item in served:
        by_client.setdefault((item.request.req_name, item.request.client_name), []).append(item)
    result = []
    for (req_name, client_name), items in by_client.items():
        name = f"{req_name}@{client_name}"
        seq = sequences.get(name, 0)
        sequences[name] = seq + 1
        limits_reached: dict[str, str] = {}
        for item in items:
            limits_reached.update(item.actions.limits_reached)
        result.append(
            ads.client_ad(
                entry,
                req_name=req_name,
                client_name=client_name,
                sequence=seq,
                client=sum_clients(item.stats for item in items),
                total=total,
                params=items[0].request.params,
                limits_reached=limits_reached,
                protocol=items[0].request.protocol,
                in_downtime=in_downtime,
            )
        )
    return result
