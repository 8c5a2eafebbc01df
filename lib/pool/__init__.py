"""The pool layer: one interface to a Collector and a Schedd, two backends.

* `glideinwms_factory.lib.pool.htcondor`: the real HTCondor bindings (production).
* `glideinwms_factory.lib.pool.embedded`: the single-host daemon shipped with the project
  (the default for a fresh machine, the demo and the tests).

Callers use only the `Collector` and `Schedd` protocols below and catch `PoolError`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import classad2

# Where a pool listens when nothing says otherwise: HTCondor's collector port, which needs
# no privilege; the embedded pool uses it too, so `-pool HOST` reaches either.
DEFAULT_POOL_PORT = 9618


class PoolError(Exception):
    """The Collector or Schedd could not be reached or refused the call.

    The one exception type of the pool layer: a backend turns every connection or
    protocol failure into it, so an entry can back off and retry without knowing
    which backend it runs on.
    """


def one_line(exc: BaseException) -> str:
    """An exception as one line: bindings' messages may span several."""
    return " ".join(str(exc).split()) or type(exc).__name__


class JobStatus(enum.IntEnum):
    """HTCondor's numeric `JobStatus` codes."""

    IDLE = 1
    RUNNING = 2
    REMOVED = 3
    COMPLETED = 4
    HELD = 5
    TRANSFERRING_OUTPUT = 6
    SUSPENDED = 7


class JobAction(enum.StrEnum):
    """What `Schedd.act` can do to jobs."""

    REMOVE = "remove"
    REMOVE_X = "removex"  # condor_rm -forcex: drop a job already being removed (status X)
    HOLD = "hold"
    RELEASE = "release"


# Collector commands, by the names condor_advertise uses.
UPDATE_COMMANDS = ("UPDATE_AD_GENERIC", "UPDATE_MASTER_AD", "UPDATE_LICENSE_AD", "UPDATE_STARTD_AD")
INVALIDATE_COMMANDS = (
    "INVALIDATE_ADS_GENERIC",
    "INVALIDATE_MASTER_ADS",
    "INVALIDATE_LICENSE_ADS",
    "INVALIDATE_STARTD_ADS",
)
# What an invalidation's query ad names as TargetType when its constraint does not say.
_DEFAULT_TARGET_TYPE = {
    "INVALIDATE_ADS_GENERIC": "glidefactory",
    "INVALIDATE_MASTER_ADS": "glideclient",
    "INVALIDATE_LICENSE_ADS": "glidefactoryclient",
    "INVALIDATE_STARTD_ADS": "Machine",
}
_TYPE_IN_CONSTRAINT = re.compile(
    r"\b(?:GlideinMyType|MyType)\s*(?:==|=\?=)\s*\"([A-Za-z0-9_]+)\"", re.IGNORECASE
)


def invalidation_ad(constraint: str, command: str) -> classad2.ClassAd:
    """The query ad of classads.md §6 that an INVALIDATE_* command carries (both backends)."""
    if command not in INVALIDATE_COMMANDS:
        raise PoolError(f"unknown invalidate command {command!r}")
    found = _TYPE_IN_CONSTRAINT.search(constraint)
    ad = classad2.ClassAd()
    ad["MyType"] = "Query"
    ad["TargetType"] = found.group(1) if found else _DEFAULT_TARGET_TYPE[command]
    try:
        ad["Requirements"] = classad2.ExprTree(constraint)
    except (classad2.ClassAdException, ValueError) as exc:
        raise PoolError(f"bad invalidation constraint: {one_line(exc)}") from exc
    return ad


class Collector(Protocol):
    """Where ads are advertised and found (condor_status / condor_advertise)."""

    def query(
        self, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[classad2.ClassAd]:
        """Ads matching the ClassAd `constraint`; only `projection` attributes if given."""
        ...

    def advertise(
        self, ads: Sequence[classad2.ClassAd], command: str = "UPDATE_AD_GENERIC"
    ) -> None:
        """Store or replace ads (same MyType and Name replaces)."""
        ...

    def invalidate(self, constraint: str, command: str = "INVALIDATE_ADS_GENERIC") -> None:
        """Drop the ads matching `constraint`."""
        ...


class Schedd(Protocol):
    """The job queue glideins are submitted to (condor_submit / condor_q / condor_rm ...)."""

    def submit(
        self,
        description: str | Mapping[str, str],
        count: int = 1,
        attrs: Mapping[str, Any] | None = None,
    ) -> int:
        """Queue `count` jobs of a submit description; returns the cluster id.

        `attrs` are extra job attributes (the `+Attr` lines of a submit file).
        """
        ...

    def query(
        self, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[classad2.ClassAd]:
        """Job ads matching `constraint`."""
        ...

    def act(self, action: JobAction, jobs: Sequence[str] | str, reason: str = "") -> int:
        """Remove, hold or release jobs given as `cluster.proc` ids or a constraint.

        Returns how many jobs the action applied to.
        """
        ...
