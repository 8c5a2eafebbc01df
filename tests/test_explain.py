"""`factory_startup explain`: each cap the decision checks is recorded with its count and
whether it bound, and explain reads it back (decisions built with the real decision code)."""

from __future__ import annotations

import json

import pytest
from test_decision import LIMITS, ME, STRANGER, jobs, request

from glideinwms_factory import explain
from glideinwms_factory.entry import decision_trace
from glideinwms_factory.entry.accounting import QueueSnapshot, State
from glideinwms_factory.entry.decision import plan_cycle
from glideinwms_factory.entry.requests import WorkRequest

NOW = 1_800_000_000


def work(demand) -> WorkRequest:
    return WorkRequest(
        name="cred_e@g@f@fe1.main",
        client_name="fe1.main",
        req_name="e@g@f",
        security_name="fe1",
        security_class="sc",
        username="fe1user",
        identity="fe1@example.org",
        demand=demand,
        idle_lifetime=0,
        credential_id="cred",
    )


# (case, queue, request overrides, the check that binds, what explain concludes)
CASES = [
    ("entry idle cap", jobs(50, State.WAIT, STRANGER), {}, "IdleGlideinsPerEntry",
     "limit(s) reached"),
    ("entry total cap", jobs(100, State.RUNNING, STRANGER), {}, "TotalGlideinsPerEntry",
     "limit(s) reached"),
    ("entry held cap", jobs(20, State.HELD, STRANGER), {}, "HeldGlideinsPerEntry",
     "limit(s) reached"),
    ("frontend held cap", jobs(10, State.HELD), {}, "HeldPerClass_fe1:sc",
     "removed 5 (held glideins of this request, sanitized instead of submitting)"),
    ("frontend idle cap", jobs(28, State.WAIT), {"idle": 40}, "IdlePerClass_fe1:sc",
     "submitted 2 glidein(s)"),
    ("frontend total cap", jobs(58, State.RUNNING), {"idle": 5}, "TotalPerClass_fe1:sc",
     "submitted 2 glidein(s)"),
    ("request max", jobs(3, State.RUNNING), {"idle": 5, "max_glideins": 4}, "ReqMaxGlideins",
     "submitted 1 glidein(s)"),
    ("submit rate", [], {"idle": 28}, "MaxSubmitRate", "submitted 25 glidein(s) in 3 call(s)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("queue", "overrides", "binding", "outcome"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_each_limit_that_binds_is_recorded_and_explained(
    tmp_path, queue, overrides, binding, outcome
):
    snapshot = QueueSnapshot(queue)
    demand = request(**overrides)
    plan = plan_cycle([demand], snapshot, LIMITS)
    (actions,) = plan.requests
    record = decision_trace.request_record(work(demand), demand, actions, snapshot, None, None)
    bound = [check["name"] for check in record["checks"] if check["bound"]]
    assert bound == [binding]
    trace = tmp_path / "entry_e"
    trace.mkdir()
    cycle = decision_trace.cycle_record("e", NOW, None, [record], plan.entry_cleanup)
    decision_trace.append(explain.trace_path(trace), cycle)
    text = explain.render(explain.last_cycle(trace, None), now=NOW + 5)
    line = next(line for line in text.splitlines() if line.strip().startswith(binding))
    assert line.split()[-1] == "BOUND"
    conclusion = next(line for line in text.splitlines() if line.startswith("  => "))
    assert outcome.split(" (")[0] in conclusion
    assert conclusion.endswith(f"limit(s) reached: {binding}")


def test_a_request_in_downtime_and_one_served_are_told_apart(tmp_path):
    snapshot = QueueSnapshot(jobs(2, State.WAIT))
    served, down = request(idle=4), request(key=STRANGER, frontend_name="fe2:x", down=True)
    plan = plan_cycle([served, down], snapshot, LIMITS)
    records = [
        decision_trace.request_record(work(served), served, plan.requests[0], snapshot, None, None),
        decision_trace.request_record(
            work(down), down, plan.requests[1], snapshot, "factory downtime: maintenance", None
        ),
    ]
    assert records[0]["counts"]["request"]["idle"] == 2 and records[0]["target_idle"] == 4
    assert records[1]["target_idle"] == 0
    decision_trace.append(tmp_path / decision_trace.TRACE_FILE,
                          decision_trace.cycle_record("e", NOW, None, records, None))  # fmt: skip
    text = explain.render(explain.last_cycle(tmp_path, None), now=NOW)
    assert "=> submitted 2 glidein(s) in 1 call(s)" in text
    assert "served at idle 0 (factory downtime: maintenance)" in text


def test_the_trace_keeps_the_last_cycles_only(tmp_path):
    path = tmp_path / decision_trace.TRACE_FILE
    for n in range(decision_trace.KEEP_CYCLES + 5):
        decision_trace.append(path, decision_trace.cycle_record("e", NOW + n, None, [], None))
    kept = json.loads(path.read_text())
    assert len(kept) == decision_trace.KEEP_CYCLES and kept[-1]["time"] == NOW + 24


def test_frontend_filter(tmp_path):
    snapshot = QueueSnapshot([])
    demand = request(key=ME)
    plan = plan_cycle([demand], snapshot, LIMITS)
    record = decision_trace.request_record(work(demand), demand, plan.requests[0], snapshot,
                                           None, None)  # fmt: skip
    decision_trace.append(tmp_path / decision_trace.TRACE_FILE,
                          decision_trace.cycle_record("e", NOW, None, [record], None))  # fmt: skip
    for name in ("fe1", "fe1.main", "fe1:sc"):
        assert explain.last_cycle(tmp_path, name)["requests"] == [record]
    assert explain.last_cycle(tmp_path, "fe2")["requests"] == []
