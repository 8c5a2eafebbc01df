"""Daily log files: one line per event, date switch, retention with a fake clock."""

import datetime as dt
import logging

from glideinwms_factory.lib import logs


class FakeClock:
    def __init__(self, when: dt.datetime) -> None:
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, days: float) -> None:
        self.now += days * 86400


def test_lines_go_to_dated_info_and_err_files(tmp_path):
    clock = FakeClock(dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC))
    log = logs.setup_daemon_logger("t.lines", tmp_path, "factory", 7, clock)
    log.info("started")
    log.warning("cannot reach collector", extra={"entry": "ce01", "client": "fe.main"})
    info = (tmp_path / "factory_info.20260301.log").read_text().splitlines()
    err = (tmp_path / "factory_err.20260301.log").read_text().splitlines()
    assert len(info) == 2 and len(err) == 1
    assert info[0].endswith("INFO entry=- client=- started")
    assert "WARNING entry=ce01 client=fe.main cannot reach collector" in err[0]


def test_files_rotate_daily_and_old_ones_are_deleted(tmp_path):
    clock = FakeClock(dt.datetime(2026, 3, 1, 23, 59, tzinfo=dt.UTC))
    log = logs.setup_daemon_logger("t.rotate", tmp_path, "entry_ce01", 2, clock)
    for _ in range(5):
        log.error("boom")
        clock.advance(1)
    names = sorted(p.name for p in tmp_path.iterdir())
    # Day 5 is 2026-03-05: with 2 days kept, 03-03 .. 03-05 remain.
    assert names == sorted(
        f"entry_ce01_{kind}.202603{day:02d}.log" for day in (3, 4, 5) for kind in ("err", "info")
    )
    logging.getLogger("t.rotate").handlers[0].close()


def test_unrelated_files_are_never_deleted(tmp_path):
    (tmp_path / "notes.log").write_text("keep")
    (tmp_path / "factory_info.19990101.txt").write_text("keep")
    logs.remove_old_logs(tmp_path, 1, dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp())
    assert (tmp_path / "notes.log").exists() and (tmp_path / "factory_info.19990101.txt").exists()
