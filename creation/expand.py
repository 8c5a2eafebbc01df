"""`enable_attribute_expansion`: `$$(ATTR)` and `$(ATTR)` in attribute and submit_attr
values, as upstream documents them.

`$$(ATTR)` is replaced by ATTR's value as a ClassAd literal (an int as is, a string
quoted, inner quotes escaped), and is not expanded further. `$(ATTR)` is replaced by
ATTR's value as text, itself expanded (ATTR may not refer back to itself: a loop is an
error); `$(DOLLAR)` is a plain `$`. A name that is not an attribute is an error.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from glideinwms_factory.creation.master_model import Attribute, Entry
from glideinwms_factory.creation.xmlcheck import Issue

_DOUBLE = re.compile(r"\$\$\((?P<name>[^)]*)\)")
_SINGLE = re.compile(r"\$\((?P<name>[^)]*)\)")


class ExpansionError(ValueError):
    """A reference names no attribute (or loops back to itself)."""


def _literal(value: object) -> str:
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace('"', '\\"') + '"'


def expand(text: str, attrs: Mapping[str, object]) -> str:
    """`text` with every `$$(NAME)` and `$(NAME)` replaced from `attrs`."""

    def double(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in attrs:
            raise ExpansionError(f"$$({name}): no attribute {name!r}")
        return _literal(attrs[name])

    text = _DOUBLE.sub(double, text)

    def single(match: re.Match[str]) -> str:
        name = match.group("name")
        if name == "DOLLAR":
            return "$"
        if name not in attrs:
            raise ExpansionError(
                f"$({name}): no attribute {name!r} (or a loop); write $(DOLLAR) for a plain '$'"
            )
        rest = {key: value for key, value in attrs.items() if key != name}
        return expand(str(attrs[name]), rest)

    return _SINGLE.sub(single, text)


def expand_globals(
    attrs: list[Attribute], file: str, line: int, issues: list[Issue]
) -> list[Attribute]:
    """The global attributes, each expanded against the others."""
    known: dict[str, object] = {a.name: a.literal() for a in attrs}
    result = []
    for attr in attrs:
        try:
            result.append(dataclasses.replace(attr, value=expand(attr.value, known)))
        except ExpansionError as exc:
            issues.append(Issue(file, line, f"attr {attr.name}: {exc}"))
            result.append(attr)
    return result


def expand_entry(entry: Entry, global_attrs: list[Attribute], issues: list[Issue]) -> Entry:
    """The entry with its attribute and submit_attr values expanded against the global
    attributes overlaid by its own (one issue, at the entry, per failed reference)."""
    known: dict[str, object] = {a.name: a.literal() for a in global_attrs}
    known.update({a.name: a.literal() for a in entry.attrs})

    def one(what: str, text: str) -> str:
        try:
            return expand(text, known)
        except ExpansionError as exc:
            issues.append(Issue(entry.file, entry.line, f"entry {entry.name}: {what}: {exc}"))
            return text

    attrs = [dataclasses.replace(a, value=one(f"attr {a.name}", a.value)) for a in entry.attrs]
    submit_attrs = {
        name: (one(f"submit_attr {name}", value), every)
        for name, (value, every) in entry.submit_attrs.items()
    }
    members = {name: expand_entry(m, global_attrs, issues) for name, m in entry.members.items()}
    return dataclasses.replace(entry, attrs=attrs, submit_attrs=submit_attrs, members=members)
