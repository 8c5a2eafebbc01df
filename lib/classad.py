"""ClassAd text forms: the old `Attr = expr` form that condor_advertise takes, and JSON.

Parsing and printing go through `classad2`; nothing here evaluates ClassAd expressions.
`classad2` silently stops at the first syntax error of an old-form ad, so every parse is
checked against the attribute lines of its input: a mismatch is a `ClassAdSyntaxError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

import classad2

from glideinwms_factory import __version__

ClassAd: TypeAlias = classad2.ClassAd
# `GlideinWMSVersion` of every ad the factory and its entries publish.
VERSION = f"glideinWMS {__version__}"

# `Name = value` at the start of a line. As HTCondor's old-syntax reader, a name is all
# up to the `=`: Frontends write `GlideinEncParam<entry>.idtoken`, and entry names may
# carry `-` (classads.md §0).
_ATTR_LINE = re.compile(r"^\s*(?:'([^']+)'|([^\s='][^\s=]*))\s*=")
_BLOCK_SPLIT = re.compile(r"\n[ \t]*\n")
_QUOTED_NAME = re.compile(r"^'([A-Za-z_][A-Za-z0-9_.:-]*)' =", re.MULTILINE)
# How HTCondor's JSON form carries an unevaluated expression.
_JSON_EXPR = re.compile(r"/Expr\((.*)\)/", re.DOTALL)


class ClassAdSyntaxError(ValueError):
    """The text is not a valid old-form ClassAd (or list of them)."""


def _attribute_names(block: str) -> set[str]:
    """The names of a block's `Attr = value` lines. Lines end at `\n` only, as in
    HTCondor's reader: a Frontend writes string values unescaped but for `"` and `\n`,
    so a value may hold a form feed, `\r` or U+2028, which `str.splitlines` splits at."""
    names = set()
    for line in block.split("\n"):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _ATTR_LINE.match(line)
        if match is None:
            raise ClassAdSyntaxError(f"not an 'Attr = value' line: {stripped[:80]!r}")
        names.add((match.group(1) or match.group(2)).lower())
    return names


def parse_old(text: str) -> ClassAd:
    """Parse one ad in old syntax; raise ClassAdSyntaxError unless every line parsed."""
    expected = _attribute_names(text)
    if not expected:
        raise ClassAdSyntaxError("empty ClassAd")
    try:
        ad = classad2.parseOne(text, classad2.ParserType.Old)
    except (classad2.ClassAdException, ValueError) as exc:
        raise ClassAdSyntaxError(str(exc)) from exc
    got = {key.lower() for key in ad}
    if got != expected:
        missing = sorted(expected - got)
        raise ClassAdSyntaxError(f"syntax error at or after attribute {missing[0]!r}")
    return ad


def parse_old_many(text: str) -> list[ClassAd]:
    """Parse several old-syntax ads separated by blank lines (condor_advertise -multiple)."""
    blocks = [block for block in _BLOCK_SPLIT.split(text.replace("\r\n", "\n")) if block.strip()]
    return [parse_old(block) for block in blocks]


def format_old(ad: ClassAd | Mapping[str, Any]) -> str:
    """One ad in old syntax, one attribute per line, ending with a newline.

    classad2 quotes names such as `GlideinEncParamce01.idtoken` (`'A.b' = ...`); the old
    form as condor_advertise and frontends write it does not, so neither do we.
    """
    return _QUOTED_NAME.sub(r"\1 =", to_classad(ad).printOld())


def format_old_many(ads: Iterable[ClassAd | Mapping[str, Any]]) -> str:
    """Ads separated by one empty line, no leading empty line (classads.md §0)."""
    return "\n".join(format_old(ad) for ad in ads)


def to_classad(ad: ClassAd | Mapping[str, Any]) -> ClassAd:
    """A classad2.ClassAd from a mapping of Python values (str, int, float, bool, ExprTree)."""
    if isinstance(ad, classad2.ClassAd):
        return ad
    result = classad2.ClassAd()
    for key, value in ad.items():
        result[wire_name(key)] = value
    return result


def wire_name(key: str) -> str:
    """The attribute name we write: leading `+` -> `_PLUS_`, `:` -> `__` (classads.md §0)."""
    if key.startswith("+"):
        key = "_PLUS_" + key[1:]
    return key.replace(":", "__")


def parse_json(text: str) -> list[ClassAd]:
    """A JSON ad or list of ads, as `condor_status -json` prints them."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ClassAdSyntaxError(f"bad JSON: {exc}") from exc
    items = data if isinstance(data, list) else [data]
    ads = []
    for item in items:
        if not isinstance(item, dict):
            raise ClassAdSyntaxError("a JSON ClassAd must be an object")
        ad = classad2.ClassAd()
        for key, value in item.items():
            match = _JSON_EXPR.fullmatch(value) if isinstance(value, str) else None
            ad[key] = classad2.ExprTree(match.group(1)) if match else value
        ads.append(ad)
    return ads


def format_json(ads: Iterable[ClassAd]) -> str:
    """A JSON list of ads; expressions print as `/Expr(...)/` strings like HTCondor's."""
    return "[\n" + ",\n".join(ad.printJson().strip() for ad in ads) + "\n]\n"


def to_python(ad: ClassAd) -> dict[str, Any]:
    """Plain Python values: literals as str/int/float/bool, unevaluated expressions as text."""
    result: dict[str, Any] = {}
    for key, value in ad.items():
        result[key] = str(value) if isinstance(value, classad2.ExprTree) else value
    return result
