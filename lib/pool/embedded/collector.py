"""The embedded Collector's ad store: replace by (MyType, Name), expire, index, query.

Ads have owners: the identity that advertised an ad is the only one (besides the pool
administrator) that may replace or invalidate it, and factory ad types come only from the
factory. HTCondor leaves this to the readers; a refused write here is logged by the
caller and counted in `refused`. Thread-safe. Stored ads are never mutated (an update
stores a new entry), so queries take a snapshot of candidates under the lock and
evaluate constraints outside it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import classad2

from glideinwms_factory.lib.pool import INVALIDATE_COMMANDS, UPDATE_COMMANDS
from glideinwms_factory.lib.pool.embedded.auth import Authority
from glideinwms_factory.lib.pool.embedded.constraint import (
    compile_constraint,
    matches_everything,
    pinned_values,
)
from glideinwms_factory.lib.pool.embedded.wire import encode_ad, project

DEFAULT_LIFETIME = 900
# Collector tables, by the command that writes or invalidates them (same order as the names).
_TABLES = ("generic", "master", "license", "startd")
UPDATE_TABLES = dict(zip(UPDATE_COMMANDS, _TABLES, strict=True))
INVALIDATE_TABLES = dict(zip(INVALIDATE_COMMANDS, _TABLES, strict=True))
# Attributes the factory's queries pin (classads.md §0, §2): answered from an index.
INDEXED = frozenset({"mytype", "glideinmytype", "reqglidein"})


class NotOwnerError(ValueError):
    """A write to an ad that belongs to another identity (or a type reserved to the factory)."""


@dataclass(frozen=True)
class StoredAd:
    """One ad as the Collector holds it, with what queries need precomputed."""

    key: tuple[str, str]
    table: str
    ad: classad2.ClassAd
    text: str
    expires: float
    updates: int
    index_values: tuple[tuple[str, str], ...]
    owner: str


def _string_attr(ad: classad2.ClassAd, name: str) -> str | None:
    value = ad.eval(name) if name in ad else None
    return value if isinstance(value, str) else None


def _lifetime(ad: classad2.ClassAd, default: int) -> int:
    value = ad.eval("ClassAdLifetime") if "ClassAdLifetime" in ad else None
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default
    )


class CollectorStore:
    """Ads in memory, each until its lifetime runs out."""

    def __init__(
        self,
        default_lifetime: int = DEFAULT_LIFETIME,
        clock: Callable[[], float] = time.time,
        authority: Authority | None = None,
    ) -> None:
        self._default_lifetime = default_lifetime
        self._clock = clock
        self._authority = authority or Authority()
        self.refused = 0  # writes refused because the ad belongs to another identity
        self._lock = threading.Lock()
        self._ads: dict[tuple[str, str], StoredAd] = {}
        self._index: dict[tuple[str, str], set[tuple[str, str]]] = {}

    def __len__(self) -> int:
        return len(self._ads)

    def advertise(
        self, ads: Sequence[classad2.ClassAd], command: str, identity: str, method: str = "TOKEN"
    ) -> int:
        """Store `ads` (each replacing the ad of the same MyType and Name); how many stored.

        The Collector's bookkeeping overwrites whatever the client put in those
        attributes: `AuthenticatedIdentity` comes from the caller's token only. All or
        nothing: NotOwnerError if any ad belongs to another identity.
        """
        table = UPDATE_TABLES.get(command)
        if table is None:
            raise ValueError(
                f"unknown update command {command!r}: want one of {list(UPDATE_TABLES)}"
            )
        for number, ad in enumerate(ads, 1):
            if _string_attr(ad, "MyType") is None or _string_attr(ad, "Name") is None:
                raise ValueError(f"ad {number} has no string MyType and Name")
        now = self._clock()
        with self._lock:
            for ad in ads:
                self._check_owner(ad, identity)
            for ad in ads:
                self._store(ad, table, identity, method, now)
        return len(ads)

    def _check_owner(self, ad: classad2.ClassAd, identity: str) -> None:
        """Under the lock: NotOwnerError (counted) unless `identity` may write this ad."""
        my_type, name = str(_string_attr(ad, "MyType")), str(_string_attr(ad, "Name"))
        old = self._ads.get((my_type.lower(), name))
        reason = ""
        if not self._authority.may_advertise_type(my_type, identity):
            reason = f"only the factory advertises {my_type} ads"
        elif old is not None and not self._authority.may_replace(old.owner, identity):
            reason = f"it was advertised by {old.owner}"
        if reason:
            self.refused += 1
            raise NotOwnerError(f"{identity} may not replace {my_type} ad {name[:80]!r}: {reason}")

    def _store(
        self, ad: classad2.ClassAd, table: str, identity: str, method: str, now: float
    ) -> None:
        key = (str(_string_attr(ad, "MyType")).lower(), str(_string_attr(ad, "Name")))
        old = self._ads.get(key)
        updates = old.updates + 1 if old is not None else 1
        stamps = {
            "AuthenticatedIdentity": identity,
            "AuthenticationMethod": method,
            "LastHeardFrom": int(now),
            "UpdatesTotal": updates,
        }
        for name, value in stamps.items():
            if name in ad:
                del ad[name]  # also drops a client's differently-cased spelling
            ad[name] = value
        index_values = tuple(
            (name, value.lower())
            for name in sorted(INDEXED)
            if (value := _string_attr(ad, name)) is not None
        )
        expires = now + _lifetime(ad, self._default_lifetime)
        entry = StoredAd(key, table, ad, encode_ad(ad), expires, updates, index_values, identity)
        self._drop(key)
        self._ads[key] = entry
        for pair in index_values:
            self._index.setdefault(pair, set()).add(key)

    def _drop(self, key: tuple[str, str]) -> None:
        old = self._ads.pop(key, None)
        if old is None:
            return
        for pair in old.index_values:
            keys = self._index.get(pair)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._index[pair]

    def _candidates(self, constraint: str) -> list[StoredAd]:
        """Under the lock: the ads the constraint can match, from the smallest index hit."""
        best: set[tuple[str, str]] | None = None
        for name, values in pinned_values(constraint, INDEXED).items():
            keys: set[tuple[str, str]] = set()
            for value in values:
                keys |= self._index.get((name, value), set())
            if best is None or len(keys) < len(best):
                best = keys
        if best is None:
            return list(self._ads.values())
        return [self._ads[key] for key in best]

    def _matching(self, constraint: str) -> list[StoredAd]:
        expr = compile_constraint(constraint)
        with self._lock:
            candidates = self._candidates(constraint)
        now = self._clock()
        if matches_everything(constraint):
            return [entry for entry in candidates if entry.expires > now]
        return [
            entry for entry in candidates if entry.expires > now and expr.eval(entry.ad) is True
        ]

    def query_blocks(self, constraint: str = "true", projection: Sequence[str] = ()) -> list[str]:
        """Wire lines of the live ads matching `constraint` (only `projection` if given)."""
        matches = self._matching(constraint)
        if not projection:
            return [entry.text for entry in matches]
        wanted = tuple(projection)
        return [encode_ad(project(entry.ad, wanted)) for entry in matches]

    def invalidate(
        self, query_ad: classad2.ClassAd, command: str, identity: str
    ) -> tuple[int, int]:
        """Drop the ads of the command's table that the query ad's Requirements match.

        For generic ads the query's TargetType also names the MyType to drop, as
        condor_advertise INVALIDATE_ADS_GENERIC does. Only `identity`'s own ads go (all
        of them for the administrator); (dropped, refused) where refused counts the
        matching ads of other identities, left in place.
        """
        table = INVALIDATE_TABLES.get(command)
        if table is None:
            raise ValueError(
                f"unknown invalidate command {command!r}: want one of {list(INVALIDATE_TABLES)}"
            )
        if "Requirements" not in query_ad:
            raise ValueError("the invalidation query ad has no Requirements")
        requirements = str(query_ad.lookup("Requirements"))
        target = (_string_attr(query_ad, "TargetType") or "any").lower()
        matches = self._matching(requirements)
        with self._lock:
            dropped = refused = 0
            for entry in matches:
                if entry.table != table or (
                    table == "generic" and target not in ("any", entry.key[0])
                ):
                    continue
                if self._ads.get(entry.key) is not entry:
                    continue
                if not self._authority.may_replace(entry.owner, identity):
                    refused += 1
                    continue
                self._drop(entry.key)
                dropped += 1
            self.refused += refused
            return dropped, refused

    def expire(self) -> int:
        """Drop the ads whose lifetime ran out; how many."""
        now = self._clock()
        with self._lock:
            dead = [key for key, entry in self._ads.items() if entry.expires <= now]
            for key in dead:
                self._drop(key)
            return len(dead)
