"""descript.xml: the configuration the monitoring pages show, in upstream's element names.

MONITOR/descript.xml (`<glideFactoryDescript>`) holds `<updated>`, `<factory .../>` with a
few glidein.descript values (names in `GLIDEIN_SHOWN`, the monitor footer among them),
`<frontends><frontend name= ident=/>` (frontend.descript without its user map) and
`<entries><entry name=><attributes/><descript/><params/></entry>`; each
MONITOR/entry_<e>/descript.xml (`<glideFactoryEntryDescript>`) holds `<updated>` and that
entry's `<entry>`. job.descript keys in `ENTRY_HIDDEN` are left out, as upstream does.
Written by the factory daemon when it starts (a reconfig restarts it).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

from lxml import etree

from glideinwms_factory.lib import xml_stats
from glideinwms_factory.lib.descript import read_descript, read_entry_literals, read_frontends

log = logging.getLogger(__name__)

GLIDEIN_SHOWN = (
    "AdvertiseDelay",
    "FactoryName",
    "GlideinName",
    "LoopDelay",
    "PubKeyType",
    "WebURL",
    "MonitorDisplayText",
    "MonitorLink",
)
ENTRY_HIDDEN = ("DowntimesFile", "EntryName", "Schedd")


def _attributes(values: Mapping[str, object]) -> dict[str, str]:
    """Values as XML attributes; a key that is no XML name is left out (logged)."""
    result = {}
    for key, value in sorted(values.items()):
        try:
            etree.QName(key)
        except ValueError:
            log.warning("descript.xml: %r is not an XML name: left out", key)
            continue
        result[key] = value if isinstance(value, str) else str(value)
    return result


def entry_element(work_dir: Path, entry: str) -> etree._Element:
    """`<entry name=>` with the entry's attributes.cfg, job.descript and params.cfg."""
    node = etree.Element("entry", name=entry)
    job = read_descript(work_dir / f"entry_{entry}" / "job.descript")
    shown = {k: v for k, v in job.items() if k not in ENTRY_HIDDEN}
    etree.SubElement(
        node, "attributes", _attributes(read_entry_literals(work_dir, entry, "attributes.cfg"))
    )
    etree.SubElement(node, "descript", _attributes(shown))
    etree.SubElement(
        node, "params", _attributes(read_entry_literals(work_dir, entry, "params.cfg"))
    )
    return node


def write_descripts(work_dir: Path, monitor_dir: Path, entries: Iterable[str], now: float) -> None:
    """The factory's descript.xml and every entry's (see the module docstring)."""
    glidein = read_descript(work_dir / "glidein.descript")
    root = etree.Element("glideFactoryDescript")
    xml_stats.updated_element(root, now)
    etree.SubElement(
        root, "factory", _attributes({k: glidein[k] for k in GLIDEIN_SHOWN if k in glidein})
    )
    frontends = etree.SubElement(root, "frontends")
    for name, info in sorted(read_frontends(work_dir / "frontend.descript").items()):
        etree.SubElement(frontends, "frontend", name=name, ident=info.ident)
    entries_node = etree.SubElement(root, "entries")
    for entry in entries:
        node = entry_element(work_dir, entry)
        entries_node.append(node)
        one = etree.Element("glideFactoryEntryDescript")
        xml_stats.updated_element(one, now)
        one.append(copy.deepcopy(node))
        xml_stats.write_xml(monitor_dir / f"entry_{entry}" / "descript.xml", one)
    xml_stats.write_xml(monitor_dir / "descript.xml", root)
