"""Read what a glidein sent back: worker logs out of its `.err`, a summary of its `.out`.

A glidein appends each worker log to stderr as a block (spec/glidein_startup.md §6):
`<LogName>`, `======== gzip | uuencode =============`, `begin-base64 644 -`, base64 of the
gzipped log, `====`. `cat_MasterLog`, `cat_StartdLog`, `cat_StarterLog [-slot N]`,
`cat_StartdHistoryLog` (each `[-monitor] <err file>`) print one log decoded;
`glidein_summary <out file>...` says what ran, what failed and how long it took.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import gzip
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

_BLOCK = re.compile(
    r"^(?P<name>[^\n]+)\n======== gzip \| uuencode =============\n"
    r"begin-base64 644 -\n(?P<data>[A-Za-z0-9+/=\n]*?)^====$",
    re.MULTILINE,
)


class LogError(Exception):
    """The file does not carry the asked-for log; the message says why in one line."""


def log_blocks(err_text: str) -> dict[str, str]:
    """Every encoded log block of a `.err`, by log name (the last one wins)."""
    return {m["name"].strip(): m["data"] for m in _BLOCK.finditer(err_text)}


def extract_log(err_text: str, log_name: str) -> bytes:
    """The decoded content of one log of a glidein's `.err`."""
    blocks = log_blocks(err_text)
    if log_name not in blocks:
        found = ", ".join(sorted(blocks)) or "none"
        raise LogError(f"no {log_name} in this file (logs found: {found})")
    try:
        return gzip.decompress(base64.b64decode(blocks[log_name]))
    except (binascii.Error, OSError, EOFError) as exc:
        raise LogError(f"the {log_name} block is corrupt: {exc}") from exc


def _log_command(base: str, with_slot: bool) -> Callable[[list[str] | None], int]:
    def command(argv: list[str] | None = None) -> int:
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


@dataclass
class OutSummary:
    """What a glidein's `.out` says about its life."""

    started: int | None = None
    validated_after: int | None = None
    worker_ran_for: int | None = None
    exit_code: int | None = None
    duration: int | None = None
    scripts: list[tuple[str, bool]] = field(default_factory=list)
    failed_test: str | None = None
    failure_detail: str | None = None


_START = re.compile(r"^=== Glidein starting .*\((\d+)\) ===$", re.MULTILINE)
_EXEC = re.compile(r"^=== (Executing|(\S+) passed) ?(\S*) ===$", re.MULTILINE)
_LAST = re.compile(r"^=== Last script starting .* after validating for (\d+) ===$", re.MULTILINE)
_CONDOR_END = re.compile(r"^=== Condor ended .* after (\d+) ===$", re.MULTILINE)
_END = re.compile(r"^=== Glidein ending .* with code (\d+) after (\d+) ===$", re.MULTILINE)
_TEST_ID = re.compile(r'<metric name="TestID"[^>]*>([^<]*)</metric>')
_DETAIL = re.compile(r"<detail>([^<]*)</detail>")


def _int(match: re.Match[str] | None, group: int = 1) -> int | None:
    return int(match.group(group)) if match else None


def summarize_out(text: str) -> OutSummary:
    """Pure parse of a `.out` (spec §6 markers and the XML description)."""
    summary = OutSummary(
        started=_int(_START.search(text)),
        validated_after=_int(_LAST.search(text)),
        worker_ran_for=_int(_CONDOR_END.search(text)),
    )
    end = _END.search(text)
    if end:
        summary.exit_code, summary.duration = int(end.group(1)), int(end.group(2))
    for match in _EXEC.finditer(text):
        if match.group(1) == "Executing":
            summary.scripts.append((match.group(3), False))
        elif summary.scripts and summary.scripts[-1][0] == match.group(2):
            summary.scripts[-1] = (match.group(2), True)
    xml = text.partition("=== XML description of glidein activity ===")[2]
    test_id, detail = _TEST_ID.search(xml), _DETAIL.search(xml)
    summary.failed_test = test_id.group(1) if test_id else None
    summary.failure_detail = detail.group(1) if detail else None
    return summary


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
        lines.append(f"  failed in {s.failed_test}: {s.failure_detail or 'no detail'}")
    return "\n".join(lines)


def glidein_summary(argv: list[str] | None = None) -> int:
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
