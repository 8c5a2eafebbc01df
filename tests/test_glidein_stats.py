"""The job statistics a glidein returns in its .out (upstream's Stats block, activations line
after it) and what the factory's parser makes of them. HTCondor cannot run here: the tarball's
condor_master writes the StarterLog/StartdLog lines a real startd writes for three jobs, then
ends as on DAEMON_SHUTDOWN (exit 99)."""

from __future__ import annotations

import re
from pathlib import Path

from staging_fixture import build_staging, condor_tarball, glidein_argv, http_server, run_glidein

from glideinwms_factory.entry.completed import describe
from glideinwms_factory.lib.glidein_output import summarize_out

ENTRY = "STATS_ENTRY"
# slot1_1: one job exits 0 after 100 s; slot1_2: one exits 3 after 50 s, one is killed after 20 s.
MASTER = r"""#!/bin/bash
log=$(awk '$1 == "LOG" { print $3 }' "$CONDOR_CONFIG")
d="12/04/26"
cat >"$log/StarterLog.slot1_1" <<EOF
$d 10:00:00 (pid:100) Communicating with shadow <10.0.0.1:9618?addrs=10.0.0.1-9618>
$d 10:00:01 (pid:100) Starting a VANILLA universe job with ID: 40.0
$d 10:00:01 (pid:100) Create_Process succeeded, pid=101
$d 10:01:41 (pid:100) Process exited, pid=101, status=0
EOF
cat >"$log/StarterLog.slot1_2" <<EOF
$d 10:00:05 (pid:200) Create_Process succeeded, pid=201
$d 10:00:55 (pid:200) Process exited, pid=201, status=3
$d 10:01:00 (pid:300) Create_Process succeeded, pid=301
$d 10:01:20 (pid:300) Process exited, pid=301, signal=9
EOF
for i in 1 2 3; do echo "$d 10:00:0$i (pid:50) Got activate_claim request from shadow <10.0.0.1:9618>"; done >"$log/StartdLog"
exit 99
"""


def test_the_stats_block_counts_the_starter_logs_and_the_factory_reads_it(tmp_path: Path) -> None:
    staging = build_staging(
        tmp_path / "s", ENTRY, condor_tarball=("24.0.1-default-default", condor_tarball(MASTER))
    )
    params = {"GLIDEIN_Collector": "pool.example.org:9618", "GLIDEIN_Max_Walltime": "7200",
              "GLIDEIN_CPUS": "2"}  # fmt: skip
    with http_server(staging.stage_dir) as url:
        result = run_glidein(glidein_argv(staging, url, tmp_path, **params))
    assert result.returncode == 0, result.stderr  # 99 from the master is a normal end
    out = result.stdout
    block = out.split("=== Stats of main ===\n")[1].split("=== End Stats of main ===\n")[0]
    assert "(Real) Total jobs 3 utilization 170\n" in block
    assert "(Normalized) Total jobs 2 utilization 85\n" in block  # 2 cores: jobs and time shared
    assert re.search(
        r"^\(Normalized\) Total goodZ jobs 1 +\(33\.\d+%\) utilization 50 ", block, re.M
    )
    assert re.search(r"^\(Normalized\) Total badSignal jobs 1 .* utilization 10 ", block, re.M)
    after = out.split("=== End Stats of main ===\n")[1]
    assert after.startswith("Total number of activations/claims: 3\n")
    assert out.index(
        "Total jobs/goodZ jobs/goodNZ jobs/badSignal jobs/badOther jobs below"
    ) < out.index("=== Stats of main ===")
    # The factory's side: the parsed summary, and the completed-glidein record from the .out.
    summary = summarize_out(out)
    assert summary.jobs == {"Total": (3, 170), "goodZ": (1, 50), "goodNZ": (1, 25),
                            "badSignal": (1, 10), "badOther": (0, 0)}  # fmt: skip
    assert summary.claims == 3
    (tmp_path / "job.7.0.out").write_text(out)
    row = {"Out": "job.7.0.out", "Iwd": str(tmp_path), "CompletionDate": 2000, "JobStartDate": 1000}
    done = describe("7.0", row)
    assert (done.jobs_nr, done.jobs_duration, done.goodput, done.jobs_terminated) == (
        3,
        170,
        50,
        75,
    )
