"""Reading RRD files back with the `rrdtool fetch` command, independent of our code."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path


def fetch_cmd(path: Path, start: int, end: int) -> dict[int, dict[str, float | None]]:
    """`rrdtool fetch` output as {timestamp: {ds: value}} (NaN -> None)."""
    out = subprocess.run(
        ["rrdtool", "fetch", str(path), "AVERAGE", "-r", "300", "-s", str(start), "-e", str(end)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = [line for line in out.splitlines() if line.strip()]
    names = lines[0].split()
    result = {}
    for line in lines[1:]:
        stamp, _, rest = line.partition(":")
        values = [float(v) for v in rest.split()]
        result[int(stamp)] = {
            n: (None if math.isnan(v) else v) for n, v in zip(names, values, strict=True)
        }
    return result
