"""Undo what a failed create or reconfig wrote in place, and only that.

The new work dir is built aside and swapped in whole, but the dirs outside it, the staged
files and the lock file are written where they live. Each such write goes through a
`Journal` first, so that a failure at any step (an unwritable path, a full disk, a bug)
takes back exactly what this run made: a dir or file it created is removed, a staged file
it replaced gets its old bytes back. Nothing that was there before is ever removed; dirs
made before the tree's lock was held (the lock's own parents) are removed only if empty,
since another run may have used them meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from glideinwms_factory.lib.atomicfile import atomic_write


@dataclass
class Journal:
    """What this run created or replaced, in order; `undo` takes it back in reverse."""

    _created: list[tuple[Path, bool]] = field(default_factory=list)  # (path, only if empty)
    _replaced: dict[Path, tuple[bytes, int]] = field(default_factory=dict)
    _emptied: list[tuple[Path, int]] = field(default_factory=list)

    def mkdir(self, path: Path, mode: int = 0o777, *, shared: bool = False) -> None:
        """`path.mkdir(parents=True, exist_ok=True)`, noting each dir this call made
        (`shared`: dirs that others may fill too, so removed only while empty)."""
        missing = []
        while not path.is_dir():
            missing.append(path)
            path = path.parent
        for made in reversed(missing):
            try:
                made.mkdir(mode if made == missing[0] else 0o777)
            except FileExistsError:
                if not made.is_dir():
                    raise
                continue
            self._created.append((made, shared))

    def new_file(self, path: Path) -> None:
        """Before writing `path`: removed on undo unless it was there already."""
        if not os.path.lexists(path):
            self._created.append((path, False))

    def replace_file(self, path: Path) -> None:
        """Before overwriting the file `path`: its bytes and mode come back on undo."""
        if path in self._replaced or not path.is_file():
            self.new_file(path)
            return
        self._replaced[path] = (path.read_bytes(), path.stat().st_mode & 0o7777)

    def fill_dir(self, path: Path) -> None:
        """Before an existing empty dir is replaced by a full one: empty again on undo."""
        if path.is_dir():
            self._emptied.append((path, path.stat().st_mode & 0o7777))
        else:
            self.new_file(path)

    def undo(self) -> None:
        """Take back everything noted, newest first; best effort (undo must not fail)."""
        for path, (data, mode) in self._replaced.items():
            with contextlib.suppress(OSError):
                atomic_write(path, data, mode, fsync=False)
        for path, mode in reversed(self._emptied):
            shutil.rmtree(path, ignore_errors=True)
            with contextlib.suppress(OSError):
                path.mkdir(mode)
                path.chmod(mode)
        for path, only_if_empty in reversed(self._created):
            with contextlib.suppress(OSError):
                if only_if_empty:
                    path.rmdir()
                elif path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
        self.clear()

    def clear(self) -> None:
        """The run succeeded: keep everything."""
        self._created.clear()
        self._replaced.clear()
        self._emptied.clear()
