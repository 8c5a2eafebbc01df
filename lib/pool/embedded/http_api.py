"""The embedded pool's HTTP API: token checks, request bodies and the routes of the
Collector and the Schedd (wire protocol in this package's `__init__`).

No single request can take the daemon down or hold it up: a body's size is checked
from Content-Length before it is read (queries, which need no token, get 1 MiB), every
expression and ad is bounded before classad2 parses it (`input_limits`), connections
are bounded in number and time (`lib.httpserve`), and a refused request closes its
connection, so that an unread body is never taken for a second request. Only the
factory and the administrator may act on the schedd (`auth.Authority`), and an
anonymous schedd action is refused before its body is read. `server` runs the daemon
process around it.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from typing import Any

import classad2

from glideinwms_factory.lib.classad import ClassAdSyntaxError, parse_old, parse_old_many
from glideinwms_factory.lib.httpserve import BoundedHandler, BoundedHTTPServer
from glideinwms_factory.lib.pool import JobAction
from glideinwms_factory.lib.pool.embedded.auth import (
    Authority,
    TokenError,
    load_or_create_secret,
    verify_token,
)
from glideinwms_factory.lib.pool.embedded.collector import (
    DEFAULT_LIFETIME,
    CollectorStore,
    NotOwnerError,
)
from glideinwms_factory.lib.pool.embedded.input_limits import (
    MAX_ATTRIBUTES,
    check_ad_text,
    check_expression,
)
from glideinwms_factory.lib.pool.embedded.schedd_core import ScheddCore
from glideinwms_factory.lib.pool.embedded.wire import CONTENT_TYPE

MAX_BODY = 64 * 1024 * 1024
MAX_QUERY_BODY = 1024 * 1024  # anonymous: a query's form-encoded parameters
MAX_AD_BYTES = 1024 * 1024
IDLE_TIMEOUT = 30.0  # longer than the client's reuse limit (client._MAX_IDLE)
REQUEST_DEADLINE = 30.0
SELF_IDENTITY = "collector@embedded-pool"


class HttpError(Exception):
    """A request the daemon refuses: HTTP status and a one-line reason for the caller."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class PoolDaemon:
    """What the HTTP handlers act on: the ad store, the job queue and the pool secret."""

    def __init__(
        self,
        state_dir: pathlib.Path,
        schedd: ScheddCore,
        log: logging.Logger,
        lifetime: int = DEFAULT_LIFETIME,
        authority: Authority | None = None,
    ) -> None:
        self.secret = load_or_create_secret(state_dir)
        self.authority = authority or Authority()
        self.collector = CollectorStore(lifetime, authority=self.authority)
        self.schedd = schedd
        self.schedd_refused = 0  # schedd actions refused to identities without the right
        # Every refused HTTP request (too big, too deep, no or bad token, unparsable ...)
        # by answer status: what pool.log says one line each, counted.
        self.refused_requests: Counter[int] = Counter()
        self._refused_lock = threading.Lock()
        self.log = log
        self.start_time = int(time.time())
        self.address = ""

    def identity(self, header: str | None) -> str:
        """The identity of a verified bearer token, else a 401."""
        if not header:
            raise HttpError(401, "this call needs a token (Authorization: Bearer TOKEN)")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HttpError(401, "Authorization header is not 'Bearer TOKEN'")
        try:
            return verify_token(self.secret, token).identity
        except TokenError as exc:
            raise HttpError(401, f"bad token: {exc}") from exc

    def schedd_identity(self, header: str | None, action: str) -> str:
        """The identity, if it may act on the schedd (the factory's or the admin's)."""
        identity = self.identity(header)
        if not self.authority.may_use_schedd(identity):
            self.schedd_refused += 1
            raise HttpError(403, f"{identity} may not {action} in this schedd (the factory's)")
        return identity

    def count_refusal(self, status: int) -> None:
        with self._refused_lock:
            self.refused_requests[status] += 1

    def advertise_self(self) -> None:
        """The Collector's own ad, as condor_status -collector shows it."""
        ad = classad2.ClassAd()
        ad["MyType"] = "Collector"
        ad["Name"] = f"embedded@{self.address}"
        ad["MyAddress"] = f"<{self.address}>"
        ad["DaemonStartTime"] = self.start_time
        ad["CurrentTime"] = classad2.ExprTree("time()")
        ad["TotalAds"] = len(self.collector)
        ad["RefusedAdWrites"] = self.collector.refused
        ad["RefusedScheddActions"] = self.schedd_refused
        with self._refused_lock:
            by_status = sorted(self.refused_requests.items())
        ad["RefusedRequests"] = sum(count for _, count in by_status)
        ad["RefusedRequestsByStatus"] = ",".join(f"{code}:{count}" for code, count in by_status)
        self.collector.advertise([ad], "UPDATE_AD_GENERIC", SELF_IDENTITY, "SELF")


def _param_list(text: str) -> tuple[str, ...]:
    return tuple(name for name in text.replace(",", " ").split() if name)


def _utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HttpError(400, "request body is not UTF-8") from exc


class Handler(BoundedHandler):
    """One connection; requests are routed by (method, path)."""

    protocol_version = "HTTP/1.1"
    idle_timeout = IDLE_TIMEOUT
    request_deadline = REQUEST_DEADLINE
    # Headers and body leave in two writes: without this, delayed ACKs cost 40 ms a call.
    disable_nagle_algorithm = True
    server: PoolHttpServer

    # --- plumbing -------------------------------------------------------------------

    # Errors http.server raises itself (unparsable request line, bad headers): one line too.
    error_message_format = "%(code)d %(message)s\n"
    error_content_type = CONTENT_TYPE

    def log_message(self, format: str, *args: Any) -> None:
        self.server.daemon_state.log.debug("%s " + format, self.client_address[0], *args)

    def log_error(self, format: str, *args: Any) -> None:
        self.server.daemon_state.log.warning("%s " + format, self.client_address[0], *args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (an unparsable request line, over-long headers)."""
        self.server.daemon_state.count_refusal(code)
        super().send_error(code, message, explain)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        state = self.server.daemon_state
        url = urllib.parse.urlsplit(self.path)
        route = ROUTES.get((method, url.path))
        try:
            if route is None:
                known = url.path in {path for _, path in ROUTES}
                raise HttpError(405 if known else 404, f"no endpoint {method} {url.path}")
            params = dict(urllib.parse.parse_qsl(url.query))
            status, content_type, body = route(self, state, params)
        except HttpError as exc:
            state.count_refusal(exc.status)
            state.log.warning(
                "refused %s %s from %s: %s %s",
                method,
                url.path[:100],
                self.client_address[0],
                exc.status,
                str(exc)[:300],
            )
            # The body may be unread: never let it be taken for a second request.
            self.close_connection = True
            self._send(exc.status, CONTENT_TYPE, (str(exc) + "\n").encode())
            return
        except TimeoutError:
            self.close_connection = True
            state.count_refusal(408)
            state.log.warning("%s %s: the request took too long to arrive", method, url.path)
            return
        except Exception:
            state.log.exception("internal error on %s %s", method, url.path[:100])
            self.close_connection = True
            self._send(500, CONTENT_TYPE, b"internal error (see the pool log)\n")
            return
        self._send(status, content_type, body)

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def body(self, limit: int = MAX_BODY) -> bytes:
        """The request body, checked against `limit` before a byte of it is read."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise HttpError(411, "chunked bodies are not accepted: send Content-Length")
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            self.close_connection = True
            raise HttpError(400, "Content-Length is not a number") from None
        if length < 0 or length > limit:
            self.close_connection = True
            raise HttpError(413, f"request body over {limit} bytes")
        return self.rfile.read(length)

    def text_body(self, limit: int = MAX_BODY) -> str:
        return _utf8(self.body(limit))

    def json_body(self) -> dict[str, Any]:
        try:
            data = json.loads(self.text_body())
        except json.JSONDecodeError as exc:
            raise HttpError(400, f"request body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise HttpError(400, "request body must be a JSON object")
        return data

    def query_params(self, params: dict[str, str]) -> tuple[str, tuple[str, ...]]:
        """constraint and projection from the URL or a form-encoded POST body."""
        if self.command == "POST":
            body = self.text_body(MAX_QUERY_BODY)
            params = {**params, **dict(urllib.parse.parse_qsl(body))}
        try:
            constraint = check_expression(params.get("constraint", "true"), "constraint")
        except ValueError as exc:
            raise HttpError(400, str(exc)) from exc
        return constraint, _param_list(params.get("projection", ""))


Route = Callable[[Handler, PoolDaemon, dict[str, str]], tuple[int, str, bytes]]


def _ok(text: str) -> tuple[int, str, bytes]:
    return 200, CONTENT_TYPE, text.encode()


def _json(data: object) -> tuple[int, str, bytes]:
    return 200, "application/json", json.dumps(data).encode()


def ping(handler: Handler, state: PoolDaemon, params: dict[str, str]) -> tuple[int, str, bytes]:
    return _json({"pid": os.getpid(), "address": state.address, "start_time": state.start_time})


def _ad_write(
    handler: Handler, state: PoolDaemon, apply: Callable[[str, str], int], verb: str
) -> tuple[int, str, bytes]:
    """An authenticated Collector write whose body is old-syntax ClassAd text."""
    identity = state.identity(handler.headers.get("Authorization"))
    body = handler.body()
    if any(len(block) > MAX_AD_BYTES for block in body.split(b"\n\n")):
        raise HttpError(413, f"an ad is larger than {MAX_AD_BYTES} bytes")
    text = _utf8(body)
    try:
        for block in text.split("\n\n"):
            check_ad_text(block, "an ad")
        count = apply(text, identity)
    except NotOwnerError as exc:
        state.log.warning("refused ad write of %s: %s", identity, str(exc)[:300])
        raise HttpError(403, str(exc)) from exc
    except (ClassAdSyntaxError, ValueError) as exc:
        raise HttpError(400, str(exc)) from exc
    state.log.info("%s %s %d ad(s)", identity, verb, count)
    return _ok(f"{verb} {count}\n")


def collector_advertise(
    handler: Handler, state: PoolDaemon, params: dict[str, str]
) -> tuple[int, str, bytes]:
    command = params.get("command", "UPDATE_AD_GENERIC")
    return _ad_write(
        handler,
        state,
        lambda text, who: state.collector.advertise(parse_old_many(text), command, who),
        "stored",
    )


def collector_invalidate(
    handler: Handler, state: PoolDaemon, params: dict[str, str]
) -> tuple[int, str, bytes]:
    command = params.get("command", "INVALIDATE_ADS_GENERIC")
    return _ad_write(
        handler,
        state,
        lambda text, who: _invalidate(state, text, command, who),
        "invalidated",
    )


def _invalidate(state: PoolDaemon, text: str, command: str, identity: str) -> int:
    dropped, refused = state.collector.invalidate(parse_old(text), command, identity)
    if refused:
        state.log.warning(
            "%s may not invalidate %d matching ad(s) of other identities: left in place",
            identity,
            refused,
        )
    return dropped


def _query_answer(
    handler: Handler,
    params: dict[str, str],
    run: Callable[[str, tuple[str, ...]], list[str]],
) -> tuple[int, str, bytes]:
    """Run a constraint query; the answer is one ad per line."""
    constraint, projection = handler.query_params(params)
    try:
        lines = run(constraint, projection)
    except ValueError as exc:
        raise HttpError(400, str(exc)) from exc
    return 200, CONTENT_TYPE, "".join(lines).encode()


def collector_query(
    handler: Handler, state: PoolDaemon, params: dict[str, str]
) -> tuple[int, str, bytes]:
    return _query_answer(handler, params, state.collector.query_blocks)


def _attr_value(name: str, value: object) -> object:
    if isinstance(value, dict) and set(value) == {"expr"} and isinstance(value["expr"], str):
        try:
            return classad2.ExprTree(check_expression(value["expr"], f"attribute {name}"))
        except (classad2.ClassAdException, ValueError) as exc:
            raise HttpError(400, f"attribute {name}: expression does not parse") from exc
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise HttpError(400, f"attribute {name}: want a string, number, boolean or {{'expr': ...}}")


def schedd_submit(
    handler: Handler, state: PoolDaemon, params: dict[str, str]
) -> tuple[int, str, bytes]:
    identity = state.schedd_identity(handler.headers.get("Authorization"), "submit")
    data = handler.json_body()
    description = data.get("description")
    count = data.get("count", 1)
    attrs = data.get("attrs") or {}
    if not isinstance(description, str | dict) or not description:
        raise HttpError(400, "submit needs a 'description' (text or object)")
    if isinstance(count, bool) or not isinstance(count, int):
        raise HttpError(400, "submit 'count' must be an integer (0: the description's queue N)")
    if not isinstance(attrs, dict) or len(attrs) > MAX_ATTRIBUTES:
        raise HttpError(400, f"submit 'attrs' must be an object of at most {MAX_ATTRIBUTES}")
    try:
        text = description if isinstance(description, str) else json.dumps(description)
        check_ad_text(text, "the submit description")
    except ValueError as exc:
        raise HttpError(400, str(exc)) from exc
    values = {str(name): _attr_value(str(name), value) for name, value in attrs.items()}
    try:
        cluster = state.schedd.submit(
            description, count=count, attrs=values, owner=identity.split("@", 1)[0]
        )
    except ValueError as exc:
        raise HttpError(400, str(exc)) from exc
    state.log.info("%s submitted cluster %d (count=%d)", identity, cluster, count)
    return _json({"cluster": cluster})


def schedd_query(
    handler: Handler, state: PoolDaemon, params: dict[str, str]
) -> tuple[int, str, bytes]:
    return _query_answer(handler, params, lambda c, p: state.schedd.query_lines(c, p))


def schedd_act(
    handler: Handler, state: PoolDaemon, params: dict[str, str]
) -> tuple[int, str, bytes]:
    identity = state.schedd_identity(handler.headers.get("Authorization"), "act on jobs")
    data = handler.json_body()
    try:
        action = JobAction(data.get("action", ""))
    except ValueError:
        raise HttpError(400, "act 'action' must be remove, hold or release") from None
    jobs = data.get("jobs")
    if not (
        isinstance(jobs, str) or (isinstance(jobs, list) and all(isinstance(j, str) for j in jobs))
    ):
        raise HttpError(
            400, "act 'jobs' must be a constraint string or a list of 'cluster.proc' ids"
        )
    reason = data.get("reason", "")
    hold_code = data.get("hold_code")
    hold_subcode = data.get("hold_subcode", 0)
    if not isinstance(reason, str) or not isinstance(hold_subcode, int):
        raise HttpError(400, "act 'reason' must be a string and 'hold_subcode' an integer")
    if hold_code is not None and not isinstance(hold_code, int):
        raise HttpError(400, "act 'hold_code' must be an integer")
    if isinstance(jobs, str):
        try:
            check_expression(jobs, "act 'jobs' constraint")
        except ValueError as exc:
            raise HttpError(400, str(exc)) from exc
    try:
        count = state.schedd.act(
            action, jobs, reason=reason, hold_code=hold_code, hold_subcode=hold_subcode
        )
    except ValueError as exc:
        raise HttpError(400, str(exc)) from exc
    state.log.info("%s: %s applied to %d job(s)", identity, action.value, count)
    return _json({"count": count})


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/v1/ping"): ping,
    ("POST", "/v1/collector/advertise"): collector_advertise,
    ("POST", "/v1/collector/invalidate"): collector_invalidate,
    ("GET", "/v1/collector/query"): collector_query,
    ("POST", "/v1/collector/query"): collector_query,
    ("POST", "/v1/schedd/submit"): schedd_submit,
    ("GET", "/v1/schedd/query"): schedd_query,
    ("POST", "/v1/schedd/query"): schedd_query,
    ("POST", "/v1/schedd/act"): schedd_act,
}


class PoolHttpServer(BoundedHTTPServer):
    """A bounded threading HTTP server that carries the daemon state for its handlers."""

    request_queue_size = 128
    max_connections = 128

    def __init__(
        self, address: tuple[str, int], daemon_state: PoolDaemon, timeout: float = IDLE_TIMEOUT
    ) -> None:
        self.daemon_state = daemon_state
        handler = type(
            "Handler", (Handler,), {"idle_timeout": timeout, "request_deadline": timeout}
        )
        super().__init__(address, handler)
