"""A real factory for integration tests: config -> tree -> factory_startup start.

Everything is started for real: the embedded pool daemon, the web server, the factory
and its entry daemons, glideins running glidein_startup.sh. Only the time scale differs
from production (a loop of one second, short glidein lifetimes).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from waiting import wait_for

from glideinwms_factory.entry.daemon import EntryGroupDaemon
from glideinwms_factory.global_ads import factory_global_ad
from glideinwms_factory.lib.factory_key import load_keys
from glideinwms_factory.lib.pool import JobAction
from glideinwms_factory.lib.pool.embedded.auth import (
    ADMIN_IDENTITY,
    create_token,
    load_or_create_secret,
)
from glideinwms_factory.lib.pool.embedded.client import EmbeddedCollector, EmbeddedSchedd
from glideinwms_factory.lib.pool.embedded.inprocess import InProcessPool
from glideinwms_factory.tools.frontend_sim import Advertiser, RequestSpec

BIN = Path(sys.executable).parent
FRONTEND = "frontend@example.org"
# The SciToken the tests' Frontend groups hold. A real 3.10 Frontend configured with one
# sends it to every entry (`frontend_scitoken`, `ScitokenId`); the test entries' auth
# method is `scitoken`, and the factory skips a 3.10 request to them without any SciToken.
SCITOKEN = "eyJhbGciOiJub25lIn0.eyJzY29wZSI6InRlc3QifQ."


def frontend_spec(**fields: Any) -> RequestSpec:
    """A test Frontend group's request: a 3.10 group holds `SCITOKEN` unless told
    otherwise (`scitoken=None`: a group configured without one)."""
    if fields.get("protocol", "3.10") == "3.10":
        fields.setdefault("scitoken", SCITOKEN)
    return RequestSpec(**fields)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class EntrySpec:
    name: str
    max_glideins: int = 10
    max_idle: int = 5
    max_held: int = 5
    auth_method: str = "scitoken"


def config_xml(
    entries: Sequence[EntrySpec],
    web_port: int,
    slots: int = 2,
    loop_delay: int = 1,
    recoverable_exitcodes: str = "",
    lifetime: int = 600,
    pool_port: int = 0,
) -> str:
    """A small master config on the embedded pool; glideins live `lifetime` seconds."""
    blocks = []
    for e in entries:
        blocks.append(
            f"""
      <entry name="{e.name}" gridtype="condor" gatekeeper="ce.{e.name}.example.org"
             auth_method="{e.auth_method}" trust_domain="grid" verbosity="fast" work_dir="AUTO">
         <config>
            <max_jobs>
               <per_entry glideins="{e.max_glideins}" idle="{e.max_idle}" held="{e.max_held}"/>
               <default_per_frontend glideins="{e.max_glideins}" idle="{e.max_idle}"
                                     held="{e.max_held}"/>
            </max_jobs>
            <submit cluster_size="5" max_per_cycle="20" sleep="0" slots_layout="fixed"/>
            <remove max_per_cycle="20" sleep="0"/>
            <release max_per_cycle="20" sleep="0"/>
         </config>
         <attrs>
            <attr name="GLIDEIN_Site" value="Site_{e.name}" glidein_publish="True"/>
         </attrs>
      </entry>"""
        )
    return f"""<glidein factory_name="testfactory" glidein_name="gtest" pool_backend="embedded"
         loop_delay="{loop_delay}" advertise_delay="1" restart_attempts="5"
         restart_interval="600" recoverable_exitcodes="{recoverable_exitcodes}">
   <embedded_pool port="{pool_port}" slots_per_site="{slots}"/>
   <monitor base_dir="/monitor"/>
   <security pub_key="RSA" key_length="2048">
      <frontends>
         <frontend name="vofrontend" identity="{FRONTEND}">
            <security_classes>
               <security_class name="frontend" username="vofe"/>
               <security_class name="testing" username="vofe_test"/>
            </security_classes>
         </frontend>
      </frontends>
   </security>
   <stage base_dir="/stage" web_base_url="http://127.0.0.1:{web_port}/stage"/>
   <submit base_dir="/work" base_log_dir="/log" base_client_log_dir="/client_log"
           base_client_proxies_dir="/client_proxies"/>
   <attrs>
      <attr name="GLIDEIN_Standin_Lifetime" value="{lifetime}" type="int" publish="True"
            parameter="True" const="False"/>
   </attrs>
   <entries>{"".join(blocks)}
   </entries>
</glidein>
"""


@dataclass
class Factory:
    """A created tree (`root` relocates every path of the config)."""

    root: Path
    config: Path

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def state_dir(self) -> Path:
        return self.work / "pool"

    def startup(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.work / "factory_startup"), *args],
            capture_output=True,
            text=True,
            timeout=180,
        )
        if check:
            assert done.returncode == 0, f"factory_startup {args}: {done.stdout}{done.stderr}"
        return done

    @property
    def address(self) -> str:
        return (self.state_dir / "pool.address").read_text().strip()

    def collector(self) -> EmbeddedCollector:
        return EmbeddedCollector(self.address)

    def schedd(self) -> EmbeddedSchedd:
        token = create_token(load_or_create_secret(self.state_dir), ADMIN_IDENTITY)
        return EmbeddedSchedd(self.address, token)

    def token_file(self, identity: str) -> Path:
        path = self.root / f"{identity.split('@')[0]}.token"
        path.write_text(create_token(load_or_create_secret(self.state_dir), identity) + "\n")
        path.chmod(0o600)
        return path

    def scitoken_file(self) -> Path:
        """The test Frontend's SciToken file (`SCITOKEN`)."""
        path = self.root / "frontend_scitoken.jwt"
        path.write_text(SCITOKEN + "\n")
        path.chmod(0o600)
        return path

    def frontend_sim(
        self, *args: str, identity: str | None = None, protocol: str = "3.10"
    ) -> list[str]:
        """The simulator's command line, as frontend@example.org unless told otherwise;
        a 3.10 group's requests carry the SciToken file unless given another."""
        if protocol == "3.10" and "request" in args and "--scitoken" not in args:
            args = (*args, "--scitoken", str(self.scitoken_file()))
        command = [
            str(BIN / "gwms-frontend-sim"),
            "--pool",
            self.address,
            "--token",
            str(self.token_file(FRONTEND)),
            "--security-name",
            "vofrontend",
            "--security-class",
            "frontend",
            "--protocol",
            protocol,
        ]
        if identity:
            command += ["--identity", identity]
        return [*command, *args]

    def request(self, *args: str, identity: str | None = None, protocol: str = "3.10") -> None:
        """Advertise one request cycle (`--once`)."""
        done = subprocess.run(
            self.frontend_sim(*args, "--once", identity=identity, protocol=protocol),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr

    def ask_glideins(self, entry: str, idle: int, max_glideins: int) -> None:
        """One request that glideins can serve: they report to this pool with an IDTOKEN."""
        wait_for(lambda: self.ads("glidefactory"), 60, "the entries advertise")
        idtoken = self.token_file("glidein@example.org")
        self.request(
            "request", "--entry", entry, "--idle", str(idle), "--max", str(max_glideins),
            "--param", f"GLIDEIN_Collector={self.address}", "--idtoken", str(idtoken),
        )  # fmt: skip

    def glideins(self, entry: str, *states: int) -> list:
        ads = self.schedd().query(
            f'GlideinEntryName =?= "{entry}"', ["ClusterId", "ProcId", "JobStatus"]
        )
        return [ad for ad in ads if not states or ad["JobStatus"] in states]

    def ads(self, my_type: str) -> list:
        return self.collector().query(f'GlideinMyType =?= "{my_type}"')

    def log_text(self, entry: str) -> str:
        return "".join(p.read_text() for p in (self.root / "log").rglob(f"entry_{entry}_*.log"))


def create(tmp_path: Path, xml: str) -> Factory:
    config = tmp_path / "glideinWMS.xml"
    config.write_text(xml)
    root = tmp_path / "tree"
    done = subprocess.run(
        [str(BIN / "create_glidein"), str(config), "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return Factory(root, config)


def processes_under(path: Path) -> dict[int, str]:
    """Pid -> command line of the processes mentioning `path` (daemons and glideins)."""
    pids = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(path) in cmdline:
            pids[int(proc.name)] = cmdline
    return pids


@contextlib.contextmanager
def running(factory: Factory) -> Iterator[Factory]:
    """The factory started with factory_startup; stopped (and every process reaped) after."""
    factory.startup("start")
    try:
        wait_for(lambda: (factory.state_dir / "pool.address").exists(), 30, "the pool")
        yield factory
    finally:
        factory.startup("stop", check=False)
        for pid in processes_under(factory.root):  # glideins outlive the factory by design
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def in_process_pool(factory: Factory) -> Iterator[InProcessPool]:
    """The tree's pool in this process (no server); every glidein is removed at the end."""
    load_keys(factory.work)
    with InProcessPool(factory.state_dir, slots=1, tick=0.05, kill_grace=0.5) as pool:
        try:
            yield pool
        finally:
            pool.pool(ADMIN_IDENTITY).schedd("").act(JobAction.REMOVE, "true", "test over")
            wait_for(lambda: not processes_under(factory.root), 30, "glidein processes gone")


def serve_once(
    factory: Factory, pool: InProcessPool, entry: str, spec: RequestSpec, attrs: list[str]
) -> list[Any]:
    """One entry daemon iteration for `entry` after a frontend advertised `spec` to it:
    the entry's glideins in the queue (with `attrs`)."""
    daemon = EntryGroupDaemon(factory.work, [entry], connect=pool.pool)
    daemon.iteration()  # the entry's first ad: what the frontend targets
    key = load_keys(factory.work).current
    ad = factory_global_ad(
        "testfactory", "gtest", key, start_time=int(time.time()), sequence=0, sign_types="sha1"
    )
    pool.pool("gfactory@localhost").collector.advertise([ad], "UPDATE_AD_GENERIC")
    assert Advertiser(pool.pool(FRONTEND).collector, spec, [entry], {}).cycle() == 1
    daemon.iteration()
    return (
        pool.pool("gfactory@localhost").schedd("").query(f'GlideinEntryName =?= "{entry}"', attrs)
    )
