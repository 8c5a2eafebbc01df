"""HTML building blocks of the monitoring pages: the page frame, sortable tables, cells.

All text goes through lxml's HTML builder, so names and comments are escaped.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lxml.html
import lxml.html.builder as E
from lxml import etree

from glideinwms_factory.lib import xml_stats
from glideinwms_factory.lib.monitoring_model import ClientStats

PAGES = (
    ("index.html", "Factory status"),
    ("factoryGraphs.html", "Graphs"),
    ("factoryEntryStatusNow.html", "Entries"),
    ("factoryFrontendStatus.html", "Frontends"),
    ("factoryRRDEntryMatrix.html", "Entry matrix"),
    ("factoryCompletedStats.html", "Completed glideins"),
    ("factoryLogStatus.html", "Glidein movements"),
    ("factoryRRDBrowse.html", "RRD browser"),
)
STATUS_COLUMNS = ("Idle", "Running", "Held", "Wait", "Pending", "RunningCores")


@dataclass(frozen=True)
class Footer:
    """The config's monitor_footer (MonitorDisplayText, MonitorLink), shown on every page."""

    text: str = ""
    link: str = ""


def read_footer(monitor_dir: Path) -> Footer:
    """The footer from MONITOR/descript.xml (written when the factory starts); none when
    the file is missing or unreadable."""
    try:
        root = xml_stats.parse_file(monitor_dir / "descript.xml", "glideFactoryDescript")
    except xml_stats.StatsFileError:
        return Footer()
    node = root.find("factory")
    if node is None:
        return Footer()
    return Footer(node.get("MonitorDisplayText", ""), node.get("MonitorLink", ""))


def html_page(
    title: str,
    depth: int,
    updated: float,
    *content: Any,
    footer: Footer = Footer(),
    styles: Sequence[str] = (),
    scripts: Sequence[str] = (),
) -> bytes:
    """A full page; `depth` is how many folders below MONITOR it lives (for links);
    `styles` and `scripts` are extra MONITOR-relative assets (loaded after sort.js)."""
    up = "../" * depth
    nav = E.E.nav(*[E.A(label, href=f"{up}{href}") for href, label in PAGES])
    bottom = []
    if footer.text:
        shown = E.A(footer.text, href=footer.link) if footer.link else footer.text
        bottom.append(E.E.footer(shown, E.CLASS("muted")))
    html = E.HTML(
        E.HEAD(
            E.META(charset="utf-8"),
            E.TITLE(title),
            E.LINK(rel="icon", href=f"{up}favicon.svg"),  # else browsers ask for a missing one
            E.LINK(rel="stylesheet", href=f"{up}monitor.css"),
            *[E.LINK(rel="stylesheet", href=f"{up}{style}") for style in styles],
        ),
        E.BODY(
            nav,
            E.H1(title),
            E.P(f"Updated {xml_stats.iso_utc(updated)}", E.CLASS("muted")),
            *content,
            *bottom,
            E.SCRIPT(src=f"{up}sort.js"),
            *[E.SCRIPT(src=f"{up}{script}") for script in scripts],
        ),
    )
    return lxml.html.tostring(html, doctype="<!DOCTYPE html>", encoding="utf-8")


def table(
    table_id: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    down_rows: Container[int] = (),
) -> list[Any]:
    """A sortable table (first column = name); longer ones get a filter box, shown by JS."""
    head = E.THEAD(
        E.TR(
            *[E.TH(h, E.CLASS("name") if i == 0 else E.CLASS("num")) for i, h in enumerate(headers)]
        )
    )
    body = E.TBODY()
    for index, row in enumerate(rows):  # SubElement: E.TD costs ~4x more per cell
        tr = etree.SubElement(body, "tr")
        _td(tr, row[0]).set("class", "name")
        for value in row[1:]:
            _td(tr, value)
        if index in down_rows:
            tr.set("class", "down")
    table = E.TABLE(head, body, E.CLASS("sortable"), id=table_id)
    if len(rows) < 3:
        return [table]
    box = E.INPUT(E.CLASS("filter"), type="search", placeholder="filter rows")
    box.set("data-table", table_id)
    box.set("hidden", "hidden")
    return [box, table]


def _td(tr: Any, value: object) -> Any:
    td = etree.SubElement(tr, "td")
    content = cell(value)
    if isinstance(content, str):
        td.text = content
    else:
        td.append(content)
    return td


def cell(value: object) -> Any:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.1f}"
    return value if isinstance(value, lxml.html.HtmlElement) else str(value)


def img(src: str, alt: str) -> Any:
    return E.IMG(src=src, alt=alt)


def status_row(name: object, stats: ClientStats) -> list[Any]:
    requested = stats.requested or {}
    return [
        name,
        *(stats.status[c] for c in STATUS_COLUMNS),
        requested.get("Idle", ""),
        requested.get("MaxGlideins", ""),
    ]


STATUS_HEADERS = (*STATUS_COLUMNS, "Req. idle", "Req. max")
