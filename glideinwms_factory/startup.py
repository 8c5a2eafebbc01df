"""`factory_startup`: init.d-style control of one factory tree.

    factory_startup [--root WORK] start|stop|restart|force-reload|status
    factory_startup reconfig [CONFIG] [yes|no] [-force_delete] [-comment C] [-fix_rrd]
    factory_startup down|up -entry factory|entries|All|ENTRY [-delay D] [-frontend F] \
        [-security C] [-comment C]            (also the old form: down ENTRY [DELAY])
    factory_startup statusdown -entry ENTRY|factory|entries|All [-delay D]
    factory_startup add -entry E -start T [-end T] [-frontend F] [-security C] [-comment C]
    factory_startup vacuum
    factory_startup info [-dirs] [-entries [-all] [-schedd] [-CE]]
    factory_startup infosysdown [-source FILE]
    factory_startup explain ENTRY [-frontend F] [-json]   why the last cycle did what it did

Exit codes are LSB's: 0 ok, 1 failure, 2 bad syntax, 3 unknown command (status: 3 = not
running, 1 = dead but the pid file remains), 6 not configured / bad config.
The tree's own copy (WORK/factory_startup) passes `--root`; from the repository, give it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime
from pathlib import Path

from glideinwms_factory import services
from glideinwms_factory.lib import cli, descript, downtimes, pidlock
from glideinwms_factory.lib.factory_config import FactoryConfig, load_factory

EXIT_OK, EXIT_FAIL, EXIT_SYNTAX, EXIT_UNKNOWN, EXIT_NOT_CONFIGURED = 0, 1, 2, 3, 6
LOCK = Path("lock") / "glideinWMS.lock"
READY = Path("lock") / "factory.ready"  # written by the daemon once its services run
# Written by restart/reconfig before the stop: a start follows, so the embedded pool leaves
# its glideins running (a plain stop ends them).
KEEP_GLIDEINS_FILE = Path("lock") / "keep_glideins"
START_WAIT, STOP_WAIT, STOP_AGAIN_WAIT, KILL_WAIT = 15.0, 50.0, 15.0, 30.0


class UsageError(Exception):
    """Bad command line: exit 2 with the message."""


class UnknownName(Exception):
    """An entry, frontend or security class the tree does not have: exit 1 with the message."""


# --- running the daemon -------------------------------------------------------------------


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def factory_state(work: Path) -> pidlock.State:
    return pidlock.state(work / LOCK)


def status(work: Path) -> int:
    state = factory_state(work)
    pid = pidlock.read_pid(work / LOCK)
    if state is pidlock.State.RUNNING:
        problems = _pool_problem(work) + services.read_problems(work)
        if problems:
            print(f"Degraded (pid {pid}): {'; '.join(dict.fromkeys(problems))}")
            return EXIT_FAIL
        print(f"Running (pid {pid})")
        return EXIT_OK
    if state is pidlock.State.DEAD:
        print(f"Not running, but its pid file remains (pid {pid} died): {work / LOCK}")
        return EXIT_FAIL
    print("Not running")
    return EXIT_UNKNOWN


def _pool_problem(work: Path) -> list[str]:
    """Asked of the pool itself, not of the factory: a dead pool is never 'Running'."""
    try:
        config = load_factory(work)
    except (descript.DescriptError, OSError, KeyError):
        return []  # the daemon runs on what it loaded; nothing to ask here
    if config.descript.pool_backend != "embedded":
        return []
    from glideinwms_factory.lib.pool.connect import embedded_state_dir
    from glideinwms_factory.lib.pool.embedded import statedir

    if not statedir.lock_is_held(embedded_state_dir(config.glidein)):
        return ["embedded pool not running"]
    return []


def start(work: Path) -> int:
    if factory_state(work) is pidlock.State.RUNNING:
        print(f"Already running (pid {pidlock.read_pid(work / LOCK)})")
        return EXIT_OK
    log_dir = load_factory(work).log_dir / "factory"  # where the daemon logs too
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path = log_dir / "factory.stdout.log"
    (work / READY).unlink(missing_ok=True)  # left behind by a factory that was killed
    (work / KEEP_GLIDEINS_FILE).unlink(missing_ok=True)
    with open(out_path, "ab") as out:
        process = subprocess.Popen(
            [
                "nice",
                "-n",
                "2",
                sys.executable,
                "-m",
                "glideinwms_factory.factory",
                "--root",
                str(work),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def ready_or_dead() -> bool:
        return (work / READY).exists() or process.poll() is not None

    _wait(ready_or_dead, START_WAIT)
    if (work / READY).exists() and process.poll() is None:
        print(f"Started (pid {process.pid})")
        return EXIT_OK
    tail = out_path.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
    print(f"Failed to start the factory: {tail[0]}", file=sys.stderr)
    return EXIT_FAIL


def stop(work: Path, keep_glideins: bool = False) -> int:
    """Stop the factory; with the embedded pool, the glideins it runs end too unless
    `keep_glideins` (a restart)."""
    if factory_state(work) is not pidlock.State.RUNNING:
        print("Not running")
        return EXIT_OK
    pid = pidlock.read_pid(work / LOCK)
    if pid is None:
        print("Running, but its pid file is unreadable", file=sys.stderr)
        return EXIT_FAIL

    def stopped() -> bool:  # the lock is released just before the process exits
        return factory_state(work) is not pidlock.State.RUNNING and _exited(pid)

    if keep_glideins:
        (work / KEEP_GLIDEINS_FILE).touch()

    for sig, wait in ((signal.SIGTERM, STOP_WAIT), (signal.SIGTERM, STOP_AGAIN_WAIT)):
        _signal_group(pid, sig)
        if _wait(stopped, wait):
            print("Stopped")
            return EXIT_OK
    _signal_group(pid, signal.SIGKILL)
    if _wait(stopped, KILL_WAIT):
        print("Killed")
        return EXIT_OK
    print(f"Could not stop the factory (pid {pid})", file=sys.stderr)
    return EXIT_FAIL


def _exited(pid: int) -> bool:
    """The process is gone, or a zombie (an empty command line): it runs no more code."""
    try:
        return not Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the daemon leads its own process group
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def restart(work: Path) -> int:
    code = stop(work, keep_glideins=True)
    return start(work) if code == EXIT_OK else code


# --- downtimes ----------------------------------------------------------------------------


def _options(
    args: Sequence[str], known: AbstractSet[str], flags: AbstractSet[str] = frozenset()
) -> dict[str, str | bool]:
    """`-name value` pairs and bare `-flag`s; anything else is a usage error."""
    values: dict[str, str | bool] = {}
    i = 0
    while i < len(args):
        word = args[i]
        if word in flags:
            values[word[1:]] = True
            i += 1
        elif word in known:
            if i + 1 >= len(args):
                raise UsageError(f"{word} needs a value")
            values[word[1:]] = args[i + 1]
            i += 2
        else:
            raise UsageError(f"unexpected argument {word!r}")
    return values


def _target(config: FactoryConfig, entry: str) -> str:
    """`factory`, `All` (for `entries` or `All`), or a configured entry name."""
    if entry == "factory":
        return downtimes.FACTORY
    if entry in ("entries", "All"):
        return downtimes.ALL
    if entry not in config.entries:
        raise UnknownName(f"unknown entry {entry!r}")
    return entry


def _scope(config: FactoryConfig, opts: dict) -> tuple[str, str]:
    """The `-frontend` and `-security` a downtime applies to, checked against the tree."""
    frontend = str(opts.get("frontend", downtimes.ALL))
    security = str(opts.get("security", downtimes.ALL))
    frontends = config.frontends
    if frontend != downtimes.ALL and frontend not in frontends:
        raise UnknownName(f"unknown frontend {frontend!r}")
    if security != downtimes.ALL:
        classes = (
            set(frontends[frontend].usermap)
            if frontend != downtimes.ALL
            else {c for f in frontends.values() for c in f.usermap}
        )
        if security not in classes:
            raise UnknownName(f"unknown security class {security!r}")
    return frontend, security


def _comment(opts: dict) -> str:
    comment = str(opts.get("comment", ""))
    if not comment and os.environ.get("GLIDEIN_MANDATORY_COMMENTS", "").lower() == "on":
        raise UsageError("a -comment is mandatory (GLIDEIN_MANDATORY_COMMENTS=on)")
    return comment


def _normalize_down_args(args: Sequence[str]) -> list[str]:
    """Accept the old positional form `down ENTRY [DELAY]` as `-entry ENTRY -delay DELAY`."""
    if args and not args[0].startswith("-"):
        rest = ["-entry", args[0]]
        if len(args) > 1 and not args[1].startswith("-"):
            rest += ["-delay", args[1]]
            return rest + list(args[2:])
        return rest + list(args[1:])
    return list(args)


DOWN_OPTIONS = {"-entry", "-delay", "-frontend", "-security", "-comment"}


def down_or_up(config: FactoryConfig, command: str, args: Sequence[str], now: datetime) -> int:
    opts = _options(_normalize_down_args(args), DOWN_OPTIONS)
    if "entry" not in opts:
        raise UsageError(f"{command} needs -entry factory|entries|All|ENTRY")
    entry = _target(config, str(opts["entry"]))
    frontend, security = _scope(config, opts)
    delay = downtimes.parse_delay(str(opts.get("delay", "0")))
    comment = _comment(opts)
    dt_file = downtimes.DowntimeFile(config.downtimes_file)
    if command == "down":
        added = dt_file.down(
            downtimes.Downtime(
                downtimes.shifted(now, delay), None, entry, frontend, security, comment
            )
        )
        print(f"{entry} down" + ("" if added else " (already covered)"))
        return EXIT_OK
    closed = dt_file.up(downtimes.shifted(now, delay), now, entry, frontend, security, comment)
    if not closed:
        print(f"up: {entry} has no open downtime", file=sys.stderr)
        return EXIT_FAIL
    print(f"{entry} up")
    return EXIT_OK


def add(config: FactoryConfig, args: Sequence[str], now: datetime) -> int:
    opts = _options(args, DOWN_OPTIONS | {"-start", "-end"})
    if "entry" not in opts or "start" not in opts:
        raise UsageError("add needs -entry ENTRY -start TIME [-end TIME]")
    entry = _target(config, str(opts["entry"]))
    frontend, security = _scope(config, opts)
    start_at = downtimes.parse_time_spec(str(opts["start"]), now)
    end_at = downtimes.parse_time_spec(str(opts["end"]), now) if "end" in opts else None
    added = downtimes.DowntimeFile(config.downtimes_file).down(
        downtimes.Downtime(start_at, end_at, entry, frontend, security, _comment(opts))
    )
    print("added" if added else "already covered")
    return EXIT_OK


def statusdown(config: FactoryConfig, args: Sequence[str], now: datetime) -> int:
    opts = _options(_normalize_down_args(args), {"-entry", "-delay"})
    entry = str(opts.get("entry", "All"))
    when = downtimes.shifted(now, downtimes.parse_delay(str(opts.get("delay", "0"))))
    parsed = downtimes.DowntimeFile(config.downtimes_file).read()
    if entry in ("entries", "All"):
        names = (["factory"] if entry == "All" else []) + config.entries
    elif entry == "factory" or entry in config.entries:
        names = [entry]
    else:
        raise UnknownName(f"unknown entry {entry!r}")
    for name in names:
        print(downtimes.statusdown_line(parsed.downtimes, name, when))
    return EXIT_OK


# --- info and infosysdown -----------------------------------------------------------------


def info(config: FactoryConfig, args: Sequence[str]) -> int:
    opts = _options(args, set(), {"-dirs", "-entries", "-all", "-schedd", "-CE"})
    work, glidein = config.work_dir, config.glidein
    if opts.get("dirs") or not opts:
        for key in (
            "WorkDir",
            "StageDir",
            "MonitorDir",
            "LogDir",
            "ClientLogBaseDir",
            "ClientProxiesBaseDir",
        ):
            print(f"{key}: {glidein.get(key, '')}")
    if opts.get("entries"):
        names = sorted(p.name[len("entry_") :] for p in work.glob("entry_*") if p.is_dir())
        enabled = set(config.entries)
        for name in names:
            job = descript.read_descript(work / f"entry_{name}" / "job.descript")
            if name not in enabled and not opts.get("all"):
                continue
            parts = [name]
            if opts.get("all"):
                parts.append("enabled" if name in enabled else "disabled")
            if opts.get("schedd"):
                parts.append(job.get("Schedd", ""))
            if opts.get("CE"):
                parts += [job.get("GridType", ""), job.get("Gatekeeper", "")]
            print("\t".join(parts))
    return EXIT_OK


def infosysdown(config: FactoryConfig, args: Sequence[str], now: datetime) -> int:
    from glideinwms_factory.infosys import FileInfoSource, InfoSourceError, sync_downtimes

    opts = _options(args, {"-source"})
    work = config.work_dir
    source = FileInfoSource(Path(str(opts.get("source", work / "infosys_downtimes.txt"))))
    gatekeepers = {
        name: descript.read_descript(work / f"entry_{name}" / "job.descript").get("Gatekeeper", "")
        for name in config.entries
    }
    try:
        changes = sync_downtimes(
            source, gatekeepers, downtimes.DowntimeFile(config.downtimes_file), now
        )
    except InfoSourceError as err:
        print(f"infosysdown: {err}; no downtime changed", file=sys.stderr)
        return EXIT_FAIL
    for line in changes:
        print(line)
    return EXIT_OK


# --- explain ------------------------------------------------------------------------------


def explain(config: FactoryConfig, args: Sequence[str]) -> int:
    from glideinwms_factory import explain as explaining

    if not args or args[0].startswith("-"):
        raise UsageError("explain needs an ENTRY")
    entry, opts = args[0], _options(args[1:], {"-frontend"}, {"-json"})
    if entry not in config.entries:
        raise UnknownName(f"unknown entry {entry!r}")
    frontend = opts.get("frontend")
    cycle = explaining.last_cycle(
        config.work_dir / f"entry_{entry}", frontend if isinstance(frontend, str) else None
    )
    if cycle is None:
        print(f"explain: entry {entry} has recorded no cycle yet (is the factory running?)")
        return EXIT_FAIL
    print(explaining.as_json(cycle) if opts.get("json") else explaining.render(cycle), end="")
    return EXIT_OK


# --- command line -------------------------------------------------------------------------


def _default_root() -> Path | None:
    here = Path(sys.argv[0]).resolve().parent
    return here if (here / "glidein.descript").exists() else None


@cli.command("factory_startup")
def main(args: list[str]) -> int:
    work = None
    if len(args) >= 2 and args[0] == "--root":
        work, args = Path(args[1]), args[2:]
    work = work or _default_root()
    if not args:
        print(__doc__, file=sys.stderr)
        return EXIT_SYNTAX
    if args[0] in ("--help", "-help", "-h", "help"):
        print("usage: factory_startup [--root WORK] COMMAND [OPTIONS]\n\n" + __doc__)
        return EXIT_OK
    if args[0] in cli.VERSION_FLAGS:
        print(cli.version_line("factory_startup"))
        return EXIT_OK
    if work is None or not (work / "glidein.descript").exists():
        print("factory_startup: no factory tree here (give --root WORK)", file=sys.stderr)
        return EXIT_NOT_CONFIGURED
    work = work.resolve()
    command, rest = args[0], args[1:]
    now = datetime.now().astimezone()
    simple = {
        "start": start,
        "stop": stop,
        "restart": restart,
        "force-reload": restart,
        "status": status,
    }
    try:
        if command in simple:
            if rest:
                raise UsageError(f"{command} takes no arguments")
            return simple[command](work)
        if command in ("reconfig", "upgrade"):
            from glideinwms_factory.startup_reconfig import reconfig

            return reconfig(work, rest)
        if command in ("down", "up"):
            return down_or_up(load_factory(work), command, rest, now)
        if command == "add":
            return add(load_factory(work), rest, now)
        if command == "vacuum":
            removed = downtimes.DowntimeFile(load_factory(work).downtimes_file).vacuum(now)
            print(f"{removed} ended downtime(s) removed")
            return EXIT_OK
        if command == "statusdown":
            return statusdown(load_factory(work), rest, now)
        if command == "info":
            return info(load_factory(work), rest)
        if command == "infosysdown":
            return infosysdown(load_factory(work), rest, now)
        if command == "explain":
            return explain(load_factory(work), rest)
    except (UsageError, downtimes.DowntimeError) as err:
        print(f"factory_startup {command}: {err}", file=sys.stderr)
        return EXIT_SYNTAX
    except UnknownName as err:
        print(f"{command}: {err}", file=sys.stderr)
        return EXIT_FAIL
    except descript.DescriptError as err:
        print(f"factory_startup {command}: {err}", file=sys.stderr)
        return EXIT_NOT_CONFIGURED
    print(f"factory_startup: unknown command {command!r}", file=sys.stderr)
    return EXIT_UNKNOWN


if __name__ == "__main__":
    sys.exit(main())
