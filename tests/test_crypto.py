"""Tests of request encryption (spec/security.md §3): both sides, every cipher, every failure."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP
from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers.modes import CBC

from glideinwms_factory.lib import crypto
from glideinwms_factory.lib.crypto import DecryptError, SymKey
from glideinwms_factory.lib.factory_key import FactoryKey, generate_key


@pytest.fixture(scope="module")
def key() -> FactoryKey:
    return generate_key()


@pytest.fixture(scope="module")
def other_key() -> FactoryKey:
    return generate_key()


def _public(key: FactoryKey):
    return key.private_key.public_key()


@pytest.mark.parametrize("cipher", sorted(crypto.CIPHERS))
@pytest.mark.parametrize("digest", ["sha1", "sha256"])
def test_round_trip_every_cipher_and_digest(key: FactoryKey, cipher: str, digest: str) -> None:
    sym = SymKey.generate(cipher)
    legacy = crypto.CIPHERS[cipher].legacy
    ad = {
        "Name": "x",
        **crypto.encrypt_request_fields(
            sym,
            crypto.encrypt_key_code(_public(key), sym, digest),
            "fe@example.org",
            {"SecurityName": "fe1", "Entry_A.idtoken": "tok\nwith ünicode"},
        ),
    }
    decoded = crypto.decrypt_request(key.private_key, ad, allow_legacy_ciphers=legacy)
    assert decoded.sym_key == sym
    assert decoded.identity == "fe@example.org"
    assert decoded.enc_params == {"SecurityName": "fe1", "Entry_A.idtoken": "tok\nwith ünicode"}


@pytest.mark.parametrize("cipher", ["bf_cbc", "des3", "des_cbc"])
def test_legacy_ciphers_refused_by_default(key: FactoryKey, cipher: str) -> None:
    enc = crypto.encrypt_key_code(_public(key), SymKey.generate(cipher))
    with pytest.raises(DecryptError, match=f"legacy cipher {cipher} refused"):
        crypto.decrypt_key_code(key.private_key, enc)


def test_default_cipher_is_aes_256_and_key_code_format() -> None:
    sym = SymKey.generate()
    assert sym.cipher == "aes_256_cbc" and len(sym.key) == 32 and len(sym.iv) == 16
    assert sym.key_code() == f"cypher:aes_256_cbc,key:{sym.key.hex()},iv:{sym.iv.hex()}"


def test_known_aes_vector_and_uppercase_hex() -> None:
    # NIST SP 800-38A F.2.5 (CBC-AES256) first block, plus one block of PKCS#7 padding.
    sym = SymKey(
        "aes_256_cbc",
        bytes.fromhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"),
        bytes.fromhex("000102030405060708090a0b0c0d0e0f"),
    )
    plain = bytes.fromhex("6bc1bee22e409f96e93d7e117393172a")
    enc = sym.encrypt(plain)
    assert enc.startswith("f58c4c04d6e5f1ba779eabfb5f7bfbd6")
    assert len(enc) == 64
    assert sym.decrypt_bytes(enc.upper()) == plain


def test_v311_cipher_label_and_mixed_case_key_code(key: FactoryKey) -> None:
    sym = SymKey.generate("aes_128_cbc")
    code = f"cipher:aes_128_cbc,key:{sym.key.hex().upper()},iv:{sym.iv.hex()}"
    enc = _public(key).encrypt(
        code.encode(), OAEP(mgf=MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    )
    assert crypto.decrypt_key_code(key.private_key, enc.hex().upper()) == sym


def test_wrong_key_is_decrypt_error(key: FactoryKey, other_key: FactoryKey) -> None:
    enc = crypto.encrypt_key_code(_public(other_key), SymKey.generate())
    with pytest.raises(DecryptError, match="RSA decryption failed"):
        crypto.decrypt_key_code(key.private_key, enc)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("cypher:aes_256_cbc,key:00,iv:00,extra:1", "4 fields"),
        ("cypher:aes_256_cbc,key:00", "2 fields"),
        ("cypher:aes_256_cbc,key:" + "00" * 32 + ",iv:" + "00" * 15, "expected 32 and 16"),
        ("cypher:aes_128_cbc,key:" + "00" * 32 + ",iv:" + "00" * 16, "expected 16 and 16"),
        ("cypher:rc4,key:00,iv:00", "unknown cipher"),
        ("label:aes_256_cbc,key:00,iv:00", "does not start with"),
        ("cypher:aes_256_cbc,kee:00,iv:00", "fields are not"),
        ("cypher:aes_256_cbc,key:zz,iv:00", "not an even-length hex"),
        ("cypher:aes_256_cbc,key:000,iv:00", "not an even-length hex"),
    ],
)
def test_bad_key_codes(key: FactoryKey, code: str, reason: str) -> None:
    enc = _public(key).encrypt(
        code.encode(), OAEP(mgf=MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    )
    with pytest.raises(DecryptError, match=reason):
        crypto.decrypt_key_code(key.private_key, enc.hex())


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("xyz", "not an even-length hex"),
        ("ab cd", "not an even-length hex"),
        (17, "not a string"),
        ("00" * 10, "bytes, expected 256"),  # truncated
    ],
)
def test_bad_enc_key_code_values(key: FactoryKey, value: object, reason: str) -> None:
    with pytest.raises(DecryptError, match=reason):
        crypto.decrypt_key_code(key.private_key, value)


def test_truncated_bad_padding_and_bad_hex_values() -> None:
    sym = SymKey.generate()
    other = SymKey.generate()
    enc = sym.encrypt("hello world")
    with pytest.raises(DecryptError, match="not a multiple of 16"):
        sym.decrypt(enc[:-2], "ReqEncIdentity")
    with pytest.raises(DecryptError, match="not a multiple of 16"):
        sym.decrypt("", "ReqEncIdentity")
    with pytest.raises(DecryptError, match=r"^ReqEncIdentity: not an even-length hex"):
        sym.decrypt(enc + "g0", "ReqEncIdentity")
    # A wrong key almost always yields bad padding; find one that does deterministically.
    bad = next(v for v in (other.encrypt(str(i)) for i in range(50)) if _bad_padding(sym, v))
    with pytest.raises(DecryptError, match="bad padding"):
        sym.decrypt(bad, "GlideinEncParamX")
    raw_block = sym.encrypt(b"\xff\xfe")
    with pytest.raises(DecryptError, match="not UTF-8"):
        sym.decrypt(raw_block)


def _bad_padding(sym: SymKey, value: str) -> bool:
    try:
        sym.decrypt_bytes(value)
    except DecryptError:
        return True
    return False


@pytest.mark.parametrize("cipher", sorted(crypto.CIPHERS))
def test_decrypt_many_equals_one_context_per_value(cipher: str) -> None:
    # The reference: a fresh CBC context per value, as a Frontend encrypts each one.
    sym = SymKey.generate(cipher)
    values = [bytes(range(n)) * 3 for n in (0, 1, 7, 8, 15, 16, 17, 40, 64)]
    named = [(f"v{n}", sym.encrypt(value)) for n, value in enumerate(values)]
    spec = crypto.CIPHERS[cipher]
    for (_, hex_value), value in zip(named, values, strict=True):
        decryptor = Cipher(spec.algorithm(sym.key), CBC(sym.iv)).decryptor()
        padded = decryptor.update(bytes.fromhex(hex_value)) + decryptor.finalize()
        assert padded[: -padded[-1]] == value
    assert sym.decrypt_many(named) == values
    # A value cut short or from another key is named, wherever it sits among the others.
    other = SymKey.generate(cipher)
    bad = next(v for v in (other.encrypt(str(i)) for i in range(50)) if _bad_padding(sym, v))
    with pytest.raises(DecryptError, match=r"^v3: bad padding"):
        sym.decrypt_many([*named[:3], ("v3", bad), *named[4:]])
    with pytest.raises(DecryptError, match=r"^v5: ciphertext length"):
        sym.decrypt_many([*named[:5], ("v5", named[5][1][:-2]), *named[6:]])


def test_request_missing_or_undecodable_parts(key: FactoryKey) -> None:
    sym = SymKey.generate()
    enc = crypto.encrypt_key_code(_public(key), sym)
    good = crypto.encrypt_request_fields(sym, enc, "fe@x", {"SecurityName": "fe1"})
    with pytest.raises(DecryptError, match="no ReqEncKeyCode"):
        crypto.decrypt_request(key.private_key, {"ReqEncIdentity": good["ReqEncIdentity"]})
    with pytest.raises(DecryptError, match="no ReqEncIdentity"):
        crypto.decrypt_request(key.private_key, {"ReqEncKeyCode": good["ReqEncKeyCode"]})
    broken = {**good, "GlideinEncParamSecurityClass": "00" * 15}
    with pytest.raises(DecryptError, match="GlideinEncParamSecurityClass"):
        crypto.decrypt_request(key.private_key, broken)


def test_symkey_refuses_wrong_sizes() -> None:
    with pytest.raises(ValueError, match="32-byte key"):
        SymKey("aes_256_cbc", b"1" * 16, b"2" * 16)
    with pytest.raises(ValueError, match="unknown cipher"):
        SymKey("rot13", b"", b"")


def test_padding_preference_costs_one_rsa_operation_per_request(
    key: FactoryKey, other_key: FactoryKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client's padding is remembered: after its first request, one RSA decryption each."""
    calls: list[str] = []
    real = type(key.private_key).decrypt

    def counting(self, data, scheme):  # type: ignore[no-untyped-def]
        calls.append(scheme.algorithm.name)
        return real(self, data, scheme)

    monkeypatch.setattr(type(key.private_key), "decrypt", counting)
    padding = crypto.OaepPreference(max_clients=2)

    def ad(digest: str, client: str) -> dict[str, str]:
        sym = SymKey.generate()  # a fresh key code per ad, as real Frontends do
        enc = crypto.encrypt_key_code(_public(key), sym, digest)  # type: ignore[arg-type]
        fields = crypto.encrypt_request_fields(sym, enc, "fe@x", {"SecurityName": "fe1"})
        return {**fields, "AuthenticatedIdentity": "fe@x", "ClientName": client}

    for _ in range(3):
        assert crypto.decrypt_request(key.private_key, ad("sha1", "fe.a"), padding=padding)
    assert calls == ["sha256", "sha1", "sha1", "sha1"]  # one miss, then one each
    calls.clear()
    for _ in range(2):
        crypto.decrypt_request(key.private_key, ad("sha256", "fe.b"), padding=padding)
    assert calls == ["sha256", "sha256"]
    calls.clear()
    # The client switched lines: one fallback, then the new padding is first.
    crypto.decrypt_request(key.private_key, ad("sha256", "fe.a"), padding=padding)
    crypto.decrypt_request(key.private_key, ad("sha256", "fe.a"), padding=padding)
    assert calls == ["sha1", "sha256", "sha256"]
    # A failure teaches nothing; the bound evicts the oldest client.
    bad = ad("sha1", "fe.c")
    bad["ReqEncKeyCode"] = crypto.encrypt_key_code(_public(other_key), SymKey.generate(), "sha1")
    with pytest.raises(DecryptError, match="RSA decryption failed"):
        crypto.decrypt_request(key.private_key, bad, padding=padding)
    assert len(padding) == 2
    crypto.decrypt_request(key.private_key, ad("sha1", "fe.c"), padding=padding)
    assert len(padding) == 2


def test_pickled_values_stay_bytes_and_text_stays_text(key: FactoryKey) -> None:
    sym = SymKey.generate()
    enc = crypto.encrypt_key_code(_public(key), sym, "sha256")
    pickled = b"\x80\x04]."
    ad = crypto.encrypt_request_fields(sym, enc, "fe@x", {"SecurityName": "fe1"})
    ad["GlideinEncParamAuthSet"] = sym.encrypt(pickled)
    decoded = crypto.decrypt_request(key.private_key, ad)
    assert decoded.pickled == {"AuthSet": pickled} and decoded.enc_params == {"SecurityName": "fe1"}
    ad["GlideinEncParamSecurityClass"] = sym.encrypt(pickled)
    with pytest.raises(DecryptError, match="SecurityClass: a pickle where text belongs"):
        crypto.decrypt_request(key.private_key, ad)
    del ad["GlideinEncParamSecurityClass"]
    ad["GlideinEncParamRequestCredentials"] = sym.encrypt("scitoken text")
    with pytest.raises(DecryptError, match=r"RequestCredentials: text where 3\.11 sends a pickle"):
        crypto.decrypt_request(key.private_key, ad)
