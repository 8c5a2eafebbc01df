"""Daemon logs: daily files `<name>_info.<date>.log` and `<name>_err.<date>.log`.

One line per event: time, level, entry, client, message. Files older than the retention
period are deleted when the day changes, so a long-running daemon needs no cron job.
The clock is injectable so that rotation and retention can be tested without waiting days.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

Clock = Callable[[], float]

_FORMAT = "%(asctime)s %(levelname)s entry=%(entry)s client=%(client)s %(message)s"
_DATED_NAME = re.compile(r"^(?P<name>.+)_(?P<kind>info|err)\.(?P<date>\d{8})\.log$")


class _ContextDefaults(logging.Filter):
    """Give every record `entry` and `client` fields, `-` when the caller set none."""

    def filter(self, record: logging.LogRecord) -> bool:
        for field in ("entry", "client"):
            if not hasattr(record, field):
                setattr(record, field, "-")
        return True


class DailyFileHandler(logging.Handler):
    """Writes to `<dir>/<name>_<kind>.<YYYYMMDD>.log`, switching files at midnight (UTC).

    `kind` is `info` (every record at or above the handler level) or `err` (WARNING and up).
    """

    def __init__(
        self,
        directory: Path,
        name: str,
        kind: str,
        retention_days: int = 7,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(logging.WARNING if kind == "err" else logging.DEBUG)
        if kind not in ("info", "err"):
            raise ValueError(f"log kind must be info or err, not {kind!r}")
        self.directory = Path(directory)
        self.name_prefix = name
        self.kind = kind
        self.retention_days = retention_days
        self.clock = clock
        self._date = ""
        self._stream: TextIO | None = None
        self.setFormatter(_UTCFormatter(_FORMAT))
        self.addFilter(_ContextDefaults())

    def path_for(self, date: str) -> Path:
        return self.directory / f"{self.name_prefix}_{self.kind}.{date}.log"

    def emit(self, record: logging.LogRecord) -> None:
        try:
            date = dt.datetime.fromtimestamp(self.clock(), dt.UTC).strftime("%Y%m%d")
            if date != self._date:
                self._switch(date)
            assert self._stream is not None
            self._stream.write(self.format(record) + "\n")
            self._stream.flush()
        except Exception:  # logging must never take the daemon down
            self.handleError(record)

    def _switch(self, date: str) -> None:
        if self._stream is not None:
            self._stream.close()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._stream = open(self.path_for(date), "a", encoding="utf-8")  # noqa: SIM115
        self._date = date
        remove_old_logs(self.directory, self.retention_days, self.clock())

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        super().close()


class _UTCFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="seconds")


def remove_old_logs(directory: Path, retention_days: int, now: float) -> list[Path]:
    """Delete dated logs whose date is more than `retention_days` before `now`'s date."""
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    removed = []
    for path in directory.glob("*.log"):
        match = _DATED_NAME.match(path.name)
        if match is None:
            continue
        day = dt.datetime.strptime(match["date"], "%Y%m%d").date()
        if (today - day).days > retention_days:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def setup_daemon_logger(
    logger_name: str,
    directory: Path,
    file_prefix: str,
    retention_days: int = 7,
    clock: Clock = time.time,
) -> logging.Logger:
    """A logger writing both daily files of one daemon (and nothing else)."""
    logger = logging.getLogger(logger_name)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for kind in ("info", "err"):
        logger.addHandler(DailyFileHandler(directory, file_prefix, kind, retention_days, clock))
    return logger
