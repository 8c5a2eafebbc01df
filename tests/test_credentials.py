"""Credentials on disk: 0600, atomic replacement with the previous kept, safe names only."""

import stat

import pytest

from glideinwms_factory.entry import credentials
from glideinwms_factory.entry.protocol_311 import Credentials311
from glideinwms_factory.lib import credential_objects
from glideinwms_factory.lib.credential_objects import AuthSet, CredentialPurpose, CredentialType


def test_stored_0600_replaced_and_previous_kept(tmp_path):
    path = credentials.credential_path(tmp_path, "vofe", "gtest", "fe.main", "ABCDEFGH")
    assert path == tmp_path / "user_vofe" / "glidein_gtest" / "credential_fe.main_ABCDEFGH"
    assert credentials.store(path, "proxy v1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not credentials.store(path, "proxy v1")  # unchanged: nothing written
    assert credentials.store(path, "proxy v2")
    assert path.read_text() == "proxy v2"
    assert path.with_name(path.name + ".old").read_text() == "proxy v1"
    assert stat.S_IMODE(path.with_name(path.name + ".old").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("user", "client", "cred"),
    [("../etc", "fe.main", "X"), ("vofe", "a/b", "X"), ("vofe", "fe", ".."), ("vofe", "fe", "")],
)
def test_unsafe_names_never_become_paths(tmp_path, user, client, cred):
    with pytest.raises(credentials.CredentialError):
        credentials.credential_path(tmp_path, user, "gtest", client, cred)


def test_a_name_too_long_for_the_file_system_is_refused_in_one_line(tmp_path):
    """A 300-character client name (a hostile or broken Frontend) would make a file name
    the file system refuses (255 bytes); it is refused before, with a short reason."""
    longest = "c" * (credentials.MAX_NAME_BYTES - len("credential__X"))
    path = credentials.credential_path(tmp_path, "vofe", "gtest", longest, "X")
    assert credentials.store(path, "token")  # its temporary file fits as well
    with pytest.raises(credentials.CredentialError) as refused:
        credentials.credential_path(tmp_path, "vofe", "gtest", "c" * 300, "ce1.scitoken")
    reason = str(refused.value)
    assert reason.endswith(f"would be {300 + len('credential__ce1.scitoken')} bytes, over 245")
    assert len(reason) < 120


def test_a_3_11_request_with_a_name_too_long_is_refused_before_any_file(tmp_path):
    """A 3.11 request's files are named by client, credential id and entry, then slot and
    type (`store_311`), so long client and entry names (the fuzz run of upstream's 3.11
    request writer drew 120-character ones) can make only some of them too long: here the
    request SciToken's name fits and the payload symmetric key's does not. Refused in one
    line before anything is written (was the file system's `File name too long` with the
    whole path, after the request file had been written)."""
    token = credential_objects.Credential(
        CredentialType.SCITOKEN, "eyJ.eyJ.c2ln", CredentialPurpose.REQUEST
    )
    key = credential_objects.Credential(
        CredentialType.SYMMETRIC_KEY, "cipher:aes_256_cbc,key:00", CredentialPurpose.PAYLOAD
    )
    creds = Credentials311(AuthSet(frozenset({CredentialType.SCITOKEN})), (token,), (key,), ())
    fixed = len("credential_.request0.scitoken")
    prefix = "fe.g_ABCDEFGH." + "e" * (credentials.MAX_NAME_BYTES - fixed - len("fe.g_ABCDEFGH."))
    with pytest.raises(credentials.CredentialError) as refused:
        credentials.store_311(tmp_path / "creds", prefix, creds)
    reason = str(refused.value)
    assert reason.endswith(
        f"would be {len(prefix) + len('credential_.payload0.symmetric_key')} bytes, over 245"
    )
    assert len(reason) < 120
    assert not (tmp_path / "creds").exists() or not list((tmp_path / "creds").iterdir())
    shorter = prefix[:-6]  # every name fits: all written
    paths, identity = credentials.store_311(tmp_path / "creds", shorter, creds)
    assert paths["scitokens_file"].endswith(".request0.scitoken")
    assert len(list((tmp_path / "creds").iterdir())) == 2 and len(identity) == 1
