"""A realistic factory queue for the accounting benchmarks (issue #14's data set).

500 entries of log-normal size (17 to ~1,800 glideins, 100,000 in all) on 4 schedds, 10
clients each, Condor-G ads as HTCondor-CE, ARC and batch (BLAH) entries report them:
idle 30% / running 55% / held 13% / removed 2%, each grid type's own GridJobStatus
words, holds with real hold codes, and some glideins older than the stale ages.
90% of the entries have one request per client.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import classad2

from glideinwms_factory.entry.accounting import RequestKey
from glideinwms_factory.entry.decision import Request

NOW = 1_760_000_000
DAY = 86_400
SCHEDDS = [f"schedd_glideins{n}@gfactory-1.example.org" for n in range(1, 5)]
FRONTENDS = ["CMS", "OSG_OSPool", "ATLAS", "DUNE", "LIGO"]

# (JobStatus -> GridJobStatus words with weights) per grid type; None = no GridJobStatus.
GRID_WORDS: dict[str, dict[int, list[tuple[str | None, int]]]] = {
    "condor": {  # HTCondor-CE: the remote JobStatus name
        1: [(None, 10), ("IDLE", 80), ("HELD", 5), ("TRANSFERRING_OUTPUT", 5)],
        2: [("RUNNING", 90), ("COMPLETED", 4), ("TRANSFERRING_OUTPUT", 3), ("SUSPENDED", 3)],
    },
    "arc": {  # ARC CE (REST): INLRMS states and the ARC job states
        1: [
            *[(None, 5), ("ACCEPTING", 5), ("ACCEPTED", 10), ("PREPARING", 10)],
            *[("SUBMITTING", 10), ("INLRMS:Q", 55), ("OTHER", 5)],
        ],
        2: [("INLRMS:R", 85), ("INLRMS:E", 4), ("FINISHING", 5), ("EXECUTED", 3), ("KILLING", 3)],
    },
    "batch": {  # BLAH: the LRMS state
        1: [(None, 10), ("IDLE", 85), ("UNKNOWN", 5)],
        2: [("RUNNING", 93), ("COMPLETED", 4), ("SUSPENDED", 3)],
    },
}
# (HoldReasonCode, HoldReasonSubCode, HoldReason) seen on factory schedds.
HOLDS = [
    (2, 0, "Error from CE: cannot connect"),
    (12, 2, "Error from slot: failed to transfer output"),
    (13, 2, "Transfer input files failure"),
    (16, 0, "Job held because of a failed proxy refresh"),
    (26, 0, "The job attribute PeriodicHold expression evaluated to TRUE"),
    (30, 1, "Job put on hold by remote host: memory exceeded"),
    (34, 0, "Memory usage exceeds a memory limit"),
]
RECOVERABLE = "2,12 2,13 2,16,30 1"


@dataclass
class Entry:
    name: str
    schedd: str
    grid_type: str
    ads: list[classad2.ClassAd]
    requests: list[Request]


def _sizes(rng: random.Random, entries: int, glideins: int) -> list[int]:
    """Log-normal entry sizes between 17 and ~1,800 that add up to `glideins`."""
    raw = [rng.lognormvariate(0, 1.1) for _ in range(entries)]
    scale = glideins / sum(raw)
    sizes = [min(max(int(r * scale), 17), 1800) for r in raw]
    step = 1 if sum(sizes) < glideins else -1
    i = 0
    while sum(sizes) != glideins:  # spread the rounding left-over within 17..1800
        if 17 <= sizes[i % entries] + step <= 1800:
            sizes[i % entries] += step
        i += 1
    return sizes


def _pick(rng: random.Random, weighted: list[tuple[Any, int]]) -> Any:
    return rng.choices([w for w, _ in weighted], [n for _, n in weighted])[0]


def _row(rng: random.Random, entry: str, grid_type: str, cluster: int, client: int) -> dict:
    fe = FRONTENDS[client % len(FRONTENDS)]
    status = _pick(rng, [(1, 30), (2, 55), (5, 13), (3, 2)])
    row: dict[str, Any] = {
        "ClusterId": cluster,
        "ProcId": 0,
        "JobStatus": status,
        "ServerTime": NOW,
        "GlideinEntrySubmitFile": f"entry_{entry}/job.condor",
        "GlideinCredentialIdentifier": f"{fe.lower()}_cred{client % 2}",
        "GlideinFrontendName": f"{fe}:frontend",
        "GlideinClient": f"{fe}_gWMSFrontend.group{client}",
        "GlideinSecurityClass": "frontend",
        "fename": f"fe_{fe.lower()}",
    }
    age = int(rng.expovariate(1 / (2 * DAY)))
    if rng.random() < 0.01:
        age += 40 * DAY  # an old glidein, past both stale ages
    row["EnteredCurrentStatus"] = NOW - age
    words = GRID_WORDS[grid_type]
    if status in words:
        grid = _pick(rng, words[status])
        if grid is not None:
            row["GridJobStatus"] = grid
    elif status == 5:
        code, sub, reason = rng.choice(HOLDS)
        row |= {"HoldReasonCode": code, "HoldReasonSubCode": sub, "HoldReason": reason}
        row["NumSystemHolds"] = rng.choice([0, 1, 1, 2, 3, 5, 11, 25])
        row["GridJobStatus"] = rng.choice(["HELD", "IDLE", "INLRMS:Q"])
    if status == 2:
        row["JobStartDate"] = NOW - age
    return row


def factory_queue(entries: int = 500, clients: int = 10, glideins: int = 100_000) -> list[Entry]:
    """The data set, the same for every run (seeded)."""
    rng = random.Random(14)
    result = []
    cluster = {schedd: 1000 for schedd in SCHEDDS}
    for n, size in enumerate(_sizes(rng, entries, glideins)):
        name = f"OSG_site{n:03d}_CE{n % 3}"
        schedd = SCHEDDS[n % len(SCHEDDS)]
        grid_type = rng.choice(["condor", "condor", "condor", "arc", "batch"])
        ads = []
        for _ in range(size):
            cluster[schedd] += 1
            row = _row(rng, name, grid_type, cluster[schedd], rng.randrange(clients))
            ads.append(classad2.ClassAd(row))
        requests = []
        if rng.random() < 0.9:
            for client in range(clients):
                fe = FRONTENDS[client % len(FRONTENDS)]
                key = RequestKey(
                    f"{fe}_gWMSFrontend.group{client}", "frontend", f"{fe.lower()}_cred{client % 2}"
                )
                request = Request(
                    key,
                    f"{fe}:frontend",
                    idle=rng.randrange(0, 60),
                    max_glideins=rng.randrange(0, size + 50),
                    remove_excess=rng.choice(["NO", "NO", "WAIT", "IDLE", "ALL"]),
                    remove_margin=rng.choice([0, 0, 5]),
                    down=rng.random() < 0.02,
                )
                requests.append(request)
        result.append(Entry(name, schedd, grid_type, ads, requests))
    return result
