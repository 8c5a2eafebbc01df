"""Decide the factory's queue constraints on job records without building an ad.

The entry query `(GlideinFactory =?= "f") && (GlideinName =?= "g") && (GlideinEntryName
=?= "e") && (GlideinCredentialIdentifier =!= UNDEFINED)` is a conjunction of tests of
submitted attributes against string literals. When every conjunct is such a test and the
job's attribute is a plain string literal, the answer follows from the texts alone, with
ClassAd semantics: `=?=` is exact, `==` ignores case, a missing attribute is UNDEFINED
(so the conjunction is not true). Anything else returns None: the caller evaluates the
constraint with classad2 as before.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from glideinwms_factory.lib.pool.embedded.constraint import all_conjuncts

_NAME = r"([A-Za-z_][A-Za-z0-9_]*)"
_STRING = r'"([^"\\]*)"'
_COMPARE = re.compile(rf"{_NAME}\s*(=\?=|==)\s*{_STRING}")
_COMPARE_REVERSED = re.compile(rf"{_STRING}\s*(=\?=|==)\s*{_NAME}")
_DEFINED = re.compile(rf"{_NAME}\s*=!=\s*undefined", re.IGNORECASE)
_PLAIN = re.compile(_STRING)


@dataclass(frozen=True, slots=True)
class LiteralTest:
    """`name` (lower case) compared with `value`: exactly (`=?=`), ignoring case (`==`),
    or just defined (`value` None)."""

    name: str
    value: str | None = None
    exact: bool = True


def literal_tests(constraint: str) -> tuple[LiteralTest, ...] | None:
    """The constraint as literal tests, or None if any conjunct is something else."""
    tests = []
    for conjunct in all_conjuncts(constraint) or ["(not a conjunction of tests)"]:
        if match := _COMPARE.fullmatch(conjunct):
            name, op, value = match.groups()
        elif match := _COMPARE_REVERSED.fullmatch(conjunct):
            value, op, name = match.groups()
        elif match := _DEFINED.fullmatch(conjunct):
            tests.append(LiteralTest(match.group(1).lower()))
            continue
        else:
            return None
        tests.append(LiteralTest(name.lower(), value, op == "=?="))
    return tuple(tests) or None


def decide(
    tests: tuple[LiteralTest, ...], attributes: Mapping[str, tuple[str, str]]
) -> bool | None:
    """Whether the conjunction is true for a job whose submitted attributes are
    `attributes` (lower-cased name -> (name, text)); None when some tested attribute is
    not a plain string literal there (or is not a submitted one)."""
    for test in tests:
        found = attributes.get(test.name)
        if found is None:
            return None  # missing, or one the schedd sets itself: let classad2 judge
        plain = _PLAIN.fullmatch(found[1])
        if plain is None:
            return None
        if test.value is None:
            continue
        text = plain.group(1)
        if text != test.value if test.exact else text.lower() != test.value.lower():
            return False
    return True
