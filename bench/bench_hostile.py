"""Hostile request ads against a running factory (issue #17); prints what became of them.

A real factory (factory_startup, the embedded pool daemon, an entry daemon, glideins
running glidein_startup.sh) serves one well-behaved Frontend (`gwms-frontend-sim`) that
asks for glideins. Meanwhile, round after round, crafted ads (`hostile_ads.KINDS`) come
from the configured Frontend's own token and from a token holder that is no configured
Frontend, each round invalidated after two entry cycles have seen it. At the end it
prints: hostile ads sent; refused by the pool (error answer, pool.log line); rejected by
the entry with a logged reason (and the monitoring counters' total beside the log's);
served (and whether any of those should not have been); dropped without a reason; how
often the good Frontend was served; daemon crashes and restarts.

Usage: .venv/bin/python bench/bench_hostile.py [--rounds 12] [--copies 4]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from factory_testlib import FRONTEND, EntrySpec, Factory, config_xml, create, free_port, running
from hostile_ads import (
    ROUND_ATTR,
    LogReader,
    Poster,
    Sender,
    Tally,
    round_of,
    served_in,
    skipped_in,
)

from glideinwms_factory.entry import decision_trace
from glideinwms_factory.lib import pidlock
from glideinwms_factory.lib.factory_key import load_keys
from glideinwms_factory.lib.pool.embedded.client import EmbeddedCollector
from glideinwms_factory.tools.frontend_sim import INVALIDATE_COMMAND

STRANGER = "mallory@example.org"  # holds a valid token, is no configured Frontend
ENTRY = "alpha"
GOOD_IDLE, GOOD_MAX = 2, 3


def wait(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench_hostile: timed out waiting for {what}")
        time.sleep(0.2)


def cycles_after(trace: Path, when: float) -> list[dict[str, Any]]:
    return [c for c in decision_trace.read(trace) if c.get("time", 0) > when]


def cycles_since(trace: Path, when: float, count: int) -> Callable[[], bool]:
    return lambda: len(cycles_after(trace, when)) >= count


def daemons(factory: Factory) -> dict[str, int | None]:
    """The pids of the factory, its pool and its entry daemon (None: not running)."""
    pool_pid = factory.state_dir / "pool.pid"
    entry = pidlock.read_pid(factory.work / "lock" / f"entry_{ENTRY}.lock")
    return {
        "factory": pidlock.read_pid(factory.work / "lock" / "glideinWMS.lock"),
        "pool": int(pool_pid.read_text()) if pool_pid.exists() else None,
        "entry": entry,
    }


def rejected_counted(factory: Factory) -> int:
    """Rejections counted in monitoring so far (all clients, all reasons)."""
    path = factory.root / "monitor" / f"entry_{ENTRY}" / "counters.json"
    try:
        kept = json.loads(path.read_text())
    except (OSError, ValueError):
        return 0
    return int(sum(sum(c.get("rejected", {}).values()) for c in kept.values()))


def text_of(paths: Iterable[Path]) -> str:
    return "".join(p.read_text(errors="replace") for p in paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--copies", type=int, default=4, help="ads of each kind and sender")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec = EntrySpec(ENTRY, max_glideins=4, max_idle=3)
        factory = create(Path(tmp), config_xml([spec], free_port(), slots=2))
        with running(factory):
            run(factory, args.rounds, args.copies)


def run(factory: Factory, rounds: int, copies: int) -> None:
    started = time.monotonic()
    factory.ask_glideins(ENTRY, GOOD_IDLE, GOOD_MAX)
    token = {who: factory.token_file(who).read_text().strip() for who in (FRONTEND, STRANGER)}
    collector = EmbeddedCollector(factory.address, token[FRONTEND])
    good = collector.query('(GlideinMyType =?= "glideclient") && (ClientName =?= "frontend.main")')
    assert len(good) == 1, good
    good_name = str(good[0]["Name"])
    wait(lambda: factory.glideins(ENTRY), 60, "the good Frontend's first glideins")
    before = daemons(factory)
    key = load_keys(factory.work).current
    senders = [Sender(FRONTEND, key, ENTRY), Sender(STRANGER, key, ENTRY)]
    posters = {who: Poster(factory.address, token[who]) for who in token}
    trace = factory.work / f"entry_{ENTRY}" / decision_trace.TRACE_FILE
    logs = LogReader(factory.root)
    logs.new_lines()
    counted_before = rejected_counted(factory)
    tally, logged_events = Tally(), 0
    good_cycles: dict[int, bool] = {}
    for rnd in range(rounds):
        round_start = time.time()
        reached = tally.send(posters, round_of(senders, rnd, copies, good[0]))
        sent_at = time.time()
        wait(cycles_since(trace, sent_at, 2), 120, "two entry cycles")
        lines = logs.new_lines()
        logged_events += sum(" skipped: " in line for line in lines)
        tally.settle(reached, skipped_in(lines), served_in(trace), FRONTEND)
        for cycle in cycles_after(trace, round_start):
            names = {r["request"]["name"] for r in cycle["requests"] if r["rejected"] is None}
            good_cycles[cycle["time"]] = good_name in names
        # The stranger tries to drop every request; then each sender drops its round.
        EmbeddedCollector(factory.address, token[STRANGER]).invalidate(
            '(GlideinMyType =?= "glideclient")', INVALIDATE_COMMAND
        )
        for who in token:
            EmbeddedCollector(factory.address, token[who]).invalidate(
                f"({ROUND_ATTR} =?= {rnd})", INVALIDATE_COMMAND
            )
    end = time.time()  # two more cycles: the last rejections are counted in monitoring
    wait(cycles_since(trace, end, 2), 60, "two last cycles")
    logged_events += sum(" skipped: " in line for line in logs.new_lines())
    report(factory, tally, before, good_cycles, good_name, logged_events, counted_before)
    print(f"run: {time.monotonic() - started:.0f} s")


def report(
    factory: Factory,
    tally: Tally,
    before: dict[str, int | None],
    good_cycles: dict[int, bool],
    good_name: str,
    logged: int,
    counted_before: int,
) -> None:
    after = daemons(factory)
    sent = sum(tally.sent.values())
    refused = sum(tally.refused_by_pool.values())
    pool_lines = (factory.state_dir / "pool.log").read_text(errors="replace")
    pool_logged = pool_lines.count("refused POST /v1/collector/advertise")
    counted = rejected_counted(factory) - counted_before
    width = max(len(k) for k in tally.sent)
    print(f"{'kind':{width}}  sent  pool-refused  rejected  served  dropped")
    for kind in tally.sent:
        print(
            f"{kind:{width}}  {tally.sent[kind]:4}  {tally.refused_by_pool[kind]:12}  "
            f"{tally.rejected[kind]:8}  {tally.served[kind]:6}  {tally.dropped[kind]:7}"
        )
    print(f"hostile ads sent: {sent} (from {FRONTEND} and from {STRANGER})")
    [pool_ad] = EmbeddedCollector(factory.address).query('MyType =?= "Collector"')
    print(
        f"refused by the pool with an error answer: {refused} (pool.log lines: {pool_logged}; "
        f"counted by the pool, all its refusals: {pool_ad['RefusedRequests']} "
        f"[{pool_ad['RefusedRequestsByStatus']}]; ad writes refused to non-owners, "
        f"invalidations included: {pool_ad['RefusedAdWrites']})"
    )
    print(
        f"rejected by the entry with a logged reason: {sum(tally.rejected.values())} "
        f"(rejection events: {logged} logged, {counted} counted in monitoring)"
    )
    print(f"  top reasons: {dict(tally.reasons.most_common(8))}")
    print(
        f"served: {sum(tally.served.values())} (all of them asking for 0 glideins); "
        f"served that should not have been: {sum(tally.served_unexpectedly.values())} "
        f"{dict(tally.served_unexpectedly)}"
    )
    print(
        f"accepted by the pool though it should refuse: "
        f"{sum(tally.accepted_when_refusal_expected.values())} "
        f"{dict(tally.accepted_when_refusal_expected)}"
    )
    print(f"dropped without a reason: {sum(tally.dropped.values())} {dict(tally.dropped)}")
    served = sum(good_cycles.values())
    glideins = Counter(ad["JobStatus"] for ad in factory.glideins(ENTRY))
    print(
        f"good Frontend ({good_name[:40]}...): served in {served} of {len(good_cycles)} entry "
        f"cycles; its glideins at the end: {glideins[1]} idle, {glideins[2]} running "
        f"(asked idle {GOOD_IDLE}, max {GOOD_MAX})"
    )
    logs = text_of((factory.root / "log").rglob("*.log"))
    restarts = sum(before[k] != after[k] for k in before)
    print(
        f"daemons: {before} -> {after}: {restarts} restart(s); "
        f"tracebacks in logs: {logs.count('Traceback')}; "
        f"status: {factory.startup('status', check=False).stdout.strip()[:60]}"
    )


if __name__ == "__main__":
    main()
