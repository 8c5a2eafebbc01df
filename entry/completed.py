"""Spot glideins that completed since the last iteration and describe them for the stats.

A glidein has completed when its Condor-G activity log (the user log of its cluster,
`condor_activity_<date>_<client>.log` in the client log dir, spec/operations.md §6) says it
terminated or was aborted (removed, also after a hold): a real schedd drops a finished grid job
from the queue at once, so the queue cannot say it. The logs are read with HTCondor's own
`htcondor2.JobEventLog`, following each file from where the last iteration stopped; the
glidein's `.out` next to it says what it did. Each glidein is reported once: the ids already
reported are kept per log file (and saved, so a restart that reads the logs again does not
report them again) for as long as the log file exists.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import htcondor2

from glideinwms_factory.lib.atomicfile import atomic_write
from glideinwms_factory.lib.glidein_output import summarize_out
from glideinwms_factory.lib.monitoring_model import CompletedGlidein, client_key

_ENDS = (htcondor2.JobEventType.JOB_TERMINATED, htcondor2.JobEventType.JOB_ABORTED)
_LOG_PREFIX = "condor_activity_"


class CompletedTracker:
    """The completed glideins of one entry, from its activity logs under `client_log_dir`."""

    # Learnt from the queue while a glidein waits or runs: which Frontend a client name is.
    PROJECTION = ("GlideinClient", "GlideinFrontendName")

    def __init__(self, path: Path, client_log_dir: Path, glidein_name: str, entry: str) -> None:
        self.path = path
        self.pattern = f"user_*/glidein_{glidein_name}/entry_{entry}/{_LOG_PREFIX}*.log"
        self.client_log_dir = client_log_dir
        self._readers: dict[str, htcondor2.JobEventLog] = {}
        # log -> job id -> when its glidein began to run
        self._started: dict[str, dict[str, float]] = {}
        # A state saved by the queue-based tracker (a list of ids): what the logs hold now was
        # reported by it, so the first reading only takes note.
        self._baseline = False
        self._written: str | None = None  # the state file's text as this tracker wrote it
        try:
            saved = json.loads(path.read_text())
            self._baseline = isinstance(saved, list)
            self.reported: dict[str, set[str]] = {k: set(v) for k, v in saved["reported"].items()}
            self.frontends: dict[str, str] = dict(saved["frontends"])
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            self.reported, self.frontends = {}, {}

    def new_completions(self, rows: Iterable[Mapping[str, Any]]) -> list[CompletedGlidein]:
        for row in rows:
            client, frontend = row.get("GlideinClient"), row.get("GlideinFrontendName")
            if isinstance(client, str) and isinstance(frontend, str):
                self.frontends[client] = frontend
        fresh: list[CompletedGlidein] = []
        logs = sorted(self.client_log_dir.glob(self.pattern))
        for log in logs:
            fresh += self._read(log)
        known = {str(log) for log in logs}
        self.reported = {k: v for k, v in self.reported.items() if k in known}
        self._started = {k: v for k, v in self._started.items() if k in known}
        for gone in set(self._readers) - known:
            self._readers.pop(gone).close()
        state = {"reported": {k: sorted(v) for k, v in self.reported.items()},
                 "frontends": self.frontends}  # fmt: skip
        text = json.dumps(state, sort_keys=True)
        if text != self._written:  # most cycles change nothing: no write, no fsync
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, text)
            self._written = text
        baseline, self._baseline = self._baseline, False
        return [] if baseline else fresh

    def _read(self, log: Path) -> list[CompletedGlidein]:
        """The glideins of `log` that ended since it was last read."""
        key = str(log)
        try:
            reader = self._readers.get(key) or htcondor2.JobEventLog(key)
            self._readers[key] = reader
            events = list(reader.events(stop_after=0))
        except (OSError, htcondor2.HTCondorException) as exc:
            logging.getLogger(__name__).warning("cannot read %s: %s", log, exc)
            return []
        done = self.reported.setdefault(key, set())
        started = self._started.setdefault(key, {})
        username = log.parent.parent.parent.name.removeprefix("user_")
        client = log.stem.removeprefix(_LOG_PREFIX).partition("_")[2]
        found = []
        for event in events:
            job_id = f"{event.cluster}.{event.proc}"
            if event.type == htcondor2.JobEventType.EXECUTE:
                started[job_id] = float(event.timestamp)
            elif event.type in _ENDS and job_id not in done:
                done.add(job_id)
                row = {
                    "CompletionDate": event.timestamp,
                    "JobStartDate": started.pop(job_id, event.timestamp),
                    "Out": str(log.parent / f"job.{job_id}.out"),
                    "GlideinFrontendName": self.frontends.get(client, client),
                    "fename": username,
                }
                found.append(describe(job_id, row))
        return found


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
