"""Pool secret and bearer tokens: who may write to the embedded pool, and as whom.

Tokens are HS256 JSON Web Tokens signed with the pool secret, like HTCondor IDTOKENs
signed with a pool signing key: the daemon trusts only the `sub` claim of a token whose
signature checks, so a client can never choose the identity the Collector stamps.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import pathlib
import re
import secrets
import time
from dataclasses import dataclass

SECRET_FILE = "pool_secret"
ISSUER = "gwms-pool"
# Who the pool trusts beyond a plain token holder: the factory that owns the schedd, and
# the pool administrator (HTCondor's `condor@` identity), who may act on anything.
FACTORY_IDENTITY = "gfactory@localhost"
ADMIN_IDENTITY = "condor@localhost"
# Ad types only the factory (or the administrator) may advertise: a reader that trusts a
# glidefactory* ad must not find one another identity squatted under the factory's name.
FACTORY_AD_TYPES = frozenset({"glidefactory", "glidefactoryglobal", "glidefactoryclient"})
_IDENTITY = re.compile(r"[A-Za-z0-9._@-]{1,256}")
_SECRET_BYTES = 32


class TokenError(ValueError):
    """A token is malformed, badly signed, expired or names a bad identity."""


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says."""

    identity: str
    issued_at: int
    expires_at: int | None


@dataclass(frozen=True)
class Authority:
    """Who may do what in one pool: the schedd belongs to the factory, ads to their sender."""

    factory: str = FACTORY_IDENTITY
    admin: str = ADMIN_IDENTITY

    def may_use_schedd(self, identity: str) -> bool:
        """Submit, hold, release and remove run code or stop it as the factory: its own right."""
        return identity in (self.factory, self.admin)

    def may_replace(self, owner: str, identity: str) -> bool:
        """An ad is replaced or invalidated only by who advertised it, or the administrator."""
        return identity in (owner, self.admin)

    def may_advertise_type(self, my_type: str, identity: str) -> bool:
        """Factory ad types come only from the factory (or the administrator)."""
        return my_type.lower() not in FACTORY_AD_TYPES or identity in (self.factory, self.admin)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise TokenError("token is not base64url") from exc


def check_identity(identity: str) -> str:
    """The identity itself if it has the `user@domain` charset, else TokenError."""
    if not _IDENTITY.fullmatch(identity) or "@" not in identity:
        raise TokenError(f"bad identity {identity[:80]!r}: want NAME@DOMAIN of [A-Za-z0-9._@-]")
    return identity


def load_or_create_secret(state_dir: pathlib.Path) -> bytes:
    """The pool secret, created 0600 on first use; O_EXCL makes concurrent creators agree."""
    path = state_dir / SECRET_FILE
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_secret(path)
    secret = secrets.token_bytes(_SECRET_BYTES)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret.hex().encode("ascii") + b"\n")
    return secret


def read_secret(path: pathlib.Path) -> bytes:
    """Read an existing secret; refuse one that others can read (it signs every identity)."""
    mode = path.stat().st_mode & 0o077
    if mode:
        raise TokenError(f"{path} is readable by others (mode {oct(mode)}); chmod 600 it")
    # A concurrent creator may not have written it yet: wait briefly for the content.
    deadline = time.monotonic() + 2.0
    while True:
        content = path.read_bytes().strip()
        if content or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    try:
        secret = bytes.fromhex(content.decode("ascii"))
    except ValueError as exc:  # UnicodeDecodeError is one too
        raise TokenError(f"{path} does not hold a hex secret") from exc
    if len(secret) < 16:
        raise TokenError(f"{path} holds a secret shorter than 16 bytes")
    return secret


def create_token(secret: bytes, identity: str, lifetime: int | None = None) -> str:
    """A signed token for `identity`; `lifetime` seconds, or no expiry if None."""
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": ISSUER,
        "sub": check_identity(identity),
        "iat": now,
        "jti": secrets.token_hex(8),
    }
    if lifetime is not None:
        claims["exp"] = now + lifetime
    header = {"alg": "HS256", "typ": "JWT", "kid": "POOL"}
    signing_input = (
        _b64(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + _b64(signature)


def verify_token(secret: bytes, token: str, now: float | None = None) -> TokenClaims:
    """The claims of a valid token; TokenError with a one-line reason otherwise."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise TokenError("token is not a JWT (want header.claims.signature)")
    signing_input = (parts[0] + "." + parts[1]).encode("ascii", "replace")
    expected = hmac.new(secret, signing_input, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _unb64(parts[2])):
        raise TokenError("token signature does not match this pool's secret")
    try:
        header = json.loads(_unb64(parts[0]))
        claims = json.loads(_unb64(parts[1]))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TokenError("token header or claims are not JSON") from exc
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise TokenError("token algorithm is not HS256")
    if not isinstance(claims, dict) or claims.get("iss") != ISSUER:
        raise TokenError("token was not issued by an embedded pool")
    identity = claims.get("sub")
    issued = claims.get("iat")
    expires = claims.get("exp")
    if not isinstance(identity, str) or not isinstance(issued, int):
        raise TokenError("token lacks its sub or iat claim")
    if expires is not None:
        if not isinstance(expires, int):
            raise TokenError("token exp claim is not an integer")
        if expires <= (time.time() if now is None else now):
            raise TokenError("token has expired")
    return TokenClaims(check_identity(identity), issued, expires)
