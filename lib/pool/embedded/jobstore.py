"""The durable job queue: SQLite in WAL mode with synchronous=FULL.

A change is acknowledged only after its transaction commits, so `kill -9` of the
schedd loses nothing that a caller saw succeed. A cluster row holds the cluster's spec
template once (per-proc macros still open); a job row holds only the job's state; a
meta row holds the next cluster id so ids are never reused after a purge.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from glideinwms_factory.lib.pool import JobStatus
from glideinwms_factory.lib.pool.embedded.jobrecord import JobRecord
from glideinwms_factory.lib.pool.embedded.submit_expand import JobSpec, ParsedDescription

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clusters (cluster INTEGER PRIMARY KEY, spec TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    cluster INTEGER NOT NULL,
    proc INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (cluster, proc)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('next_cluster', 1);
"""


class JobStore:
    """Not thread-safe by itself: the schedd core serializes calls under its lock."""

    def __init__(self, path: pathlib.Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def load(self) -> Iterator[JobRecord]:
        clusters = {
            cluster: ParsedDescription.of(_spec_from_json(text))
            for cluster, text in self._db.execute("SELECT cluster, spec FROM clusters")
        }
        rows = self._db.execute("SELECT cluster, proc, data FROM jobs ORDER BY cluster, proc")
        for cluster, proc, data in rows:
            spec = clusters[cluster].spec(cluster, proc)
            yield _record_from_json(cluster, proc, spec, data)

    def next_cluster(self) -> int:
        (value,) = self._db.execute("SELECT value FROM meta WHERE key='next_cluster'").fetchone()
        return int(value)

    def add_cluster(self, cluster: int, template: JobSpec, jobs: Iterable[JobRecord]) -> None:
        """Insert a new cluster and its jobs and advance the cluster counter, atomically."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO clusters (cluster, spec) VALUES (?, ?)",
                (cluster, _spec_to_json(template)),
            )
            self._db.executemany(
                "INSERT INTO jobs (cluster, proc, data) VALUES (?, ?, ?)",
                ((job.cluster, job.proc, _state_to_json(job)) for job in jobs),
            )
            self._db.execute(
                "UPDATE meta SET value=? WHERE key='next_cluster' AND value<=?",
                (cluster + 1, cluster),
            )

    def save(self, jobs: Iterable[JobRecord]) -> None:
        """Persist the new state of existing jobs in one transaction."""
        rows = [(_state_to_json(job), job.cluster, job.proc) for job in jobs]
        if rows:
            with self._transaction():
                self._db.executemany("UPDATE jobs SET data=? WHERE cluster=? AND proc=?", rows)

    def delete(self, jobs: Iterable[JobRecord]) -> None:
        rows = [(job.cluster, job.proc) for job in jobs]
        if rows:
            with self._transaction():
                self._db.executemany("DELETE FROM jobs WHERE cluster=? AND proc=?", rows)
                self._db.executemany(
                    "DELETE FROM clusters WHERE cluster=?"
                    " AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.cluster=clusters.cluster)",
                    {(cluster,) for cluster, _ in rows},
                )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK if the body raised."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")


_STATE_FIELDS = tuple(
    f.name for f in dataclasses.fields(JobRecord) if f.name not in ("cluster", "proc", "spec")
)


def _state_to_json(job: JobRecord) -> str:
    return json.dumps({name: getattr(job, name) for name in _STATE_FIELDS}, separators=(",", ":"))


def _record_from_json(cluster: int, proc: int, spec: JobSpec, text: str) -> JobRecord:
    data: dict[str, Any] = json.loads(text)
    data["status"] = JobStatus(data["status"])
    return JobRecord(cluster=cluster, proc=proc, spec=spec, **data)


def _spec_to_json(spec: JobSpec) -> str:
    return json.dumps(dataclasses.asdict(spec), separators=(",", ":"))


def _spec_from_json(text: str) -> JobSpec:
    data: dict[str, Any] = json.loads(text)
    data["args"] = tuple(data["args"])
    data["transfer_input"] = tuple(data["transfer_input"])
    return JobSpec(**data)
