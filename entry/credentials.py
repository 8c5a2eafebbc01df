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

from glideinwms_factory.entry.protocol_311 import Credentials311
from glideinwms_factory.lib.atomicfile import atomic_write
from glideinwms_factory.lib.credential_objects import Credential, CredentialType

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


# The longest credential file name: the temporary file written beside it to replace it
# (`.<name>.` + 8 random characters) must fit in the file system's 255 bytes too.
MAX_NAME_BYTES = 245


def credential_path(
    base: Path, username: str, glidein_name: str, client_name: str, cred_id: str
) -> Path:
    """`credential_<ClientName>_<id>` (id may be `<entry>.idtoken` or `<entry>.scitoken`)."""
    directory = credential_dir(base, username, glidein_name)
    name = f"credential_{_safe('client', client_name)}_{_safe('credential id', cred_id)}"
    return directory / _fitting(name, f"client {client_name!r:.40}")


def _fitting(name: str, whose: str) -> str:
    """`name` if the file system takes it (with its temporary file), else a one-line
    CredentialError (not `File name too long` with the whole path, after a partial write)."""
    if len(name) > MAX_NAME_BYTES:  # safe names are ASCII: one byte a character
        raise CredentialError(
            f"credential file name of {whose} would be {len(name)} bytes, over {MAX_NAME_BYTES}"
        )
    return name


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


# Which submit file each request credential type becomes (protocol-311.md §4).
_REQUEST_FILES = {
    CredentialType.X509_CERT: "x509_proxy",
    CredentialType.SCITOKEN: "scitokens_file",
    CredentialType.TOKEN: "scitokens_file",
    CredentialType.IDTOKEN: "scitokens_file",
}


_TOKENS = frozenset({CredentialType.TOKEN, CredentialType.SCITOKEN, CredentialType.IDTOKEN})


def _content(cred: Credential) -> bytes:
    """Tokens one line as 3.10 stores them; every other credential (certificate, key,
    text file) byte for byte, as upstream's `save_to_file` writes `_string`."""
    if cred.cred_type in _TOKENS:
        return (cred.text.strip() + "\n").encode("utf-8", "surrogateescape")
    return cred.data()


def store_311(
    directory: Path, prefix: str, creds: Credentials311
) -> tuple[dict[str, str], tuple[str, ...]]:
    """Write a 3.11 request's credentials, each 0600 and replaced atomically.

    Files are `credential_<prefix>.<purpose><n>.<type>` with `prefix`
    `<ClientName>_<credential id>.<entry>`; nothing of the Frontend's own paths is used.
    Returns the submit files (x509_proxy, scitokens_file, idtokens_file) and the files the
    glidein carries (IDENTITY_CREDENTIALS): the payload credentials, the callback IDTOKEN
    first, which is also the glidein's IDTOKEN. A request credential of another type the
    entry's auth method names (an `auth_file` entry's text, an `rsa_key`) is written and
    becomes no submit file, as a 3.10 request's AuthFile or key pair.
    """
    _safe("credential prefix", prefix)
    whose = f"request {prefix!r:.40}"

    def named(slot: str, cred: Credential) -> tuple[Path, Credential]:
        name = f"credential_{prefix}.{slot}.{cred.cred_type.value}"
        return directory / _fitting(name, whose), cred

    ordered = sorted(creds.identity, key=lambda c: c.cred_type is not CredentialType.IDTOKEN)
    # Every name is checked before any file is written.
    request_files = [named(f"request{n}", c) for n, c in enumerate(creds.request)]
    identity_files = [
        named(f"{c.purpose.value if c.purpose else 'payload'}{n}", c) for n, c in enumerate(ordered)
    ]
    paths: dict[str, str] = {}
    for path, cred in request_files:
        store(path, _content(cred))
        key = _REQUEST_FILES.get(cred.cred_type)
        if key is not None:
            paths.setdefault(key, str(path))
    identity: list[str] = []
    for path, cred in identity_files:
        store(path, _content(cred))
        identity.append(str(path))
        if cred.cred_type is CredentialType.IDTOKEN:
            paths.setdefault("idtokens_file", str(path))
    return paths, tuple(identity)
