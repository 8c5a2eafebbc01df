"""HTML building blocks of the monitoring pages: the page frame, sortable tables, cells.

All text goes through lxml's HTML builder, so names and comments are escaped.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any

import lxml.html
import lxml.html.builder as E

from glideinwms_factory.lib import xml_stats
from glideinwms_factory.lib.monitoring_model import ClientStats

PAGES = (
    ("index.html", "Factory status"),
    ("factoryEntryStatusNow.html", "Entries"),
    ("factoryFrontendStatus.html", "Frontends"),
    ("factoryCompletedStats.html", "Completed glideins"),
    ("factoryLogStatus.html", "Glidein movements"),
)
STATUS_COLUMNS = ("Idle", "Running", "Held", "Wait", "Pending", "RunningCores")


def html_page(title: str, depth: int, updated: float, *content: Any) -> bytes:
    """A full page; `depth` is how many folders below MONITOR it lives (for links)."""
    up = "../" * depth
    nav = E.E.nav(*[E.A(label, href=f"{up}{href}") for href, label in PAGES])
    html = E.HTML(
        E.HEAD(
            E.META(charset="utf-8"),
            E.TITLE(title),
            E.LINK(rel="stylesheet", href=f"{up}monitor.css"),
        ),
        E.BODY(
            nav,
            E.H1(title),
            E.P(f"Updated {xml_stats.iso_utc(updated)}", E.CLASS("muted")),
            *content,
            E.SCRIPT(src=f"{up}sort.js"),
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
    for index, row in enumerate(rows):
        cells = [E.TD(cell(row[0]), E.CLASS("name"))]
        cells += [E.TD(cell(value)) for value in row[1:]]
        tr = E.TR(*cells)
        if index in down_rows:
            tr.set("class", "down")
        body.append(tr)
    table = E.TABLE(head, body, E.CLASS("sortable"), id=table_id)
    if len(rows) < 3:
        return [table]
    box = E.INPUT(E.CLASS("filter"), type="search", placeholder="filter rows")
    box.set("data-table", table_id)
    box.set("hidden", "hidden")
    return [box, table]


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
