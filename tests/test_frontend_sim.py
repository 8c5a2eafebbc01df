"""The frontend simulator's ads, against an in-memory Collector (a double of the pool boundary).

The factory side is the real one: a real key, real ClassAds, and `decrypt_request` to read
back what the simulator encrypted.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import classad2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP

from glideinwms_factory.lib import crypto
from glideinwms_factory.lib.factory_key import FactoryKey, generate_key
from glideinwms_factory.lib.pool import PoolError
from glideinwms_factory.lib.pool.embedded.auth import FACTORY_IDENTITY
from glideinwms_factory.tools import frontend_ads
from glideinwms_factory.tools import frontend_sim as sim

IDENTITY = "vofe@example.org"
# A minimal one-shot request for Entry_A.
ONCE_A = ("request", "--entry", "Entry_A", "--idle", "1", "--max", "1", "--once")


class MemoryCollector:
    """The Collector protocol in memory; constraints evaluated by classad2, identity stamped."""

    def __init__(self, identity: str = IDENTITY) -> None:
        self.identity = identity
        self.ads: dict[tuple[str, str], classad2.ClassAd] = {}
        self.commands: list[str] = []

    def query(self, constraint: str = "true", projection: Sequence[str] = ()) -> list:
        expr = classad2.ExprTree(constraint)
        return [ad for ad in self.ads.values() if expr.eval(ad) is True]

    def advertise(self, ads, command: str = "UPDATE_AD_GENERIC") -> None:
        self.commands.append(command)
        for ad in ads:
            stored = classad2.ClassAd(dict(ad))
            stored["AuthenticatedIdentity"] = self.identity
            self.ads[(ad["MyType"], ad["Name"])] = stored

    def invalidate(self, constraint: str, command: str = "INVALIDATE_ADS_GENERIC") -> None:
        self.commands.append(command)
        expr = classad2.ExprTree(constraint)
        self.ads = {k: ad for k, ad in self.ads.items() if expr.eval(ad) is not True}


@pytest.fixture(scope="module")
def key() -> FactoryKey:
    return generate_key()


def factory_ads(key: FactoryKey, glidein: str = "gfactory_instance", factory: str = "fact1"):
    """What a factory advertises: the global key ad and two entries (one grid_proxy), with
    what upstream's Frontends read of them (sign types, auth method, trust domain)."""
    gname = f"{glidein}@{factory}"
    ads = [
        classad2.ClassAd(
            {
                "MyType": "glidefactoryglobal",
                "GlideinMyType": "glidefactoryglobal",
                "Name": gname,
                **key.ad_attributes(),
            }
        )
    ]
    for entry, proxy in (("Entry_A", "True"), ("Entry_B", "False")):
        ads.append(
            classad2.ClassAd(
                {
                    "MyType": "glidefactory",
                    "GlideinMyType": "glidefactory",
                    "Name": f"{entry}@{gname}",
                    "EntryName": entry,
                    "GLIDEIN_In_Downtime": False,
                    "SupportedSignTypes": "sha1",
                    "GLIDEIN_SupportedAuthenticationMethod": (
                        "grid_proxy" if proxy == "True" else "scitoken"
                    ),
                    "GLIDEIN_TrustDomain": "grid",
                    "GlideinRequirex509_Proxy": proxy,
                    "GlideinRequireGlideinProxy": "False" if proxy == "True" else "True",
                }
            )
        )
    return ads


@pytest.fixture
def pool(key: FactoryKey) -> MemoryCollector:
    collector = MemoryCollector(identity=FACTORY_IDENTITY)
    collector.advertise(factory_ads(key), "UPDATE_AD_GENERIC")
    collector.identity = IDENTITY
    return collector


def _token(identity: str) -> str:
    claims = base64.urlsafe_b64encode(json.dumps({"sub": identity}).encode()).rstrip(b"=")
    return "e30." + claims.decode() + ".c2ln"


def _args(tmp_path: Path, *extra: str, protocol: str = "3.10"):
    token = tmp_path / "token"
    token.write_text(_token(IDENTITY) + "\n")
    return sim._parser().parse_args(
        ["--pool", "127.0.0.1:9", "--token", str(token), "--protocol", protocol, *extra]
    )


def _run(args, collector) -> None:
    sim.run(args, sim.command_spec(args), collector)


def test_request_once_advertises_decodable_requests(tmp_path, pool, key, capsys) -> None:
    cred = tmp_path / "proxy.pem"
    cred.write_text("-----BEGIN CERTIFICATE-----\nproxy\n")
    idtoken = tmp_path / "idtoken"
    idtoken.write_text("eyJ.idtoken.sig\n")
    args = _args(
        tmp_path,
        "--frontend",
        "vofe",
        "--group",
        "cms",
        "--security-name",
        "fe_sec",
        "--security-class",
        "cms_class",
        "request",
        "--entry",
        "Entry_A",
        "--entry",
        "Entry_B@gfactory_instance@fact1",
        "--idle",
        "7",
        "--max",
        "20",
        "--remove-excess",
        "IDLE",
        "--margin",
        "2",
        "--param",
        "GLIDEIN_Site=Lab",
        "--param",
        "GLIDEIN_Collector=user.pool:9618",
        "--credential",
        str(cred),
        "--idtoken",
        str(idtoken),
        "--once",
    )
    _run(args, pool)
    assert "advertised 2 request(s) for vofe.cms" in capsys.readouterr().out
    requests = pool.query('GlideinMyType =?= "glideclient"')
    assert len(requests) == 2 and set(pool.commands[1:]) == {"UPDATE_MASTER_AD"}
    cred_id = sim.credential_id(str(cred.resolve()))
    codes = set()
    sym_keys = set()
    for ad in requests:
        entry = ad["ReqName"].split("@")[0]
        assert ad["Name"] == f"{cred_id}_{entry}@gfactory_instance@fact1@vofe.cms"
        assert ad["ReqGlidein"] == ad["ReqName"] == f"{entry}@gfactory_instance@fact1"
        assert (ad["ClientName"], ad["FrontendName"], ad["GroupName"], ad["FrontendHAMode"]) == (
            "vofe.cms",
            "vofe",
            "cms",
            "master",
        )
        assert (ad["ReqIdleGlideins"], ad["ReqMaxGlideins"]) == (7, 20)
        assert (ad["ReqRemoveExcess"], ad["ReqRemoveExcessMargin"]) == ("IDLE", 2)
        assert ad["ReqIdleLifetime"] == "0" and ad["ReqPubKeyID"] == key.pub_key_id
        assert ad["WebSignType"] == "sha1" and ad["WebURL"] == sim.NO_WEB
        for web in (
            "WebDescriptFile",
            "WebDescriptSign",
            "WebGroupURL",
            "WebGroupDescriptFile",
            "WebGroupDescriptSign",
            "WebMonitoringURL",
        ):
            assert web in ad
        assert ad["GlideinParamGLIDEIN_Site"] == "Lab"
        assert ad["GlideinParamGLIDEIN_Collector"] == "user.pool:9618"  # --param overrides
        assert ad["GlideinParamGLIDECLIENT_ReqNode"] == "127.0.0.1:9"
        assert ad["UpdateSequenceNumber"] == 0
        decoded = crypto.decrypt_request(key.private_key, ad)
        assert decoded.identity == ad["AuthenticatedIdentity"] == IDENTITY
        proxy = "SubmitProxy" if entry == "Entry_A" else "GlideinProxy"
        assert decoded.enc_params == {
            "SecurityName": "fe_sec",
            "SecurityClass": "cms_class",
            proxy: cred_id,
            f"{entry}.idtoken": "eyJ.idtoken.sig",
        }
        assert decoded.sym_key.cipher == "aes_256_cbc"
        codes.add(ad["ReqEncKeyCode"])
        sym_keys.add(decoded.sym_key)
    # One symmetric key per factory key per cycle, RSA-encrypted anew for every ad, as
    # real Frontends do (the interop vectors: same key code text, different ciphertexts).
    assert len(sym_keys) == 1 and len(codes) == 2
    [glob] = pool.query('GlideinMyType =?= "glideclientglobal"')
    assert glob["Name"] == "gfactory_instance@fact1@vofe.cms"
    assert glob["ReqPubKeyID"] == key.pub_key_id
    decoded = crypto.decrypt_request(key.private_key, glob)
    assert decoded.identity == IDENTITY
    assert decoded.enc_params == {
        "SecurityName": "fe_sec",
        "NumberOfCredentials": "1",
        cred_id: "-----BEGIN CERTIFICATE-----\nproxy\n",
        f"SecurityClass{cred_id}": "cms_class",
    }


def test_key_taken_only_from_global_ad(tmp_path, key) -> None:
    collector = MemoryCollector(identity=FACTORY_IDENTITY)
    collector.advertise(factory_ads(key)[1:])  # entries, but no glidefactoryglobal
    args = _args(tmp_path, *ONCE_A)
    with pytest.raises(sim.SimError, match="'Entry_A' not found"):
        _run(args, collector)
    # Pairing is by the suffix of the global Name: another instance's key is not used.
    other = factory_ads(generate_key(), glidein="other")[0]
    collector.advertise([other])
    with pytest.raises(sim.SimError, match="not found"):
        _run(args, collector)


def test_factory_ads_of_another_identity_are_never_used(tmp_path, key, caplog) -> None:
    """A token holder that replaced the factory's key ad never receives a request."""
    collector = MemoryCollector(identity="mallory@example.org")
    collector.advertise(factory_ads(generate_key()))  # the attacker's key, the factory's names
    args = _args(tmp_path, *ONCE_A)
    with pytest.raises(sim.SimError, match="'Entry_A' not found"):
        _run(args, collector)
    assert collector.commands == ["UPDATE_AD_GENERIC"]  # nothing was advertised to it
    assert "advertised by 'mallory@example.org', not the factory" in caplog.text
    # The same ads under the identity the simulator was told to trust are used.
    trusted = _args(tmp_path, "--factory-identity", "mallory@example.org", *ONCE_A)
    _run(trusted, collector)
    assert collector.commands[-1] == sim.REQUEST_COMMAND


def test_escaped_newlines_in_key_are_restored(key) -> None:
    [glob] = [dict(ad) for ad in factory_ads(key)[:1]]
    glob["PubKeyValue"] = glob["PubKeyValue"].replace("\\n", "\\\\n")
    [info] = sim.factory_keys([glob]).values()
    assert info.public_key.public_numbers() == key.private_key.public_key().public_numbers()
    broken = {**glob, "PubKeyValue": "garbage"}
    assert sim.factory_keys([broken, {"Name": "x", "PubKeyType": "None"}]) == {}


def test_ambiguous_short_entry_name(tmp_path, pool, key) -> None:
    pool.identity = FACTORY_IDENTITY
    pool.advertise(factory_ads(key, glidein="second"))
    args = _args(tmp_path, *ONCE_A)
    with pytest.raises(sim.SimError, match="ambiguous"):
        _run(args, pool)


def test_sha256_oaep_and_sequence_numbers(tmp_path, pool, key) -> None:
    args = _args(
        tmp_path,
        "request",
        "--entry",
        "Entry_A",
        "--idle",
        "1",
        "--max",
        "2",
        "--oaep",
        "sha256",
        "--once",
    )
    spec = sim.command_spec(args)
    advertiser = sim.Advertiser(pool, spec, ["Entry_A"], {})
    advertiser.cycle()
    first = pool.query('GlideinMyType =?= "glideclient"')[0]
    advertiser.cycle()
    second = pool.query('GlideinMyType =?= "glideclient"')[0]
    assert (first["UpdateSequenceNumber"], second["UpdateSequenceNumber"]) == (0, 1)
    assert first["ReqEncKeyCode"] != second["ReqEncKeyCode"]  # a fresh key each cycle
    enc = bytes.fromhex(second["ReqEncKeyCode"])
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP

    sha256 = OAEP(mgf=MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    assert key.private_key.decrypt(enc, sha256).startswith(b"cypher:aes_256_cbc,key:")
    assert pool.query('GlideinMyType =?= "glideclientglobal"') == []  # no credential, no global


def test_stop_invalidates_only_this_clients_ads(tmp_path, pool, capsys) -> None:
    _run(
        _args(tmp_path, *ONCE_A),
        pool,
    )
    _run(
        _args(
            tmp_path,
            "--group",
            "other",
            *ONCE_A,
        ),
        pool,
    )
    assert len(pool.query('GlideinMyType =?= "glideclient"')) == 2
    _run(_args(tmp_path, "stop"), pool)
    assert [ad["ClientName"] for ad in pool.query('GlideinMyType =?= "glideclient"')] == [
        "frontend.other"
    ]
    assert pool.commands[-2:] == ["INVALIDATE_MASTER_ADS", "INVALIDATE_MASTER_ADS"]
    assert len(pool.query('GlideinMyType =?= "glidefactory"')) == 2  # factory ads untouched
    assert "invalidated the ads of frontend.main" in capsys.readouterr().out


def test_list(tmp_path, pool, key, capsys) -> None:
    _run(_args(tmp_path, "list"), pool)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Name")
    assert out[1].split() == [
        "Entry_A@gfactory_instance@fact1",
        "no",
        key.pub_key_id[:8],
        FACTORY_IDENTITY,
    ]
    _run(_args(tmp_path, "list", "--json"), pool)
    rows = json.loads(capsys.readouterr().out)
    assert [r["PubKeyID"] for r in rows] == [key.pub_key_id] * 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["request", "--entry", "E", "--idle", "-1", "--max", "1"], "must not be negative"),
        (
            ["request", "--entry", "E", "--idle", "1", "--max", "1", "--param", "A-B=1"],
            "--param wants",
        ),
        (
            [
                "request",
                "--entry",
                "E",
                "--idle",
                "1",
                "--max",
                "1",
                "--credential",
                "/nonexistent",
            ],
            "cannot read credential /nonexistent",
        ),
        (
            ["--group", "bad group", "request", "--entry", "E", "--idle", "1", "--max", "1"],
            "--group 'bad group' has characters",
        ),
        (["--identity", "x y", "list"], None),
    ],
)
def test_bad_input_is_one_line_exit_1(tmp_path, capsys, argv, message) -> None:
    token = tmp_path / "token"
    token.write_text(_token(IDENTITY))
    code = sim.main(["--pool", "127.0.0.1:9", "--token", str(token), *argv])
    err = capsys.readouterr().err
    if message is None:  # list with a pool nobody listens on
        assert code == 1 and err.startswith("gwms-frontend-sim: ")
        return
    assert code == 1
    assert err.count("\n") == 1 and message in err


def test_token_identity() -> None:
    assert sim.token_identity(_token("a@b.c")) == "a@b.c"
    with pytest.raises(sim.SimError, match="give --identity"):
        sim.token_identity("not-a-token")
    with pytest.raises(sim.SimError, match="not NAME@DOMAIN"):
        sim.token_identity(_token("a b"))


def test_loop_logs_pool_errors_retries_and_invalidates_at_the_end(tmp_path, pool, caplog) -> None:
    stopping = threading.Event()

    class Flaky(MemoryCollector):
        queries = 0

        def query(self, constraint="true", projection=()):
            Flaky.queries += 1
            if Flaky.queries == 1:
                raise PoolError("pool at 127.0.0.1:9: connection refused")
            return pool.query(constraint, projection)

        def advertise(self, ads, command="UPDATE_AD_GENERIC"):
            super().advertise(ads, command)
            stopping.set()  # as if SIGTERM arrived after the first good cycle

    flaky = Flaky()
    args = _args(tmp_path, "request", "--entry", "Entry_A", "--idle", "1", "--max", "1")
    advertiser = sim.Advertiser(flaky, sim.command_spec(args), ["Entry_A"], {})
    with caplog.at_level(logging.INFO):
        sim._cycles(advertiser, stopping, 0.01)
    assert "cycle failed: pool at 127.0.0.1:9: connection refused" in caplog.text
    assert flaky.commands == ["UPDATE_MASTER_AD", "INVALIDATE_MASTER_ADS", "INVALIDATE_MASTER_ADS"]
    assert flaky.ads == {}


def test_3_11_requests_carry_upstreams_pickles(tmp_path, pool, key, caplog) -> None:
    """3.11 mode: OAEP-SHA-256 `cipher:` key codes and the credentials as pickles of
    upstream's classes, read back by the factory's data-only reader."""
    from glideinwms_factory.lib import credential_objects as co
    from glideinwms_factory.lib import safe_pickle

    [entry_b] = [ad for ad in pool.ads.values() if ad.get("EntryName") == "Entry_B"]
    entry_b["GLIDEIN_SupportedAuthenticationMethod"] = "scitoken;project_id"  # unmet here
    proxy = tmp_path / "proxy.pem"
    proxy.write_text("-----BEGIN CERTIFICATE-----\nproxy\n")
    scitoken, idtoken = tmp_path / "sci.jwt", tmp_path / "id.jwt"
    scitoken.write_text("eyJ.sci.tok\n")
    idtoken.write_text("eyJ.id.tok\n")
    args = _args(
        tmp_path,
        "--group",
        "g311",
        "request",
        "--entry",
        "Entry_A",
        "--entry",
        "Entry_B",
        "--idle",
        "1",
        "--max",
        "2",
        "--credential",
        str(proxy),
        "--scitoken",
        str(scitoken),
        "--idtoken",
        str(idtoken),
        "--once",
        protocol="3.11",
    )
    with caplog.at_level(logging.WARNING):
        _run(args, pool)
    assert "Entry_B's auth method 'scitoken;project_id'; no request" in caplog.text
    [ad] = [a for a in pool.ads.values() if a.get("MyType") == "glideclient"]
    assert ad["ReqName"] == "Entry_A@gfactory_instance@fact1"
    sha256 = hashes.SHA256()
    code = key.private_key.decrypt(
        bytes.fromhex(ad["ReqEncKeyCode"]), OAEP(MGF1(sha256), sha256, None)
    )
    assert code.startswith(b"cipher:aes_256_cbc,key:")  # 3.11: OAEP-SHA-256, "cipher:"
    decoded = crypto.decrypt_request(key.private_key, ad)
    assert decoded.enc_params == {"SecurityName": "frontend", "SecurityClass": "frontend"}
    auth = safe_pickle.auth_set(decoded.pickled["AuthSet"], "AuthSet")
    assert auth == co.AuthSet(frozenset({co.CredentialType.X509_CERT}))  # grid_proxy
    [request] = safe_pickle.credentials(decoded.pickled["RequestCredentials"], "x")
    assert (request.cred_type, request.text) == (co.CredentialType.X509_CERT, proxy.read_text())
    [callback] = safe_pickle.credentials(decoded.pickled["PayloadCredentials"], "x")
    assert (callback.purpose, callback.text) == (co.CredentialPurpose.CALLBACK, "eyJ.id.tok")
    assert safe_pickle.security_parameters(decoded.pickled["SecurityParameters"], "x") == []
    assert ad["Name"].split("_", 1) == [ad["Name"][:8], f"{ad['ReqName']}@frontend.g311"]


def test_a_3_10_group_with_a_scitoken_sends_it_to_every_entry(tmp_path, pool, key) -> None:
    """As upstream's 3.10 Frontend: the group's SciToken goes as `frontend_scitoken` with
    its credential id `ScitokenId` (from the token file's path) to every entry; the
    request to the scitoken entry is the SciToken's (`Name` key), the grid one the
    proxy's."""
    proxy, sci = tmp_path / "proxy.pem", tmp_path / "sci.jwt"
    proxy.write_text("-----BEGIN CERTIFICATE-----\nproxy\n")
    sci.write_text("eyJ.sci.tok\n")
    ask = ("request", "--entry", "Entry_A", "--entry", "Entry_B", "--idle", "1", "--max", "1")
    args = _args(tmp_path, *ask, "--credential", str(proxy), "--scitoken", str(sci), "--once")
    _run(args, pool)
    proxy_id = sim.credential_id(str(proxy.resolve()))
    token_id = sim.credential_id(str(sci.resolve()))
    sent = {}
    for ad in pool.query('GlideinMyType =?= "glideclient"'):
        entry = ad["ReqName"].split("@")[0]
        sent[entry] = (ad["Name"].split("_", 1)[0], crypto.decrypt_request(key.private_key, ad))
    assert {entry: name_key for entry, (name_key, _) in sent.items()} == {
        "Entry_A": proxy_id,  # grid_proxy
        "Entry_B": token_id,  # scitoken
    }
    for entry, (_, decoded) in sent.items():
        proxy_param = "SubmitProxy" if entry == "Entry_A" else "GlideinProxy"
        assert decoded.enc_params == {
            "SecurityName": "frontend",
            "SecurityClass": "frontend",
            proxy_param: proxy_id,
            "frontend_scitoken": "eyJ.sci.tok",
            "ScitokenId": token_id,
        }


@pytest.mark.parametrize(
    ("method", "held", "chosen"),
    [
        ("scitoken,idtoken", ["idtoken", "scitoken"], {"scitoken"}),
        ("idtoken,scitoken", ["idtoken", "scitoken"], {"idtoken"}),
        ("grid_proxy+scitoken", ["x509_cert", "scitoken"], {"x509_cert", "scitoken"}),
        ("any", [], set()),
        ("grid_proxy;project_id", ["x509_cert"], None),
    ],
)
def test_match_auth_set_takes_the_first_held_alternative(method, held, chosen) -> None:
    from glideinwms_factory.lib import credential_objects as co

    creds = [co.Credential(co.CredentialType(t), "x", co.CredentialPurpose.REQUEST) for t in held]
    auth = frontend_ads.match_auth_set(method, creds)
    assert (None if auth is None else set(auth.names())) == chosen
