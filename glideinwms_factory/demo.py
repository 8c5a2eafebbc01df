"""`gwms-demo`: the example factory on the embedded pool, with a simulated Frontend.

Builds the tree of `creation/examples/glideinWMS.xml` under `./demo` (or --dir), starts
the factory (embedded pool, web server, one entry daemon per entry), then plays a VO
Frontend asking for glideins, and prints what the factory does until Ctrl-C or
--duration. Glideins are real processes running glidein_startup.sh, downloading and
verifying their files from the staging area, and advertising a slot to the pool.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from glideinwms_factory import creation
from glideinwms_factory.lib import cli
from glideinwms_factory.lib.atomicfile import atomic_write
from glideinwms_factory.lib.pool import Collector, JobStatus, PoolError, Schedd

EXAMPLE = Path(creation.__file__).resolve().parent / "examples" / "glideinWMS.xml"


def _run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"gwms-demo: {' '.join(command[:2])} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def _tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


MARKER = ".made-by-gwms-demo"


def build_tree(demo_dir: Path, force: bool = False) -> Path:
    """A fresh tree under `demo_dir`; an older demo there is stopped and replaced, any
    other non-empty directory is left alone unless `force`."""
    if demo_dir.exists() and any(demo_dir.iterdir()):
        if not (demo_dir / MARKER).exists() and not force:
            raise SystemExit(
                f"gwms-demo: {demo_dir} exists and was not made by gwms-demo; nothing was"
                " deleted: give --dir NEW_DIR, or --force to replace it"
            )
        for startup in demo_dir.rglob("factory_startup"):
            subprocess.run([str(startup), "stop"], capture_output=True, check=False)
        shutil.rmtree(demo_dir)
    demo_dir.mkdir(parents=True, exist_ok=True)
    (demo_dir / MARKER).write_text("this directory is replaced by the next gwms-demo run\n")
    return Path(_run(_tool("create_glidein"), str(EXAMPLE), "--root", str(demo_dir)))


def wait_for_pool(state_dir: Path, timeout: float = 30.0) -> str:
    """The embedded pool's address, once the factory has started it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return (state_dir / "pool.address").read_text().strip()
        except FileNotFoundError:
            time.sleep(0.2)
    raise SystemExit("gwms-demo: the factory did not start its pool within 30 s")


def wait_for_factory(collector: Collector, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if collector.query('(GlideinMyType=?="glidefactory")', ["Name"]):
                return
        except PoolError:
            pass
        time.sleep(0.5)
    raise SystemExit("gwms-demo: the factory's entries did not advertise within a minute")


def show(collector: Collector, schedd: Schedd, started: float) -> None:
    jobs = schedd.query("true", ["GlideinEntryName", "JobStatus"])
    counts: Counter[tuple[str, str]] = Counter(
        (str(j.get("GlideinEntryName")), JobStatus(int(j["JobStatus"])).name) for j in jobs
    )
    slots = collector.query('(MyType=?="Machine")', ["Name"])
    ads = collector.query('(GlideinMyType=?="glidefactory")', ["EntryName", "GLIDEIN_In_Downtime"])
    print(f"--- after {time.time() - started:.0f} s: {len(slots)} glidein slot(s) in the pool")
    for ad in sorted(ads, key=lambda a: str(a.get("EntryName"))):
        entry = str(ad.get("EntryName"))
        states = ", ".join(
            f"{state.lower()} {n}" for (e, state), n in sorted(counts.items()) if e == entry
        )
        down = " (in downtime)" if ad.get("GLIDEIN_In_Downtime") is True else ""
        print(f"  {entry:14} glideins: {states or 'none yet'}{down}")
    sys.stdout.flush()


@cli.command("gwms-demo")
def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gwms-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("demo"), help="where the tree goes")
    parser.add_argument("--duration", type=float, default=0, help="seconds to run (0: until ^C)")
    parser.add_argument("--idle", type=int, default=2, help="idle glideins asked per entry")
    parser.add_argument("--max", type=int, default=4, help="max glideins asked per entry")
    parser.add_argument(
        "--force", action="store_true", help="replace --dir even if gwms-demo did not make it"
    )
    args = parser.parse_args(argv)

    from glideinwms_factory.lib.pool.embedded.client import EmbeddedCollector, EmbeddedSchedd

    work = build_tree(args.dir.resolve(), args.force)
    startup = str(work / "factory_startup")
    print(f"factory tree: {work}")
    print(_run(startup, "start"))
    stop = {"now": False}
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    sims: list[subprocess.Popen[bytes]] = []
    try:
        state_dir = work / "pool"
        address = wait_for_pool(state_dir)
        pool_cli = _tool("gwms-pool")
        tokens = {}
        for who in ("frontend", "glidein"):
            path = args.dir.resolve() / f"{who}.token"
            atomic_write(  # a token is a secret: 0600 from its first byte
                path,
                _run(
                    pool_cli,
                    "token",
                    "create",
                    "--state-dir",
                    str(state_dir),
                    "--identity",
                    f"{who}@example.org",
                )
                + "\n",
                mode=0o600,
            )
            tokens[who] = str(path)
        proxy = args.dir.resolve() / "demo_proxy.pem"
        atomic_write(
            proxy,
            "-----BEGIN CERTIFICATE-----\n(demo proxy)\n-----END CERTIFICATE-----\n",
            mode=0o600,
        )
        scitoken = args.dir.resolve() / "demo_scitoken.jwt"  # what the demo CE is shown
        atomic_write(scitoken, "eyJhbGciOiJub25lIn0.eyJzY29wZSI6ImRlbW8ifQ.\n", mode=0o600)
        collector, schedd = EmbeddedCollector(address), EmbeddedSchedd(address)
        wait_for_factory(collector)
        print(
            f"pool at {address}; monitoring pages: {work / 'monitor'} "
            "(served at http://127.0.0.1:8319/monitor/)"
        )
        common = [
            _tool("gwms-frontend-sim"),
            "--pool",
            address,
            "--token",
            tokens["frontend"],
            "--security-name",
            "vofrontend",
            "--security-class",
            "frontend",
        ]
        ask = [
            "--idle",
            str(args.idle),
            "--max",
            str(args.max),
            "--interval",
            "10",
            "--param",
            f"GLIDEIN_Collector={address}",
            "--idtoken",
            tokens["glidein"],
        ]
        sims.append(
            subprocess.Popen(
                [
                    *common,
                    "--group",
                    "main",
                    "--protocol",
                    "3.11",
                    "request",
                    "--entry",
                    "local_site_a",
                    "--entry",
                    "local_site_b",
                    *ask,
                    "--scitoken",
                    str(scitoken),
                ]
            )
        )
        sims.append(
            subprocess.Popen(
                [
                    *common,
                    "--group",
                    "proxy",
                    "--protocol",
                    "3.10",
                    "request",
                    "--entry",
                    "local_site_c",
                    "--credential",
                    str(proxy),
                    *ask,
                ]
            )
        )
        print(
            f"frontend asks {args.idle} idle / {args.max} max glideins per entry "
            "(group main speaks 3.11, group proxy 3.10); ^C stops"
        )
        started = time.time()
        while not stop["now"] and (not args.duration or time.time() - started < args.duration):
            time.sleep(10)
            try:
                show(collector, schedd, started)
            except PoolError as err:
                print(f"  (pool not answering: {err})")
    finally:
        for sim in sims:
            sim.terminate()
        for sim in sims:
            sim.wait(30)
        print(_run(startup, "stop"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
