"""HTTP serving that no client can stall: bounded threads, an idle wait and a request deadline.

Shared by the embedded pool daemon and the factory's web server. `http.server` alone gives
every connection a thread for as long as the client likes: fifty half-sent requests held
fifty threads for a minute, idle connections stayed open forever. Here a connection waits
at most `idle_timeout` for its next request; once its first byte arrives, the request
line, headers and body must all arrive within `request_deadline` (so a client sending one
byte at a time cannot stretch it); and at most `max_connections` are served at once, the
next ones answered 503 and closed at once.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DRAIN_MAX = 4 * 1024 * 1024  # bytes of an over-long request head read and dropped
DRAIN_SECONDS = 2.0
BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 31\r\nConnection: close\r\n\r\nbusy: too many connections open\n"
)


class _DeadlineReader(io.RawIOBase):
    """Socket reads that fail with TimeoutError once the current deadline has passed."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        self.deadline = float("inf")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request took too long to arrive")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class BoundedHandler(BaseHTTPRequestHandler):
    """A request handler whose reads are bounded in time (see the module docstring)."""

    idle_timeout = 30.0
    request_deadline = 30.0

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the socket stays open: only this buffered file is replaced
        self._reader = _DeadlineReader(self.connection)
        self._buffered = io.BufferedReader(self._reader, max(self.rbufsize, 8192))
        self.rfile = self._buffered

    def handle_one_request(self) -> None:
        self._reader.deadline = time.monotonic() + self.idle_timeout
        try:
            first = self._buffered.peek(1)
        except (TimeoutError, OSError):
            self.close_connection = True
            return
        if not first:
            self.close_connection = True
            return
        self._reader.deadline = time.monotonic() + self.request_deadline
        super().handle_one_request()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals; for an over-long line (a megabyte token, say) the
        rest of the head is read and dropped first, so the client, still sending, gets
        the answer instead of a reset connection."""
        if code in (414, 431):
            self.close_connection = True
            self._drain()
        super().send_error(code, message, explain)

    def _drain(self) -> None:
        self._reader.deadline = min(self._reader.deadline, time.monotonic() + DRAIN_SECONDS)
        left = DRAIN_MAX
        try:
            while left > 0:
                chunk = self._buffered.read1(min(left, 65536))
                if not chunk or b"\r\n\r\n" in chunk:
                    return
                left -= len(chunk)
        except (TimeoutError, OSError):
            return


class BoundedHTTPServer(ThreadingHTTPServer):
    """A threading server that serves at most `max_connections` connections at once."""

    daemon_threads = True
    max_connections = 64

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._slots = threading.BoundedSemaphore(self.max_connections)
        self.busy_refusals = 0  # connections answered 503 because all slots were taken
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.busy_refusals += 1
            try:
                request.settimeout(1.0)
                request.sendall(BUSY_RESPONSE)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()
