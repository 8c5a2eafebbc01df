"""Request encryption between Frontends and the Factory (spec/security.md §3).

A Frontend picks a symmetric key + IV, sends it RSA-OAEP-encrypted with the factory's
public key as `ReqEncKeyCode`, and CBC-encrypts its identity and secret parameters with
it. This module does both sides: the factory decodes (`decrypt_key_code`,
`decrypt_request`), the frontend simulator and tests encode (`SymKey.generate`,
`encrypt_key_code`). Every decoding failure is one `DecryptError` with a one-line reason,
because the caller's only choice is to skip the ad and log why.
"""

from __future__ import annotations

import binascii
import functools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
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
    try:  # unlike bytes.fromhex, skips no whitespace (and is faster on long values)
        return binascii.unhexlify(value)
    except ValueError:
        raise DecryptError(f"{what}: not an even-length hex string") from None


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

    def _context(self) -> Cipher:
        return Cipher(CIPHERS[self.cipher].algorithm(self.key), CBC(self.iv))

    def encrypt(self, value: str | bytes) -> str:
        """Hex of the CBC encryption of `value` (UTF-8 if text), PKCS#7 padded."""
        data = value.encode("utf-8") if isinstance(value, str) else value
        block_bits = CIPHERS[self.cipher].iv_len * 8
        padder = padding.PKCS7(block_bits).padder()
        padded = padder.update(data) + padder.finalize()
        encryptor = self._context().encryptor()
        return (encryptor.update(padded) + encryptor.finalize()).hex()

    def decrypt_bytes(self, hex_value: object, what: str = "value") -> bytes:
        """Inverse of `encrypt`; DecryptError names `what` on any failure."""
        return self.decrypt_many(((what, hex_value),))[0]

    def decrypt_many(self, named: Sequence[tuple[str, object]]) -> list[bytes]:
        """`decrypt_bytes` of each (what, hex value), through one cipher context.

        A request's values are all encrypted from the same IV, and one context per value
        cost as much as the rest of the checks together. CBC chains each block to the
        ciphertext block before it: with the IV put between values, every value's first
        block is chained to the IV as its own context would; the IV blocks are dropped.
        """
        block = CIPHERS[self.cipher].iv_len
        datas = []
        for what, hex_value in named:
            data = _from_hex(hex_value, what)
            if not data or len(data) % block:
                raise DecryptError(
                    f"{what}: ciphertext length {len(data)} is not a multiple of {block}"
                )
            datas.append(data)
        decryptor = self._context().decryptor()
        plaintext = decryptor.update(self.iv.join(datas)) + decryptor.finalize()
        values, pos = [], 0
        for (what, _), data in zip(named, datas, strict=True):
            end = pos + len(data)
            pad = plaintext[end - 1]  # PKCS#7: n bytes of value n, 1 <= n <= block
            if not 1 <= pad <= block or plaintext.count(pad, end - pad, end) != pad:
                raise DecryptError(f"{what}: bad padding (wrong key or corrupted value)")
            values.append(plaintext[pos : end - pad])
            pos = end + block  # past the IV block between values
        return values

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


def _decrypt_key_code(
    private_key: rsa.RSAPrivateKey,
    enc_key_code: object,
    allow_legacy_ciphers: bool,
    prefer: OaepDigest,
) -> tuple[SymKey, OaepDigest]:
    data = _from_hex(enc_key_code, "ReqEncKeyCode")
    if len(data) != private_key.key_size // 8:
        raise DecryptError(
            f"ReqEncKeyCode: {len(data)} bytes, expected {private_key.key_size // 8} for this key"
        )
    order: tuple[OaepDigest, OaepDigest] = (
        ("sha256", "sha1") if prefer == "sha256" else ("sha1", "sha256")
    )
    for digest in order:
        try:
            plain = private_key.decrypt(data, _OAEP_SHA256 if digest == "sha256" else _OAEP_SHA1)
            break
        except ValueError:
            continue
    else:
        raise DecryptError("ReqEncKeyCode: RSA decryption failed (wrong key or corrupted)")
    try:
        code = plain.decode("ascii")
    except UnicodeDecodeError:
        raise DecryptError("ReqEncKeyCode: key code is not ASCII") from None
    return parse_key_code(code, allow_legacy_ciphers), digest


def decrypt_key_code(
    private_key: rsa.RSAPrivateKey,
    enc_key_code: object,
    allow_legacy_ciphers: bool = False,
    prefer: OaepDigest = "sha256",
) -> SymKey:
    """Decode `ReqEncKeyCode`: RSA-OAEP with `prefer`, then the other digest (security.md §3).

    3.11 Frontends use SHA-256, 3.10 ones SHA-1; the padding cannot be told from the
    ciphertext, so a wrong first guess costs a second RSA operation.
    """
    return _decrypt_key_code(private_key, enc_key_code, allow_legacy_ciphers, prefer)[0]


class OaepPreference:
    """The OAEP digest that last worked for each client, tried first next time.

    A Frontend sends a fresh `ReqEncKeyCode` in every ad (OAEP is randomized), so no
    cache of decoded key codes ever hits; what repeats is the client's padding. With
    this, each request costs one RSA private operation once its client has been seen.
    Clients are keyed by who the Collector says advertised (never by request content
    alone), so one advertiser cannot make another's requests cost two. Bounded.
    """

    def __init__(self, max_clients: int = 4096) -> None:
        self.max_clients = max_clients
        self._last: dict[tuple[str, str], OaepDigest] = {}

    def __len__(self) -> int:
        return len(self._last)

    @staticmethod
    def client(ad: Mapping[str, Any]) -> tuple[str, str]:
        return str(ad.get("AuthenticatedIdentity", "")), str(ad.get("ClientName", ""))

    def decrypt(
        self,
        private_key: rsa.RSAPrivateKey,
        ad: Mapping[str, Any],
        allow_legacy_ciphers: bool,
    ) -> SymKey:
        client = self.client(ad)
        prefer = self._last.get(client, "sha256")
        sym_key, used = _decrypt_key_code(
            private_key, ad["ReqEncKeyCode"], allow_legacy_ciphers, prefer
        )
        if used != prefer or client not in self._last:
            if client not in self._last and len(self._last) >= self.max_clients:
                del self._last[next(iter(self._last))]
            self._last[client] = used
        return sym_key


# Values a 3.11 Frontend sends as pickles (protocol-311.md §2); every other one is text.
PICKLED_PARAMS = frozenset(
    {"AuthSet", "RequestCredentials", "PayloadCredentials", "SecurityParameters"}
)
PICKLE_START = b"\x80"  # PROTO opcode; never the first byte of UTF-8 text


@dataclass(frozen=True)
class DecodedRequest:
    """The decrypted parts of a `glideclient`/`glideclientglobal` ad.

    `pickled` holds the 3.11 pickled values still as bytes: they are read (safely) only
    after the request has passed the identity and frontend.descript checks.
    """

    sym_key: SymKey
    identity: str
    enc_params: dict[str, str]
    pickled: dict[str, bytes] = field(default_factory=dict)


@functools.lru_cache(maxsize=256)
def enc_param_names(names: tuple[str, ...]) -> tuple[str, ...]:
    """The `GlideinEncParam*` names among an ad's attribute names. A Frontend's ads have
    the same names every cycle: they are sorted out once, not in every request."""
    skip = len(ENC_PARAM_PREFIX)
    return tuple(name for name in names if name.startswith(ENC_PARAM_PREFIX) and len(name) > skip)


def decrypt_sym_key(
    private_key: rsa.RSAPrivateKey,
    ad: Mapping[str, Any],
    allow_legacy_ciphers: bool = False,
    padding: OaepPreference | None = None,
) -> SymKey:
    """Check 1 of security.md §4: the symmetric key of the ad's `ReqEncKeyCode`, the one
    RSA operation of a request. Pass an `OaepPreference` kept across ads to pay one RSA
    operation per request."""
    if "ReqEncKeyCode" not in ad:
        raise DecryptError("ad has no ReqEncKeyCode")
    if padding is None:
        return decrypt_key_code(private_key, ad["ReqEncKeyCode"], allow_legacy_ciphers)
    return padding.decrypt(private_key, ad, allow_legacy_ciphers)


def decrypt_fields(sym_key: SymKey, ad: Mapping[str, Any]) -> DecodedRequest:
    """Checks 2-4 of security.md §4 with the ad's symmetric key: the identity and every
    `GlideinEncParam*` (any undecodable part rejects the whole ad)."""
    if "ReqEncIdentity" not in ad:
        raise DecryptError("ad has no ReqEncIdentity")
    names = enc_param_names(tuple(ad))
    identity, *values = sym_key.decrypt_many(
        [("ReqEncIdentity", ad["ReqEncIdentity"]), *[(name, ad[name]) for name in names]]
    )
    try:
        identity_text = identity.decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptError("ReqEncIdentity: decrypted value is not UTF-8 text") from None
    params: dict[str, str] = {}
    pickled: dict[str, bytes] = {}
    skip = len(ENC_PARAM_PREFIX)
    for name, data in zip(names, values, strict=True):
        short = name[skip:]
        if short in PICKLED_PARAMS:
            if not data.startswith(PICKLE_START):
                raise DecryptError(f"{name}: text where 3.11 sends a pickle")
            pickled[short] = data
            continue
        if data.startswith(PICKLE_START):
            raise DecryptError(f"{name}: a pickle where text belongs")
        try:
            params[short] = data.decode("utf-8")
        except UnicodeDecodeError:
            raise DecryptError(f"{name}: decrypted value is not UTF-8 text") from None
    return DecodedRequest(sym_key, identity_text, params, pickled)


def decrypt_request(
    private_key: rsa.RSAPrivateKey,
    ad: Mapping[str, Any],
    allow_legacy_ciphers: bool = False,
    padding: OaepPreference | None = None,
) -> DecodedRequest:
    """Checks 1-4 of security.md §4: key code, identity, and every `GlideinEncParam*`.

    Comparing the identity with `AuthenticatedIdentity` is the caller's job (it needs
    the ad's trust context). An ad without an encrypted identity costs no RSA operation.
    """
    if "ReqEncKeyCode" in ad and "ReqEncIdentity" not in ad:
        raise DecryptError("ad has no ReqEncIdentity")
    return decrypt_fields(decrypt_sym_key(private_key, ad, allow_legacy_ciphers, padding), ad)


def encrypt_request_fields(
    sym_key: SymKey, enc_key_code: str, identity: str, enc_params: Mapping[str, str | bytes]
) -> dict[str, str]:
    """The encrypted attributes of a request ad (frontend side), ready to merge into it.

    Frontends use one symmetric key per factory key and cycle, and RSA-encrypt it anew
    (`encrypt_key_code`, randomized OAEP) for every ad. Bytes values are 3.11 pickles.
    """
    fields = {"ReqEncKeyCode": enc_key_code, "ReqEncIdentity": sym_key.encrypt(identity)}
    for name, value in enc_params.items():
        fields[ENC_PARAM_PREFIX + name] = sym_key.encrypt(value)
    return fields
