"""The embedded pool inside the calling process: its `ScheddCore` and `CollectorStore`
behind the `Collector`/`Schedd` protocols, without the HTTP server.

For tests and tools that drive an entry loop (or a frontend) in one process: the same
queue, executor and ad store as the daemon, so glideins are real processes, but nothing
listens on a port. Ads and answers take the same wire forms as through the daemon
(old syntax in, one new-syntax line per ad out), so what a caller gets back is a copy it
may change. The caller's identity plays the part of the daemon's token: it stamps
`AuthenticatedIdentity` on advertised ads and names the `Owner` of submitted jobs.
Bad input raises `PoolError`, as a 400 answer of the daemon does.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import classad2

from glideinwms_factory.lib.classad import ClassAdSyntaxError, parse_old_many
from glideinwms_factory.lib.pool import JobAction, PoolError, invalidation_ad
from glideinwms_factory.lib.pool.connect import Pool
from glideinwms_factory.lib.pool.embedded.auth import FACTORY_IDENTITY, Authority
from glideinwms_factory.lib.pool.embedded.collector import CollectorStore
from glideinwms_factory.lib.pool.embedded.schedd_core import ScheddCore
from glideinwms_factory.lib.pool.embedded.wire import decode_ads, encode_for_advertise


class InProcessCollector:
    """The `Collector` protocol on a `CollectorStore`, as `identity`."""

    def __init__(self, store: CollectorStore, identity: str) -> None:
        self.store = store
        self.identity = identity

    def query(
        self, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[classad2.ClassAd]:
        try:
            return decode_ads("".join(self.store.query_blocks(constraint, projection)))
        except ValueError as exc:
            raise PoolError(f"collector query: {exc}") from exc

    def advertise(
        self, ads: Sequence[classad2.ClassAd], command: str = "UPDATE_AD_GENERIC"
    ) -> None:
        if not ads:
            return
        text = "\n".join(encode_for_advertise(ad) for ad in ads)
        try:
            self.store.advertise(parse_old_many(text), command, self.identity)
        except (ClassAdSyntaxError, ValueError) as exc:
            raise PoolError(f"collector advertise: {exc}") from exc

    def invalidate(self, constraint: str, command: str = "INVALIDATE_ADS_GENERIC") -> None:
        try:
            self.store.invalidate(invalidation_ad(constraint, command), command, self.identity)
        except ValueError as exc:
            raise PoolError(f"collector invalidate: {exc}") from exc


class InProcessSchedd:
    """The `Schedd` protocol on a `ScheddCore`, submitting as `identity`'s user part.

    As the daemon, it lets only the factory and the administrator change the queue."""

    def __init__(self, core: ScheddCore, identity: str) -> None:
        self.core = core
        self.identity = identity
        self.owner = identity.split("@", 1)[0]

    def _authorized(self, action: str) -> None:
        if not Authority().may_use_schedd(self.identity):
            raise PoolError(f"schedd {action}: {self.identity} may not change this queue")

    def submit(
        self,
        description: str | Mapping[str, str],
        count: int = 1,
        attrs: Mapping[str, Any] | None = None,
    ) -> int:
        self._authorized("submit")
        try:
            return self.core.submit(description, count, attrs, owner=self.owner)
        except ValueError as exc:
            raise PoolError(f"schedd submit: {exc}") from exc

    def query(
        self, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[classad2.ClassAd]:
        try:
            lines = self.core.query_lines(constraint, projection)
        except ValueError as exc:
            raise PoolError(f"schedd query: {exc}") from exc
        return decode_ads("".join(lines))

    def act(self, action: JobAction, jobs: Sequence[str] | str, reason: str = "") -> int:
        self._authorized("act")
        try:
            return self.core.act(action, jobs, reason)
        except ValueError as exc:
            raise PoolError(f"schedd act: {exc}") from exc


class InProcessPool:
    """A started `ScheddCore` (state in `state_dir`) and a `CollectorStore`; `pool()` is
    the `connect.Pool` one identity sees. Use as a context manager, or call `stop()`."""

    def __init__(self, state_dir: pathlib.Path, slots: int = 4, **core_options: float) -> None:
        self.store = CollectorStore()
        self.core = ScheddCore(state_dir, slots, log=None, **core_options)
        self.core.start()

    def pool(self, identity: str = FACTORY_IDENTITY) -> Pool:
        return Pool(
            InProcessCollector(self.store, identity),
            "embedded",
            make_schedd=lambda _name: InProcessSchedd(self.core, identity),
        )

    def stop(self) -> None:
        """Stop the scheduler; as with the daemon, running jobs keep running."""
        self.core.stop()

    def __enter__(self) -> InProcessPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
