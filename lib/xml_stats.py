"""Small XML helpers shared by the entry and factory statistics files.

Attribute maps become XML attributes (`<Status Idle="3" Running="5"/>`); bucket maps,
whose names may start with a digit (`1job`, `5m`) and so cannot be XML names, become
children named as upstream names them (`<TimeRange name="2hours" val="3"/>`, `Range`,
`Fraction`). Files are replaced atomically so the factory's
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


def number_text(value: Number) -> str:
    """A count as an attribute value: integers without a fraction, others to 6 digits."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.6g}"
    return str(int(value))


def attrs_element(parent: etree._Element, tag: str, values: Mapping[str, Number]) -> None:
    """`<tag k="v" .../>` under `parent`."""
    etree.SubElement(parent, tag, {k: number_text(v) for k, v in values.items()})


def ranges_element(
    parent: etree._Element, tag: str, values: Mapping[str, Number], item: str
) -> None:
    """`<tag><item name="k" val="v"/>...</tag>` under `parent` (item: TimeRange, Range ...)."""
    node = etree.SubElement(parent, tag)
    for name, value in values.items():
        etree.SubElement(node, item, name=name, val=number_text(value))


def updated_element(parent: etree._Element, when: float) -> None:
    """`<updated>` as upstream writes it: `<timezone name="Local" ISO8601 RFC2822 human/>`
    and `<timezone name="UTC" ISO8601 RFC2822 unixtime/>`."""
    node = etree.SubElement(parent, "updated")
    local = time.localtime(when)
    etree.SubElement(
        node,
        "timezone",
        name="Local",
        ISO8601=time.strftime("%Y-%m-%dT%H:%M:%S%z", local),
        RFC2822=time.strftime("%a, %d %b %Y %H:%M:%S %z", local),
        human=time.strftime("%c", local),
    )
    etree.SubElement(
        node,
        "timezone",
        name="UTC",
        ISO8601=iso_utc(when),
        RFC2822=time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(when)),
        unixtime=str(int(when)),
    )


def read_attrs(node: etree._Element | None) -> dict[str, float]:
    """The numeric attributes of `node` (empty for a missing node)."""
    if node is None:
        return {}
    try:
        return {k: float(v) for k, v in node.attrib.items()}
    except ValueError as exc:
        raise StatsFileError(f"non-numeric attribute in <{node.tag}>: {exc}") from exc


def read_ranges(node: etree._Element | None) -> dict[str, float]:
    """The `<TimeRange|Range|Fraction name= val=>` children of `node` (any child name)."""
    if node is None:
        return {}
    try:
        return {name: float(r.get("val", "0")) for r in node if (name := r.get("name"))}
    except ValueError as exc:
        raise StatsFileError(f"non-numeric range in <{node.tag}>: {exc}") from exc


def read_updated(root: etree._Element) -> float:
    """The UTC `unixtime` of a stats file's `<updated>` (0 when absent); files of earlier
    versions said `utc_unixtime`."""
    node = root.find("updated/timezone[@name='UTC']")
    if node is None:
        return 0.0
    try:
        return float(node.get("unixtime") or node.get("utc_unixtime") or "0")
    except ValueError as exc:
        raise StatsFileError(f"bad utc_unixtime: {exc}") from exc


def parse_file(path: Path, root_tag: str) -> etree._Element:
    """Parse `path` and check its root element; a clear StatsFileError otherwise. The
    readers look only at elements and attributes, so the indentation is not kept (and
    libxml2 parses bytes read at once faster than it reads the file itself)."""
    parser = etree.XMLParser(resolve_entities=False, remove_blank_text=True)
    try:
        root = etree.fromstring(Path(path).read_bytes(), parser)
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
