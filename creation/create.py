"""`create_glidein CONFIG [--root DIR]`: build a new factory tree from the master config."""

from __future__ import annotations

import sys

from glideinwms_factory.creation.commands import run
from glideinwms_factory.lib import cli


@cli.command("create_glidein")
def main(argv: list[str]) -> int:
    return run(argv, reconfig=False)


if __name__ == "__main__":
    sys.exit(main())
