"""`factory_startup reconfig [CONFIG] [yes|no] [-force_delete] [-comment TEXT] [-fix_rrd]`:
validate the config, stop a running factory, swap in the regenerated tree, restart it.

Nothing changes on a bad config, nor when the config would remove entries of the running
tree without `-force_delete`. `-fix_rrd` adds missing data sources to the monitoring RRDs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from glideinwms_factory.lib import pidlock
from glideinwms_factory.lib.factory_config import load_factory
from glideinwms_factory.startup import (
    EXIT_FAIL,
    EXIT_NOT_CONFIGURED,
    EXIT_OK,
    UsageError,
    factory_state,
    start,
    stop,
)


def relocation_root(work: Path, configured_work: Path) -> Path | None:
    """The `--root` a tree was created with: what prefixes the configured work dir."""
    work, configured = work.resolve(), Path(configured_work)
    if work == configured:
        return None
    text, tail = str(work), str(configured)
    if configured.is_absolute() and text.endswith(tail):
        return Path(text[: -len(tail)] or "/")
    raise UsageError(f"the config's work dir {configured} is not this tree's ({work})")


@dataclass(frozen=True)
class ReconfigArgs:
    """`reconfig [CONFIG] [yes|no] [update_default_cfg] [-force_delete] [-comment TEXT]
    [-fix_rrd]` (the `--dashed-form` of each flag too)."""

    config: Path | None = None
    force_delete: bool = False
    fix_rrd: bool = False
    comment: str = ""


def reconfig_args(args: Sequence[str]) -> ReconfigArgs:
    config: Path | None = None
    flags: dict[str, bool] = {"force_delete": False, "fix_rrd": False}
    comment = ""
    words = list(args)
    while words:
        word = words.pop(0)
        name = word.lstrip("-").replace("-", "_")
        if word in ("yes", "no", "update_default_cfg"):
            continue  # upstream's RPM-upgrade words: nothing to do here
        if word.startswith("-") and name in flags:
            flags[name] = True
        elif word.startswith("-") and name == "comment":
            if not words:
                raise UsageError("-comment needs a text")
            comment = words.pop(0)
        elif word.startswith("-") or config is not None:
            raise UsageError(f"unexpected argument {word!r}")
        else:
            config = Path(word)
    return ReconfigArgs(config, flags["force_delete"], flags["fix_rrd"], comment)


def _record_reconfig(log_dir: Path, config: Path, comment: str, now: datetime) -> None:
    """One line per successful reconfig, with the operator's -comment, in the factory log
    dir (what changed and why stays findable after the terminal is gone)."""
    history = log_dir / "factory" / "reconfig.log"
    history.parent.mkdir(parents=True, exist_ok=True)
    with history.open("a") as handle:
        handle.write(f"{now.isoformat(timespec='seconds')} {config} # {comment}\n")


def reconfig(work: Path, args: Sequence[str]) -> int:
    from glideinwms_factory.creation.config import ConfigInvalid, load_config
    from glideinwms_factory.creation.install import TreeError
    from glideinwms_factory.creation.reconfig import reconfig_tree
    from glideinwms_factory.creation.staging import StagingError
    from glideinwms_factory.lib.monitoring_rrd import fix_rrds
    from glideinwms_factory.lib.rrd import RRDError, RRDTool

    opts = reconfig_args(args)
    config = opts.config or work / "glideinWMS.xml"
    try:
        root = relocation_root(work, load_config(config, None).dirs.work)
    except ConfigInvalid as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        print(f"reconfig: {len(exc.issues)} error(s); nothing was changed", file=sys.stderr)
        return EXIT_NOT_CONFIGURED
    was_running = factory_state(work) is pidlock.State.RUNNING
    if was_running and stop(work, keep_glideins=True) != EXIT_OK:
        return EXIT_FAIL
    code = EXIT_OK
    try:
        summary = reconfig_tree(
            config,
            root,
            force_delete=opts.force_delete,
            create_key=_create_key,
        )
        for line in summary.lines():
            print(line)
        factory = load_factory(work)
        if opts.fix_rrd:
            for line in fix_rrds(RRDTool(), factory.monitor_dir):
                print(f"fix_rrd: {line}")
        _record_reconfig(factory.log_dir, config, opts.comment, datetime.now().astimezone())
    except ConfigInvalid as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        print(f"reconfig: {len(exc.issues)} error(s); nothing was changed", file=sys.stderr)
        code = EXIT_NOT_CONFIGURED
    except (StagingError, TreeError, OSError) as exc:
        print(f"reconfig: {exc}; nothing was changed", file=sys.stderr)
        code = EXIT_NOT_CONFIGURED
    except RRDError as exc:
        print(f"reconfig: done, but -fix_rrd failed: {exc}", file=sys.stderr)
        code = EXIT_FAIL
    if was_running and start(work) != EXIT_OK:
        return EXIT_FAIL
    return code


def _create_key(work: Path, bits: int) -> None:
    """The reconfig hook: the factory's key pair in the work directory."""
    from glideinwms_factory.lib.factory_key import ensure_key

    ensure_key(Path(work) / "rsa.key", bits)
