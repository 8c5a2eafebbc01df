"""The browsing pages: interactive graphs, the RRD browser and the entry x frontend matrix.

* factoryGraphs.html: choose entry (or all), frontend (or all) and range; graphs.js draws
  the graphs_<range>.js data (lib/monitoring_graphs.py) with the vendored uPlot. Without
  JavaScript the page says where the PNG graphs are.
* factoryRRDBrowse.html: the factory's folders with RRDs (total, per frontend) and each
  entry's, their RRD files and a link to their graphs.
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
from glideinwms_factory.lib.monitoring_rrd import RRD_NAMES
from glideinwms_factory.page_html import Footer, html_page, table

# vendored from the npm registry (uplot, MIT): see web_base/monitor/vendor/README
CHART_SCRIPT, CHART_STYLE = "vendor/uPlot.iife.min.js", "vendor/uPlot.min.css"
GRAPH_BOXES = ("status", "requested", "client", "completed", "lifetime", "waste", "rejected")


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


def _rrd_links(relative: str) -> Any:
    links: list[Any] = []
    for name in RRD_NAMES:
        links += [E.A(name, href=quote(f"{relative}/{name}.rrd")), " "]
    return E.SPAN(*links)


def rrd_browse_page(root: Path, totals: FactoryTotals, footer: Footer) -> bytes:
    """One row per folder with RRDs: the factory's (total and per frontend) and each
    entry's total; an entry's per-frontend folders are listed by name, their graphs are
    a click away in the matrix. Built from the totals, so no folder is listed twice."""
    rows: list[list[Any]] = []
    if (root / "total").is_dir():
        rows.append(["all entries", "all frontends", _rrd_links("total"), "", _graphs()])
        for client in sorted(totals.clients):
            folder = f"total/frontend_{client}"
            rows.append(["all entries", client, _rrd_links(folder), "", _graphs("", client)])
    for name, entry in sorted(totals.entries.items()):
        frontends: list[Any] = []
        for client in sorted(entry.clients):
            href = quote(f"entry_{name}/frontend_{client}/{RRD_NAMES[0]}.rrd")
            frontends += [E.A(client, href=href), " "]
        rows.append(
            [
                name,
                "all frontends",
                _rrd_links(f"entry_{name}/total"),
                E.SPAN(*frontends),
                _graphs(name),
            ]
        )
    headers = ["Entry", "Frontend", "RRD files", "Per-frontend Status RRDs", "Graphs"]
    content = [
        E.P("Every monitoring folder with history: its round-robin databases and its graphs."),
        *table("rrds", headers, rows),
    ]
    return html_page("RRD browser", 0, totals.updated, *content, footer=footer)


def _graphs(entry: str = "", frontend: str = "") -> Any:
    return E.A("graphs", href=graphs_link(entry, frontend))


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
