"""$ENV() resolution of job.condor and refusal of values that could inject submit commands."""

import pytest

from glideinwms_factory.entry.glidein_args import UnsafeValueError
from glideinwms_factory.entry.submit_description import build_description, resolve_env

TEMPLATE = """Universe = grid
Grid_Resource = condor ce01.example.org ce01.example.org:9619
Executable = glidein_startup.sh
Arguments = $ENV(GLIDEIN_ARGUMENTS)
x509userproxy = $ENV(X509_USER_PROXY:)
+GlideinClient = "$ENV(GLIDEIN_CLIENT)"
environment = "IDTOKENS_FILE=$ENV(IDTOKENS_FILE:/dev/null)"
Queue $ENV(GLIDEIN_COUNT)
"""


def test_env_macros_are_resolved_with_defaults():
    text = build_description(
        TEMPLATE,
        {"GLIDEIN_ARGUMENTS": "-v std -name g", "GLIDEIN_CLIENT": "fe.main", "GLIDEIN_COUNT": "3"},
    )
    assert "Arguments = -v std -name g\n" in text
    assert "x509userproxy = \n" in text
    assert '+GlideinClient = "fe.main"' in text
    assert 'environment = "IDTOKENS_FILE=/dev/null"' in text
    assert "queue" not in text.lower().split("executable")[1]
    assert "$ENV" not in text


@pytest.mark.parametrize(
    "value",
    [
        "x\nqueue 1000",
        "x\r\nExecutable = /bin/sh",
        "nul\0byte",
    ],
)
def test_values_that_could_inject_are_refused(value):
    with pytest.raises(UnsafeValueError, match="GLIDEIN_CLIENT"):
        resolve_env(TEMPLATE, {"GLIDEIN_CLIENT": value})
