"""`gwms-pool`: run the embedded pool and look inside it, in the spirit of condor_* tools.

Exit status: 0 success, 1 failure (one-line message on stderr), 2 bad usage.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from glideinwms_factory.lib import classad, cli
from glideinwms_factory.lib.atomicfile import atomic_write
from glideinwms_factory.lib.pool import (
    DEFAULT_POOL_PORT,
    INVALIDATE_COMMANDS,
    UPDATE_COMMANDS,
    JobAction,
    PoolError,
)
from glideinwms_factory.lib.pool.embedded import control
from glideinwms_factory.lib.pool.embedded.auth import (
    TokenError,
    create_token,
    load_or_create_secret,
)
from glideinwms_factory.lib.pool.embedded.client import (
    EmbeddedCollector,
    EmbeddedSchedd,
    find_pool_address,
    read_token,
)
from glideinwms_factory.tools import condor_args, condor_format, condor_query


class CliError(Exception):
    """Bad input or a failed action: printed as one line, exit status 1."""


def _state_dir(args: argparse.Namespace) -> pathlib.Path:
    return pathlib.Path(args.state_dir)


def _read_text(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        return pathlib.Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from None


def _address(args: argparse.Namespace) -> str:
    """--pool HOST[:PORT] (the default port when none), else $GWMS_POOL, else --state-dir."""
    pool = condor_args.pool_address(args.pool) if args.pool else None
    return find_pool_address(pool, getattr(args, "state_dir", None))


def _token(args: argparse.Namespace) -> str:
    return read_token(args.token)


# --- daemon control --------------------------------------------------------------------


def cmd_start(args: argparse.Namespace) -> int:
    extra = ("--lifetime", str(args.lifetime)) if args.lifetime else ()
    try:
        print(control.start(_state_dir(args), args.port, args.slots, extra))
    except control.ControlError as exc:
        raise CliError(str(exc)) from None
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    address = control.running_address(_state_dir(args))
    if address is None:
        print(f"no pool daemon runs for {args.state_dir}", file=sys.stderr)
        return 1
    print(address)
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    try:
        stopped = control.stop(_state_dir(args), keep_jobs=args.keep_jobs)
    except control.ControlError as exc:
        raise CliError(str(exc)) from None
    if not stopped:
        print(f"no pool daemon runs for {args.state_dir}", file=sys.stderr)
    elif args.keep_jobs:
        print("stopped; its running jobs go on (gwms-pool rm, or stop without --keep-jobs)")
    else:
        print("stopped; its running jobs were ended and will run again when it starts")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    secret = load_or_create_secret(_state_dir(args))
    token = create_token(secret, args.identity, args.lifetime)
    if args.output:
        atomic_write(pathlib.Path(args.output), token + "\n", mode=0o600)
    else:
        print(token)
    return 0


# --- queries (condor_status / condor_q) ------------------------------------------------


def cmd_condor_query(argv: list[str], jobs: bool) -> int:
    """`query` (condor_status) or `q` (condor_q)."""
    args = condor_args.parse(argv, jobs)
    if args.help:
        print(condor_args.USAGE[jobs])
        return 0
    address = find_pool_address(args.pool, args.state_dir)
    client = EmbeddedSchedd(address) if jobs else EmbeddedCollector(address)
    sys.stdout.write(condor_query.report(args, client.query, address))
    return 0


# --- writes ----------------------------------------------------------------------------


def cmd_advertise(args: argparse.Namespace) -> int:
    text = _read_text(args.file)
    collector = EmbeddedCollector(_address(args), _token(args))
    if args.command in INVALIDATE_COMMANDS:
        query_ad = classad.parse_old(text)
        if "Requirements" not in query_ad:
            raise CliError(f"{args.file}: an invalidation query ad needs Requirements")
        collector.invalidate_query(query_ad, args.command)
        return 0
    ads = classad.parse_old_many(text)
    if not ads:
        raise CliError(f"{args.file} holds no ad")
    if len(ads) > 1 and not args.multiple:
        raise CliError(f"{args.file} holds {len(ads)} ads: give -multiple to send them all")
    collector.advertise(ads, args.command)
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    schedd = EmbeddedSchedd(_address(args), _token(args))
    cluster = schedd.submit(_read_text(args.file), count=args.count)
    print(f"submitted to cluster {cluster}")
    return 0


def _missing_jobs(schedd: EmbeddedSchedd, ids: list[str]) -> list[str]:
    """The given CLUSTER or CLUSTER.PROC ids no job in the queue has."""
    jobs = schedd.query("true", ("ClusterId", "ProcId"))
    present = {condor_format.job_id(ad) for ad in jobs}
    clusters = {condor_format.natural(ad.get("ClusterId")) for ad in jobs}
    return [job for job in ids if job not in (present if "." in job else clusters)]


def cmd_act(args: argparse.Namespace) -> int:
    """rm/hold/release; exit 1 naming the jobs when some given id, or every job, is missing."""
    if bool(args.constraint) == bool(args.ids):
        raise CliError("give job ids (CLUSTER or CLUSTER.PROC) or -constraint EXPR, not both")
    schedd = EmbeddedSchedd(_address(args), _token(args))
    missing = _missing_jobs(schedd, args.ids) if args.ids else []
    jobs = args.constraint or [job for job in args.ids if job not in missing]
    count = schedd.act(JobAction(args.action), jobs, reason=args.reason) if jobs else 0
    print(f"{args.action}: {count} job(s)")
    if missing:
        raise CliError(f"{args.action}: no such job: {', '.join(missing)}")
    if count == 0:
        what = f"the constraint {args.constraint}" if args.constraint else " ".join(args.ids)
        raise CliError(f"{args.action}: no job in a state to {args.action} matches {what}")
    return 0


# --- argument parsing ------------------------------------------------------------------


def _pool_options(parser: argparse.ArgumentParser, token: bool = False) -> None:
    parser.add_argument("--pool", "-pool", help="HOST:PORT (default: $GWMS_POOL, --state-dir)")
    parser.add_argument("--state-dir", help="read the address a daemon recorded there")
    if token:
        parser.add_argument("--token", "-token", required=True, help="file holding a pool token")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gwms-pool", description=__doc__, allow_abbrev=False)
    sub = parser.add_subparsers(dest="verb", required=True, metavar="COMMAND")

    start = sub.add_parser("start", help="start the pool daemon (prints HOST:PORT)")
    start.add_argument("--state-dir", required=True)
    start.add_argument(
        "--port", type=int, default=DEFAULT_POOL_PORT, help="default %(default)s; 0 = any free"
    )
    start.add_argument("--slots", type=int, default=4, help="slots of the simulated site")
    start.add_argument("--lifetime", type=int, help="default ad lifetime in seconds (900)")
    start.set_defaults(func=cmd_start)
    status = sub.add_parser("status", help="print HOST:PORT and exit 0 if the daemon runs")
    status.add_argument("--state-dir", required=True)
    status.set_defaults(func=cmd_status)
    stop = sub.add_parser("stop", help="stop the daemon, ending the jobs it runs (requeued)")
    stop.add_argument("--state-dir", required=True)
    stop.add_argument("--keep-jobs", action="store_true", help="leave its running jobs running")
    stop.set_defaults(func=cmd_stop)

    token = sub.add_parser("token", help="pool tokens").add_subparsers(dest="token_verb")
    token.required = True
    create = token.add_parser("create", help="print a signed token for an identity")
    create.add_argument("--state-dir", required=True)
    create.add_argument("--identity", required=True, help="NAME@DOMAIN")
    create.add_argument("--lifetime", type=int, help="seconds (default: no expiry)")
    create.add_argument("--output", help="write the token to this file (mode 0600)")
    create.set_defaults(func=cmd_token_create)

    # Listed for --help; their command lines are read by condor_args (see main).
    sub.add_parser("query", help="Collector ads (like condor_status; query -help)")
    sub.add_parser("q", help="Schedd jobs (like condor_q; q -help)")

    advertise = sub.add_parser("advertise", help="send ads from a file (like condor_advertise)")
    _pool_options(advertise, token=True)
    advertise.add_argument("-multiple", "--multiple", action="store_true", help="several ads")
    # Upstream Frontends pass condor_advertise's -tcp (advertise_with_tcp); ours always is.
    advertise.add_argument("-tcp", "--tcp", action="store_true", help="accepted; always TCP")
    advertise.add_argument("command", choices=UPDATE_COMMANDS + INVALIDATE_COMMANDS)
    advertise.add_argument(
        "file", nargs="?", default="-", help="old-syntax ClassAd file (default or '-': stdin)"
    )
    advertise.set_defaults(func=cmd_advertise)

    submit = sub.add_parser("submit", help="queue jobs of a submit description file")
    _pool_options(submit, token=True)
    submit.add_argument("-count", "--count", type=int, default=0, help="jobs (0: its queue N)")
    submit.add_argument("file", help="submit description ('-' = stdin)")
    submit.set_defaults(func=cmd_submit)

    for action, verb in (
        (JobAction.REMOVE, "rm"),
        (JobAction.HOLD, "hold"),
        (JobAction.RELEASE, "release"),
    ):
        act = sub.add_parser(verb, help=f"{action.value} jobs (like condor_{verb})")
        _pool_options(act, token=True)
        act.add_argument("-constraint", "--constraint", help="ClassAd expression")
        act.add_argument("-reason", "--reason", default="", help="why (stored with the job)")
        act.add_argument("ids", nargs="*", metavar="ID", help="CLUSTER or CLUSTER.PROC")
        act.set_defaults(func=cmd_act, action=action.value)
    return parser


@cli.command("gwms-pool")
def main(argv: list[str]) -> int:
    try:
        if argv and argv[0] in ("query", "q"):
            return cmd_condor_query(argv[1:], jobs=argv[0] == "q")
        args = build_parser().parse_args(argv)
        return args.func(args)
    except condor_args.UsageError as exc:
        print(f"gwms-pool {argv[0]}: {exc}", file=sys.stderr)
        return 2
    except (CliError, PoolError, TokenError, classad.ClassAdSyntaxError, ValueError) as exc:
        print(f"gwms-pool: {exc}", file=sys.stderr)
    except OSError as exc:
        print(f"gwms-pool: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
