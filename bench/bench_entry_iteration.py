"""One entry iteration with 20 clients and 5,000 glideins in the queue (prints figures).

A real tree, a real embedded pool and real request ads from the Frontend simulator; the
entry daemon's `iteration()` is timed as a whole (find work, queue snapshot, decision,
advertise, stats), then request decryption + validation on its own, with and without the
key-code cache (a frontend sends one key code for all its ads of a cycle).

Usage: .venv/bin/python bench/bench_entry_iteration.py [--clients 20] [--glideins 5000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import ask_for_glideins, fill_queue
from factory_testlib import FRONTEND, EntrySpec, config_xml, create, free_port

from glideinwms_factory.entry.daemon import EntryGroupDaemon
from glideinwms_factory.entry.requests import request_constraint, validate_request
from glideinwms_factory.lib.crypto import OaepPreference
from glideinwms_factory.lib.factory_key import load_keys
from glideinwms_factory.lib.pool.connect import ensure_factory_token
from glideinwms_factory.lib.pool.embedded import control

ENTRY = "bench"


def timed(function, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--glideins", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        factory = create(
            Path(tmp),
            config_xml([EntrySpec(ENTRY, max_glideins=100000, max_idle=100000)], free_port(), 1),
        )
        control.start(factory.state_dir, slots=1)
        try:
            ensure_factory_token(factory.state_dir)
            keys = load_keys(factory.work)
            daemon = EntryGroupDaemon(factory.work, [ENTRY])
            daemon.iteration()  # first advertisement: the simulator needs the entry's ad
            ask_for_glideins(factory, daemon.pool.collector, keys, [ENTRY], args.clients)
            # One slot: nearly all of them stay idle.
            fill_queue(factory, [ENTRY], args.glideins, args.clients, hold=False)
            iteration = timed(daemon.iteration, 5)
            print(
                f"entry iteration, {args.clients} clients, {args.glideins} glideins: "
                f"median {statistics.median(iteration) * 1000:.0f} ms "
                f"(min {min(iteration) * 1000:.0f}, max {max(iteration) * 1000:.0f})"
            )

            ads = daemon.pool.collector.query(
                request_constraint([daemon.entries[ENTRY].config], [keys.current.pub_key_id])
            )
            assert len(ads) == args.clients, len(ads)
            config, frontends = daemon.entries[ENTRY].config, daemon.factory.frontends
            rounds = 10
            for label, make_cache in (
                ("first contact", lambda: None),
                ("padding remembered", OaepPreference),
            ):
                cache = make_cache()
                started = time.perf_counter()
                for _ in range(rounds):
                    for ad in ads:
                        result = validate_request(
                            ad, config, keys, frontends, time.time(), padding=cache
                        )
                        assert getattr(result, "identity", None) == FRONTEND, result
                elapsed = time.perf_counter() - started
                print(
                    f"decrypt + validate ({label}): {rounds * len(ads) / elapsed:,.0f} requests/s"
                )
        finally:
            control.stop(factory.state_dir)


if __name__ == "__main__":
    main()
