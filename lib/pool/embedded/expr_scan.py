"""Walk ClassAd expression text outside its string literals (no parsing, no evaluation).

Enough to find top-level operators and separators, which classad2 cannot report.
"""

from __future__ import annotations

from collections.abc import Iterator


def outside_strings(text: str) -> Iterator[tuple[int, str]]:
    """(index, char) of each character outside `"..."` literals (the quotes excluded).

    Raises ValueError at the end if a string literal is left open.
    """
    in_string = escaped = False
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
        else:
            yield index, char
    if in_string:
        raise ValueError("unterminated string literal")
