"""The embedded Schedd's in-memory queue and its job state transitions.

`ScheddCore` (schedd_core.py) adds the public API, the scheduler thread and recovery on
top; it holds its lock around every call here. Each transition marks the record dirty
and queues its user-log event; `_flush` commits the records first, then writes events.
"""

from __future__ import annotations

import logging
import os
import pathlib
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from glideinwms_factory.lib.pool import JobStatus
from glideinwms_factory.lib.pool.embedded import executor, runas, userlog
from glideinwms_factory.lib.pool.embedded.constraint import AttrIndex
from glideinwms_factory.lib.pool.embedded.jobrecord import JobRecord
from glideinwms_factory.lib.pool.embedded.jobstore import JobStore

Key = tuple[int, int]
TERMINAL = (JobStatus.COMPLETED, JobStatus.REMOVED)


@dataclass(slots=True)
class Dying:
    """A killed process group waiting to disappear (SIGKILL at `kill_at`)."""

    key: Key
    popen: subprocess.Popen[bytes] | None
    kill_at: float
    scratch: str


class JobQueue:
    """Queue state (jobs, idle per site, running, dying) and the moves between states."""

    def __init__(self, state_dir: pathlib.Path, kill_grace: float, log: logging.Logger) -> None:
        self.state_dir = pathlib.Path(state_dir)
        self.kill_grace = kill_grace
        self._log = log
        self._name = f"embedded@{socket.gethostname()}"
        self._job_user = runas.job_user()
        self._execute_dir = self.state_dir / "execute"
        self._store: JobStore | None = None
        self._jobs: dict[Key, JobRecord] = {}
        self._index = AttrIndex()
        self._idle: dict[str, dict[Key, None]] = {}
        self._running: dict[Key, subprocess.Popen[bytes] | None] = {}
        self._site_running: Counter[str] = Counter()
        self._dying: dict[int, Dying] = {}
        self._dirty: dict[Key, JobRecord] = {}
        self._events: list[userlog.Event] = []

    @property
    def execute_dir(self) -> pathlib.Path:
        """Where the jobs' scratch dirs are (known once started)."""
        return self._execute_dir

    def _add(self, job: JobRecord) -> None:
        key = (job.cluster, job.proc)
        self._jobs[key] = job
        self._index.add(key, job.spec.custom)

    def _enqueue(self, job: JobRecord) -> None:
        self._idle.setdefault(job.site, {})[job.cluster, job.proc] = None

    def _set_status(self, job: JobRecord, status: JobStatus, now: float) -> None:
        if job.status is JobStatus.IDLE:
            self._idle.get(job.site, {}).pop((job.cluster, job.proc), None)
        job.status = status
        job.entered = int(now)
        self._touch(job)

    def _touch(self, job: JobRecord) -> None:
        self._dirty[job.cluster, job.proc] = job

    def _stop_process(self, job: JobRecord, now: float) -> None:
        """SIGTERM the job's process group; the scheduler SIGKILLs it after the grace."""
        key = (job.cluster, job.proc)
        if key in self._running:
            popen = self._running.pop(key)
            self._site_running[job.site] -= 1
            executor.signal_group(job.pid, signal.SIGTERM)
            self._dying[job.pid] = Dying(key, popen, now + self.kill_grace, job.scratch)

    def _remove(self, job: JobRecord, now: float, reason: str) -> bool:
        if job.status in TERMINAL:
            return False
        self._stop_process(job, now)
        self._set_status(job, JobStatus.REMOVED, now)
        job.remove_reason = reason
        self._events.append(userlog.aborted(job.spec.user_log, job.cluster, job.proc, now, reason))
        return True

    def _remove_x(self, job: JobRecord) -> bool:
        """condor_rm -forcex: a job already removed (X) leaves the queue now, its process
        group killed outright; any other job is left alone, as HTCondor does."""
        if job.status is not JobStatus.REMOVED:
            return False
        if job.pid:
            executor.signal_group(job.pid, signal.SIGKILL)  # the reaper cleans its scratch
        self._forget([job])
        return True

    def _forget(self, jobs: list[JobRecord]) -> None:
        """Drop `jobs` from the queue and its durable store."""
        self._require_store().delete(jobs)
        for job in jobs:
            key = (job.cluster, job.proc)
            del self._jobs[key]
            self._dirty.pop(key, None)
            self._index.discard(key, job.spec.custom)

    def _hold(
        self, job: JobRecord, now: float, reason: str, code: int, subcode: int, system: bool
    ) -> bool:
        if job.status not in (JobStatus.IDLE, JobStatus.RUNNING):
            return False
        self._stop_process(job, now)
        self._set_status(job, JobStatus.HELD, now)
        job.hold_reason, job.hold_code, job.hold_subcode = reason, code, subcode
        job.num_system_holds += system
        self._events.append(
            userlog.held(job.spec.user_log, job.cluster, job.proc, now, reason, code, subcode)
        )
        return True

    def _release(self, job: JobRecord, now: float, reason: str) -> bool:
        if job.status is not JobStatus.HELD:
            return False
        self._set_status(job, JobStatus.IDLE, now)
        job.hold_reason, job.hold_code, job.hold_subcode = "", 0, 0
        self._enqueue(job)
        self._events.append(userlog.released(job.spec.user_log, job.cluster, job.proc, now, reason))
        return True

    def _launch(self, job: JobRecord, now: float) -> None:
        base = dict(os.environ) if job.spec.getenv else {"PATH": os.environ.get("PATH", "")}
        scratch = self._execute_dir / f"dir_{job.cluster}.{job.proc}.{job.num_starts + 1}"
        executor.clean_scratch(str(scratch))
        launch = executor.Launch(
            cmd=job.spec.cmd,
            args=job.spec.args,
            env=base | job.spec.env,
            iwd=pathlib.Path(job.spec.iwd),
            out=job.spec.out,
            err=job.spec.err,
            scratch=scratch,
            transfer_input=job.spec.transfer_input,
            transfer_executable=job.spec.transfer_executable,
            user=self._job_user,
        )
        try:
            started = executor.start(launch)
        except executor.LaunchError as exc:
            executor.clean_scratch(str(scratch))
            self._hold(job, now, f"Error from {self._name}: {exc}", exc.hold_code, 0, True)
            return
        self._set_status(job, JobStatus.RUNNING, now)
        job.pid, job.pid_ticks, job.scratch = started.pid, started.ticks, str(scratch)
        job.num_starts += 1
        job.current_start = int(now)
        job.start_date = job.start_date or int(now)
        job.exit_code = None
        self._running[job.cluster, job.proc] = started.popen
        self._site_running[job.site] += 1
        self._events.append(userlog.executing(job.spec.user_log, job.cluster, job.proc, now))

    def _complete(self, job: JobRecord, exit_code: int, now: float) -> None:
        self._running.pop((job.cluster, job.proc), None)
        self._kill_leftovers(job)
        self._site_running[job.site] -= 1
        self._set_status(job, JobStatus.COMPLETED, now)
        job.exit_code = exit_code
        job.completion_date = int(now)
        executor.clean_scratch(job.scratch)
        job.pid = job.pid_ticks = 0
        job.scratch = ""
        self._events.append(
            userlog.terminated(job.spec.user_log, job.cluster, job.proc, now, exit_code)
        )

    def _evict(self, job: JobRecord, now: float) -> None:
        """A running job whose process vanished without an exit code runs again."""
        self._running.pop((job.cluster, job.proc), None)
        self._kill_leftovers(job)
        self._site_running[job.site] -= 1
        executor.clean_scratch(job.scratch)
        job.pid = job.pid_ticks = 0
        job.scratch = ""
        self._set_status(job, JobStatus.IDLE, now)
        self._enqueue(job)
        self._events.append(userlog.evicted(job.spec.user_log, job.cluster, job.proc, now))

    @staticmethod
    def _kill_leftovers(job: JobRecord) -> None:
        """Like HTCondor, a job's leftover processes end with the job."""
        if executor.owns_group(job.pid, job.pid_ticks):
            executor.signal_group(job.pid, signal.SIGKILL)

    def _vacate_running(self) -> int:
        """End every running job's processes (SIGTERM, SIGKILL after the grace) and queue
        the jobs idle again, as a schedd shutting down does; how many were running."""
        now = time.time()
        jobs = [self._jobs[key] for key in self._running]
        groups = [job.pid for job in jobs if executor.owns_group(job.pid, job.pid_ticks)]
        groups += [pgid for pgid in self._dying if executor.group_alive(pgid)]
        for pgid in groups:
            executor.signal_group(pgid, signal.SIGTERM)
        children = [*self._running.values(), *(dying.popen for dying in self._dying.values())]
        deadline = time.monotonic() + self.kill_grace
        while time.monotonic() < deadline and any(executor.group_alive(g) for g in groups):
            for child in children:
                if child is not None:
                    child.poll()  # reap our children so that their groups can vanish
            time.sleep(0.05)
        for pgid in groups:
            if executor.group_alive(pgid):
                executor.signal_group(pgid, signal.SIGKILL)
        for job in jobs:
            code = executor.read_exit_code(job.scratch)
            if code is None:
                self._evict(job, now)
            else:
                self._complete(job, code, now)
        self._flush()
        return len(jobs)

    def _flush(self) -> None:
        """Commit the changed records, then write their user-log events."""
        if self._dirty:
            self._require_store().save(self._dirty.values())
            self._dirty.clear()
        if self._events:
            events, self._events = self._events, []
            userlog.append(events, self._log)

    def _require_store(self) -> JobStore:
        if self._store is None:
            raise RuntimeError("the schedd is not started")
        return self._store


def parse_job_ids(jobs: Sequence[str]) -> list[tuple[int, int | None]]:
    """`CLUSTER` or `CLUSTER.PROC` words as (cluster, proc or None); ValueError otherwise."""
    ids: list[tuple[int, int | None]] = []
    for text in jobs:
        cluster, dot, proc = str(text).strip().partition(".")
        if not cluster.isdigit() or (dot and not proc.isdigit()):
            raise ValueError(f"bad job id {str(text)[:40]!r} (want CLUSTER or CLUSTER.PROC)")
        ids.append((int(cluster), int(proc) if dot else None))
    return ids
