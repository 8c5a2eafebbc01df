"""Shared helpers for the embedded-schedd tests (no tests here).

Jobs are small shell scripts; waiting is always a bounded poll on a condition.
"""

from __future__ import annotations

import contextlib
import pathlib
import shutil
import stat
import tempfile
from collections.abc import Iterator
from typing import Any, TypeVar

from glideinwms_factory.lib.pool.embedded import executor
from glideinwms_factory.lib.pool.embedded.schedd_core import ScheddCore

T = TypeVar("T")

# Fast knobs so tests finish in seconds.
FAST = {"tick": 0.02, "policy_interval": 0.2, "kill_grace": 0.5, "linger": 60.0}


def script(directory: pathlib.Path, name: str, body: str) -> pathlib.Path:
    """An executable /bin/sh script."""
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@contextlib.contextmanager
def job_shared_dir() -> Iterator[pathlib.Path]:
    """A directory both the test and a job can write.

    Run as root, the schedd runs jobs as the unprivileged job user, which cannot enter
    pytest's 0700 tmp dirs: files a job leaves for the test go here instead.
    """
    path = pathlib.Path(tempfile.mkdtemp(prefix="gwms-job-shared-"))
    path.chmod(0o1777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def description(executable: pathlib.Path, **commands: str) -> str:
    """A vanilla submit description running `executable` from its directory."""
    lines = {"executable": executable.name, "initialdir": str(executable.parent)}
    lines.update(commands)
    return "".join(f"{key} = {value}\n" for key, value in lines.items())


@contextlib.contextmanager
def running_core(state_dir: pathlib.Path, **options: Any) -> Iterator[ScheddCore]:
    core = ScheddCore(state_dir, **(FAST | options))
    core.start()
    try:
        yield core
    finally:
        core.stop()


def job(core: ScheddCore, job_id: str, *attrs: str) -> dict[str, Any]:
    """One job's attributes as plain values (empty dict if it is not in the queue)."""
    cluster, proc = job_id.split(".")
    ads = core.query(f"ClusterId == {cluster} && ProcId == {proc}", attrs)
    return {key: ads[0].eval(key) for key in ads[0]} if ads else {}


def status(core: ScheddCore, job_id: str) -> int | None:
    return job(core, job_id, "JobStatus").get("JobStatus")


def process_alive(pid: int) -> bool:
    """Alive and not a zombie (a container's init may not reap orphans)."""
    return executor.process_ticks(pid) is not None
