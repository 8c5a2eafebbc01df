"""The simulator as a real process against the real embedded pool daemon, read back by the
factory-side crypto: the pool stamps the frontend's identity from its token, and the
identity the frontend encrypted must equal it (security.md §1)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import classad2
import pytest
from waiting import wait_for

from glideinwms_factory.lib import crypto
from glideinwms_factory.lib.factory_key import FactoryKey, load_keys
from glideinwms_factory.lib.pool.embedded.auth import FACTORY_IDENTITY
from glideinwms_factory.lib.pool.embedded.client import EmbeddedCollector, read_token

FE_IDENTITY = "vofrontend@example.org"
GLOBAL_NAME = "gfactory_instance@fact1"
# A minimal one-shot request for Entry_A.
ONCE_A = ("request", "--entry", "Entry_A", "--idle", "1", "--max", "1", "--once")


def _cli(module: str, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", f"glideinwms_factory.tools.{module}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Pool:
    address: str
    state_dir: Path
    fe_token: Path
    key: FactoryKey

    def collector(self) -> EmbeddedCollector:
        return EmbeddedCollector(self.address)

    def requests(self, my_type: str = "glideclient") -> list[classad2.ClassAd]:
        return self.collector().query(f'GlideinMyType =?= "{my_type}"')


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    state = tmp_path_factory.mktemp("pool")
    started = _cli("pool_cli", "start", "--state-dir", str(state), "--port", "0")
    assert started.returncode == 0, started.stderr
    address = started.stdout.strip()
    try:
        tokens = {}
        for who in (FE_IDENTITY, FACTORY_IDENTITY):
            made = _cli("pool_cli", "token", "create", "--state-dir", str(state), "--identity", who)
            assert made.returncode == 0, made.stderr
            tokens[who] = state / f"{who}.token"
            tokens[who].write_text(made.stdout)
        # The factory side: its key (created 0600 at start) and its ads, as the factory sends them.
        work = state / "factory"
        work.mkdir()
        key = load_keys(work).current
        factory = EmbeddedCollector(address, read_token(tokens[FACTORY_IDENTITY]))
        ads = [{"MyType": "glidefactoryglobal", "Name": GLOBAL_NAME, **key.ad_attributes()}]
        for entry, grid_proxy in (("Entry_A", "True"), ("Entry_B", "False")):
            ads.append(
                {
                    "MyType": "glidefactory",
                    "Name": f"{entry}@{GLOBAL_NAME}",
                    "EntryName": entry,
                    "GlideinRequirex509_Proxy": grid_proxy,
                    "GLIDEIN_In_Downtime": False,
                    "SupportedSignTypes": "sha1",
                    "GLIDEIN_SupportedAuthenticationMethod": (
                        "grid_proxy" if grid_proxy == "True" else "scitoken"
                    ),
                    "GLIDEIN_TrustDomain": "grid",
                }
            )
        factory.advertise(
            [classad2.ClassAd({**ad, "GlideinMyType": ad["MyType"]}) for ad in ads],
            "UPDATE_AD_GENERIC",
        )
        yield Pool(address, state, tokens[FE_IDENTITY], key)
    finally:
        _cli("pool_cli", "stop", "--state-dir", str(state))


def _sim(pool: Pool, *args: str, protocol: str = "3.10") -> subprocess.CompletedProcess[str]:
    return _cli(
        "frontend_sim",
        "--pool",
        pool.address,
        "--token",
        str(pool.fe_token),
        "--protocol",
        protocol,
        *args,
    )


def test_once_request_decodes_with_the_stamped_identity(pool: Pool, tmp_path: Path) -> None:
    cred = tmp_path / "x509up"
    cred.write_text("-----BEGIN CERTIFICATE-----\nproxy body\n-----END CERTIFICATE-----\n")
    done = _sim(
        pool,
        "--frontend",
        "vofe",
        "--group",
        "cms",
        "--security-name",
        "vofe_sec",
        "--security-class",
        "cms_prod",
        "request",
        "--entry",
        "Entry_A",
        "--entry",
        "Entry_B",
        "--idle",
        "5",
        "--max",
        "12",
        "--remove-excess",
        "WAIT",
        "--margin",
        "1",
        "--param",
        "GLIDEIN_Site=Lab",
        "--credential",
        str(cred),
        "--once",
    )
    assert done.returncode == 0, done.stderr
    assert "advertised 2 request(s) for vofe.cms" in done.stdout
    requests = [ad for ad in pool.requests() if ad["ClientName"] == "vofe.cms"]
    assert sorted(ad["ReqName"] for ad in requests) == [
        f"Entry_A@{GLOBAL_NAME}",
        f"Entry_B@{GLOBAL_NAME}",
    ]
    padding = crypto.OaepPreference()
    for ad in requests:
        assert ad["ReqPubKeyID"] == pool.key.pub_key_id
        decoded = crypto.decrypt_request(pool.key.private_key, ad, padding=padding)
        assert ad["AuthenticatedIdentity"] == FE_IDENTITY == decoded.identity
        assert decoded.enc_params["SecurityName"] == "vofe_sec"
        assert decoded.enc_params["SecurityClass"] == "cms_prod"
        proxy = "SubmitProxy" if ad["ReqName"].startswith("Entry_A") else "GlideinProxy"
        cred_id = decoded.enc_params[proxy]
        assert ad["Name"] == f"{cred_id}_{ad['ReqName']}@vofe.cms"
        assert (ad["ReqIdleGlideins"], ad["ReqMaxGlideins"]) == (5, 12)
        assert (ad["ReqRemoveExcess"], ad["ReqRemoveExcessMargin"]) == ("WAIT", 1)
        assert ad["GlideinParamGLIDEIN_Site"] == "Lab"
        assert ad["GlideinParamGLIDEIN_Collector"] == pool.address
    assert len(padding) == 1  # a fresh key code per ad; one client, its padding remembered
    [glob] = [ad for ad in pool.requests("glideclientglobal") if ad["ClientName"] == "vofe.cms"]
    decoded = crypto.decrypt_request(pool.key.private_key, glob)
    assert glob["AuthenticatedIdentity"] == decoded.identity == FE_IDENTITY
    assert decoded.enc_params[cred_id] == cred.read_text()
    assert decoded.enc_params[f"SecurityClass{cred_id}"] == "cms_prod"


def test_claimed_identity_cannot_beat_the_stamped_one(pool: Pool) -> None:
    done = _sim(
        pool,
        "--identity",
        "other@evil.org",
        "--group",
        "spoof",
        *ONCE_A,
    )
    assert done.returncode == 0, done.stderr
    [ad] = [ad for ad in pool.requests() if ad["ClientName"] == "frontend.spoof"]
    decoded = crypto.decrypt_request(pool.key.private_key, ad)
    # The factory compares these two and drops the request (security.md §4 check 2).
    assert decoded.identity == "other@evil.org" != ad["AuthenticatedIdentity"] == FE_IDENTITY


def test_loop_readvertises_until_sigterm_then_invalidates(pool: Pool) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "glideinwms_factory.tools.frontend_sim",
            "--pool",
            pool.address,
            "--token",
            str(pool.fe_token),
            "--protocol",
            "3.10",
            "--group",
            "looping",
            "request",
            "--entry",
            "Entry_B",
            "--idle",
            "2",
            "--max",
            "4",
            "--interval",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def mine() -> list[classad2.ClassAd]:
            return [ad for ad in pool.requests() if ad["ClientName"] == "frontend.looping"]

        wait_for(lambda: any(ad["UpdateSequenceNumber"] >= 2 for ad in mine()), what="3 cycles")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "stopped; ads invalidated" in err
        assert mine() == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_stop_command_and_errors(pool: Pool) -> None:
    made = _sim(
        pool,
        "--group",
        "tostop",
        *ONCE_A,
    )
    assert made.returncode == 0, made.stderr
    assert any(ad["ClientName"] == "frontend.tostop" for ad in pool.requests())
    stopped = _sim(pool, "--group", "tostop", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert not any(ad["ClientName"] == "frontend.tostop" for ad in pool.requests())
    missing = _sim(pool, "request", "--entry", "Nope", "--idle", "1", "--max", "1", "--once")
    assert missing.returncode == 1
    assert (
        missing.stderr.strip()
        == "gwms-frontend-sim: entry 'Nope' not found (or its factory publishes no key)"
    )
    listed = _sim(pool, "list")
    assert listed.returncode == 0
    assert f"Entry_A@{GLOBAL_NAME}" in listed.stdout and pool.key.pub_key_id[:8] in listed.stdout
    env_pool = subprocess.run(
        [sys.executable, "-m", "glideinwms_factory.tools.frontend_sim", "list"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
        env={**os.environ, "GWMS_POOL": pool.address},
    )
    assert env_pool.returncode == 0 and f"Entry_B@{GLOBAL_NAME}" in env_pool.stdout
    by_state_dir = _cli("frontend_sim", "--state-dir", str(pool.state_dir), "list")
    assert by_state_dir.returncode == 0 and f"Entry_B@{GLOBAL_NAME}" in by_state_dir.stdout


def test_idtoken_with_dotted_attribute_name_crosses_the_pool(pool: Pool, tmp_path: Path) -> None:
    idtoken = tmp_path / "idtoken"
    idtoken.write_text("eyJhbGciOiJIUzI1NiJ9.e30.sig\n")
    done = _sim(pool, "--group", "idtok", *ONCE_A[:-1], "--idtoken", str(idtoken), "--once")
    assert done.returncode == 0, done.stderr
    [ad] = [ad for ad in pool.requests() if ad["ClientName"] == "frontend.idtok"]
    decoded = crypto.decrypt_request(pool.key.private_key, ad)
    assert decoded.enc_params["Entry_A.idtoken"] == "eyJhbGciOiJIUzI1NiJ9.e30.sig"
