"""Small XML helpers shared by the entry and factory statistics files.

Attribute maps become XML attributes (`<Status Idle="3" Running="5"/>`); bucket maps,
whose names may start with a digit (`1job`, `5m`) and so cannot be XML names, become
`<range name="1job" val="3"/>` children. Files are replaced atomically so the factory's
aggregation and the web server never read half a file.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from lxml import etree

from glideinwms_factory.lib.atomicfile import atomic_write

Number = int | float


class StatsFileError(ValueError):
    """A statistics XML file is missing, unreadable or not in the expected shape."""


def _text(value: Number) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.6g}"
    return str(int(value))


def attrs_element(parent: etree._Element, tag: str, values: Mapping[str, Number]) -> None:
    """`<tag k="v" .../>` under `parent`."""
    etree.SubElement(parent, tag, {k: _text(v) for k, v in values.items()})


def ranges_element(parent: etree._Element, tag: str, values: Mapping[str, Number]) -> None:
    """`<tag><range name="k" val="v"/>...</tag>` under `parent`."""
    node = etree.SubElement(parent, tag)
    for name, value in values.items():
        etree.SubElement(node, "range", name=name, val=_text(value))


def updated_element(parent: etree._Element, when: float) -> None:
    """`<updated>` with the UTC, local and human forms upstream pages read."""
    node = etree.SubElement(parent, "updated")
    utc = time.gmtime(when)
    etree.SubElement(
        node,
        "timezone",
        name="UTC",
        ISO8601=iso_utc(when),
        RFC2822=time.strftime("%a, %d %b %Y %H:%M:%S +0000", utc),
        utc_unixtime=str(int(when)),
    )
    local = time.localtime(when)
    etree.SubElement(
        node, "timezone", name="Local", ISO8601=time.strftime("%Y-%m-%dT%H:%M:%S%z", local)
    )
    etree.SubElement(node, "timezone", name="Human", human=time.strftime("%c", local))


def read_attrs(node: etree._Element | None) -> dict[str, float]:
    """The numeric attributes of `node` (empty for a missing node)."""
    if node is None:
        return {}
    try:
        return {k: float(v) for k, v in node.attrib.items()}
    except ValueError as exc:
        raise StatsFileError(f"non-numeric attribute in <{node.tag}>: {exc}") from exc


def read_ranges(node: etree._Element | None) -> dict[str, float]:
    """The `<range name= val=>` children of `node`."""
    if node is None:
        return {}
    try:
        return {r.get("name", ""): float(r.get("val", "0")) for r in node.iterfind("range")}
    except ValueError as exc:
        raise StatsFileError(f"non-numeric range in <{node.tag}>: {exc}") from exc


def read_updated(root: etree._Element) -> float:
    """The `utc_unixtime` of a stats file's `<updated>` (0 when absent)."""
    node = root.find("updated/timezone[@name='UTC']")
    try:
        return float(node.get("utc_unixtime", "0")) if node is not None else 0.0
    except ValueError as exc:
        raise StatsFileError(f"bad utc_unixtime: {exc}") from exc


def parse_file(path: Path, root_tag: str) -> etree._Element:
    """Parse `path` and check its root element; a clear StatsFileError otherwise."""
    try:
        root = etree.parse(str(path), etree.XMLParser(resolve_entities=False)).getroot()
    except (OSError, etree.XMLSyntaxError) as exc:
        raise StatsFileError(f"{path}: {exc}") from exc
    if root.tag != root_tag:
        raise StatsFileError(f"{path}: root element is <{root.tag}>, expected <{root_tag}>")
    return root


def write_xml(path: Path, root: etree._Element, fsync: bool = True) -> None:
    """Write an element tree as an XML file, atomically (`fsync=False`: a file rewritten
    every cycle, where losing the last one to a crash costs nothing)."""
    atomic_write(
        path,
        etree.tostring(root, pretty_print=True, xml_declaration=True),
        fsync=fsync,
        make_parents=True,
    )


def utc_day(when: float) -> str:
    """YYYYMMDD of `when` in UTC (used in daily file names)."""
    return time.strftime("%Y%m%d", time.gmtime(when))


def iso_utc(when: float) -> str:
    """`when` as ISO-8601 in UTC with a `Z` (the form stats files and pages show)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
