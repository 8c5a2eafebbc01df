"""Per-request cost of find-work against one raw RSA-2048 private decryption (issue #12).

Requests are made as real Frontends make them: a fresh RSA-encrypted key code in every
ad (OAEP randomized; 3.10: SHA-1, 3.11: SHA-256), half of the clients on each protocol,
each group holding a SciToken for the scitoken entry (3.10: `frontend_scitoken` and
`ScitokenId`; 3.11: pickled credentials). A round's ads go through `validate_requests`
together (decrypt + every check, pickles read) with the padding remembered per client,
as the entry daemon runs one Collector query's ads; the raw RSA decryptions are timed
likewise, one after another. Prints figures and the ratio, measured in one run; not a
test.

    .venv/bin/python bench/bench_requests.py [--requests N] [--rounds R]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import classad2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from glideinwms_factory.entry import request_attrs
from glideinwms_factory.entry.config import EntryConfig
from glideinwms_factory.entry.limits import EntryLimits
from glideinwms_factory.entry.requests import WorkRequest, validate_request, validate_requests
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
            scitoken=TOKEN,  # 3.10: frontend_scitoken and ScitokenId; 3.11: pickled
            oaep_digest="sha256" if protocol == "3.11" else "sha1",
        )
        key = sim.CycleKey.generate(info, spec.oaep_digest)
        ad = sim.request_ad(spec, target, key, {})
        # As find-work gets it from the Collector: a ClassAd, stamped with the identity.
        ads.append(classad2.ClassAd({**ad, "AuthenticatedIdentity": IDENTITY}))
    return ads


def _raw_rsa(private: RSAPrivateKey, code: bytes, n: int) -> None:
    """One raw RSA-2048 OAEP private decryption of ad `n`'s key code, with its padding."""
    digest = hashes.SHA256() if n % 2 else hashes.SHA1()  # 3.11 ads are the odd ones
    private.decrypt(code, OAEP(MGF1(digest), digest, None))


Clocks = dict[str, list[float]]  # clock -> seconds per ad spent by [the work, raw RSA]


def _pair(count: int, work: Callable[[], object], raw: Callable[[], object], seed: int) -> Clocks:
    """Time `work()` right beside `raw()`, both clocks, per ad (`count` ads each).

    Side by side, the load of a shared machine falls on both figures alike; the thread's
    CPU time is disturbed less by it than the wall clock. Which one goes first is drawn
    at random: OpenSSL refreshes an RSA key's blinding every 32 private operations.
    """
    spent = {"wall": [0.0, 0.0], "cpu": [0.0, 0.0]}
    pair = ((0, work), (1, raw))
    for slot, task in pair if random.Random(seed).random() < 0.5 else pair[::-1]:
        wall, cpu = time.perf_counter(), time.thread_time()
        task()
        spent["cpu"][slot] += time.thread_time() - cpu
        spent["wall"][slot] += time.perf_counter() - wall
    return {clock: [total / count for total in totals] for clock, totals in spent.items()}


def _round(
    keys: FactoryKeys, entry: EntryConfig, padding: crypto.OaepPreference, count: int, seed: int
) -> dict[str, Clocks]:
    """One round: find-work on `count` fresh requests, as one Collector query brings
    them, beside one raw RSA decryption of each of `count` other ads' key codes; then, in
    find-work's place, reading alone what find-work reads from other fresh ads
    (classad2), the crypto alone of others (key code and every encrypted value, from
    values already read: the part upstream's figure counts), and the control: raw RSA of
    the ads' own key codes."""
    ads, unread, others = (_requests(keys, entry, count) for _ in range(3))  # fresh key codes
    sealed = [dict(ad) for ad in _requests(keys, entry, count)]
    private = keys.current.private_key
    frontends = entry.factory.frontends
    results = []

    def find_work() -> None:
        results.extend(
            validate_requests([(ad, entry) for ad in ads], keys, frontends, 0, padding=padding)
        )

    def reading() -> None:
        for ad in unread:
            request_attrs.read(ad)

    def crypto_alone() -> None:
        for ad in sealed:
            crypto.decrypt_request(private, ad, padding=padding)

    def raw_rsa(of: list[classad2.ClassAd]) -> Callable[[], None]:
        codes = [bytes.fromhex(str(ad["ReqEncKeyCode"])) for ad in of]

        def raw() -> None:
            for n, code in enumerate(codes):
                _raw_rsa(private, code, n)

        return raw

    found = _pair(count, find_work, raw_rsa(others), seed)
    assert len(results) == count, len(results)
    assert all(isinstance(result, WorkRequest) for result in results), results
    return {
        "find-work": found,
        "reading": _pair(count, reading, raw_rsa(others), seed + 1),
        "crypto": _pair(count, crypto_alone, raw_rsa(others), seed + 2),
        "control": _pair(count, raw_rsa(ads), raw_rsa(others), seed + 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="ads (clients) per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    keys = FactoryKeys(generate_key(2048))
    with tempfile.TemporaryDirectory() as tmp:
        entry = _entry(Path(tmp))
        padding = crypto.OaepPreference()
        # First contact teaches each client's padding (one more RSA operation for half).
        for ad in _requests(keys, entry, args.requests):
            result = validate_request(ad, entry, keys, entry.factory.frontends, 0, padding=padding)
            assert isinstance(result, WorkRequest), result
        rounds = [_round(keys, entry, padding, args.requests, 4 * n) for n in range(args.rounds)]
    print(f"{args.requests} requests per round (3.10 and 3.11 alternating), {args.rounds} rounds")
    for clock, label in (("wall", "wall clock"), ("cpu", "thread CPU time")):
        cost, raw, read, crypt, same, other = (
            statistics.median(r[kind][clock][i] for r in rounds)
            for kind, i in (
                ("find-work", 0),
                ("find-work", 1),
                ("reading", 0),
                ("crypto", 0),
                ("control", 0),
                ("control", 1),
            )
        )
        print(f"{label}: find-work per request (decrypt + all checks) {cost * 1e3:.3f} ms,")
        print(f"  one raw RSA-2048 OAEP private decryption {raw * 1e3:.3f} ms (medians)")
        print(f"  ratio: {cost / raw:.3f}x one raw RSA operation per request (goal <= 1.1)")
        print(f"  reading alone what find-work reads of an ad: {read / raw:.3f}x")
        print(f"  crypto alone (key code + every encrypted value): {crypt / raw:.3f}x")
        print(f"  control, raw RSA in the request's place: {same / other:.3f}x (1.00 when fair)")


if __name__ == "__main__":
    main()
