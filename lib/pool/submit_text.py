"""ClassAd text both pool backends write into a submit: job attribute names and values.

Shared by the embedded pool (job ads) and the htcondor backend (`MY.` submit lines), so
the quoting that keeps request data inside its string is written once.
"""

from __future__ import annotations

import math
import re
from typing import Any

import classad2

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLAIN_STRING = re.compile(r'[^"\\\x00-\x1f]*')


def literal(value: Any) -> str:
    """A Python value as ClassAd expression text (an ExprTree stays an expression)."""
    if isinstance(value, classad2.ExprTree):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return repr(value)
    if isinstance(value, str):
        return f'"{value}"' if _PLAIN_STRING.fullmatch(value) else classad2.quote(value)
    if value is None:
        return "undefined"
    raise ValueError(f"unsupported job attribute value {value!r}")


def check_attr_name(name: str) -> str:
    """`name` if it can name a job attribute (it is spliced into ClassAd text)."""
    if not IDENTIFIER.fullmatch(name):
        raise ValueError(f"bad job attribute name {name[:60]!r}")
    return name
