"""Which indexed attribute values a constraint pins, so a store can skip most ads.

This is a pre-filter, never the judge: the store still evaluates the whole constraint
with `classad2` on every candidate. It only has to be conservative: a pin is read off a
top-level `&&` conjunct of the forms `Attr == "v"`, `Attr =?= "v"` (either side) or
`stringListMember(Attr, "v1,v2")` (optionally compared with true), which every matching
ad must satisfy. Values are lower-cased because `==` on strings ignores case; the index
keys are lower-cased too, so the candidates are a superset of the matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_NAME = r"([A-Za-z_][A-Za-z0-9_]*)"
_STRING = r'"([^"\\]*)"'
_EQ = r"(?:==|=\?=)"
_ATTR_EQ = re.compile(rf"{_NAME}\s*{_EQ}\s*{_STRING}")
_EQ_ATTR = re.compile(rf"{_STRING}\s*{_EQ}\s*{_NAME}")
_LIST_MEMBER = re.compile(
    rf"stringListMember\s*\(\s*{_NAME}\s*,\s*{_STRING}\s*\)(?:\s*{_EQ}\s*true)?",
    re.IGNORECASE,
)
_LIST_SPLIT = re.compile(r"[ ,]+")


def _scan(text: str) -> Iterator[tuple[int, str, int]]:
    """(index, char, nesting depth after it) for every char outside string literals."""
    depth = 0
    in_string = False
    index = 0
    while index < len(text):
        char = text[index]
        if in_string:
            if char == "\\":
                index += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        else:
            depth += (char in "([{") - (char in ")]}")
            yield index, char, depth
        index += 1


def _strip_parens(text: str) -> str:
    """Drop parentheses that enclose the whole expression."""
    text = text.strip()
    while text.startswith("(") and _closing_paren(text) == len(text) - 1:
        text = text[1:-1].strip()
    return text


def _closing_paren(text: str) -> int:
    """Index of the parenthesis closing the one `text` starts with (-1 if unbalanced)."""
    return next((index for index, _, depth in _scan(text) if depth == 0), -1)


def conjuncts(constraint: str) -> list[str]:
    """The top-level `&&` operands of a constraint, flattened through parentheses."""
    text = _strip_parens(constraint)
    parts: list[str] = []
    start = 0
    skip_to = 0
    for index, char, depth in _scan(text):
        if depth != 0 or index < skip_to:
            continue
        if text.startswith("||", index) or (char == "?" and text[index - 1 : index + 2] != "=?="):
            return [text]  # `||` and `?:` bind looser than `&&`: nothing is pinned
        if text.startswith("&&", index):
            parts.append(text[start:index])
            start = skip_to = index + 2
    parts.append(text[start:])
    if len(parts) == 1:
        return [text]
    return [piece for part in parts for piece in conjuncts(part)]


def pinned_values(constraint: str, indexed: frozenset[str]) -> dict[str, frozenset[str]]:
    """For each `indexed` attribute (lower-case names) the constraint pins: allowed values."""
    pins: dict[str, frozenset[str]] = {}
    for part in conjuncts(constraint):
        found = _pin_of(_strip_parens(part))
        if found is None or found[0] not in indexed:
            continue
        name, values = found
        pins[name] = pins[name] & values if name in pins else values
    return pins


def _pin_of(part: str) -> tuple[str, frozenset[str]] | None:
    match = _ATTR_EQ.fullmatch(part)
    if match:
        return match.group(1).lower(), frozenset([match.group(2).lower()])
    match = _EQ_ATTR.fullmatch(part)
    if match:
        return match.group(2).lower(), frozenset([match.group(1).lower()])
    match = _LIST_MEMBER.fullmatch(part)
    if match:
        items = {item.lower() for item in _LIST_SPLIT.split(match.group(2)) if item}
        return match.group(1).lower(), frozenset(items)
    return None
