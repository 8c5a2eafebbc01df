"""Print what a glidein sent back (parsed by `lib/glidein_output`).

`cat_MasterLog`, `cat_StartdLog`, `cat_StarterLog [-slot N]`,
`cat_StartdHistoryLog` (each `[-monitor] <err file>`) print one log decoded;
`glidein_summary <out file>...` says what ran, what failed and how long it took.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from glideinwms_factory.lib import cli
from glideinwms_factory.lib.glidein_output import LogError, OutSummary, extract_log, summarize_out


def _log_command(base: str, with_slot: bool) -> Callable[..., int]:
    @cli.command(f"cat_{base}")
    def command(argv: list[str]) -> int:
        parser = argparse.ArgumentParser(
            prog=f"cat_{base}", description=f"print the {base} of a glidein"
        )
        parser.add_argument("-monitor", action="store_true", help="the monitoring slot's log")
        if with_slot:
            parser.add_argument("-slot", help="slot name or number, e.g. 1 or slot1")
        parser.add_argument("err_file", type=Path)
        options = parser.parse_args(argv)
        name = base
        if with_slot and options.slot:
            slot = options.slot if options.slot.startswith("slot") else f"slot{options.slot}"
            name += f".{slot}"
        if options.monitor:
            name += ".monitor"
        try:
            sys.stdout.buffer.write(extract_log(options.err_file.read_text(errors="replace"), name))
        except (LogError, OSError) as exc:
            print(f"cat_{base}: {options.err_file}: {exc}", file=sys.stderr)
            return 1
        return 0

    return command


cat_master_log = _log_command("MasterLog", False)
cat_startd_log = _log_command("StartdLog", False)
cat_starter_log = _log_command("StarterLog", True)
cat_startd_history_log = _log_command("StartdHistoryLog", False)


def format_summary(name: str, s: OutSummary) -> str:
    lines = [f"{name}:"]
    if s.exit_code is None:
        lines.append("  no 'Glidein ending' line: the glidein was killed or the file is truncated")
    else:
        outcome = "succeeded" if s.exit_code == 0 else f"FAILED (code {s.exit_code})"
        lines.append(f"  {outcome} after {s.duration} s")
    for script, passed in s.scripts:
        lines.append(f"  {'ok    ' if passed else 'FAILED'} {script}")
    if s.validated_after is not None:
        lines.append(f"  validation took {s.validated_after} s")
    if s.worker_ran_for is not None:
        lines.append(f"  worker ran for {s.worker_ran_for} s")
    if s.failed_test:
        kind = f" ({s.failure_type})" if s.failure_type else ""
        lines.append(f"  failed in {s.failed_test}{kind}: {s.failure_detail or 'no detail'}")
    return "\n".join(lines)


@cli.command("glidein_summary")
def glidein_summary(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="glidein_summary", description="summarise glidein .out files"
    )
    parser.add_argument("out_files", type=Path, nargs="+")
    options = parser.parse_args(argv)
    status = 0
    for path in options.out_files:
        try:
            text = path.read_text(errors="replace")
        except OSError as exc:
            print(f"glidein_summary: {path}: {exc.strerror}", file=sys.stderr)
            status = 1
            continue
        print(format_summary(str(path), summarize_out(text)))
    return status
