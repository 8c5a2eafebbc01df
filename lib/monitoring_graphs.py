"""Graph data for the browser: series read from the RRDs, written as small script files.

Beside the RRDs of every monitoring folder (factory `total/`, `total/frontend_<c>/`, entry
`entry_<e>/total/`, `entry_<e>/frontend_<c>/`) `write_graph_data` writes one
`graphs_<range>.js` per range in `RANGES`. Each is a single call
`gwmsGraphData({...});` so a page opened from file:// can load it with a `<script>` tag
(browsers refuse fetch() there) and the factory web server serves it unchanged. The object:

    {"range": "6h", "end": unix seconds, "step": 60, "t": [unix seconds...],
     "graphs": {"status": {"StatusIdle": [..], ...}, "requested": {...}, ...}}

Levels (Status_Attributes) are the RRD means; completions are per row (an ABSOLUTE rate x
the row length): glideins by lifetime, glidein hours by badput fraction, and rejected
requests by reason (monitoring_rejected). Unknown rows are
null, which the chart draws as a gap. A file is rewritten only when its range has a new
row (its `end` moved): the 1-minute ranges every minute, a year every 12 hours.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from glideinwms_factory.lib.atomicfile import atomic_write
from glideinwms_factory.lib.monitoring_model import MILL_BUCKETS, TIME_BUCKETS
from glideinwms_factory.lib.monitoring_rejected import rejected_series
from glideinwms_factory.lib.rrd import RRDError, RRDTool, resolution_for

log = logging.getLogger(__name__)

RANGES = {
    "1h": 3600,
    "6h": 6 * 3600,
    "day": 86400,
    "week": 7 * 86400,
    "month": 31 * 86400,
    "year": 365 * 86400,
}
# graph -> (RRD, data sources, per-row factor: None for levels, else rate x step / factor)
GRAPHS: dict[str, tuple[str, tuple[str, ...], float | None]] = {
    "status": (
        "Status_Attributes",
        tuple(
            f"Status{s}"
            for s in ("Idle", "Running", "Held", "Wait", "Pending", "StageIn", "StageOut")
        ),
        None,
    ),
    "requested": ("Status_Attributes", ("ReqIdle", "ReqMaxGlideins"), None),
    "client": (
        "Status_Attributes",
        tuple(
            f"Client{s}"
            for s in ("JobsIdle", "JobsRunning", "JobsRunHere", "GlideIdle", "GlideRunning")
        ),
        None,
    ),
    "completed": ("Log_Completed", ("Glideins", "FailedNr"), 1.0),
    "lifetime": ("Log_Completed_Stats", tuple(f"Lasted_{b}" for b in TIME_BUCKETS), 1.0),
    "waste": ("Log_Completed_WasteTime", tuple(f"badput_{b}" for b in MILL_BUCKETS), 3600.0),
}
FILE, PREFIX = "graphs_{range}.js", "gwmsGraphData("


def _round(value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return None
    return round(value, 3)


def _end(range_name: str, now: int) -> int:
    """The last row boundary of a range's archive at `now`."""
    resolution = resolution_for(RANGES[range_name])
    return now - now % resolution


def graph_data(tool: RRDTool, folder: Path, range_name: str, now: int) -> dict | None:
    """The object of one range (see the module docstring); None without a Status RRD."""
    period = RANGES[range_name]
    resolution = resolution_for(period)
    end = _end(range_name, now)
    times: list[int] = []
    graphs: dict[str, dict[str, list[float | None]]] = {}
    for graph, (rrd_name, sources, factor) in GRAPHS.items():
        path = folder / f"{rrd_name}.rrd"
        if not path.exists():
            continue
        series = tool.fetch(path, end - period, end, resolution)
        if not times:
            times = [series.start + (i + 1) * series.step for i in range(len(series.rows))]
        rows = series.rows[: len(times)]
        graphs[graph] = {}
        for name in sources:
            if name not in series.names:
                continue
            column = [row[series.names.index(name)] for row in rows]
            if factor is not None:
                column = [None if v is None else v * series.step / factor for v in column]
            graphs[graph][name] = [_round(v) for v in column]
    if "status" not in graphs:
        return None
    rejected = rejected_series(tool, folder, end - period, end, resolution)
    if rejected:
        graphs["rejected"] = {
            reason: [
                None if row[0] is None else _round(row[0] * series.step)
                for row in series.rows[: len(times)]
            ]
            for reason, series in rejected.items()
        }
    # rows before the first known value (an RRD younger than the range) are left out
    columns = [column for one in graphs.values() for column in one.values()]
    first = min(
        (next((i for i, v in enumerate(c) if v is not None), len(times)) for c in columns),
        default=0,
    )
    for one in graphs.values():
        for name in one:
            one[name] = one[name][first:]
    return {
        "range": range_name,
        "end": end,
        "step": resolution,
        "t": times[first:],
        "graphs": graphs,
    }


def write_graph_data(
    tool: RRDTool, folder: Path, now: int, ranges: tuple[str, ...] = tuple(RANGES)
) -> None:
    """`graphs_<range>.js` beside the RRDs in `folder`, those whose range has a new row;
    failures are logged."""
    for range_name in ranges:
        path = folder / FILE.format(range=range_name)
        head = f'{PREFIX}{{"range":"{range_name}","end":{_end(range_name, now)},'
        try:
            with open(path) as handle:
                if handle.read(len(head)) == head:
                    continue
        except OSError:
            pass
        try:
            data = graph_data(tool, folder, range_name, now)
        except RRDError as exc:
            log.warning("graph data %s/%s not written: %s", folder, range_name, exc)
            continue
        if data is not None:
            text = f"{PREFIX}{json.dumps(data, separators=(',', ':'))});\n"
            atomic_write(path, text)
