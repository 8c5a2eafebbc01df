"""Pool secret and token signing: what the Collector's identity stamping rests on."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from glideinwms_factory.lib.pool.embedded.auth import (
    SECRET_FILE,
    TokenError,
    create_token,
    load_or_create_secret,
    verify_token,
)


def test_secret_is_private_and_stable(tmp_path):
    first = load_or_create_secret(tmp_path)
    assert stat.S_IMODE(os.stat(tmp_path / SECRET_FILE).st_mode) == 0o600
    assert load_or_create_secret(tmp_path) == first
    assert len(first) >= 32


def test_world_readable_secret_is_refused(tmp_path):
    load_or_create_secret(tmp_path)
    os.chmod(tmp_path / SECRET_FILE, 0o644)
    with pytest.raises(TokenError, match="chmod 600"):
        load_or_create_secret(tmp_path)


@pytest.mark.parametrize("content", [b"\xff\xfe not ascii\n", b"not hex\n", b"abcd\n"])
def test_corrupt_secret_is_a_token_error(tmp_path, content):
    (tmp_path / SECRET_FILE).write_bytes(content)
    os.chmod(tmp_path / SECRET_FILE, 0o600)
    with pytest.raises(TokenError, match="secret"):
        load_or_create_secret(tmp_path)


def test_token_round_trip_and_expiry(tmp_path):
    secret = load_or_create_secret(tmp_path)
    claims = verify_token(secret, create_token(secret, "frontend@example.org"))
    assert claims.identity == "frontend@example.org"
    assert claims.expires_at is None
    short = create_token(secret, "frontend@example.org", lifetime=10)
    assert verify_token(secret, short).expires_at is not None
    with pytest.raises(TokenError, match="expired"):
        verify_token(secret, short, now=verify_token(secret, short).expires_at + 1)


def test_forged_identity_fails_signature(tmp_path):
    secret = load_or_create_secret(tmp_path)
    header, claims, signature = create_token(secret, "frontend@example.org").split(".")
    data = json.loads(base64.urlsafe_b64decode(claims + "=="))
    data["sub"] = "factory@example.org"
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenError, match="signature"):
        verify_token(secret, f"{header}.{forged}.{signature}")


def test_other_pools_secret_is_refused(tmp_path):
    token = create_token(load_or_create_secret(tmp_path / "a"), "fe@example.org")
    with pytest.raises(TokenError, match="signature"):
        verify_token(load_or_create_secret(tmp_path / "b"), token)


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c.d", "!!.??.**"])
def test_garbage_tokens_give_one_line_errors(tmp_path, token):
    with pytest.raises(TokenError) as info:
        verify_token(load_or_create_secret(tmp_path), token)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("identity", ["nobody", "a b@c", "x@y;rm -rf /", ""])
def test_bad_identities_are_refused(tmp_path, identity):
    with pytest.raises(TokenError, match="identity"):
        create_token(load_or_create_secret(tmp_path), identity)
