"""Swap a new work dir in for the old one in one step; the old one kept aside.

`renameat2(RENAME_EXCHANGE)` exchanges the two dirs atomically, so a reader sees the
old tree or the new one, never a mix; where the kernel or filesystem cannot, two
renames do (with a moment without a work dir).
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths; False if the kernel or filesystem cannot."""
    renameat2 = getattr(_libc, "renameat2", None)
    if renameat2 is None:
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(a))


def previous_tree(work: Path) -> Path:
    """Where the tree replaced by the last reconfig is kept (until the next one)."""
    return work.with_name(f".{work.name}.previous")


def swap_in(new: Path, work: Path, moves: list[tuple[Path, Path]]) -> None:
    """Exchange `new` and `work`; the old tree stays whole at `previous_tree(work)`.

    Keeping it one generation means a reader that opened the old dir mid-swap still
    reads a complete tree, and an operator can look at what was replaced.
    """
    previous = previous_tree(work)
    if previous.exists():
        shutil.rmtree(previous)
    done: list[tuple[Path, Path]] = []
    try:
        for src, dest in moves:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.rename(src, dest)
            done.append((src, dest))
        if _exchange(new, work):
            os.rename(new, previous)
            return
        os.rename(work, previous)
    except BaseException:
        for src, dest in reversed(done):  # give the old tree its state back
            os.rename(dest, src)
        raise
    os.rename(new, work)
