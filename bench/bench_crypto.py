"""Throughput of the factory's per-request crypto (ARCHITECTURE.md "Scale": the one
inherently expensive per-request step). Prints figures; it is not a pass/fail test.

    .venv/bin/python bench/bench_crypto.py [--seconds S]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from glideinwms_factory.lib import crypto
from glideinwms_factory.lib.factory_key import generate_key


def _rate(func: Callable[[], object], seconds: float) -> tuple[float, int]:
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        func()
        count += 1
    return count / (time.perf_counter() - start), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()

    key = generate_key(2048)
    public = key.private_key.public_key()
    params = {
        "SecurityName": "frontend_sec",
        "SecurityClass": "frontend",
        "SubmitProxy": "ABCDEFGH",
        "Entry_A.idtoken": "eyJhbGciOiJIUzI1NiJ9." + "x" * 600,
    }
    sym = crypto.SymKey.generate()
    requests = {
        digest: {
            "Name": "ABCDEFGH_entry@g@f@fe.main",
            **crypto.encrypt_request_fields(
                sym, crypto.encrypt_key_code(public, sym, digest), "fe@example.org", params
            ),
        }
        for digest in ("sha256", "sha1")
    }
    print(f"RSA-{key.bits} factory key, {args.seconds:.1f} s per figure")
    for digest, ad in requests.items():
        enc = ad["ReqEncKeyCode"]
        rate, n = _rate(lambda enc=enc: crypto.decrypt_key_code(key.private_key, enc), args.seconds)
        print(f"key code decrypt, OAEP-{digest:<6}: {rate:9.0f} /s  ({1e3 / rate:.3f} ms, n={n})")
    for digest, ad in requests.items():
        rate, n = _rate(lambda ad=ad: crypto.decrypt_request(key.private_key, ad), args.seconds)
        print(
            f"full request decode, OAEP-{digest:<6} (identity + {len(params)} params):"
            f" {rate:9.0f} requests/s  ({1e3 / rate:.3f} ms, n={n})"
        )
    padding = crypto.OaepPreference()
    ad = {**requests["sha1"], "AuthenticatedIdentity": "fe@example.org", "ClientName": "fe.main"}
    rate, n = _rate(
        lambda: crypto.decrypt_request(key.private_key, ad, padding=padding), args.seconds
    )
    print(
        f"full request decode, OAEP-sha1 with the client's padding remembered:"
        f" {rate:9.0f} requests/s  ({1e3 / rate:.3f} ms, n={n})"
    )
    value = sym.encrypt("frontend_sec")
    rate, n = _rate(lambda: sym.decrypt(value), args.seconds)
    print(f"one AES-256-CBC value decrypt: {rate:9.0f} /s  ({1e6 / rate:.1f} us, n={n})")


if __name__ == "__main__":
    main()
