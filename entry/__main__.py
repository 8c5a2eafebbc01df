"""`python -m glideinwms_factory.entry --root WORK --entry NAME [--entry NAME ...]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from glideinwms_factory.lib.descript import DescriptError


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
