"""wmsTxtView and wmsXMLView: what a factory advertises, as a table or as a complete dump.

Both read the Collector only (operations.md §8), through any object with the `Collector`
protocol; the command lines connect through `lib/pool/connect` to the embedded pool
(`--pool HOST:PORT`, $GWMS_POOL or `--state-dir`) or, with `--backend htcondor`, to an
HTCondor collector (`--pool HOST[:PORT]`, default COLLECTOR_HOST). `-factory` narrows to
`f`, `g@f` or `e@g@f` (entry@glidein@factory).

    wmsTxtView [--backend B] [--pool P] [-factory f|g@f|e@g@f] [Entries|Sites|Gatekeepers]
    wmsXMLView [--backend B] [--pool P] [-factory f|g@f|e@g@f] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import classad2
from lxml import etree

from glideinwms_factory.lib import cli
from glideinwms_factory.lib.classad import to_python
from glideinwms_factory.lib.pool import Collector, PoolError
from glideinwms_factory.lib.pool.connect import BACKENDS, open_collector
from glideinwms_factory.tools.condor_format import xml_text

# the wmsTxtView columns and the glidefactory attributes they come from
COUNTS = (
    ("ReqIdle", "GlideinMonitorTotalRequestedIdle"),
    ("Idle", "GlideinMonitorTotalStatusIdle"),
    ("Running", "GlideinMonitorTotalStatusRunning"),
    ("MaxGlideins", "GlideinMonitorTotalRequestedMaxGlideins"),
)
GROUPINGS = {"Entries": "Name", "Sites": "GLIDEIN_Site", "Gatekeepers": "GLIDEIN_Gatekeeper"}


class ViewError(Exception):
    """Bad input: printed as one line, exit status 1."""


@dataclass(frozen=True)
class FactorySelector:
    """The parts of `-factory f|g@f|e@g@f` (None = any)."""

    factory: str | None = None
    glidein: str | None = None
    entry: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> FactorySelector:
        if not text:
            return cls()
        parts = text.split("@")
        if len(parts) > 3 or not all(parts):
            raise ViewError(f"-factory wants f, g@f or e@g@f, not {text!r}")
        padded: list[str | None] = [None] * (3 - len(parts)) + list(parts)
        return cls(factory=padded[2], glidein=padded[1], entry=padded[0])

    def constraint(self, my_type: str, prefix: str = "") -> str:
        """A ClassAd constraint; `prefix` is "Req" for ads that name the entry they target."""
        terms = [f"GlideinMyType=?={classad2.quote(my_type)}"]
        for attr, value in (("FactoryName", self.factory), ("GlideinName", self.glidein)):
            if value is not None:
                terms.append(f"{prefix}{attr}=?={classad2.quote(value)}")
        if self.entry is not None and my_type != "glidefactoryglobal":
            terms.append(f"{prefix}EntryName=?={classad2.quote(self.entry)}")
        return " && ".join(terms)


def _int(ad: classad2.ClassAd, attr: str) -> int:
    value = ad.get(attr)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def txt_rows(ads: Sequence[classad2.ClassAd], grouping: str) -> list[list[str]]:
    """Pure: one row per entry, site or gatekeeper, then a Total row."""
    key_attr = GROUPINGS[grouping]
    sums: dict[str, list[int]] = {}
    for ad in ads:
        key = str(ad.get(key_attr, "UNKNOWN"))
        counts = sums.setdefault(key, [0] * len(COUNTS))
        for index, (_label, attr) in enumerate(COUNTS):
            counts[index] += _int(ad, attr)
    rows = [[key, *map(str, counts)] for key, counts in sorted(sums.items())]
    total = [sum(counts[i] for counts in sums.values()) for i in range(len(COUNTS))]
    return [*rows, ["Total", *map(str, total)]]


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def txt_view(collector: Collector, selector: FactorySelector, grouping: str = "Entries") -> str:
    ads = collector.query(selector.constraint("glidefactory"))
    header = [grouping[:-1] if grouping != "Entries" else "Entry", *(c for c, _ in COUNTS)]
    return format_table(header, txt_rows(ads, grouping))


@dataclass
class FactoryDump:
    """Everything a factory advertises, grouped by entry."""

    globals: list[dict[str, Any]]
    entries: list[dict[str, Any]]


def collect(collector: Collector, selector: FactorySelector) -> FactoryDump:
    """glidefactoryglobal, glidefactory, their glidefactoryclient ads and the requests."""
    globals_ = [to_python(ad) for ad in collector.query(selector.constraint("glidefactoryglobal"))]
    entries: dict[str, dict[str, Any]] = {}
    for ad in collector.query(selector.constraint("glidefactory")):
        attrs = to_python(ad)
        entries[str(attrs.get("Name"))] = {
            "name": attrs.get("Name"),
            "attrs": attrs,
            "clients": [],
            "requests": [],
        }
    clients = collector.query(selector.constraint("glidefactoryclient", "Req"))
    requests = collector.query(f"GlideinMyType=?={classad2.quote('glideclient')}")
    for kind, ads in (("clients", clients), ("requests", requests)):
        for ad in ads:
            target = entries.get(str(ad.get("ReqGlidein", ad.get("ReqName", ""))))
            if target is not None:
                target[kind].append(to_python(ad))
    return FactoryDump(globals_, [entries[name] for name in sorted(entries)])


def _value_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "real"
    return "string"


def _ad_element(parent: etree._Element, tag: str, attrs: dict[str, Any]) -> etree._Element:
    node = etree.SubElement(parent, tag, name=str(attrs.get("Name", "")))
    for key in sorted(attrs):
        value = attrs[key]
        attr = etree.SubElement(node, "attr", name=key, type=_value_type(value))
        attr.text = xml_text(str(value))
    return node


def dump_xml(dump: FactoryDump) -> str:
    root = etree.Element("glideinWMSFactoryAds")
    for ad in dump.globals:
        _ad_element(root, "factory", ad)
    for entry in dump.entries:
        node = _ad_element(root, "entry", entry["attrs"])
        for kind, tag in (("clients", "client"), ("requests", "request")):
            group = etree.SubElement(node, kind)
            for ad in entry[kind]:
                _ad_element(group, tag, ad)
    return etree.tostring(root, pretty_print=True, encoding="unicode")


def dump_json(dump: FactoryDump) -> str:
    return (
        json.dumps({"factories": dump.globals, "entries": dump.entries}, indent=1, sort_keys=True)
        + "\n"
    )


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "--backend", choices=BACKENDS, default="embedded", help="the pool's kind (embedded)"
    )
    parser.add_argument(
        "--pool",
        "-pool",
        help="HOST:PORT (embedded default: $GWMS_POOL, --state-dir; htcondor: COLLECTOR_HOST)",
    )
    parser.add_argument("--state-dir", help="read the address an embedded pool recorded there")
    parser.add_argument("-factory", "--factory", help="f, g@f or e@g@f")
    return parser


def _run(
    prog: str,
    args: argparse.Namespace,
    render: Callable[[Collector, FactorySelector], str],
) -> int:
    try:
        selector = FactorySelector.parse(args.factory)
        collector = open_collector(args.backend, args.pool, args.state_dir)
        sys.stdout.write(render(collector, selector))
    except (ViewError, PoolError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    return 0


@cli.command("wmsTxtView")
def txt_main(argv: list[str]) -> int:
    parser = _parser("wmsTxtView", "The factory's entries with their glidein counts.")
    parser.add_argument("grouping", nargs="?", default="Entries", choices=sorted(GROUPINGS))
    args = parser.parse_args(argv)
    return _run("wmsTxtView", args, lambda c, s: txt_view(c, s, args.grouping))


@cli.command("wmsXMLView")
def xml_main(argv: list[str]) -> int:
    parser = _parser("wmsXMLView", "Every ad the factory advertises, and the requests to it.")
    parser.add_argument("--json", "-json", action="store_true", help="JSON instead of XML")
    args = parser.parse_args(argv)
    return _run(
        "wmsXMLView", args, lambda c, s: (dump_json if args.json else dump_xml)(collect(c, s))
    )
