"""What the entry benchmarks share: a factory's global ad, Frontend requests, a full queue.

Imported by the bench scripts (they put `tests/` on the path for `factory_testlib`).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence

import classad2
from factory_testlib import FRONTEND, frontend_spec

from glideinwms_factory.global_ads import factory_global_ad
from glideinwms_factory.lib.factory_key import FactoryKeys
from glideinwms_factory.lib.pool.embedded.client import EmbeddedCollector
from glideinwms_factory.tools.frontend_ads import (
    CycleKey,
    factory_keys,
    find_targets,
    request_ad,
)
from glideinwms_factory.tools.frontend_sim import REQUEST_COMMAND

FACTORY, GLIDEIN = "testfactory", "gtest"  # the names factory_testlib.config_xml uses


def advertise_factory(collector, keys: FactoryKeys) -> None:
    """The factory's global ad (its public key), what a Frontend encrypts for."""
    ad: classad2.ClassAd = factory_global_ad(
        FACTORY,
        GLIDEIN,
        keys.current,
        start_time=int(time.time()),
        sequence=0,
        sign_types="sha1",
    )
    collector.advertise([ad], "UPDATE_AD_GENERIC")


def ask_for_glideins(factory, collector, keys: FactoryKeys, entries: Sequence[str], clients: int):
    """The factory's global ad, then one request per client group for `entries` (idle 0,
    so an iteration submits nothing and only the cost of serving is measured)."""
    advertise_factory(collector, keys)
    entry_args = [arg for entry in entries for arg in ("--entry", entry)]
    for i in range(clients):
        subprocess.run(
            factory.frontend_sim(
                "--group",
                f"g{i}",
                "request",
                *entry_args,
                "--idle",
                "0",
                "--max",
                "100000",
                "--once",
            ),
            check=True,
            capture_output=True,
        )


def advertise_fresh_requests(factory, entries: Sequence[str], clients: int, cycle: int) -> int:
    """One request per client group and entry, each ad with its own new symmetric key
    and RSA key code, as a Frontend's cycle sends them (so no key code is seen twice);
    idle 0, so an iteration submits nothing. Returns how many ads went out."""
    token = factory.token_file(FRONTEND).read_text().strip()
    collector = EmbeddedCollector(factory.address, token)
    keys = factory_keys(collector.query('(GlideinMyType =?= "glidefactoryglobal")'))
    targets = find_targets(entries, collector.query('(GlideinMyType =?= "glidefactory")'), keys)
    ads = []
    for i in range(clients):
        spec = frontend_spec(
            identity=FRONTEND,
            group=f"g{i}",
            max_glideins=100000,
            security_name="vofrontend",
            security_class="frontend",
        )
        for target in targets:
            key = CycleKey.generate(target.factory, spec.oaep_digest)
            ad = request_ad(spec, target, key, {})
            ads.append(classad2.ClassAd({**ad, "UpdateSequenceNumber": cycle}))
    for start in range(0, len(ads), 500):
        collector.advertise(ads[start : start + 500], REQUEST_COMMAND)
    return len(ads)


def fill_queue(factory, entries: Sequence[str], glideins: int, clients: int, hold: bool) -> None:
    """`glideins` jobs spread over the entries and client groups, in clusters of 100.

    Held jobs never start (nothing runs during the bench); unheld ones queue behind the
    pool's slots.
    """
    schedd = factory.schedd()
    description = "universe = grid\ngrid_resource = condor ce.bench\nexecutable = /bin/sleep\n"
    description += "arguments = 600\n" + ("hold = true\n" if hold else "")
    per_cluster = 100
    for n, start in enumerate(range(0, glideins, per_cluster)):
        schedd.submit(
            description,
            min(per_cluster, glideins - start),
            {
                "GlideinFactory": FACTORY,
                "GlideinName": GLIDEIN,
                "GlideinEntryName": entries[n % len(entries)],
                "GlideinClient": f"frontend.g{n % clients}",
                "GlideinFrontendName": "vofrontend:frontend",
                "GlideinSecurityClass": "frontend",
                "GlideinCredentialIdentifier": "none",
            },
        )
