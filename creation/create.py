"""`create_glidein CONFIG [--root DIR]`: build a new factory tree from the master config."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from glideinwms_factory.creation.commands import run


def main(argv: Sequence[str] | None = None) -> int:
    return run(argv, reconfig=False)


if __name__ == "__main__":
    sys.exit(main())
