"""Requests as the upstream 3.10 Frontend writes them, for every credential shape it sends.

The ads are written by hand in the upstream 3.10 Frontend's file format (its
`glideinFrontendInterface` advertising code and `glideinFrontendElement.iterate_one`:
attribute names, value types, the M2Crypto key code `cypher:aes_256_cbc,key:..,iv:..`
RSA-OAEP-SHA1-encrypted, AES-256-CBC hex values), encrypted here without our crypto
module, for the throwaway factory key of the shared `v3_10` vector and with names and
credentials that vector does not have. Each one goes the factory's way: the factory
daemon stores the `glideclientglobal` credentials, the entry validates the `glideclient`
ad and finds its credential files, and the submit environment hands them to the glidein
as the upstream 3.10 factory (`glideFactoryEntry.unit_work_v3`) does.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import classad2
import htcondor2  # noqa: F401  (before any ExprTree: else stringListMember evaluates to Error)
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers.algorithms import AES
from cryptography.hazmat.primitives.ciphers.modes import CBC
from cryptography.hazmat.primitives.padding import PKCS7
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from glideinwms_factory import global_ads
from glideinwms_factory.entry.config import EntryConfig
from glideinwms_factory.entry.find_work import with_credentials
from glideinwms_factory.entry.glidein_args import EntryConstants, submit_environment
from glideinwms_factory.entry.limits import EntryLimits
from glideinwms_factory.entry.requests import Rejection, WorkRequest, validate_request
from glideinwms_factory.entry.submission import submit_request
from glideinwms_factory.lib.descript import FrontendInfo
from glideinwms_factory.lib.descript_records import GlideinDescript, JobDescript
from glideinwms_factory.lib.factory_config import FactoryConfig
from glideinwms_factory.lib.factory_key import FactoryKey, FactoryKeys

VECTORS = Path(__file__).resolve().parents[2] / "shared" / "interop-vectors"
if not VECTORS.is_dir():
    VECTORS = Path("/work/shared/interop-vectors")
NOW = 1_800_000_000.0
FACTORY, GLIDEIN = "osg_factory", "gfactory_instance"
# Names the vector does not have: a '-' frontend, a group with '_', a DN-like identity.
IDENTITY = "/DC=org/DC=example/OU=Services/CN=vo-frontend.example.org"
SECURITY_NAME = "vo-frontend_2"
CLIENT = "vo-frontend_2.analysis_grp"
USERS = {"pilot": "vo_pilot", "cloud-1": "vo_cloud"}
PROXY = "-----BEGIN CERTIFICATE-----\nMIIproxy\n-----END CERTIFICATE-----\n"
IDTOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJnbGlkZWluIn0.c2ln\n"
SCITOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzY29wZSI6ImNvbXB1dGUuY3JlYXRlIn0.c2ln"


def _factory_key() -> FactoryKey:
    raw = (VECTORS / "v3_10" / "rsa.key").read_bytes()
    private = load_pem_private_key(raw, b"default" if b"ENCRYPTED" in raw else None)
    assert isinstance(private, RSAPrivateKey)
    return FactoryKey.from_private_key(private)


KEY = _factory_key()


class Frontend310:
    """The encrypting side of a 3.10 Frontend (M2Crypto symCrypto/pubCrypto formats)."""

    def __init__(self) -> None:
        self.key, self.iv = os.urandom(32), os.urandom(16)

    def key_attrs(self) -> dict[str, str]:
        code = f"cypher:aes_256_cbc,key:{self.key.hex()},iv:{self.iv.hex()}"
        oaep = padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)
        return {
            "ReqPubKeyID": KEY.pub_key_id,
            "ReqEncKeyCode": KEY.private_key.public_key().encrypt(code.encode(), oaep).hex(),
            "ReqEncIdentity": self.encrypt(IDENTITY),
        }

    def encrypt(self, text: str) -> str:
        padder = PKCS7(128).padder()
        data = padder.update(text.encode()) + padder.finalize()
        encryptor = Cipher(AES(self.key), CBC(self.iv)).encryptor()
        return (encryptor.update(data) + encryptor.finalize()).hex()


def _line(name: str, value: object) -> str:
    """One attribute as the Frontend writes it: numbers (and booleans) bare, the rest
    quoted with `"` and newlines escaped (classadSupport.writeTypedClassadAttrToFile)."""
    if isinstance(value, int | float):
        return f"{name} = {value}"
    text = str(value).replace('"', '\\"').replace("\n", "\\n")
    return f'{name} = "{text}"'


def _parse(lines: list[str]) -> dict[str, object]:
    [ad] = classad2.parseAds("\n".join(lines) + "\n")
    return {**dict(ad), "AuthenticatedIdentity": IDENTITY}  # stamped by the Collector


def global_ad(frontend: Frontend310, creds: Mapping[str, tuple[str, str]]) -> dict[str, object]:
    """The `glideclientglobal` ad: every credential file by its id, with its class."""
    return _parse(global_lines(frontend, creds))


def global_lines(frontend: Frontend310, creds: Mapping[str, tuple[str, str]]) -> list[str]:
    """`global_ad` as the lines of the Frontend's advertise file."""
    enc = {"NumberOfCredentials": str(len(creds)), "SecurityName": SECURITY_NAME}
    for cred_id, (data, security_class) in creds.items():
        enc[cred_id] = data
        enc[f"SecurityClass{cred_id}"] = security_class
    return [
        _line("MyType", "glideclientglobal"),
        _line("GlideinMyType", "glideclientglobal"),
        _line("GlideinWMSVersion", "glideinWMS 3.10.7"),
        _line("Name", f"{GLIDEIN}@{FACTORY}@{CLIENT}"),
        _line("FrontendName", SECURITY_NAME),
        _line("FrontendHAMode", "master"),
        _line("GroupName", "analysis_grp"),
        _line("ClientName", CLIENT),
        *(_line(k, v) for k, v in frontend.key_attrs().items()),
        *(_line(f"GlideinEncParam{k}", frontend.encrypt(v)) for k, v in enc.items()),
        _line("UpdateSequenceNumber", 3),
    ]


def request_ad(
    frontend: Frontend310, entry: str, enc: Mapping[str, str], **kw: Any
) -> dict[str, object]:
    """A `glideclient` ad (one credential, one entry) in the 3.10 Frontend's layout."""
    return _parse(request_lines(frontend, entry, enc, **kw))


def request_lines(
    frontend: Frontend310,
    entry: str,
    enc: Mapping[str, str],
    *,
    name_id: str = "K7QW2ZRA",
    params: Mapping[str, object] | None = None,
    requests: Mapping[str, object] | None = None,
    ha_mode: str = "master",
) -> list[str]:
    """`request_ad` as the lines of the Frontend's advertise file."""
    req_name = f"{entry}@{GLIDEIN}@{FACTORY}"
    web = "https://vo-frontend.example.org/vofrontend/stage"
    lines = [
        _line("MyType", "glideclient"),
        _line("GlideinMyType", "glideclient"),
        _line("GlideinWMSVersion", "glideinWMS 3.10.7"),
        _line("Name", f"{name_id}_{req_name}@{CLIENT}"),
        _line("ClientName", CLIENT),
        _line("FrontendName", SECURITY_NAME),
        _line("FrontendHAMode", ha_mode),
        _line("GroupName", "analysis_grp"),
        _line("ReqName", req_name),
        _line("ReqGlidein", req_name),
        _line("WebURL", web),
        _line("WebSignType", "sha1"),
        _line("WebDescriptFile", "description.f1c3a2.cfg"),
        _line("WebDescriptSign", "3" * 40),
        _line("WebGroupURL", f"{web}/group_analysis_grp"),
        _line("WebGroupDescriptFile", "description.f1c3a3.cfg"),
        _line("WebGroupDescriptSign", "4" * 40),
        *(_line(k, v) for k, v in frontend.key_attrs().items()),
    ]
    values: dict[str, object] = {
        "ReqIdleGlideins": 7,
        "ReqMaxGlideins": 40,
        "ReqRemoveExcess": "NO",
        "ReqRemoveExcessMargin": 0,
        "ReqIdleLifetime": "0",
        **(requests or {}),
    }
    lines += [_line(k, v) for k, v in values.items() if v is not None]
    lines.append(_line("WebMonitoringURL", web.replace("stage", "monitor")))
    group_params = {
        "GLIDEIN_Collector": "vo-frontend.example.org:9620-9660",
        "GLIDECLIENT_ReqNode": "gfactory.example.org",
        **(params or {}),
    }
    lines += [_line(f"GlideinParam{k}", v) for k, v in group_params.items()]
    secrets = {"SecurityClass": "pilot", "SecurityName": SECURITY_NAME, **enc}
    lines += [_line(f"GlideinEncParam{k}", frontend.encrypt(v)) for k, v in secrets.items()]
    lines += [_line("GlideinConfigGroupMaxIdlePerEntry", 100), _line("GlideinMonitorIdle", 12)]
    lines += [_line("GlideinMonitorRunning", 3), _line("UpdateSequenceNumber", 0)]
    return lines


def _entry(tmp_path: Path, name: str, auth: str, grid_type: str = "condor") -> EntryConfig:
    config = FactoryConfig(
        work_dir=tmp_path,
        glidein={"FactoryName": FACTORY, "GlideinName": GLIDEIN},
        frontends={SECURITY_NAME: FrontendInfo(IDENTITY, USERS)},
        descript=GlideinDescript(),
    )
    return EntryConfig(
        name=name,
        factory=config,
        job=JobDescript(auth_method=auth, grid_type=grid_type),
        attributes={},
        params={},
        submit_attrs={},
        submit_files={},
        limits=EntryLimits(),
    )


def _deliver(entry: EntryConfig, ad: dict[str, object]) -> list[global_ads.StoredCredential]:
    factory = entry.factory
    return global_ads.store_global_credentials(
        [ad],
        KEY,
        factory.frontends,
        factory.client_proxies_dir,
        GLIDEIN,
        f"{GLIDEIN}@{FACTORY}",
        logging.getLogger("test"),
    )


def _serve(entry: EntryConfig, ad: dict[str, object]) -> WorkRequest | Rejection:
    keys = FactoryKeys(KEY)
    result = validate_request(ad, entry, keys, entry.factory.frontends, NOW)
    if isinstance(result, Rejection):
        return result
    return with_credentials(entry.factory, entry, result)


def _submit_env(entry: EntryConfig, request: WorkRequest) -> dict[str, str]:
    return submit_environment(
        submit_request(request, "-v std", "20261204", request.params),
        EntryConstants(FACTORY, GLIDEIN, entry.name, "job.condor", "http://f/", "/tmp", "fixed"),
    ).env


def _user_dir(entry: EntryConfig, user: str) -> Path:
    return entry.factory.client_proxies_dir / f"user_{user}" / f"glidein_{GLIDEIN}"


def test_grid_proxy_with_entry_idtoken_and_frontend_scitoken(tmp_path: Path) -> None:
    """A grid entry: the proxy comes in the global ad (its id hashes path and DN), the
    request names it as SubmitProxy and carries the entry IDTOKEN and, the Frontend
    having a SciToken for the trust domain, `frontend_scitoken` too."""
    entry = _entry(tmp_path, "OSG_US-Site_ce-2", "grid_proxy")
    fe = Frontend310()
    stored = _deliver(entry, global_ad(fe, {"QZ3XKMPA": (PROXY, "pilot")}))
    proxy = _user_dir(entry, "vo_pilot") / f"credential_{CLIENT}_QZ3XKMPA"
    assert [(s.cred_id, s.path) for s in stored] == [("QZ3XKMPA", proxy)]
    assert proxy.read_text() == PROXY and stat.S_IMODE(proxy.stat().st_mode) == 0o600
    enc = {
        "SubmitProxy": "QZ3XKMPA",
        f"{entry.name}.idtoken": IDTOKEN,
        "frontend_scitoken": SCITOKEN,
    }
    request = _serve(entry, request_ad(fe, entry.name, enc))
    assert isinstance(request, WorkRequest), request
    assert request.name == f"K7QW2ZRA_{entry.ad_name}@{CLIENT}"
    assert (request.username, request.frontend_name) == ("vo_pilot", f"{SECURITY_NAME}:pilot")
    assert request.credential_id == "QZ3XKMPA" == request.key.credential_id
    idtoken = _user_dir(entry, "vo_pilot") / f"credential_{CLIENT}_{entry.name}.idtoken"
    scitoken = _user_dir(entry, "vo_pilot") / f"credential_{CLIENT}_{entry.name}.scitoken"
    assert idtoken.read_text() == IDTOKEN
    assert scitoken.read_text() == SCITOKEN + "\n"  # upstream: stripped, one newline
    for path in (idtoken, scitoken):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    env = _submit_env(entry, request)
    assert env["X509_USER_PROXY"] == str(proxy)
    assert env["IDTOKENS_FILE"] == str(idtoken)
    assert env["SCITOKENS_FILE"] == str(scitoken)
    assert env["GLIDEIN_CREDENTIAL_ID"] == "QZ3XKMPA"
    assert env["GLIDEIN_CLIENT"] == CLIENT


def test_scitoken_entry_counts_by_scitoken_id(tmp_path: Path) -> None:
    """A token entry: the Frontend's credential is a SciToken file (ScitokenId, its
    path's id), the token itself goes as `frontend_scitoken`; no proxy at all."""
    entry = _entry(tmp_path, "CE_token", "scitoken")
    fe = Frontend310()
    enc = {"ScitokenId": "M4TOKEN2", "frontend_scitoken": SCITOKEN}
    request = _serve(entry, request_ad(fe, entry.name, enc, name_id="M4TOKEN2"))
    assert isinstance(request, WorkRequest), request
    assert request.credential_id == "M4TOKEN2" == request.key.credential_id
    env = _submit_env(entry, request)
    assert "X509_USER_PROXY" not in env
    assert Path(env["SCITOKENS_FILE"]).read_text() == SCITOKEN + "\n"


def test_scitoken_entry_with_a_proxy_id_still_counts_by_the_token(tmp_path: Path) -> None:
    """Upstream's token branch takes ScitokenId even when a proxy id came along, and
    does not need that proxy."""
    entry = _entry(tmp_path, "CE_token", "scitoken")
    enc = {"SubmitProxy": "NOTSENT2", "ScitokenId": "M4TOKEN2", "frontend_scitoken": SCITOKEN}
    request = _serve(entry, request_ad(Frontend310(), entry.name, enc))
    assert isinstance(request, WorkRequest), request
    assert request.credential_id == "M4TOKEN2"
    assert "x509_proxy" not in request.credential_files


def test_passthru_goes_on_with_the_scitoken_when_the_proxy_never_came(tmp_path: Path) -> None:
    """`CONTINUE_IF_NO_PROXY` = True: a grid entry whose proxy was not delivered serves
    the request with the SciToken, counted by its ScitokenId (unit_work_v3)."""
    entry = _entry(tmp_path, "OSG_ce", "grid_proxy")
    enc = {"SubmitProxy": "QZ3XKMPA", "ScitokenId": "M4TOKEN2", "frontend_scitoken": SCITOKEN}
    params = {"CONTINUE_IF_NO_PROXY": "True"}
    request = _serve(entry, request_ad(Frontend310(), entry.name, enc, params=params))
    assert isinstance(request, WorkRequest), request
    assert request.credential_id == "M4TOKEN2" == request.key.credential_id
    assert "x509_proxy" not in request.credential_files
    assert "scitokens_file" in request.credential_files
    # Without the parameter the missing proxy rejects it, as upstream.
    refused = _serve(entry, request_ad(Frontend310(), entry.name, enc))
    assert isinstance(refused, Rejection) and "QZ3XKMPA not found" in refused.reason


@pytest.mark.parametrize(
    ("auth", "pair"),
    [
        ("key_pair", ("PublicKey", "PrivateKey")),
        ("cert_pair", ("PublicCert", "PrivateCert")),
        ("username_password", ("Username", "Password")),
        ("auth_file", ("AuthFile",)),
    ],
)
def test_pair_and_file_credentials_with_the_glidein_proxy(
    tmp_path: Path, auth: str, pair: tuple[str, ...]
) -> None:
    """Other credential types: the global ad holds each file (filename, key_fname and
    the pilot proxy each under its own id and class); the request names them and the
    glidein proxy. Upstream counts the request by the first file of the pair and gives
    the glidein the GlideinProxy (BOSCO); every named file must have been delivered."""
    entry = _entry(tmp_path, "bosco_site", f"{auth}+vm_id+vm_type", grid_type="batch slurm")
    ids = ["PUB2ABCD", "PRIV3EFG"][: len(pair)]
    files = {cid: (f"secret {cid}\n", "cloud-1") for cid in ids}
    files["PILOT4HJ"] = (PROXY, "cloud-1")
    fe = Frontend310()
    assert len(_deliver(entry, global_ad(fe, files))) == len(files)
    enc = {"SecurityClass": "cloud-1", "GlideinProxy": "PILOT4HJ", "VMId": "ami-0abc"}
    enc |= {"VMType": "m5.large"}
    enc |= dict(zip(pair, ids, strict=True))
    request = _serve(entry, request_ad(fe, entry.name, enc, name_id=ids[0]))
    assert isinstance(request, WorkRequest), request
    assert request.credential_id == ids[0] == request.key.credential_id
    assert request.enc_params["VMId"] == "ami-0abc"
    pilot = _user_dir(entry, "vo_cloud") / f"credential_{CLIENT}_PILOT4HJ"
    assert request.credential_files["x509_proxy"] == str(pilot)
    assert _submit_env(entry, request)["X509_USER_PROXY"] == str(pilot)
    # A file the global ad never brought: not served.
    (_user_dir(entry, "vo_cloud") / f"credential_{CLIENT}_{ids[-1]}").unlink()
    missing = _serve(entry, request_ad(fe, entry.name, enc))
    assert isinstance(missing, Rejection) and f"{ids[-1]} ({pair[-1]}) not found" in missing.reason


def test_cloud_entry_does_without_a_delivered_glidein_proxy(tmp_path: Path) -> None:
    """ec2/gce entries may go on without the glidein proxy file (they can use the
    IDTOKEN); a batch entry may not."""
    enc = {"GlideinProxy": "PILOT4HJ", "PublicKey": "PUB2ABCD", "PrivateKey": "PRIV3EFG"}
    enc |= {"SecurityClass": "cloud-1", "VMId": "ami-1", "VMType": "t3"}
    cloud = _entry(tmp_path / "a", "aws", "key_pair+vm_id+vm_type", grid_type="ec2")
    keys = {"PUB2ABCD": ("k", "cloud-1"), "PRIV3EFG": ("k", "cloud-1")}
    _deliver(cloud, global_ad(Frontend310(), keys))
    request = _serve(cloud, request_ad(Frontend310(), cloud.name, enc))
    assert isinstance(request, WorkRequest), request
    assert "x509_proxy" not in request.credential_files
    batch = _entry(tmp_path / "b", "bosco", "key_pair", grid_type="batch pbs")
    _deliver(batch, global_ad(Frontend310(), keys))
    refused = _serve(batch, request_ad(Frontend310(), batch.name, enc))
    assert isinstance(refused, Rejection) and "PILOT4HJ not found" in refused.reason


def test_request_values_of_every_type_a_3_10_frontend_writes(tmp_path: Path) -> None:
    """UNREG removal (= NO), a margin, an idle lifetime sent as a string, the legacy
    ReqMaxRunningGlideins only, the HA slave, parameters of each type."""
    entry = _entry(tmp_path, "OSG_ce", "grid_proxy")
    fe = Frontend310()
    _deliver(entry, global_ad(fe, {"QZ3XKMPA": (PROXY, "pilot")}))
    params = {"CPUS": 8, "Ratio": 0.5, "UseX": True, "Note": 'a "quoted"\nline'}
    reqs = {
        "ReqRemoveExcess": "UNREG",
        "ReqRemoveExcessMargin": 4,
        "ReqIdleLifetime": "86400",
        "ReqMaxGlideins": None,
        "ReqMaxRunningGlideins": 33,
    }
    ad = request_ad(
        fe, entry.name, {"SubmitProxy": "QZ3XKMPA"}, params=params, requests=reqs, ha_mode="slave"
    )
    request = _serve(entry, ad)
    assert isinstance(request, WorkRequest), request
    demand = request.demand
    assert (demand.idle, demand.max_glideins) == (7, 33)
    assert (demand.remove_excess, demand.remove_margin) == ("NO", 4)
    assert request.idle_lifetime == 86400
    assert request.params["CPUS"] == 8 and request.params["Ratio"] == 0.5
    assert request.params["UseX"] is True
    # Old ClassAd syntax keeps the backslash: the factory gets the two characters, as
    # upstream's does (classads.md §0).
    assert request.params["Note"] == 'a "quoted"\\nline'
    assert request.monitor == {"Idle": 12, "Running": 3}
    staging = request.client_staging
    assert staging is not None and staging.group == "analysis_grp"
    assert staging.group_web.endswith("/group_analysis_grp")
    env = _submit_env(entry, request)
    assert env["GLIDEIN_PARAM_CPUS"] == "8" and env["GLIDEIN_PARAM_UseX"] == "True"
    assert "GLIDEIN_PARAM_Note" not in env  # not submit-safe: only on the command line


@pytest.mark.parametrize("sent", ["NO", "WAIT", "IDLE", "ALL", "UNREG"])
def test_every_remove_excess_value_a_3_10_frontend_sends(tmp_path: Path, sent: str) -> None:
    entry = _entry(tmp_path, "OSG_ce", "grid_proxy")
    fe = Frontend310()
    _deliver(entry, global_ad(fe, {"QZ3XKMPA": (PROXY, "pilot")}))
    ad = request_ad(fe, entry.name, {"SubmitProxy": "QZ3XKMPA"}, requests={"ReqRemoveExcess": sent})
    request = _serve(entry, ad)
    assert isinstance(request, WorkRequest), request
    assert request.demand.remove_excess == ("NO" if sent == "UNREG" else sent)


def test_global_ad_class_without_a_user_is_skipped_not_the_others(tmp_path: Path) -> None:
    entry = _entry(tmp_path, "OSG_ce", "grid_proxy")
    creds = {"QZ3XKMPA": (PROXY, "pilot"), "OTHER777": (PROXY, "nobody-maps-me")}
    stored = _deliver(entry, global_ad(Frontend310(), creds))
    assert [s.cred_id for s in stored] == ["QZ3XKMPA"]


def test_hostile_names_in_a_genuine_request_never_reach_a_path(tmp_path: Path) -> None:
    """Ids that would leave the credential folder are refused even from the configured
    Frontend, in the global ad and in the request."""
    entry = _entry(tmp_path, "OSG_ce", "key_pair")
    stored = _deliver(entry, global_ad(Frontend310(), {"../../x": (PROXY, "pilot")}))
    assert stored == []
    assert not (tmp_path / "x").exists()
    enc = {"GlideinProxy": "PILOT4HJ", "PublicKey": "PUB2ABCD", "PrivateKey": "../../etc/pw"}
    refused = _serve(entry, request_ad(Frontend310(), entry.name, enc))
    assert isinstance(refused, Rejection)
