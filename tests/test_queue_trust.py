"""Unknown state means no action: judging a queue answer against the last cycle."""

from __future__ import annotations

from glideinwms_factory.entry.accounting import Job, State
from glideinwms_factory.entry.queue_trust import QueueMemory, judge


def _jobs(n: int) -> list[Job]:
    return [Job(i, 0, State.RUNNING, 0, "c", "f:s", "s", "cred") for i in range(n)]


def test_the_first_answer_and_ordinary_changes_are_trusted() -> None:
    assert judge(QueueMemory(), _jobs(100), 0, []) == ""
    last = QueueMemory(total=40, submitted=5, removed=3)
    assert judge(last, _jobs(45), 5, []) == ""  # + what it submitted
    assert judge(last, _jobs(25), 0, []) == ""  # a few finished, 3 removed
    assert judge(QueueMemory(total=8), _jobs(0), 0, []) == ""  # a handful may all finish


def test_rows_without_the_accounting_attributes_are_not_trusted() -> None:
    problem = judge(QueueMemory(total=3), _jobs(3), 0, ["job 7.0: no JobStatus"])
    assert problem.startswith("1 glidein(s) in the queue answer lack attributes")


def test_a_rise_beyond_the_submissions_is_not_trusted_unless_a_lost_answer_explains_it():
    last = QueueMemory(total=10, submitted=0, submit_unanswered=True)
    assert "someone else's jobs" in judge(last, _jobs(14), 0, [])
    assert judge(last, _jobs(14), 4, []) == ""  # four tagged with the last cycle's id


def test_a_collapse_is_not_trusted() -> None:
    last = QueueMemory(total=100, removed=10)
    assert "vanished at once" in judge(last, _jobs(20), 0, [])
    assert judge(last, _jobs(45), 0, []) == ""  # 45 left of 90: half may finish
