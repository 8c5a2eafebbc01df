"""The embedded Schedd: a durable job queue whose jobs run as local process groups.

Thread-safe: every public method takes one lock, changes the in-memory queue, commits
the changed records to SQLite, and only then returns (and writes user-log events), so
an acknowledged change survives `kill -9`. A scheduler thread reaps finished jobs,
starts idle ones within each site's slot limit, escalates kills, evaluates the periodic
policy expressions and purges finished jobs.

Rules worth knowing:
* `count` in `submit`: a positive count wins; `count=0` takes the description's
  `queue N` (1 without one).
* Completed and Removed jobs leave the queue and the database as a real schedd's do: at
  once by default (`linger` 0; a test may keep them queryable for `linger` seconds after
  they entered that state, across restarts too), and never while their `LeaveJobInQueue`
  is true. Their end is in the user log (userlog.py) either way.
* Restart: a Running job whose wrapper recorded an exit code becomes Completed with it;
  one whose process (same pid and start time) still lives stays Running and its end is
  observed through the exit file; one whose process is gone without a code goes back to
  Idle (like an evicted job) and runs again. Held or Removed jobs whose process group was
  still being killed are killed again.
* A job started just before a crash, whose Running state had not committed, runs again.
"""

from __future__ import annotations

import getpass
import logging
import pathlib
import signal
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import classad2

from glideinwms_factory.lib.pool import JobAction, JobStatus
from glideinwms_factory.lib.pool.embedded import executor, runas, userlog
from glideinwms_factory.lib.pool.embedded.constraint import (
    AttrIndex,
    compile_constraint,
    matches_everything,
    pins,
)
from glideinwms_factory.lib.pool.embedded.expr_scan import referenced_names
from glideinwms_factory.lib.pool.embedded.jobrecord import (
    JobRecord,
    custom_by_lower,
    needed_names,
    wanted_names,
)
from glideinwms_factory.lib.pool.embedded.jobstore import JobStore
from glideinwms_factory.lib.pool.embedded.literal_match import decide, literal_tests
from glideinwms_factory.lib.pool.embedded.schedd_queue import (
    TERMINAL,
    Dying,
    JobQueue,
    Key,
    parse_job_ids,
)
from glideinwms_factory.lib.pool.embedded.submit_expand import JobSpec, parse_description
from glideinwms_factory.lib.pool.embedded.wire import decode_ads

MAX_JOBS_PER_SUBMIT = 100_000
HOLD_USER_REQUEST = 1
HOLD_JOB_POLICY = 3
HOLD_SUBMITTED_ON_HOLD = 15
_POLICY_BATCH = 2000
_SCOPE_CACHE = 10_000  # entries of the small evaluation caches before they start over


class ScheddCore(JobQueue):
    """The job queue and its executor; see the module docstring for the rules."""

    def __init__(
        self,
        state_dir: pathlib.Path,
        slots: int = 4,
        log: logging.Logger | None = None,
        *,
        policy_interval: float = 5.0,
        tick: float = 0.1,
        kill_grace: float = 5.0,
        linger: float = 0.0,
    ) -> None:
        if slots < 1:
            raise ValueError("slots must be at least 1")
        super().__init__(state_dir, kill_grace, log or logging.getLogger(__name__))
        self.slots = slots
        self.policy_interval = policy_interval
        self.tick = tick
        self.linger = linger
        self._default_owner = getpass.getuser()
        self._default_iwd = self.state_dir / "iwd"
        self._lock = threading.RLock()
        self._next_cluster = 1
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._next_policy = 0.0
        # Compiled policy texts, and what an expression reads for a job spec (both few).
        self._policies: dict[str, tuple[classad2.ExprTree, frozenset[str]]] = {}
        self._wanted: dict[tuple[frozenset[str], int], tuple[JobSpec, frozenset[str]]] = {}

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Recover the durable queue, then start the scheduler thread."""
        with self._lock:
            if self._thread is not None:
                return
            self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._execute_dir = runas.execute_base(self.state_dir / "execute", self._job_user)
            # The job user may pass through to its own scratch dir, not list the others.
            self._execute_dir.mkdir(exist_ok=True, mode=0o700)
            self._execute_dir.chmod(0o700 if self._job_user is None else 0o711)
            self._default_iwd.mkdir(exist_ok=True, mode=0o700)
            self._store = JobStore(self.state_dir / "queue.sqlite3")
            self._recover(time.time())
            self._flush()
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="schedd-core", daemon=True)
            self._thread.start()

    def stop(self, vacate: bool = False) -> int:
        """Stop the scheduler thread; running job processes keep running unless `vacate`,
        which ends them and queues their jobs again. How many jobs were vacated."""
        self._stopping.set()
        thread = self._thread
        if thread is not None:
            thread.join()
        with self._lock:
            vacated = self._vacate_running() if vacate and self._store is not None else 0
            if vacated:
                self._log.info("vacated %d running job(s): they run again at restart", vacated)
            self._thread = None
            if self._store is not None:
                self._store.close()
                self._store = None
            self._jobs.clear()
            self._index = AttrIndex()
            self._idle.clear()
            self._running.clear()
            self._site_running.clear()
            self._dying.clear()
        return vacated

    # ----------------------------------------------------------------- public API

    def submit(
        self,
        description: str | Mapping[str, str],
        count: int = 1,
        attrs: Mapping[str, Any] | None = None,
        owner: str = "",
        env: Mapping[str, str] | None = None,
    ) -> int:
        """Queue jobs of a submit description; returns the new cluster id.

        `env` is the submitter's environment, what the description's `$ENV()` reads.
        """
        if count < 0 or count > MAX_JOBS_PER_SUBMIT:
            raise ValueError(f"count must be between 0 and {MAX_JOBS_PER_SUBMIT}")
        parsed = parse_description(description, attrs, str(self._default_iwd), env)
        total = count or parsed.queue_count
        if total < 1 or total > MAX_JOBS_PER_SUBMIT:
            raise ValueError(f"the number of jobs must be between 1 and {MAX_JOBS_PER_SUBMIT}")
        with self._lock:
            store = self._require_store()
            cluster = self._next_cluster
            self._next_cluster += 1
            now = int(time.time())
            specs = [parsed.spec(cluster, proc) for proc in range(total)]
            _check_paths(specs)
            jobs = [
                JobRecord(
                    cluster,
                    proc,
                    owner or self._default_owner,
                    now,
                    spec,
                    entered=now,
                )
                for proc, spec in enumerate(specs)
            ]
            for job in jobs:
                if job.spec.hold:
                    job.status = JobStatus.HELD
                    job.hold_reason, job.hold_code = "submitted on hold", HOLD_SUBMITTED_ON_HOLD
            store.add_cluster(cluster, parsed.template, jobs)
            for job in jobs:
                self._add(job)
                self._events.append(userlog.submitted(job.spec.user_log, cluster, job.proc, now))
                if job.status is JobStatus.IDLE:
                    self._enqueue(job)
                else:
                    self._events.append(
                        userlog.held(
                            job.spec.user_log,
                            cluster,
                            job.proc,
                            now,
                            job.hold_reason,
                            job.hold_code,
                            0,
                        )
                    )
            self._flush()
        return cluster

    def query(
        self, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[classad2.ClassAd]:
        """Copies of the job ads matching `constraint`, only `projection` attrs if given."""
        return decode_ads("".join(self.query_lines(constraint, projection)))

    def query_lines(self, constraint: str = "true", projection: Sequence[str] = ()) -> list[str]:
        """`query`'s answer as the one-line ad texts the wire carries (not parsed here)."""
        expression = compile_constraint(constraint)
        with self._lock:
            self._require_store()
            extra = {"ServerTime": int(time.time())}
            wanted = wanted_names(projection)
            return [
                job.answer_line(wanted, self._name, extra)
                for job in self._select(constraint, expression, extra)
            ]

    def act(
        self,
        action: JobAction,
        jobs: Sequence[str] | str,
        reason: str = "",
        hold_code: int | None = None,
        hold_subcode: int = 0,
    ) -> int:
        """Remove (also -forcex), hold or release jobs by `cluster[.proc]` ids or a
        constraint (a str)."""
        try:
            action = JobAction(action)
        except ValueError:
            raise ValueError(f"unknown action {action!r}") from None
        if hold_code is not None and not 0 < hold_code < 1000:
            raise ValueError("hold_code must be between 1 and 999")
        expression = compile_constraint(jobs) if isinstance(jobs, str) else None
        ids = None if isinstance(jobs, str) else parse_job_ids(jobs)
        with self._lock:
            self._require_store()
            if expression is not None:
                targets = list(self._select(str(jobs), expression))
            else:
                targets = self._by_ids(ids or [])
            now = time.time()
            affected = 0
            for job in targets:
                if action is JobAction.REMOVE:
                    done = self._remove(job, now, reason or "via condor_rm")
                elif action is JobAction.REMOVE_X:
                    done = self._remove_x(job)
                elif action is JobAction.HOLD:
                    code = hold_code or HOLD_USER_REQUEST
                    text = reason or "via condor_hold"
                    done = self._hold(job, now, text, code, hold_subcode, hold_code is not None)
                else:
                    done = self._release(job, now, reason or "via condor_release")
                affected += done
            self._flush()
            return affected

    # ----------------------------------------------------------------- selection

    def _select(
        self,
        constraint: str,
        expression: classad2.ExprTree,
        extra: Mapping[str, Any] | None = None,
    ) -> Iterable[JobRecord]:
        """Jobs whose ad makes `expression` true; index-pruned when the constraint allows,
        decided on the submitted texts when it is literal tests, else evaluated in an ad
        of just the attributes it reads."""
        if matches_everything(constraint):
            return list(self._jobs.values())
        candidates = self._index.candidates(pins(constraint)) if self._jobs else None
        if candidates is None:
            jobs: Iterable[JobRecord] = list(self._jobs.values())
        else:
            jobs = [self._jobs[key] for key in sorted(cast("set[Key]", candidates))]
        names = referenced_names(constraint)
        tests = literal_tests(constraint)
        selected = []
        for job in jobs:
            decided = decide(tests, custom_by_lower(job.spec)) if tests else None
            if decided is None:
                decided = self._evaluate(expression, names, job, extra) is True
            if decided:
                selected.append(job)
        return selected

    def _evaluate(
        self,
        expression: classad2.ExprTree,
        names: frozenset[str],
        job: JobRecord,
        extra: Mapping[str, Any] | None = None,
    ) -> object:
        """`expression` (reading `names`) evaluated for `job`; the attributes that takes are
        worked out once per job spec (a cluster's jobs share theirs)."""
        key = (names, id(job.spec))
        wanted = self._wanted.get(key)
        if wanted is None or wanted[0] is not job.spec:
            if len(self._wanted) >= _SCOPE_CACHE:
                self._wanted.clear()
            wanted = self._wanted[key] = (job.spec, needed_names(job.spec, names))
        return expression.eval(job.scope(wanted[1], self._name, extra))

    def _by_ids(self, ids: list[tuple[int, int | None]]) -> list[JobRecord]:
        found: dict[Key, JobRecord] = {}
        for cluster, proc in ids:
            if proc is not None:
                job = self._jobs.get((cluster, proc))
                if job is not None:
                    found[job.cluster, job.proc] = job
            else:
                for key, job in self._jobs.items():
                    if key[0] == cluster:
                        found[key] = job
        return list(found.values())

    # ----------------------------------------------------------------- scheduler

    def _loop(self) -> None:
        while not self._stopping.wait(self.tick):
            try:
                self._step()
            except Exception:
                self._log.exception("schedd scheduler step failed")

    def _step(self) -> None:
        with self._lock:
            if self._store is None:
                return
            now = time.time()
            self._reap_running(now)
            self._reap_dying(now)
            self._start_idle(now)
            self._flush()
            policy_due = now >= self._next_policy
        if policy_due:
            self._apply_policy()
            with self._lock:
                self._purge(time.time())
                self._next_policy = time.time() + self.policy_interval

    def _reap_running(self, now: float) -> None:
        for key, popen in list(self._running.items()):
            job = self._jobs[key]
            if popen is not None:
                returncode = popen.poll()
                if returncode is None:
                    continue
                code = executor.read_exit_code(job.scratch)
                if code is None:
                    code = 128 - returncode if returncode < 0 else returncode
                self._complete(job, code, now)
            else:
                code = executor.read_exit_code(job.scratch)
                if code is not None:
                    self._complete(job, code, now)
                elif executor.process_ticks(job.pid) != job.pid_ticks:
                    code = executor.read_exit_code(job.scratch)
                    if code is not None:
                        self._complete(job, code, now)
                    else:
                        self._evict(job, now)

    def _reap_dying(self, now: float) -> None:
        for pgid, dying in list(self._dying.items()):
            if dying.popen is not None:
                dying.popen.poll()
            if executor.group_alive(pgid):
                if now >= dying.kill_at:
                    executor.signal_group(pgid, signal.SIGKILL)
                continue
            del self._dying[pgid]
            executor.clean_scratch(dying.scratch)
            job = self._jobs.get(dying.key)
            if job is not None and job.pid == pgid and job.status is not JobStatus.RUNNING:
                job.pid = job.pid_ticks = 0
                job.scratch = ""
                self._touch(job)

    def _start_idle(self, now: float) -> None:
        for site, queue in self._idle.items():
            while queue and self._site_running[site] < self.slots:
                key = next(iter(queue))
                del queue[key]
                self._launch(self._jobs[key], now)

    def _apply_policy(self) -> None:
        """Evaluate periodic_remove/hold/release in batches, releasing the lock between."""
        with self._lock:
            keys = [k for k, j in self._jobs.items() if _has_policy(j)]
        for start in range(0, len(keys), _POLICY_BATCH):
            with self._lock:
                if self._store is None:
                    return
                now = time.time()
                for key in keys[start : start + _POLICY_BATCH]:
                    job = self._jobs.get(key)
                    if job is not None:
                        self._apply_policy_to(job, now)
                self._flush()

    def _apply_policy_to(self, job: JobRecord, now: float) -> None:
        spec = job.spec
        if job.status in TERMINAL:
            return
        if self._true(job, spec.periodic_remove):
            reason = f"The job attribute PeriodicRemove expression '{spec.periodic_remove}'"
            self._remove(job, now, reason + " evaluated to TRUE")
        elif job.status is JobStatus.HELD:
            if self._true(job, spec.periodic_release):
                self._release(job, now, "The PeriodicRelease expression evaluated to TRUE")
        elif self._true(job, spec.periodic_hold):
            reason = f"The job attribute PeriodicHold expression '{spec.periodic_hold}'"
            self._hold(job, now, reason + " evaluated to TRUE", HOLD_JOB_POLICY, 0, True)

    def _true(self, job: JobRecord, expression: str) -> bool:
        """Whether a policy expression of the job (PeriodicRemove ...) is true."""
        if expression.strip().lower() == "false":
            return False
        compiled = self._policies.get(expression)
        if compiled is None:
            if len(self._policies) >= _SCOPE_CACHE:
                self._policies.clear()
            compiled = (classad2.ExprTree(expression), referenced_names(expression))
            self._policies[expression] = compiled
        return self._evaluate(*compiled, job) is True

    def _purge(self, now: float) -> None:
        """Finished jobs leave the queue after `linger` seconds unless LeaveJobInQueue."""
        gone = [
            job
            for job in self._jobs.values()
            if job.status in TERMINAL
            and now - job.entered >= self.linger
            and job.pid == 0
            and not self._true(job, job.spec.leave_in_queue)
        ]
        if gone:
            self._forget(gone)

    # ----------------------------------------------------------------- recovery

    def _recover(self, now: float) -> None:
        store = self._require_store()
        for job in store.load():
            self._add(job)
            key = (job.cluster, job.proc)
            if job.status is JobStatus.RUNNING:
                self._running[key] = None
                self._site_running[job.site] += 1
            elif job.status is JobStatus.IDLE:
                self._enqueue(job)
            elif executor.owns_group(job.pid, job.pid_ticks):
                self._dying[job.pid] = Dying(key, None, now, job.scratch)
            elif job.pid:
                executor.clean_scratch(job.scratch)
                job.pid = job.pid_ticks = 0
                job.scratch = ""
                self._touch(job)
        self._next_cluster = store.next_cluster()
        self._reap_running(now)
        self._reap_dying(now)
        self._log.info("schedd recovered %d jobs (%d running)", len(self._jobs), len(self._running))


def _has_policy(job: JobRecord) -> bool:
    spec = job.spec
    return job.status not in TERMINAL and any(
        text.strip().lower() != "false"
        for text in (spec.periodic_hold, spec.periodic_release, spec.periodic_remove)
    )


def _check_paths(specs: Sequence[Any]) -> None:
    """What condor_submit refuses up front: a missing executable or log directory."""
    for spec in {(s.iwd, s.cmd, s.transfer_executable, s.user_log) for s in specs}:
        iwd, cmd, transfer, user_log = spec
        path = pathlib.Path(iwd, cmd)
        if transfer and not path.is_file():
            raise ValueError(f"executable {str(path)[:200]!r} does not exist")
        if user_log and not pathlib.Path(iwd, user_log).parent.is_dir():
            raise ValueError(f"the directory of log {user_log[:200]!r} does not exist")
