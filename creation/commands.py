"""The shared command line of `create_glidein` and `reconfig_glidein`.

Exit codes follow factory_startup (spec/operations.md §1): 0 done, 6 bad config (nothing
changed), 1 the tree could not be written or updated (nothing changed either).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from glideinwms_factory.creation.config import ConfigInvalid, load_config
from glideinwms_factory.creation.install import CreateKeyHook, Summary, TreeError, install
from glideinwms_factory.creation.staging import StagingError
from glideinwms_factory.creation.xmlcheck import Issue

EXIT_OK, EXIT_FAILED, EXIT_BAD_CONFIG = 0, 1, 6


def default_web_base() -> Path:
    """The `web_base/` scripts shipped with the package."""
    from glideinwms_factory import web_base

    return Path(web_base.__file__).parent


def build_tree(
    config: str | Path,
    root: str | Path | None = None,
    *,
    reconfig: bool,
    force: bool = False,
    force_delete: bool = False,
    web_base: str | Path | None = None,
    create_key: CreateKeyHook | None = None,
) -> Summary:
    """Validate `config`, then create or reconfigure its tree.

    Raises ConfigInvalid (every error, file:line), StagingError or TreeError; in each
    case the existing tree is left as it was.
    """
    cfg = load_config(config, root)
    source = Path(web_base) if web_base is not None else default_web_base()
    summary = install(
        cfg,
        source,
        reconfig=reconfig,
        force=force,
        force_delete=force_delete,
        create_key=create_key,
    )
    summary.notes[:0] = [warning_line(w) for w in cfg.warnings]
    return summary


def warning_line(issue: Issue) -> str:
    """A warning about an accepted config, one line: `file:line: warning: message`."""
    return f"{issue.file}:{issue.line}: warning: {issue.message}"


def run(argv: Sequence[str] | None, *, reconfig: bool) -> int:
    name = "reconfig_glidein" if reconfig else "create_glidein"
    parser = argparse.ArgumentParser(
        prog=name,
        description=("Validate a master config and " + ("safely update" if reconfig else "build"))
        + " the factory tree; prints the tree's root dir.",
    )
    parser.add_argument(
        "config", help="master config (glideinWMS.xml, or .yaml); config.d/ beside it is merged"
    )
    parser.add_argument("--root", help="relocate every directory the config names under this dir")
    parser.add_argument(
        "--web-base", help="directory of the glidein scripts to stage (default: the package's)"
    )
    if reconfig:
        parser.add_argument(
            "--force", action="store_true", help="overwrite generated files edited by hand"
        )
        parser.add_argument(
            "--force-delete",
            "-force_delete",
            action="store_true",
            help="remove entries the config no longer has (refused without it)",
        )
    args = parser.parse_args(argv)
    try:
        summary = build_tree(
            args.config,
            args.root,
            reconfig=reconfig,
            force=getattr(args, "force", False),
            force_delete=getattr(args, "force_delete", False),
            web_base=args.web_base,
        )
    except ConfigInvalid as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        print(f"{name}: {len(exc.issues)} error(s); nothing was changed", file=sys.stderr)
        return EXIT_BAD_CONFIG
    except (StagingError, TreeError, OSError) as exc:
        print(f"{name}: {exc}; nothing was changed", file=sys.stderr)
        return EXIT_FAILED
    if reconfig:
        for line in summary.lines():
            print(line, file=sys.stderr)
    else:
        for line in summary.notes:
            print(line, file=sys.stderr)
    print(summary.work_dir)
    return EXIT_OK
