"""3.10 and 3.11 requests side by side, on the real Frontends' requests in the shared vectors.

Every decoded value is compared with what the upstream factory code made of the same ad
(`expected.json`, `decoded_by_upstream_3_11.json`); the 3.11 requests of other shapes are
built by the simulator's writer, the way a 3.11 Frontend pickles them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import classad2
import htcondor2  # noqa: F401  (before any ExprTree: else stringListMember evaluates to Error)
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from glideinwms_factory.entry.config import EntryConfig
from glideinwms_factory.entry.limits import EntryLimits
from glideinwms_factory.entry.requests import Rejection, WorkRequest, validate_request
from glideinwms_factory.lib import credential_objects as co
from glideinwms_factory.lib import crypto
from glideinwms_factory.lib.descript import FrontendInfo
from glideinwms_factory.lib.descript_records import GlideinDescript, JobDescript
from glideinwms_factory.lib.factory_config import FactoryConfig
from glideinwms_factory.lib.factory_key import FactoryKey, FactoryKeys

VECTORS = Path(__file__).resolve().parents[2] / "shared" / "interop-vectors"
if not VECTORS.is_dir():
    VECTORS = Path("/work/shared/interop-vectors")
IDENTITY = "vofrontend_service@frontend.example.org"  # what the collector stamps (README)
NOW = 1_800_000_000.0
V311 = ["v3_11-scitoken", "v3_11-static-idtoken"]


def _key(folder: Path) -> FactoryKey:
    raw = (folder / "rsa.key").read_bytes()
    private = load_pem_private_key(raw, b"default" if b"ENCRYPTED" in raw else None)
    return FactoryKey.from_private_key(private)  # type: ignore[arg-type]


def _ads(folder: Path, *files: str) -> list[dict[str, Any]]:
    ads = []
    for name in files or ("request.ad",):
        for ad in classad2.parseAds((folder / name).read_text()):
            ads.append({**dict(ad), "AuthenticatedIdentity": IDENTITY})
    return ads


def _entry(
    tmp_path: Path, name: str, factory: str, auth: str, usermap: dict[str, str]
) -> EntryConfig:
    config = FactoryConfig(
        work_dir=tmp_path,
        glidein={"FactoryName": factory, "GlideinName": "gfactory_instance"},
        frontends={"fe_secname": FrontendInfo(IDENTITY, usermap)},
        descript=GlideinDescript(),
    )
    return EntryConfig(
        name=name,
        factory=config,
        job=JobDescript(auth_method=auth),
        attributes={},
        params={},
        submit_attrs={},
        submit_files={},
        limits=EntryLimits(),
    )


def test_3_10_vector_decodes_as_upstream_and_is_a_3_10_request(tmp_path: Path) -> None:
    folder = VECTORS / "v3_10"
    expected = json.loads((folder / "expected.json").read_text())
    key = _key(folder)
    by_type = {ad["MyType"]: ad for ad in _ads(folder)}
    for my_type, want in expected["ads"].items():
        decoded = crypto.decrypt_request(key.private_key, by_type[my_type])
        assert decoded.identity == expected["identity"]
        assert decoded.enc_params == want["encrypted_params"]
        assert decoded.pickled == {}
        assert decoded.sym_key.key_code() == expected["symkey_code"]
    entry = dataclasses.replace(
        _entry(tmp_path, "CMSHTPC_T2_US_Example_ce1", "osg_factory", "grid_proxy", {}),
        factory=FactoryConfig(
            tmp_path,
            {"FactoryName": "osg_factory", "GlideinName": "gfactory_instance"},
            {"vofrontend_example": FrontendInfo(IDENTITY, {"frontend": "fe_user"})},
            GlideinDescript(),
        ),
    )
    result = validate_request(
        by_type["glideclient"], entry, FactoryKeys(key), entry.factory.frontends, NOW
    )
    assert isinstance(result, WorkRequest), result
    view = expected["glideclient_factory_view"]
    assert result.protocol == "3.10" and result.credentials_311 is None
    assert (result.idle, result.max_glideins) == (
        view["requests"]["IdleGlideins"],
        view["requests"]["MaxGlideins"],
    )
    assert result.params == view["params"]
    assert result.credential_id == expected["ads"]["glideclient"]["encrypted_params"]["SubmitProxy"]


@pytest.mark.parametrize("vector", V311)
def test_3_11_vectors_decode_as_upstream(tmp_path: Path, vector: str) -> None:
    folder = VECTORS / vector
    upstream = json.loads((folder / "decoded_by_upstream_3_11.json").read_text())
    files = ("request.ad", "request_1.ad") if (folder / "request_1.ad").exists() else ()
    ads = {ad["Name"]: ad for ad in _ads(folder, *files)}
    key = _key(folder)
    for want in upstream["ads"]:
        ad = ads[want["Name"]]
        decoded = crypto.decrypt_request(key.private_key, ad)
        assert decoded.identity == want["identity"]
        assert decoded.sym_key.key_code(want["key_code_prefix"]) == want["symkey_code"]
        text = {k: v for k, v in want["encrypted_params"].items() if not isinstance(v, dict)}
        assert decoded.enc_params == text
        assert sorted(decoded.pickled) == sorted(want["pickled_params"])

    [want] = [w for w in upstream["ads"] if w["MyType"] == "glideclient"]
    [work] = want["perform_work_v3"]
    bundle = work["submit_credentials"]
    entry = _entry(
        tmp_path,
        "TEST_ENTRY",
        "interop_factory",
        bundle["auth_set"],
        {bundle["security_class"]: bundle["username"]},
    )
    result = validate_request(
        ads[want["Name"]], entry, FactoryKeys(key), entry.factory.frontends, NOW
    )
    assert isinstance(result, WorkRequest), result
    assert result.protocol == "3.11"
    assert result.frontend_name == work["frontend_name"]
    assert result.username == work["credential_username"]
    assert (result.idle, result.max_glideins) == (work["idle_glideins"], work["max_glideins"])
    assert result.demand.remove_excess == work["remove_excess"][0]
    assert result.params == work["params"]
    assert result.credential_id == bundle["id"]
    web = work["client_web"]
    assert result.client_staging is not None
    assert (result.client_staging.web, result.client_staging.group_web) == (
        web["url"],
        web["group_url"],
    )
    creds = result.credentials_311
    assert creds is not None
    assert creds.auth_set.names() == [bundle["auth_set"]]

    def same(ours: tuple[co.Credential, ...], theirs: dict[str, dict[str, Any]]) -> None:
        assert len(ours) == len(theirs)
        for cred, up in zip(ours, theirs.values(), strict=True):
            assert up["class"].endswith(co.CLASS_OF_TYPE[cred.cred_type])
            assert cred.cred_type.value == up["cred_type"]
            assert cred.text == up["file_data"]
            assert cred.purpose is not None and cred.purpose.value == up["purpose"]
            assert (cred.trust_domain, cred.security_class) == (
                up["trust_domain"],
                up["security_class"],
            )

    same(creds.request, bundle["security_credentials"])
    same(creds.payload, bundle["identity_credentials"])
    assert {p.name.value: p.value for p in creds.parameters} == bundle["parameters"]


def _v311(tmp_path: Path) -> tuple[dict[str, Any], EntryConfig, FactoryKeys]:
    folder = VECTORS / "v3_11-scitoken"
    [ad] = [a for a in _ads(folder) if a["MyType"] == "glideclient"]
    entry = _entry(tmp_path, "TEST_ENTRY", "interop_factory", "scitoken", {"fe_secclass": "u1"})
    return ad, entry, FactoryKeys(_key(folder))


def _reencrypt(
    ad: dict[str, Any], keys: FactoryKeys, **values: str | bytes | None
) -> dict[str, Any]:
    """The vector ad with some encrypted values replaced, under its own key code."""
    sym = crypto.decrypt_key_code(keys.current.private_key, ad["ReqEncKeyCode"])
    out = dict(ad)
    for name, value in values.items():
        if value is None:
            out.pop(crypto.ENC_PARAM_PREFIX + name, None)
        else:
            out[crypto.ENC_PARAM_PREFIX + name] = sym.encrypt(value)
    return out


def _reason(ad: dict[str, Any], entry: EntryConfig, keys: FactoryKeys) -> str:
    result = validate_request(ad, entry, keys, entry.factory.frontends, NOW)
    assert isinstance(result, Rejection), result
    return result.reason


SCITOKEN = co.Credential(
    co.CredentialType.SCITOKEN, "eyJ.sci.tok", co.CredentialPurpose.REQUEST, "grid", "fe_secclass"
)


def test_bad_3_11_requests_get_one_precise_reason(tmp_path: Path, marker: Path) -> None:
    ad, entry, keys = _v311(tmp_path)
    assert isinstance(validate_request(ad, entry, keys, entry.factory.frontends, NOW), WorkRequest)
    evil = b"\x80\x04cf311_marker_mod\nrun\n\x8c\x01x\x85R."
    cases = {
        "3.11 request (pickled AuthSet) also carries 3.10 SubmitProxy": {"SubmitProxy": "AAAA"},
        "GlideinEncParamSecurityClass: a pickle where text belongs": {
            "SecurityClass": co.dumps_credentials([])
        },
        "GlideinEncParamAuthSet: text where 3.11 sends a pickle": {"AuthSet": "scitoken"},
        "refused global 'f311_marker_mod.run'": {"RequestCredentials": evil},
        "3.11 request without GlideinEncParamRequestCredentials": {"RequestCredentials": None},
        "AuthSet names scitoken but RequestCredentials carry none": {
            "RequestCredentials": co.dumps_credentials([])
        },
        "request credential x509_cert is not accepted by auth method 'scitoken'": {
            "RequestCredentials": co.dumps_credentials(
                [SCITOKEN, dataclasses.replace(SCITOKEN, cred_type=co.CredentialType.X509_CERT)]
            )
        },
        "auth method 'scitoken' needs one of scitoken; AuthSet has nothing": {
            "AuthSet": co.dumps_auth_set(co.AuthSet(frozenset()))
        },
        "RequestCredentials holds a callback credential": {
            "RequestCredentials": co.dumps_credentials(
                [dataclasses.replace(SCITOKEN, purpose=co.CredentialPurpose.CALLBACK)]
            )
        },
    }
    for reason, values in cases.items():
        assert _reason(_reencrypt(ad, keys, **values), entry, keys) == reason
    renamed = {**ad, "Name": "2K4XLRWV_OTHER@x@y@fe_interop.main"}
    assert "is not <credential id>_<ReqName>@<ClientName>" in _reason(renamed, entry, keys)
    assert not marker.exists()


def test_pickles_are_not_read_before_the_frontend_is_known(tmp_path: Path, marker: Path) -> None:
    """A request from an unknown frontend is refused for that, its pickles never looked at."""
    ad, entry, keys = _v311(tmp_path)
    hostile = _reencrypt(ad, keys, RequestCredentials=b"\x80\x04" + b"(" * 100_000 + b".")

    def serving(frontends: dict[str, FrontendInfo]) -> EntryConfig:
        return dataclasses.replace(
            entry, factory=dataclasses.replace(entry.factory, frontends=frontends)
        )

    # The identity is configured, but as another frontend than the SecurityName it sent.
    renamed = serving({"other_fe": entry.factory.frontends["fe_secname"]})
    assert _reason(hostile, renamed, keys) == "frontend 'fe_secname' is not in frontend.descript"
    stranger = serving({})  # the identity is nobody's: refused before any decryption
    assert "is no configured frontend's" in _reason(hostile, stranger, keys)
    assert "stack exceeds" in _reason(hostile, entry, keys)
    # A configured frontend sending another one's encrypted identity.
    evil = serving({**entry.factory.frontends, "evil": FrontendInfo("evil@example.org")})
    spoofed = {**ad, "AuthenticatedIdentity": "evil@example.org"}
    assert "differs from the authenticated identity" in _reason(spoofed, evil, keys)


@pytest.mark.parametrize(
    ("method", "types", "params", "ok"),
    [
        ("scitoken,idtoken", {"idtoken"}, {}, True),
        ("grid_proxy;project_id", {"x509_cert"}, {"ProjectId": "TG-1"}, True),
        ("grid_proxy;project_id", {"x509_cert"}, {}, False),
        ("grid_proxy+project_id", {"x509_cert", "ProjectId"}, {"ProjectId": "TG-1"}, True),
        ("any", set(), {}, True),
        ("scitoken", {"idtoken"}, {}, False),
        ("key_pair", set(), {}, False),
    ],
)
def test_auth_method_grammar(
    tmp_path: Path, method: str, types: set[str], params: dict[str, str], ok: bool
) -> None:
    ad, entry, keys = _v311(tmp_path)
    entry = dataclasses.replace(entry, job=dataclasses.replace(entry.job, auth_method=method))
    creds = [
        dataclasses.replace(SCITOKEN, cred_type=co.CredentialType(t))
        for t in sorted(types)
        if t in {c.value for c in co.CredentialType}
    ]
    members = {co.CredentialType(c.cred_type.value) for c in creds}
    members |= {co.ParameterName(p) for p in params}
    sec = [co.SecurityParameter(co.ParameterName(n), v) for n, v in params.items()]
    request = _reencrypt(
        ad,
        keys,
        AuthSet=co.dumps_auth_set(co.AuthSet(frozenset(members))),
        RequestCredentials=co.dumps_credentials(creds),
        SecurityParameters=co.dumps_security_parameters(sec),
    )
    result = validate_request(request, entry, keys, entry.factory.frontends, NOW)
    assert isinstance(result, WorkRequest) == ok, result
    if ok:
        assert isinstance(result, WorkRequest)
        assert {k: result.enc_params[k] for k in params} == params  # AuthSet-named: kept


def test_security_parameters_outside_the_auth_set_are_dropped(tmp_path: Path) -> None:
    ad, entry, keys = _v311(tmp_path)  # the vector: ProjectId sent, AuthSet = {scitoken}
    result = validate_request(ad, entry, keys, entry.factory.frontends, NOW)
    assert isinstance(result, WorkRequest)
    assert result.credentials_311 is not None and result.credentials_311.parameters == ()
    assert "ProjectId" not in result.enc_params


def test_a_vanished_3_11_request_counts_as_a_request_for_0_idle(tmp_path: Path) -> None:
    from glideinwms_factory.entry.accounting import Job, QueueSnapshot, State
    from glideinwms_factory.entry.decision import plan_cycle
    from glideinwms_factory.entry.request_cycle import with_vanished

    ad, entry, keys = _v311(tmp_path)
    ad = {**ad, "ReqRemoveExcess": "IDLE"}
    served = validate_request(ad, entry, keys, entry.factory.frontends, NOW)
    assert isinstance(served, WorkRequest)
    key = served.key
    idle = [
        Job(1, n, State.IDLE_OTHER, 60, key.client, served.frontend_name, key.security_class,
            key.credential_id)
        for n in range(3)
    ]  # fmt: skip
    snapshot = QueueSnapshot(idle)
    requests, seen = with_vanished([served], {}, snapshot)
    assert requests == [served] and seen == {key: served}
    # Next cycle the Frontend advertises nothing for it: a request for 0 idle, same rules.
    requests, seen = with_vanished([], seen, snapshot)
    assert [(r.name, r.idle, r.demand.remove_excess) for r in requests] == [
        (served.name, 0, "IDLE")
    ]
    plan = plan_cycle([r.demand for r in requests], snapshot, entry.limits)
    assert sorted(plan.requests[0].remove) == ["1.0", "1.1", "1.2"]
    # Rejected this cycle is not gone; with no glideins left it is forgotten.
    assert with_vanished([], seen, snapshot, rejected=[served.name]) == ([], seen)
    assert with_vanished([], seen, QueueSnapshot([])) == ([], {})
    # 3.10 requests are not remembered: a 3.10 Frontend sends its 0 itself.
    v310 = dataclasses.replace(served, protocol="3.10")
    assert with_vanished([v310], {}, snapshot)[1] == {}


@pytest.mark.parametrize("vector", V311)
def test_3_11_credentials_reach_the_job_as_files(tmp_path: Path, vector: str) -> None:
    """Request SciToken -> the job's SciToken file; callback IdToken -> the glidein's IDTOKEN
    and IDENTITY_CREDENTIALS; each file 0600 under the client's credential directory."""
    from glideinwms_factory.entry.find_work import with_credentials
    from glideinwms_factory.entry.glidein_args import EntryConstants, submit_environment
    from glideinwms_factory.entry.submission import submit_request

    folder = VECTORS / vector
    upstream = json.loads((folder / "decoded_by_upstream_3_11.json").read_text())
    [want] = [w for w in upstream["ads"] if w["MyType"] == "glideclient"]
    bundle = want["perform_work_v3"][0]["submit_credentials"]
    files = ("request.ad", "request_1.ad") if (folder / "request_1.ad").exists() else ()
    [ad] = [a for a in _ads(folder, *files) if a["MyType"] == "glideclient"]
    entry = _entry(
        tmp_path, "TEST_ENTRY", "interop_factory", "scitoken", {bundle["security_class"]: "u1"}
    )
    keys = FactoryKeys(_key(folder))
    request = validate_request(ad, entry, keys, entry.factory.frontends, NOW)
    assert isinstance(request, WorkRequest)
    stored = with_credentials(entry.factory, entry, request)
    assert isinstance(stored, WorkRequest), stored
    cred_dir = tmp_path / "client_proxies" / "user_u1" / "glidein_gfactory_instance"
    scitoken = Path(stored.credential_files["scitokens_file"])
    idtoken = Path(stored.credential_files["idtokens_file"])
    [sent] = bundle["security_credentials"].values()
    [callback] = bundle["identity_credentials"].values()
    for path, up in ((scitoken, sent), (idtoken, callback)):
        assert path.parent == cred_dir and path.name.startswith("credential_")
        assert path.read_text().strip() == up["file_data"].strip()
        assert path.stat().st_mode & 0o777 == int(up["file_mode"], 8) == 0o600
    assert stored.identity_files == (str(idtoken),)
    assert "x509_proxy" not in stored.credential_files
    # Stored again unchanged (next cycle): same files, nothing rewritten.
    mtime = scitoken.stat().st_mtime_ns
    assert with_credentials(entry.factory, entry, request) == stored
    assert scitoken.stat().st_mtime_ns == mtime
    env = submit_environment(
        submit_request(stored, "-v std", "20261204", {}),
        EntryConstants(
            "f", "g", "TEST_ENTRY", "entry_TEST_ENTRY/job.condor", "http://w", ".", "fixed"
        ),
    ).env
    assert env["IDENTITY_CREDENTIALS"] == str(idtoken)
    assert env["GLIDEIN_CREDENTIAL_ID"] == bundle["id"]
