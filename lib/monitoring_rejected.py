"""Rejected requests by reason over time: one RRD per reason in each monitoring folder.

Reasons are free text, so they cannot be data-source names: each reason gets its own
`Rejected_<digest>.rrd` (one ABSOLUTE source, `Requests`) and `rejected_reasons.json`
maps the file name to the reason. Every known reason is updated every cycle (0 when it
did not occur), so a quiet reason reads 0, not unknown; past `MAX_REASONS` reasons in
one folder, new ones count under "other reasons".
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path

from glideinwms_factory.lib.atomicfile import atomic_write
from glideinwms_factory.lib.rrd import DataSource, RRDError, RRDTool, Series

log = logging.getLogger(__name__)

REASONS_FILE = "rejected_reasons.json"
MAX_REASONS = 20
OTHER = "other reasons"
SOURCE = DataSource("Requests", "ABSOLUTE")


def reasons(folder: Path) -> dict[str, str]:
    """RRD file stem -> reason, of the reasons ever seen in `folder`."""
    try:
        data = json.loads((folder / REASONS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def _stem(reason: str) -> str:
    return "Rejected_" + hashlib.sha256(reason.encode()).hexdigest()[:12]


def update_rejected(tool: RRDTool, folder: Path, when: int, rejected: Mapping[str, float]) -> None:
    """Count this cycle's rejections by reason in `folder` (failures are logged)."""
    known = reasons(folder)
    if not known and not any(rejected.values()):
        return
    by_stem: dict[str, float] = {}
    for reason, count in rejected.items():
        stem = _stem(reason)
        if stem not in known and len(known) >= MAX_REASONS:
            reason, stem = OTHER, _stem(OTHER)
        if stem not in known:
            known[stem] = reason
            atomic_write(folder / REASONS_FILE, json.dumps(known), make_parents=True)
        by_stem[stem] = by_stem.get(stem, 0) + count
    for stem in known:
        path = folder / f"{stem}.rrd"
        try:
            tool.ensure(path, [SOURCE], when - 300)
            if tool.last(path) < when:
                tool.update(path, when, {SOURCE.name: by_stem.get(stem, 0)})
        except RRDError as exc:
            log.warning("RRD %s not updated: %s", path, exc)


def rejected_series(
    tool: RRDTool, folder: Path, start: int, end: int, resolution: int
) -> dict[str, Series]:
    """Reason -> its fetched series (rates per second) between `start` and `end`."""
    return {
        reason: tool.fetch(folder / f"{stem}.rrd", start, end, resolution)
        for stem, reason in sorted(reasons(folder).items(), key=lambda item: item[1])
        if (folder / f"{stem}.rrd").exists()
    }
