"""The downtime file (config.md §7) and the `down`/`up`/`statusdown` semantics (operations.md §1).

Line form: `<start> <end|None> [<entry> [<frontend> [<sec_class>]]] [# comment]`, times in
ISO-8601 with offset. The queries are pure functions of parsed lines and a time; only
`DowntimeFile` touches the disk. Writers hold an exclusive `flock` on `<file>.lock` and
replace the file atomically; a rewrite keeps every line it does not change byte for byte
(malformed ones included), so a tool never loses what an operator typed.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from glideinwms_factory.lib.atomicfile import atomic_write

ALL = "All"
FACTORY = "factory"
HEADER = "#Start End Entry Frontend Sec_Class # Comment"
FILE_NAME = "glideinWMS.downtimes"  # in the work dir (config.md §7)
_DELAY_RE = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# Entry, frontend and class names are columns: no blanks, no comment sign.
_NAME_RE = re.compile(r"[^\s#]+")
_CLOCK_RE = re.compile(
    r"(?:(?:(?:(?P<year>\d{4})-)?(?P<month>\d{1,2})-)?(?P<day>\d{1,2})-)?"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?"
)


class DowntimeError(ValueError):
    """Bad input to a downtime operation (a time, a delay, a scope)."""


def local_now() -> datetime:
    """Now, timezone-aware in local time (the zone downtime lines are written in)."""
    return datetime.now().astimezone()


def _parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.astimezone()


def _format_time(value: datetime) -> str:
    aware = value if value.tzinfo is not None else value.astimezone()
    return aware.isoformat(timespec="seconds")


@dataclass(frozen=True)
class Downtime:
    """One downtime line; `end` None means open-ended."""

    start: datetime
    end: datetime | None
    entry: str = FACTORY
    frontend: str = ALL
    security_class: str = ALL
    comment: str = ""

    def active(self, now: datetime) -> bool:
        """Start <= now <= End."""
        return self.start <= now and (self.end is None or now <= self.end)

    def ended(self, now: datetime) -> bool:
        return self.end is not None and self.end < now

    def all_clients(self) -> bool:
        return self.frontend == ALL and self.security_class == ALL

    def applies_to(self, entry: str, frontend: str, security_class: str) -> bool:
        """Whether this line takes requests of (frontend, class) on `entry` down."""
        return (
            self.entry in (entry, ALL, FACTORY)
            and self.frontend in (frontend, ALL)
            and self.security_class in (security_class, ALL)
        )

    def to_line(self) -> str:
        """The file line; a comment's control characters become spaces (one line, always)."""
        end = _format_time(self.end) if self.end is not None else "None"
        line = (
            f"{_format_time(self.start)} {end} {self.entry} {self.frontend} {self.security_class}"
        )
        comment = _CONTROL_RE.sub(" ", self.comment).strip()
        return f"{line} # {comment}" if comment else line


@dataclass(frozen=True)
class ParsedFile:
    """The lines of a downtime file: raw text, the parsed downtime of each (or None), errors."""

    lines: tuple[str, ...]
    parsed: tuple[Downtime | None, ...]
    errors: tuple[str, ...]

    @property
    def downtimes(self) -> list[Downtime]:
        return [downtime for downtime in self.parsed if downtime is not None]


def parse_line(line: str) -> Downtime | None:
    """One line -> a Downtime, None for blank/comment lines; DowntimeError if malformed."""
    data, _, comment = line.partition("#")
    fields = data.split()
    if not fields:
        return None
    if len(fields) < 2 or len(fields) > 5:
        raise DowntimeError(f"expected 2 to 5 fields before '#', found {len(fields)}")
    try:
        start = _parse_time(fields[0])
        end = None if fields[1] == "None" else _parse_time(fields[1])
    except ValueError as err:
        raise DowntimeError(f"bad time: {err}") from None
    if end is not None and end < start:
        raise DowntimeError("end is before start")
    scope = (fields[2:] + [FACTORY, ALL, ALL][len(fields) - 2 :])[:3]
    return Downtime(start, end, scope[0], scope[1], scope[2], comment.strip())


def parse_downtimes(text: str) -> ParsedFile:
    """Parse a whole file; a malformed line is reported as `line N: why` and skipped."""
    lines = tuple(text.splitlines())
    parsed: list[Downtime | None] = []
    errors = []
    for number, line in enumerate(lines, 1):
        try:
            parsed.append(parse_line(line))
        except DowntimeError as err:
            errors.append(f"line {number}: {err}: {line.strip()[:80]!r}")
            parsed.append(None)
    return ParsedFile(lines, tuple(parsed), tuple(errors))


# ---- queries -------------------------------------------------------------------------


def factory_down(downtimes: Iterable[Downtime], now: datetime) -> Downtime | None:
    """The active `factory All All` line, if any."""
    return next(
        (d for d in downtimes if d.entry == FACTORY and d.all_clients() and d.active(now)), None
    )


def entry_down(downtimes: Iterable[Downtime], entry: str, now: datetime) -> Downtime | None:
    """The line putting the whole entry down (`GLIDEIN_In_Downtime`): factory, All or entry."""
    return next(
        (
            d
            for d in downtimes
            if d.entry in (entry, ALL, FACTORY) and d.all_clients() and d.active(now)
        ),
        None,
    )


def request_down(
    downtimes: Iterable[Downtime], entry: str, frontend: str, security_class: str, now: datetime
) -> Downtime | None:
    """The line taking requests of (frontend, class) on `entry` down, if any."""
    return next(
        (d for d in downtimes if d.applies_to(entry, frontend, security_class) and d.active(now)),
        None,
    )


def statusdown_line(downtimes: Iterable[Downtime], name: str, now: datetime) -> str:
    """`<name> Down\\t<fe:sc,...>` or `<name> Up  \\tAll:All` for an entry or `factory`."""
    entries = (FACTORY,) if name == FACTORY else (name, ALL, FACTORY)
    scopes: list[str] = []
    for downtime in downtimes:
        scope = f"{downtime.frontend}:{downtime.security_class}"
        if downtime.entry in entries and downtime.active(now) and scope not in scopes:
            scopes.append(scope)
    return f"{name} Down\t{','.join(scopes)}" if scopes else f"{name} Up  \t{ALL}:{ALL}"


def check_scope(entry: str, frontend: str = ALL, security_class: str = ALL) -> None:
    """Refuse names that would not stay one column of the file."""
    for what, name in (
        ("entry", entry),
        ("frontend", frontend),
        ("security class", security_class),
    ):
        if not _NAME_RE.fullmatch(name):
            raise DowntimeError(
                f"bad {what} name {name!r}: must be non-empty, without blanks or '#'"
            )


def _covers(existing: Downtime, new: Downtime) -> bool:
    """Whether `existing` already takes down everything `new` would, for all of its window."""
    if existing.entry == FACTORY and existing.all_clients():
        scope = True
    else:
        scope = (
            (existing.entry == new.entry or (existing.entry == ALL and new.entry != FACTORY))
            and existing.frontend in (new.frontend, ALL)
            and existing.security_class in (new.security_class, ALL)
        )
    if not scope or existing.start > new.start:
        return False
    if existing.end is None:
        return True
    return new.end is not None and existing.end >= new.end


def _matches_up(downtime: Downtime, entry: str, frontend: str, security_class: str) -> bool:
    """`up` scoping: `All` entry = every entry line (not factory); `All` fe/class = any."""
    entry_ok = downtime.entry != FACTORY if entry == ALL else downtime.entry == entry
    return (
        entry_ok
        and frontend in (ALL, downtime.frontend)
        and security_class in (ALL, downtime.security_class)
    )


# ---- time syntax of the tools ---------------------------------------------------------


def shifted(now: datetime, delay: timedelta) -> datetime:
    """`now + delay`, or a DowntimeError when that is past the calendar's end."""
    try:
        return now + delay
    except OverflowError:
        raise DowntimeError(f"a delay of {delay} from now is out of range") from None


def parse_delay(text: str) -> timedelta:
    """`[Nh][Nm][N[s]]` (e.g. `1h30m`, `90`, `10m5s`) -> timedelta."""
    match = _DELAY_RE.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise DowntimeError(f"bad delay {text!r}: expected [Nh][Nm][N[s]], e.g. 1h30m")
    try:
        hours, minutes, seconds = (int(group or 0) for group in match.groups())
        return timedelta(hours=hours, minutes=minutes, seconds=seconds)
    except (ValueError, OverflowError):  # more days than a timedelta holds
        raise DowntimeError(f"bad delay {text!r}: too long") from None


def parse_time_spec(text: str, now: datetime) -> datetime:
    """`[[[YYYY-]MM-]DD-]HH:MM[:SS]` (missing parts from `now`), epoch seconds, or ISO-8601."""
    text = text.strip()
    match = _CLOCK_RE.fullmatch(text)
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text)).astimezone()
        if match is None:
            return _parse_time(text)
        parts: dict[str, Any] = {"second": 0, "microsecond": 0}
        parts |= {k: int(v) for k, v in match.groupdict().items() if v is not None}
        return now.replace(**parts)
    except (ValueError, OverflowError, OSError) as err:  # out-of-range fields or epoch
        raise DowntimeError(f"bad time {text!r}: {err}") from None


# ---- the file --------------------------------------------------------------------------


class DowntimeFile:
    """The downtime file of one factory; safe against concurrent writers."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    @contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            if exclusive:
                raise
            yield  # a reader that cannot create the lock still sees whole files (rename)
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    def _read_text(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def read(self) -> ParsedFile:
        """The parsed file (empty if it does not exist)."""
        with self._locked(exclusive=False):
            return parse_downtimes(self._read_text())

    def _write(self, lines: Iterable[str]) -> None:
        atomic_write(self.path, "".join(f"{line}\n" for line in lines))

    def down(self, downtime: Downtime) -> bool:
        """Append `downtime` unless an existing line already covers it; True if appended."""
        check_scope(downtime.entry, downtime.frontend, downtime.security_class)
        if downtime.end is not None and downtime.end < downtime.start:
            raise DowntimeError("downtime end is before its start")
        with self._locked(exclusive=True):
            current = parse_downtimes(self._read_text())
            if any(_covers(existing, downtime) for existing in current.downtimes):
                return False
            self._write([*(current.lines or (HEADER,)), downtime.to_line()])
            return True

    def up(
        self,
        until: datetime,
        now: datetime,
        entry: str = FACTORY,
        frontend: str = ALL,
        security_class: str = ALL,
        comment: str = "",
        only_comment_prefix: str = "",
    ) -> bool:
        """End every matching line not yet ended at `now` at `until`; True if any was open.

        A matching line that would only start after `until` ends at its own start.
        `only_comment_prefix` limits it to the lines one tool wrote (e.g. `infosys:`).
        """
        check_scope(entry, frontend, security_class)
        with self._locked(exclusive=True):
            current = parse_downtimes(self._read_text())
            lines = list(current.lines)
            changed = False
            for index, downtime in enumerate(current.parsed):
                if downtime is None or downtime.ended(now):
                    continue
                if not _matches_up(downtime, entry, frontend, security_class):
                    continue
                if not downtime.comment.startswith(only_comment_prefix):
                    continue
                note = f"{downtime.comment}; {comment}" if comment else downtime.comment
                closed = replace(downtime, end=max(until, downtime.start), comment=note)
                lines[index] = closed.to_line()
                changed = True
            if changed:
                self._write(lines)
            return changed

    def vacuum(self, now: datetime) -> int:
        """Drop the lines that ended before `now`; returns how many."""
        with self._locked(exclusive=True):
            current = parse_downtimes(self._read_text())
            keep = [
                line
                for line, downtime in zip(current.lines, current.parsed, strict=True)
                if downtime is None or not downtime.ended(now)
            ]
            dropped = len(current.lines) - len(keep)
            if dropped:
                self._write(keep)
            return dropped
