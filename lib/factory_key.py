"""The factory's RSA key: creation, storage, rotation and its ad form (spec/security.md §2).

Frontends encrypt request key codes with the public half, which the factory publishes in
`glidefactoryglobal`/`glidefactory` ads as `PubKeyValue` and names by `PubKeyID`. The
public-key PEM and its ID must be byte-identical to upstream's, or frontends' `ReqPubKeyID`
would never match ours.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from glideinwms_factory.lib.atomicfile import atomic_write

MIN_KEY_BITS = 2048
DEFAULT_KEY_BITS = 2048
DEFAULT_GRACE_SECONDS = 900
KEY_FILE = "rsa.key"
OLD_KEY_FILE = "rsa.key.bak"
# Upstream protects rsa.key with this fixed passphrase (traditional PEM, AES-256-CBC).
UPSTREAM_PASSPHRASE = b"default"

_NEWLINE_ESCAPES = re.compile(r"\\+n")


class KeyFileError(Exception):
    """The key file is missing, unreadable or unacceptable; the message is one line."""


@dataclass(frozen=True)
class FactoryKey:
    """A private key with its published forms precomputed (they are sent every cycle)."""

    private_key: rsa.RSAPrivateKey
    pub_key_pem: str
    pub_key_id: str

    @classmethod
    def from_private_key(cls, private_key: rsa.RSAPrivateKey) -> FactoryKey:
        pem = (
            private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )
        return cls(private_key, pem, pub_key_id(pem))

    @property
    def bits(self) -> int:
        return self.private_key.key_size

    def ad_attributes(self) -> dict[str, str]:
        """`PubKeyID`, `PubKeyType`, `PubKeyValue` as they go into a ClassAd (classads.md §4)."""
        return {
            "PubKeyID": self.pub_key_id,
            "PubKeyType": "RSA",
            "PubKeyValue": pem_to_ad_value(self.pub_key_pem),
        }


def pub_key_id(pem: str | bytes) -> str:
    """Upstream's key identifier: md5 of `RSA ` + the public-key PEM (not a security function)."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    return hashlib.md5(b"RSA " + data, usedforsecurity=False).hexdigest()


def pem_to_ad_value(pem: str) -> str:
    """Newlines as the two characters `\\n`, as old-syntax ads carry them."""
    return pem.replace("\n", "\\n")


def pem_from_ad_value(value: str) -> str:
    """What frontends do with `PubKeyValue`: any backslash run + `n` becomes a newline."""
    return _NEWLINE_ESCAPES.sub("\n", value)


def load_public_key(pem: str | bytes) -> rsa.RSAPublicKey:
    """An RSA public key from `PubKeyValue` PEM (frontend side); ValueError if it is not one."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"not a PEM public key: {str(exc).splitlines()[0]}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("public key is not RSA")
    return key


def generate_key(bits: int = DEFAULT_KEY_BITS) -> FactoryKey:
    """A new key, e = 65537; refuses < 2048 bits.

    A 1024-bit OAEP-SHA-1 key cannot carry the 123-byte AES-256 key code.
    """
    if bits < MIN_KEY_BITS:
        raise ValueError(f"RSA key length {bits} is below the minimum of {MIN_KEY_BITS} bits")
    return FactoryKey.from_private_key(
        rsa.generate_private_key(public_exponent=65537, key_size=bits)
    )


def write_key(path: Path, key: FactoryKey, secret: bytes | None = None) -> None:
    """Write PKCS#8 PEM, 0600 from creation, atomically (temp file + rename)."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(secret) if secret else serialization.NoEncryption()
    )
    data = key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    try:
        atomic_write(path, data, mode=0o600)
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot write: {exc.strerror}") from None


def read_key(path: Path, secret: bytes | None = None) -> FactoryKey:
    """Read our PKCS#8 key (plain or encrypted with `secret`) or upstream's traditional PEM."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read: {exc.strerror}") from None
    encrypted = b"Proc-Type: 4,ENCRYPTED" in data or b"BEGIN ENCRYPTED PRIVATE KEY" in data
    passwords: list[bytes | None] = (
        [p for p in (secret, UPSTREAM_PASSPHRASE) if p] if encrypted else [None]
    )
    private_key = None
    for password in passwords:
        try:
            private_key = serialization.load_pem_private_key(data, password=password)
            break
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
    if private_key is None:
        why = "wrong secret or damaged file" if encrypted else "not a PEM private key"
        raise KeyFileError(f"{path}: cannot load the key ({why})")
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise KeyFileError(f"{path}: not an RSA key")
    if private_key.key_size < MIN_KEY_BITS:
        raise KeyFileError(
            f"{path}: {private_key.key_size}-bit key is below the minimum of {MIN_KEY_BITS};"
            " remove it to have a new key created"
        )
    return FactoryKey.from_private_key(private_key)


def ensure_key(path: Path, bits: int = DEFAULT_KEY_BITS, secret: bytes | None = None) -> FactoryKey:
    """What reconfig does: create the key only if missing, else read it."""
    path = Path(path)
    if path.exists():
        return read_key(path, secret)
    key = generate_key(bits)
    write_key(path, key, secret)
    return key


@dataclass(frozen=True)
class FactoryKeys:
    """The current key and, during the grace period after a start, the previous one."""

    current: FactoryKey
    old: FactoryKey | None = None
    old_until: float = 0.0

    def for_id(self, key_id: str, now: float | None = None) -> FactoryKey | None:
        """The key a request's `ReqPubKeyID` names, if it is still usable."""
        if key_id == self.current.pub_key_id:
            return self.current
        if key_id == self.old_key_id(now):
            return self.old
        return None

    def old_key_id(self, now: float | None = None) -> str | None:
        """ID of the old key while usable: entries repeat their request query with it."""
        if self.old is None or (time.time() if now is None else now) >= self.old_until:
            return None
        return self.old.pub_key_id


def load_keys(
    work_dir: Path,
    grace: float = DEFAULT_GRACE_SECONDS,
    *,
    rotate: bool = True,
    bits: int = DEFAULT_KEY_BITS,
    secret: bytes | None = None,
    now: float | None = None,
) -> FactoryKeys:
    """Load the keys at factory start, rotating per §2 when `rotate` is set.

    If `rsa.key` is older than `grace` seconds it becomes `rsa.key.bak` and a new key of
    the same length (at least `bits` if new) replaces it. Either way an existing
    `rsa.key.bak` stays usable until `now + grace`. Entry daemons call this with
    `rotate=False` and the factory's start time as `now`.
    """
    now = time.time() if now is None else now
    key_path, old_path = Path(work_dir) / KEY_FILE, Path(work_dir) / OLD_KEY_FILE
    old: FactoryKey | None = None
    if not key_path.exists():
        if not rotate:
            raise KeyFileError(f"{key_path}: no factory key (the factory creates it at start)")
        current = generate_key(bits)
        write_key(key_path, current, secret)
    elif rotate and now - key_path.stat().st_mtime > grace:
        old = read_key(key_path, secret)
        os.replace(key_path, old_path)
        current = generate_key(max(old.bits, MIN_KEY_BITS))
        write_key(key_path, current, secret)
    else:
        current = read_key(key_path, secret)
    if old is None and old_path.exists():
        old = read_key(old_path, secret)
    return FactoryKeys(current, old, now + grace if old else 0.0)


def drop_expired_old_key(
    work_dir: Path, keys: FactoryKeys, now: float | None = None
) -> FactoryKeys:
    """After the grace period: forget the old key and delete `rsa.key.bak` (factory loop)."""
    if keys.old is None or (time.time() if now is None else now) < keys.old_until:
        return keys
    (Path(work_dir) / OLD_KEY_FILE).unlink(missing_ok=True)
    return FactoryKeys(keys.current)
