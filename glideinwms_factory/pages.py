"""Static monitoring pages and PNG graphs, regenerated after every aggregation.

Any web server (or a browser on file://) can show MONITOR: plain HTML tables that read
the same with JavaScript off, PNG graphs drawn by `rrdtool graph` from the RRDs, and a
little script (web_base/monitor/sort.js) that sorts and filters tables when it can run.
Upstream draws graphs in the browser from the RRD files; PNGs need no script at all.

Pages (all linked from every page's navigation bar):
  index.html                  factory status now: totals, graphs, downtimes, errors
  factoryGraphs.html          interactive graphs: entry, frontend, range (page_browse.py)
  factoryEntryStatusNow.html  one row per entry, linking entry_<e>/status.html
  factoryFrontendStatus.html  one section per frontend client, across entries
  factoryRRDEntryMatrix.html  entry x frontend glideins, linking their graphs
  factoryCompletedStats.html  completed glideins of the last cycle, hour, day and week
  factoryLogStatus.html       glidein movements between states, per entry
  factoryRRDBrowse.html       every folder with RRDs, its files and graphs
All text goes through lxml's HTML builder, so names and comments are escaped. The
config's monitor_footer (from descript.xml) closes every page.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import lxml.html.builder as E

from glideinwms_factory.aggregate import aggregate
from glideinwms_factory.lib.atomicfile import atomic_write
from glideinwms_factory.lib.metrics import write_metrics
from glideinwms_factory.lib.monitoring_model import (
    ENTERED,
    JOBS_BUCKETS,
    LOG_STATES,
    MILL_BUCKETS,
    TIME_BUCKETS,
    WASTE_KINDS,
    ClientLog,
    EntrySnapshot,
    FactoryTotals,
)
from glideinwms_factory.lib.monitoring_rrd import HISTORY_WINDOWS
from glideinwms_factory.lib.rrd import RRDError, RRDTool
from glideinwms_factory.page_browse import (
    CHART_SCRIPT,
    CHART_STYLE,
    entry_matrix_page,
    graphs_link,
    graphs_page,
    rrd_browse_page,
)
from glideinwms_factory.page_graphs import DAY, WEEK, completed_graph, status_graph
from glideinwms_factory.page_html import (
    STATUS_HEADERS,
    html_page,
    img,
    read_footer,
    status_row,
    table,
)

log = logging.getLogger(__name__)

ASSETS = (
    "monitor.css",
    "favicon.svg",
    "sort.js",
    "graphs.js",
    CHART_SCRIPT,
    CHART_STYLE,
    "vendor/uPlot.LICENSE",
)


@dataclass(frozen=True)
class EntryDownState:
    """An entry's downtime state as the pages show it."""

    down: bool
    comment: str = ""


# --- the pages ---------------------------------------------------------------------------


class PageWriter:
    """Writes the pages and graphs of one monitoring area."""

    def __init__(
        self, monitor_dir: Path, rrd: RRDTool | None = None, factory_name: str = ""
    ) -> None:
        self.root = Path(monitor_dir)
        self.rrd = rrd or RRDTool()
        self.factory_name = factory_name
        self.footer = read_footer(self.root)

    def write(
        self,
        totals: FactoryTotals,
        downtimes: Mapping[str, tuple[bool, str]] | None = None,
        graphs: bool = True,
    ) -> list[Path]:
        """Regenerate everything; returns the pages written."""
        self._copy_assets()
        states = self._downtimes(totals, downtimes or {})
        end = int(totals.updated)
        images = self.root / "images"
        images.mkdir(parents=True, exist_ok=True)
        total_graphs = []
        if graphs:
            for label, span in (("day", DAY), ("week", WEEK)):
                png = images / f"total_status_{label}.png"
                if status_graph(
                    self.rrd,
                    self.root / "total" / "Status_Attributes.rrd",
                    png,
                    f"All entries, last {label}",
                    end,
                    span,
                ):
                    total_graphs.append(png)
            png = images / "total_completed_week.png"
            if completed_graph(self.rrd, self.root / "total" / "Log_Completed_Stats.rrd", png, end):
                total_graphs.append(png)
        written = [
            self._index(totals, states, total_graphs),
            self._entries(totals, states),
            self._frontends(totals, end, graphs),
            self._completed(totals, total_graphs),
            self._log_status(totals),
            self._write("factoryGraphs.html", graphs_page(totals, self.footer)),
            self._write("factoryRRDBrowse.html", rrd_browse_page(self.root, totals, self.footer)),
            self._write("factoryRRDEntryMatrix.html", entry_matrix_page(totals, self.footer)),
        ]
        for name, entry in totals.entries.items():
            written.append(self._entry_page(entry, states[name], totals.updated, end, graphs))
        return written

    def _copy_assets(self) -> None:
        folder = resources.files("glideinwms_factory.web_base").joinpath("monitor")
        for asset in ASSETS:
            target = self.root / asset
            with resources.as_file(folder.joinpath(*asset.split("/"))) as source:
                if not target.exists() or target.stat().st_mtime < source.stat().st_mtime:
                    atomic_write(target, source.read_bytes(), make_parents=True)

    @staticmethod
    def _downtimes(
        totals: FactoryTotals, given: Mapping[str, tuple[bool, str]]
    ) -> dict[str, EntryDownState]:
        """The given state where known, else what the entry last wrote."""
        result = {}
        for name, entry in totals.entries.items():
            down, comment = given.get(name, (entry.downtime, ""))
            result[name] = EntryDownState(bool(down), comment)
        return result

    def _write(self, relative: str, data: bytes) -> Path:
        """Atomic but not synced: every cycle writes every page again (~500), and a page
        lost in a crash is rewritten by the next cycle."""
        path = self.root / relative
        atomic_write(path, data, fsync=False, make_parents=True)
        return path

    def _index(
        self, totals: FactoryTotals, states: Mapping[str, EntryDownState], graphs: list[Path]
    ) -> Path:
        total = totals.total
        title = f"Factory {self.factory_name} status".replace("  ", " ")
        groups = []
        for group, values in total.groups().items():
            groups += [
                E.H3(group),
                *table(f"total_{group}", ["", *values], [["all entries", *values.values()]]),
            ]
        down = [
            E.LI(
                E.A(name, href=f"entry_{quote(name)}/status.html"),
                f" — {state.comment}" if state.comment else "",
            )
            for name, state in sorted(states.items())
            if state.down
        ]
        content = [
            E.P(
                f"{len(totals.entries)} entries reporting, {len(totals.clients)} frontend clients, "
                f"{sum(1 for s in states.values() if s.down)} entries in downtime."
            ),
            E.H2("Glideins now"),
            *groups,
            E.H2("Graphs"),
            E.DIV(
                *[img(f"images/{p.name}", p.stem) for p in graphs] or [E.P("No history yet.")],
                E.CLASS("graphs"),
            ),
            E.H2("Entries in downtime"),
            E.UL(*down) if down else E.P("None."),
        ]
        if totals.errors:
            content += [
                E.H2("Entries without readable statistics"),
                E.UL(
                    *[
                        E.LI(f"{name}: {error}", E.CLASS("error"))
                        for name, error in sorted(totals.errors.items())
                    ]
                ),
            ]
        return self._write(
            "index.html", html_page(title, 0, totals.updated, *content, footer=self.footer)
        )

    def _entries(self, totals: FactoryTotals, states: Mapping[str, EntryDownState]) -> Path:
        rows, down_rows = [], set()
        for index, (name, entry) in enumerate(sorted(totals.entries.items())):
            state = states[name]
            link = E.A(name, href=f"entry_{quote(name)}/status.html")
            age = max(int(totals.updated - entry.updated), 0)
            rows.append(
                [
                    link,
                    *status_row(name, entry.total)[1:],
                    "down" if state.down else "up",
                    state.comment,
                    age,
                ]
            )
            if state.down:
                down_rows.add(index)
        headers = ["Entry", *STATUS_HEADERS, "State", "Downtime comment", "Stats age (s)"]
        content = table("entries", headers, rows, down_rows)
        return self._write(
            "factoryEntryStatusNow.html",
            html_page("Entries now", 0, totals.updated, *content, footer=self.footer),
        )

    def _frontends(self, totals: FactoryTotals, end: int, graphs: bool) -> Path:
        content = []
        summary = [status_row(name, stats) for name, stats in sorted(totals.clients.items())]
        content += [
            E.H2("All frontend clients"),
            *table("frontends", ["Client", *STATUS_HEADERS], summary),
        ]
        for name in sorted(totals.clients):
            rows = [
                status_row(entry_name, entry.clients[name])
                for entry_name, entry in sorted(totals.entries.items())
                if name in entry.clients
            ]
            png = self.root / "images" / f"frontend_{name}_day.png"
            rrd = self.root / "total" / f"frontend_{name}" / "Status_Attributes.rrd"
            section = [E.H2(f"Client {name}", id=f"client_{name}")]
            if graphs and status_graph(self.rrd, rrd, png, f"{name}, last day", end, DAY):
                section.append(
                    E.DIV(img(f"images/{quote(png.name)}", f"{name} status"), E.CLASS("graphs"))
                )
            content += [*section, *table(f"fe_{len(content)}", ["Entry", *STATUS_HEADERS], rows)]
        return self._write(
            "factoryFrontendStatus.html",
            html_page("Frontend clients", 0, totals.updated, *content, footer=self.footer),
        )

    def _completed(self, totals: FactoryTotals, graphs: list[Path]) -> Path:
        def rows_of(getter: Callable[[ClientLog], Mapping[str, Any]]) -> list[list[Any]]:
            rows = [
                [name, *getter(entry.total_log).values()]
                for name, entry in sorted(totals.entries.items())
            ]
            return [*rows, ["all entries", *getter(totals.total_log).values()]]

        completed = totals.total_log.completed
        day = totals.history.get("day")
        content = [
            E.P(
                "Glideins that left the queue; times in seconds, waste in per mill of the"
                " glidein's time. The last hour, day and week are summed from the RRDs."
            ),
            E.DIV(
                *[img(f"images/{p.name}", p.stem) for p in graphs if "completed" in p.name],
                E.CLASS("graphs"),
            ),
            E.H2("All entries over the last hour, day and week"),
            *table(
                "history",
                ["Window", *completed.sums],
                [
                    [w, *totals.history[w].sums.values()]
                    for w in HISTORY_WINDOWS
                    if w in totals.history
                ],
            ),
        ]
        if day is not None:
            content += [
                E.H2("Per entry, last day"),
                *table(
                    "sums_day",
                    ["Entry", *day.sums],
                    [
                        [
                            E.A(name, href=graphs_link(name)),
                            *entry.history["day"].sums.values(),
                        ]
                        for name, entry in sorted(totals.entries.items())
                        if "day" in entry.history
                    ],
                ),
                E.H2("Per frontend client, last day"),
                *table(
                    "frontends_day",
                    ["Client", *day.sums],
                    [
                        [name, *history["day"].sums.values()]
                        for name, history in sorted(totals.client_history.items())
                    ],
                ),
                E.H2("Glidein lifetime, last day"),
                *table("lasted_day", ["", *TIME_BUCKETS], [["all entries", *day.lasted.values()]]),
                E.H2("Jobs per glidein, last day"),
                *table("jobsnr_day", ["", *JOBS_BUCKETS], [["all entries", *day.jobs_nr.values()]]),
                E.H2("Glidein seconds by waste fraction, last day"),
                *table(
                    "wastetime_day",
                    ["Waste", *MILL_BUCKETS],
                    [[kind, *day.waste_time[kind].values()] for kind in WASTE_KINDS],
                ),
            ]
        content += [
            E.H2("Last cycle: how many and how long"),
            *table("sums", ["Entry", *completed.sums], rows_of(lambda c: c.completed.sums)),
            E.H2("Last cycle: glidein lifetime"),
            *table("lasted", ["Entry", *TIME_BUCKETS], rows_of(lambda c: c.completed.lasted)),
            E.H2("Last cycle: jobs per glidein"),
            *table("jobsnr", ["Entry", *JOBS_BUCKETS], rows_of(lambda c: c.completed.jobs_nr)),
            E.H2("Last cycle: how they ended"),
            *table(
                "waste",
                ["Waste", *MILL_BUCKETS],
                [[kind, *completed.waste[kind].values()] for kind in WASTE_KINDS],
            ),
        ]
        return self._write(
            "factoryCompletedStats.html",
            html_page("Completed glideins", 0, totals.updated, *content, footer=self.footer),
        )

    def _log_status(self, totals: FactoryTotals) -> Path:
        headers = [
            "Entry",
            *LOG_STATES,
            *(f"+{s}" for s in ENTERED),
            *(f"-{s}" for s in LOG_STATES),
        ]

        def row(name: str, one: ClientLog) -> list[Any]:
            return [name, *one.current.values(), *one.entered.values(), *one.exited.values()]

        rows = [row(name, entry.total_log) for name, entry in sorted(totals.entries.items())]
        rows.append(row("all entries", totals.total_log))
        content = [
            E.P(
                "Glideins now in each state, and how many entered (+) or left (-) a state"
                " in the last cycle."
            ),
            *table("logs", headers, rows),
        ]
        return self._write(
            "factoryLogStatus.html",
            html_page("Glidein movements", 0, totals.updated, *content, footer=self.footer),
        )

    def _entry_page(
        self, entry: EntrySnapshot, state: EntryDownState, updated: float, end: int, graphs: bool
    ) -> Path:
        folder = f"entry_{entry.name}"
        rows = [status_row(name, stats) for name, stats in sorted(entry.clients.items())]
        rows.append(status_row("total", entry.total))
        status = (
            f"In downtime: {state.comment or 'no comment'}" if state.down else "Not in downtime."
        )
        content = [
            E.P(status, E.CLASS("error") if state.down else E.CLASS("muted")),
            E.P(E.A("Interactive graphs of this entry", href=graphs_link(entry.name, depth=1))),
            *table("clients", ["Client", *STATUS_HEADERS], rows),
        ]
        rejected = entry.total.rejected
        if rejected:
            content += [
                E.H2("Rejected requests (last cycle)"),
                *table("rejected", ["Reason", "Count"], sorted(rejected.items())),
            ]
        if graphs:
            png = self.root / folder / "status_day.png"
            if status_graph(
                self.rrd,
                self.root / folder / "total" / "Status_Attributes.rrd",
                png,
                f"{entry.name}, last day",
                end,
                DAY,
            ):
                content.append(E.DIV(img("status_day.png", "status graph"), E.CLASS("graphs")))
        return self._write(
            f"{folder}/status.html",
            html_page(f"Entry {entry.name}", 1, updated, *content, footer=self.footer),
        )


def publish(
    monitor_dir: Path,
    entries: Sequence[str],
    downtimes: Mapping[str, tuple[bool, str]] | None = None,
    factory_name: str = "",
    now: float | None = None,
    rrd: RRDTool | None = None,
    stale_after: float | None = None,
    restarts: Mapping[str, int] | None = None,
) -> FactoryTotals:
    """One monitoring cycle of the factory daemon: aggregate, metrics.prom, pages, graphs.

    `restarts`: entry daemon restarts by daemon name, for the metrics.
    Returns the totals for the glidefactory ads (`GlideinMonitorTotal*`, completed jobs).
    """
    tool = rrd or RRDTool()
    totals = aggregate(monitor_dir, entries, now=now, rrd=tool, stale_after=stale_after)
    write_metrics(Path(monitor_dir) / "metrics.prom", totals, restarts)
    PageWriter(monitor_dir, tool, factory_name).write(totals, downtimes)
    return totals


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m glideinwms_factory.pages MONITOR_DIR [ENTRY ...]`: one cycle by hand
    (entries default to every entry_<e> folder there)."""
    parser = argparse.ArgumentParser(
        prog="python -m glideinwms_factory.pages", description=main.__doc__
    )
    parser.add_argument("monitor_dir", type=Path)
    parser.add_argument("entries", nargs="*")
    parser.add_argument("--factory-name", default="")
    args = parser.parse_args(argv)
    if not args.monitor_dir.is_dir():
        print(f"{parser.prog}: {args.monitor_dir} is not a directory", file=sys.stderr)
        return 1
    entries = args.entries or sorted(
        p.name.removeprefix("entry_") for p in args.monitor_dir.glob("entry_*") if p.is_dir()
    )
    try:
        totals = publish(args.monitor_dir, entries, factory_name=args.factory_name)
    except (OSError, RRDError) as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 1
    print(
        f"{len(totals.entries)} entries aggregated, {len(totals.errors)} unreadable: "
        f"{args.monitor_dir / 'index.html'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
