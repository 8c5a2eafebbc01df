"""`manual_glidein_submit`: submit glideins for one request by hand, as the entry would.

    manual_glidein_submit --entry-name E --client-name FRONTEND.GROUP [--work-dir WORK]
                          [--count N] [--check-only]

The request is the one the client advertises now (found, authenticated and decrypted by
the entry's own code); the glideins are submitted through the pool interface with the
entry's submit description, so they are the glideins the entry would have submitted.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from glideinwms_factory.entry import decision
from glideinwms_factory.entry.config import load_entry
from glideinwms_factory.entry.daemon import staging_lines
from glideinwms_factory.entry.find_work import find_work
from glideinwms_factory.entry.queue_trust import QueueMemory
from glideinwms_factory.entry.requests import Rejection, WorkRequest
from glideinwms_factory.entry.submission import Submitter
from glideinwms_factory.lib import cli, descript
from glideinwms_factory.lib.factory_key import KeyFileError, load_keys
from glideinwms_factory.lib.pool import PoolError
from glideinwms_factory.lib.pool.connect import open_pool
from glideinwms_factory.tools.entry_tools import ToolError, factory_dir


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="manual_glidein_submit", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--work-dir", help="factory work dir ($GLIDEIN_FACTORY_DIR, .)")
    parser.add_argument("--entry-name", required=True)
    parser.add_argument("--client-name", required=True, help="the request's ClientName")
    parser.add_argument("--count", type=int, default=1, help="glideins to submit (1)")
    parser.add_argument(
        "--check-only", action="store_true", help="find the request, submit nothing"
    )
    return parser  # fmt: skip


@cli.command("manual_glidein_submit")
def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        return _submit(args)
    except (ToolError, PoolError, KeyFileError, descript.DescriptError) as exc:
        print(f"manual_glidein_submit: {exc}", file=sys.stderr)
        return 1


def _submit(args: argparse.Namespace) -> int:
    if args.count < 1:
        raise ToolError("--count must be at least 1")
    config = factory_dir(args.work_dir)
    if args.entry_name not in config.entries:
        raise ToolError(f"unknown entry {args.entry_name!r}")
    entry = load_entry(config, args.entry_name)
    keys = load_keys(config.work_dir, config.descript.old_pub_key_grace_time, rotate=False)
    pool = open_pool(config.glidein)
    found = find_work(pool.collector, config, [entry], keys, time.time())[entry.name]
    mine = [r for r in found if r.client_name == args.client_name]
    request = next((r for r in mine if isinstance(r, WorkRequest)), None)
    if request is None:
        reasons = [r.reason for r in mine if isinstance(r, Rejection)]
        clients = sorted({r.client_name for r in found})
        why = "; ".join(reasons) or f"clients found: {', '.join(clients) or 'none'}"
        raise ToolError(f"no usable request of {args.client_name} for entry {entry.name}: {why}")
    print(f"request {request.name}: {request.username} as {request.frontend_name}")
    if args.check_only:
        return 0
    signatures = config.work_dir / "signatures.sha1"
    staging = staging_lines(descript.read_signatures(signatures), entry.name, signatures)
    actions = decision.Actions(
        submit=args.count,
        clusters=decision.split_clusters(args.count, entry.limits.submit_cluster),
    )
    log = logging.getLogger("manual_glidein_submit")
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    submitter = Submitter(config, log)
    prepared = submitter.prepare(entry, staging, request)
    if isinstance(prepared, Rejection):
        raise ToolError(prepared.reason)
    cycle = QueueMemory(cycle_id=f"manual.{int(time.time())}")
    submitter.execute(pool.schedd(entry.schedd), entry, request, actions, prepared, cycle)
    print(f"submitted {args.count} glidein(s) for {request.client_name} on {entry.name}")
    return 0
