"""`kill -9` of the process running ScheddCore loses nothing acknowledged; jobs are found again."""

import json
import os
import pathlib
import signal
import subprocess
import sys
from typing import Any

import htcondor2
from test_schedd_support import (
    description,
    job,
    process_alive,
    running_core,
    script,
    status,
)
from waiting import wait_for

from glideinwms_factory.lib.pool import JobStatus
from glideinwms_factory.lib.pool.embedded import runas

# A schedd in a child process that acknowledges each command on stdout (one JSON line).
CHILD = """
import json, pathlib, sys
from glideinwms_factory.lib.pool import JobAction
from glideinwms_factory.lib.pool.embedded.schedd_core import ScheddCore
core = ScheddCore(pathlib.Path(sys.argv[1]), slots=8, tick=0.02, policy_interval=0.2, kill_grace=0.5)
core.start()
print(json.dumps({"result": "ready"}), flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    if cmd["op"] == "submit":
        result = core.submit(cmd["description"], cmd["count"])
    elif cmd["op"] == "act":
        result = core.act(JobAction(cmd["action"]), cmd["jobs"], cmd["reason"])
    else:
        ads = core.query("true", ["ClusterId", "ProcId", "JobStatus"])
        result = {f"{a['ClusterId']}.{a['ProcId']}": a["JobStatus"] for a in ads}
    print(json.dumps({"result": result}), flush=True)
"""


class ChildSchedd:
    def __init__(self, state_dir: pathlib.Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(state_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._read() == "ready"

    def call(self, **command: Any) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def _read(self) -> Any:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, "the child schedd died"
        return json.loads(line)["result"]

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


def test_kill_9_and_restart_lose_nothing(tmp_path: pathlib.Path, shared: pathlib.Path) -> None:
    # Each proc records its pid, then waits for its own go file and exits 7.
    waiting = script(
        tmp_path,
        "wait.sh",
        f'echo $$ > "{shared}/pid.$1"\n'
        f'while [ ! -e "{shared}/go.$1" ]; do sleep 0.05; done\nexit 7\n',
    )
    quick = script(tmp_path, "quick.sh", "exit 5\n")
    child = ChildSchedd(tmp_path / "state")
    try:
        text = description(waiting, arguments="$(Process)", log="a.log")
        a = child.call(op="submit", description=text, count=5)
        b = child.call(op="submit", description=description(quick), count=2)

        def settled() -> bool:
            states = child.call(op="status")
            running = [states[f"{a}.{p}"] for p in range(5)] == [2] * 5
            return running and states[f"{b}.0"] == states[f"{b}.1"] == 4

        wait_for(settled, what="5 waiting jobs running, quick jobs completed")
        assert child.call(op="act", action="hold", jobs=[f"{a}.1"], reason="kept hold") == 1
        assert child.call(op="act", action="remove", jobs=[f"{a}.3"], reason="kept rm") == 1
        c = child.call(op="submit", description=description(quick), count=3)
        pids = {p: int((shared / f"pid.{p}").read_text()) for p in (0, 2)}
    finally:
        child.kill9()

    # While the schedd is down: job 0 finishes, job 2's process dies without an exit code.
    (shared / "go.0").touch()
    os.killpg(os.getpgid(pids[2]), signal.SIGKILL)
    execute = runas.execute_base(tmp_path / "state" / "execute", runas.job_user())
    wait_for(lambda: (execute / f"dir_{a}.0.1.exit").exists())

    with running_core(tmp_path / "state") as core:
        assert {j: status(core, j) for j in (f"{a}.1", f"{a}.3", f"{b}.0", f"{b}.1")} == {
            f"{a}.1": JobStatus.HELD,
            f"{a}.3": JobStatus.REMOVED,
            f"{b}.0": JobStatus.COMPLETED,
            f"{b}.1": JobStatus.COMPLETED,
        }
        assert job(core, f"{a}.1", "HoldReason")["HoldReason"] == "kept hold"
        assert job(core, f"{b}.0", "ExitCode")["ExitCode"] == 5
        assert len(core.query(f"ClusterId == {c}")) == 3, "last acknowledged submit kept"
        assert job(core, f"{a}.0", "JobStatus", "ExitCode", "NumJobStarts") == {
            "JobStatus": JobStatus.COMPLETED,
            "ExitCode": 7,
            "NumJobStarts": 1,
        }
        # Job 2 was lost with its process: it runs again.
        wait_for(lambda: job(core, f"{a}.2", "NumJobStarts")["NumJobStarts"] == 2)
        # Job 4 survived the crash running: its end is still observed.
        assert job(core, f"{a}.4", "JobStatus", "NumJobStarts") == {
            "JobStatus": JobStatus.RUNNING,
            "NumJobStarts": 1,
        }
        (shared / "go.4").touch()
        (shared / "go.2").touch()
        for proc in (2, 4):
            wait_for(lambda p=proc: status(core, f"{a}.{p}") == JobStatus.COMPLETED)
            assert job(core, f"{a}.{proc}", "ExitCode")["ExitCode"] == 7
        assert core.submit(description(quick)) > c, "cluster ids are never reused"
    events: dict[int, list[int]] = {}
    for event in htcondor2.JobEventLog(str(tmp_path / "a.log")).events(stop_after=0):
        events.setdefault(event.proc, []).append(int(event.type))
    assert events[0] == [0, 1, 5], "finished while the schedd was down"
    assert events[2] == [0, 1, 4, 1, 5], "lost with its process: evicted, run again"
    assert events[4] == [0, 1, 5], "its end observed after the restart"


def test_kill_during_removal_is_finished_after_restart(
    tmp_path: pathlib.Path, shared: pathlib.Path
) -> None:
    # The job ignores SIGTERM, so it is still alive when the schedd dies mid-removal.
    stubborn = script(
        tmp_path,
        "stubborn.sh",
        f"trap '' TERM\necho $$ > \"{shared}/pid\"\nwhile :; do sleep 0.05; done\n",
    )
    child = ChildSchedd(tmp_path / "state")
    try:
        cluster = child.call(op="submit", description=description(stubborn), count=1)
        wait_for(lambda: (shared / "pid").exists(), what="job started")
        assert child.call(op="act", action="remove", jobs=[f"{cluster}.0"], reason="") == 1
    finally:
        child.kill9()
    pid = int((shared / "pid").read_text())
    with running_core(tmp_path / "state") as core:
        assert status(core, f"{cluster}.0") == JobStatus.REMOVED
        wait_for(lambda: not process_alive(pid), what="orphaned removed job killed")
