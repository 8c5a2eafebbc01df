"""Walk ClassAd expression text outside its string literals (no parsing, no evaluation).

Enough to find top-level operators and separators, which classad2 cannot report.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# A string literal (skipped) or a name; `MY.A` yields `MY` and `A`.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|([A-Za-z_][A-Za-z0-9_]*)')


def referenced_names(text: str) -> frozenset[str]:
    """Lower-cased names an expression may read: every name outside its string literals
    (functions and keywords included, a harmless superset)."""
    return frozenset(m.group(1).lower() for m in _TOKEN.finditer(text) if m.group(1))


def outside_strings(text: str) -> Iterator[tuple[int, str, int]]:
    """(index, char, depth) of each character outside `"..."` literals, quotes excluded.

    `depth` counts the enclosing (), [] and {} pairs; a bracket itself is reported at
    the depth outside it. Raises ValueError for unbalanced brackets or an open string.
    """
    in_string = escaped = False
    depth = 0
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "([{":
            yield index, char, depth
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth < 0:
                raise ValueError("unbalanced closing bracket")
            yield index, char, depth
        else:
            yield index, char, depth
    if in_string or depth:
        raise ValueError("unterminated string literal or bracket")
