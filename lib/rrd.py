"""Round-robin history files (operations.md §7): create, update, fetch, graph.

Every RRD the factory keeps has the same shape: step 60 s, heartbeat 1800 s, min/max
unknown, and four AVERAGE archives: a fine one (1 minute x 720 rows: the last 12 hours,
so a new factory's graphs fill within minutes), then upstream's three of 740 rows at
5 minutes, 1 hour and 12 hours. The coarsest holds 740 x 12 h = 370 days, so one year
of history needs nothing more. Files made with upstream's 300 s step are read alike.

`RRDTool` drives the `rrdtool` Python binding when it is importable and the `rrdtool`
command otherwise (same arguments either way), so a machine without the binding still
keeps history. Arguments are passed as argv lists, never through a shell.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:  # the binding is optional: the command does the same job, only slower
    import rrdtool as _binding
except ImportError:  # pragma: no cover - depends on the machine
    _binding = None

STEP = 60
HEARTBEAT = 1800
# (steps per row, rows): fine 1 min x 12 h; upstream's 5 min x 2.5 d, 1 h x 30 d, 12 h x 1 y
LAYOUT = ((1, 720, 0.5), (5, 740, 0.8), (60, 740, 0.92), (720, 740, 0.98))
ARCHIVES = tuple(f"RRA:AVERAGE:{xff}:{steps}:{rows}" for steps, rows, xff in LAYOUT)
# rrdtool refuses data-source names longer than this
MAX_DS_NAME = 19


class RRDError(Exception):
    """An RRD could not be created, updated, read or drawn."""


@dataclass(frozen=True)
class DataSource:
    """One data source: `kind` is GAUGE (a level) or ABSOLUTE (a count since last update)."""

    name: str
    kind: str = "GAUGE"

    def definition(self) -> str:
        return f"DS:{self.name}:{self.kind}:{HEARTBEAT}:U:U"


@dataclass(frozen=True)
class Series:
    """What `fetch` returns: `rows[i]` holds the values at `start + (i + 1) * step`."""

    start: int
    step: int
    names: tuple[str, ...]
    rows: tuple[tuple[float | None, ...], ...]

    def column(self, name: str) -> list[float | None]:
        index = self.names.index(name)
        return [row[index] for row in self.rows]


def _number(value: float | int | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "U"
    return repr(value) if isinstance(value, float) else str(int(value))


def _parse_float(text: str) -> float | None:
    value = float(text)
    return None if math.isnan(value) else value


class RRDTool:
    """rrdtool through the binding (default when importable) or the command."""

    def __init__(self, use_binding: bool | None = None) -> None:
        if use_binding is None:
            use_binding = _binding is not None
        if use_binding and _binding is None:
            raise RRDError("the rrdtool Python binding is not installed")
        self.use_binding = use_binding
        self._command = shutil.which("rrdtool") if not use_binding else None
        if not use_binding and self._command is None:
            raise RRDError(
                "neither the rrdtool Python binding nor the rrdtool command is available"
            )

    def _run(self, verb: str, args: Sequence[str]) -> Any:
        """The binding's return value, or the command's output text."""
        if self.use_binding:
            try:
                return getattr(_binding, verb)(*args)
            except (_binding.OperationalError, _binding.ProgrammingError) as exc:
                raise RRDError(f"rrdtool {verb}: {exc}") from exc
        proc = subprocess.run(
            [str(self._command), verb, *args], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise RRDError(f"rrdtool {verb}: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc.stdout

    def create(self, path: Path, sources: Iterable[DataSource], start: int) -> None:
        """Create `path` (and its folder) with data sources, whose first slot follows `start`.

        Written to a temporary name and renamed so a reader never sees half a file.
        """
        sources = list(sources)
        for source in sources:
            if len(source.name) > MAX_DS_NAME or not source.name.replace("_", "").isalnum():
                raise RRDError(f"bad data-source name {source.name!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        args = [str(tmp), "--start", str(int(start)), "--step", str(STEP)]
        args += [source.definition() for source in sources]
        args += ARCHIVES
        self._run("create", args)
        os.replace(tmp, path)

    def ensure(self, path: Path, sources: Iterable[DataSource], start: int) -> None:
        """Create `path` unless it exists (its data sources are fixed at creation)."""
        if not path.exists():
            self.create(path, sources, start)

    def source_names(self, path: Path) -> list[str]:
        """The data sources `path` has, in their order."""
        info = self._run("info", [str(path)])
        keys = (
            info
            if isinstance(info, dict)
            else [line.split(" = ")[0] for line in str(info).splitlines()]
        )
        return [k[3:-7] for k in keys if k.startswith("ds[") and k.endswith("].index")]

    def add_sources(self, path: Path, sources: Iterable[DataSource]) -> None:
        """Add data sources to an existing RRD (`rrdtool tune`), on a copy swapped in."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        shutil.copy2(path, tmp)
        try:
            self._run("tune", [str(tmp), *(source.definition() for source in sources)])
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def update(self, path: Path, timestamp: int, values: Mapping[str, float | int | None]) -> None:
        """Store one sample: `values` by data-source name, at `timestamp` (epoch seconds)."""
        names = list(values)
        sample = ":".join([str(int(timestamp)), *(_number(values[n]) for n in names)])
        self._run("update", [str(path), "--template", ":".join(names), sample])

    def fetch(self, path: Path, start: int, end: int, resolution: int = 5 * STEP) -> Series:
        """Consolidated AVERAGE values between `start` and `end`."""
        args = [str(path), "AVERAGE", "--resolution", str(resolution)]
        args += ["--start", str(int(start)), "--end", str(int(end))]
        if self.use_binding:
            (first, _last, step), names, rows = self._run("fetch", args)
            return Series(first, step, tuple(names), tuple(tuple(r) for r in rows))
        return self._parse_fetch(self._run("fetch", args))

    @staticmethod
    def _parse_fetch(text: str) -> Series:
        lines = [line for line in text.splitlines() if line.strip()]
        names = tuple(lines[0].split())
        stamps: list[int] = []
        rows: list[tuple[float | None, ...]] = []
        for line in lines[1:]:
            stamp, _, rest = line.partition(":")
            stamps.append(int(stamp))
            rows.append(tuple(_parse_float(v) for v in rest.split()))
        if not rows:
            return Series(0, STEP, names, ())
        step = stamps[1] - stamps[0] if len(stamps) > 1 else STEP
        return Series(stamps[0] - step, step, names, tuple(rows))

    def last(self, path: Path) -> int:
        """Time of the last update."""
        out = self._run("last", [str(path)])
        return int(out) if isinstance(out, int) else int(str(out).strip())

    def graph(self, png: Path, args: Sequence[str]) -> None:
        """Draw a PNG with `rrdtool graph` arguments (DEF/LINE/AREA ...), atomically."""
        tmp = png.with_name(f".{png.name}.{os.getpid()}.tmp")
        self._run("graph", [str(tmp), "--imgformat", "PNG", *args])
        os.replace(tmp, png)

    def averages(
        self, path: Path, now: int, periods: Sequence[int]
    ) -> dict[int, dict[str, float | None]]:
        """Mean of each data source over the last `period` seconds, for each period.

        Unknown slots are left out of a mean; a source with no known slot gives None.
        """
        result: dict[int, dict[str, float | None]] = {}
        for period in periods:
            series = self.fetch(path, now - period, now, resolution_for(period))
            means: dict[str, float | None] = {}
            for name in series.names:
                known = [v for v in series.column(name) if v is not None]
                means[name] = sum(known) / len(known) if known else None
            result[period] = means
        return result

    def sums(self, path: Path, now: int, periods: Sequence[int]) -> dict[int, dict[str, float]]:
        """What ABSOLUTE sources counted over the last `period` seconds, for each period:
        rate x slot length summed over the known slots (an unknown slot counts nothing).

        Each stretch of time is read once, from the finest archive that still holds it (the
        last 12 h at 1 minute, then 5 min, then 1 h ...), so recent counts are never lost in
        a coarse row that is not complete yet; every period is summed from the same rows.
        """
        start, end = now - max(periods), now
        totals: dict[int, dict[str, float]] = {period: {} for period in periods}
        for index, (steps, rows, _xff) in enumerate(LAYOUT):
            if end <= start:
                break
            coarser = LAYOUT[min(index + 1, len(LAYOUT) - 1)][0] * STEP
            oldest = now - steps * rows * STEP
            boundary = max(start, -(-oldest // coarser) * coarser)
            if index == len(LAYOUT) - 1:
                boundary = start
            series = self.fetch(path, boundary, end, steps * STEP)
            ends = [series.start + (i + 1) * series.step for i in range(len(series.rows))]
            keep = [i for i, t in enumerate(ends) if boundary < t <= end]
            for period in periods:
                chosen = [series.rows[i] for i in keep if ends[i] > now - period]
                if not chosen:
                    continue
                sums = totals[period]
                for name, column in zip(series.names, zip(*chosen, strict=True), strict=True):
                    known = sum(v for v in column if v is not None)
                    sums[name] = sums.get(name, 0.0) + known * series.step
            end = boundary
        return totals


def resolution_for(period: int) -> int:
    """The finest archive that holds all of `period` (its rows x step cover it)."""
    for steps, rows, _xff in LAYOUT:
        if period <= steps * rows * STEP:
            return steps * STEP
    return LAYOUT[-1][0] * STEP
