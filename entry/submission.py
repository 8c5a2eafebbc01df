"""Carry out what the decision planned: submit glideins, remove and release them.

The submit description is job.condor with every `$ENV()` of the glidein resolved for one
request (`glidein_args`); a request whose values cannot be made safe for it is rejected
rather than submitted, before the cycle is planned (`prepare`). Every call goes to the
`Schedd` protocol and may raise `PoolError`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence

from glideinwms_factory.entry import ads
from glideinwms_factory.entry.accounting import Job
from glideinwms_factory.entry.config import EntryConfig, FactoryConfig
from glideinwms_factory.entry.decision import Actions, split_clusters
from glideinwms_factory.entry.entry_set import deal_to_submit_files
from glideinwms_factory.entry.glidein_args import (
    EntryConstants,
    GlideinArgs,
    SubmitRequest,
    UnsafeValueError,
    build_glidein_arguments,
    submit_environment,
)
from glideinwms_factory.entry.overload import OVERLOAD, draw_overload, overload_setting
from glideinwms_factory.entry.queue_trust import CYCLE_ATTR, QueueMemory
from glideinwms_factory.entry.requests import Rejection, WorkRequest
from glideinwms_factory.entry.submit_description import build_description
from glideinwms_factory.lib.pool import JobAction, Schedd

# Frontend parameters refused outright: GLIDEIN_MULTIGLIDEIN makes glidein_startup.sh
# start N glideins in one job, which the factory's accounting (one job, one glidein)
# would never see. An entry may still set it in its own config.
FRONTEND_REFUSED_PARAMS = frozenset({"GLIDEIN_MULTIGLIDEIN"})


def submit_request(
    request: WorkRequest, arguments: str, log_date: str, params: Mapping[str, object]
) -> SubmitRequest:
    """What the submit environment of one glidein of `request` is made from: its client,
    credential files and the glidein's arguments."""
    files = request.credential_files
    return SubmitRequest(
        count=1,
        client_name=request.client_name,
        frontend_name=request.frontend_name,
        security_class=request.security_class,
        credential_id=request.credential_id,
        username=request.username,
        arguments=arguments,
        log_date=log_date,
        x509_proxy=files.get("x509_proxy", ""),
        idtokens_file=files.get("idtokens_file", ""),
        scitokens_file=files.get("scitokens_file", ""),
        identity_credentials=request.identity_files,
        idle_lifetime=request.idle_lifetime,
        params=params,
    )


class Submitter:
    """Executes one entry group's actions against a Schedd, logging each call."""

    def __init__(
        self,
        factory: FactoryConfig,
        log: logging.Logger,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.rng = rng or random.Random()
        self.factory = factory
        self.log = log
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()

    def prepare(
        self, entry: EntryConfig, staging: ads.Staging, request: WorkRequest
    ) -> dict[str, str] | Rejection:
        """The submit descriptions of `request`, one per submit file of the entry, built
        before the cycle is planned: a request that cannot be submitted is rejected then,
        and takes no idle room."""
        refused = sorted(FRONTEND_REFUSED_PARAMS & set(request.params))
        if refused:
            return Rejection(
                request.name,
                request.client_name,
                f"parameter {', '.join(refused)} is the factory's to set (each glidein process "
                "it starts would run uncounted)",
            )
        try:
            return {
                name: self.description(entry, staging, request, name) for name in entry.submit_files
            }
        except UnsafeValueError as err:
            return Rejection(request.name, request.client_name, str(err))

    def execute(
        self,
        schedd: Schedd,
        entry: EntryConfig,
        request: WorkRequest,
        actions: Actions,
        descriptions: Mapping[str, str],
        memory: QueueMemory,
        jobs: Sequence[Job] = (),
    ) -> None:
        """Carry out one request's actions with its prepared submit descriptions; every
        submission carries `memory.cycle_id`, and what was done is recorded in `memory`
        (a submit left unanswered too) for the next cycle to judge its queue by.

        An entry set's glideins are dealt over its members' submit files (`entry_set`),
        given the entry's queue `jobs`.
        """
        extra = {"entry": entry.name, "client": request.client_name}
        if actions.submit:
            plan = self._per_submit_file(entry, sum(actions.clusters), actions.clusters, jobs)
            # Condor-G logs and glidein output go to the per-user client log dir.
            log_dir = self.factory.client_log_dir / f"user_{request.username}"
            log_dir = log_dir / f"glidein_{self.factory.glidein_name}" / f"entry_{entry.name}"
            log_dir.mkdir(parents=True, exist_ok=True)
            submitted = 0
            calls = [(name, size) for name, sizes in plan.items() for size in sizes]
            for i, (name, size) in enumerate(calls):
                if i:
                    self.sleep(entry.limits.submit_sleep)
                memory.submit_unanswered = True
                cluster = schedd.submit(descriptions[name], size, {CYCLE_ATTR: memory.cycle_id})
                memory.submit_unanswered = False
                memory.submitted += size
                submitted += size
                self.log.info(
                    "submitted %d glidein(s) in cluster %d (%s)", size, cluster, name, extra=extra
                )
            self.log.info(
                "request %s (%s): idle target %d, max %d: submitted %d",
                request.name,
                request.protocol,
                request.idle,
                request.max_glideins,
                submitted,
                extra=extra,
            )
        self.remove_release(schedd, entry, actions, request.client_name)
        memory.removed += len(actions.remove) + len(actions.remove_forcex)

    def remove_release(
        self, schedd: Schedd, entry: EntryConfig, actions: Actions, who: str
    ) -> None:
        """The removals (plain, then forcex) and releases of `actions`, each rate-slept.

        A forcex removal is upstream's two steps: a plain remove puts the glidein in X,
        then RemoveX (`condor_rm -forcex`) drops it even if the site never answers.
        """
        extra = {"entry": entry.name, "client": who}
        limits = entry.limits
        if actions.remove:
            reason = "glideinwms factory: excess or stale"
            done = schedd.act(JobAction.REMOVE, list(actions.remove), reason)
            self.log.info("removed %d glidein(s): %s", done, " ".join(actions.remove), extra=extra)
            self.sleep(limits.remove_sleep)
        if actions.remove_forcex:
            ids = list(actions.remove_forcex)
            schedd.act(JobAction.REMOVE, ids, "glideinwms factory: unrecoverable held")
            done = schedd.act(JobAction.REMOVE_X, ids, "glideinwms factory: forcex")
            self.log.info("removed %d glidein(s) with forcex: %s", done, " ".join(ids), extra=extra)
            self.sleep(limits.remove_sleep)
        if actions.release:
            done = schedd.act(JobAction.RELEASE, list(actions.release), "recoverable hold")
            self.log.info(
                "released %d glidein(s): %s", done, " ".join(actions.release), extra=extra
            )
            self.sleep(limits.release_sleep)

    def _per_submit_file(
        self,
        entry: EntryConfig,
        count: int,
        clusters: Sequence[int],
        jobs: Sequence[Job],
    ) -> dict[str, tuple[int, ...]]:
        """Submit file -> its submit calls (cluster sizes)."""
        files = list(entry.submit_files)
        if len(files) == 1:
            return {files[0]: tuple(clusters)}
        dealt = deal_to_submit_files(count, files, jobs, entry.limits, self.rng)
        return {name: split_clusters(n, entry.limits.submit_cluster) for name, n in dealt.items()}

    def description(
        self,
        entry: EntryConfig,
        staging: ads.Staging,
        request: WorkRequest,
        submit_file: str | None = None,
    ) -> str:
        """The submit file's template (the entry's only one by default) with every `$ENV()`
        resolved for `request`; the count goes separately."""
        submit_file = submit_file or next(iter(entry.submit_files))
        factory = entry.factory
        params = {**entry.params, **request.params}
        overload = overload_setting(request.params, entry.params, entry.attributes)
        if overload is not None:  # drawn once per submit cycle of this request
            params[OVERLOAD] = "True" if draw_overload(overload, self.rng) else "False"
        arguments = build_glidein_arguments(
            GlideinArgs(
                verbosity=entry.verbosity,
                glidein_name=factory.glidein_name,
                entry_name=entry.name,
                client_name=request.client_name,
                schedd=entry.schedd or "embedded",
                factory_name=factory.factory_name,
                web_url=factory.web_url,
                main_sign=staging.main.digest,
                entry_sign=staging.entry.digest,
                main_descript=staging.main.description,
                entry_descript=staging.entry.description,
                startup_dir=entry.startup_dir,
                credential_id=request.credential_id,
                slots_layout=entry.slots_layout,
                proxy_url=entry.job.proxy_url or "None",
                client=request.client_staging,
                params=params,
            ),
            entry.grid_type,
        )
        submit = submit_environment(
            submit_request(
                request, arguments, time.strftime("%Y%m%d", time.gmtime(self.clock())), params
            ),
            EntryConstants(
                factory_name=factory.factory_name,
                glidein_name=factory.glidein_name,
                entry_name=entry.name,
                submit_file=submit_file,
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
        return build_description(entry.submit_files[submit_file], submit.env)
