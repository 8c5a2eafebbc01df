"""Run a job as a local process group, and find or kill it again later.

Each job runs under a tiny `/bin/sh` wrapper that leads its own session (so the whole
group can be signalled) and records the job's exit code into a file beside the scratch
dir. That file, not `waitpid`, is the truth about how the job ended: a restarted
schedd that is not the job's parent can still observe the end. The wrapper stays the
pool's; with a job user (runas.py) only the job itself drops to that user, and its
sandbox (scratch dir, transferred input and executable) is handed to it.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import signal
import subprocess
from dataclasses import dataclass
from typing import BinaryIO

from glideinwms_factory.lib.pool.embedded.runas import JobUser

# "$1" = exit file, the rest = the job's command line; values never pass through a shell
# parser (they are positional parameters expanded inside double quotes).
_WRAPPER = 'f=$1; shift; "$@"; rc=$?; echo "$rc" > "$f.tmp" && mv -f "$f.tmp" "$f"'
_STDIO_MODE = 0o600
# Environment variables naming credential files a job reads (job.condor's IDTOKENS_FILE).
CREDENTIAL_ENV = ("IDTOKENS_FILE", "X509_USER_PROXY", "SCITOKENS_FILE")


class LaunchError(Exception):
    """The job could not be started; `hold_code` says why in HTCondor's terms."""

    def __init__(self, message: str, hold_code: int) -> None:
        super().__init__(message)
        self.hold_code = hold_code


@dataclass(frozen=True, slots=True)
class Launch:
    """Everything needed to start one run of a job."""

    cmd: str
    args: tuple[str, ...]
    env: dict[str, str]
    iwd: pathlib.Path
    out: str
    err: str
    scratch: pathlib.Path
    transfer_input: tuple[str, ...]
    transfer_executable: bool
    user: JobUser | None = None


@dataclass(slots=True)
class Started:
    popen: subprocess.Popen[bytes]
    pid: int
    ticks: int


# HTCondor hold codes used for start failures.
HOLD_FAILED_TO_CREATE_PROCESS = 6
HOLD_TRANSFER_INPUT_ERROR = 13
HOLD_IWD_ERROR = 14


def exit_file(scratch: pathlib.Path | str) -> pathlib.Path:
    """Where the wrapper records the exit code: beside, not inside, the scratch dir."""
    return pathlib.Path(f"{scratch}.exit")


def start(launch: Launch) -> Started:
    """Prepare the scratch dir and start the job; LaunchError if it cannot start."""
    if not launch.iwd.is_dir():
        raise LaunchError(f"initial directory {launch.iwd} does not exist", HOLD_IWD_ERROR)
    try:
        launch.scratch.mkdir(parents=True, mode=0o700)
    except OSError as exc:
        raise LaunchError(
            f"cannot create scratch dir: {exc}", HOLD_FAILED_TO_CREATE_PROCESS
        ) from None
    cmd = launch.iwd / launch.cmd
    try:
        for name in launch.transfer_input:
            source = launch.iwd / name
            target = launch.scratch / source.name
            if source.is_dir():
                shutil.copytree(source, target)
            else:
                shutil.copy2(source, target)
        if launch.transfer_executable:
            target = launch.scratch / cmd.name
            shutil.copy2(cmd, target)
            cmd = target
        credentials = _sandbox_credentials(launch)
        if launch.user is not None:
            launch.user.give(launch.scratch)
    except OSError as exc:
        raise LaunchError(f"transfer input: {exc}", HOLD_TRANSFER_INPUT_ERROR) from None
    try:
        out = _open_output(launch.iwd / launch.out)
    except OSError as exc:
        raise LaunchError(f"cannot open output: {exc}", HOLD_IWD_ERROR) from None
    try:
        err = out if launch.err == launch.out else _open_output(launch.iwd / launch.err)
    except OSError as exc:
        out.close()
        raise LaunchError(f"cannot open error: {exc}", HOLD_IWD_ERROR) from None
    # As an HTCondor starter does: the scratch dir is also the job's temporary dir.
    scratch = str(launch.scratch)
    env = {"TMPDIR": scratch, "TMP": scratch, "TEMP": scratch, **launch.env, **credentials}
    env["_CONDOR_SCRATCH_DIR"] = scratch
    argv = [str(cmd), *launch.args]
    if launch.user is not None:
        argv = launch.user.command(argv)
    try:
        popen = subprocess.Popen(
            [
                "/bin/sh",
                "-c",
                _WRAPPER,
                "gwms-job",
                str(exit_file(launch.scratch)),
                *argv,
            ],
            cwd=launch.scratch,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        raise LaunchError(f"cannot start: {exc}", HOLD_FAILED_TO_CREATE_PROCESS) from None
    finally:
        out.close()
        err.close()
    return Started(popen, popen.pid, process_ticks(popen.pid) or 0)


def _sandbox_credentials(launch: Launch) -> dict[str, str]:
    """Copy the credential files the job's environment names into its sandbox (0600, the
    job's once handed over) and point the variables there, as a starter does with the
    proxy: the originals stay the pool's own, unreadable to a job run as the job user."""
    moved = {}
    for name in CREDENTIAL_ENV:
        source = launch.env.get(name, "")
        if not source or not os.path.isabs(source) or not os.path.isfile(source):
            continue
        target = launch.scratch / f".{name.lower()}_{os.path.basename(source)}"
        shutil.copyfile(source, target)
        target.chmod(0o600)
        moved[name] = str(target)
    return moved


def _open_output(path: pathlib.Path) -> BinaryIO:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _STDIO_MODE)
    return os.fdopen(fd, "wb")


def read_exit_code(scratch: str) -> int | None:
    """The exit code the wrapper recorded, or None if it recorded none."""
    try:
        return int(exit_file(scratch).read_text().strip())
    except (OSError, ValueError):
        return None


def process_ticks(pid: int) -> int | None:
    """Start time (clock ticks since boot) of a live, non-zombie process, else None.

    Stored with the pid so that a recycled pid is never mistaken for the job.
    """
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def owns_group(pgid: int, ticks: int) -> bool:
    """Whether process group `pgid` still exists and is the job's.

    The leader's start time proves it while the leader lives; once the leader is gone,
    a group with that id can only be the job's leftovers, because Linux never hands
    out a pid that is still in use as a process group id.
    """
    if pgid <= 0:
        return False
    leader_ticks = process_ticks(pgid)
    if leader_ticks is not None:
        return leader_ticks == ticks
    return group_alive(pgid)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def clean_scratch(scratch: str) -> None:
    if scratch:
        shutil.rmtree(scratch, ignore_errors=True)
        exit_file(scratch).unlink(missing_ok=True)
