"""A static web server on loopback for the staging and monitoring areas (embedded setups).

Production factories serve these directories with Apache or nginx; for the embedded
default the factory starts this one so glideins can download their files and operators
can open the monitoring pages. It serves files only (no directory listings, no path
escapes), each URL prefix from its own directory, with `--metrics FILE` the Prometheus
exposition the factory writes after each aggregation at `/metrics`, and no client can
hold it up (lib/httpserve: bounded connections, idle and request deadlines).

    python -m glideinwms_factory.webserver --port 8319 --metrics M/metrics.prom /stage=S /monitor=M
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import io
import logging
import os
import posixpath
import sys
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from glideinwms_factory.lib.httpserve import BoundedHandler, BoundedHTTPServer
from glideinwms_factory.lib.metrics import CONTENT_TYPE


class _Handler(BoundedHandler, http.server.SimpleHTTPRequestHandler):
    roots: Mapping[str, Path] = {}
    metrics: Path | None = None

    def do_GET(self) -> None:
        if self.metrics is not None and urllib.parse.urlsplit(self.path).path == "/metrics":
            self._send_metrics()
        else:
            super().do_GET()

    def _send_metrics(self) -> None:
        """The last aggregation's metrics; 503 before the first one is written."""
        try:
            body = self.metrics.read_bytes() if self.metrics else b""
        except OSError:
            self.send_error(503, "no metrics yet: the factory has not aggregated")
            return
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def translate_path(self, path: str) -> str:
        """Map `/prefix/rest` to `<root of prefix>/rest`; anything else to a missing path."""
        path = urllib.parse.unquote(urllib.parse.urlsplit(path).path)
        normalized = posixpath.normpath(path)
        for prefix, root in self.roots.items():
            if normalized == prefix or normalized.startswith(prefix.rstrip("/") + "/"):
                rest = normalized[len(prefix) :].lstrip("/")
                target = (root / rest).resolve()
                if target == root or root in target.parents:
                    return str(target)
        return str(Path("/nonexistent-gwms") / "x")

    def list_directory(self, path: str | os.PathLike[str]) -> io.BytesIO | None:
        """No listings: the staging and monitoring areas are fetched by name."""
        self.send_error(404, "File not found")
        return None

    def end_headers(self) -> None:
        # Glideins must see fresh description and blacklist files (names are content-tagged).
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        logging.getLogger("gwms.webserver").info("%s " + format, self.address_string(), *args)


def make_server(
    roots: Mapping[str, Path],
    host: str = "127.0.0.1",
    port: int = 0,
    metrics: Path | None = None,
    limits: tuple[float, int] = (15.0, 64),
) -> BoundedHTTPServer:
    """A server of `roots`; `limits` = (idle and request timeout in s, max connections)."""
    timeout, connections = limits
    resolved = {"/" + p.strip("/"): Path(d).resolve() for p, d in roots.items()}
    handler = type(
        "Handler",
        (_Handler,),
        {
            "roots": resolved,
            "metrics": metrics,
            "idle_timeout": timeout,
            "request_deadline": timeout,
        },
    )
    server_class = type("Server", (BoundedHTTPServer,), {"max_connections": connections})
    return server_class((host, port), functools.partial(handler))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", type=Path, help="access log file")
    parser.add_argument("--metrics", type=Path, help="exposition file served at /metrics")
    parser.add_argument("--timeout", type=float, default=15.0, help="idle/request timeout, s")
    parser.add_argument("--max-connections", type=int, default=64, help="served at once")
    parser.add_argument("mounts", nargs="+", help="URL_PREFIX=DIRECTORY")
    args = parser.parse_args(argv)
    roots = {}
    for mount in args.mounts:
        prefix, sep, directory = mount.partition("=")
        if not sep or not Path(directory).is_dir():
            print(f"webserver: bad mount {mount!r} (want /prefix=EXISTING_DIR)", file=sys.stderr)
            return 2
        roots[prefix] = Path(directory)
    if args.log:
        logging.basicConfig(filename=args.log, level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        limits = (args.timeout, args.max_connections)
        server = make_server(roots, args.host, args.port, args.metrics, limits)
    except OSError as exc:
        print(f"webserver: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"{args.host}:{server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
