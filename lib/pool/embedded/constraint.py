"""Query constraints of the embedded Collector and Schedd: compiled one way for both, and
the indexed attribute values a constraint pins, so the stores skip most ads.

Pins are a pre-filter, never the judge: candidates are a superset of the matches, and the
whole constraint is still evaluated with `classad2` on each of them. `pins()` reads the
top-level `&&` conjuncts of the form `Attr == "v"` / `Attr =?= "v"` (the Schedd's job
index); `pinned_values()` adds `stringListMember(ReqGlidein, "E1@g@f,E2@g@f")`
(classads.md §2), which pins a set of values (the Collector). Values are lower-cased
because `==` on strings ignores case; index keys are lower-cased too. Jobs whose attribute
is an expression rather than a string literal are always candidates.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Hashable, Iterable

import classad2

# Importing htcondor2 registers HTCondor's ClassAd functions (stringListMember, ...):
# an ExprTree compiled before that evaluates them to Error, so a factory's request
# query would silently match nothing.
import htcondor2  # noqa: F401

from glideinwms_factory.lib.pool.embedded.expr_scan import outside_strings

INDEXED_ATTRS = ("GlideinEntryName", "GlideinClient", "GlideinFactory", "GlideinName")

_NAME = r"([A-Za-z_][A-Za-z0-9_]*)"
_STRING = r'"([^"\\]*)"'
_COMPARE = re.compile(rf"^{_NAME}\s*(?:==|=\?=)\s*{_STRING}$")
_COMPARE_REVERSED = re.compile(rf"^{_STRING}\s*(?:==|=\?=)\s*{_NAME}$")
_LITERAL = re.compile(r'^"([^"\\]*)"$')
_LIST_MEMBER = re.compile(
    r'stringListMember\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,\s*"([^"\\]*)"\s*\)'
    r"(?:\s*(?:==|=\?=)\s*true)?",
    re.IGNORECASE,
)
_LIST_SPLIT = re.compile(r"[ ,]+")


def compile_constraint(constraint: str) -> classad2.ExprTree:
    """The constraint as an ExprTree; ValueError with a one-line message if it does not parse."""
    text = constraint.strip() or "true"
    try:
        return classad2.ExprTree(text)
    except (classad2.ClassAdException, ValueError, TypeError) as exc:
        raise ValueError(f"constraint does not parse: {text[:120]!r}") from exc


def matches_everything(constraint: str) -> bool:
    """Whether the constraint is empty or `true`: then no ad needs evaluating."""
    return constraint.strip().lower() in ("", "true")


def pins(constraint: str, attrs: Iterable[str] = INDEXED_ATTRS) -> dict[str, str]:
    """Lower-cased attr -> lower-cased value that every match must have (maybe empty)."""
    wanted = {a.lower() for a in attrs}
    found: dict[str, str] = {}
    for conjunct in conjuncts(constraint):
        pin = conjunct_pin(conjunct)
        if pin is not None and pin[0] in wanted:
            found.setdefault(*pin)
    return found


def pinned_values(constraint: str, indexed: frozenset[str]) -> dict[str, frozenset[str]]:
    """For each `indexed` attribute (lower-case names) the constraint pins: allowed values."""
    found: dict[str, frozenset[str]] = {}
    for conjunct in conjuncts(constraint):
        pin = conjunct_pin(conjunct)
        if pin is not None:
            name, values = pin[0], frozenset([pin[1]])
        elif match := _LIST_MEMBER.fullmatch(conjunct):
            name = match.group(1).lower()
            values = frozenset(item.lower() for item in _LIST_SPLIT.split(match.group(2)) if item)
        else:
            continue
        if name in indexed:
            found[name] = found[name] & values if name in found else values
    return found


def conjunct_pin(conjunct: str) -> tuple[str, str] | None:
    """(attr, value), both lower-cased, if the conjunct is `Attr == "v"` or `"v" == Attr`."""
    match = _COMPARE.match(conjunct)
    if match:
        return match.group(1).lower(), match.group(2).lower()
    match = _COMPARE_REVERSED.match(conjunct)
    if match:
        return match.group(2).lower(), match.group(1).lower()
    return None


def literal_value(expression: str) -> str | None:
    """The lower-cased string of a string-literal expression, or None if not one."""
    match = _LITERAL.match(expression.strip())
    return match.group(1).lower() if match else None


class AttrIndex:
    """value -> job keys for a few attributes, plus the keys not indexable by value."""

    def __init__(self, attrs: Iterable[str] = INDEXED_ATTRS) -> None:
        self._by_value: dict[str, dict[str, set[Hashable]]] = {
            a.lower(): defaultdict(set) for a in attrs
        }
        self._unindexed: dict[str, set[Hashable]] = {a.lower(): set() for a in attrs}

    def add(self, key: Hashable, custom: dict[str, str]) -> None:
        for name, expression in custom.items():
            lowered = name.lower()
            if lowered in self._by_value:
                value = literal_value(expression)
                if value is None:
                    self._unindexed[lowered].add(key)
                else:
                    self._by_value[lowered][value].add(key)

    def discard(self, key: Hashable, custom: dict[str, str]) -> None:
        for name, expression in custom.items():
            lowered = name.lower()
            if lowered in self._by_value:
                value = literal_value(expression)
                if value is None:
                    self._unindexed[lowered].discard(key)
                else:
                    bucket = self._by_value[lowered].get(value)
                    if bucket is not None:
                        bucket.discard(key)
                        if not bucket:
                            del self._by_value[lowered][value]

    def candidates(self, pinned: dict[str, str]) -> set[Hashable] | None:
        """Keys that may match the pins; None means no pin applies (scan everything)."""
        result: set[Hashable] | None = None
        # Smallest pin first; the others only filter it, so a pin that matches most of the
        # queue (GlideinFactory, GlideinName) costs the size of the answer, not the queue.
        for name, value in sorted(pinned.items(), key=lambda item: self._size(*item)):
            if name not in self._by_value:
                continue
            matching, unindexed = self._by_value[name].get(value, set()), self._unindexed[name]
            if result is None:
                result = matching | unindexed
            else:
                result = {key for key in result if key in matching or key in unindexed}
            if not result:
                return result
        return result

    def _size(self, name: str, value: str) -> int:
        return len(self._by_value.get(name, {}).get(value, ()))


def conjuncts(expression: str) -> list[str]:
    """The top-level `&&` operands, outer parentheses stripped, recursively flattened.

    Anything with a top-level `||` or `?:` yields nothing (precedence would make the
    split wrong), as does anything unbalanced: enough for pins, which only prune.
    """
    return _conjuncts(expression)[0]


def all_conjuncts(expression: str) -> list[str] | None:
    """`conjuncts` when they make up the whole expression, None when a part was left
    out (an `||`, a `?:`, unbalanced text): what deciding the expression needs."""
    found, whole = _conjuncts(expression)
    return found if whole else None


def _conjuncts(expression: str) -> tuple[list[str], bool]:
    """The conjuncts, and whether no part had to be left out."""
    text = _strip_parens(expression.strip())
    if text is None:
        return [], False
    parts = _split_top_level(text)
    if parts is None:
        return [], False
    if len(parts) == 1:
        return [text], True
    result: list[str] = []
    whole = True
    for part in parts:
        found, complete = _conjuncts(part)
        result.extend(found)
        whole = whole and complete
    return result, whole


def _split_top_level(text: str) -> list[str] | None:
    parts: list[str] = []
    start = 0
    skip_to = -1
    try:
        for i, char, depth in outside_strings(text):
            if depth or i <= skip_to:
                continue
            if text.startswith("=?=", i):
                skip_to = i + 2
            elif text.startswith("||", i) or char == "?":
                return None
            elif text.startswith("&&", i):
                parts.append(text[start:i].strip())
                start, skip_to = i + 2, i + 1
    except ValueError:
        return None
    parts.append(text[start:].strip())
    return parts


def _strip_parens(text: str) -> str | None:
    """Remove parentheses that wrap the whole text; None if unbalanced."""
    while text.startswith("(") and text.endswith(")"):
        try:
            for i, char, depth in outside_strings(text):
                if char == ")" and depth == 0 and i != len(text) - 1:
                    return text
        except ValueError:
            return None
        text = text[1:-1].strip()
    return text
