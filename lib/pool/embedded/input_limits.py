"""Bounds on ClassAd text, checked before classad2 ever sees it.

classad2's parser, unparser and evaluator recurse once per operator: a constraint or an
ad attribute chaining some 40,000 terms (`a||a||...`) overflows the C stack and kills the
whole daemon (a segfault is no exception to catch). Counting the operator characters
and the bracket depth outside string literals bounds the depth of any tree classad2
could build from the text, far below where it crashes, at the cost of a regex pass.
"""

from __future__ import annotations

import re

MAX_EXPRESSION_BYTES = 256 * 1024  # one constraint (frontends list many entries in one)
MAX_OPERATOR_CHARS = 16384  # operator characters outside strings, per constraint or ad
MAX_BRACKET_DEPTH = 200
MAX_ATTRIBUTES = 2048  # per ad

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPERATORS = re.compile(r"[&|=!<>+\-*/%?:~^]")
_BRACKETS = re.compile(r"[()\[\]{}]")
_ATTRIBUTE_LINE = re.compile(r"^\s*[A-Za-z_'][^=\n]*=", re.MULTILINE)


def check_expression(text: str, what: str) -> str:
    """`text` if classad2 can safely take it as one expression, else ValueError."""
    if len(text) > MAX_EXPRESSION_BYTES:
        raise ValueError(f"{what} is over {MAX_EXPRESSION_BYTES} bytes")
    _check_shape(text, what)
    return text


def check_ad_text(text: str, what: str) -> str:
    """`text` if it is safe to parse as one ad or submit description, else ValueError."""
    attributes = len(_ATTRIBUTE_LINE.findall(text))
    if attributes > MAX_ATTRIBUTES:
        raise ValueError(f"{what} has {attributes} attributes, over {MAX_ATTRIBUTES}")
    _check_shape(text, what)
    return text


def _check_shape(text: str, what: str) -> None:
    code = _STRING.sub('""', text)
    operators = len(_OPERATORS.findall(code))
    if operators > MAX_OPERATOR_CHARS:
        raise ValueError(f"{what} has {operators} operator characters, over {MAX_OPERATOR_CHARS}")
    depth = deepest = 0
    for match in _BRACKETS.finditer(code):
        depth += 1 if match.group() in "([{" else -1
        deepest = max(deepest, depth)
    if deepest > MAX_BRACKET_DEPTH:
        raise ValueError(f"{what} nests brackets {deepest} deep, over {MAX_BRACKET_DEPTH}")
