"""The YAML form of the master config: the same schema, so it is turned into XML elements.

A mapping is an element: scalar values are its attributes, mapping values its single
children, list values its repeated children (`entries: {entry: [{name: ...}, ...]}`).
Source lines are kept so errors still read `file:line: message`. Anchors and aliases
are refused while composing: a config has no use for them, and an alias bomb would
expand exponentially when the nodes are walked.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from lxml import etree

from glideinwms_factory.creation.xmlcheck import Issue

# Every element and attribute name of the schema has this form; lxml refuses most others.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


class _NoAliasLoader(yaml.SafeLoader):
    """The safe loader, refusing `*alias` references (and so any anchor's reuse)."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in a config", event.start_mark
            )
        return super().compose_node(parent, index)


def _scalar_text(node: yaml.ScalarNode) -> str:
    # YAML booleans come back as true/false; the schema wants True/False spelled any case.
    return str(node.value)


def _is_name(node: yaml.Node) -> bool:
    """Whether a mapping key can be an XML element or attribute name."""
    return isinstance(node, yaml.ScalarNode) and _NAME.fullmatch(node.value) is not None


def _element(tag: str, node: yaml.Node, file: str, issues: list[Issue]) -> etree._Element | None:
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.MappingNode):
        issues.append(Issue(file, line, f"{tag}: expected a mapping"))
        return None
    element = etree.Element(tag)
    element.sourceline = line
    for key_node, value in node.value:
        key = str(key_node.value)
        if not _is_name(key_node):
            where = key_node.start_mark.line + 1
            issues.append(Issue(file, where, f"<{tag}>: {key[:40]!r} is not a valid name"))
            continue
        if isinstance(value, yaml.ScalarNode):
            try:
                element.set(key, _scalar_text(value))
            except ValueError:  # lxml refuses what XML cannot hold (control characters)
                line_of_value = value.start_mark.line + 1
                issues.append(Issue(file, line_of_value, f"{key}: value is not valid XML text"))
        elif isinstance(value, yaml.MappingNode):
            child = _element(key, value, file, issues)
            if child is not None:
                element.append(child)
        else:
            for item in value.value:
                child = _element(key, item, file, issues)
                if child is not None:
                    element.append(child)
    return element


def parse_yaml(path: Path, issues: list[Issue]) -> etree._Element | None:
    """The `glidein:` document of a YAML config as an XML element tree, or None on error."""
    try:
        document = yaml.compose(path.read_text(), Loader=_NoAliasLoader)
    except (OSError, UnicodeDecodeError) as exc:
        issues.append(Issue(str(path), 0, f"cannot read: {exc}"))
        return None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        issues.append(Issue(str(path), mark.line + 1 if mark else 0, f"malformed YAML: {problem}"))
        return None
    if (
        not isinstance(document, yaml.MappingNode)
        or len(document.value) != 1
        or not _is_name(document.value[0][0])
    ):
        issues.append(Issue(str(path), 1, "expected one top-level key 'glidein'"))
        return None
    key, value = document.value[0]
    return _element(key.value, value, str(path), issues)
