"""`python -m glideinwms_factory.entry --root WORK --entry NAME [--entry NAME ...]`.

Exactly one process serves an entry: each holds WORK/lock/entry_NAME.lock for its life,
and a new daemon waits for the previous holder (say, an orphan of a killed factory that
is finishing its iteration) to exit, unless its own parent goes away meanwhile.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from glideinwms_factory.lib import pidlock
from glideinwms_factory.lib.descript import DescriptError


def entry_lock(root: Path, entry: str) -> Path:
    """The lock that the one daemon serving `entry` holds."""
    return root / "lock" / f"entry_{entry}.lock"


def _take_entry_locks(root: Path, entries: list[str], wait: bool) -> list[int] | None:
    parent = os.getppid()

    def waiting(path: Path) -> None:
        pid = pidlock.read_pid(path)
        what = "waiting for" if wait else "refused: served by"
        print(f"entry: {what} another daemon (pid {pid}) ({path.name})", file=sys.stderr)

    return pidlock.wait_for_locks(
        [entry_lock(root, e) for e in entries],
        lambda: wait and os.getppid() == parent,
        waiting,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m glideinwms_factory.entry",
        description="Run the entry daemon for one entry or a group of entries of a factory tree.",
    )
    parser.add_argument("--root", type=Path, required=True, help="the factory's work dir")
    parser.add_argument("--entry", action="append", required=True, help="entry to serve")
    parser.add_argument("--group", help="group name for logs and heartbeat")
    parser.add_argument("--once", action="store_true", help="one iteration, then exit")
    args = parser.parse_args(argv)

    if _take_entry_locks(args.root, args.entry, wait=not args.once) is None:
        return 1
    from glideinwms_factory.entry.daemon import EntryGroupDaemon
    from glideinwms_factory.entry.limits import LimitsError
    from glideinwms_factory.lib.pool import PoolError

    try:
        daemon = EntryGroupDaemon(args.root, args.entry, args.group)
    except (DescriptError, LimitsError, OSError) as err:
        print(f"entry: bad configuration: {err}", file=sys.stderr)
        return 6
    if args.once:
        try:
            daemon.iteration()
        except PoolError as err:
            print(f"entry: {err}", file=sys.stderr)
            return 1
        return 0
    return daemon.run()


if __name__ == "__main__":
    sys.exit(main())
