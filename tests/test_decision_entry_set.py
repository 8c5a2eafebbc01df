"""Dealing a submission over the sub-entries of an entry set."""

from __future__ import annotations

import random

from glideinwms_factory.entry.accounting import Job, State
from glideinwms_factory.entry.entry_set import deal_to_submit_files
from glideinwms_factory.entry.limits import EntryLimits

LIMITS = EntryLimits(max_idle=30, max_glideins=60)  # 3 files: 10 idle, 20 total each
FILES = ["job.a.condor", "job.b.condor", "job.c.condor"]


def on(submit_file: str, n: int, state: State) -> list[Job]:
    return [Job(i, 0, state, 0, "c", "fe:sc", "sc", "k", submit_file) for i in range(n)]


def test_round_robin_evenly() -> None:
    dealt = deal_to_submit_files(7, FILES, [], LIMITS, random.Random(3))
    assert sum(dealt.values()) == 7 and sorted(dealt.values()) == [2, 2, 3]


def test_full_files_are_skipped() -> None:
    queue = on("job.a.condor", 10, State.WAIT) + on("job.b.condor", 20, State.RUNNING)
    dealt = deal_to_submit_files(8, FILES, queue, LIMITS, random.Random(0))
    assert dealt == {"job.c.condor": 8}


def test_stops_when_every_file_is_full() -> None:
    queue = on("job.a.condor", 8, State.PENDING) + on("job.b.condor", 19, State.RUNNING)
    dealt = deal_to_submit_files(50, FILES, queue, LIMITS, random.Random(0))
    assert dealt == {"job.a.condor": 2, "job.b.condor": 1, "job.c.condor": 10}


def test_shuffle_decides_who_gets_the_extra() -> None:
    winners = {
        max(d, key=d.__getitem__)
        for d in (deal_to_submit_files(1, FILES, [], LIMITS, random.Random(s)) for s in range(30))
    }
    assert winners == set(FILES)


def test_nothing_to_deal() -> None:
    assert deal_to_submit_files(0, FILES, [], LIMITS, random.Random(0)) == {}
    assert deal_to_submit_files(5, [], [], LIMITS, random.Random(0)) == {}
