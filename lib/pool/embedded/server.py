"""The embedded pool daemon: Collector + Schedd over HTTP on loopback.

Run in the foreground with `python -m glideinwms_factory.lib.pool.embedded.server
--state-dir DIR [--port N]`; `gwms-pool start` runs the same with `--daemon`. The wire
protocol is described in this package's `__init__`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import logging.handlers
import os
import pathlib
import signal
import sys
import threading

from glideinwms_factory.lib.atomicfile import atomic_write
from glideinwms_factory.lib.pool.embedded import statedir
from glideinwms_factory.lib.pool.embedded.auth import TokenError
from glideinwms_factory.lib.pool.embedded.collector import DEFAULT_LIFETIME
from glideinwms_factory.lib.pool.embedded.http_api import IDLE_TIMEOUT, PoolDaemon, PoolHttpServer
from glideinwms_factory.lib.pool.embedded.schedd_core import ScheddCore

SWEEP_INTERVAL = 1.0


def _sweeper(state: PoolDaemon, stop: threading.Event) -> None:
    """Expire ads and refresh the Collector's own ad until told to stop."""
    while not stop.wait(SWEEP_INTERVAL):
        try:
            expired = state.collector.expire()
            if expired:
                state.log.info("expired %d ad(s)", expired)
            state.advertise_self()
        except Exception:
            state.log.exception("ad sweep failed")


def _make_logger(state_dir: pathlib.Path) -> logging.Logger:
    log = logging.getLogger("gwms_pool")
    log.setLevel(logging.INFO)
    handler = logging.handlers.WatchedFileHandler(state_dir / statedir.LOG_FILE)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.propagate = False
    return log


def _detach_stdio(log_path: pathlib.Path) -> None:
    """After the address is printed: stdin/stdout to /dev/null, stderr to the log."""
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_RDWR)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(log_fd, 2)
    os.close(devnull)
    os.close(log_fd)


def serve(args: argparse.Namespace) -> int:
    """Run the daemon until SIGTERM/SIGINT (which also end the running jobs, queued again)
    or statedir.KEEP_JOBS_SIGNAL (which leaves them running); the exit status."""
    state_dir = pathlib.Path(args.state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        lock_fd = statedir.take_lock(state_dir)
    except OSError:
        pid = statedir.read_pid(state_dir)
        print(f"gwms-pool: another pool daemon (pid {pid}) uses {state_dir}", file=sys.stderr)
        return 1
    log = _make_logger(state_dir)
    schedd = ScheddCore(state_dir / statedir.SCHEDD_DIR, slots=args.slots, log=log)
    try:
        httpd = PoolHttpServer(
            (args.host, args.port),
            PoolDaemon(state_dir, schedd, log, args.lifetime),
            timeout=args.timeout,
        )
    except (OSError, TokenError) as exc:
        print(f"gwms-pool: cannot start on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    state = httpd.daemon_state
    host, port = httpd.server_address[:2]
    state.address = f"{host!s}:{port}"
    try:
        schedd.start()
    except Exception as exc:
        log.exception("cannot start the schedd")
        print(f"gwms-pool: cannot start the schedd: {exc}", file=sys.stderr)
        return 1
    state.advertise_self()
    stop = threading.Event()
    sweeper = threading.Thread(target=_sweeper, args=(state, stop), name="sweeper", daemon=True)
    sweeper.start()

    vacate = {"jobs": True}

    def _terminate(signum: int, frame: object) -> None:
        log.info("signal %d: shutting down", signum)
        vacate["jobs"] = signum != statedir.KEEP_JOBS_SIGNAL
        threading.Thread(target=httpd.shutdown, name="shutdown").start()

    for signum in (signal.SIGTERM, signal.SIGINT, statedir.KEEP_JOBS_SIGNAL):
        signal.signal(signum, _terminate)
    atomic_write(state_dir / statedir.PID_FILE, f"{os.getpid()}\n")
    atomic_write(state_dir / statedir.ADDRESS_FILE, state.address + "\n")
    log.info("pool daemon pid %d listening on %s (state %s)", os.getpid(), state.address, state_dir)
    print(state.address, flush=True)
    if args.daemon:
        _detach_stdio(state_dir / statedir.LOG_FILE)
    try:
        httpd.serve_forever(poll_interval=0.2)
    finally:
        stop.set()
        schedd.stop(vacate=vacate["jobs"])
        httpd.server_close()
        for name in (statedir.ADDRESS_FILE, statedir.PID_FILE):
            with contextlib.suppress(FileNotFoundError):
                (state_dir / name).unlink()
        log.info("pool daemon stopped")
        os.close(lock_fd)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m glideinwms_factory.lib.pool.embedded.server",
        description="Run the embedded pool daemon (Collector + Schedd) in the foreground.",
    )
    parser.add_argument("--state-dir", required=True, help="directory for queue, secret, log")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (0 = any free port)")
    parser.add_argument("--slots", type=int, default=4, help="job slots of the simulated site")
    parser.add_argument("--lifetime", type=int, default=DEFAULT_LIFETIME, help="ad lifetime, s")
    parser.add_argument("--daemon", action="store_true", help="detach stdio once listening")
    parser.add_argument(
        "--timeout", type=float, default=IDLE_TIMEOUT, help="idle wait and request deadline, s"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 <= args.port < 65536 or args.slots < 1 or args.lifetime < 1:
        print(
            "gwms-pool: --port must be 0..65535, --slots and --lifetime positive", file=sys.stderr
        )
        return 2
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
