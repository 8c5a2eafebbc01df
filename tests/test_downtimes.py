"""Downtime file: parsing, scoping, time windows, down/up/vacuum, statusdown, concurrency."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from glideinwms_factory.lib.downtimes import (
    Downtime,
    DowntimeError,
    DowntimeFile,
    entry_down,
    factory_down,
    parse_delay,
    parse_downtimes,
    parse_time_spec,
    request_down,
    statusdown_line,
)

CST = timezone(timedelta(hours=-6))
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=CST)
HOUR = timedelta(hours=1)

SAMPLE = """\
#Start End Entry Frontend Sec_Class # Comment
2025-03-01T08:00:00-06:00 None ENTRY_A All All # kernel upgrade
2025-03-01T08:00:00-06:00 2025-03-01T10:00:00-06:00 ENTRY_B All All # over at 10
2025-03-01T11:00:00-03:30 None All fe2 All
2025-03-01T09:00:00-06:00 2025-03-01T13:00:00-06:00 factory fe3 cls3 # fe3 only
not-a-time None ENTRY_C
2025-03-01T08:00:00-06:00
2025-03-01T08:00:00-06:00 None a b c d
2025-03-01T10:00:00-06:00 2025-03-01T09:00:00-06:00 ENTRY_D
2025-03-02T00:00:00-06:00 None ENTRY_E # tomorrow
"""


def parsed() -> list[Downtime]:
    return parse_downtimes(SAMPLE).downtimes


def test_parse_fields_defaults_and_comments() -> None:
    result = parse_downtimes(SAMPLE)
    first, second, third, fourth, fifth = result.downtimes
    assert first == Downtime(
        datetime(2025, 3, 1, 8, tzinfo=CST), None, "ENTRY_A", "All", "All", "kernel upgrade"
    )
    assert second.end == datetime(2025, 3, 1, 10, tzinfo=CST)
    # negative half-hour offset parses correctly (upstream's parser broke on it)
    assert third.start == datetime(2025, 3, 1, 14, 30, tzinfo=UTC)
    assert (third.frontend, third.security_class, third.comment) == ("fe2", "All", "")
    assert (fourth.entry, fourth.frontend, fourth.security_class) == ("factory", "fe3", "cls3")
    assert fifth.comment == "tomorrow"


def test_missing_entry_means_factory() -> None:
    (downtime,) = parse_downtimes("2025-03-01T08:00:00-06:00 None\n").downtimes
    assert (downtime.entry, downtime.frontend, downtime.security_class) == ("factory", "All", "All")


def test_malformed_lines_are_reported_with_number_and_the_rest_applies() -> None:
    result = parse_downtimes(SAMPLE)
    assert [error.split(":")[0] for error in result.errors] == [
        "line 6",
        "line 7",
        "line 8",
        "line 9",
    ]
    assert "bad time" in result.errors[0]
    assert "end is before start" in result.errors[3]
    assert len(result.downtimes) == 5


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (NOW, "kernel upgrade"),
        (datetime(2025, 3, 1, 8, tzinfo=CST), "kernel upgrade"),  # start is inclusive
        (datetime(2025, 3, 1, 7, 59, 59, tzinfo=CST), None),
    ],
)
def test_entry_window(when: datetime, expected: str | None) -> None:
    found = entry_down(parsed(), "ENTRY_A", when)
    assert (found.comment if found else None) == expected


@pytest.mark.parametrize(
    ("when", "down"),
    [
        (datetime(2025, 3, 1, 10, tzinfo=CST), True),  # end is inclusive
        (datetime(2025, 3, 1, 10, 0, 1, tzinfo=CST), False),
    ],
)
def test_closed_window_end(when: datetime, down: bool) -> None:
    assert (entry_down(parsed(), "ENTRY_B", when) is not None) is down


def test_future_downtime_not_active_yet() -> None:
    assert entry_down(parsed(), "ENTRY_E", NOW) is None
    assert entry_down(parsed(), "ENTRY_E", NOW + 12 * HOUR) is not None


@pytest.mark.parametrize(
    ("entry", "frontend", "sec_class", "down"),
    [
        ("ENTRY_A", "fe1", "c", True),  # entry-wide line
        ("ENTRY_X", "fe1", "c", False),
        ("ENTRY_X", "fe2", "any", True),  # All/fe2 line: 11:00-03:30 is 08:30 CST
        ("ENTRY_X", "fe3", "cls3", True),  # factory line scoped to fe3/cls3
        ("ENTRY_X", "fe3", "other", False),
    ],
)
def test_request_scoping(entry: str, frontend: str, sec_class: str, down: bool) -> None:
    assert (request_down(parsed(), entry, frontend, sec_class, NOW) is not None) is down


def test_all_line_scoped_to_frontend() -> None:
    later = datetime(2025, 3, 1, 14, 30, tzinfo=UTC)
    assert request_down(parsed(), "ENTRY_X", "fe2", "any", later - HOUR) is None
    assert request_down(parsed(), "ENTRY_X", "fe2", "any", later) is not None
    assert request_down(parsed(), "ENTRY_X", "fe1", "any", later) is None
    # a frontend-scoped line never takes the whole entry down
    assert entry_down(parsed(), "ENTRY_X", later) is None


def test_factory_down_needs_all_all_factory_line() -> None:
    assert factory_down(parsed(), NOW) is None  # the factory line is fe3-only
    lines = [Downtime(NOW - HOUR, None, "factory"), Downtime(NOW - HOUR, None, "All")]
    assert factory_down(lines[1:], NOW) is None  # All is every entry, not the factory
    assert factory_down(lines, NOW) == lines[0]
    assert entry_down(lines[:1], "ANY", NOW) == lines[0]  # factory down => entry down


def test_statusdown_lines() -> None:
    downtimes = parsed()
    assert statusdown_line(downtimes, "ENTRY_A", NOW) == "ENTRY_A Down\tAll:All,fe2:All,fe3:cls3"
    assert statusdown_line(downtimes, "ENTRY_B", NOW) == "ENTRY_B Down\tfe2:All,fe3:cls3"
    assert statusdown_line(downtimes, "factory", NOW) == "factory Down\tfe3:cls3"
    assert statusdown_line([], "ENTRY_B", NOW) == "ENTRY_B Up  \tAll:All"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h", 3600), ("30m", 1800), ("45", 45), ("45s", 45), ("1h2m3s", 3723), ("2h5", 7205)],
)
def test_parse_delay(text: str, seconds: int) -> None:
    assert parse_delay(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "h", "1d", "5m1h", "-5", "1.5h", "9" * 30 + "h", "9" * 5000])
def test_parse_delay_rejects(text: str) -> None:
    with pytest.raises(DowntimeError, match="bad delay"):
        parse_delay(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14:30", datetime(2025, 3, 1, 14, 30, tzinfo=CST)),
        ("14:30:15", datetime(2025, 3, 1, 14, 30, 15, tzinfo=CST)),
        ("05-14:30", datetime(2025, 3, 5, 14, 30, tzinfo=CST)),
        ("04-05-14:30", datetime(2025, 4, 5, 14, 30, tzinfo=CST)),
        ("2026-04-05-14:30", datetime(2026, 4, 5, 14, 30, tzinfo=CST)),
        ("2025-03-01T08:00:00-06:00", datetime(2025, 3, 1, 8, tzinfo=CST)),
    ],
)
def test_parse_time_spec(text: str, expected: datetime) -> None:
    assert parse_time_spec(text, NOW) == expected


def test_parse_time_spec_epoch_and_errors() -> None:
    assert parse_time_spec("1740830400", NOW).timestamp() == 1740830400
    # the last three were OverflowError / ValueError tracebacks (epoch out of range)
    for bad in ("25:00", "13-01-10:00", "soon", "99999999999999", "9" * 30, "9" * 5000):
        with pytest.raises(DowntimeError, match="bad time"):
            parse_time_spec(bad, NOW)


def test_down_appends_with_header_and_skips_covered(tmp_path: Path) -> None:
    file = DowntimeFile(tmp_path / "glideinWMS.downtimes")
    assert file.read().downtimes == []
    assert file.down(Downtime(NOW, None, "ENTRY_A", comment="maint"))
    assert not file.down(Downtime(NOW + HOUR, NOW + 2 * HOUR, "ENTRY_A"))  # covered
    assert file.down(Downtime(NOW, None, "ENTRY_B", "fe1", "c1"))
    assert not file.down(Downtime(NOW, None, "ENTRY_B", "fe1", "c1"))
    assert file.down(Downtime(NOW, None, "ENTRY_B"))  # wider scope than the fe1 line
    assert file.down(Downtime(NOW - HOUR, None, "ENTRY_A"))  # earlier start: not covered
    text = (tmp_path / "glideinWMS.downtimes").read_text()
    assert text.startswith("#Start End Entry Frontend Sec_Class # Comment\n")
    assert "2025-03-01T12:00:00-06:00 None ENTRY_A All All # maint\n" in text
    assert len(file.read().downtimes) == 4


def test_factory_down_covers_everything(tmp_path: Path) -> None:
    file = DowntimeFile(tmp_path / "d")
    assert file.down(Downtime(NOW, None, "factory"))
    assert not file.down(Downtime(NOW, None, "All"))
    assert not file.down(Downtime(NOW, NOW + HOUR, "ENTRY_A", "fe", "sc"))
    all_file = DowntimeFile(tmp_path / "e")
    assert all_file.down(Downtime(NOW, None, "All"))
    assert all_file.down(Downtime(NOW, None, "factory"))  # All does not cover the factory


def test_hostile_comment_and_names_cannot_add_lines(tmp_path: Path) -> None:
    path = tmp_path / "d"
    file = DowntimeFile(path)
    sneaky = "ok\n2025-01-01T00:00:00+00:00 None factory All All"
    assert file.down(Downtime(NOW, None, "ENTRY_A", comment=sneaky))
    assert [d.entry for d in file.read().downtimes] == ["ENTRY_A"]
    assert file.up(NOW, NOW, "ENTRY_A", comment="x\ry")
    assert file.read().downtimes[0].comment.endswith("; x y")
    for entry, frontend in (("A B", "All"), ("E", "fe#1"), ("", "All"), ("E\nfactory", "All")):
        with pytest.raises(DowntimeError, match="bad"):
            file.down(Downtime(NOW, None, entry, frontend))
    with pytest.raises(DowntimeError, match="bad entry"):
        file.up(NOW, NOW, "a b")
    assert len(path.read_text().splitlines()) == 2  # header + the one line


def test_up_closes_open_matching_lines(tmp_path: Path) -> None:
    path = tmp_path / "d"
    path.write_text(SAMPLE)
    file = DowntimeFile(path)
    assert file.up(NOW + HOUR, NOW, entry="ENTRY_A", comment="done")
    (entry_a,) = [d for d in file.read().downtimes if d.entry == "ENTRY_A"]
    assert entry_a.end == NOW + HOUR and entry_a.comment == "kernel upgrade; done"
    assert not file.up(NOW, NOW, entry="ENTRY_B")  # ENTRY_B ended at 10:00
    assert not file.up(NOW, NOW, entry="ENTRY_A", frontend="fe9")
    # malformed lines survive a rewrite untouched
    text = path.read_text()
    assert "not-a-time None ENTRY_C\n" in text and "None a b c d\n" in text


def test_up_all_closes_entry_lines_not_factory(tmp_path: Path) -> None:
    path = tmp_path / "d"
    path.write_text(SAMPLE)
    file = DowntimeFile(path)
    assert file.up(NOW, NOW, entry="All")
    ended = {d.entry: d.end for d in file.read().downtimes}
    assert ended["ENTRY_A"] == NOW and ended["All"] == NOW
    assert ended["ENTRY_E"] == datetime(2025, 3, 2, tzinfo=CST)  # future: ends at its start
    assert ended["factory"] == datetime(2025, 3, 1, 13, tzinfo=CST)
    assert file.up(NOW, NOW, entry="factory", frontend="fe3", security_class="cls3")


def test_vacuum_drops_ended_lines_only(tmp_path: Path) -> None:
    path = tmp_path / "d"
    path.write_text(SAMPLE)
    file = DowntimeFile(path)
    assert file.vacuum(NOW) == 1  # ENTRY_B
    assert file.vacuum(NOW) == 0
    assert len(file.read().errors) == 4  # malformed lines kept for the operator
    assert [d.entry for d in file.read().downtimes] == ["ENTRY_A", "All", "factory", "ENTRY_E"]


WRITER = """
import sys
from datetime import datetime, timezone
from glideinwms_factory.lib.downtimes import Downtime, DowntimeFile
path, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
file = DowntimeFile(path)
start = datetime(2025, 1, 1, tzinfo=timezone.utc)
for i in range(count):
    assert file.down(Downtime(start, None, f"{name}_{i}", comment="concurrent"))
"""


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "glideinWMS.downtimes"
    writers, per_writer = 6, 25
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"W{n}", str(per_writer)])
        for n in range(writers)
    ]
    deadline = time.monotonic() + 60
    for proc in procs:
        assert proc.wait(timeout=max(deadline - time.monotonic(), 1)) == 0
    result = DowntimeFile(path).read()
    assert result.errors == ()
    names = sorted(d.entry for d in result.downtimes)
    assert names == sorted(f"W{n}_{i}" for n in range(writers) for i in range(per_writer))
    assert path.read_text().count("#Start End") == 1


def test_a_delay_past_the_calendar_is_a_clear_error() -> None:
    from datetime import datetime

    from glideinwms_factory.lib.downtimes import DowntimeError, parse_delay, shifted

    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert shifted(now, parse_delay("1h")) == datetime(2026, 1, 1, 1, tzinfo=UTC)
    with pytest.raises(DowntimeError, match="out of range"):
        shifted(now, parse_delay("99999999h"))
