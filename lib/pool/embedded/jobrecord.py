"""One queued job as plain typed data, its JSON form on disk and its ClassAd form.

Records stay plain data so accounting and scheduling never touch ClassAd objects; the
ad is built only when a query or a policy expression needs it, and cached until the
record changes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import classad2

from glideinwms_factory.lib.pool import JobStatus
from glideinwms_factory.lib.pool.embedded.submit_description import JobSpec

GRID_UNIVERSE = 9

# What a CE would report for a grid job in each state (operations.md §4 accounting).
_GRID_JOB_STATUS = {
    JobStatus.IDLE: "IDLE",
    JobStatus.RUNNING: "RUNNING",
    JobStatus.COMPLETED: "COMPLETED",
    JobStatus.HELD: "HELD",
    JobStatus.REMOVED: "REMOVED",
}

# Attributes the schedd owns: a submitted `+Attr` of these names is ignored.
MANAGED_ATTRS = frozenset(
    name.lower()
    for name in [
        "MyType",
        "TargetType",
        "ClusterId",
        "ProcId",
        "GlobalJobId",
        "Owner",
        "Cmd",
        "Arguments",
        "Environment",
        "Iwd",
        "Out",
        "Err",
        "UserLog",
        "JobUniverse",
        "GridResource",
        "GridJobStatus",
        "JobStatus",
        "QDate",
        "EnteredCurrentStatus",
        "NumJobStarts",
        "NumSystemHolds",
        "CompletionDate",
        "ExitCode",
        "HoldReason",
        "HoldReasonCode",
        "HoldReasonSubCode",
        "JobStartDate",
        "JobCurrentStartDate",
        "RemoveReason",
        "PeriodicHold",
        "PeriodicRelease",
        "PeriodicRemove",
        "LeaveJobInQueue",
        "ServerTime",
    ]
)


@dataclass(slots=True, eq=False)
class JobRecord:
    """A job's spec plus its mutable queue state."""

    cluster: int
    proc: int
    owner: str
    qdate: int
    spec: JobSpec
    status: JobStatus = JobStatus.IDLE
    entered: int = 0
    num_starts: int = 0
    exit_code: int | None = None
    hold_reason: str = ""
    hold_code: int = 0
    hold_subcode: int = 0
    num_system_holds: int = 0
    start_date: int = 0
    current_start: int = 0
    completion_date: int = 0
    remove_reason: str = ""
    # The running (or being killed) process: pid = its process group id.
    pid: int = 0
    pid_ticks: int = 0
    scratch: str = ""
    _ad: classad2.ClassAd | None = field(default=None, repr=False)

    @property
    def job_id(self) -> str:
        return f"{self.cluster}.{self.proc}"

    @property
    def site(self) -> str:
        """Slot-limit key: the grid resource, or "local" for non-grid jobs."""
        return self.spec.grid_resource or "local"

    def changed(self) -> None:
        """Drop the cached ad; call after every state change."""
        self._ad = None

    def ad(self, schedd_name: str) -> classad2.ClassAd:
        """The job's ClassAd (cached); custom attributes never override managed ones."""
        if self._ad is None:
            self._ad = _build_ad(self, schedd_name)
        return self._ad

    def to_json(self) -> str:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "_ad"}
        data["spec"] = dataclasses.asdict(self.spec)
        data["status"] = int(self.status)
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> JobRecord:
        data: dict[str, Any] = json.loads(text)
        spec = data.pop("spec")
        spec["args"] = tuple(spec["args"])
        spec["transfer_input"] = tuple(spec["transfer_input"])
        data["spec"] = JobSpec(**spec)
        data["status"] = JobStatus(data["status"])
        return cls(**data)


def _build_ad(job: JobRecord, schedd_name: str) -> classad2.ClassAd:
    spec = job.spec
    ad = classad2.ClassAd()
    for name, text in spec.custom.items():
        if name.lower() not in MANAGED_ATTRS:
            ad[name] = classad2.ExprTree(text)
    managed: dict[str, Any] = {
        "MyType": "Job",
        "TargetType": "Machine",
        "ClusterId": job.cluster,
        "ProcId": job.proc,
        "GlobalJobId": f"{schedd_name}#{job.job_id}#{job.qdate}",
        "Owner": job.owner,
        "Cmd": spec.cmd,
        "Arguments": spec.arguments,
        "Environment": spec.environment,
        "Iwd": spec.iwd,
        "Out": spec.out,
        "Err": spec.err,
        "JobUniverse": spec.universe,
        "JobStatus": int(job.status),
        "QDate": job.qdate,
        "EnteredCurrentStatus": job.entered,
        "NumJobStarts": job.num_starts,
        "NumSystemHolds": job.num_system_holds,
        "CompletionDate": job.completion_date,
    }
    if spec.user_log:
        managed["UserLog"] = spec.user_log
    if spec.universe == GRID_UNIVERSE:
        managed["GridResource"] = spec.grid_resource
        managed["GridJobStatus"] = _GRID_JOB_STATUS.get(job.status, "UNKNOWN")
    if job.exit_code is not None:
        managed["ExitCode"] = job.exit_code
    if job.status == JobStatus.HELD:
        managed["HoldReason"] = job.hold_reason
        managed["HoldReasonCode"] = job.hold_code
        managed["HoldReasonSubCode"] = job.hold_subcode
    if job.start_date:
        managed["JobStartDate"] = job.start_date
        managed["JobCurrentStartDate"] = job.current_start
    if job.remove_reason:
        managed["RemoveReason"] = job.remove_reason
    for name, value in managed.items():
        ad[name] = value
    ad["PeriodicHold"] = classad2.ExprTree(spec.periodic_hold)
    ad["PeriodicRelease"] = classad2.ExprTree(spec.periodic_release)
    ad["PeriodicRemove"] = classad2.ExprTree(spec.periodic_remove)
    ad["LeaveJobInQueue"] = classad2.ExprTree(spec.leave_in_queue)
    return ad
