"""Tests of the factory key (spec/security.md §2): creation, storage, rotation, ad form."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from glideinwms_factory.lib import factory_key as fk

# Made with `openssl genrsa -aes256 -passout pass:default -traditional 2048`, as upstream stores
# rsa.key; its public half from `openssl rsa -pubout`, and the ID from
# `(printf 'RSA '; cat pub.pem) | md5sum` — all computed outside this project.
UPSTREAM_KEY = """-----BEGIN RSA PRIVATE KEY-----
Proc-Type: 4,ENCRYPTED
DEK-Info: AES-256-CBC,B074260BD32FB83482E53C4D60D3D961

ujtLXtFNk2elDkj7NindBk8iky5p/KqHVUBI+xISUDCKliNwcksAhrAwYVUDZY2h
EmCF4eNop+J7XA+B0RgWEz7Ltzp8j8lmyh6QcG+JkJ5kpVxiMmhCKatD5cBg/g58
qU3kIQdqzcZ5k/5M2YxZ+yaQstEv139LIbla0GlwPMDgPFkdFUPn5FBOxgrAjJ6g
+DhGHgHB/1MSaPptCZH21fH7TxX6LHYeSryhcH/EML6wPuM4GDrAkr8oRqMmuGkh
CDnYRAIadYe9//bfAY5U8ra2l0Gy5tPt3LRMyWBDM/3JYySBwM+nccb1bstf05L0
fA7tOGptoqJ1UY/7hblTQyrqIyzbPtQwl1VIuB/hn8j4W2CUFDp/Z+oPWpQidda5
KRswVNcfBMlRSRL8PWM8kC+JneDWEX6XurAMrxLs6dhMrZFBpzmyCs3DlsvzLL+f
W2puyZfymHaRFtYqxKND0NyP2BbQRvkzTnDLJ7MOhWJ2Ojzbq9BSLpnK1aRtetbp
lfPO+Agv247On56KDugFJ0mQvS2WiTQon396BDv8sIwCoW4IzFY+w8/qKpANOLqg
eSh+XMe39JpwhOluZb6PvYD77EhOyyKnfwDGDtSH/cm7a0rPHLPc7OH8b9ZN7W0u
kjvHLvchXeL7C2ZzUo0bc09P68i0+zMtDu7tSI7ziS9F7Cs6STeXFwJ8oEgRtrad
fp2p7w8HaC09ne1r3dZg2KD9s9YGu6a5R5Z87z9BnvDQ4C3ZLmVEKqSZlJ+M/NgY
LRvlJx4S9h//AGYo7yZLQAc9zqhzSUPgkKLeJqBrkqk0MptT6kBgidfmStnFUaOE
kGZUn64WvNQfd0np2V7QR3TEGOwy9tTDmOxKt2ZBv/fpk5QYRAYzLSN8HefrFrOw
W3WrRNcXoNartVq3A5ef0jpRvA3g/QyRtVHhQTJYtNIkzIfltQxZF/JVDVll1fd9
ILJ5mW1WFu4AAK/HwvYUScUHciGFd+AFvp6k8fD6E5FKofVSlWMvcodfTyxefmaq
+3SkIADS8pkGbif44fqy8nsb1icCoo5Vk+Ao9cf6Zx9vUqSy6kRxctw7+9xkdwNK
HdCQVKKTgDFBhBZTkWri3OedM4qZN74cV/WZ9C9ZGkNnY6RMgHeEIw0zpGAcnSoe
7YWnUdeTiQvZm7bnW2ki4rproJNA5iIUedh/9xPi1BStFqsUDRvnw+lBIJpmZSii
P1u8c5qMABUKxAAynQUF/6dtdIt3e8bjZW0xR27dkAyiIH0i7xZ+o1KZIC1FNKPZ
QxVd7kgw1jlEaH4KbzteqT8D/VhkP1yUnObW954NOLK4UUCm+HmJeDYaCJHNpTnj
c+D5WmQGTz6cD15Qi1T/R6Zn0b619S5QkhxkKQvvpL1hedfpwl5+zOuNvCqExDHz
rgpoiePbAJHBO6cmG4Jmb5PRXxkDmwK55Cqsq+SgU1fkl0e+8HOZViIgO9/qJoH4
wsCGZWiHFUg1+4vsq9sok2WX5rHGeOeJHPuD5Wu0L/Va4gFAQ32PeA4oY4l8Z6HQ
/FE5hmX2RJByUa1wvC6aByPwtf3mNfQEJorAHWEM6a7JHlOfyXmo9sboYiSOxVKX
-----END RSA PRIVATE KEY-----
"""
UPSTREAM_PUB = """-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAt3tHfBNj+sPqU/ZSOSc4
ASli/4LVKrpiTQVG5u09gKh9gtapFUYsm2sAAwH3jIyi12JSy91zTvXGyEZPq0Cm
FlhTVmIUhgGynNXbb/Wtht+j2PgrgvjwDMn33bAKq2UaX9HVPipCO2eUlXB//2bt
gRSzwD4b0bhjlpDax8pFGKRtWGtPI13qSBGfRcnCOCXziodPkxC1k19yosy8riLD
FMjSF8RkQkf3ALLWKpvqbQxebtByB4CQCUUJZCDMgiAzcyCUffVylID9zVS69oip
SqDfhjZVgNqH4pJdystYkJPIsG0OiVljW72hrLp/UzaPZLStGIWF3UnTZRRH7yiZ
SwIDAQAB
-----END PUBLIC KEY-----
"""
UPSTREAM_PUB_ID = "3a5e80c1b596ee9f994b1f7081457949"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def key() -> fk.FactoryKey:
    return fk.generate_key()


def test_upstream_traditional_key_is_readable_and_matches_openssl(tmp_path: Path) -> None:
    path = tmp_path / "rsa.key"
    path.write_text(UPSTREAM_KEY)
    loaded = fk.read_key(path)
    assert loaded.bits == 2048
    assert loaded.pub_key_pem == UPSTREAM_PUB
    assert loaded.pub_key_id == UPSTREAM_PUB_ID
    assert fk.pub_key_id(UPSTREAM_PUB) == UPSTREAM_PUB_ID


def test_pub_key_pem_layout_is_upstreams(key: fk.FactoryKey) -> None:
    lines = key.pub_key_pem.split("\n")
    assert lines[0] == "-----BEGIN PUBLIC KEY-----"
    assert lines[-2] == "-----END PUBLIC KEY-----" and lines[-1] == ""
    assert all(len(line) == 64 for line in lines[1:-3])
    assert 0 < len(lines[-3]) <= 64


def test_ad_attributes_escape_newlines_and_frontends_undo_it(key: fk.FactoryKey) -> None:
    attrs = key.ad_attributes()
    assert attrs["PubKeyType"] == "RSA" and attrs["PubKeyID"] == key.pub_key_id
    assert "\n" not in attrs["PubKeyValue"] and attrs["PubKeyValue"].endswith("\\n")
    assert fk.pem_from_ad_value(attrs["PubKeyValue"]) == key.pub_key_pem
    # Frontends turn any run of backslashes before n into a newline.
    assert fk.pem_from_ad_value(attrs["PubKeyValue"].replace("\\n", "\\\\n")) == key.pub_key_pem
    assert fk.load_public_key(key.pub_key_pem).public_numbers() == (
        key.private_key.public_key().public_numbers()
    )


def test_short_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="minimum of 2048"):
        fk.generate_key(1024)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    short = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    path = tmp_path / "rsa.key"
    path.write_bytes(
        short.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(fk.KeyFileError, match="1024-bit key is below"):
        fk.read_key(path)


def test_generated_key_exponent(key: fk.FactoryKey) -> None:
    assert key.private_key.public_key().public_numbers().e == 65537


@pytest.mark.parametrize("secret", [None, b"s3cret"])
def test_write_is_pkcs8_0600_and_reads_back(tmp_path: Path, key: fk.FactoryKey, secret) -> None:
    path = tmp_path / "rsa.key"
    old_umask = os.umask(0)  # a permissive umask must not widen the mode
    try:
        fk.write_key(path, key, secret)
    finally:
        os.umask(old_umask)
    assert _mode(path) == 0o600
    text = path.read_text()
    assert text.startswith(
        "-----BEGIN ENCRYPTED PRIVATE KEY-----" if secret else "-----BEGIN PRIVATE KEY-----"
    )
    assert fk.read_key(path, secret).pub_key_id == key.pub_key_id
    assert [p.name for p in tmp_path.iterdir()] == ["rsa.key"]  # no temp file left behind


def test_wrong_secret_and_garbage_are_one_line_errors(tmp_path: Path, key: fk.FactoryKey) -> None:
    path = tmp_path / "rsa.key"
    fk.write_key(path, key, b"right")
    with pytest.raises(fk.KeyFileError, match="wrong secret") as info:
        fk.read_key(path, b"wrong")
    assert "\n" not in str(info.value)
    path.write_text("hello\n")
    with pytest.raises(fk.KeyFileError, match="not a PEM private key"):
        fk.read_key(path)
    with pytest.raises(fk.KeyFileError, match="cannot read"):
        fk.read_key(tmp_path / "missing.key")


def test_ensure_key_creates_once(tmp_path: Path) -> None:
    path = tmp_path / "rsa.key"
    first = fk.ensure_key(path)
    assert _mode(path) == 0o600
    assert fk.ensure_key(path).pub_key_id == first.pub_key_id


def test_rotation_of_an_old_key_and_grace_period(tmp_path: Path) -> None:
    path = tmp_path / fk.KEY_FILE
    path.write_text(UPSTREAM_KEY)
    now = path.stat().st_mtime + 1000  # older than the 900 s grace
    keys = fk.load_keys(tmp_path, grace=900, now=now)
    assert keys.current.pub_key_id != UPSTREAM_PUB_ID and keys.current.bits == 2048
    assert keys.old is not None and keys.old.pub_key_id == UPSTREAM_PUB_ID
    assert _mode(path) == 0o600
    assert (tmp_path / fk.OLD_KEY_FILE).read_text() == UPSTREAM_KEY
    # Old key usable during the grace period, then gone with its file.
    assert keys.for_id(UPSTREAM_PUB_ID, now=now + 899) is keys.old
    assert keys.old_key_id(now=now + 899) == UPSTREAM_PUB_ID
    assert keys.for_id(UPSTREAM_PUB_ID, now=now + 900) is None
    assert keys.for_id(keys.current.pub_key_id) is keys.current
    assert keys.for_id("0" * 32) is None
    assert fk.drop_expired_old_key(tmp_path, keys, now=now + 10) is keys
    assert (tmp_path / fk.OLD_KEY_FILE).exists()
    dropped = fk.drop_expired_old_key(tmp_path, keys, now=now + 900)
    assert dropped.old is None and dropped.old_key_id(now=now) is None
    assert not (tmp_path / fk.OLD_KEY_FILE).exists()
    # An entry started later sees the same current key and the previous one, no rotation.
    entry_keys = fk.load_keys(tmp_path, grace=900, rotate=False, now=now)
    assert entry_keys.current.pub_key_id == keys.current.pub_key_id


def test_recent_key_is_kept_and_missing_key_created(tmp_path: Path) -> None:
    created = fk.load_keys(tmp_path, grace=900)
    assert created.old is None and _mode(tmp_path / fk.KEY_FILE) == 0o600
    again = fk.load_keys(tmp_path, grace=900)
    assert again.current.pub_key_id == created.current.pub_key_id
    with pytest.raises(fk.KeyFileError, match="no factory key"):
        fk.load_keys(tmp_path / "empty", rotate=False)


def test_unwritable_directory_is_key_file_error(tmp_path: Path, key: fk.FactoryKey) -> None:
    with pytest.raises(fk.KeyFileError, match="cannot write"):
        fk.write_key(tmp_path / "missing-dir" / "rsa.key", key)
