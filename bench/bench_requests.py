"""Per-request cost of find-work against one raw RSA-2048 private decryption (issue #12).

Requests are made as real Frontends make them: a fresh RSA-encrypted key code in every
ad (OAEP randomized; 3.10: SHA-1, 3.11: SHA-256), half of the clients on each protocol,
3.11 ones carrying pickled credentials. Each request goes through `validate_request`
(decrypt + every check, pickles read) with the padding remembered per client, as the
entry daemon runs it. Prints figures and the ratio, measured in one run; not a test.

    .venv/bin/python bench/bench_requests.py [--requests N] [--rounds R]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import classad2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP

from glideinwms_factory.entry.config import EntryConfig
from glideinwms_factory.entry.limits import EntryLimits
from glideinwms_factory.entry.requests import WorkRequest, validate_request
from glideinwms_factory.lib import crypto
from glideinwms_factory.lib.descript import FrontendInfo
from glideinwms_factory.lib.descript_records import GlideinDescript, JobDescript
from glideinwms_factory.lib.factory_config import FactoryConfig
from glideinwms_factory.lib.factory_key import FactoryKeys, generate_key
from glideinwms_factory.tools import frontend_ads as sim

IDENTITY = "frontend@example.org"
TOKEN = "eyJhbGciOiJSUzI1NiJ9." + "x" * 600 + ".sig"


def _entry(work: Path) -> EntryConfig:
    factory = FactoryConfig(
        work_dir=work,
        glidein={"FactoryName": "fact", "GlideinName": "gl"},
        frontends={"fe": FrontendInfo(IDENTITY, {"cls": "feuser"})},
        descript=GlideinDescript(),
    )
    return EntryConfig(
        name="ce",
        factory=factory,
        job=JobDescript(auth_method="scitoken"),
        attributes={},
        params={},
        submit_attrs={},
        submit_files={},
        limits=EntryLimits(),
    )


def _requests(keys: FactoryKeys, entry: EntryConfig, count: int) -> list[classad2.ClassAd]:
    """`count` ads from `count` client groups, alternating 3.10 and 3.11."""
    info = sim.FactoryKeyInfo(
        entry.factory.global_name, keys.current.pub_key_id, keys.current.private_key.public_key()
    )
    target = sim.FactoryEntry(entry.ad_name, entry.name, info, "GlideinProxy", "scitoken", "grid")
    ads = []
    for n in range(count):
        protocol = "3.11" if n % 2 else "3.10"
        spec = sim.RequestSpec(
            identity=IDENTITY,
            group=f"g{n}",
            idle=5,
            max_glideins=10,
            security_name="fe",
            security_class="cls",
            idtoken=TOKEN,
            protocol=protocol,
            scitoken=TOKEN if protocol == "3.11" else None,
            oaep_digest="sha256" if protocol == "3.11" else "sha1",
        )
        key = sim.CycleKey.generate(info, spec.oaep_digest)
        ad = sim.request_ad(spec, target, key, {})
        # As find-work gets it from the Collector: a ClassAd, stamped with the identity.
        ads.append(classad2.ClassAd({**ad, "AuthenticatedIdentity": IDENTITY}))
    return ads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="ads (clients) per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    keys = FactoryKeys(generate_key(2048))
    with tempfile.TemporaryDirectory() as tmp:
        entry = _entry(Path(tmp))
        frontends = entry.factory.frontends
        padding = crypto.OaepPreference()
        # First contact teaches each client's padding (one more RSA operation for half).
        for ad in _requests(keys, entry, args.requests):
            assert isinstance(
                validate_request(ad, entry, keys, frontends, 0, padding=padding), WorkRequest
            )
        # Each request is timed right beside one raw RSA decryption of another ad's key
        # code, so that the load of a shared machine falls on both figures alike; by the
        # wall clock and in this thread's CPU time, which a loaded machine disturbs less.
        rounds: dict[str, tuple[list[float], list[float]]] = {"wall": ([], []), "cpu": ([], [])}
        private = keys.current.private_key
        for _ in range(args.rounds):
            ads = _requests(keys, entry, args.requests)  # fresh key codes, as every cycle
            codes = [bytes.fromhex(str(ad["ReqEncKeyCode"])) for ad in ads]
            spent = {"wall": [0.0, 0.0], "cpu": [0.0, 0.0]}
            for n, ad in enumerate(ads):
                wall, cpu = time.perf_counter(), time.thread_time()
                result = validate_request(ad, entry, keys, frontends, 0, padding=padding)
                spent["cpu"][0] += time.thread_time() - cpu
                spent["wall"][0] += time.perf_counter() - wall
                assert isinstance(result, WorkRequest), result
                digest = hashes.SHA1() if n % 2 else hashes.SHA256()  # the other ad's padding
                wall, cpu = time.perf_counter(), time.thread_time()
                private.decrypt(codes[n ^ 1], OAEP(MGF1(digest), digest, None))
                spent["cpu"][1] += time.thread_time() - cpu
                spent["wall"][1] += time.perf_counter() - wall
            for clock, (per_request, raw) in rounds.items():
                per_request.append(spent[clock][0] / len(ads))
                raw.append(spent[clock][1] / len(ads))
    print(f"{args.requests} requests per round (3.10 and 3.11 alternating), {args.rounds} rounds")
    for clock, label in (("wall", "wall clock"), ("cpu", "thread CPU time")):
        cost, rsa = (statistics.median(figures) for figures in rounds[clock])
        print(f"{label}: find-work per request (decrypt + all checks) {cost * 1e3:.3f} ms,")
        print(f"  one raw RSA-2048 OAEP private decryption {rsa * 1e3:.3f} ms (medians)")
        print(f"  ratio: {cost / rsa:.3f}x one raw RSA operation per request (goal <= 1.1)")


if __name__ == "__main__":
    main()
