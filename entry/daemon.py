"""The entry daemon: one process serving one entry or a group of entries, forever.

Each iteration follows ARCHITECTURE.md "Data flow of one entry iteration": downtimes,
find work (`find_work`), queue snapshot (`accounting`), pure decision (`decision`),
actions (`submission`), advertise (`ads`), stats (`stats`); this module only runs them in
order and carries the state between iterations. Every step that talks to the pool can
fail with `PoolError`; the iteration then stops where it is, the daemon logs it and
backs off, and the next iteration starts from a fresh query, so a submission is never
repeated blindly.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import classad2

from glideinwms_factory.entry import ads, decision_trace
from glideinwms_factory.entry.accounting import (
    QUERY_PROJECTION,
    Job,
    QueueSnapshot,
    RequestKey,
    glidein_cpus,
    jobs_from_rows,
    queue_constraint,
)
from glideinwms_factory.entry.client_ads import Served, client_ads
from glideinwms_factory.entry.client_logs import prune_entry_logs
from glideinwms_factory.entry.completed import CompletedTracker
from glideinwms_factory.entry.config import EntryConfig, load_entry
from glideinwms_factory.entry.decision import LIMIT_PREFIX, Actions, CyclePlan, plan_cycle
from glideinwms_factory.entry.find_work import decision_input, down_reason, find_work
from glideinwms_factory.entry.queue_trust import CYCLE_ATTR, QueueMemory, judge_answer
from glideinwms_factory.entry.request_cycle import with_vanished
from glideinwms_factory.entry.requests import Rejection, WorkRequest
from glideinwms_factory.entry.stats import (
    EntryStats,
    EntryStatsWriter,
    entry_stats,
    request_stats,
)
from glideinwms_factory.entry.submission import Submitter
from glideinwms_factory.lib import downtimes
from glideinwms_factory.lib.crypto import OaepPreference
from glideinwms_factory.lib.descript import DescriptError, SignatureLine, read_signatures
from glideinwms_factory.lib.factory_config import FactoryConfig, load_factory
from glideinwms_factory.lib.factory_key import FactoryKeys, KeyFileError, load_keys
from glideinwms_factory.lib.logs import setup_daemon_logger
from glideinwms_factory.lib.monitoring_model import CompletedGlidein
from glideinwms_factory.lib.monitoring_xml import completed_jobs_attributes
from glideinwms_factory.lib.pool import PoolError
from glideinwms_factory.lib.pool.connect import Pool, open_pool

BACKOFF_MAX = 300.0
PRUNE_INTERVAL = 3600.0  # s between two prunings of the client logs
LOG_VALUE_MAX = 100  # characters of a request's own values in one log line
MAX_REASONS = 16  # distinct rejection reasons counted per client and iteration


@dataclass
class EntryState:
    """What one entry carries from one iteration to the next."""

    config: EntryConfig
    staging: ads.Staging  # the signature lines of its staging areas (fixed for the run)
    writer: EntryStatsWriter
    completed: CompletedTracker
    sequence: int = 0
    client_sequence: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, dict[str, int]] = field(default_factory=dict)  # client -> reason -> n
    rejected_names: set[str] = field(default_factory=set)  # request Names rejected this cycle
    last_311: dict[RequestKey, WorkRequest] = field(default_factory=dict)  # 3.11 seen last
    monitoring_failures: int = 0
    queue: QueueMemory = field(default_factory=QueueMemory)
    cycles: int = 0


@dataclass
class Outbox:
    """The ads of one iteration, sent together when every entry of the group is served."""

    factory_ads: list[classad2.ClassAd] = field(default_factory=list)
    client_ads: list[classad2.ClassAd] = field(default_factory=list)


def staging_lines(lines: dict[str, SignatureLine], entry: str, path: Path) -> ads.Staging:
    """The main and entry signature lines; a `DescriptError` when the tree lacks one."""
    try:
        return ads.Staging(main=lines["main"], entry=lines[f"entry_{entry}"])
    except KeyError as err:
        raise DescriptError(f"{path}: no {err.args[0]} line (reconfig the factory)") from None


class EntryGroupDaemon:
    """Serves `entry_names` of the tree at `work_dir` until told to stop.

    `connect` opens the pool (by default the one glidein.descript names); it is called
    again after a `PoolError`, since the pool may have moved or restarted.
    """

    def __init__(
        self,
        work_dir: Path,
        entry_names: Sequence[str],
        group_name: str | None = None,
        clock: Callable[[], float] = time.time,
        connect: Callable[[], Pool] | None = None,
    ) -> None:
        self.factory: FactoryConfig = load_factory(work_dir)
        self.group = group_name or "_".join(entry_names)
        self.log = setup_daemon_logger(
            f"gwms.entry.{self.group}",
            self.factory.log_dir / f"entry_{self.group}",
            f"entry_{self.group}",
            self.factory.log_retention_days,
        )
        signatures_file = self.factory.work_dir / "signatures.sha1"
        signatures = read_signatures(signatures_file)
        self.entries = {}
        for name in entry_names:
            config = load_entry(self.factory, name)
            self.entries[name] = EntryState(
                config=config,
                staging=staging_lines(signatures, name, signatures_file),
                writer=EntryStatsWriter(
                    self.factory.monitor_dir, self.factory.log_dir / f"entry_{name}", name
                ),
                completed=CompletedTracker(
                    config.dir / "completed_ids.json",
                    self.factory.client_log_dir,
                    self.factory.glidein_name,
                    name,
                ),
            )
        self.pool: Pool | None = None
        self._connect = connect or (lambda: open_pool(self.factory.glidein))
        self.clock = clock
        self.submitter = Submitter(self.factory, self.log, clock)
        self.start_time = int(clock())
        self.heartbeat = self.factory.heartbeat_file(self.group)
        self.parent_pid = os.getppid()
        self._keys: FactoryKeys | None = None
        self._padding = OaepPreference()  # each client's RSA padding, across iterations
        self._keys_mtime = 0.0
        self._stop = False
        self._failures = 0
        self._served_once = False
        self._pruned_at = 0.0

    # --- the loop -----------------------------------------------------------------------

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.log.info("entry group %s started for %s", self.group, ", ".join(self.entries))
        count = 0
        while not self._stop:
            started = self.clock()
            self._touch_heartbeat()
            if self._orphaned():
                self.log.warning("parent factory is gone: invalidating ads and exiting")
                break
            try:
                self.iteration(advertise=count == 0)
                self._served_once = True
                self._failures = 0
                count = (count + 1) % self.factory.advertise_delay
                delay = self.factory.descript.loop_delay
            except PoolError as err:
                delay = self._back_off(f"pool unreachable ({err})")
                self.pool = None  # reconnect: the pool may have moved or restarted
            except Exception:
                # The first iteration fails fast (a bad config must not loop); later an
                # unexpected error is logged with its traceback and retried with back-off.
                if not self._served_once:
                    raise
                self.log.exception("iteration failed", extra={"entry": self.group})
                delay = self._back_off("iteration failed")
            self._sleep(max(0.0, delay - (self.clock() - started)))
        self.shutdown()
        return 0

    def _back_off(self, reason: str) -> float:
        """Seconds to wait after a failed iteration: doubling from LoopDelay, capped."""
        self._failures += 1
        delay = min(BACKOFF_MAX, self.factory.descript.loop_delay * 2 ** (self._failures - 1))
        self.log.error("%s; retrying in %.0f s", reason, delay, extra={"entry": self.group})
        return delay

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.log.info("signal %d: stopping", signum)
        self._stop = True

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        # An orphan (its factory was killed) leaves at once, not after a whole LoopDelay:
        # the restarted factory's new daemon for the same entries waits for its lock.
        while not self._stop and time.monotonic() < deadline and not self._orphaned():
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
            self._touch_heartbeat()

    def _touch_heartbeat(self) -> None:
        self.heartbeat.parent.mkdir(parents=True, exist_ok=True)
        self.heartbeat.touch()

    def _orphaned(self) -> bool:
        return self.parent_pid != 1 and os.getppid() != self.parent_pid

    def shutdown(self) -> None:
        """Invalidate this group's ads; queued glideins stay (they belong to the sites)."""
        try:
            pool = self._pool()
            for state in self.entries.values():
                for command, constraint in ads.invalidate_constraints(state.config):
                    pool.collector.invalidate(constraint, command)
            self.log.info("ads invalidated; exiting")
        except PoolError as err:
            self.log.error("could not invalidate ads at exit: %s", err)

    def _pool(self) -> Pool:
        if self.pool is None:
            self.pool = self._connect()
        return self.pool

    def keys(self) -> FactoryKeys:
        """The factory keys, reloaded when the factory rotated them."""
        key_file = self.factory.work_dir / "rsa.key"
        try:
            mtime = key_file.stat().st_mtime
        except FileNotFoundError:
            raise PoolError(f"{key_file} missing: is the factory running?") from None
        if self._keys is None or mtime != self._keys_mtime:
            grace = self.factory.descript.old_pub_key_grace_time
            try:
                self._keys = load_keys(self.factory.work_dir, grace, rotate=False, now=mtime)
            except KeyFileError as err:
                raise PoolError(str(err)) from None
            self._keys_mtime = mtime
        return self._keys

    # --- one iteration ------------------------------------------------------------------

    def iteration(self, advertise: bool = True) -> None:
        now = self.clock()
        pool = self._pool()
        keys = self.keys()
        parsed = downtimes.DowntimeFile(self.factory.downtimes_file).read()
        for error in parsed.errors:
            self.log.warning("downtime file: %s", error)
        local_now = datetime.fromtimestamp(now).astimezone()
        work = self.find_work(pool, keys, now)
        outbox = Outbox()
        for name, state in self.entries.items():
            self.serve_entry(
                pool,
                keys,
                state,
                work.get(name, []),
                parsed.downtimes,
                local_now,
                outbox,
                advertise,
            )
        if now - self._pruned_at >= PRUNE_INTERVAL:
            self._pruned_at = now
            self.prune_logs(now)
        # One multi-ad update per kind for the whole group (classads.md §0).
        pool.collector.advertise(outbox.factory_ads, "UPDATE_AD_GENERIC")
        pool.collector.advertise(outbox.client_ads, "UPDATE_LICENSE_AD")

    def prune_logs(self, now: float) -> None:
        """Client logs and completed-job summaries past their retention (hourly)."""
        for name in self.entries:
            removed = prune_entry_logs(
                self.factory.glidein,
                self.factory.client_log_dir,
                self.factory.log_dir / f"entry_{name}",
                self.factory.glidein_name,
                name,
                now,
            )
            if removed:
                self.log.info("pruned %d old log file(s)", removed, extra={"entry": name})

    def find_work(self, pool: Pool, keys: FactoryKeys, now: float) -> dict[str, list[WorkRequest]]:
        """The valid requests of every entry of the group; the rejected ones are logged and
        counted for this iteration's monitoring."""
        found = find_work(
            pool.collector,
            self.factory,
            [state.config for state in self.entries.values()],
            keys,
            now,
            self._padding,
        )
        work: dict[str, list[WorkRequest]] = {}
        for name, state in self.entries.items():
            state.rejected = {}
            state.rejected_names = set()
            work[name] = []
            for result in found[name]:
                if isinstance(result, Rejection):
                    self._reject(state, result)
                else:
                    work[name].append(result)
        return work

    def _reject(self, state: EntryState, rejection: Rejection) -> None:
        """Log (values truncated) and count a skipped request. Only a configured
        frontend's requests are counted under their client name, with at most
        MAX_REASONS reasons each; all others share one counter, so that no ad can make
        the factory create monitoring state or grow its logs at will."""
        client = rejection.client_name[:LOG_VALUE_MAX]
        self.log.warning(
            "request %s skipped: %s",
            rejection.name[:LOG_VALUE_MAX],
            rejection.reason[: 2 * LOG_VALUE_MAX],
            extra={"entry": state.config.name, "client": client},
        )
        state.rejected_names.add(rejection.name)
        key, reason = rejection.counted_as()
        reasons = state.rejected.setdefault(key, {})
        if reason not in reasons and len(reasons) >= MAX_REASONS:
            reason = "other reasons"
        reasons[reason] = reasons.get(reason, 0) + 1

    def serve_entry(
        self,
        pool: Pool,
        keys: FactoryKeys,
        state: EntryState,
        requests: list[WorkRequest],
        dts: list[downtimes.Downtime],
        local_now: datetime,
        outbox: Outbox,
        advertise: bool = True,
    ) -> None:
        """One entry's part of an iteration; ads go out every `AdvertiseDelay` iterations
        and whenever something was submitted or removed."""
        entry = state.config
        started = time.monotonic()
        schedd = pool.schedd(entry.schedd)
        rows = schedd.query(
            queue_constraint(entry.factory.factory_name, entry.factory.glidein_name, entry.name),
            [*QUERY_PROJECTION, *CompletedTracker.PROJECTION, CYCLE_ATTR],
        )
        now = int(self.clock())
        jobs, errors = jobs_from_rows(rows, now)
        for error in errors:
            self.log.warning("queue: %s", error, extra={"entry": entry.name})
        problem = self._judge_queue(state, rows, jobs, errors)
        snapshot = QueueSnapshot(jobs, glidein_cpus(entry.attributes))
        advertised = len(requests)
        requests, state.last_311 = with_vanished(
            requests, state.last_311, snapshot, state.rejected_names
        )
        for request in requests[advertised:]:
            self.log.info(
                "3.11 request %s is gone: counted as a request for 0 idle (remove excess %s)",
                request.name,
                request.demand.remove_excess,
                extra={"entry": entry.name, "client": request.client_name},
            )
        # A request that cannot be submitted is rejected before planning: it must not
        # take the idle room of the cycle from the requests that can.
        submittable: list[tuple[WorkRequest, dict[str, str]]] = []
        traced = []
        for request in requests:
            prepared = self.submitter.prepare(entry, state.staging, request)
            if isinstance(prepared, Rejection):
                self._reject(state, prepared)
                demand = decision_input(request, entry.name, dts, local_now)
                down = down_reason(request, entry.name, dts, local_now)
                traced.append(
                    decision_trace.request_record(
                        request, demand, Actions(), snapshot, down, prepared.reason
                    )
                )
            else:
                submittable.append((request, prepared))
        decided = [
            decision_input(request, entry.name, dts, local_now) for request, _ in submittable
        ]
        plan = plan_cycle(decided, snapshot, entry.limits)
        if problem:  # unknown state: no submission, no removal this cycle
            plan = CyclePlan(tuple(Actions() for _ in submittable), None)

        served = []
        for (request, descriptions), demand, actions in zip(
            submittable, decided, plan.requests, strict=True
        ):
            guard = actions.limits_reached.get(f"{LIMIT_PREFIX}RunningRemovalsPerCycle")
            if guard:
                self.log.warning(
                    "request %s asks to remove running glideins (%s): only the cap this cycle",
                    request.name,
                    guard,
                    extra={"entry": entry.name, "client": request.client_name},
                )
            self.submitter.execute(schedd, entry, request, actions, descriptions, state.queue, jobs)
            served.append(Served(request, actions, request_stats(request, actions, snapshot)))
            down = down_reason(request, entry.name, dts, local_now)
            traced.append(
                decision_trace.request_record(request, demand, actions, snapshot, down, None)
            )
        if plan.entry_cleanup is not None:
            self.submitter.remove_release(schedd, entry, plan.entry_cleanup, "entry sanitize")

        downtime = downtimes.factory_down(dts, local_now) or downtimes.entry_down(
            dts, entry.name, local_now
        )
        down_text = None if downtime is None else (downtime.comment or "in downtime")
        cycle = decision_trace.cycle_record(entry.name, now, down_text, traced, plan.entry_cleanup)
        decision_trace.append(entry.dir / decision_trace.TRACE_FILE, cycle)
        stats = entry_stats(
            entry.name,
            snapshot,
            [(item.request.frontend_name, item.stats) for item in served],
            state.rejected,
            downtime,
            now,
            cleanup=plan.entry_cleanup,
            cycle_seconds=time.monotonic() - started,
        )
        completed = state.completed.new_completions(rows)
        if advertise or state.sequence == 0 or any(item.actions.did_work for item in served):
            self._ads(keys, state, stats, served, outbox)
        self._monitor(state, stats, completed)

    def _judge_queue(
        self, state: EntryState, rows: list[classad2.ClassAd], jobs: list[Job], errors: list[str]
    ) -> str:
        """The queue answer's problem ('' if usable); starts this cycle's memory."""
        state.cycles += 1
        entry = state.config.name
        cycle_id = f"{self.start_time}.{state.cycles}"
        state.queue, problem = judge_answer(
            state.queue, rows, jobs, errors, cycle_id, self.log, entry
        )
        if problem:
            msg = "queue answer not trusted, no submission or removal this cycle: %s"
            self.log.error(msg, problem, extra={"entry": entry})
        return problem

    def _monitor(
        self, state: EntryState, stats: EntryStats, completed: list[CompletedGlidein]
    ) -> None:
        """Write the monitoring files; a failure is logged and counted, never fatal: the
        find-work, decision and submission of every entry go on (upstream #338)."""
        try:
            state.writer.write(stats, completed)
        except Exception as err:  # any monitoring failure, by design
            state.monitoring_failures += 1
            self.log.error(
                "monitoring not written (%d failure(s) so far): %s",
                state.monitoring_failures,
                str(err)[:300],
                extra={"entry": state.config.name},
            )

    def _ads(
        self,
        keys: FactoryKeys,
        state: EntryState,
        stats: EntryStats,
        served: list[Served],
        outbox: Outbox,
    ) -> None:
        """This entry's glidefactory ad and one glidefactoryclient ad per client served,
        summed over its requests (one per credential)."""
        entry = state.config
        total = stats.total
        factory_ad = ads.factory_ad(
            entry,
            keys.current,
            state.staging,
            start_time=self.start_time,
            sequence=state.sequence,
            in_downtime=stats.in_downtime,
            downtime_comment=stats.downtime_comment,
            total=total,
            completed_jobs=completed_jobs_attributes(
                self.factory.monitor_dir, entry.name, self.clock()
            ),
            queue_problem=state.queue.problem,
        )
        state.sequence += 1
        outbox.factory_ads.append(factory_ad)
        outbox.client_ads.extend(
            client_ads(entry, served, total, stats.in_downtime, state.client_sequence)
        )
