"""The submit environment expanded by HTCondor's own submit language (htcondor2.Submit):
what we accept reaches the job exactly as given, and the `$ENV()` lines stay one command."""

from __future__ import annotations

import random
import string

import classad2
import htcondor2
import pytest

from glideinwms_factory.entry.glidein_args import (
    EntryConstants,
    GlideinArgs,
    SubmitRequest,
    UnsafeValueError,
    build_glidein_arguments,
    check_submit_value,
    submit_environment,
)
from glideinwms_factory.entry.overload import OVERLOAD, draw_overload

DESCRIPTION = """\
universe = vanilla
executable = /bin/true
arguments = $ENV(GLIDEIN_ARGUMENTS)
MY.GlideinClient = "$ENV(GLIDEIN_CLIENT)"
MY.GlideinFrontendName = "$ENV(GLIDEIN_FRONTEND_NAME)"
MY.GlideinCredentialIdentifier = "$ENV(GLIDEIN_CREDENTIAL_ID)"
MY.GlideinWebBase = "$ENV(GLIDEIN_WEB_URL)"
MY.Param = "$ENV(GLIDEIN_PARAM_P:)"
x509userproxy = $ENV(X509_USER_PROXY:)
MY.Count = $ENV(GLIDEIN_COUNT)
queue $ENV(GLIDEIN_COUNT)
"""
ENTRY = EntryConstants(
    "fact", "gfi", "ENTRY_A", "entry_ENTRY_A/job.condor", "http://h:8000/stage", ".", "fixed"
)


def expand(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> htcondor2.Submit:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return htcondor2.Submit(DESCRIPTION)


def test_expanded_submit_carries_exact_values(monkeypatch: pytest.MonkeyPatch) -> None:
    args = GlideinArgs(
        "std", "gfi", "ENTRY_A", "fe1.main", "schedd@h", "fact", "http://h:8000/stage", "ab",
        "cd", "d1.cfg", "d2.cfg", ".", "cred_1", "fixed",
        params={"GLIDEIN_Collector": 'h:9618?sock="c"', "Q": "$(HOME) `id` 'x'"},
    )  # fmt: skip
    request = SubmitRequest(
        count=3,
        client_name="fe1.main",
        frontend_name="fe1:frontend",
        security_class="frontend",
        credential_id="cred_1",
        username="fefrontend",
        arguments=build_glidein_arguments(args, "condor"),
        log_date="20261122",
        x509_proxy="/p/user_fe/credential_cred_1",
        params={"P": "a;b|c&d (e) < f > g"},
    )
    submit = expand(submit_environment(request, ENTRY).env, monkeypatch)
    assert submit.expand("MY.Count") == "3"
    assert submit.expand("MY.GlideinClient") == '"fe1.main"'
    assert submit.expand("MY.GlideinFrontendName") == '"fe1:frontend"'
    assert submit.expand("MY.Param") == '"a;b|c&d (e) < f > g"'
    assert submit.expand("x509userproxy") == "/p/user_fe/credential_cred_1"
    arguments = submit.expand("arguments")
    assert arguments.endswith("-cluster 1 -subcluster 0")
    assert "-param_Q .dollar,.open,HOME.close,.nbsp,.fork,id.fork,.nbsp,.singquot,x" in arguments
    assert set(submit.keys()) == {
        "universe",
        "executable",
        "arguments",
        "MY.GlideinClient",
        "MY.GlideinFrontendName",
        "MY.GlideinCredentialIdentifier",
        "MY.GlideinWebBase",
        "MY.Param",
        "x509userproxy",
        "MY.Count",
    }


def test_overload_drawn_per_cycle_reaches_the_job_attribute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A `66%` entry: each submit cycle draws once; the job attribute and the glidein's
    parameter carry the same boolean, on in about 66% of the cycles."""
    rng = random.Random(3)
    seen = []
    for _ in range(300):
        params = {OVERLOAD: "True" if draw_overload("66%", rng) else "False"}
        request = SubmitRequest(
            1, "fe1.main", "fe1:frontend", "frontend", "c", "u", "-v std", "20261122",
            params=params,
        )  # fmt: skip
        env = submit_environment(request, ENTRY).env
        monkeypatch.setenv(OVERLOAD, env[OVERLOAD])
        submit = htcondor2.Submit(f"MY.GlideinOverloadEnabled = $ENV({OVERLOAD})\nqueue 1\n")
        value = classad2.ExprTree(submit.expand("MY.GlideinOverloadEnabled")).eval()
        assert value is (params[OVERLOAD] == "True")
        assert env[f"GLIDEIN_PARAM_{OVERLOAD}"] == params[OVERLOAD]
        seen.append(value)
    assert 0.56 < sum(seen) / len(seen) < 0.76


def test_undrawn_overload_is_refused() -> None:
    request = SubmitRequest(
        1, "fe1.main", "fe1:frontend", "frontend", "c", "u", "-v std", "20261122",
        params={OVERLOAD: "66%"},
    )  # fmt: skip
    with pytest.raises(UnsafeValueError, match=OVERLOAD):
        submit_environment(request, ENTRY)


def test_random_accepted_values_expand_verbatim(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    alphabet = string.printable + "é☃"
    accepted = 0
    for _ in range(300):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 20)))
        try:
            check_submit_value("P", value)
        except UnsafeValueError:
            continue
        accepted += 1
        monkeypatch.setenv("GLIDEIN_PARAM_P", value)
        submit = htcondor2.Submit('MY.Param = "$ENV(GLIDEIN_PARAM_P)"\nqueue 1\n')
        expanded = submit.expand("MY.Param")
        assert expanded == f'"{value}"'
        assert classad2.ExprTree(expanded).eval() == value  # the job ad gets the same string
        assert list(submit.keys()) == ["MY.Param"]
    assert accepted > 50


@pytest.mark.parametrize("value", ['a"b', "x$(HOME)", "a\\", "$ENV(PATH)"])
def test_refused_values_would_have_broken_the_submit(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UnsafeValueError):
        check_submit_value("P", value)
    monkeypatch.setenv("GLIDEIN_PARAM_P", value)
    expanded = htcondor2.Submit('MY.Param = "$ENV(GLIDEIN_PARAM_P)"\nqueue 1\n').expand("MY.Param")
    try:
        intact = classad2.ExprTree(expanded).eval() == value
    except Exception:
        intact = False
    assert not intact
