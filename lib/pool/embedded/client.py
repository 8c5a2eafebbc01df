"""Client backend of the embedded pool: the `Collector` and `Schedd` protocols over HTTP.

Every connection or protocol failure becomes a `PoolError` with a one-line message, so
callers handle the embedded and the HTCondor backend alike.
"""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import threading
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import classad2

from glideinwms_factory.lib.classad import ClassAdSyntaxError
from glideinwms_factory.lib.pool import JobAction, PoolError, invalidation_ad
from glideinwms_factory.lib.pool.embedded import statedir
from glideinwms_factory.lib.pool.embedded.wire import (
    CONTENT_TYPE,
    decode_ads,
    encode_for_advertise,
)

DEFAULT_TIMEOUT = 30.0
ENV_POOL = "GWMS_POOL"
# Reconnect rather than reuse a connection idle this long: the daemon drops idle ones.
_MAX_IDLE = 20.0


def find_pool_address(
    pool: str | None = None,
    state_dir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] = os.environ,
) -> str:
    """HOST:PORT of the pool: explicit, else $GWMS_POOL, else the state dir's address file."""
    try:
        if pool:
            return statedir.check_address(pool)
        if environ.get(ENV_POOL):
            return statedir.check_address(environ[ENV_POOL])
    except ValueError as exc:
        raise PoolError(str(exc)) from None
    if state_dir is not None:
        address = statedir.read_address(pathlib.Path(state_dir))
        if address:
            return address
        raise PoolError(f"no pool address recorded in {state_dir} (is the pool running?)")
    raise PoolError(f"no pool address: give --pool HOST:PORT, set {ENV_POOL} or a state dir")


def read_token(path: str | os.PathLike[str]) -> str:
    """The token stored in a file (surrounding whitespace dropped)."""
    try:
        token = pathlib.Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise PoolError(f"cannot read token file {path}: {exc}") from None
    if not token:
        raise PoolError(f"token file {path} is empty")
    return token


class _HttpClient:
    """One keep-alive connection per thread to the daemon; errors become PoolError."""

    def __init__(self, address: str, token: str | None, timeout: float) -> None:
        try:
            self.address = statedir.check_address(address)
        except ValueError as exc:
            raise PoolError(str(exc)) from None
        host, port = self.address.rsplit(":", 1)
        self._host = host.strip("[]")
        self._port = int(port)
        self._token = token
        self._timeout = timeout
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and time.monotonic() - self._local.used > _MAX_IDLE:
            conn.close()
            conn = None
        if conn is None:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            self._local.conn = conn
        self._local.used = time.monotonic()
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = CONTENT_TYPE,
        auth: bool = False,
        idempotent: bool = True,
    ) -> bytes:
        """The answer body of a 200; PoolError for anything else."""
        headers = {"Content-Type": content_type} if body is not None else {}
        if auth:
            if not self._token:
                raise PoolError(f"{path}: writing to the pool needs a token")
            headers["Authorization"] = f"Bearer {self._token}"
        for attempt in (1, 2):
            reused = getattr(self._local, "conn", None) is not None
            conn = self._connection()
            try:
                conn.request(method, path, body, headers)
                response = conn.getresponse()
                data = response.read()
            except TimeoutError:
                self._drop_connection()
                raise PoolError(
                    f"pool at {self.address}: no answer to {path} within {self._timeout:g} s"
                ) from None
            except (OSError, http.client.HTTPException) as exc:
                self._drop_connection()
                # A kept-alive connection the daemon closed meanwhile: one fresh try.
                if attempt == 1 and reused and idempotent:
                    continue
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                raise PoolError(f"cannot reach the pool at {self.address}: {reason}") from None
            if response.will_close:
                self._drop_connection()
            if response.status != 200:
                message = data.decode("utf-8", "replace").strip().splitlines()
                raise PoolError(
                    f"pool at {self.address} refused {path}: {response.status} "
                    f"{message[0] if message else response.reason}"
                )
            return data
        raise AssertionError("unreachable")  # the loop returns or raises

    def query(
        self, path: str, constraint: str, projection: Sequence[str]
    ) -> list[classad2.ClassAd]:
        form = urllib.parse.urlencode(
            {"constraint": constraint, "projection": ",".join(projection)}
        )
        data = self.request("POST", path, form.encode(), "application/x-www-form-urlencoded")
        try:
            return decode_ads(data.decode("utf-8"))
        except (UnicodeDecodeError, ClassAdSyntaxError) as exc:
            raise PoolError(f"pool at {self.address}: unreadable answer to {path}: {exc}") from None

    def post_json(self, path: str, payload: dict[str, Any], idempotent: bool) -> dict[str, Any]:
        data = self.request(
            "POST", path, json.dumps(payload).encode(), "application/json", True, idempotent
        )
        try:
            answer = json.loads(data)
        except json.JSONDecodeError:
            answer = None
        if not isinstance(answer, dict):
            raise PoolError(f"pool at {self.address}: answer to {path} is not a JSON object")
        return answer


class _PoolClient:
    """What both clients share: the daemon address, a token, a timeout, ad queries."""

    _QUERY_PATH = ""

    def __init__(
        self, address: str, token: str | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self._http = _HttpClient(address, token, timeout)

    @property
    def address(self) -> str:
        return self._http.address

    def query(
        self, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[classad2.ClassAd]:
        """Ads matching `constraint`; only `projection` attributes if given."""
        return self._http.query(self._QUERY_PATH, constraint, projection)


class EmbeddedCollector(_PoolClient):
    """The `Collector` protocol against an embedded pool daemon."""

    _QUERY_PATH = "/v1/collector/query"

    def advertise(
        self, ads: Sequence[classad2.ClassAd], command: str = "UPDATE_AD_GENERIC"
    ) -> None:
        if not ads:
            return
        body = "\n".join(encode_for_advertise(ad) for ad in ads).encode()
        path = "/v1/collector/advertise?" + urllib.parse.urlencode({"command": command})
        self._http.request("POST", path, body, auth=True)

    def invalidate(self, constraint: str, command: str = "INVALIDATE_ADS_GENERIC") -> None:
        self.invalidate_query(invalidation_ad(constraint, command), command)

    def invalidate_query(self, query_ad: classad2.ClassAd, command: str) -> None:
        """Send a query ad as condor_advertise INVALIDATE_* does (TargetType kept)."""
        path = "/v1/collector/invalidate?" + urllib.parse.urlencode({"command": command})
        self._http.request("POST", path, encode_for_advertise(query_ad).encode(), auth=True)


def _wire_value(value: Any) -> Any:
    if isinstance(value, classad2.ExprTree):
        return {"expr": str(value)}
    return value


class EmbeddedSchedd(_PoolClient):
    """The `Schedd` protocol against an embedded pool daemon."""

    _QUERY_PATH = "/v1/schedd/query"

    def submit(
        self,
        description: str | Mapping[str, str],
        count: int = 1,
        attrs: Mapping[str, Any] | None = None,
    ) -> int:
        payload = {
            "description": description if isinstance(description, str) else dict(description),
            "count": count,
            "attrs": {name: _wire_value(value) for name, value in (attrs or {}).items()},
        }
        # Not retried: a lost answer must not queue the jobs twice.
        answer = self._http.post_json("/v1/schedd/submit", payload, idempotent=False)
        cluster = answer.get("cluster")
        if not isinstance(cluster, int):
            raise PoolError(f"pool at {self.address}: submit answer has no cluster id")
        return cluster

    def act(
        self,
        action: JobAction,
        jobs: Sequence[str] | str,
        reason: str = "",
        hold_code: int | None = None,
        hold_subcode: int = 0,
    ) -> int:
        payload = {
            "action": JobAction(action).value,
            "jobs": jobs if isinstance(jobs, str) else list(jobs),
            "reason": reason,
            "hold_code": hold_code,
            "hold_subcode": hold_subcode,
        }
        answer = self._http.post_json("/v1/schedd/act", payload, idempotent=True)
        count = answer.get("count")
        if not isinstance(count, int):
            raise PoolError(f"pool at {self.address}: act answer has no count")
        return count


def ping(address: str, timeout: float = 2.0) -> dict[str, Any]:
    """The daemon's self-description (pid, address, start time); PoolError if none answers."""
    data = _HttpClient(address, None, timeout).request("GET", "/v1/ping")
    try:
        answer = json.loads(data)
    except json.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict) or not isinstance(answer.get("pid"), int):
        raise PoolError(f"{address} does not answer like an embedded pool")
    return answer
