"""GLIDEIN_OVERLOAD_ENABLED: on/off values, percentages drawn per submit cycle, overrides."""

from __future__ import annotations

import random

import pytest

from glideinwms_factory.entry.overload import OVERLOAD, draw_overload, overload_setting


@pytest.mark.parametrize(
    ("setting", "on"),
    [
        *[("True", True), ("true", True), (" TRUE ", True), ("False", False), ("1", False)],
        *[("", False), ("yes", False), ("0%", False), ("100%", True), ("x%", False)],
    ],
)
def test_fixed_settings(setting: str, on: bool) -> None:
    rng = random.Random(1)
    assert {draw_overload(setting, rng) for _ in range(200)} == {on}


@pytest.mark.parametrize("percent", [10, 66, 90])
def test_percentage_is_that_fraction_of_cycles(percent: int) -> None:
    rng = random.Random(percent)
    cycles = 20_000
    on = sum(draw_overload(f"{percent}%", rng) for _ in range(cycles))
    # binomial: 5 standard deviations either side
    sigma = (cycles * percent / 100 * (1 - percent / 100)) ** 0.5
    assert abs(on - cycles * percent / 100) < 5 * sigma


def test_percentage_draws_differ_between_cycles() -> None:
    rng = random.Random(7)
    draws = [draw_overload("50%", rng) for _ in range(64)]
    assert True in draws and False in draws


def test_frontend_parameter_overrides_the_entry() -> None:
    entry_attrs = {OVERLOAD: "66%"}
    assert overload_setting({OVERLOAD: "False"}, {}, entry_attrs) == "False"
    assert overload_setting({}, {}, entry_attrs) == "66%"
    assert overload_setting({}, {OVERLOAD: True}, entry_attrs) == "True"
    assert overload_setting({"OTHER": 1}, {}) is None
