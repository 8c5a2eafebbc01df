"""The core of bench/bench_hostile.py on one ad of each hostile kind from each sender: the
real pool daemon takes or refuses them, one entry iteration reads them, and every one is
refused by the pool, rejected with a logged and counted reason, or (only what a
configured Frontend may send) served; none is dropped without a reason."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from factory_testlib import FRONTEND, EntrySpec, config_xml, create, free_port

from glideinwms_factory.entry import decision_trace
from glideinwms_factory.entry.daemon import EntryGroupDaemon
from glideinwms_factory.lib.factory_key import load_keys
from glideinwms_factory.lib.pool.connect import ensure_factory_token
from glideinwms_factory.lib.pool.embedded import control

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from hostile_ads import (
    KINDS,
    MAY_BE_SERVED,
    LogReader,
    Poster,
    Sender,
    Tally,
    round_of,
    served_in,
    skipped_in,
)

STRANGER = "mallory@example.org"


def test_every_hostile_ad_is_refused_rejected_or_served_never_dropped(tmp_path):
    factory = create(tmp_path, config_xml([EntrySpec("alpha")], free_port()))
    control.start(factory.state_dir, slots=1)
    try:
        ensure_factory_token(factory.state_dir)
        key = load_keys(factory.work).current  # as the factory makes it at start
        daemon = EntryGroupDaemon(factory.work, ["alpha"])
        daemon.iteration()  # the entry's ad; its logs begin
        senders = [Sender(FRONTEND, key, "alpha"), Sender(STRANGER, key, "alpha")]
        posters = {
            who: Poster(factory.address, factory.token_file(who).read_text().strip())
            for who in (FRONTEND, STRANGER)
        }
        logs = LogReader(factory.root)
        logs.new_lines()
        tally = Tally()
        reached = tally.send(posters, round_of(senders, 0, copies=1))
        daemon.iteration()
        lines = logs.new_lines()
        trace = factory.work / "entry_alpha" / decision_trace.TRACE_FILE
        tally.settle(reached, skipped_in(lines), served_in(trace), FRONTEND)
    finally:
        control.stop(factory.state_dir)
    assert set(tally.sent) == set(KINDS)
    assert +tally.dropped == {} and +tally.served_unexpectedly == {}
    assert +tally.accepted_when_refusal_expected == {}
    assert set(tally.served) == MAY_BE_SERVED and all(n == 1 for n in tally.served.values())
    assert set(tally.refused_by_pool) == {
        "20k-term expression",
        "300-deep expression",
        "3,000 attributes",
        "forged glidefactory ad",
        "forged glidefactoryglobal ad",
    }
    counters = json.loads((factory.root / "monitor/entry_alpha/counters.json").read_text())
    counted = sum(sum(c["rejected"].values()) for c in counters.values())
    assert counted == sum(" skipped: " in line for line in lines) == sum(tally.rejected.values())
