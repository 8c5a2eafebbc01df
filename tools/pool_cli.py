"""`gwms-pool`: run the embedded pool and look inside it, in the spirit of condor_* tools.

Exit status: 0 success, 1 failure (one-line message on stderr), 2 bad usage.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections.abc import Callable, Sequence

import classad2

from glideinwms_factory.lib import classad
from glideinwms_factory.lib.atomicfile import atomic_write
from glideinwms_factory.lib.pool import (
    INVALIDATE_COMMANDS,
    UPDATE_COMMANDS,
    JobAction,
    JobStatus,
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

_STATUS_LETTER: dict[int, str] = {
    JobStatus.IDLE: "I",
    JobStatus.RUNNING: "R",
    JobStatus.REMOVED: "X",
    JobStatus.COMPLETED: "C",
    JobStatus.HELD: "H",
    JobStatus.TRANSFERRING_OUTPUT: ">",
    JobStatus.SUSPENDED: "S",
}


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
    return find_pool_address(args.pool, getattr(args, "state_dir", None))


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
        stopped = control.stop(_state_dir(args))
    except control.ControlError as exc:
        raise CliError(str(exc)) from None
    if not stopped:
        print(f"no pool daemon runs for {args.state_dir}", file=sys.stderr)
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    secret = load_or_create_secret(_state_dir(args))
    token = create_token(secret, args.identity, args.lifetime)
    if args.output:
        atomic_write(pathlib.Path(args.output), token + "\n", mode=0o600)
    else:
        print(token)
    return 0


# --- queries ---------------------------------------------------------------------------


def _af_value(ad: classad2.ClassAd, name: str) -> str:
    value = ad.eval(name) if name in ad else classad2.Value.Undefined
    if value is classad2.Value.Undefined:
        return "undefined"
    if value is classad2.Value.Error:
        return "error"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _print_ads(
    args: argparse.Namespace,
    ads: list[classad2.ClassAd],
    table: Callable[[list[classad2.ClassAd]], None],
) -> None:
    if args.af:
        for ad in ads:
            print(" ".join(_af_value(ad, name) for name in args.af))
    elif args.long:
        sys.stdout.write(classad.format_old_many(ads))
    elif args.json:
        sys.stdout.write(classad.format_json(ads))
    else:
        table(ads)


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(header)]
    for row in [header, *rows]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _ads_table(ads: list[classad2.ClassAd]) -> None:
    rows = [[_af_value(ad, n) for n in ("MyType", "Name", "AuthenticatedIdentity")] for ad in ads]
    _print_table(("MyType", "Name", "AuthenticatedIdentity"), rows)


def _jobs_table(ads: list[classad2.ClassAd]) -> None:
    rows = []
    for ad in ads:
        status = ad.eval("JobStatus") if "JobStatus" in ad else 0
        rows.append(
            [
                f"{_af_value(ad, 'ClusterId')}.{_af_value(ad, 'ProcId')}",
                _af_value(ad, "Owner"),
                _STATUS_LETTER.get(status, "?") if isinstance(status, int) else "?",
                _af_value(ad, "Cmd"),
            ]
        )
    _print_table(("ID", "OWNER", "ST", "CMD"), rows)


def cmd_query(args: argparse.Namespace) -> int:
    ads = EmbeddedCollector(_address(args)).query(args.constraint, tuple(args.af or ()))
    _print_ads(args, ads, _ads_table)
    return 0


def cmd_q(args: argparse.Namespace) -> int:
    ads = EmbeddedSchedd(_address(args)).query(args.constraint, tuple(args.af or ()))
    _print_ads(args, ads, _jobs_table)
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


def cmd_act(args: argparse.Namespace) -> int:
    if bool(args.constraint) == bool(args.ids):
        raise CliError("give job ids (CLUSTER or CLUSTER.PROC) or -constraint EXPR, not both")
    schedd = EmbeddedSchedd(_address(args), _token(args))
    jobs = args.constraint or args.ids
    count = schedd.act(JobAction(args.action), jobs, reason=args.reason)
    print(f"{args.action}: {count} job(s)")
    return 0


# --- argument parsing ------------------------------------------------------------------


def _pool_options(parser: argparse.ArgumentParser, token: bool = False) -> None:
    parser.add_argument("--pool", "-pool", help="HOST:PORT (default: $GWMS_POOL, --state-dir)")
    parser.add_argument("--state-dir", help="read the address a daemon recorded there")
    if token:
        parser.add_argument("--token", "-token", required=True, help="file holding a pool token")


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-constraint", "--constraint", default="true", help="ClassAd expression")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("-af", "-autoformat", nargs="+", metavar="ATTR", help="print attributes")
    form.add_argument("-long", "-l", action="store_true", help="print whole ads (old syntax)")
    form.add_argument("-json", action="store_true", help="print ads as JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gwms-pool", description=__doc__, allow_abbrev=False)
    sub = parser.add_subparsers(dest="verb", required=True, metavar="COMMAND")

    start = sub.add_parser("start", help="start the pool daemon (prints HOST:PORT)")
    start.add_argument("--state-dir", required=True)
    start.add_argument("--port", type=int, default=0, help="0 = any free port")
    start.add_argument("--slots", type=int, default=4, help="slots of the simulated site")
    start.add_argument("--lifetime", type=int, help="default ad lifetime in seconds (900)")
    start.set_defaults(func=cmd_start)
    for verb, func, text in (
        ("status", cmd_status, "print HOST:PORT and exit 0 if the daemon runs"),
        ("stop", cmd_stop, "stop the daemon (SIGTERM, bounded wait)"),
    ):
        verb_parser = sub.add_parser(verb, help=text)
        verb_parser.add_argument("--state-dir", required=True)
        verb_parser.set_defaults(func=func)

    token = sub.add_parser("token", help="pool tokens").add_subparsers(dest="token_verb")
    token.required = True
    create = token.add_parser("create", help="print a signed token for an identity")
    create.add_argument("--state-dir", required=True)
    create.add_argument("--identity", required=True, help="NAME@DOMAIN")
    create.add_argument("--lifetime", type=int, help="seconds (default: no expiry)")
    create.add_argument("--output", help="write the token to this file (mode 0600)")
    create.set_defaults(func=cmd_token_create)

    for verb, func, text in (
        ("query", cmd_query, "Collector ads (like condor_status)"),
        ("q", cmd_q, "Schedd jobs (like condor_q)"),
    ):
        query = sub.add_parser(verb, help=text, allow_abbrev=False)
        _pool_options(query)
        _output_options(query)
        query.set_defaults(func=func)

    advertise = sub.add_parser("advertise", help="send ads from a file (like condor_advertise)")
    _pool_options(advertise, token=True)
    advertise.add_argument("-multiple", "--multiple", action="store_true", help="several ads")
    advertise.add_argument("command", choices=UPDATE_COMMANDS + INVALIDATE_COMMANDS)
    advertise.add_argument("file", help="old-syntax ClassAd file ('-' = stdin)")
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CliError, PoolError, TokenError, classad.ClassAdSyntaxError, ValueError) as exc:
        print(f"gwms-pool: {exc}", file=sys.stderr)
    except OSError as exc:
        print(f"gwms-pool: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("gwms-pool: interrupted", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
