"""The browsing pages: interactive graphs, the RRD browser and the entry x frontend matrix.

* factoryGraphs.html: choose entry (or all), frontend (or all) and range; graphs.js draws
  the graphs_<range>.js data (lib/monitoring_graphs.py) with the vendored uPlot. Without
  JavaScript the page says where the PNG graphs are.
* factoryRRDBrowse.html: every monitoring folder with RRDs (factory, frontends, entries,
  entry x frontend), its RRD files and a link to its graphs.
* factoryRRDEntryMatrix.html: one row per entry, one column per frontend client, each
  cell `running / idle / held` linking to the graphs of that pair.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import lxml.html.builder as E

from glideinwms_factory.lib.monitoring_graphs import RANGES
from glideinwms_factory.lib.monitoring_model import FactoryTotals
from glideinwms_factory.page_html import Footer, html_page, table

# vendored from the npm registry (uplot, MIT): see web_base/monitor/vendor/README
CHART_SCRIPT, CHART_STYLE = "vendor/uPlot.iife.min.js", "vendor/uPlot.min.css"
GRAPH_BOXES = ("status", "requested", "client", "completed", "lifetime", "waste")


def graphs_link(entry: str = "", frontend: str = "", depth: int = 0) -> str:
    """The graphs page opened on one entry and/or frontend ("" = all)."""
    query = urlencode({"entry": entry, "frontend": frontend, "range": "6h"})
    return f"{'../' * depth}factoryGraphs.html?{query}"


def _select(name: str, label: str, options: list[str], all_label: str) -> Any:
    select = E.E.select(E.E.option(all_label, value=""), id=f"select-{name}")
    for option in options:
        select.append(E.E.option(option, value=option))
    return E.LABEL(f"{label} ", select)


def graphs_page(totals: FactoryTotals, footer: Footer) -> bytes:
    controls = E.DIV(
        _select("entry", "Entry", sorted(totals.entries), "all entries"),
        " ",
        _select("frontend", "Frontend", sorted(totals.clients), "all frontends"),
        " Range: ",
        *[E.E.button(name, type="button", **{"data-range": name}) for name in RANGES],
        id="graph-controls",
        hidden="hidden",
    )
    content = [
        E.E.noscript(
            E.P(
                "These graphs need JavaScript; the PNG graphs of the ",
                E.A("status page", href="index.html"),
                " and of each entry page need none.",
            )
        ),
        controls,
        E.P("", id="graph-message", **{"class": "muted"}),
        *[E.DIV(E.CLASS("graph"), id=f"graph-{name}") for name in GRAPH_BOXES],
    ]
    return html_page(
        "Graphs",
        0,
        totals.updated,
        *content,
        footer=footer,
        styles=(CHART_STYLE,),
        scripts=(CHART_SCRIPT, "graphs.js"),
    )


def rrd_folders(root: Path, totals: FactoryTotals) -> list[tuple[str, str, Path]]:
    """(entry, frontend, folder) of every monitoring folder holding RRDs ("" = all)."""
    found = [("", "", root / "total")]
    found += [("", c, root / "total" / f"frontend_{c}") for c in sorted(totals.clients)]
    for name, entry in sorted(totals.entries.items()):
        found.append((name, "", root / f"entry_{name}" / "total"))
        found += [
            (name, c, root / f"entry_{name}" / f"frontend_{c}") for c in sorted(entry.clients)
        ]
    return [item for item in found if any(item[2].glob("*.rrd"))]


def rrd_browse_page(root: Path, totals: FactoryTotals, footer: Footer) -> bytes:
    rows = []
    for entry, frontend, folder in rrd_folders(root, totals):
        relative = folder.relative_to(root).as_posix()
        files = [
            E.A(rrd.stem, href=quote(f"{relative}/{rrd.name}"))
            for rrd in sorted(folder.glob("*.rrd"))
        ]
        links: list[Any] = []
        for link in files:
            links += [link, " "]
        rows.append(
            [
                entry or "all entries",
                frontend or "all frontends",
                E.SPAN(*links),
                E.A("graphs", href=graphs_link(entry, frontend)),
            ]
        )
    content = [
        E.P("Every folder with history: its round-robin databases and its graphs."),
        *table("rrds", ["Entry", "Frontend", "RRD files", "Graphs"], rows),
    ]
    return html_page("RRD browser", 0, totals.updated, *content, footer=footer)


def entry_matrix_page(totals: FactoryTotals, footer: Footer) -> bytes:
    clients = sorted(totals.clients)
    rows = []
    for name, entry in sorted(totals.entries.items()):
        row: list[Any] = [E.A(name, href=graphs_link(name))]
        for client in clients:
            stats = entry.clients.get(client)
            if stats is None:
                row.append("")
                continue
            status = stats.status
            text = f"{int(status['Running'])} / {int(status['Idle'])} / {int(status['Held'])}"
            row.append(E.A(text, href=graphs_link(name, client)))
        rows.append(row)
    headers = ["Entry", *clients]
    content = [
        E.P(
            "Glideins running / idle / held for each entry and frontend client;"
            " a cell opens the graphs of that entry and client."
        ),
        *table("matrix", headers, rows),
    ]
    return html_page("Entry x frontend matrix", 0, totals.updated, *content, footer=footer)
