"""Who a job runs as: never the pool's own (root) user, which owns the keys and secrets.

A glidein runs a Frontend's scripts. When the pool runs as root, each job runs as a
dedicated unprivileged user (`gwms-glidein`, created on first use like HTCondor's
`nobody`/slot users): it cannot read the factory's `rsa.key`, the pool secret or
other credentials, which are 0600 root. When the pool is not root it cannot switch
users, and jobs run as the pool's user (README: give the factory its own account).
"""

from __future__ import annotations

import os
import pathlib
import pwd
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass

JOB_USER = "gwms-glidein"
# setpriv drops to the job user for the job only: the wrapper around it stays the pool's,
# so the exit code it records cannot be forged by the job.
_SETPRIV = "setpriv"


class JobUserError(RuntimeError):
    """The pool runs as root but has no unprivileged user to run jobs as."""


@dataclass(frozen=True)
class JobUser:
    """The unprivileged account jobs run as."""

    name: str
    uid: int
    gid: int

    def command(self, argv: list[str]) -> list[str]:
        """`argv` run as this user, with no supplementary groups and no way back up."""
        setpriv = shutil.which(_SETPRIV) or f"/usr/bin/{_SETPRIV}"
        return [
            setpriv,
            f"--reuid={self.uid}",
            f"--regid={self.gid}",
            "--clear-groups",
            "--no-new-privs",
            "--",
            *argv,
        ]

    def give(self, path: pathlib.Path) -> None:
        """Hand `path` (and all below it) to this user: the job's sandbox is the job's."""
        os.lchown(path, self.uid, self.gid)
        if path.is_dir() and not path.is_symlink():
            for root, dirs, files in os.walk(path):
                for name in dirs + files:
                    os.lchown(os.path.join(root, name), self.uid, self.gid)


def job_user(name: str = JOB_USER) -> JobUser | None:
    """The user jobs run as: `name` (created if missing) when root, else None (no switch)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        # A concurrent creator may win the race: look again whatever useradd said.
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ],
            capture_output=True,
            check=False,
        )
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise JobUserError(
                f"running as root but cannot create the job user {name!r} (useradd failed): "
                "jobs are never run as root"
            ) from None
    if entry.pw_uid == 0:
        raise JobUserError(f"job user {name!r} is root: jobs are never run as root")
    return JobUser(name, entry.pw_uid, entry.pw_gid)


def execute_base(default: pathlib.Path, user: JobUser | None) -> pathlib.Path:
    """Where jobs' scratch dirs go: `default` unless the job user cannot reach it.

    A glidein enters its scratch dir by absolute path, so every directory above it
    must be searchable by the job user; otherwise the same path under a root-owned
    0711 dir of the system temp dir is used (mirrored, so that it still names the tree).
    """
    if user is None or _searchable(default.parent):
        return default
    base = pathlib.Path(tempfile.gettempdir()) / "gwms-execute"
    base.mkdir(mode=0o711, exist_ok=True)
    info = os.lstat(base)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise JobUserError(f"{base} is not a root-owned directory only root can write")
    mirrored = base / str(default.resolve()).lstrip("/")
    mirrored.parent.mkdir(mode=0o711, parents=True, exist_ok=True)
    for path in (base, *(p for p in mirrored.parents if base in p.parents)):
        os.chmod(path, 0o711)  # only root creates below base: each level is root's
    return mirrored


def _searchable(path: pathlib.Path) -> bool:
    """Whether every directory from / down to `path` lets others through."""
    path = path.resolve()
    return all(os.stat(p).st_mode & stat.S_IXOTH for p in (path, *path.parents))
