"""Pick the pool backend a factory tree is configured for (glidein.descript `PoolBackend`).

Daemons call `open_pool(glidein_descript)` and get a `Pool`; nothing else in the factory
knows which backend it runs on. The embedded backend is found through its state dir
(address file) and authenticates with the factory's token kept there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from glideinwms_factory.lib.atomicfile import atomic_write
from glideinwms_factory.lib.pool import Collector, PoolError, Schedd

FACTORY_TOKEN_FILE = "factory.token"
BACKENDS = ("embedded", "htcondor")


@dataclass
class Pool:
    """A Collector and the Schedds of one factory (by name; embedded has just one)."""

    collector: Collector
    backend: str
    make_schedd: Callable[[str], Schedd]
    _schedds: dict[str, Schedd] = field(default_factory=dict, repr=False)

    def schedd(self, name: str) -> Schedd:
        if name not in self._schedds:
            self._schedds[name] = self.make_schedd(name)
        return self._schedds[name]


def embedded_state_dir(glidein: Mapping[str, str]) -> Path:
    return Path(glidein["EmbeddedPoolStateDir"])


def ensure_factory_token(state_dir: Path) -> Path:
    """The factory's own write token for the embedded pool, created 0600 if missing."""
    from glideinwms_factory.lib.pool.embedded import auth

    path = state_dir / FACTORY_TOKEN_FILE
    if not path.exists():
        secret = auth.load_or_create_secret(state_dir)
        atomic_write(path, auth.create_token(secret, auth.FACTORY_IDENTITY) + "\n", mode=0o600)
    return path


def open_collector(
    backend: str,
    pool: str | None = None,
    state_dir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Collector:
    """A Collector to read ads from, for the tools (no factory token needed).

    embedded: `pool` HOST:PORT, else $GWMS_POOL, else the address recorded in `state_dir`;
    htcondor: `pool` is the collector's host[:port] (None = HTCondor's COLLECTOR_HOST).
    """
    if backend == "embedded":
        from glideinwms_factory.lib.pool.embedded.client import (
            EmbeddedCollector,
            find_pool_address,
        )

        return EmbeddedCollector(find_pool_address(pool, state_dir, environ))
    if backend == "htcondor":
        from glideinwms_factory.lib.pool.htcondor import HTCondorCollector

        return HTCondorCollector(pool)
    raise PoolError(f"unknown pool backend {backend!r}")


def open_pool(glidein: Mapping[str, str]) -> Pool:
    """The pool of a tree; raises PoolError when the embedded pool's address is unknown."""
    backend = glidein.get("PoolBackend", "htcondor")
    if backend == "embedded":
        from glideinwms_factory.lib.pool.embedded.client import (
            EmbeddedCollector,
            EmbeddedSchedd,
            find_pool_address,
            read_token,
        )

        state_dir = embedded_state_dir(glidein)
        address = find_pool_address(state_dir=state_dir, environ={})
        token = read_token(state_dir / FACTORY_TOKEN_FILE)
        return Pool(
            EmbeddedCollector(address, token),
            backend,
            make_schedd=lambda _name: EmbeddedSchedd(address, token),
        )
    if backend == "htcondor":
        from glideinwms_factory.lib.pool.htcondor import HTCondorCollector, HTCondorSchedd

        collector_host = glidein.get("FactoryCollector")
        pool = None if collector_host in (None, "", "None") else collector_host
        return Pool(
            HTCondorCollector(pool),
            backend,
            make_schedd=lambda name: HTCondorSchedd(name or None, pool),
        )
    raise PoolError(f"unknown PoolBackend {backend!r} in glidein.descript")
