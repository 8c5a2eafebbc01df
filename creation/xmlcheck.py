"""Check an XML (or YAML) document against the schema, collecting every error with its line.

The result is a tree of `Node`s whose attributes are already converted and defaulted,
so later stages never see raw strings or missing optional values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from glideinwms_factory.creation.schema import COMMENT
from glideinwms_factory.creation.schema_types import REQUIRED, Element, TypeMismatch


@dataclass(frozen=True)
class Issue:
    """One validation error, printed as `file:line: message`."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass
class Node:
    """A validated element: converted attributes (defaults filled) and child nodes."""

    tag: str
    attrs: dict[str, object]
    children: list[Node] = field(default_factory=list)
    file: str = ""
    line: int = 0
    broken: bool = False  # a required attribute is missing or invalid: not usable

    def __getitem__(self, name: str) -> object:
        return self.attrs[name]

    def number(self, name: str) -> int:
        return as_int(self.attrs[name])

    def all(self, *path: str) -> list[Node]:
        """Every usable node at the tag `path` below this one (e.g. all("entries", "entry"))."""
        found = [self]
        for tag in path:
            found = [c for node in found for c in node.children if c.tag == tag and not c.broken]
        return found

    def one(self, tag: str, spec: Element) -> Node:
        """The single child `tag`, or one made of the schema defaults when it is absent."""
        for child in self.children:
            if child.tag == tag:
                return child
        return Node(tag, defaults(spec.children[tag]), [], self.file, self.line)

    def where(self) -> str:
        return f"{self.file}:{self.line}"


def as_int(value: object) -> int:
    """A schema INT value (already converted): typed access without casts."""
    if not isinstance(value, int):
        raise TypeError(f"expected an int, got {value!r}")
    return value


def defaults(spec: Element) -> dict[str, object]:
    return {name: attr.default for name, attr in spec.attrs.items() if attr.default is not REQUIRED}


def start_line(el: etree._Element, source: list[str] | None) -> int:
    """The line where `el`'s start tag begins (libxml2 gives the line where it ends)."""
    line = el.sourceline or 0
    if source is None:
        return line
    opening = f"<{el.tag}"
    for number in range(min(line, len(source)), 0, -1):
        if opening in source[number - 1]:
            return number
    return line


@dataclass
class Origins:
    """Which file each element moved by the merge came from, and each file's lines."""

    files: dict[etree._Element, str] = field(default_factory=dict)
    lines: dict[str, list[str] | None] = field(default_factory=dict)
    # An attribute a fragment added to an element of an earlier file: where it was written.
    attrs: dict[tuple[etree._Element, str], Issue] = field(default_factory=dict)

    def file_of(self, el: etree._Element, inherited: str) -> str:
        return self.files.get(el, inherited)

    def where(self, el: etree._Element, file: str) -> str:
        return f"{file}:{start_line(el, self.lines.get(file))}"


def check_element(
    el: etree._Element,
    spec: Element,
    file: str,
    issues: list[Issue],
    source: list[str] | None = None,
    *,
    warnings: list[Issue] | None = None,
    origins: Origins | None = None,
    line: int | None = None,
) -> Node:
    """Validate `el` against `spec`; append every problem found to `issues`.

    `source` (the file's lines) lets errors point at the first line of a multi-line tag;
    `origins` says which file an element merged from a `config.d` fragment came from.
    Character data between elements, unknown attributes and unknown elements are ignored,
    each with a line in `warnings`: upstream's parser keeps them without effect, so a
    production config carrying them builds there and must build here (a typo shows as a
    warning naming its file:line).
    Invalid optional values are replaced by their default so later checks still run;
    a missing or invalid required value marks the node `broken`.
    """
    line = start_line(el, source) if line is None else line
    attrs: dict[str, object] = {}
    broken = False
    ignored = warnings if warnings is not None else issues
    for name, raw in el.attrib.items():
        if name == COMMENT:
            continue
        at = origins.attrs.get((el, name)) if origins is not None else None
        at_file, at_line = (at.file, at.line) if at is not None else (file, line)
        attr = spec.attrs.get(name)
        if attr is None:
            ignored.append(
                Issue(at_file, at_line, f"<{el.tag}>: unknown attribute {name!r} ignored")
            )
            continue
        try:
            attrs[name] = attr.convert(raw)
        except TypeMismatch as exc:
            issues.append(Issue(at_file, at_line, f"<{el.tag} {name}={raw!r}>: {exc}"))
    for name, attr in spec.attrs.items():
        if name in attrs:
            continue
        if attr.default is not REQUIRED:
            attrs[name] = attr.default
            continue
        broken = True
        if name not in el.attrib:
            issues.append(Issue(file, line, f"<{el.tag}>: missing required attribute {name!r}"))
    if el.text and el.text.strip():
        ignored.append(Issue(file, line, f"<{el.tag}>: text {el.text.strip()[:40]!r} ignored"))
    node = Node(str(el.tag), attrs, [], file, line, broken)
    seen: set[str] = set()
    for child in el:
        if not isinstance(child.tag, str):  # comments, processing instructions
            continue
        child_file, child_source = file, source
        if origins is not None and child in origins.files:
            child_file = origins.files[child]
            child_source = origins.lines.get(child_file)
        child_line = start_line(child, child_source)
        if child.tail and child.tail.strip():
            ignored.append(
                Issue(
                    child_file,
                    child_line,
                    f"text {child.tail.strip()[:40]!r} after <{child.tag}> ignored",
                )
            )
        child_spec = spec.children.get(child.tag)
        if child_spec is None:
            ignored.append(
                Issue(child_file, child_line, f"<{el.tag}>: unknown element <{child.tag}> ignored")
            )
            continue
        if child.tag in seen and not child_spec.repeat:
            issues.append(Issue(child_file, child_line, f"<{el.tag}>: <{child.tag}> given twice"))
            continue
        seen.add(child.tag)
        node.children.append(
            check_element(
                child,
                child_spec,
                child_file,
                issues,
                child_source,
                warnings=warnings,
                origins=origins,
                line=child_line,
            )
        )
    return node


def parse_xml(path: Path, issues: list[Issue]) -> etree._Element | None:
    """The document's root element, or None with an issue for unreadable / malformed XML."""
    # No entity expansion, no network, no DTD loading: libxml2's amplification limit turns
    # a billion-laughs document into a syntax error, and any DOCTYPE is refused below.
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )
    try:
        tree = etree.parse(str(path), parser)
        if tree.docinfo.doctype:
            line = path.read_bytes().split(b"<!DOCTYPE", 1)[0].count(b"\n") + 1
            issues.append(Issue(str(path), line, "a DOCTYPE (DTD or entities) is not allowed"))
            return None
        return tree.getroot()
    except OSError as exc:
        issues.append(Issue(str(path), 0, f"cannot read: {exc}"))
    except etree.XMLSyntaxError as exc:
        issues.append(Issue(str(path), exc.lineno or 0, f"malformed XML: {exc.msg}"))
    return None
