"""Upstream's per-entry operator tools, through the pool interface (either backend).

    entry_q  ENTRY|-l [-dir WORK] [-printschedd] [-frontend FE] [gwms-pool q options]
    entry_rm ENTRY [-dir WORK] [-printschedd] [-frontend FE] [-constraint EXPR] [ID ...]
    entry_ls [-o] [-l] [-t|-f] [-e H] [-E H] [-d S] [-D S] [-dir WORK] ENTRY USER YYYYMMDD
    find_logs WORK YY/MM/DD [hh:mm:ss]

The factory tree is `-dir`, else $GLIDEIN_FACTORY_DIR, else the current directory.
"""

from __future__ import annotations

import datetime
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import classad2
from lxml import etree

from glideinwms_factory.lib import cli, descript
from glideinwms_factory.lib.factory_config import FactoryConfig, load_factory
from glideinwms_factory.lib.pool import JobAction, PoolError
from glideinwms_factory.lib.pool.connect import open_pool
from glideinwms_factory.tools import condor_args, condor_query


class ToolError(Exception):
    """Bad input or a failed action: one line, exit status 1."""


def _take(argv: list[str], option: str) -> str | None:
    """Remove `option VALUE` from argv; the value (None when absent)."""
    if option not in argv:
        return None
    i = argv.index(option)
    if i + 1 >= len(argv):
        raise ToolError(f"{option} needs a value")
    value = argv[i + 1]
    del argv[i : i + 2]
    return value


def _flag(argv: list[str], option: str) -> bool:
    if option in argv:
        argv.remove(option)
        return True
    return False


def factory_dir(given: str | None) -> FactoryConfig:
    work = Path(given or os.environ.get("GLIDEIN_FACTORY_DIR") or ".")
    try:
        return load_factory(work)
    except (OSError, descript.DescriptError) as exc:
        raise ToolError(f"{work} is not a factory work dir: {exc}") from None


def _entry(config: FactoryConfig, name: str) -> str:
    name = name.removeprefix("entry_")
    if name not in config.entries:
        raise ToolError(f"unknown entry {name!r} (entry_q -l lists them)")
    return name


def schedd_name(config: FactoryConfig, entry: str) -> str:
    job = descript.read_descript(config.work_dir / f"entry_{entry}" / "job.descript")
    return job.get("Schedd", "")


def factory_constraint(config: FactoryConfig) -> str:
    """The glideins of this factory tree."""
    return (
        f"(GlideinFactory =?= {classad2.quote(config.factory_name)}) && "
        f"(GlideinName =?= {classad2.quote(config.glidein_name)})"
    )


def entry_constraint(config: FactoryConfig, entry: str, frontend: str | None) -> str:
    """The glideins of one entry (and frontend): what the entry itself counts."""
    parts = [factory_constraint(config), f"(GlideinEntryName =?= {classad2.quote(entry)})"]
    if frontend:
        prefix = classad2.quote(frontend + ":")
        parts.append(
            f"((GlideinFrontendName =?= {classad2.quote(frontend)}) || "
            f"(substr(GlideinFrontendName, 0, {len(frontend) + 1}) =?= {prefix}))"
        )
    return " && ".join(parts)


def _list_entries(config: FactoryConfig, with_schedd: bool) -> int:
    print("Available entries:")
    for name in config.entries:
        print(f"  {name:40} {schedd_name(config, name)}" if with_schedd else f"  {name}")
    return 0


@dataclass
class _EntryCall:
    config: FactoryConfig
    entry: str
    schedd: str
    constraint: str
    rest: list[str]


def usage(line: int) -> str:
    """`usage: ...` from line `line` of this module's docstring."""
    return "usage: " + __doc__.splitlines()[line].strip()


def _entry_call(argv: list[str], text: str) -> _EntryCall | None:
    """The shared part of entry_q/entry_rm; None when it only listed the entries."""
    argv = list(argv)
    if not argv or argv[0] in ("-h", "-help", "--help"):
        print(text)
        return None
    work, with_schedd = _take(argv, "-dir"), _flag(argv, "-printschedd")
    frontend = _take(argv, "-frontend")
    config = factory_dir(work)
    if argv[0] == "-l":
        _list_entries(config, with_schedd)
        return None
    entry = _entry(config, argv[0])
    call = _EntryCall(
        config, entry, schedd_name(config, entry), entry_constraint(config, entry, frontend),
        argv[1:],
    )  # fmt: skip
    if with_schedd:
        print(f"Schedd: {call.schedd or '(the pool default)'}")
        print(f"Constraint: '{call.constraint}'")
    return call


def _schedd(call: _EntryCall):  # type: ignore[no-untyped-def]
    try:
        return open_pool(call.config.glidein).schedd(call.schedd)
    except PoolError as exc:
        raise ToolError(str(exc)) from None


@cli.command("entry_q")
def entry_q(argv: list[str]) -> int:
    """condor_q of one entry's glideins."""
    call = _entry_call(argv, usage(2))
    if call is None:
        return 0
    try:
        args = condor_args.parse(call.rest, jobs=True)
    except condor_args.UsageError as exc:
        print(f"entry_q: {exc}", file=sys.stderr)
        return 2
    args.constraints.insert(0, call.constraint)
    try:
        sys.stdout.write(condor_query.report(args, _schedd(call).query, call.schedd or "local"))
    except PoolError as exc:
        print(f"entry_q: {exc}", file=sys.stderr)
        return 1
    return 0


@cli.command("entry_rm")
def entry_rm(argv: list[str]) -> int:
    """condor_rm of one entry's glideins (all, those matching -constraint, or given ids)."""
    try:
        call = _entry_call(argv, usage(3))
        if call is None:
            return 0
        constraint = call.constraint
        extra = _take(call.rest, "-constraint")
        if extra:
            constraint = f"({constraint}) && ({extra})"
        ids = [word for word in call.rest if not word.startswith("-")]
        if len(ids) != len(call.rest):
            raise ToolError(f"unknown option {next(w for w in call.rest if w.startswith('-'))!r}")
        if ids:
            ids_or = " || ".join(_id_term(job) for job in ids)
            constraint = f"({constraint}) && ({ids_or})"
        count = _schedd(call).act(JobAction.REMOVE, constraint, reason="entry_rm")
    except (ToolError, PoolError, ValueError) as exc:
        print(f"entry_rm: {exc}", file=sys.stderr)
        return 1
    print(f"remove: {count} job(s)")
    if count == 0:
        print(f"entry_rm: no glidein of entry {call.entry} matched", file=sys.stderr)
        return 1
    return 0


def _id_term(job: str) -> str:
    cluster, _, proc = job.partition(".")
    if not cluster.isdigit() or (proc and not proc.isdigit()):
        raise ToolError(f"{job!r} is not CLUSTER or CLUSTER.PROC")
    return f"(ClusterId == {cluster} && ProcId == {proc})" if proc else f"(ClusterId == {cluster})"


# --- logs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompletedRecord:
    """One line of an entry's completed_jobs log."""

    job_id: str
    username: str
    client: str
    terminated: datetime.datetime
    duration: int
    condor_started: bool
    jobs_nr: int = 0
    goodput: int = 0
    waste_mill: tuple[tuple[str, int], ...] = ()

    def wasted(self, kind: str) -> float:
        """Seconds of this glidein's time wasted in `kind` (validation, idle, badput ...)."""
        return self.duration * dict(self.waste_mill).get(kind, 0) / 1000


def read_completed(path: Path) -> list[CompletedRecord]:
    """The records of a completed_jobs_<day>.log (an XML fragment of <job> lines)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True)
    root = etree.fromstring(f"<r>{text}</r>".encode(), parser)
    records = []
    for job in [] if root is None else root.iter("job"):
        user, waste = job.find("user"), job.find("wastemill")
        mill = waste.attrib if waste is not None else {}
        try:
            records.append(
                CompletedRecord(
                    job_id=job.get("id", ""),
                    username=job.get("username", ""),
                    client=job.get("client", ""),
                    terminated=datetime.datetime.fromisoformat(
                        job.get("terminated", "").replace("Z", "+00:00")
                    ),
                    duration=int(job.get("duration", "0")),
                    condor_started=job.get("condor_started") == "True",
                    jobs_nr=int(user.get("jobsnr", "0")) if user is not None else 0,
                    goodput=int(user.get("goodput", "0")) if user is not None else 0,
                    waste_mill=tuple((str(k), int(v)) for k, v in mill.items()),
                )
            )
        except ValueError:
            continue
    return records


def glidein_log(config: FactoryConfig, user: str, entry: str, job_id: str, suffix: str) -> Path:
    """Where the glidein's .out/.err is (the entry's Output/Error of job.condor)."""
    cluster, _, proc = job_id.partition(".")
    base = config.client_log_dir / f"user_{user}" / f"glidein_{config.glidein_name}"
    return base / f"entry_{entry}" / f"job.{cluster}.{proc}.{suffix}"


ENTRY_LS_USAGE = usage(4)


@cli.command("entry_ls")
def entry_ls(argv: list[str]) -> int:
    """The .err (or .out) files of one entry's completed glideins of a day, filtered."""
    argv = list(argv)
    if not argv or argv[0] in ("-h", "-help", "--help"):
        print(ENTRY_LS_USAGE)
        return 0
    try:
        work = _take(argv, "-dir")
        suffix = "out" if _flag(argv, "-o") else "err"
        long = _flag(argv, "-l")
        started = True if _flag(argv, "-t") else (False if _flag(argv, "-f") else None)
        bounds = {opt: _take(argv, opt) for opt in ("-e", "-E", "-d", "-D")}
        if any(word.startswith("-") for word in argv) or len(argv) != 3:
            raise ToolError(ENTRY_LS_USAGE)
        limits = {k: int(v) for k, v in bounds.items() if v is not None}
        config = factory_dir(work)
        entry, user, day = _entry(config, argv[0]), argv[1], argv[2]
    except (ToolError, ValueError) as exc:
        print(f"entry_ls: {exc}", file=sys.stderr)
        return 1
    log = config.log_dir / f"entry_{entry}" / f"completed_jobs_{day}.log"
    if not log.exists():
        print(f"entry_ls: {log} does not exist: no glidein completed that day", file=sys.stderr)
        return 1
    status = 0
    for record in read_completed(log):
        if record.username != user or not _matches(record, started, limits):
            continue
        path = glidein_log(config, user, entry, record.job_id, suffix)
        try:
            stat = path.stat()
        except OSError:
            print(f"entry_ls: the log {path} does not exist", file=sys.stderr)
            status = 1
            continue
        if long:
            print(f"{time.ctime(stat.st_mtime)} {stat.st_size:10d} {stat.st_mode:6o} {path}")
        else:
            print(path)
    return status


def _matches(record: CompletedRecord, started: bool | None, limits: dict[str, int]) -> bool:
    hour = record.terminated.hour
    return (
        (started is None or record.condor_started == started)
        and ("-e" not in limits or hour < limits["-e"])
        and ("-E" not in limits or hour >= limits["-E"])
        and ("-d" not in limits or record.duration <= limits["-d"])
        and ("-D" not in limits or record.duration >= limits["-D"])
    )


def _since(day: str, clock: str | None) -> float:
    try:
        year, month, mday = (int(part) for part in day.split("/"))
        hour, minute, second = (int(part) for part in (clock or "0:0:0").split(":"))
        year += 2000 if year < 100 else 0
        return datetime.datetime(year, month, mday, hour, minute, second).timestamp()
    except ValueError:
        raise ToolError(f"want YY/MM/DD [hh:mm:ss], not {day} {clock or ''}".strip()) from None


@cli.command("find_logs")
def find_logs(argv: list[str]) -> int:
    """The glidein .err logs of every entry written since a date (upstream's find_logs)."""
    if len(argv) not in (2, 3) or argv[0] in ("-h", "-help", "--help"):
        print(usage(5))
        return 0 if argv[:1] and argv[0] in ("-h", "-help", "--help") else 1
    try:
        config = factory_dir(argv[0])
        since = _since(argv[1], argv[2] if len(argv) == 3 else None)
    except ToolError as exc:
        print(f"find_logs: {exc}", file=sys.stderr)
        return 1
    found = [
        path
        for entry in config.entries
        for path in config.client_log_dir.glob(f"user_*/glidein_*/entry_{entry}/job.*.err")
        if path.stat().st_mtime >= since
    ]
    for path in sorted(found):
        print(path)
    return 0
