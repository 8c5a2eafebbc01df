"""The entry daemon: one process serving one entry or a group of entries, forever.

Each iteration follows ARCHITECTURE.md "Data flow of one entry iteration": downtimes,
find work, queue snapshot, pure decision, actions, advertise, stats. Every step that
talks to the pool can fail with `PoolError`; the iteration then stops where it is, the
daemon logs it and backs off, and the next iteration starts from a fresh query, so a
submission is never repeated blindly.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import classad2

from glideinwms_factory.entry import ads, credentials
from glideinwms_factory.entry.accounting import (
    QUERY_PROJECTION,
    QueueSnapshot,
    glidein_cpus,
    jobs_from_rows,
    queue_constraint,
)
from glideinwms_factory.entry.completed import CompletedTracker
from glideinwms_factory.entry.config import EntryConfig, load_entry
from glideinwms_factory.entry.decision import Actions, plan_cycle
from glideinwms_factory.entry.glidein_args import (
    EntryConstants,
    GlideinArgs,
    SubmitRequest,
    UnsafeValueError,
    build_glidein_arguments,
    submit_environment,
)
from glideinwms_factory.entry.requests import (
    Rejection,
    WorkRequest,
    newest_per_name,
    request_constraint,
    validate_request,
)
from glideinwms_factory.entry.stats import (
    ClientStats,
    EntryStats,
    EntryStatsWriter,
    client_key,
    completed_jobs_attributes,
    sum_clients,
)
from glideinwms_factory.entry.submit_description import build_description
from glideinwms_factory.lib import downtimes
from glideinwms_factory.lib.crypto import KeyCodeCache
from glideinwms_factory.lib.descript import DescriptError, SignatureLine, read_signatures
from glideinwms_factory.lib.factory_config import FactoryConfig, load_factory
from glideinwms_factory.lib.factory_key import FactoryKeys, KeyFileError, load_keys
from glideinwms_factory.lib.logs import setup_daemon_logger
from glideinwms_factory.lib.pool import JobAction, PoolError, Schedd
from glideinwms_factory.lib.pool.connect import Pool, open_pool

BACKOFF_MAX = 300.0


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


@dataclass
class Outbox:
    """The ads of one iteration, sent together when every entry of the group is served."""

    factory_ads: list[classad2.ClassAd] = field(default_factory=list)
    client_ads: list[classad2.ClassAd] = field(default_factory=list)


@dataclass
class Served:
    """One request served this iteration, for its glidefactoryclient ad and stats."""

    request: WorkRequest
    actions: Actions
    stats: ClientStats  # this request's own glideins (C) and numbers


def request_stats(request: WorkRequest, actions: Actions, snapshot: QueueSnapshot) -> ClientStats:
    """The classads.md §1 groups of one request: its glideins, its ask, its frontend's view."""
    monitor = request.monitor

    def reported(name: str) -> int:
        try:
            return int(monitor.get(name, 0))
        except (TypeError, ValueError):
            return 0

    return ClientStats(
        status=snapshot.request(request.key).status_attrs(),
        requested={
            "Idle": request.idle,
            "AdjustedIdle": actions.adjusted_idle,
            "MaxGlideins": request.max_glideins,
            "IdleCores": request.idle * snapshot.cpus,
            "MaxCores": request.max_glideins * snapshot.cpus,
        },
        client_monitor={
            "InfoAge": 0,
            "JobsIdle": reported("Idle"),
            "JobsRunning": reported("Running"),
            "JobsRunHere": reported("RunningHere"),
            "GlideIdle": reported("GlideinsIdle"),
            "GlideRunning": reported("GlideinsRunning"),
            "GlideTotal": reported("GlideinsTotal"),
            "CoresIdle": reported("GlideinsIdleCores"),
            "CoresRunning": reported("GlideinsRunningCores"),
            "CoresTotal": reported("GlideinsTotalCores"),
        },
    )


def _staging(lines: dict[str, SignatureLine], entry: str, path: Path) -> ads.Staging:
    """The main and entry signature lines; a `DescriptError` when the tree lacks one."""
    try:
        return ads.Staging(main=lines["main"], entry=lines[f"entry_{entry}"])
    except KeyError as err:
        raise DescriptError(f"{path}: no {err.args[0]} line (reconfig the factory)") from None


class EntryGroupDaemon:
    """Serves `entry_names` of the tree at `work_dir` until told to stop."""

    def __init__(
        self,
        work_dir: Path,
        entry_names: Sequence[str],
        group_name: str | None = None,
        clock: Callable[[], float] = time.time,
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
                staging=_staging(signatures, name, signatures_file),
                writer=EntryStatsWriter(
                    self.factory.monitor_dir, self.factory.log_dir / f"entry_{name}", name
                ),
                completed=CompletedTracker(config.dir / "completed_ids.json"),
            )
        self.pool: Pool | None = None
        self.clock = clock
        self.start_time = int(clock())
        self.heartbeat = self.factory.heartbeat_file(self.group)
        self.parent_pid = os.getppid()
        self._keys: FactoryKeys | None = None
        self._key_codes = KeyCodeCache()
        self._keys_mtime = 0.0
        self._stop = False
        self._failures = 0
        self._served_once = False

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
        while not self._stop and time.monotonic() < deadline:
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
            self.pool = open_pool(self.factory.glidein)
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
        # One multi-ad update per kind for the whole group (classads.md §0).
        pool.collector.advertise(outbox.factory_ads, "UPDATE_AD_GENERIC")
        pool.collector.advertise(outbox.client_ads, "UPDATE_LICENSE_AD")

    def find_work(self, pool: Pool, keys: FactoryKeys, now: float) -> dict[str, list[WorkRequest]]:
        """Query and validate the requests of every entry of the group."""
        key_ids = [keys.current.pub_key_id]
        old = keys.old_key_id(now)
        if old:
            key_ids.append(old)
        configs = [state.config for state in self.entries.values()]
        raw = pool.collector.query(request_constraint(configs, key_ids))
        by_entry: dict[str, list[WorkRequest]] = {name: [] for name in self.entries}
        for state in self.entries.values():
            state.rejected = {}
        by_req_name = {state.config.ad_name: state for state in self.entries.values()}
        for ad in newest_per_name(raw, keys.current.pub_key_id):
            state = by_req_name.get(str(ad.get("ReqGlidein", "")))
            if state is None:
                continue
            result = validate_request(
                ad, state.config, keys, self.factory.frontends, now, cache=self._key_codes
            )
            if isinstance(result, WorkRequest):
                result = self._with_credentials(state.config, result)
            if isinstance(result, Rejection):
                self._reject(state, result)
            else:
                by_entry[state.config.name].append(result)
        return by_entry

    def _reject(self, state: EntryState, rejection: Rejection) -> None:
        self.log.warning(
            "request %s skipped: %s",
            rejection.name,
            rejection.reason,
            extra={"entry": state.config.name, "client": rejection.client_name},
        )
        reasons = state.rejected.setdefault(rejection.client_name, {})
        reasons[rejection.reason] = reasons.get(rejection.reason, 0) + 1

    def _with_credentials(
        self, entry: EntryConfig, request: WorkRequest
    ) -> WorkRequest | Rejection:
        """Check 10 of security.md §4, and store the tokens that came with the request."""
        base = self.factory.client_proxies_dir
        glidein = self.factory.glidein_name
        try:
            paths: dict[str, str] = {}
            submit_proxy = request.enc_params.get("SubmitProxy")
            if submit_proxy:
                path = credentials.credential_path(
                    base, request.username, glidein, request.client_name, submit_proxy
                )
                if not path.exists():
                    return Rejection(
                        request.name, request.client_name, f"credential {submit_proxy} not found"
                    )
                paths["x509_proxy"] = str(path)
            for param, suffix, key in (
                (f"{entry.name}.idtoken", "idtoken", "idtokens_file"),
                ("frontend_scitoken", "scitoken", "scitokens_file"),
            ):
                token = request.enc_params.get(param)
                if token:
                    path = credentials.credential_path(
                        base,
                        request.username,
                        glidein,
                        request.client_name,
                        f"{entry.name}.{suffix}",
                    )
                    credentials.store(path, token.strip() + "\n")
                    paths[key] = str(path)
        except (credentials.CredentialError, OSError) as err:
            return Rejection(request.name, request.client_name, f"credentials: {err}")
        return dataclasses.replace(request, credential_files=paths)

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
        extra = {"entry": entry.name}
        schedd = pool.schedd(entry.schedd)
        rows = schedd.query(
            queue_constraint(entry.factory.factory_name, entry.factory.glidein_name, entry.name),
            [*QUERY_PROJECTION, *CompletedTracker.PROJECTION],
        )
        now = int(self.clock())
        jobs, errors = jobs_from_rows(rows, now)
        for error in errors:
            self.log.warning("queue: %s", error, extra=extra)
        cpus = glidein_cpus(entry.attributes)
        snapshot = QueueSnapshot(jobs, cpus)

        entry_down = downtimes.entry_down(dts, entry.name, local_now)
        factory_down = downtimes.factory_down(dts, local_now)
        plan_input = []
        for request in requests:
            down = (
                factory_down is not None
                or request.in_whitelist_downtime
                or downtimes.request_down(
                    dts, entry.name, request.security_name, request.security_class, local_now
                )
                is not None
            )
            plan_input.append((request.decision_request(), down))
        plan = plan_cycle(plan_input, snapshot, entry.limits)

        served = []
        for request, actions in zip(requests, plan.requests, strict=True):
            if self._execute(schedd, state, request, actions):
                served.append(Served(request, actions, request_stats(request, actions, snapshot)))
        if plan.entry_cleanup is not None:
            self._remove_release(schedd, state, plan.entry_cleanup, "entry sanitize")

        stats = self._stats(state, snapshot, served, factory_down or entry_down, now)
        completed = state.completed.new_completions(rows)
        if advertise or state.sequence == 0 or any(item.actions.did_work for item in served):
            self._ads(keys, state, stats, served, outbox)
        state.writer.write(stats, completed)

    # --- actions ------------------------------------------------------------------------

    def _execute(
        self, schedd: Schedd, state: EntryState, request: WorkRequest, actions: Actions
    ) -> bool:
        """Carry out one request's actions; False if the request had to be rejected."""
        entry = state.config
        extra = {"entry": entry.name, "client": request.client_name}
        if actions.submit:
            try:
                description = self._description(state, request)
            except UnsafeValueError as err:
                self._reject(state, Rejection(request.name, request.client_name, str(err)))
                return False
            # Condor-G logs and glidein output go to the per-user client log dir.
            log_dir = self.factory.client_log_dir / f"user_{request.username}"
            log_dir = log_dir / f"glidein_{self.factory.glidein_name}" / f"entry_{entry.name}"
            log_dir.mkdir(parents=True, exist_ok=True)
            submitted = 0
            for i, size in enumerate(actions.clusters):
                if i:
                    time.sleep(entry.limits.submit_sleep)
                cluster = schedd.submit(description, size)
                submitted += size
                self.log.info("submitted %d glidein(s) in cluster %d", size, cluster, extra=extra)
            self.log.info(
                "request %s: idle target %d, max %d: submitted %d",
                request.name,
                request.idle,
                request.max_glideins,
                submitted,
                extra=extra,
            )
        self._remove_release(schedd, state, actions, request.client_name)
        return True

    def _remove_release(
        self, schedd: Schedd, state: EntryState, actions: Actions, who: str
    ) -> None:
        extra = {"entry": state.config.name, "client": who}
        limits = state.config.limits
        for ids, forcex in ((actions.remove, False), (actions.remove_forcex, True)):
            if ids:
                reason = "glideinwms factory: excess or stale" + (" (forcex)" if forcex else "")
                done = schedd.act(JobAction.REMOVE, list(ids), reason)
                self.log.info("removed %d glidein(s): %s", done, " ".join(ids), extra=extra)
                time.sleep(limits.remove_sleep)
        if actions.release:
            done = schedd.act(JobAction.RELEASE, list(actions.release), "recoverable hold")
            self.log.info(
                "released %d glidein(s): %s", done, " ".join(actions.release), extra=extra
            )
            time.sleep(limits.release_sleep)

    def _description(self, state: EntryState, request: WorkRequest) -> str:
        """job.condor with every `$ENV()` resolved for `request`; the count goes separately."""
        entry, signatures = state.config, state.staging
        factory = entry.factory
        params = {**entry.params, **request.params}
        arguments = build_glidein_arguments(
            GlideinArgs(
                verbosity=entry.verbosity,
                glidein_name=factory.glidein_name,
                entry_name=entry.name,
                client_name=request.client_name,
                schedd=entry.schedd or "embedded",
                factory_name=factory.factory_name,
                web_url=factory.web_url,
                main_sign=signatures.main.digest,
                entry_sign=signatures.entry.digest,
                main_descript=signatures.main.description,
                entry_descript=signatures.entry.description,
                startup_dir=entry.startup_dir,
                credential_id=request.credential_id,
                slots_layout=entry.slots_layout,
                proxy_url=entry.job.proxy_url or "None",
                client=request.client_staging,
                params=params,
            ),
            entry.grid_type,
        )
        files = request.credential_files
        submit = submit_environment(
            SubmitRequest(
                count=1,
                client_name=request.client_name,
                frontend_name=request.frontend_name,
                security_class=request.security_class,
                credential_id=request.credential_id,
                username=request.username,
                arguments=arguments,
                log_date=time.strftime("%Y%m%d", time.gmtime(self.clock())),
                x509_proxy=files.get("x509_proxy", ""),
                idtokens_file=files.get("idtokens_file", ""),
                scitokens_file=files.get("scitokens_file", ""),
                idle_lifetime=request.idle_lifetime,
                params=params,
            ),
            EntryConstants(
                factory_name=factory.factory_name,
                glidein_name=factory.glidein_name,
                entry_name=entry.name,
                submit_file=f"entry_{entry.name}/job.condor",
                web_url=factory.web_url,
                startup_dir=entry.startup_dir,
                slots_layout=entry.slots_layout,
            ),
        )
        for name in submit.skipped_params:
            self.log.warning(
                "parameter %s is not submit-safe: passed only on the glidein command line",
                name,
                extra={"entry": entry.name, "client": request.client_name},
            )
        return build_description(entry.job_condor, submit.env)

    # --- stats and ads ------------------------------------------------------------------

    def _stats(
        self,
        state: EntryState,
        snapshot: QueueSnapshot,
        served: list[Served],
        downtime: downtimes.Downtime | None,
        now: int,
    ) -> EntryStats:
        """Monitoring numbers per `<security name>_<class>` (the XML/RRD client key)."""
        by_frontend: dict[str, list[ClientStats]] = {}
        for item in served:
            by_frontend.setdefault(item.request.frontend_name, []).append(item.stats)
        clients: dict[str, ClientStats] = {}
        for frontend in {*snapshot.frontend_names(), *by_frontend}:
            total = sum_clients(by_frontend.get(frontend, []))
            total.status = snapshot.frontend(frontend).status_attrs()
            clients[client_key(frontend)] = total
        # Rejected requests have no trusted security class: they count under their ClientName.
        for client, reasons in state.rejected.items():
            clients.setdefault(client, ClientStats()).rejected.update(reasons)
        jobs: dict[str, dict[str, str]] = {}
        for job in snapshot.jobs:
            log_state = _LOG_STATES.get(job.state.name)
            if log_state:
                jobs.setdefault(client_key(job.frontend_name), {})[job.id] = log_state
        return EntryStats(
            entry=state.config.name,
            updated=now,
            in_downtime=downtime is not None,
            clients=clients,
            jobs=jobs,
            downtime_comment=downtime.comment if downtime else "",
        )

    def _ads(
        self,
        keys: FactoryKeys,
        state: EntryState,
        stats: EntryStats,
        served: list[Served],
        outbox: Outbox,
    ) -> None:
        """This entry's glidefactory ad and one glidefactoryclient ad per served request."""
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
        )
        state.sequence += 1
        outbox.factory_ads.append(factory_ad)
        for item in served:
            request = item.request
            seq = state.client_sequence.get(request.name, 0)
            state.client_sequence[request.name] = seq + 1
            outbox.client_ads.append(
                ads.client_ad(
                    entry,
                    req_name=request.req_name,
                    client_name=request.client_name,
                    sequence=seq,
                    client=item.stats,
                    total=total,
                    params=request.params,
                    limits_reached=item.actions.limits_reached,
                )
            )


_LOG_STATES = {
    "WAIT": "Wait",
    "PENDING": "Idle",
    "STAGE_IN": "Idle",
    "IDLE_OTHER": "Idle",
    "RUNNING": "Running",
    "STAGE_OUT": "Running",
    "HELD": "Held",
}
