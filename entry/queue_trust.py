"""Unknown state means no action: whether this cycle's queue answer can be acted on.

A failed or timed-out query already stops the iteration (PoolError). An answer that
arrived can still be wrong: rows without the attributes the accounting needs, or a
queue that changed by more than the last cycle can explain (upstream #306/#681: lost
accounting made factories submit until the host ran out of memory). Then the entry
submits and removes nothing this cycle, says so in its ad and log, and looks again
next cycle. Pure: the daemon keeps one `QueueMemory` per entry.

Each submission carries the cycle's id (`CYCLE_ATTR`): a submit whose answer was lost
(the schedd acted, the reply timed out) is recognised in the next query, counted like
any queued glidein, and explains the rise, before anything new is submitted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from glideinwms_factory.entry.accounting import Job

CYCLE_ATTR = "GlideinCycleId"
COLLAPSE_MIN = 10  # fewer glideins than this may all finish between two cycles


@dataclass
class QueueMemory:
    """What the last trusted cycle saw and did, to judge the next answer by."""

    total: int | None = None  # glideins in the last trusted answer (None: none yet)
    cycle_id: str = ""  # tag of the last cycle's submissions
    submitted: int = 0  # acknowledged by the schedd in the last cycle
    submit_unanswered: bool = False  # a submit of the last cycle got no answer
    removed: int = 0
    problem: str = ""  # why the last answer was not trusted ("" when it was)


def judge(memory: QueueMemory, jobs: Sequence[Job], tagged: int, errors: Sequence[str]) -> str:
    """'' if this answer can be acted on, else one line saying why not.

    `tagged` counts the glideins carrying the last cycle's id: a submit whose answer was
    lost explains a rise as much as an acknowledged one.
    """
    if errors:
        return f"{len(errors)} glidein(s) in the queue answer lack attributes: {errors[0][:120]}"
    if memory.total is None:
        return ""
    total = len(jobs)
    submitted = max(memory.submitted, tagged)
    if total > memory.total + submitted:
        return (
            f"{total} glideins queued, but the last cycle saw {memory.total} and submitted "
            f"{submitted}: someone else's jobs, or a wrong answer"
        )
    vanished = memory.total - memory.removed - total
    if vanished >= COLLAPSE_MIN and vanished > memory.total // 2:
        return (
            f"{vanished} of the {memory.total} glideins of the last cycle vanished at once: "
            "the answer may be truncated"
        )
    return ""


def judge_answer(
    memory: QueueMemory,
    rows: Sequence[Mapping[str, object]],
    jobs: Sequence[Job],
    errors: Sequence[str],
    cycle_id: str,
    log: logging.Logger,
    entry: str,
) -> tuple[QueueMemory, str]:
    """Judge this cycle's queue answer against the last cycle's memory: the memory to keep
    for the next cycle (tagged `cycle_id`) and the problem, '' if the answer can be used.
    Glideins of a submit whose answer was lost are recognised by their cycle tag."""
    tagged = (
        sum(1 for row in rows if row.get(CYCLE_ATTR) == memory.cycle_id) if memory.cycle_id else 0
    )
    if memory.submit_unanswered and tagged > memory.submitted:
        log.warning(
            "recognised %d glidein(s) of cycle %s whose submit answer was lost: counted, "
            "not submitted again",
            tagged - memory.submitted,
            memory.cycle_id,
            extra={"entry": entry},
        )
    problem = judge(memory, jobs, tagged, errors)
    return QueueMemory(total=len(jobs), cycle_id=cycle_id, problem=problem), problem
