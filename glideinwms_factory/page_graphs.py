"""The PNG graphs of the monitoring pages, drawn by `rrdtool graph` from the RRDs."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from glideinwms_factory.lib.monitoring_model import TIME_BUCKETS
from glideinwms_factory.lib.rrd import RRDError, RRDTool

log = logging.getLogger(__name__)

DAY, WEEK = 86400, 604800
# what the status graphs draw: (RRD data source, colour, legend)
STATUS_LINES = (
    ("StatusIdle", "#1f77b4", "Idle"),
    ("StatusRunning", "#2ca02c", "Running"),
    ("StatusHeld", "#d62728", "Held"),
    ("ReqIdle", "#ff7f0e", "Requested idle"),
)


def _rrd_ref(path: Path) -> str:
    """A file name inside a DEF: rrdtool splits DEFs on ':' so those are escaped."""
    return str(path).replace(":", "\\:")


def _frame(start: int, end: int, title: str, label: str) -> list[str]:
    """The graph arguments every PNG shares."""
    return [
        *("--start", str(start), "--end", str(end), "--title", title),
        *("--vertical-label", label, "--width", "500", "--height", "150", "--lower-limit", "0"),
    ]


REDRAW_AFTER = 300  # seconds: the PNGs show 5-minute rows at best


def _fresh(png: Path) -> bool:
    """Drawn less than REDRAW_AFTER ago (wall clock): a redraw would show the same rows."""
    try:
        return time.time() - png.stat().st_mtime < REDRAW_AFTER
    except OSError:
        return False


def status_graph(tool: RRDTool, rrd: Path, png: Path, title: str, end: int, span: int) -> bool:
    """Draw (or keep, if fresh) a status PNG; False when there is no RRD or it failed."""
    if not rrd.exists():
        return False
    if _fresh(png):
        return True
    args = _frame(end - span, end, title, "glideins")
    for name, colour, legend in STATUS_LINES:
        args += [f"DEF:{name}={_rrd_ref(rrd)}:{name}:AVERAGE", f"LINE2:{name}{colour}:{legend}"]
    return _draw(tool, png, args)


def completed_graph(tool: RRDTool, rrd: Path, png: Path, end: int) -> bool:
    """Completed glideins per 5 minutes, stacked by how long they lasted."""
    if not rrd.exists():
        return False
    if _fresh(png):
        return True
    args = _frame(end - WEEK, end, "Completed glideins by lifetime", "per 5 min")
    colours = ("#999999", "#9467bd", "#1f77b4", "#17becf", "#2ca02c", "#bcbd22", "#ff7f0e")
    for bucket, colour in zip(TIME_BUCKETS, colours, strict=True):
        ds = f"Lasted_{bucket}"
        args += [f"DEF:r{bucket}={_rrd_ref(rrd)}:{ds}:AVERAGE", f"CDEF:c{bucket}=r{bucket},300,*"]
        args.append(f"AREA:c{bucket}{colour}:{bucket}:STACK")
    return _draw(tool, png, args)


def _draw(tool: RRDTool, png: Path, args: Sequence[str]) -> bool:
    try:
        tool.graph(png, args)
    except RRDError as exc:
        log.warning("graph %s not drawn: %s", png, exc)
        return False
    return True
