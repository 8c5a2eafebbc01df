"""Spreading one submission over the sub-entries of an entry set (operations.md §5.2):
the selection algorithm `Default` of `<entry_selection algorithm_name>`.

An entry set has one submit file per sub-entry; each gets an equal share of the entry's
caps, so one busy site cannot take the whole set's budget. Pure: the caller passes the
random generator (shuffled order) and executes the result.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence

from glideinwms_factory.entry.accounting import IDLE_STATES, Job, State
from glideinwms_factory.entry.limits import EntryLimits


def deal_to_submit_files(
    count: int,
    submit_files: Sequence[str],
    jobs: Iterable[Job],
    limits: EntryLimits,
    rng: random.Random,
) -> dict[str, int]:
    """Deal `count` glideins round-robin over the shuffled `submit_files`, each file only
    while under `PerEntryMaxIdle/n` idle and `PerEntryMaxGlideins/n` idle+running.

    Returns glideins per file (files given none are left out); the sum is less than
    `count` when every file is full.
    """
    if not submit_files or count <= 0:
        return {}
    share = len(submit_files)
    max_idle, max_total = limits.max_idle // share, limits.max_glideins // share
    idle: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for job in jobs:
        if job.state in IDLE_STATES:
            idle[job.submit_file] += 1
            total[job.submit_file] += 1
        elif job.state is State.RUNNING:
            total[job.submit_file] += 1
    order = list(submit_files)
    rng.shuffle(order)
    dealt: Counter[str] = Counter()
    remaining = count
    while remaining:
        open_files = [f for f in order if idle[f] < max_idle and total[f] < max_total]
        if not open_files:
            break
        for name in open_files[:remaining]:
            idle[name] += 1
            total[name] += 1
            dealt[name] += 1
        remaining -= min(remaining, len(open_files))
    return dict(dealt)
