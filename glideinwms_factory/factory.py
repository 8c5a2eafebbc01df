"""The factory daemon: starts and watches the entry daemons, owns the key, aggregates.

    python -m glideinwms_factory.factory --root WORK

It holds WORK/lock/glideinWMS.lock for its whole life (a second factory on the same
tree is refused), rotates the RSA key at start, and every `LoopDelay`: advertises the
`glidefactoryglobal` ad, stores the credentials of `glideclientglobal` ads, retires the
old key after its grace period, and aggregates the entries' statistics into the factory
XML, RRDs, pages and metrics. With the embedded pool it also runs the pool daemon and the
loopback web server for the staging and monitoring areas, restarts them with back-off
when they die (services.py), and stops them on exit. What is wrong (a service down, an
entry given up on) is in WORK/lock/factory.status and the global ad's FactoryProblems.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from datetime import datetime
from pathlib import Path

import classad2

from glideinwms_factory import credential_cleanup, frontend_links, global_ads
from glideinwms_factory.lib import downtimes, pidlock
from glideinwms_factory.lib.descript import DescriptError, read_descript
from glideinwms_factory.lib.factory_config import FactoryConfig, load_factory
from glideinwms_factory.lib.factory_key import FactoryKeys, drop_expired_old_key, load_keys
from glideinwms_factory.lib.logs import setup_daemon_logger
from glideinwms_factory.lib.monitoring_descript import write_descripts
from glideinwms_factory.lib.pool import PoolError
from glideinwms_factory.lib.pool.connect import Pool, embedded_state_dir, ensure_factory_token
from glideinwms_factory.lib.pool.connect import open_pool as default_open_pool
from glideinwms_factory.pages import publish
from glideinwms_factory.services import Service, ServiceWatch, write_status
from glideinwms_factory.startup import KEEP_GLIDEINS_FILE
from glideinwms_factory.supervisor import Child, RestartPolicy, Supervisor

LOCK_FILE = Path("lock") / "glideinWMS.lock"
WEB_PID_FILE = Path("lock") / "webserver.pid"
READY_FILE = Path("lock") / "factory.ready"  # services and entries started: `start` waits on it
POLL_SECONDS = 1.0
STALE_STATS = 3600.0  # an entry silent this long is no longer counted at its last levels


def entry_groups(entries: list[str], group_size: int) -> dict[str, list[str]]:
    """Entries per process: one each by default, `group_size` per process when set."""
    if group_size <= 1:
        return {name: [name] for name in entries}
    return {
        f"group_{i // group_size}": entries[i : i + group_size]
        for i in range(0, len(entries), group_size)
    }


class ServiceError(Exception):
    """The pool or the web server cannot start: one line for the operator."""


class FactoryDaemon:
    def __init__(self, work_dir: Path) -> None:
        self.config: FactoryConfig = load_factory(work_dir)
        self.work_dir = self.config.work_dir
        self.entries = self.config.entries
        self.log = setup_daemon_logger(
            "gwms.factory",
            self.config.log_dir / "factory",
            "factory",
            self.config.log_retention_days,
        )
        self.lock = pidlock.PidLock(self.work_dir / LOCK_FILE)
        self.start_time = int(time.time())
        self.sequence = 0
        self.keys: FactoryKeys | None = None
        self.schedd_names = sorted(
            {
                read_descript(self.work_dir / f"entry_{e}" / "job.descript").get("Schedd", "")
                for e in self.entries
            }
        )
        self._next_links = self._next_cred_cleanup = 0.0
        self.pool: Pool | None = None
        self.web: subprocess.Popen[bytes] | None = None
        self.services = ServiceWatch([], RestartPolicy(), self.log)
        self._published: list[str] | None = None
        self._stop = False
        self.supervisor = Supervisor(
            [
                Child(
                    name,
                    [
                        sys.executable,
                        "-m",
                        "glideinwms_factory.entry",
                        "--root",
                        str(self.work_dir),
                        "--group",
                        name,
                        *(arg for entry in members for arg in ("--entry", entry)),
                    ],
                    heartbeat=self.config.heartbeat_file(name),
                )
                for name, members in entry_groups(
                    self.entries, self.config.descript.entry_group_size
                ).items()
            ],
            RestartPolicy(
                attempts=self.config.descript.restart_attempts,
                interval=self.config.descript.restart_interval,
            ),
            self.log,
            hang_timeout=max(120.0, 10 * self.config.descript.loop_delay),
            stdout_dir=self.config.log_dir / "factory",
        )

    @property
    def embedded(self) -> bool:
        return self.config.descript.pool_backend == "embedded"

    def run(self) -> int:
        if not self.entries:
            self.log.error("no enabled entries in glidein.descript: nothing to do")
            print("factory: no enabled entries in glidein.descript", file=sys.stderr)
            return 1
        try:
            self.lock.acquire()
        except pidlock.AlreadyRunning as err:
            print(f"factory: {err}", file=sys.stderr)
            return 1
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            try:
                self._start_services()
            except ServiceError as err:
                self.log.error("%s", err)
                print(f"factory: {err}", file=sys.stderr)
                return 1
            self._write_descripts()
            self.supervisor.start_all()
            (self.work_dir / READY_FILE).write_text(f"{os.getpid()}\n")
            self.log.info("factory started with %d entries", len(self.entries))
            next_loop = 0.0
            while not self._stop:
                if time.monotonic() >= next_loop:
                    next_loop = time.monotonic() + self.config.descript.loop_delay
                    self.loop_once()
                self.supervisor.poll()
                self.services.poll()
                self._publish_status()
                time.sleep(POLL_SECONDS)
        finally:
            self.shutdown()
        return 0

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.log.info("signal %d: stopping", signum)
        self._stop = True

    def _write_descripts(self) -> None:
        """descript.xml for the monitoring pages; a failure is logged, never fatal."""
        try:
            write_descripts(self.work_dir, self.config.monitor_dir, self.entries, time.time())
        except (OSError, DescriptError) as err:
            self.log.error("descript.xml not written: %s", err)

    def _start_services(self) -> None:
        write_status(self.work_dir, [])  # problems a killed predecessor left are not ours
        grace = self.config.descript.old_pub_key_grace_time
        bits = self.config.descript.pub_key_length
        self.keys = load_keys(self.work_dir, grace, rotate=True, bits=bits)
        if not self.embedded:
            return
        from glideinwms_factory.lib.pool.embedded import statedir

        state_dir = embedded_state_dir(self.config.glidein)
        self._start_pool()
        pool_alive = lambda: statedir.lock_is_held(state_dir)  # noqa: E731
        services = [Service("embedded pool", pool_alive, self._start_pool)]
        if self._web_port():
            self._start_web_server()
            services.append(Service("web server", self._web_alive, self._start_web_server))
        self.services.services = services

    def _start_pool(self) -> None:
        from glideinwms_factory.lib.pool.embedded import control

        state_dir = embedded_state_dir(self.config.glidein)
        try:
            address = control.start(
                state_dir,
                port=self.config.descript.embedded_pool_port,
                slots=self.config.descript.embedded_pool_slots_per_site,
            )
        except control.ControlError as err:
            raise ServiceError(f"embedded pool: {err}") from None
        ensure_factory_token(state_dir)
        self.pool = None  # reconnect: a restarted pool may listen elsewhere
        self.log.info("embedded pool running at %s", address)

    def _web_port(self) -> str:
        url = urllib.parse.urlsplit(self.config.web_url)
        return self.config.descript.web_server_port or str(url.port or "")

    def _web_alive(self) -> bool:
        return self.web is not None and self.web.poll() is None

    def _publish_status(self) -> None:
        """Write what is wrong now to the status file, when it changed."""
        problems = self.problems()
        if problems != self._published:
            write_status(self.work_dir, problems)
            self._published = problems

    def problems(self) -> list[str]:
        return self.services.problems() + self.supervisor.problems()

    def _start_web_server(self) -> None:
        url = urllib.parse.urlsplit(self.config.web_url)
        port = self._web_port()
        stage_prefix = url.path.rstrip("/") or "/stage"
        self._stop_stale_web_server()
        error_file = self.config.log_dir / "factory" / "webserver.stderr.log"
        error_file.parent.mkdir(parents=True, exist_ok=True)
        with open(error_file, "wb") as errors:  # the child keeps its own descriptor
            self.web = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "glideinwms_factory.webserver",
                    "--port",
                    port,
                    "--log",
                    str(self.config.log_dir / "factory" / "webserver.log"),
                    "--metrics",
                    str(self.config.monitor_dir / "metrics.prom"),
                    f"{stage_prefix}={self.config.glidein['StageDir']}",
                    f"/monitor={self.config.monitor_dir}",
                ],
                stdout=subprocess.PIPE,
                stderr=errors,
                start_new_session=True,
            )
        assert self.web.stdout is not None
        line = self.web.stdout.readline().decode().strip()
        self.web.stdout.close()
        if not line:
            self.web.wait(10)
            why = error_file.read_text(errors="replace").strip().splitlines()[-1:]
            self.web = None
            if why and "Address already in use" in why[0]:
                raise ServiceError(
                    f"web server: port {port} is already in use (Address already in use): stop"
                    " what listens there, or change the port of <stage web_base_url> (and"
                    " <monitor_footer href_link>) in the config, then reconfig"
                )
            raise ServiceError(f"web server did not start on port {port}: {''.join(why)}")

        (self.work_dir / WEB_PID_FILE).write_text(f"{self.web.pid}\n")
        self.log.info("web server for staging and monitoring at http://%s", line)

    def _stop_stale_web_server(self) -> None:
        """A web server left by a factory that was killed still holds the port: stop it."""
        pid_file = self.work_dir / WEB_PID_FILE
        try:
            pid = int(pid_file.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if b"glideinwms_factory.webserver" not in cmdline:
            return
        self.log.warning("stopping the web server (pid %d) of a previous factory", pid)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)

    def _pool(self) -> Pool:
        if self.pool is None:
            self.pool = default_open_pool(self.config.glidein)
        return self.pool

    def loop_once(self) -> None:
        """One factory loop (operations.md §3): key, credentials, global ad, aggregation."""
        assert self.keys is not None
        self.keys = drop_expired_old_key(self.work_dir, self.keys)
        try:
            pool = self._pool()
            ad = global_ads.factory_global_ad(
                self.config.factory_name,
                self.config.glidein_name,
                self.keys.current,
                start_time=self.start_time,
                sequence=self.sequence,
                sign_types=self.config.descript.supported_sign_types,
                problems=self.problems(),
            )
            pool.collector.advertise([ad], "UPDATE_AD_GENERIC")
            self.sequence += 1
            stored = global_ads.store_global_credentials(
                pool.collector.query(global_ads.GLOBAL_QUERY),
                self.keys.current,
                self.config.frontends,
                self.config.client_proxies_dir,
                self.config.glidein_name,
                self.config.global_name,
                self.log,
            )
            for cred in stored:
                if cred.changed:
                    self.log.info(
                        "stored credential %s", cred.cred_id, extra={"client": cred.client_name}
                    )
            self._housekeeping(pool)
        except PoolError as err:
            self.pool = None
            self.log.error("pool unreachable: %s", err)
        self.aggregate()

    def _housekeeping(self, pool: Pool) -> None:
        """Hourly: the frontends' monitoring links. Every `RemoveOldCredFreq` hours (<= 0:
        never): credentials older than `RemoveOldCredAge` days that no glidein uses."""
        now = time.monotonic()
        if now >= self._next_links:
            query = pool.collector.query(frontend_links.QUERY, frontend_links.PROJECTION)
            frontend_links.write_links(self.config.monitor_dir, query)
            self._next_links = now + 3600
        every = self.config.descript.remove_old_cred_freq * 3600
        if every <= 0 or now < self._next_cred_cleanup:
            return
        mine = (
            f"(GlideinFactory =?= {classad2.quote(self.config.factory_name)}) && "
            f"(GlideinName =?= {classad2.quote(self.config.glidein_name)})"
        )
        jobs = [
            ad
            for name in self.schedd_names
            for ad in pool.schedd(name).query(mine, credential_cleanup.REFERENCE_ATTRS)
        ]
        removed = credential_cleanup.remove_stale(
            self.config.client_proxies_dir,
            jobs,
            time.time(),
            self.config.descript.remove_old_cred_age,
        )
        for path in removed:
            self.log.info("removed old credential %s", path)
        self._next_cred_cleanup = now + every

    def aggregate(self) -> None:
        """Entry stats -> factory XML, RRDs, metrics and pages (a dead entry goes stale)."""
        try:
            now = datetime.now().astimezone()
            dts = downtimes.DowntimeFile(self.config.downtimes_file).read().downtimes
            states = {}
            for entry in self.entries:
                down = downtimes.entry_down(dts, entry, now) or downtimes.factory_down(dts, now)
                states[entry] = (down is not None, down.comment if down else "")
            publish(
                self.config.monitor_dir,
                self.entries,
                states,
                self.config.factory_name,
                stale_after=STALE_STATS,
                restarts=self.supervisor.restarts(),
            )
        except (OSError, ValueError) as err:
            self.log.error("aggregation failed: %s", err)

    def shutdown(self) -> None:
        (self.work_dir / READY_FILE).unlink(missing_ok=True)
        self.supervisor.stop_all()
        try:
            pool = self._pool()
            for command, constraint in global_ads.global_invalidations(
                self.config.factory_name, self.config.glidein_name
            ):
                pool.collector.invalidate(constraint, command)
        except PoolError as err:
            self.log.error("could not invalidate the factory's ads: %s", err)
        if self.web is not None:
            self.web.terminate()
            self.web.wait(10)
            (self.work_dir / WEB_PID_FILE).unlink(missing_ok=True)
        if self.embedded:
            from glideinwms_factory.lib.pool.embedded import control

            keep = (self.work_dir / KEEP_GLIDEINS_FILE).exists()
            (self.work_dir / KEEP_GLIDEINS_FILE).unlink(missing_ok=True)
            control.stop(embedded_state_dir(self.config.glidein), keep_jobs=keep)
            if not keep:
                self.log.info("embedded pool stopped; its glideins were ended (requeued)")
        self.log.info("factory stopped")
        self.lock.release()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m glideinwms_factory.factory")
    parser.add_argument("--root", type=Path, required=True, help="the factory's work dir")
    args = parser.parse_args(argv)
    try:
        daemon = FactoryDaemon(args.root)
    except (DescriptError, OSError, KeyError) as err:
        print(f"factory: bad configuration: {err}", file=sys.stderr)
        return 6
    return daemon.run()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
