"""A cycle's requests as a whole, beside the checks of each ad (`requests`): one ad per
request Name, and the 3.11 requests that vanished since the last cycle."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from glideinwms_factory.entry.accounting import QueueSnapshot, RequestKey
from glideinwms_factory.entry.protocol_311 import PROTOCOL_311
from glideinwms_factory.entry.requests import WorkRequest


def with_vanished(
    requests: Sequence[WorkRequest],
    last_seen: Mapping[RequestKey, WorkRequest],
    snapshot: QueueSnapshot,
    rejected: Iterable[str] = (),
) -> tuple[list[WorkRequest], dict[RequestKey, WorkRequest]]:
    """This cycle's requests plus, for each 3.11 request seen before and gone now, the same
    request for 0 idle while it still has glideins (protocol-311.md §3): a 3.11 Frontend
    stops advertising instead of asking for 0, and the remove-excess rules it last sent
    apply. A request rejected this cycle did not vanish. Returns what to remember next."""
    present = {request.key for request in requests}
    skipped = set(rejected)
    result = list(requests)
    remembered = {r.key: r for r in requests if r.protocol == PROTOCOL_311}
    for key, last in last_seen.items():
        if key in present or not snapshot.request_jobs(key):
            continue
        if last.name in skipped:  # still there, just not valid this cycle: keep in mind
            remembered[key] = last
            continue
        vanished = dataclasses.replace(last, demand=dataclasses.replace(last.demand, idle=0))
        result.append(vanished)
        remembered[key] = vanished
    return result, remembered


def newest_per_name(
    ads: Iterable[Mapping[str, Any]], current_key_id: str
) -> list[Mapping[str, Any]]:
    """One ad per request Name: an ad using the current key wins over an old-key one."""
    chosen: dict[str, Mapping[str, Any]] = {}
    for ad in ads:
        name = str(ad.get("Name", ""))
        previous = chosen.get(name)
        if previous is None or (
            ad.get("ReqPubKeyID") == current_key_id
            and previous.get("ReqPubKeyID") != current_key_id
        ):
            chosen[name] = ad
    return list(chosen.values())
