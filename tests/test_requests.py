"""Request validation (security.md §4) on request ads built the way a frontend builds them.

The ads are encrypted with `lib/crypto.py` against a real factory key, and validated
against a real entry config made by `create_glidein`; one named case per rejection reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import classad2
import htcondor2  # noqa: F401  (before any ExprTree: else stringListMember evaluates to Error)
import pytest
from factory_testlib import FRONTEND, EntrySpec, config_xml, create, free_port

from glideinwms_factory.entry.config import EntryConfig, load_entry
from glideinwms_factory.entry.request_cycle import newest_per_name
from glideinwms_factory.entry.requests import (
    Rejection,
    WorkRequest,
    request_constraint,
    validate_request,
    validate_requests,
)
from glideinwms_factory.lib import crypto
from glideinwms_factory.lib.classad import format_old, parse_old, to_classad
from glideinwms_factory.lib.descript import FrontendInfo
from glideinwms_factory.lib.factory_config import load_factory
from glideinwms_factory.lib.factory_key import FactoryKey, FactoryKeys, generate_key

NOW = 1_800_000_000.0
KEY = generate_key()
OLD_KEY = generate_key()
STRANGER_KEY = generate_key()  # a key this factory never had
KEYS = FactoryKeys(KEY, OLD_KEY, old_until=NOW + 900)
CLIENT = "vofe.main"
CRED = "ABCDEFGH"

Ad = dict[str, Any]


@pytest.fixture(scope="module")
def entries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, EntryConfig]:
    """ce1 wants a grid proxy, ce2 takes SciTokens, ce3 is served by nobody here."""
    specs = [
        EntrySpec("ce1", auth_method="grid_proxy"),
        EntrySpec("ce2"),
        EntrySpec("ce3"),
        # 3.11 grammar, as production fragments write it (lib/auth_method).
        EntrySpec("proxy_project", auth_method="grid_proxy;project_id"),
        EntrySpec("token_project", auth_method="scitoken;project_id"),
        EntrySpec("token_either", auth_method="scitoken,idtoken"),
        EntrySpec("proxy_or_pair", auth_method="grid_proxy,cert_pair"),
    ]
    factory = create(tmp_path_factory.mktemp("requests"), config_xml(specs, free_port()))
    config = load_factory(factory.work)
    return {spec.name: load_entry(config, spec.name) for spec in specs}


@pytest.fixture(scope="module")
def ce1(entries: dict[str, EntryConfig]) -> EntryConfig:
    return entries["ce1"]


def request_ad(
    entry: EntryConfig,
    *,
    key: FactoryKey = KEY,
    encrypt_for: FactoryKey | None = None,
    identity: str = FRONTEND,
    authenticated: str | None = FRONTEND,
    enc: Mapping[str, str | None] | None = None,
    cipher: str = crypto.DEFAULT_CIPHER,
    digest: crypto.OaepDigest = "sha1",
    label: str = "cypher",
    credential: str = CRED,
    **attrs: Any,
) -> Ad:
    """A `glideclient` ad as a frontend advertises it, stamped by the Collector.

    `enc` overrides the encrypted parameters (None drops one); `attrs` the plain ones.
    """
    sym = crypto.SymKey.generate(cipher)
    code = crypto.encrypt_key_code(
        (encrypt_for or key).private_key.public_key(), sym, digest, label
    )
    params: dict[str, str | None] = {
        "SecurityName": "vofrontend",
        "SecurityClass": "frontend",
        "SubmitProxy": credential,
        **(enc or {}),
    }
    fields = crypto.encrypt_request_fields(
        sym, code, identity, {k: v for k, v in params.items() if v is not None}
    )
    ad: Ad = {
        "MyType": "glideclient",
        "GlideinMyType": "glideclient",
        "Name": f"{credential}_{entry.ad_name}@{CLIENT}",
        "ClientName": CLIENT,
        "FrontendName": "vofe",
        "GroupName": "main",
        "ReqName": entry.ad_name,
        "ReqGlidein": entry.ad_name,
        "ReqPubKeyID": key.pub_key_id,
        "ReqIdleGlideins": 5,
        "ReqMaxGlideins": 20,
        "ReqRemoveExcess": "NO",
        "WebURL": "None",
        "WebSignType": "sha1",
        "WebDescriptFile": "None",
        "WebDescriptSign": "None",
        "GlideinParamGLIDEIN_Collector": "pool.example.org:9618",
        "GlideinMonitorIdle": 3,
        "AuthenticatedIdentity": authenticated,
        **fields,
        **attrs,
    }
    return {k: v for k, v in ad.items() if v is not None}


def without(*names: str) -> Callable[[Ad], Ad]:
    return lambda ad: {k: v for k, v in ad.items() if k not in names}


def replaced(**values: Any) -> Callable[[Ad], Ad]:
    return lambda ad: {**ad, **values}


def whitelist(allowed: str) -> Callable[[EntryConfig], EntryConfig]:
    return lambda entry: dataclasses.replace(
        entry, job=dataclasses.replace(entry.job, whitelist_mode="On", allowed_vos=allowed)
    )


def another_frontend(identity: str) -> Callable[[EntryConfig], EntryConfig]:
    """The entry, in a factory that also serves frontend `otherfe` as `identity`."""
    return lambda entry: dataclasses.replace(
        entry,
        factory=dataclasses.replace(
            entry.factory,
            frontends={**entry.factory.frontends, "otherfe": FrontendInfo(identity)},
        ),
    )


@dataclasses.dataclass(frozen=True)
class Case:
    """One way to be rejected: the ad's arguments, an optional edit of it and of the entry."""

    id: str
    reason: str  # must appear in the rejection reason
    build: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    edit: Callable[[Ad], Ad] = lambda ad: ad
    entry: Callable[[EntryConfig], EntryConfig] = lambda entry: entry
    keys: FactoryKeys = KEYS


REJECTIONS = [
    Case("malformed Name", "Name has characters outside", edit=replaced(Name="x/../y z")),
    Case("malformed ClientName", "ClientName has characters", edit=replaced(ClientName="a b")),
    Case("no ClientName", "missing ClientName", edit=without("ClientName")),
    Case("no ReqName", "missing ReqName", edit=without("ReqName")),
    Case("ReqName of another entry", "is not this entry", edit=replaced(ReqName="ce2@g@f")),
    Case("missing key", "carries no key", edit=without("ReqPubKeyID")),
    Case("unknown key id", "unknown or retired factory key", edit=replaced(ReqPubKeyID="0" * 32)),
    Case(
        "retired key id",
        "unknown or retired factory key",
        build={"key": OLD_KEY},
        keys=FactoryKeys(KEY, OLD_KEY, old_until=NOW - 1),
    ),
    Case(
        "key code for another key",
        "ReqEncKeyCode: RSA decryption failed",
        build={"encrypt_for": STRANGER_KEY},
    ),
    Case(
        "key code not hex",
        "ReqEncKeyCode: not an even-length hex",
        edit=replaced(ReqEncKeyCode="zz"),
    ),
    Case("key code truncated", "ReqEncKeyCode: 2 bytes", edit=replaced(ReqEncKeyCode="abcd")),
    Case("legacy cipher", "legacy cipher des3 refused", build={"cipher": "des3"}),
    Case("no ReqEncIdentity", "no ReqEncIdentity", edit=without("ReqEncIdentity")),
    Case(
        "bad identity encryption",
        "ReqEncIdentity: ciphertext length",
        edit=replaced(ReqEncIdentity="abcd"),
    ),
    Case(
        "undecryptable GlideinEncParam",
        "GlideinEncParamSubmitProxy: not an even-length hex",
        edit=replaced(GlideinEncParamSubmitProxy="xyz"),
    ),
    Case("spoofed identity", "spoofed request", build={"identity": "evil@example.org"}),
    Case("no AuthenticatedIdentity", "no AuthenticatedIdentity", build={"authenticated": None}),
    Case("v2 protocol", "v2 protocol", build={"enc": {"x509_proxy_0": "proxy"}}),
    Case(
        "no SecurityName", "missing encrypted SecurityName", build={"enc": {"SecurityName": None}}
    ),
    Case(
        "grid_proxy without SubmitProxy",
        "needs SubmitProxy",
        build={"enc": {"SubmitProxy": None}},
    ),
    Case(
        "extra credentials not allowed",
        "does not allow ['GlideinProxy', 'PrivateKey']",
        build={"enc": {"GlideinProxy": "IJKLMNOP", "PrivateKey": "QRSTUVWX"}},
    ),
    Case(
        "frontend not in frontend.descript",
        "'otherfe' is not in frontend.descript",
        build={"enc": {"SecurityName": "otherfe"}},
    ),
    Case(
        "identity not the configured one",
        "'other@example.org' is not the one configured for frontend 'vofrontend'",
        build={"identity": "other@example.org", "authenticated": "other@example.org"},
        entry=another_frontend("other@example.org"),
    ),
    Case(
        "identity of no configured frontend",
        "identity 'other@example.org' is no configured frontend's",
        build={"identity": "other@example.org", "authenticated": "other@example.org"},
    ),
    Case(
        "no SecurityClass",
        "missing encrypted SecurityClass",
        build={"enc": {"SecurityClass": None}},
    ),
    Case(
        "malformed SecurityClass",
        "SecurityClass has characters outside",
        build={"enc": {"SecurityClass": "a/../b"}},
    ),
    Case(
        "malformed credential id",
        "SubmitProxy has characters outside",
        build={"enc": {"SubmitProxy": "../../etc/passwd"}},
    ),
    Case(
        "class without username",
        "no username for vofrontend:nobody",
        build={"enc": {"SecurityClass": "nobody"}},
    ),
    Case(
        "whitelist on, class not allowed",
        "vofrontend:frontend is not allowed here",
        entry=whitelist("otherfe:All,vofrontend:testing"),
    ),
    Case("bad WebSignType", "WebSignType 'md5' is not supported", edit=replaced(WebSignType="md5")),
    Case("negative idle", "ReqIdleGlideins out of range: -1", edit=replaced(ReqIdleGlideins=-1)),
    Case("absurd max", "ReqMaxGlideins out of range", edit=replaced(ReqMaxGlideins=10**9)),
    Case(
        "non-integer idle",
        "ReqIdleGlideins is not an integer",
        edit=replaced(ReqIdleGlideins="lots"),
    ),
    Case("fractional max", "ReqMaxGlideins is not an integer", edit=replaced(ReqMaxGlideins=2.5)),
    Case("boolean idle", "ReqIdleGlideins is not an integer", edit=replaced(ReqIdleGlideins=True)),
    Case("no idle count", "missing ReqIdleGlideins", edit=without("ReqIdleGlideins")),
    Case(
        "no max count at all",
        "missing ReqMaxRunningGlideins",
        edit=without("ReqMaxGlideins"),
    ),
]


@pytest.mark.parametrize("case", REJECTIONS, ids=[case.id for case in REJECTIONS])
def test_rejection_names_the_problem(case: Case, ce1: EntryConfig) -> None:
    entry = case.entry(ce1)
    ad = case.edit(request_ad(entry, **case.build))
    result = validate_request(ad, entry, case.keys, entry.factory.frontends, NOW)
    assert isinstance(result, Rejection), f"accepted: {result}"
    assert case.reason in result.reason
    assert "\n" not in result.reason
    assert result.name == str(ad.get("Name", "?"))


def test_the_baseline_ad_of_the_table_is_accepted(ce1: EntryConfig) -> None:
    """Each rejection above differs from this accepted ad by the one thing it names."""
    ad = request_ad(ce1)
    result = validate_request(ad, ce1, KEYS, ce1.factory.frontends, NOW)
    assert isinstance(result, WorkRequest), result
    assert result.name == ad["Name"]
    assert result.client_name == CLIENT
    assert result.req_name == ce1.ad_name
    assert (result.security_name, result.security_class) == ("vofrontend", "frontend")
    assert result.username == "vofe"
    assert result.identity == FRONTEND
    assert (result.idle, result.max_glideins) == (5, 20)
    assert result.credential_id == CRED
    assert result.frontend_name == "vofrontend:frontend"
    assert result.demand.down is False
    assert result.enc_params["SubmitProxy"] == CRED
    assert result.params == {"GLIDEIN_Collector": "pool.example.org:9618"}
    assert result.monitor == {"Idle": 3}
    assert result.client_staging is None


@pytest.mark.parametrize(
    ("cipher", "digest", "label"),
    [
        ("aes_256_cbc", "sha1", "cypher"),
        ("aes_256_cbc", "sha256", "cypher"),
        ("aes_256_cbc", "sha256", "cipher"),
        ("aes_128_cbc", "sha1", "cipher"),
    ],
)
def test_accepted_key_codes(ce1: EntryConfig, cipher: str, digest: str, label: str) -> None:
    ad = request_ad(ce1, cipher=cipher, digest=digest, label=label)  # type: ignore[arg-type]
    result = validate_request(ad, ce1, KEYS, ce1.factory.frontends, NOW)
    assert isinstance(result, WorkRequest), result
    assert result.identity == FRONTEND


class CountingKey:
    """A factory private key that counts its RSA private operations."""

    def __init__(self, key: Any) -> None:
        self.key, self.operations = key, 0
        self.key_size = key.key_size

    def decrypt(self, data: bytes, padding: Any) -> bytes:
        self.operations += 1
        return self.key.decrypt(data, padding)


def test_nothing_is_decrypted_for_an_identity_no_frontend_has(ce1: EntryConfig) -> None:
    """#17: who sent the ad is checked first; a stranger's ad costs no RSA operation and
    is refused as unauthorized even when its key code is garbage."""
    counting = CountingKey(KEY.private_key)
    keys = FactoryKeys(dataclasses.replace(KEY, private_key=counting))  # type: ignore[arg-type]
    frontends = ce1.factory.frontends
    good = validate_request(request_ad(ce1, digest="sha256"), ce1, keys, frontends, NOW)
    assert isinstance(good, WorkRequest) and counting.operations == 1
    stranger = "mallory@evil.example.org"
    ads = [
        request_ad(ce1, identity=stranger, authenticated=stranger),
        request_ad(ce1, authenticated=stranger),  # a frontend's ad, replayed by a stranger
        request_ad(ce1, authenticated=stranger, ReqEncKeyCode="zz"),
    ]
    for ad in ads:
        result = validate_request(ad, ce1, keys, frontends, NOW)
        assert isinstance(result, Rejection) and not result.authorized, result
        assert (
            result.reason
            == f"identity {stranger!r} is no configured frontend's (frontend.descript)"
        )
    assert counting.operations == 1


def test_old_key_is_accepted_during_its_grace_period(ce1: EntryConfig) -> None:
    ad = request_ad(ce1, key=OLD_KEY)
    assert isinstance(validate_request(ad, ce1, KEYS, ce1.factory.frontends, NOW), WorkRequest)


def test_legacy_cipher_when_allowed(ce1: EntryConfig) -> None:
    ad = request_ad(ce1, cipher="bf_cbc")
    result = validate_request(ad, ce1, KEYS, ce1.factory.frontends, NOW, allow_legacy_ciphers=True)
    assert isinstance(result, WorkRequest), result


def test_max_running_glideins_is_the_legacy_fallback(ce1: EntryConfig) -> None:
    ad = without("ReqMaxGlideins")(request_ad(ce1, ReqMaxRunningGlideins=7))
    result = validate_request(ad, ce1, KEYS, ce1.factory.frontends, NOW)
    assert isinstance(result, WorkRequest), result
    assert result.max_glideins == 7
    both = request_ad(ce1, ReqMaxRunningGlideins=7, ReqMaxGlideins=9)
    assert validate_request(both, ce1, KEYS, ce1.factory.frontends, NOW).max_glideins == 9  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("idle", "IDLE"),
        ("Wait", "WAIT"),
        ("ALL", "ALL"),
        ("UNREG", "NO"),
        ("RUNSTALE", "NO"),
        (None, "NO"),
    ],
)
def test_remove_excess_is_normalised(ce1: EntryConfig, sent: str | None, expected: str) -> None:
    ad = request_ad(ce1, ReqRemoveExcess=sent, ReqRemoveExcessMargin=2, ReqIdleLifetime="3600")
    result = validate_request(ad, ce1, KEYS, ce1.factory.frontends, NOW)
    assert isinstance(result, WorkRequest), result
    assert (result.demand.remove_excess, result.demand.remove_margin, result.idle_lifetime) == (
        expected,
        2,
        3600,
    )


def test_client_staging_when_published(ce1: EntryConfig) -> None:
    ad = request_ad(
        ce1,
        WebURL="http://fe.example.org/vofrontend/stage",
        WebDescriptFile="description.abc.cfg",
        WebDescriptSign="0123abcd",
        WebGroupURL="http://fe.example.org/vofrontend/stage/group_main",
        WebGroupDescriptFile="description.def.cfg",
        WebGroupDescriptSign="4567ef01",
    )
    result = validate_request(ad, ce1, KEYS, ce1.factory.frontends, NOW)
    assert isinstance(result, WorkRequest), result
    staging = result.client_staging
    assert staging is not None
    assert (staging.web, staging.descript, staging.sign, staging.sign_type) == (
        "http://fe.example.org/vofrontend/stage",
        "description.abc.cfg",
        "0123abcd",
        "sha1",
    )
    assert (staging.group, staging.group_web, staging.group_descript, staging.group_sign) == (
        "main",
        "http://fe.example.org/vofrontend/stage/group_main",
        "description.def.cfg",
        "4567ef01",
    )


def test_a_staging_area_is_kept_per_client_and_read_anew_when_it_changes(
    ce1: EntryConfig,
) -> None:
    """Staging areas are remembered by their values: the same values give the same
    record, changed ones a new one, and a value no cache can hold (an expression, a list)
    is still read."""
    web = {
        "WebURL": "http://fe.example.org/stage",
        "WebDescriptFile": "description.cfg",
        "WebDescriptSign": "abcd",
        "WebGroupURL": "http://fe.example.org/stage/group_main",
    }

    def staging(**values: Any) -> Any:
        ad = request_ad(ce1, **{**web, **values})
        result = validate_request(ad, ce1, KEYS, ce1.factory.frontends, NOW)
        assert isinstance(result, WorkRequest), result
        return result.client_staging

    first = staging()
    assert staging() is first
    assert staging(WebDescriptSign="ef01").sign == "ef01"
    listed = staging(WebGroupDescriptFile=["a.cfg", "b.cfg"])
    assert listed.group_descript == "['a.cfg', 'b.cfg']" and listed.web == first.web
    expression = staging(WebGroupDescriptSign=classad2.ExprTree("x + 1"))
    assert expression.group_sign == "x + 1"


@pytest.mark.parametrize("placeholder", ["WebURL", "WebDescriptFile", "WebDescriptSign"])
def test_none_placeholder_means_no_client_staging(ce1: EntryConfig, placeholder: str) -> None:
    real = {
        "WebURL": "http://fe.example.org/stage",
        "WebDescriptFile": "description.cfg",
        "WebDescriptSign": "abcd",
    }
    ad = request_ad(ce1, **{**real, placeholder: "None"})
    result = validate_request(ad, ce1, KEYS, ce1.factory.frontends, NOW)
    assert isinstance(result, WorkRequest), result
    assert result.client_staging is None


def test_whitelist_listed_class_is_accepted(ce1: EntryConfig) -> None:
    for allowed in ("vofrontend:frontend", "vofrontend:All"):
        entry = whitelist(f"otherfe:x,{allowed}")(ce1)
        result = validate_request(request_ad(entry), entry, KEYS, entry.factory.frontends, NOW)
        assert isinstance(result, WorkRequest), (allowed, result)
        assert result.demand.down is False


def test_whitelist_frontend_not_listed_runs_in_downtime(ce1: EntryConfig) -> None:
    entry = whitelist("otherfe:All")(ce1)
    result = validate_request(request_ad(entry), entry, KEYS, entry.factory.frontends, NOW)
    assert isinstance(result, WorkRequest), result
    assert result.demand.down is True
    # Confined to that request: the same ad on an entry without whitelist is not down.
    plain = validate_request(request_ad(ce1), ce1, KEYS, ce1.factory.frontends, NOW)
    assert isinstance(plain, WorkRequest) and plain.demand.down is False


def test_scitoken_entry_takes_any_credentials(entries: dict[str, EntryConfig]) -> None:
    ce2 = entries["ce2"]
    ad = request_ad(
        ce2, enc={"SubmitProxy": None, "ScitokenId": "TOKEN123", "frontend_scitoken": "jwt"}
    )
    result = validate_request(ad, ce2, KEYS, ce2.factory.frontends, NOW)
    assert isinstance(result, WorkRequest), result
    assert result.credential_id == "TOKEN123"


TOKEN_ONLY = {"SubmitProxy": None, "ScitokenId": "TOKEN123", "frontend_scitoken": "jwt"}


def test_scitoken_passthru_on_a_grid_proxy_entry(ce1: EntryConfig) -> None:
    """A token-only group with the plain parameter CONTINUE_IF_NO_PROXY=True needs no proxy."""
    ad = request_ad(ce1, enc=TOKEN_ONLY, GlideinParamCONTINUE_IF_NO_PROXY="True")
    result = validate_request(ad, ce1, KEYS, ce1.factory.frontends, NOW)
    assert isinstance(result, WorkRequest), result
    assert result.credential_id == "TOKEN123"
    assert result.params["CONTINUE_IF_NO_PROXY"] == "True"


@pytest.mark.parametrize(
    ("enc", "attrs"),
    [
        pytest.param(TOKEN_ONLY, {}, id="no CONTINUE_IF_NO_PROXY"),
        pytest.param(TOKEN_ONLY, {"GlideinParamCONTINUE_IF_NO_PROXY": "False"}, id="False"),
        pytest.param(
            {**TOKEN_ONLY, "CONTINUE_IF_NO_PROXY": "True"}, {}, id="only as an encrypted param"
        ),
        pytest.param(
            {"SubmitProxy": None, "ScitokenId": "TOKEN123"},
            {"GlideinParamCONTINUE_IF_NO_PROXY": "True"},
            id="no frontend_scitoken",
        ),
    ],
)
def test_no_passthru_without_token_and_parameter(
    ce1: EntryConfig, enc: dict[str, str | None], attrs: dict[str, str]
) -> None:
    ad = request_ad(ce1, enc=enc, **attrs)
    result = validate_request(ad, ce1, KEYS, ce1.factory.frontends, NOW)
    assert isinstance(result, Rejection)
    assert "needs SubmitProxy" in result.reason


def test_ads_as_the_collector_returns_them(ce1: EntryConfig) -> None:
    """Through the old text form and classad2, the same answers as from plain mappings."""
    ads = [
        request_ad(
            ce1,
            ReqRemoveExcess="idle",
            WebURL="http://fe/stage",
            WebDescriptFile="d",
            WebDescriptSign="s",
        ),
        request_ad(ce1, identity="evil@example.org"),
        request_ad(ce1, ReqIdleGlideins=-3),
        request_ad(ce1, enc={"SecurityClass": "nobody"}),
    ]
    frontends = ce1.factory.frontends
    for ad in ads:
        classad = parse_old(format_old(ad))
        assert validate_request(classad, ce1, KEYS, frontends, NOW) == validate_request(
            ad, ce1, KEYS, frontends, NOW
        )
    assert isinstance(
        validate_request(parse_old(format_old(ads[0])), ce1, KEYS, frontends, NOW), WorkRequest
    )


def test_padding_preference_gives_the_same_answers(ce1: EntryConfig) -> None:
    """Remembering each client's padding changes the cost, never the answers."""
    sym = crypto.SymKey.generate()
    code = crypto.encrypt_key_code(KEY.private_key.public_key(), sym)
    good = request_ad(ce1)
    shared = {
        **good,
        **crypto.encrypt_request_fields(
            sym,
            code,
            FRONTEND,
            {"SecurityName": "vofrontend", "SecurityClass": "frontend", "SubmitProxy": CRED},
        ),
    }
    ads = [
        good,
        shared,
        {**shared, "Name": f"ZZZZZZZZ_{ce1.ad_name}@{CLIENT}"},
        {**shared, "ReqEncIdentity": sym.encrypt("evil@example.org")},
        request_ad(ce1, encrypt_for=STRANGER_KEY),
        request_ad(ce1, encrypt_for=STRANGER_KEY),
    ]
    ads.append(dict(ads[-1]))  # the same undecryptable key code twice
    padding = crypto.OaepPreference()
    frontends = ce1.factory.frontends
    plain = [validate_request(ad, ce1, KEYS, frontends, NOW) for ad in ads]
    remembered = [validate_request(ad, ce1, KEYS, frontends, NOW, padding=padding) for ad in ads]
    assert remembered == plain
    assert [type(r).__name__ for r in plain] == ["WorkRequest"] * 3 + ["Rejection"] * 4
    assert len(padding) == 1  # one client: the one whose key codes decrypted


def test_newest_per_name_prefers_the_current_key(ce1: EntryConfig) -> None:
    old = request_ad(ce1, key=OLD_KEY, ReqIdleGlideins=1)
    new = request_ad(ce1, ReqIdleGlideins=2)
    other = request_ad(ce1, key=OLD_KEY, credential="QRSTUVWX")
    for order in ([old, new, other], [new, old, other], [other, old, new]):
        chosen = newest_per_name(order, KEY.pub_key_id)
        by_name = {ad["Name"]: ad for ad in chosen}
        assert len(chosen) == 2
        assert by_name[new["Name"]] is new
        assert by_name[other["Name"]] is other


def test_newest_per_name_keeps_the_first_of_equals(ce1: EntryConfig) -> None:
    first, second = request_ad(ce1, ReqIdleGlideins=1), request_ad(ce1, ReqIdleGlideins=2)
    assert newest_per_name([first, second], KEY.pub_key_id) == [first]


def test_request_constraint_selects_exactly_the_served_entries_and_keys(
    entries: dict[str, EntryConfig],
) -> None:
    ce1, ce2, ce3 = entries["ce1"], entries["ce2"], entries["ce3"]
    wanted = {
        "current key, ce1": request_ad(ce1),
        "current key, ce2": request_ad(ce2),
        "old key, ce1": request_ad(ce1, key=OLD_KEY),
        "sha256 signatures": request_ad(ce1, WebSignType="sha256"),
        "key-less (rejected later with a reason)": without(
            "ReqPubKeyID", "ReqEncKeyCode", "ReqEncIdentity"
        )(request_ad(ce1)),
    }
    unwanted = {
        "other entry": request_ad(ce3),
        "unknown key": request_ad(ce1, key=STRANGER_KEY),
        "no key code": without("ReqEncKeyCode")(request_ad(ce1)),
        "no identity": without("ReqEncIdentity")(request_ad(ce1)),
        "unsupported signatures": request_ad(ce1, WebSignType="md5"),
        "not a request": request_ad(ce1, GlideinMyType="glideclientglobal"),
        "entry name as a prefix": request_ad(ce1, ReqGlidein=f"x{ce1.ad_name}"),
    }
    constraint = classad2.ExprTree(
        request_constraint([ce1, ce2], [KEY.pub_key_id, OLD_KEY.pub_key_id])
    )
    for label, ad in {**wanted, **unwanted}.items():
        selected = constraint.eval(to_classad(ad)) is True
        assert selected == (label in wanted), label
    current_only = classad2.ExprTree(request_constraint([ce1], [KEY.pub_key_id]))
    assert current_only.eval(to_classad(wanted["current key, ce1"])) is True
    assert current_only.eval(to_classad(wanted["old key, ce1"])) is not True
    assert current_only.eval(to_classad(wanted["current key, ce2"])) is not True


@pytest.mark.parametrize(
    ("entry_name", "enc", "reason"),
    [
        ("proxy_project", {"ProjectId": "TG-123"}, None),
        ("proxy_project", {}, "auth method grid_proxy;project_id needs ProjectId"),
        (
            "proxy_project",
            {"SubmitProxy": None, "ProjectId": "TG-123"},
            "auth method grid_proxy;project_id needs SubmitProxy",
        ),
        ("token_project", {"SubmitProxy": None, "ProjectId": "TG-123"}, None),
        ("token_project", {"SubmitProxy": None}, "needs ProjectId"),
        ("token_either", {"SubmitProxy": None}, None),
        ("proxy_or_pair", {}, None),
        (
            "proxy_or_pair",
            {"SubmitProxy": None, "GlideinProxy": "G", "PublicCert": "C", "PrivateCert": "K"},
            None,
        ),
        (
            "proxy_or_pair",
            {"SubmitProxy": None},
            "needs SubmitProxy (or what cert_pair needs)",
        ),
    ],
)
def test_auth_method_groups_and_alternatives(
    entries: dict[str, EntryConfig], entry_name: str, enc: dict[str, str | None], reason: str | None
) -> None:
    """`;` (and `+`) join requirement groups, `,` separates alternatives within one."""
    entry = entries[entry_name]
    ad = request_ad(entry, enc=enc)
    result = validate_request(ad, entry, KEYS, entry.factory.frontends, NOW)
    if reason is None:
        assert isinstance(result, WorkRequest), result
    else:
        assert isinstance(result, Rejection) and reason in result.reason, result


def test_a_cycle_of_ads_is_validated_in_passes_with_one_result_each_in_order(
    ce1: EntryConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ads of one query go through the checks before decryption, then every RSA
    operation, then the rest; each pass's rejections land in the ad's own place, and the
    good ads around them are served."""
    counting = CountingKey(KEY.private_key)
    keys = FactoryKeys(dataclasses.replace(KEY, private_key=counting))  # type: ignore[arg-type]
    events: list[str] = []
    decrypt_fields = crypto.decrypt_fields

    def recorded(sym_key: crypto.SymKey, ad: Mapping[str, Any]) -> crypto.DecodedRequest:
        events.append(f"symmetric after {counting.operations} RSA")
        return decrypt_fields(sym_key, ad)

    monkeypatch.setattr(crypto, "decrypt_fields", recorded)
    stranger = "mallory@evil.example.org"
    ads = [
        request_ad(ce1, digest="sha256", credential="GOOD1"),
        request_ad(ce1, authenticated=stranger, credential="STRANGER"),  # no RSA
        request_ad(ce1, encrypt_for=STRANGER_KEY, credential="WRONGKEY"),  # RSA fails (x2)
        request_ad(ce1, identity="evil@example.org", digest="sha256", credential="SPOOF"),
        request_ad(ce1, digest="sha256", credential="GOOD2"),
    ]
    results = validate_requests([(ad, ce1) for ad in ads], keys, ce1.factory.frontends, NOW)
    assert [result.name.split("_")[0] for result in results] == [
        "GOOD1",
        "STRANGER",
        "WRONGKEY",
        "SPOOF",
        "GOOD2",
    ]
    good1, stranger_ad, wrong_key, spoofed, good2 = results
    assert isinstance(good1, WorkRequest) and isinstance(good2, WorkRequest)
    assert isinstance(stranger_ad, Rejection) and not stranger_ad.authorized
    assert isinstance(wrong_key, Rejection) and "RSA decryption failed" in wrong_key.reason
    assert isinstance(spoofed, Rejection) and "spoofed request" in spoofed.reason
    # 1 + 2 (both paddings tried) + 1 + 1 RSA operations, all before any symmetric one.
    assert counting.operations == 5
    assert events == ["symmetric after 5 RSA"] * 3
