"""`<entry_sets>`: an entry set is one entry of the tree, named by its `alias`, whose
glideins are dealt over its member entries (one submit file each, `job.<member>.condor`)
by the set's selection algorithm. A member gives only what differs from the set (its
name, gatekeeper, and e.g. gridtype or rsl); limits, attrs and files are the set's.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from glideinwms_factory.creation import schema
from glideinwms_factory.creation.master_model import Entry
from glideinwms_factory.creation.section_readers import read_entry
from glideinwms_factory.creation.xmlcheck import Issue, Node


def read_entry_set(
    node: Node,
    base: Path,
    backend: str,
    num_factories: int,
    issues: list[Issue],
    warnings: list[Issue],
) -> Entry | None:
    """The set as an Entry with `members`; None (and an issue) when it has no member."""
    alias = str(node["alias"])
    members_nodes = node.all("entries", "entry")
    if not members_nodes:
        issues.append(Issue(node.file, node.line, f"entry_set {alias}: no member <entry>"))
        return None
    own = {key: value for key, value in node.attrs.items() if key != "alias"}
    first = members_nodes[0]
    as_entry = Node(
        "entry",
        {**own, "name": alias, "gatekeeper": first["gatekeeper"]},
        [c for c in node.children if c.tag != "entries"],
        node.file,
        node.line,
    )
    entry = read_entry(as_entry, base, backend, num_factories, issues, warnings)
    members: dict[str, Entry] = {}
    for member in members_nodes:
        name = str(member["name"])
        if name in members:
            issues.append(
                Issue(member.file, member.line, f"entry_set {alias}: member {name!r} twice")
            )
            continue
        given = {k: v for k, v in member.attrs.items() if v is not None and k != "name"}
        member_node = dataclasses.replace(
            as_entry, attrs={**as_entry.attrs, **given}, file=member.file, line=member.line
        )
        members[name] = read_entry(member_node, base, backend, num_factories, issues, warnings)
    selection = node.one("config", schema.ENTRY_SET).one(
        "entry_selection", schema.ENTRY_SET.children["config"]
    )
    return dataclasses.replace(
        entry, members=members, selection_algorithm=str(selection["algorithm_name"])
    )
