"""job.descript limits and RecoverableExitcodes parsing."""

from __future__ import annotations

import pytest

from glideinwms_factory.entry.limits import (
    EntryLimits,
    FrontendLimits,
    LimitsError,
    parse_recoverable,
)

FULL = {
    "PerEntryMaxGlideins": "1000",
    "PerEntryMaxIdle": "200",
    "PerEntryMaxHeld": "100",
    "DefaultPerFrontendMaxGlideins": "500",
    "DefaultPerFrontendMaxIdle": "50",
    "DefaultPerFrontendMaxHeld": "25",
    "PerFrontendMaxGlideins": "fe1:cms;300, fe2:atlas;40",
    "PerFrontendMaxIdle": "fe1:cms;30",
    "PerFrontendMaxHeld": "",
    "MaxSubmitRate": "50",
    "SubmitCluster": "7",
    "SubmitSleep": "0.5",
    "MaxRemoveRate": "9",
    "RemoveSleep": "1",
    "MaxReleaseRate": "11",
    "ReleaseSleep": "0",
    "StaleAgeIdle": "3600",
    "StaleAgeRunning": "7200",
    "EntryName": "ignored",
}


def test_defaults_are_upstream_factory_defaults() -> None:
    limits = EntryLimits.from_descript({})
    assert (limits.max_glideins, limits.max_idle, limits.max_held) == (10000, 2000, 1000)
    assert limits.default_frontend == FrontendLimits(5000, 100, 50)
    assert (limits.max_submit_rate, limits.submit_cluster, limits.submit_sleep) == (100, 10, 0.2)
    assert (limits.max_remove_rate, limits.max_release_rate) == (5, 20)
    assert (limits.stale_age_idle, limits.stale_age_running) == (604800, 2678400)
    assert not limits.recoverable.recoverable(1, None)


def test_every_key_is_read() -> None:
    limits = EntryLimits.from_descript(FULL, recoverable_exitcodes="12 1 2, 30")
    assert (limits.max_glideins, limits.max_idle, limits.max_held) == (1000, 200, 100)
    assert limits.default_frontend == FrontendLimits(500, 50, 25)
    assert limits.frontend("fe1:cms") == FrontendLimits(glideins=300, idle=30, held=25)
    assert limits.frontend("fe2:atlas") == FrontendLimits(glideins=40, idle=50, held=25)
    assert limits.frontend("fe3:x") == limits.default_frontend
    assert (limits.max_submit_rate, limits.submit_cluster, limits.submit_sleep) == (50, 7, 0.5)
    assert (limits.max_remove_rate, limits.remove_sleep) == (9, 1.0)
    assert (limits.max_release_rate, limits.release_sleep) == (11, 0.0)
    assert (limits.stale_age_idle, limits.stale_age_running) == (3600, 7200)
    assert limits.recoverable.recoverable(12, 2) and limits.recoverable.recoverable(30, 99)


def test_job_caps_divided_by_num_factories_rates_not() -> None:
    limits = EntryLimits.from_descript(FULL, num_factories=3)
    assert (limits.max_glideins, limits.max_idle, limits.max_held) == (333, 66, 33)
    assert limits.default_frontend == FrontendLimits(166, 16, 8)
    assert limits.frontend("fe1:cms") == FrontendLimits(100, 10, 8)
    assert limits.max_submit_rate == 50 and limits.stale_age_idle == 3600


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("PerEntryMaxIdle", "lots", "PerEntryMaxIdle: 'lots' is not an integer"),
        ("MaxSubmitRate", "-1", "MaxSubmitRate: '-1' is negative"),
        ("SubmitSleep", "soon", "SubmitSleep: 'soon' is not a number"),
        ("PerFrontendMaxIdle", "fe1:cms=3", "is not 'frontend:class;N'"),
        ("PerFrontendMaxIdle", "fe1:cms;", "is not 'frontend:class;N'"),
        ("PerFrontendMaxGlideins", "fe1:cms;x", "PerFrontendMaxGlideins: 'x' is not an integer"),
        ("RunningRemovalPercent", "101", "RunningRemovalPercent: 101 is more than 100"),
    ],
)
def test_bad_values_name_the_key(key: str, value: str, message: str) -> None:
    with pytest.raises(LimitsError, match=message.replace("(", r"\(")):
        EntryLimits.from_descript({key: value})


def test_bad_num_factories() -> None:
    with pytest.raises(LimitsError, match="num_factories"):
        EntryLimits.from_descript({}, num_factories=0)


@pytest.mark.parametrize(
    ("text", "code", "subcode", "expected"),
    [
        ("", 12, None, False),
        ("12", 12, None, True),
        ("12", 12, 7, True),
        (" 12 1 2 , 30 ", 12, 2, True),
        ("12 1 2,30", 12, 3, False),
        ("12 1 2,30", 12, None, False),
        ("12 1 2,30", 30, None, True),
        ("12 1 2,30", None, None, False),
        ("12 1,12 5", 12, 5, True),
    ],
)
def test_recoverable_codes(
    text: str, code: int | None, subcode: int | None, expected: bool
) -> None:
    assert parse_recoverable(text).recoverable(code, subcode) is expected


def test_recoverable_bad_text() -> None:
    with pytest.raises(LimitsError, match="RecoverableExitcodes"):
        parse_recoverable("12,abc")
