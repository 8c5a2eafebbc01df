"""Which indexed attribute values a Collector constraint pins, so the store skips most ads.

A pre-filter, never the judge: the store still evaluates the whole constraint with
`classad2` on every candidate. On top of the Schedd's `Attr == "v"` / `=?=` pins
(`query_index`), the factory's request query needs `stringListMember(ReqGlidein,
"E1@g@f,E2@g@f")` (classads.md §2), which pins a set of values. Values are lower-cased
because `==` on strings ignores case; index keys are lower-cased too, so the candidates
are a superset of the matches.
"""

from __future__ import annotations

import re

from glideinwms_factory.lib.pool.embedded.query_index import conjunct_pin, conjuncts

_LIST_MEMBER = re.compile(
    r'stringListMember\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,\s*"([^"\\]*)"\s*\)'
    r"(?:\s*(?:==|=\?=)\s*true)?",
    re.IGNORECASE,
)
_LIST_SPLIT = re.compile(r"[ ,]+")


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
