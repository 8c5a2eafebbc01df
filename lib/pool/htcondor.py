"""The production pool backend: a real Collector and Schedd through the `htcondor2` bindings.

Everything the bindings raise (HTCondorException, OSError, the ValueError of a refused
command or constraint) becomes `PoolError` with a one-line message, so an entry backs off
the same way whichever backend it runs on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import classad2
import htcondor2

from glideinwms_factory.lib.pool import (
    UPDATE_COMMANDS,
    JobAction,
    PoolError,
    invalidation_ad,
    one_line,
)
from glideinwms_factory.lib.pool.submit_text import check_attr_name, literal

DEFAULT_QUERY_TIMEOUT = 30
# classads.md §0: the security model depends on signed traffic; this is not optional.
INTEGRITY_ENV = {
    f"_CONDOR_SEC_{context}_INTEGRITY": "REQUIRED"
    for context in ("DEFAULT", "CLIENT", "READ", "WRITE")
}

_BINDING_ACTIONS = {
    JobAction.REMOVE: htcondor2.JobAction.Remove,
    JobAction.REMOVE_X: htcondor2.JobAction.RemoveX,
    JobAction.HOLD: htcondor2.JobAction.Hold,
    JobAction.RELEASE: htcondor2.JobAction.Release,
}
_configured = False


def configure_environment(query_timeout: int = DEFAULT_QUERY_TIMEOUT) -> None:
    """Integrity REQUIRED and a bounded query timeout, for us and for condor tools we spawn.

    An operator's own `_CONDOR_QUERY_TIMEOUT` wins; integrity always becomes REQUIRED.
    """
    global _configured
    os.environ.update(INTEGRITY_ENV)
    os.environ.setdefault("_CONDOR_QUERY_TIMEOUT", str(query_timeout))
    htcondor2.reload_config()
    _configured = True


def _ensure_configured() -> None:
    if not _configured:
        configure_environment()


@contextmanager
def _pool_errors(what: str) -> Iterator[None]:
    try:
        yield
    except (htcondor2.HTCondorException, classad2.ClassAdException, OSError, ValueError) as exc:
        raise PoolError(f"{what}: {one_line(exc)}") from exc


class HTCondorCollector:
    """`Collector` on a real HTCondor collector (`pool` = host[:port], None = COLLECTOR_HOST)."""

    def __init__(self, pool: str | None = None) -> None:
        _ensure_configured()
        self.pool = pool
        with _pool_errors(f"collector {pool or 'COLLECTOR_HOST'}"):
            self._collector = htcondor2.Collector(pool)

    def _where(self) -> str:
        return f"collector {self.pool or 'COLLECTOR_HOST'}"

    def query(
        self, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[classad2.ClassAd]:
        # Every table: readers select by GlideinMyType, not by the collector's ad type.
        with _pool_errors(f"query {self._where()}"):
            return self._collector.query(htcondor2.AdTypes.Any, constraint, list(projection))

    def advertise(
        self, ads: Sequence[classad2.ClassAd], command: str = "UPDATE_AD_GENERIC"
    ) -> None:
        if command not in UPDATE_COMMANDS:
            raise PoolError(f"unknown advertise command {command!r}")
        if not ads:
            return
        # All ads over one TCP connection: what `condor_advertise -tcp -multiple` does.
        with _pool_errors(f"advertise to {self._where()}"):
            self._collector.advertise(list(ads), command, True)

    def invalidate(self, constraint: str, command: str = "INVALIDATE_ADS_GENERIC") -> None:
        query_ad = invalidation_ad(constraint, command)
        with _pool_errors(f"invalidate at {self._where()}"):
            self._collector.advertise([query_ad], command, True)


def attr_expression(value: Any) -> str:
    """A Python value as the ClassAd expression of a `+Attr` submit line.

    Strings become quoted literals with every `$` as `$(DOLLAR)`, so no request value can
    expand a submit macro, start a new line or end its string. `ExprTree`s are trusted.
    """
    text = literal(value)
    return text.replace("$", "$(DOLLAR)") if isinstance(value, str) else text


def build_submit(
    description: str | Mapping[str, str], attrs: Mapping[str, Any] | None = None
) -> htcondor2.Submit:
    """An `htcondor2.Submit` from a submit text or mapping plus extra job attributes."""
    if isinstance(description, str):
        submit = htcondor2.Submit(description)
    else:
        for key, value in description.items():
            if "\n" in key or "\n" in str(value):
                raise ValueError(f"submit command {key.strip()[:40]!r} contains a newline")
        submit = htcondor2.Submit({key: str(value) for key, value in description.items()})
    for name, value in (attrs or {}).items():
        submit["MY." + check_attr_name(name)] = attr_expression(value)
    return submit


class HTCondorSchedd:
    """`Schedd` on a real condor_schedd, found by `name` through `pool`'s collector.

    With neither, the local schedd. It is located on first use, so a schedd that is
    down at construction time is reported (as PoolError) where the caller handles it.
    """

    def __init__(self, name: str | None = None, pool: str | None = None) -> None:
        _ensure_configured()
        self.name = name
        self.pool = pool
        self._schedd: htcondor2.Schedd | None = None

    def _where(self) -> str:
        return f"schedd {self.name or 'local'}" + (f" via {self.pool}" if self.pool else "")

    def _binding(self) -> htcondor2.Schedd:
        if self._schedd is None:
            with _pool_errors(f"locate {self._where()}"):
                if self.name is None and self.pool is None:
                    self._schedd = htcondor2.Schedd()
                else:
                    collector = htcondor2.Collector(self.pool)
                    location = collector.locate(htcondor2.DaemonType.Schedd, self.name)
                    if location is None:
                        raise PoolError(f"{self._where()}: not known to the collector")
                    self._schedd = htcondor2.Schedd(location)
        return self._schedd

    def submit(
        self,
        description: str | Mapping[str, str],
        count: int = 1,
        attrs: Mapping[str, Any] | None = None,
    ) -> int:
        if count < 1:
            raise ValueError(f"submit count must be at least 1, not {count}")
        with _pool_errors("bad submit description"):
            submit = build_submit(description, attrs)
        schedd = self._binding()
        with _pool_errors(f"submit to {self._where()}"):
            return int(schedd.submit(submit, count=count).cluster())

    def query(
        self, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[classad2.ClassAd]:
        schedd = self._binding()
        with _pool_errors(f"query {self._where()}"):
            return schedd.query(constraint, list(projection))

    def act(self, action: JobAction, jobs: Sequence[str] | str, reason: str = "") -> int:
        spec: list[str] | str = jobs if isinstance(jobs, str) else list(jobs)
        if not spec:
            return 0
        schedd = self._binding()
        with _pool_errors(f"{action.value} at {self._where()}"):
            # A (reason, code) pair: the bindings drop a plain-string reason.
            why = reason or f"glidein factory {action.value}"
            result = schedd.act(_BINDING_ACTIONS[JobAction(action)], spec, (why, None))
        return int(result["TotalSuccess"]) if result is not None else 0
