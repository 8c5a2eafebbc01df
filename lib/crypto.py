"""Request encryption between Frontends and the Factory (spec/security.md §3).

A Frontend picks a symmetric key + IV, sends it RSA-OAEP-encrypted with the factory's
public key as `ReqEncKeyCode`, and CBC-encrypts its identity and secret parameters with
it. This module does both sides: the factory decodes (`decrypt_key_code`,
`decrypt_request`), the frontend simulator and tests encode (`SymKey.generate`,
`encrypt_key_code`). Every decoding failure is one `DecryptError` with a one-line reason,
because the caller's only choice is to skip the ad and log why.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.hazmat.decrepit.ciphers.algorithms import Blowfish, TripleDES
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP
from cryptography.hazmat.primitives.ciphers import BlockCipherAlgorithm, Cipher
from cryptography.hazmat.primitives.ciphers.algorithms import AES
from cryptography.hazmat.primitives.ciphers.modes import CBC

ENC_PARAM_PREFIX = "GlideinEncParam"
DEFAULT_CIPHER = "aes_256_cbc"
KEY_CODE_LABELS = ("cypher", "cipher")

OaepDigest = Literal["sha1", "sha256"]

_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*")


class DecryptError(ValueError):
    """An encrypted request value could not be decoded; the message is one line."""


@dataclass(frozen=True)
class CipherSpec:
    """One row of the cipher table of security.md §3."""

    name: str
    key_len: int
    iv_len: int
    legacy: bool
    algorithm: Callable[[bytes], BlockCipherAlgorithm]


CIPHERS: dict[str, CipherSpec] = {
    spec.name: spec
    for spec in (
        CipherSpec("aes_256_cbc", 32, 16, False, AES),
        CipherSpec("aes_128_cbc", 16, 16, False, AES),
        CipherSpec("bf_cbc", 16, 8, True, Blowfish),
        CipherSpec("des3", 24, 8, True, TripleDES),
        # Single DES is TripleDES with K1 = K2 = K3.
        CipherSpec("des_cbc", 8, 8, True, lambda key: TripleDES(key * 3)),
    )
}


def _oaep(digest: OaepDigest) -> OAEP:
    algorithm = hashes.SHA256() if digest == "sha256" else hashes.SHA1()
    return OAEP(mgf=MGF1(algorithm=algorithm), algorithm=algorithm, label=None)


_OAEP_SHA256 = _oaep("sha256")
_OAEP_SHA1 = _oaep("sha1")


def _from_hex(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise DecryptError(f"{what}: not a string")
    if not _HEX.fullmatch(value):
        raise DecryptError(f"{what}: not an even-length hex string")
    return bytes.fromhex(value)


@dataclass(frozen=True)
class SymKey:
    """A symmetric cipher, key and IV: what a key code carries."""

    cipher: str
    key: bytes
    iv: bytes

    def __post_init__(self) -> None:
        spec = CIPHERS.get(self.cipher)
        if spec is None:
            raise ValueError(f"unknown cipher {self.cipher!r}")
        if len(self.key) != spec.key_len or len(self.iv) != spec.iv_len:
            raise ValueError(
                f"{self.cipher} needs a {spec.key_len}-byte key and {spec.iv_len}-byte IV"
            )

    @classmethod
    def generate(cls, cipher: str = DEFAULT_CIPHER) -> SymKey:
        """A fresh random key and IV (frontend side)."""
        spec = CIPHERS[cipher]
        return cls(cipher, os.urandom(spec.key_len), os.urandom(spec.iv_len))

    def key_code(self, label: str = "cypher") -> str:
        """`cypher:<name>,key:<hex>,iv:<hex>`: the plaintext of `ReqEncKeyCode`."""
        return f"{label}:{self.cipher},key:{self.key.hex()},iv:{self.iv.hex()}"

    def _cipher(self) -> Cipher:
        return Cipher(CIPHERS[self.cipher].algorithm(self.key), CBC(self.iv))

    def encrypt(self, value: str | bytes) -> str:
        """Hex of the CBC encryption of `value` (UTF-8 if text), PKCS#7 padded."""
        data = value.encode("utf-8") if isinstance(value, str) else value
        block_bits = CIPHERS[self.cipher].iv_len * 8
        padder = padding.PKCS7(block_bits).padder()
        padded = padder.update(data) + padder.finalize()
        encryptor = self._cipher().encryptor()
        return (encryptor.update(padded) + encryptor.finalize()).hex()

    def decrypt_bytes(self, hex_value: object, what: str = "value") -> bytes:
        """Inverse of `encrypt`; DecryptError names `what` on any failure."""
        data = _from_hex(hex_value, what)
        block = CIPHERS[self.cipher].iv_len
        if not data or len(data) % block:
            raise DecryptError(
                f"{what}: ciphertext length {len(data)} is not a multiple of {block}"
            )
        decryptor = self._cipher().decryptor()
        padded = decryptor.update(data) + decryptor.finalize()
        unpadder = padding.PKCS7(block * 8).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise DecryptError(f"{what}: bad padding (wrong key or corrupted value)") from None

    def decrypt(self, hex_value: object, what: str = "value") -> str:
        """`decrypt_bytes` decoded as UTF-8 text."""
        try:
            return self.decrypt_bytes(hex_value, what).decode("utf-8")
        except UnicodeDecodeError:
            raise DecryptError(f"{what}: decrypted value is not UTF-8 text") from None


def parse_key_code(code: str, allow_legacy_ciphers: bool = False) -> SymKey:
    """Parse `cypher:<name>,key:<hex>,iv:<hex>`, checking it against the cipher table."""
    fields = code.split(",")
    if len(fields) != 3:
        raise DecryptError(f"key code has {len(fields)} fields, expected 3")
    label, key_field, iv_field = fields
    label_name, _, cipher = label.partition(":")
    if label_name not in KEY_CODE_LABELS:
        raise DecryptError("key code does not start with 'cypher:' or 'cipher:'")
    if not key_field.startswith("key:") or not iv_field.startswith("iv:"):
        raise DecryptError("key code fields are not 'key:' and 'iv:'")
    spec = CIPHERS.get(cipher)
    if spec is None:
        raise DecryptError(f"key code names unknown cipher {cipher[:32]!r}")
    if spec.legacy and not allow_legacy_ciphers:
        raise DecryptError(f"legacy cipher {cipher} refused (allow_legacy_ciphers is off)")
    key = _from_hex(key_field[4:], "key code key")
    iv = _from_hex(iv_field[3:], "key code iv")
    if len(key) != spec.key_len or len(iv) != spec.iv_len:
        raise DecryptError(
            f"key code for {cipher} has a {len(key)}-byte key and {len(iv)}-byte IV,"
            f" expected {spec.key_len} and {spec.iv_len}"
        )
    return SymKey(cipher, key, iv)


def encrypt_key_code(
    public_key: rsa.RSAPublicKey,
    sym_key: SymKey,
    digest: OaepDigest = "sha1",
    label: str = "cypher",
) -> str:
    """`ReqEncKeyCode` (frontend side): OAEP-SHA-1 like 3.10 frontends unless told SHA-256."""
    return public_key.encrypt(sym_key.key_code(label).encode("ascii"), _oaep(digest)).hex()


def decrypt_key_code(
    private_key: rsa.RSAPrivateKey, enc_key_code: object, allow_legacy_ciphers: bool = False
) -> SymKey:
    """Decode `ReqEncKeyCode`: RSA-OAEP with SHA-256, then SHA-1 (security.md §3)."""
    data = _from_hex(enc_key_code, "ReqEncKeyCode")
    if len(data) != private_key.key_size // 8:
        raise DecryptError(
            f"ReqEncKeyCode: {len(data)} bytes, expected {private_key.key_size // 8} for this key"
        )
    for scheme in (_OAEP_SHA256, _OAEP_SHA1):
        try:
            plain = private_key.decrypt(data, scheme)
            break
        except ValueError:
            continue
    else:
        raise DecryptError("ReqEncKeyCode: RSA decryption failed (wrong key or corrupted)")
    try:
        code = plain.decode("ascii")
    except UnicodeDecodeError:
        raise DecryptError("ReqEncKeyCode: key code is not ASCII") from None
    return parse_key_code(code, allow_legacy_ciphers)


class KeyCodeCache:
    """Decoded key codes by (private key, `ReqEncKeyCode`), failures included.

    A frontend sends the same `ReqEncKeyCode` in all its ads to one factory key within a
    cycle, so a process serving many entries pays the RSA decryption (the one expensive
    per-request step) once per frontend and cycle instead of once per ad. Decryption is
    deterministic, so a cached answer is exactly what decrypting again would give.
    Bounded: the oldest entries go first.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: dict[tuple[rsa.RSAPrivateKey, str, bool], SymKey | DecryptError] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def decrypt(
        self, private_key: rsa.RSAPrivateKey, enc_key_code: object, allow_legacy_ciphers: bool
    ) -> SymKey:
        if not isinstance(enc_key_code, str):
            return decrypt_key_code(private_key, enc_key_code, allow_legacy_ciphers)
        slot = (private_key, enc_key_code.lower(), allow_legacy_ciphers)
        result = self._entries.get(slot)
        if result is None:
            try:
                result = decrypt_key_code(private_key, enc_key_code, allow_legacy_ciphers)
            except DecryptError as exc:
                result = exc
            if len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]
            self._entries[slot] = result
        if isinstance(result, DecryptError):
            raise DecryptError(str(result))
        return result


@dataclass(frozen=True)
class DecodedRequest:
    """The decrypted parts of a `glideclient`/`glideclientglobal` ad."""

    sym_key: SymKey
    identity: str
    enc_params: dict[str, str]


def decrypt_request(
    private_key: rsa.RSAPrivateKey,
    ad: Mapping[str, Any],
    allow_legacy_ciphers: bool = False,
    cache: KeyCodeCache | None = None,
) -> DecodedRequest:
    """Checks 1-4 of security.md §4: key code, identity, and every `GlideinEncParam*`.

    Comparing the identity with `AuthenticatedIdentity` is the caller's job (it needs
    the ad's trust context); any undecodable part rejects the whole ad. Pass a
    `KeyCodeCache` kept across ads to decrypt each frontend's key code once.
    """
    if "ReqEncKeyCode" not in ad:
        raise DecryptError("ad has no ReqEncKeyCode")
    if "ReqEncIdentity" not in ad:
        raise DecryptError("ad has no ReqEncIdentity")
    if cache is None:
        sym_key = decrypt_key_code(private_key, ad["ReqEncKeyCode"], allow_legacy_ciphers)
    else:
        sym_key = cache.decrypt(private_key, ad["ReqEncKeyCode"], allow_legacy_ciphers)
    identity = sym_key.decrypt(ad["ReqEncIdentity"], "ReqEncIdentity")
    params = {
        name[len(ENC_PARAM_PREFIX) :]: sym_key.decrypt(value, name)
        for name, value in ad.items()
        if name.startswith(ENC_PARAM_PREFIX) and len(name) > len(ENC_PARAM_PREFIX)
    }
    return DecodedRequest(sym_key, identity, params)


def encrypt_request_fields(
    sym_key: SymKey, enc_key_code: str, identity: str, enc_params: Mapping[str, str]
) -> dict[str, str]:
    """The encrypted attributes of a request ad (frontend side), ready to merge into it.

    `enc_key_code` comes from `encrypt_key_code` once per factory key and cycle: OAEP is
    randomized, and frontends send the same `ReqEncKeyCode` in all ads of a cycle.
    """
    fields = {"ReqEncKeyCode": enc_key_code, "ReqEncIdentity": sym_key.encrypt(identity)}
    for name, value in enc_params.items():
        fields[ENC_PARAM_PREFIX + name] = sym_key.encrypt(value)
    return fields
