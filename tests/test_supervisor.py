"""The supervisor restarts dead and hung children with back-off and a cap, and stops all."""

import logging
import os
import signal
import sys
import time

from waiting import wait_for

from glideinwms_factory.services import Service, ServiceWatch
from glideinwms_factory.supervisor import Child, RestartPolicy, Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def make(children, **policy):
    policy = RestartPolicy(**{"attempts": 2, "interval": 60, "backoff_first": 0.1, **policy})
    return Supervisor(children, policy, logging.getLogger("test.supervisor"), hang_timeout=1.0)


def test_policy_caps_restarts_per_interval():
    policy = RestartPolicy(attempts=3, interval=100)
    assert policy.may_restart([0, 10, 20], now=30)
    assert not policy.may_restart([0, 10, 20, 25], now=30)
    assert policy.may_restart([0, 10, 20, 25], now=115)  # the first two are old now
    assert [policy.backoff(n) for n in range(4)] == [0.0, 1.0, 2.0, 4.0]
    assert RestartPolicy(backoff_max=5).backoff(10) == 5


def test_killed_child_is_restarted_others_untouched(tmp_path):
    a, b = Child("a", SLEEPER), Child("b", SLEEPER)
    sup = make([a, b])
    sup.start_all()
    try:
        pid_a, pid_b = a.process.pid, b.process.pid
        os.kill(pid_a, signal.SIGKILL)

        def restarted():
            sup.poll()
            return a.process is not None and a.process.pid != pid_a

        assert wait_for(restarted)
        assert b.process.pid == pid_b and b.process.poll() is None
        assert len(a.starts) == 2
    finally:
        sup.stop_all(timeout=5)


def test_crash_looping_child_is_given_up_on(tmp_path):
    crasher = Child("crash", [sys.executable, "-c", "raise SystemExit(3)"])
    steady = Child("steady", SLEEPER)
    sup = make([crasher, steady], attempts=2)
    sup.start_all()
    try:

        def gave_up():
            sup.poll()
            return crasher.given_up

        assert wait_for(gave_up)
        assert len(crasher.starts) == 3  # first start + 2 restarts
        assert steady.process.poll() is None
    finally:
        sup.stop_all(timeout=5)


def test_hung_child_is_killed_and_restarted(tmp_path):
    # The supervisor touches the heartbeat at start; a sleeper never touches it again.
    child = Child("hang", SLEEPER, heartbeat=tmp_path / "hb")
    sup = make([child])
    sup.start_all()
    first = child.process.pid
    try:

        def replaced():
            sup.poll()
            return child.process is not None and child.process.pid != first

        assert wait_for(replaced)
        assert not os.path.exists(f"/proc/{first}") or _is_zombie_free(first)
    finally:
        sup.stop_all(timeout=5)


def _is_zombie_free(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return True


def test_stop_all_kills_children_that_ignore_term(tmp_path):
    stubborn = Child(
        "stubborn",
        [
            sys.executable,
            "-c",
            "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(120)",
        ],
    )
    sup = make([stubborn])
    sup.stdout_dir = tmp_path
    sup.start_all()
    pid = stubborn.process.pid
    assert wait_for(lambda: "ready" in (tmp_path / "stubborn.stdout.log").read_text())
    started = time.monotonic()
    sup.stop_all(timeout=1)
    assert time.monotonic() - started < 10
    assert not os.path.exists(f"/proc/{pid}")


def test_a_given_up_child_is_tried_again_after_the_interval(tmp_path):
    """The restart cap backs off instead of giving up for good, and says so meanwhile."""
    fixed = tmp_path / "fixed"
    flaky = Child(
        "flaky",
        [
            sys.executable,
            "-c",
            f"import os, sys, time\nif not os.path.exists({str(fixed)!r}): sys.exit(3)\n"
            "time.sleep(120)\n",
        ],
    )
    sup = make([flaky], attempts=1, interval=2)
    sup.start_all()
    try:

        def gave_up():
            sup.poll()
            return flaky.given_up

        assert wait_for(gave_up)
        [problem] = sup.problems()
        assert problem.startswith("entry group flaky given up (restart cap) until")
        fixed.touch()

        def running_again():
            sup.poll()
            return not flaky.given_up and flaky.process is not None and flaky.process.poll() is None

        assert wait_for(running_again, timeout=15)
        assert sup.problems() == []
    finally:
        sup.stop_all(timeout=5)


def test_service_watch_restarts_with_back_off_and_reports_until_back():
    clock = [1000.0]
    state = {"alive": True, "fail_starts": 2, "starts": 0}

    def start():
        state["starts"] += 1
        if state["fail_starts"]:
            state["fail_starts"] -= 1
            raise RuntimeError("port busy\nsecond line")
        state["alive"] = True

    service = Service("embedded pool", lambda: state["alive"], start)
    watch = ServiceWatch(
        [service], RestartPolicy(backoff_first=10), logging.getLogger("t"), clock=lambda: clock[0]
    )
    watch.poll()
    assert watch.problems() == []
    state["alive"] = False
    for _ in range(40):  # 80 s of polls, one every 2 s
        clock[0] += 2
        watch.poll()
        if state["alive"]:
            break
    assert state["alive"] and state["starts"] == 3  # immediately, then after 10 s, 20 s
    assert watch.problems() == [] and service.restarts == 1
    state["alive"] = False
    clock[0] += 2
    watch.poll()
    assert watch.problems() and "embedded pool down since" in watch.problems()[0]
