"""Glidein arguments, the `-param_` value encoding, and submit-environment safety."""

from __future__ import annotations

import random
import shlex
import string
from dataclasses import replace

import pytest

from glideinwms_factory.entry.glidein_args import (
    PARAM_CODES,
    ClientStaging,
    EntryConstants,
    GlideinArgs,
    SubmitRequest,
    UnsafeValueError,
    build_glidein_arguments,
    check_submit_value,
    escape_param_value,
    glidein_argument_words,
    submit_environment,
    unescape_param_value,
)

HOSTILE = [
    "a\nqueue 100",
    "x\r\nexecutable = /bin/sh",
    "$(HOME)",
    "$ENV(PATH)",
    "`rm -rf /`",
    '"; rm -rf / #',
    "it's",
    "back\\slash",
]


def make_args(**overrides: object) -> GlideinArgs:
    values: dict[str, object] = dict(
        verbosity="std",
        glidein_name="gfactory_instance",
        entry_name="ENTRY_A",
        client_name="fe1.main",
        schedd="schedd_glideins1@localhost",
        factory_name="TestFactory",
        web_url="http://localhost:8000/stage",
        main_sign="0123abcd",
        entry_sign="4567ef01",
        main_descript="description.abc123.cfg",
        entry_descript="description.def456.cfg",
        startup_dir="OSG",
        credential_id="cred_1",
        slots_layout="fixed",
    )
    values.update(overrides)
    return GlideinArgs(**values)  # type: ignore[arg-type]


def test_escape_table_matches_spec_examples() -> None:
    assert escape_param_value("host.org:9618") == "host.dot,org.colon,9618"
    assert escape_param_value("a b") == "a.nbsp,b"
    assert escape_param_value("plain_value") == "plain_value"
    assert len(PARAM_CODES) == 28


@pytest.mark.parametrize(
    "value",
    [
        "",
        ".comma,",
        ".dot,",
        "..,,",
        "a.dot,comma.comma,",
        string.punctuation,
        "héllo wörld ☃",
        "host.org:9618?sock=collector1-40000",
        "(a == \"b\") && c =!= 'd'",
    ],
)
def test_unescape_inverts_escape(value: str) -> None:
    encoded = escape_param_value(value)
    assert unescape_param_value(encoded) == value
    # the encoded form holds no character the glidein's argument parsing would split on
    assert not set(encoded) & set(" \"'`$\\|&;<>()")


def test_unescape_inverts_escape_random_property() -> None:
    rng = random.Random(20261122)
    alphabet = string.printable.replace("\n", "").replace("\r", "").replace("\t", "")
    alphabet = alphabet.replace("\x0b", "").replace("\x0c", "") + "é☃.,"
    for _ in range(3000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        assert unescape_param_value(escape_param_value(value)) == value


def test_escape_refuses_control_characters() -> None:
    with pytest.raises(UnsafeValueError, match="control character"):
        escape_param_value("a\nqueue")


def test_arguments_have_all_options_in_order() -> None:
    args = make_args(
        params={"GLIDEIN_Collector": "ce.org:9618", "EMPTY": "", "FLAG": True, "N": 4},
        client=ClientStaging(
            web="http://fe/web",
            sign="aa11",
            descript="d.cfg",
            group="main",
            group_web="http://fe/web/group_main",
            group_sign="bb22",
            group_descript="g.cfg",
        ),
    )
    words = build_glidein_arguments(args, "condor").split(" ")
    pairs = dict(zip(words[0::2], words[1::2], strict=True))
    assert words[:2] == ["-v", "std"]
    assert pairs["-entry"] == "ENTRY_A"
    assert pairs["-signtype"] == "sha1"
    assert pairs["-dir"] == "OSG"
    assert pairs["-param_GLIDEIN_Client"] == "fe1.main"
    assert pairs["-submitcredid"] == "cred_1"
    assert pairs["-clientwebgroup"] == "http://fe/web/group_main"
    assert pairs["-param_GLIDEIN_Collector"] == "ce.dot,org.colon,9618"
    assert pairs["-param_FLAG"] == "True"
    assert pairs["-param_N"] == "4"
    assert "-param_EMPTY" not in pairs  # empty values are not passed
    assert words[-4:] == ["-cluster", "$(Cluster)", "-subcluster", "$(Process)"]


def test_argument_words_are_an_argv_without_macros() -> None:
    words = glidein_argument_words(make_args(params={"X": "a b"}))
    assert words[-2:] == ["-param_X", "a.nbsp,b"]
    assert "-cluster" not in words and "$(Cluster)" not in words
    assert " ".join(words) in build_glidein_arguments(make_args(params={"X": "a b"}), "")


def test_client_group_needs_group_name() -> None:
    args = make_args(client=ClientStaging(web="http://fe/w", sign="s", descript="d"))
    text = build_glidein_arguments(args, "condor")
    assert "-clientweb http://fe/w" in text
    assert "-clientgroup" not in text


@pytest.mark.parametrize("grid_type", ["arc", "cream", "nordugrid", "ARC"])
def test_quoted_grid_types_wrap_whole_string(grid_type: str) -> None:
    text = build_glidein_arguments(make_args(params={"Q": 'say "hi"'}), grid_type)
    assert text.startswith('"-v std ') and text.endswith('$(Process)"')
    assert text.count('"') == 2  # the param's own quotes were encoded, not left to escape


@pytest.mark.parametrize("grid_type", ["condor", "batch slurm", "ec2"])
def test_other_grid_types_are_not_wrapped(grid_type: str) -> None:
    assert build_glidein_arguments(make_args(), grid_type).startswith("-v std")


@pytest.mark.parametrize("name", ["bad-name", "a b", "x;y", "", "é"])
def test_param_names_outside_charset_are_refused(name: str) -> None:
    with pytest.raises(UnsafeValueError, match="parameter name"):
        build_glidein_arguments(make_args(params={name: "v"}), "condor")


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_param_values_stay_one_inert_argument(value: str) -> None:
    if any(c in value for c in "\r\n"):
        with pytest.raises(UnsafeValueError):
            build_glidein_arguments(make_args(params={"P": value}), "condor")
        return
    text = build_glidein_arguments(make_args(params={"P": value}), "condor")
    words = shlex.split(text)
    position = words.index("-param_P")
    assert unescape_param_value(words[position + 1]) == value
    assert len(words) == len(shlex.split(build_glidein_arguments(make_args(), "condor"))) + 2


@pytest.mark.parametrize("value", [*HOSTILE, "http://x/ y"])
def test_hostile_option_values_are_refused(value: str) -> None:
    with pytest.raises(UnsafeValueError, match="-clientweb value"):
        build_glidein_arguments(
            make_args(client=ClientStaging(web=value, sign="s", descript="d")), "condor"
        )


ENTRY = EntryConstants(
    factory_name="TestFactory",
    glidein_name="gfactory_instance",
    entry_name="ENTRY_A",
    submit_file="entry_ENTRY_A/job.condor",
    web_url="http://localhost:8000/stage",
    startup_dir="OSG",
    slots_layout="fixed",
)


def make_request(**overrides: object) -> SubmitRequest:
    values: dict[str, object] = dict(
        count=5,
        client_name="fe1.main",
        frontend_name="fe1:frontend",
        security_class="frontend",
        credential_id="cred_1",
        username="fefrontend",
        arguments=build_glidein_arguments(make_args(), "condor"),
        log_date="20261122",
        x509_proxy="/var/proxies/user_fe/credential_cred_1",
        params={"GLIDEIN_Collector": "ce.org:9618", "REQ": '(a=="b")'},
    )
    values.update(overrides)
    return SubmitRequest(**values)  # type: ignore[arg-type]


def test_submit_environment_has_every_env_value() -> None:
    result = submit_environment(make_request(remote_username="bosco_user"), ENTRY)
    env = result.env
    assert env["GLIDEIN_COUNT"] == "5"
    assert env["GLIDEIN_FRONTEND_NAME"] == "fe1:frontend"
    assert env["GLIDEIN_CREDENTIAL_ID"] == "cred_1"
    assert env["GLIDEIN_LOGNR"] == "20261122"
    assert env["X509_USER_PROXY"].endswith("credential_cred_1")
    assert env["X509_USER_PROXY_BASENAME"] == "credential_cred_1"
    assert env["GLIDEIN_ENTRY_NAME"] == "ENTRY_A" and env["FACTORY_NAME"] == "TestFactory"
    assert env["GLIDEIN_ENTRY_SUBMIT_FILE"] == "entry_ENTRY_A/job.condor"
    assert env["GLIDEIN_REMOTE_USERNAME"] == "bosco_user"
    assert env["GLIDEIN_ARGUMENTS"].endswith("-subcluster $(Process)")
    assert env["GLIDEIN_PARAM_GLIDEIN_Collector"] == "ce.org:9618"  # unescaped
    assert "GLIDEIN_PARAM_REQ" not in env and result.skipped_params == ("REQ",)


def test_quoted_arguments_are_accepted_in_environment() -> None:
    arguments = build_glidein_arguments(make_args(), "arc")
    assert submit_environment(make_request(arguments=arguments), ENTRY).env[
        "GLIDEIN_ARGUMENTS"
    ] == (arguments)


@pytest.mark.parametrize(
    "field", ["client_name", "frontend_name", "security_class", "credential_id", "username"]
)
@pytest.mark.parametrize("value", [*HOSTILE, "", "a b"])
def test_hostile_identity_values_are_refused(field: str, value: str) -> None:
    with pytest.raises(UnsafeValueError):
        submit_environment(make_request(**{field: value}), ENTRY)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_arguments_and_paths_are_refused(value: str) -> None:
    with pytest.raises(UnsafeValueError, match="GLIDEIN_ARGUMENTS"):
        submit_environment(make_request(arguments="-v std -x " + value), ENTRY)
    with pytest.raises(UnsafeValueError, match="X509_USER_PROXY"):
        submit_environment(make_request(x509_proxy="/tmp/" + value), ENTRY)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_param_values_are_kept_out_of_the_environment(value: str) -> None:
    result = submit_environment(make_request(params={"P": value}), ENTRY)
    assert "GLIDEIN_PARAM_P" not in result.env and result.skipped_params == ("P",)


def test_bad_count_and_log_date_are_refused() -> None:
    with pytest.raises(UnsafeValueError, match="GLIDEIN_COUNT"):
        submit_environment(make_request(count=0), ENTRY)
    with pytest.raises(UnsafeValueError, match="GLIDEIN_LOGNR"):
        submit_environment(make_request(log_date="2026-11-22"), ENTRY)


def test_hostile_entry_constants_and_remote_user_are_refused() -> None:
    with pytest.raises(UnsafeValueError, match="GLIDEIN_WEB_URL"):
        submit_environment(make_request(), replace(ENTRY, web_url='http://x/"\nqueue'))
    with pytest.raises(UnsafeValueError, match="GLIDEIN_REMOTE_USERNAME"):
        submit_environment(make_request(remote_username="u; rm"), ENTRY)


def test_check_submit_value_accepts_plain_text() -> None:
    assert check_submit_value("X", "a b;c|d&e(f)") == "a b;c|d&e(f)"
