"""The auth_method grammar (lib/auth_method): what create_glidein accepts and refuses."""

from __future__ import annotations

import pytest
from test_create_support import copy_example

from glideinwms_factory.creation.config import ConfigInvalid, load_config
from glideinwms_factory.lib.auth_method import KNOWN_WORDS, AuthMethodError, parse_auth_method
from glideinwms_factory.lib.credential_objects import CredentialType, ParameterName, auth_groups


@pytest.mark.parametrize(
    ("text", "groups"),
    [
        ("grid_proxy", (("grid_proxy",),)),
        ("grid_proxy+vm_id+vm_type", (("grid_proxy",), ("vm_id",), ("vm_type",))),
        ("grid_proxy;project_id", (("grid_proxy",), ("project_id",))),
        ("scitoken;project_id", (("scitoken",), ("project_id",))),
        ("scitoken,idtoken", (("scitoken", "idtoken"),)),
        ("any", ()),
        ("scitoken,any;project_id", (("project_id",),)),
        ("SciToken ; Project_Id", (("scitoken",), ("project_id",))),
        ("x509_cert;ProjectId", (("grid_proxy",), ("project_id",))),  # 3.11 spellings
    ],
)
def test_groups_and_alternatives(text: str, groups: tuple[tuple[str, ...], ...]) -> None:
    assert parse_auth_method(text).groups == groups


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("grid_proxy;", "empty or malformed part ''"),
        ("scitoken,,idtoken", "empty or malformed part"),
        ("grid_proxi", "unknown type 'grid_proxi'"),
        ("grid proxy", "empty or malformed part 'grid proxy'"),
    ],
)
def test_bad_auth_methods(text: str, message: str) -> None:
    with pytest.raises(AuthMethodError, match=message):
        parse_auth_method(text)


def test_create_accepts_the_grammar_and_refuses_a_typo_with_file_and_line(tmp_path) -> None:
    master = copy_example(tmp_path / "cfg")
    text = master.read_text()
    master.write_text(
        text.replace('auth_method="scitoken"', 'auth_method="scitoken;project_id"', 1)
    )
    assert load_config(master)
    master.write_text(text.replace('auth_method="scitoken"', 'auth_method="scitoken;projct_id"', 1))
    with pytest.raises(ConfigInvalid) as caught:
        load_config(master)
    (issue,) = caught.value.issues
    assert issue.file == str(master) and issue.line > 1
    assert "unknown type 'projct_id'" in issue.message


def test_every_word_create_accepts_is_one_the_311_check_knows() -> None:
    """One grammar: lib/credential_objects maps each word lib/auth_method parses."""
    for word in KNOWN_WORDS:
        assert auth_groups(word) is not None or word == "any"
    assert auth_groups("scitoken,idtoken;ProjectId") == [
        [CredentialType.SCITOKEN, CredentialType.IDTOKEN],
        [ParameterName.PROJECT_ID],
    ]
    assert auth_groups("any") is None
