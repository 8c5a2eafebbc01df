"""Credentials on disk: 0600, atomic replacement with the previous kept, safe names only."""

import stat

import pytest

from glideinwms_factory.entry import credentials


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
