"""`gwms-frontend-sim`: a VO Frontend stand-in that requests glideins from factories.

It speaks the Frontend side of spec/classads.md §2, §4, §5 and spec/security.md §3: it
takes each factory's public key only from the `glidefactoryglobal` ad that the Collector
stamped with the factory's identity (like a real Frontend, it trusts no other), advertises one
`glideclient` request per requested entry (and a `glideclientglobal` credential ad per
factory when given a credential), encrypted as 3.11 Frontends do (their credentials as
pickles of upstream's class names, spec/protocol-311.md) or, with `--protocol 3.10`, as
3.10 ones, with its own token so that the Collector stamps its identity. The ad
building is pure, in `frontend_ads`; `main` does the I/O.

    gwms-frontend-sim [--pool HOST:PORT] --token FILE list
    gwms-frontend-sim [--pool HOST:PORT] --token FILE request --entry NAME --idle N --max M [--once]
    gwms-frontend-sim [--pool HOST:PORT] --token FILE stop
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import classad2

from glideinwms_factory.lib import cli
from glideinwms_factory.lib.pool import Collector, PoolError
from glideinwms_factory.lib.pool.embedded.auth import FACTORY_IDENTITY
from glideinwms_factory.tools.frontend_ads import (
    NO_WEB,
    Credential,
    FactoryEntry,
    FactoryKeyInfo,
    RequestSpec,
    SimError,
    build_cycle_ads,
    credential_id,
    factory_keys,
    find_targets,
    from_factory,
    invalidation_constraints,
    safe_true,
)
from glideinwms_factory.tools.frontend_status import answers

log = logging.getLogger("gwms-frontend-sim")

REQUEST_COMMAND = "UPDATE_MASTER_AD"
INVALIDATE_COMMAND = "INVALIDATE_MASTER_ADS"
REMOVE_EXCESS_MODES = ("NO", "WAIT", "IDLE", "ALL", "UNREG")
# Upstream's findGlideins: the Frontend's sign type must be one the entry supports.
ENTRY_QUERY = '(GlideinMyType =?= "glidefactory") && stringListMember("sha1", SupportedSignTypes)'
ANSWER_WAIT = 30.0  # s after advertising before a cycle says what the factories answered
_SAFE_NAME = re.compile(r"[A-Za-z0-9._@-]+")
_PARAM_NAME = re.compile(r"[A-Za-z0-9_]+")


class Advertiser:
    """Queries the factories and advertises the requests, cycle after cycle."""

    def __init__(
        self,
        collector: Collector,
        spec: RequestSpec,
        entries: Sequence[str],
        default_params: Mapping[str, str],
        factory_identity: str = FACTORY_IDENTITY,
    ) -> None:
        self.collector = collector
        self.factory_identity = factory_identity
        self.spec = spec
        self.entries = list(entries)
        self.default_params = dict(default_params)
        self._sequence: dict[str, int] = {}
        self.requested: list[str] = []  # entry@glidein@factory of the last cycle's requests

    def targets(self) -> list[FactoryEntry]:
        keys, entry_ads = factory_view(self.collector, self.factory_identity)
        return find_targets(self.entries, entry_ads, keys)

    def _to_classads(self, ads: Iterable[dict[str, Any]]) -> list[classad2.ClassAd]:
        result = []
        for ad in ads:
            sequence = self._sequence.get(ad["Name"], -1) + 1
            self._sequence[ad["Name"]] = sequence
            result.append(classad2.ClassAd({**ad, "UpdateSequenceNumber": sequence}))
        return result

    def cycle(self) -> int:
        """Advertise once; returns how many request ads went out."""
        targets = self.targets()
        requests, globals_ = build_cycle_ads(self.spec, targets, self.default_params)
        self.requested = [target.name for target in targets]
        if globals_:
            self.collector.advertise(self._to_classads(globals_), REQUEST_COMMAND)
        self.collector.advertise(self._to_classads(requests), REQUEST_COMMAND)
        return len(requests)

    def stop(self) -> None:
        for constraint in invalidation_constraints(self.spec):
            self.collector.invalidate(constraint, INVALIDATE_COMMAND)


def factory_view(
    collector: Collector, identity: str
) -> tuple[dict[str, FactoryKeyInfo], list[Mapping[str, Any]]]:
    """The keys and entry ads that the factory `identity` advertised."""
    globals_ = collector.query('(GlideinMyType =?= "glidefactoryglobal")')
    entries = collector.query(ENTRY_QUERY)
    return factory_keys(from_factory(globals_, identity)), from_factory(entries, identity)


def list_factories(
    collector: Collector, as_json: bool = False, identity: str = FACTORY_IDENTITY
) -> str:
    """Entries (glidefactory ads) and whether their factory publishes a key, one per line."""
    keys, entries = factory_view(collector, identity)
    rows = []
    for ad in sorted(entries, key=lambda a: str(a.get("Name", ""))):
        name = str(ad.get("Name", ""))
        factory = next((k for g, k in keys.items() if name.endswith("@" + g)), None)
        rows.append(
            {
                "Name": name,
                "EntryName": ad.get("EntryName", ""),
                "InDowntime": safe_true(ad.get("GLIDEIN_In_Downtime", False)),
                "PubKeyID": factory.key_id if factory else None,
                "AuthenticatedIdentity": ad.get("AuthenticatedIdentity"),
            }
        )
    if as_json:
        return json.dumps(rows, indent=1) + "\n"
    lines = [f"{'Name':50} {'Down':5} {'Key':8} AuthenticatedIdentity"]
    for row in rows:
        key = (row["PubKeyID"] or "none")[:8]
        down = "yes" if row["InDowntime"] else "no"
        lines.append(f"{row['Name']:50} {down:5} {key:8} {row['AuthenticatedIdentity'] or '-'}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- command line


def token_identity(token: str) -> str:
    """The `sub` claim of a JWT token (the identity the pool will stamp), unverified."""
    parts = token.strip().split(".")
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        identity = claims["sub"]
    except (IndexError, ValueError, KeyError, TypeError, binascii.Error):
        raise SimError("cannot read the identity from the token; give --identity") from None
    if not isinstance(identity, str) or not _SAFE_NAME.fullmatch(identity):
        raise SimError("the token's identity is not NAME@DOMAIN; give --identity")
    return identity


def _read_text(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SimError(
            f"cannot read {what} {path}: {getattr(exc, 'strerror', None) or exc}"
        ) from None


def _parse_params(items: Sequence[str]) -> dict[str, str]:
    params = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not _PARAM_NAME.fullmatch(name):
            raise SimError(f"--param wants NAME=VALUE with NAME of [A-Za-z0-9_], not {item!r}")
        params[name] = value
    return params


def _safe(value: str, what: str) -> str:
    if not _SAFE_NAME.fullmatch(value):
        raise SimError(f"{what} {value!r} has characters outside [A-Za-z0-9._@-]")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gwms-frontend-sim", description=__doc__.splitlines()[0])
    parser.add_argument("--pool", help="HOST:PORT of the pool (default: $GWMS_POOL)")
    parser.add_argument("--state-dir", help="embedded pool state dir to read the address from")
    parser.add_argument("--backend", choices=("embedded", "htcondor"), default="embedded")
    parser.add_argument("--token", help="token file to advertise with (embedded pool)")
    parser.add_argument("--identity", help="frontend identity (default: the token's)")
    parser.add_argument(
        "--factory-identity",
        default=FACTORY_IDENTITY,
        help=f"use only factory ads the pool stamped with this identity ({FACTORY_IDENTITY})",
    )
    parser.add_argument("--frontend", default="frontend", help="frontend name")
    parser.add_argument("--group", default="main", help="frontend group name")
    parser.add_argument("--security-name", default="frontend")
    parser.add_argument("--security-class", default="frontend")
    parser.add_argument(
        "--protocol", choices=("3.10", "3.11"), default="3.11", help="Frontend line to speak"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="show the factories' entries")
    listing.add_argument("--json", action="store_true")
    request = commands.add_parser("request", help="advertise glideclient requests")
    request.add_argument("--entry", action="append", required=True, help="entry (repeatable)")
    request.add_argument("--idle", type=int, required=True, help="idle glideins to keep queued")
    request.add_argument("--max", type=int, required=True, help="max glideins (idle+running)")
    request.add_argument("--remove-excess", default="NO", choices=REMOVE_EXCESS_MODES)
    request.add_argument("--margin", type=int, default=0, help="ReqRemoveExcessMargin")
    request.add_argument("--idle-lifetime", type=int, default=0, help="ReqIdleLifetime (s)")
    request.add_argument("--param", action="append", default=[], help="NAME=VALUE (repeatable)")
    request.add_argument("--credential", help="credential file sent via glideclientglobal")
    request.add_argument(
        "--idtoken", help="IDTOKEN file (3.10: <EntryName>.idtoken; 3.11: the callback IdToken)"
    )
    request.add_argument(
        "--scitoken",
        help="SciToken file (3.10: frontend_scitoken and ScitokenId; 3.11: a request credential)",
    )
    request.add_argument("--web-url", default=NO_WEB, help="frontend staging URL (none)")
    request.add_argument(
        "--oaep", choices=("sha1", "sha256"), help="key code padding (3.10: sha1, 3.11: sha256)"
    )
    request.add_argument("--once", action="store_true", help="advertise once and exit")
    request.add_argument(
        "--wait",
        type=float,
        default=0,
        help="with --once: wait up to S s for the factories"
        " to serve the requests, print their answers, exit 1 if one was not served",
    )
    request.add_argument("--interval", type=float, default=60.0, help="seconds between cycles")
    commands.add_parser("stop", help="invalidate this client's ads")
    return parser


def open_collector(args: argparse.Namespace) -> Collector:
    """The Collector the way `gwms-pool` finds it: --pool, else $GWMS_POOL, else --state-dir."""
    if args.backend == "htcondor":
        from glideinwms_factory.lib.pool.htcondor import HTCondorCollector

        return HTCondorCollector(args.pool)
    try:
        from glideinwms_factory.lib.pool.embedded.client import (
            EmbeddedCollector,
            find_pool_address,
            read_token,
        )
    except ImportError:
        raise SimError(
            "the embedded pool client is not installed; use --backend htcondor"
        ) from None

    token = read_token(args.token) if args.token else None
    return EmbeddedCollector(find_pool_address(args.pool, args.state_dir), token)


def build_spec(args: argparse.Namespace) -> RequestSpec:
    """The request from the command line; SimError for anything unusable."""
    if args.identity:
        identity = _safe(args.identity, "--identity")
    elif args.token:
        identity = token_identity(_read_text(args.token, "token file"))
    else:
        raise SimError("give --token FILE (or --identity)")
    if args.idle < 0 or args.max < 0 or args.margin < 0 or args.idle_lifetime < 0:
        raise SimError("--idle, --max, --margin and --idle-lifetime must not be negative")
    if args.interval <= 0:
        raise SimError("--interval must be positive")
    credential = None
    if args.credential:
        content = _read_text(args.credential, "credential")
        credential = Credential(credential_id(str(Path(args.credential).resolve())), content)
    return RequestSpec(
        identity=identity,
        frontend=_safe(args.frontend, "--frontend"),
        group=_safe(args.group, "--group"),
        idle=args.idle,
        max_glideins=args.max,
        remove_excess=args.remove_excess,
        margin=args.margin,
        idle_lifetime=args.idle_lifetime,
        security_name=_safe(args.security_name, "--security-name"),
        security_class=_safe(args.security_class, "--security-class"),
        params=_parse_params(args.param),
        credential=credential,
        idtoken=_read_text(args.idtoken, "IDTOKEN file").strip() if args.idtoken else None,
        web_url=args.web_url,
        oaep_digest=args.oaep or ("sha256" if args.protocol == "3.11" else "sha1"),
        protocol=args.protocol,
        scitoken=_read_text(args.scitoken, "SciToken file").strip() if args.scitoken else None,
        scitoken_id=credential_id(str(Path(args.scitoken).resolve())) if args.scitoken else None,
    )


def report_answers(advertiser: Advertiser, since: float) -> bool:
    """Log whether each requested entry served the request; True when all did."""
    found = answers(advertiser.collector, advertiser.spec.client_name, advertiser.requested, since)
    for answer in found:
        log.log(logging.INFO if answer.served else logging.WARNING, "%s", answer.text)
    return all(answer.served for answer in found)


def _cycles(advertiser: Advertiser, stopping: threading.Event, interval: float) -> None:
    """Advertise every `interval` s until `stopping`, and say what the factories answered
    (after `ANSWER_WAIT` s at most); a failed cycle is logged and retried. An answer counts
    when the factory published it since this run started."""
    since = time.time()
    while not stopping.is_set():
        started = time.time()
        try:
            log.info("advertised %d request(s)", advertiser.cycle())
            stopping.wait(min(interval, ANSWER_WAIT))
            if not stopping.is_set():
                report_answers(advertiser, since)
        except (PoolError, SimError) as exc:
            log.error("cycle failed: %s", exc)
        stopping.wait(max(interval - (time.time() - started), 0))
    advertiser.stop()
    log.info("stopped; ads invalidated")


def _loop(advertiser: Advertiser, interval: float) -> None:
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    _cycles(advertiser, stopping, interval)


def command_spec(args: argparse.Namespace) -> RequestSpec | None:
    """The request (or, for `stop`, just the client) the command is about; None for `list`."""
    if args.command == "request":
        return build_spec(args)
    if args.command == "stop":
        frontend, group = _safe(args.frontend, "--frontend"), _safe(args.group, "--group")
        return RequestSpec(identity="", frontend=frontend, group=group)
    return None


def run(args: argparse.Namespace, spec: RequestSpec | None, collector: Collector) -> None:
    """Carry out one parsed command against `collector`."""
    if spec is None:
        sys.stdout.write(list_factories(collector, args.json, args.factory_identity))
        return
    pool = getattr(collector, "address", None) or args.pool or os.environ.get("GWMS_POOL", "")
    # Glideins' workers report to the frontend's pool: by default, this one.
    default_params = {"GLIDEIN_Collector": pool, "GLIDECLIENT_ReqNode": pool} if pool else {}
    advertiser = Advertiser(
        collector, spec, getattr(args, "entry", []), default_params, args.factory_identity
    )
    if args.command == "stop":
        advertiser.stop()
        print(f"invalidated the ads of {spec.client_name}")
    elif args.once:
        started = time.time()
        print(f"advertised {advertiser.cycle()} request(s) for {spec.client_name}")
        if args.wait > 0 and not _wait_served(advertiser, started, args.wait):
            raise SimError("not every request was served (see above)")
    else:
        _loop(advertiser, args.interval)


def _wait_served(advertiser: Advertiser, since: float, wait: float) -> bool:
    """Poll the answers until every request is served or `wait` s passed; print them."""
    deadline = time.monotonic() + wait
    while True:
        found = answers(
            advertiser.collector, advertiser.spec.client_name, advertiser.requested, since
        )
        if all(a.served for a in found) or time.monotonic() >= deadline:
            for answer in found:
                print(answer.text)
            return all(a.served for a in found)
        time.sleep(1.0)


@cli.command("gwms-frontend-sim")
def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s gwms-frontend-sim %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    try:
        spec = command_spec(args)
        run(args, spec, open_collector(args))
    except (SimError, PoolError) as exc:
        print(f"gwms-frontend-sim: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
