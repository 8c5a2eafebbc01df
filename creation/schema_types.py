"""Value types of the master config schema: converters that check one attribute's text.

Each converter turns the XML text into the typed value or raises `TypeMismatch` saying
what is expected; `Attr` and `Element` are the two record types `schema` is built of.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from glideinwms_factory.lib.auth_method import AuthMethodError, parse_auth_method

REQUIRED = object()  # marker default: the attribute must be given


class TypeMismatch(ValueError):
    """A value does not fit its attribute's type (the message says what is expected)."""


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f]")


def _text(value: str) -> str:
    if _CONTROL.search(value):
        raise TypeMismatch("control characters (newlines) are not allowed")
    return value


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise TypeMismatch("expected True or False")
    return lowered == "true"


def _int(value: str) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise TypeMismatch("expected an integer") from None
    if number < 0:
        raise TypeMismatch("expected a non-negative integer")
    return number


def _positive_int(value: str) -> int:
    number = _int(value)
    if number < 1:
        raise TypeMismatch("expected a positive integer")
    return number


def _percent(value: str) -> int:
    number = _int(value)
    if number > 100:
        raise TypeMismatch("expected a percentage from 0 to 100")
    return number


def _float(value: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        raise TypeMismatch("expected a number") from None
    if not number >= 0 or number == float("inf"):
        raise TypeMismatch("expected a non-negative number")
    return number


def pattern(regex: str, what: str) -> Callable[[str], str]:
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise TypeMismatch(f"expected {what}")
        return value

    return check


def choice(*allowed: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in allowed:
            raise TypeMismatch(f"expected one of {', '.join(allowed)}")
        return value

    return check


def auth_method(value: str) -> str:
    try:
        parse_auth_method(value)
    except AuthMethodError as exc:
        raise TypeMismatch(str(exc).partition(": ")[2]) from None
    return value


TEXT = _text
BOOL = _bool
INT = _int
POSITIVE_INT = _positive_int
FLOAT = _float
PERCENT = _percent
# Names that end up in paths, ads and glidein arguments: bounded so that every file name
# made from one (entry_NAME, NAME.descript, ...) stays far below the 255-byte limit.
NAME_MAX = 128
NAME = pattern(
    rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{NAME_MAX - 1}}}",
    f"a name of at most {NAME_MAX} letters, digits, '_', '.', '-'",
)
ATTR_NAME = pattern(r"[A-Za-z0-9_]+", "a name of letters, digits and '_'")
SUBMIT_NAME = pattern(r"\+?[A-Za-z_][A-Za-z0-9_.]*", "a submit command name (optionally '+')")
PATH = pattern(r"[^\x00-\x1f]+", "a path")


@dataclass(frozen=True)
class Attr:
    """One XML attribute: how to convert it and its default (REQUIRED = must be given)."""

    convert: Callable[[str], object] = TEXT
    default: object = None


@dataclass(frozen=True)
class Element:
    """One XML element: its attributes and child elements (tag -> spec)."""

    attrs: dict[str, Attr] = field(default_factory=dict)
    children: dict[str, Element] = field(default_factory=dict)
    repeat: bool = False  # may occur more than once under its parent
