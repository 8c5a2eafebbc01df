"""The durable job queue: SQLite in WAL mode with synchronous=FULL.

A change is acknowledged only after its transaction commits, so `kill -9` of the
schedd loses nothing that a caller saw succeed. One row per job holds the record's
JSON; a meta row holds the next cluster id so ids are never reused after a purge.
"""

from __future__ import annotations

import os
import pathlib
import sqlite3
from collections.abc import Iterable, Iterator

from glideinwms_factory.lib.pool.embedded.jobrecord import JobRecord

_SCHEMA = """
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
        for (data,) in self._db.execute("SELECT data FROM jobs ORDER BY cluster, proc"):
            yield JobRecord.from_json(data)

    def next_cluster(self) -> int:
        (value,) = self._db.execute("SELECT value FROM meta WHERE key='next_cluster'").fetchone()
        return int(value)

    def add_cluster(self, cluster: int, jobs: Iterable[JobRecord]) -> None:
        """Insert a new cluster's jobs and advance the cluster counter, atomically."""
        with self._transaction():
            self._db.executemany(
                "INSERT INTO jobs (cluster, proc, data) VALUES (?, ?, ?)",
                ((job.cluster, job.proc, job.to_json()) for job in jobs),
            )
            self._db.execute(
                "UPDATE meta SET value=? WHERE key='next_cluster' AND value<=?",
                (cluster + 1, cluster),
            )

    def save(self, jobs: Iterable[JobRecord]) -> None:
        """Persist the new state of existing jobs in one transaction."""
        rows = [(job.to_json(), job.cluster, job.proc) for job in jobs]
        if rows:
            with self._transaction():
                self._db.executemany("UPDATE jobs SET data=? WHERE cluster=? AND proc=?", rows)

    def delete(self, jobs: Iterable[JobRecord]) -> None:
        rows = [(job.cluster, job.proc) for job in jobs]
        if rows:
            with self._transaction():
                self._db.executemany("DELETE FROM jobs WHERE cluster=? AND proc=?", rows)

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
