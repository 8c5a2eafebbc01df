"""Time the accounting of a realistic factory queue in one process, from the schedd's
answer (classad2 ads) to the decisions, now and at a baseline commit (prints the ratio).

The data set is issue #14's (bench/queue_data.py): 500 entries x 10 clients, 100,000
glideins. The baseline's entry/accounting.py and entry/decision.py are read from git
(`--baseline REV`, default the commit before the speed-up) and run on the same ads, in
the same process, alternating with the current code; each figure is the best of `--runs`,
in CPU seconds of this thread (the machine is shared: wall time would count the others).

    .venv/bin/python bench/bench_accounting.py [--runs 3] [--baseline REV]
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from queue_data import NOW, RECOVERABLE, Entry, factory_queue

from glideinwms_factory.entry import accounting, decision
from glideinwms_factory.entry.decision import Request
from glideinwms_factory.entry.limits import EntryLimits

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "baabd6ff009a7d3928c327586a299ea1751b0c0b"  # main before issue #14


def baseline_modules(rev: str) -> tuple[Any, Any] | None:
    """entry/accounting.py and entry/decision.py as of `rev`, as fresh modules."""
    modules = []
    for name in ("accounting", "decision"):
        try:
            source = subprocess.run(
                ["git", "-C", str(ROOT), "show", f"{rev}:entry/{name}.py"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        except (OSError, subprocess.CalledProcessError) as err:
            print(f"no baseline ({err}); timing the current code only")
            return None
        module = types.ModuleType(f"baseline_{name}")
        sys.modules[module.__name__] = module  # dataclasses look their module up
        source = source.replace("glideinwms_factory.entry.accounting", "baseline_accounting")
        exec(compile(source, f"{rev[:8]}:entry/{name}.py", "exec"), module.__dict__)
        modules.append(module)
    return modules[0], modules[1]


def one_pass(acc: Any, dec: Any, queue: list[Entry], limits: EntryLimits) -> dict[str, float]:
    """Seconds per stage over every entry: records, grouping, decisions."""
    requests = [[_request(acc, dec, r) for r in entry.requests] for entry in queue]
    times = {"records": 0.0, "grouping": 0.0, "decisions": 0.0}
    gc.collect()
    for entry, planned in zip(queue, requests, strict=True):
        t0 = time.thread_time()
        jobs, _errors = acc.jobs_from_rows(entry.ads, NOW)
        t1 = time.thread_time()
        snapshot = acc.QueueSnapshot(jobs, 1)
        t2 = time.thread_time()
        dec.plan_cycle(planned, snapshot, limits)
        t3 = time.thread_time()
        times["records"] += t1 - t0
        times["grouping"] += t2 - t1
        times["decisions"] += t3 - t2
    times["total"] = sum(times.values())
    return times


def _request(acc: Any, dec: Any, r: Request) -> Any:
    """`r` for the decision module `dec`: the baseline took `(request, down)` pairs."""
    key = acc.RequestKey(*r.key)
    fields = (r.frontend_name, r.idle, r.max_glideins, r.remove_excess, r.remove_margin)
    if dec is decision:
        return dec.Request(key, *fields, down=r.down)
    return (dec.Request(key, *fields), r.down)


def best(results: list[dict[str, float]]) -> dict[str, float]:
    return {stage: min(r[stage] for r in results) for stage in results[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", default=BASELINE)
    options = parser.parse_args()
    started = time.perf_counter()
    queue = factory_queue()
    glideins = sum(len(entry.ads) for entry in queue)
    requests = sum(len(entry.requests) for entry in queue)
    print(
        f"{len(queue)} entries, {glideins} glideins, {requests} requests "
        f"(built in {time.perf_counter() - started:.1f} s)"
    )
    limits = EntryLimits.from_descript({}, recoverable_exitcodes=RECOVERABLE)
    old = baseline_modules(options.baseline)
    runs_now, runs_then = [], []
    for _ in range(options.runs):  # alternate, so a busy spell hits both alike
        runs_now.append(one_pass(accounting, decision, queue, limits))
        if old:
            runs_then.append(one_pass(*old, queue, limits))
    now = best(runs_now)
    then = best(runs_then) if old else None
    print(f"\n{'stage':<12} {'now':>9}" + (f" {'baseline':>9} {'ratio':>6}" if old else ""))
    for stage, seconds in now.items():
        line = f"{stage:<12} {seconds:8.3f}s"
        if then:
            line += f" {then[stage]:8.3f}s {then[stage] / seconds:5.1f}x"
        print(line)


if __name__ == "__main__":
    main()
