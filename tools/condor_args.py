"""Command lines of `gwms-pool query` and `gwms-pool q`, read the way condor_status and
condor_q read theirs: single-dash options, `-af[:mods]` taking words up to the next option,
job ids and owners as plain words. An option neither tool knows is refused by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from glideinwms_factory.lib.pool import DEFAULT_POOL_PORT
from glideinwms_factory.tools.condor_format import AutoFormat, FormatError, PrintfFormat

DEFAULT_PORT = DEFAULT_POOL_PORT


class UsageError(ValueError):
    """A command line the tool cannot run: one line, exit status 2."""


@dataclass
class QueryArgs:
    """What one `query` or `q` command line asks for."""

    jobs: bool
    pool: str | None = None
    state_dir: str | None = None
    constraints: list[str] = field(default_factory=list)
    restrictions: list[str] = field(default_factory=list)  # ids, owners or names
    autoformat: AutoFormat | None = None
    printf: list[PrintfFormat] = field(default_factory=list)
    form: str = "table"  # table, long, json, xml
    attributes: list[str] = field(default_factory=list)
    limit: int | None = None
    totals: bool = False
    any_type: bool = False
    view: str = "batch"  # q: batch, nobatch, run, hold, idle
    help: bool = False


_JOB_ID = re.compile(r"(\d+)(?:\.(\d+))?")
_NAME = re.compile(r"[A-Za-z0-9_.@:\-]+")
_VIEWS = {"-nobatch": "nobatch", "-batch": "batch", "-run": "run", "-hold": "hold",
          "-idle": "idle"}  # fmt: skip
_FORMS = {"-long": "long", "-l": "long", "-json": "json", "-xml": "xml"}
_VALUE_OPTIONS = ("-pool", "-constraint", "-limit", "-attributes", "--state-dir")
_STATUS_ONLY = ("-any",)


def pool_address(text: str) -> str:
    """HOST[:PORT] with the default port when none is given."""
    has_port = "]:" in text if text.startswith("[") else ":" in text
    return text if has_port else f"{text}:{DEFAULT_PORT}"


def _canonical(word: str) -> str:
    """`--constraint` and `-constraint`, `-cons` ... all as `-constraint`."""
    if word.startswith("--") and word != "--state-dir":
        word = word[1:]
    aliases = {"-autoformat": "-af", "-totals": "-total", "-h": "-help"}
    return aliases.get(word, word)


def parse(argv: list[str], jobs: bool) -> QueryArgs:
    """The QueryArgs of a `q` (jobs) or `query` command line; UsageError if not usable."""
    try:
        return _parse(argv, jobs)
    except FormatError as exc:
        raise UsageError(str(exc)) from None


def _parse(argv: list[str], jobs: bool) -> QueryArgs:
    args = QueryArgs(jobs=jobs)
    tool = "q" if jobs else "query"
    i = 0
    while i < len(argv):
        word = argv[i]
        option = _canonical(word.split(":", 1)[0] if word.startswith("-af") else word)
        if not word.startswith("-") or word == "-":
            _restriction(args, word)
        elif option == "-help":
            args.help = True
        elif option == "-af":
            modifiers = word.split(":", 1)[1] if ":" in word else ""
            columns = []
            while i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                i += 1
                columns.append(argv[i])
            args.autoformat = AutoFormat.parse(modifiers, columns, jobs)
        elif option == "-format":
            if i + 2 >= len(argv):
                raise UsageError("-format needs FMT and EXPR")
            fmt, expr = argv[i + 1], argv[i + 2]
            args.printf.append(PrintfFormat(fmt, expr))
            i += 2
        elif option in _FORMS:
            args.form = _FORMS[option]
        elif option == "-total":
            args.totals = True
        elif option in _VALUE_OPTIONS:
            if i + 1 >= len(argv):
                raise UsageError(f"{word} needs a value")
            i += 1
            _value(args, option, argv[i])
        elif jobs and option in _VIEWS:
            args.view = _VIEWS[option]
        elif not jobs and option in _STATUS_ONLY:
            args.any_type = True
        else:
            raise UsageError(f"unknown option {word!r} (gwms-pool {tool} -help lists them)")
        i += 1
    if args.autoformat and args.printf:
        raise UsageError("-af and -format cannot be used together")
    if (args.autoformat or args.printf) and args.form != "table":
        raise UsageError(f"-af/-format and -{args.form} cannot be used together")
    return args


def _value(args: QueryArgs, option: str, value: str) -> None:
    if option == "-pool":
        args.pool = pool_address(value)
    elif option == "--state-dir":
        args.state_dir = value
    elif option == "-constraint":
        args.constraints.append(value)
    elif option == "-attributes":
        args.attributes += [name.strip() for name in value.split(",") if name.strip()]
    else:
        if not value.isdigit():
            raise UsageError(f"-limit wants a number, not {value!r}")
        args.limit = int(value)


def _restriction(args: QueryArgs, word: str) -> None:
    if not _NAME.fullmatch(word):
        raise UsageError(f"{word!r} is not a job id, owner or name")
    args.restrictions.append(word)


def restriction_constraint(args: QueryArgs) -> str:
    """The ClassAd constraint of the plain words: job ids/owners (q) or names (query)."""
    terms = []
    for word in args.restrictions:
        match = _JOB_ID.fullmatch(word)
        if args.jobs and match:
            cluster, proc = match.groups()
            term = f"ClusterId == {cluster}"
            terms.append(f"({term} && ProcId == {proc})" if proc is not None else f"({term})")
        elif args.jobs:
            terms.append(f'(Owner == "{word}")')
        else:
            terms.append(f'(Name == "{word}" || Machine == "{word}")')
    return " || ".join(terms)


VIEW_CONSTRAINT = {"run": "JobStatus == 2", "hold": "JobStatus == 5", "idle": "JobStatus == 1"}


def constraint(args: QueryArgs) -> str:
    """Every restriction of the command line ANDed into one ClassAd constraint."""
    parts = [f"({c})" for c in args.constraints]
    words = restriction_constraint(args)
    if words:
        parts.append(f"({words})")
    if args.jobs and args.view in VIEW_CONSTRAINT:
        parts.append(VIEW_CONSTRAINT[args.view])
    return " && ".join(parts) or "true"


USAGE = {
    False: """usage: gwms-pool query [options] [NAME ...]   (like condor_status)
  -pool HOST[:PORT]       the pool (default port 9618); also $GWMS_POOL or --state-dir DIR
  -constraint EXPR        only ads where the ClassAd expression is true (repeatable: ANDed)
  -af[:lhVr,tng] EXPR...  print expressions evaluated against each ad (-autoformat)
  -format FMT EXPR        printf-style output, repeatable
  -long | -json | -xml    whole ads; -attributes A,B narrows them
  -limit N                at most N ads
  -total                  counts only
  -any                    every ad as MyType, TargetType, Name
  NAME                    ads whose Name or Machine is NAME""",
    True: """usage: gwms-pool q [options] [CLUSTER[.PROC] | OWNER ...]   (like condor_q)
  -pool HOST[:PORT]       the pool (default port 9618); also $GWMS_POOL or --state-dir DIR
  -constraint EXPR        only jobs where the ClassAd expression is true (repeatable: ANDed)
  -af[:jlhVr,tng] EXPR... print expressions evaluated against each job (-autoformat)
  -format FMT EXPR        printf-style output, repeatable
  -long | -json | -xml    whole job ads; -attributes A,B narrows them
  -limit N                at most N jobs
  -nobatch                a line per job (default: a line per batch)
  -run | -idle | -hold    running jobs (with host), idle jobs, held jobs (with HoldReason)
  -totals                 the totals line only""",
}
