"""Parse what a glidein sent back: worker logs out of its `.err`, a summary of its `.out`.

Pure text parsing shared by the entry daemon (completed-glidein stats) and the
`cat_*`/`glidein_summary` tools. A glidein appends each worker log to stderr as a block
(spec/glidein_startup.md §6): `<LogName>`, `======== gzip | uuencode =============`,
`begin-base64 644 -`, base64 of the gzipped log, `====`.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import re
from dataclasses import dataclass, field

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
    failure_type: str | None = None  # the failing script's own (WN_Resource, VO_Config, ...)
    failure_detail: str | None = None
    # Job statistics of the Stats blocks: kind (Total, goodZ, goodNZ, badSignal, badOther)
    # -> (jobs, seconds), summed over the slots; and the claims count after them.
    jobs: dict[str, tuple[int, int]] = field(default_factory=dict)
    claims: int | None = None


_START = re.compile(r"^=== Glidein starting .*\((\d+)\) ===$", re.MULTILINE)
_EXEC = re.compile(r"^=== (Executing|(\S+) passed) ?(\S*) ===$", re.MULTILINE)
_LAST = re.compile(r"^=== Last script starting .* after validating for (\d+) ===$", re.MULTILINE)
_CONDOR_END = re.compile(r"^=== Condor ended .* after (\d+) ===$", re.MULTILINE)
_END = re.compile(r"^=== Glidein ending .* with code (\d+) after (\d+) ===$", re.MULTILINE)
_STATS = re.compile(
    r"^=== Stats of (\S+) ===$(.*?)^=== End Stats of \1 ===$", re.MULTILINE | re.DOTALL
)
# "(Real) Total jobs 3 utilization 120", "(Normalized) Total goodZ jobs 2  (66%) utilization
# 80 (40%)", upstream's older "Total goodZ jobs 2 utilization 80": a kind's first line counts.
_STATS_LINE = re.compile(
    r"^(?:\((?:Real|Normalized)\) )?Total (?:(goodZ|goodNZ|badSignal|badOther) )?jobs (\d+)\b"
    r".*?utilization (\d+)",
    re.MULTILINE,
)
_CLAIMS = re.compile(r"^Total number of activations/claims: (\d+)$", re.MULTILINE)
_TEST_ID = re.compile(r'<metric name="TestID"[^>]*>([^<]*)</metric>')
_FAILURE = re.compile(r'<metric name="failure"[^>]*>([^<]*)</metric>')
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
    for block in _STATS.finditer(text):
        if block.group(1).endswith("1"):
            continue  # an old monitoring slot (vm1, slot1 of a monitor), not user jobs
        seen: set[str] = set()
        for line in _STATS_LINE.finditer(block.group(2)):
            kind = line.group(1) or "Total"
            if kind not in seen:
                seen.add(kind)
                jobs, seconds = summary.jobs.get(kind, (0, 0))
                summary.jobs[kind] = (jobs + int(line.group(2)), seconds + int(line.group(3)))
    claims = _CLAIMS.search(text)
    summary.claims = int(claims.group(1)) if claims else None
    xml = text.partition("=== XML description of glidein activity ===")[2]
    test_id, detail = _TEST_ID.search(xml), _DETAIL.search(xml)
    summary.failed_test = test_id.group(1) if test_id else None
    failure = _FAILURE.search(xml)
    summary.failure_type = failure.group(1) if failure else None
    summary.failure_detail = detail.group(1) if detail else None
    return summary
