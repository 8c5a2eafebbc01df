"""Pruning what an entry's glideins leave behind (spec/operations.md §6): `job.*.out/.err`
and the Condor-G `condor_activity_*` logs in the client log dirs, and the entry's
`completed_jobs_*` summaries. Each kind has its `log_retention` (glidein.descript
`{JobLog,CondorLog,SummaryLog}Retention{MaxDays,MinDays,MaxMBs}`): a file goes once older than
`max_days`, or, oldest first, while the kind holds more than `max_mbytes` and the file is
older than `min_days`. A kind without retention values in glidein.descript is kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DAY = 86400.0


@dataclass(frozen=True)
class Retention:
    max_days: float
    min_days: float
    max_mbytes: float

    @classmethod
    def from_descript(cls, glidein: Mapping[str, str], kind: str) -> Retention | None:
        """`kind` (JobLog, CondorLog, SummaryLog) from glidein.descript; None if not there
        or not numbers."""
        try:
            return cls(
                *(
                    float(glidein[f"{kind}Retention{key}"])
                    for key in ("MaxDays", "MinDays", "MaxMBs")
                )
            )
        except (KeyError, ValueError):
            return None


@dataclass(frozen=True)
class LogFile:
    path: Path
    mtime: float
    size: int


def expired(files: Sequence[LogFile], keep: Retention, now: float) -> list[Path]:
    """The files `keep` lets go, pure: too old, then oldest first while over the size."""
    gone = [f for f in files if now - f.mtime > keep.max_days * DAY]
    left = sorted((f for f in files if f not in gone), key=lambda f: f.mtime)
    total = sum(f.size for f in left)
    for f in left:
        if total <= keep.max_mbytes * 1024 * 1024 or now - f.mtime <= keep.min_days * DAY:
            break
        gone.append(f)
        total -= f.size
    return [f.path for f in gone]


def _files(directory: Path, patterns: Sequence[str]) -> list[LogFile]:
    found = []
    for pattern in patterns:
        for path in directory.glob(pattern):
            try:
                stat = path.stat()
            except OSError:
                continue  # gone meanwhile
            found.append(LogFile(path, stat.st_mtime, stat.st_size))
    return found


def prune_entry_logs(
    glidein: Mapping[str, str],
    client_log_dir: Path,
    entry_log_dir: Path,
    glidein_name: str,
    entry: str,
    now: float,
) -> int:
    """Remove the expired files of one entry; the number removed."""
    client = f"user_*/glidein_{glidein_name}/entry_{entry}/"
    kinds = (
        ("JobLog", client_log_dir, (client + "job.*.out", client + "job.*.err")),
        ("CondorLog", client_log_dir, (client + "condor_activity_*",)),
        ("SummaryLog", entry_log_dir, ("completed_jobs_*",)),
    )
    removed = 0
    for kind, directory, patterns in kinds:
        keep = Retention.from_descript(glidein, kind)
        if keep is None:
            continue
        for path in expired(_files(directory, patterns), keep, now):
            path.unlink(missing_ok=True)
            removed += 1
    return removed
