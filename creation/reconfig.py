"""`reconfig_glidein CONFIG [--root DIR] [--force] [--force-delete]`: validate, then
atomically update the tree.

`reconfig_tree` is the same as a function, for factory_startup's `reconfig` command.
"""

from __future__ import annotations

import sys
from pathlib import Path

from glideinwms_factory.creation.commands import build_tree, run
from glideinwms_factory.creation.install import CreateKeyHook, Summary
from glideinwms_factory.lib import cli


def reconfig_tree(
    config: str | Path,
    root: str | Path | None = None,
    *,
    force: bool = False,
    force_delete: bool = False,
    web_base: str | Path | None = None,
    create_key: CreateKeyHook | None = None,
) -> Summary:
    """Validate `config` and swap in the regenerated tree; raises ConfigInvalid (-> exit 6),
    StagingError or TreeError, leaving the old tree untouched in every case."""
    return build_tree(
        config,
        root,
        reconfig=True,
        force=force,
        force_delete=force_delete,
        web_base=web_base,
        create_key=create_key,
    )


@cli.command("reconfig_glidein")
def main(argv: list[str]) -> int:
    return run(argv, reconfig=True)


if __name__ == "__main__":
    sys.exit(main())
