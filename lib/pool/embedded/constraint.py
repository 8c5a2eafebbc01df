"""Query constraints of the embedded Collector and Schedd: compiled one way for both."""

from __future__ import annotations

import classad2

# Importing htcondor2 registers HTCondor's ClassAd functions (stringListMember, ...):
# an ExprTree compiled before that evaluates them to Error, so a factory's request
# query would silently match nothing.
import htcondor2  # noqa: F401


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
