"""Credentials on disk (security.md §6): one 0600 file each, replaced atomically.

Directory: `<ClientProxiesBaseDir>/user_<username>/glidein_<GlideinName>/`. The factory
daemon stores what frontends deliver in `glideclientglobal` ads; entries store the
per-entry tokens that come inside requests. Every name is checked against the safe
charset before it becomes part of a path, and the previous version is kept as `.old`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from glideinwms_factory.lib.atomicfile import atomic_write

# The charset of request names (classads.md §2), and so of every credential path part.
SAFE_NAME = re.compile(r"[A-Za-z0-9._@-]+")


class CredentialError(ValueError):
    """A credential name or owner that cannot safely name a file."""


def _safe(what: str, value: str) -> str:
    if not SAFE_NAME.fullmatch(value) or value in (".", ".."):
        raise CredentialError(f"{what} {value!r:.60} is not a safe file name part")
    return value


def credential_dir(base: Path, username: str, glidein_name: str) -> Path:
    return (
        Path(base)
        / f"user_{_safe('username', username)}"
        / f"glidein_{_safe('glidein', glidein_name)}"
    )


def credential_path(
    base: Path, username: str, glidein_name: str, client_name: str, cred_id: str
) -> Path:
    """`credential_<ClientName>_<id>` (id may be `<entry>.idtoken` or `<entry>.scitoken`)."""
    directory = credential_dir(base, username, glidein_name)
    return (
        directory / f"credential_{_safe('client', client_name)}_{_safe('credential id', cred_id)}"
    )


def store(path: Path, content: str | bytes) -> bool:
    """Write `content` 0600 if it differs from what is there; returns whether it changed.

    The previous version is kept as `<name>.old` (a hard link to the replaced file); the
    credential itself is replaced atomically, so a submission never reads half of it.
    """
    data = content.encode() if isinstance(content, str) else content
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        if path.read_bytes() == data:
            return False
        old = path.with_name(path.name + ".old")
        old.unlink(missing_ok=True)
        os.link(path, old)
    except FileNotFoundError:
        pass
    atomic_write(path, data, mode=0o600)
    return True
