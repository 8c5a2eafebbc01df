"""How long a glidein takes from start to its worker, and how many can start at once.

Stages an entry (tests/staging_fixture.py), serves it with `python -m http.server`, runs
glidein_startup.sh with bash against a throw-away loopback collector endpoint (stand-in
lifetime 0), and prints the validation time (start -> last script) and the wall time per
glidein, sequentially and for a burst started together.

    .venv/bin/python bench/bench_glidein_startup.py [--runs 10] [--burst 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from staging_fixture import (
    RecordingCollector,
    build_staging,
    glidein_argv,
    glidein_env,
    http_server,
)


def _start(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=glidein_env()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="sequential glideins")
    parser.add_argument("--burst", type=int, default=10, help="glideins started together")
    options = parser.parse_args()
    collector = RecordingCollector()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        staging = build_staging(root / "s", "BENCH", main_consts={"GLIDEIN_Site": "Bench"})
        params = {"GLIDEIN_Collector": collector.address, "GLIDEIN_Standin_Lifetime": "0"}
        with http_server(staging.stage_dir) as url:
            argv = glidein_argv(staging, url, root, **params)
            walls = []
            for _ in range(options.runs):
                started = time.perf_counter()
                proc = _start(argv)
                if proc.wait() != 0:
                    raise SystemExit("a benchmark glidein failed")
                walls.append(time.perf_counter() - started)
            started = time.perf_counter()
            burst = [_start(argv) for _ in range(options.burst)]
            failed = sum(proc.wait() != 0 for proc in burst)
            burst_wall = time.perf_counter() - started
    collector.close()
    print(f"sequential glideins: {options.runs}")
    median = statistics.median(walls)
    print(f"  wall per glidein (start -> worker ad -> end): median {median:.3f} s,"
          f" min {min(walls):.3f} s, max {max(walls):.3f} s")  # fmt: skip
    print(f"burst of {options.burst} started together: all done in {burst_wall:.3f} s, "
          f"{failed} failed")  # fmt: skip
    print(f"slot ad updates received: {sum('advertise' in r.path for r in collector.requests)}")


if __name__ == "__main__":
    main()
