"""Replace a file so that readers see the old or the new content, never a part of it.

Every file the factory writes for others to read (descript files, XML, ads, state,
credentials) goes through `atomic_write`: a temporary file in the same directory, then
a rename over the target.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(
    path: str | os.PathLike[str],
    data: str | bytes,
    mode: int = 0o644,
    fsync: bool = True,
    make_parents: bool = False,
) -> None:
    """Write `data` to `path` through a temp file and a rename, with permissions `mode`.

    The temp file has `mode` before any byte is written, so a 0600 secret is never
    readable by others, not even for a moment. `fsync=False` is for bulk writers.
    """
    target = Path(path)
    if make_parents:
        target.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
