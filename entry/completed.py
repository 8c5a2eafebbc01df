"""Spot glideins that completed since the last iteration and describe them for the stats.

A glidein is reported once: the ids already reported are kept (and saved, so a restart
does not report them again) until the job has left the queue.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from glideinwms_factory.lib.atomicfile import atomic_write
from glideinwms_factory.lib.glidein_output import summarize_out
from glideinwms_factory.lib.monitoring_model import CompletedGlidein, client_key
from glideinwms_factory.lib.pool import JobStatus


class CompletedTracker:
    """Remembers which completed glideins of one entry were already reported."""

    PROJECTION = ("CompletionDate", "JobStartDate", "Out", "Iwd", "fename", "ExitCode")

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.reported: set[str] = set(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            self.reported = set()

    def new_completions(self, rows: Iterable[Mapping[str, Any]]) -> list[CompletedGlidein]:
        done: dict[str, Mapping[str, Any]] = {}
        for row in rows:
            if row.get("JobStatus") == JobStatus.COMPLETED:
                done[f"{row.get('ClusterId')}.{row.get('ProcId')}"] = row
        fresh = [
            describe(job_id, row) for job_id, row in done.items() if job_id not in self.reported
        ]
        if fresh or set(done) != self.reported:
            self.reported = set(done)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, json.dumps(sorted(self.reported)))
        return fresh


def _out_path(row: Mapping[str, Any]) -> Path | None:
    out = row.get("Out")
    if not isinstance(out, str) or not out:
        return None
    path = Path(out)
    if not path.is_absolute() and isinstance(row.get("Iwd"), str):
        path = Path(row["Iwd"]) / path
    return path


def describe(job_id: str, row: Mapping[str, Any]) -> CompletedGlidein:
    """A completed glidein from its job ad and, when readable, its `.out` file."""
    ended = float(row.get("CompletionDate") or 0)
    started = float(row.get("JobStartDate") or ended)
    duration = max(ended - started, 0.0)
    summary = None
    path = _out_path(row)
    if path is not None:
        try:
            summary = summarize_out(path.read_text(errors="replace"))
        except OSError:
            summary = None
    worker = summary.worker_ran_for if summary else None
    validated = summary.validated_after if summary else None
    jobs = summary.jobs if summary else {}
    return CompletedGlidein(
        client=client_key(str(row.get("GlideinFrontendName", ""))),
        username=str(row.get("fename", "")),
        job_id=job_id,
        terminated=ended,
        duration=duration,
        condor_started=worker is not None,
        condor_duration=float(worker or 0),
        validation=float(validated) if validated is not None else None,
        jobs_nr=jobs.get("Total", (0, 0))[0],
        jobs_duration=float(jobs.get("Total", (0, 0))[1]),
        goodput=float(jobs.get("goodZ", (0, 0))[1]),
        jobs_terminated=float(jobs.get("goodZ", (0, 0))[1] + jobs.get("goodNZ", (0, 0))[1]),
    )
