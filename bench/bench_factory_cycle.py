"""One full cycle of many entries served by one entry-group process (prints figures).

ARCHITECTURE.md asks that ~500 entries, ~10 clients each and ~100,000 glideins fit in one
cycle well under a minute. This builds a real tree of N entries, a real embedded pool
with the glideins in its queue and real requests from the Frontend simulator, then times
`EntryGroupDaemon.iteration()` over the whole group, with its stages.

Usage: .venv/bin/python bench/bench_factory_cycle.py [--entries 100] [--clients 10]
       [--glideins 20000]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import ask_for_glideins, fill_queue
from factory_testlib import EntrySpec, config_xml, create, free_port

from glideinwms_factory.entry.daemon import EntryGroupDaemon
from glideinwms_factory.lib.factory_key import load_keys
from glideinwms_factory.lib.pool.connect import ensure_factory_token
from glideinwms_factory.lib.pool.embedded import control


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--glideins", type=int, default=20000)
    args = parser.parse_args()
    names = [f"e{i:03d}" for i in range(args.entries)]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        specs = [EntrySpec(n, max_glideins=100000, max_idle=100000, max_held=100000) for n in names]
        factory = create(Path(tmp), config_xml(specs, free_port(), 1))
        print(f"tree of {args.entries} entries: {time.perf_counter() - started:.1f} s")
        control.start(factory.state_dir, slots=1)
        try:
            ensure_factory_token(factory.state_dir)
            keys = load_keys(factory.work)
            daemon = EntryGroupDaemon(factory.work, names, "bench")
            daemon.iteration()
            ask_for_glideins(factory, daemon.pool.collector, keys, names, args.clients)
            started = time.perf_counter()
            fill_queue(factory, names, args.glideins, args.clients, hold=True)
            print(f"{args.glideins} glideins queued: {time.perf_counter() - started:.1f} s")
            daemon.iteration()  # warm: RRDs created, ads cached by the schedd
            profile = cProfile.Profile()
            started = time.perf_counter()
            profile.runcall(daemon.iteration)
            elapsed = time.perf_counter() - started
            print(
                f"one cycle: {args.entries} entries, {args.clients} clients each, "
                f"{args.glideins} glideins: {elapsed:.1f} s "
                f"({elapsed / args.entries * 1000:.0f} ms per entry)"
            )
            stats = pstats.Stats(profile)
            for label, where, name in (
                ("find work (query, decrypt, validate)", "entry/daemon.py", "find_work"),
                ("serve the entries (all below)", "entry/daemon.py", "serve_entry"),
                ("  schedd queries", "embedded/client.py", "query"),
                ("  decisions", "entry/decision.py", "plan_cycle"),
                ("  advertise", "entry/daemon.py", "_ads"),
                ("  submit, remove, release", "entry/submission.py", "execute"),
                ("  stats files (XML, RRD)", "entry/stats.py", "write"),
            ):
                total = sum(
                    row[3]
                    for (filename, _line, func), row in stats.stats.items()
                    if func == name and filename.endswith(where)
                )
                print(f"  {label:40} {total:6.1f} s")
        finally:
            control.stop(factory.state_dir)


if __name__ == "__main__":
    main()
