"""Pickles exactly as a 3.11 Frontend makes them, for every credential, parameter and
AuthSet form upstream's classes can take (protocol-311.md §2).

No upstream code is imported: look-alike classes carry upstream's module and class names
and the instance `__dict__` its constructors set (`lib/credentials/*.py` on branch_v3_11),
and the real `pickle.dumps` writes them, with protocol 4 (Python 3.9-3.13, the default)
and 5 (the default from Python 3.14).
"""

from __future__ import annotations

import enum
import pickle
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_protocol_311 import NOW, _entry, _reencrypt, _v311

from glideinwms_factory.entry import credentials
from glideinwms_factory.entry.requests import Rejection, WorkRequest, validate_request
from glideinwms_factory.lib import credential_objects as co
from glideinwms_factory.lib import safe_pickle
from glideinwms_factory.lib.safe_pickle import PickleRefused

PKG = "glideinwms.lib.credentials"
PROTOCOLS = [4, 5]
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
PEM_PUB = "-----BEGIN PUBLIC KEY-----\nMIIBIjAN\n-----END PUBLIC KEY-----\n"
PEM_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n"


class Upstream:
    """Look-alike upstream classes, registered under upstream's module names."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._patch = monkeypatch
        for name in ("glideinwms", "glideinwms.lib", PKG):
            monkeypatch.setitem(sys.modules, name, type(sys)(name))
        self.CredentialType = self._enum("credentials", "CredentialType", co.CredentialType)
        self.CredentialPairType = self._enum(
            "credentials", "CredentialPairType", co.CredentialPairType
        )
        self.CredentialPurpose = self._enum(
            "credentials", "CredentialPurpose", co.CredentialPurpose
        )
        self.ParameterName = self._enum("parameters", "ParameterName", co.ParameterName)

    def _module(self, short: str) -> Any:
        full = f"{PKG}.{short}"
        if full not in sys.modules:
            self._patch.setitem(sys.modules, full, type(sys)(full))
        return sys.modules[full]

    def _enum(self, module: str, name: str, ours: type[enum.Enum]) -> Any:
        members = {m.name: m.value for m in ours}
        cls = enum.Enum(name, members, module=f"{PKG}.{module}", qualname=name)  # type: ignore[misc]
        setattr(self._module(module), name, cls)
        return cls

    def cls(self, dotted: str) -> type:
        module, name = dotted.rsplit(".", 1)
        found = getattr(self._module(module), name, None)
        if found is None:
            found = type(name, (), {"__module__": f"{PKG}.{module}", "__qualname__": name})
            setattr(self._module(module), name, found)
        return found

    def obj(self, dotted: str, state: dict[str, object]) -> object:
        instance = self.cls(dotted)()
        instance.__dict__.update(state)
        return instance

    def credential(
        self,
        dotted: str,
        text: str,
        purpose: str | None = "payload",
        alias: str | None = None,
        path: str | None = None,
        **extra: object,
    ) -> object:
        """The state `Credential.__init__` leaves (credentials.py): `_string` as bytes,
        `_purpose` a (CredentialPurpose, alias) tuple, minimum_lifetime int or None."""
        state: dict[str, object] = {
            "_string": text.encode(),
            "path": path,
            "_purpose": (self.CredentialPurpose(purpose) if purpose else None, alias),
            "trust_domain": "grid",
            "security_class": "frontend",
            "creation_script": None,
            "minimum_lifetime": None,
        }
        state.update(extra)
        return self.obj(dotted, state)

    def parameter(self, dotted: str, name: str, value: object) -> object:
        return self.obj(
            f"parameters.{dotted}", {"_name": self.ParameterName(name), "_value": value}
        )

    def auth_set(self, *members: object) -> object:
        return self.obj("utils.AuthenticationSet", {"_required_types": set(members)})


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[Upstream]:
    yield Upstream(monkeypatch)


def _dumps(value: object, protocol: int) -> bytes:
    data = pickle.dumps(value, protocol=protocol)
    assert data[:2] == bytes([0x80, protocol])
    return data


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("dotted", "kind", "text"),
    [
        ("tokens.Token", co.CredentialType.TOKEN, JWT),
        ("tokens.SciToken", co.CredentialType.SCITOKEN, JWT),
        ("tokens.IdToken", co.CredentialType.IDTOKEN, JWT),
        ("x509.X509Cert", co.CredentialType.X509_CERT, PEM_PUB),
        ("rsa.RSAPublicKey", co.CredentialType.RSA_PUBLIC_KEY, PEM_PUB),
        ("rsa.RSAPrivateKey", co.CredentialType.RSA_PRIVATE_KEY, PEM_KEY),
        ("symmetric.SymmetricKey", co.CredentialType.SYMMETRIC_KEY, "cipher:aes_256_cbc,key:00"),
        ("text.TextCredential", co.CredentialType.TEXT, "user-data\n"),
    ],
)
def test_every_single_credential_class_reads_as_its_type(
    upstream: Upstream, protocol: int, dotted: str, kind: co.CredentialType, text: str
) -> None:
    payload = [upstream.credential(dotted, text, path=f"/var/lib/fe/cred.{kind.value}")]
    [cred] = safe_pickle.credentials(_dumps(payload, protocol), "PayloadCredentials")
    assert (cred.cred_type, cred.text, cred.purpose) == (kind, text, co.CredentialPurpose.PAYLOAD)
    assert cred.file_name == f"cred.{kind.value}" and cred.pair is None


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_purpose_forms_lifetimes_and_shared_values_in_one_list(
    upstream: Upstream, protocol: int
) -> None:
    """An unknown purpose string becomes (PAYLOAD, alias); no purpose is (None, None);
    values shared between objects come back as memo references (BINGET)."""
    domain = "osg-grid"
    creds = [
        upstream.credential("tokens.IdToken", JWT, "callback", trust_domain=domain),
        upstream.credential("tokens.IdToken", JWT, "payload", alias="glidein_token",
                            trust_domain=domain, minimum_lifetime=3600),
        upstream.credential("tokens.Token", JWT, None, trust_domain=domain,
                            minimum_lifetime=2**40),
    ]  # fmt: skip
    data = _dumps(creds, protocol)
    assert b"h" in data or b"j" in data  # BINGET / LONG_BINGET: memo reuse is exercised
    read = safe_pickle.credentials(data, "PayloadCredentials")
    assert [(c.purpose, c.trust_domain) for c in read] == [
        (co.CredentialPurpose.CALLBACK, domain),
        (co.CredentialPurpose.PAYLOAD, domain),
        (None, domain),
    ]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_pair_reads_as_its_public_part_and_is_no_request_credential(
    upstream: Upstream, protocol: int
) -> None:
    """CredentialPair objects carry a nested `private_credential` object; upstream saves
    only the public `_string` to a file."""
    private = upstream.credential("rsa.RSAPrivateKey", PEM_KEY)
    pair = upstream.credential("rsa.RSAKeyPair", PEM_PUB, private_credential=private)
    [cred] = safe_pickle.credentials(_dumps([pair], protocol), "PayloadCredentials")
    assert (cred.cred_type, cred.text, cred.pair) == (
        co.CredentialType.RSA_PUBLIC_KEY,
        PEM_PUB,
        "rsa.RSAKeyPair",
    )
    x509 = upstream.credential("x509.X509Pair", PEM_PUB, "request", private_credential=private)
    from glideinwms_factory.entry.protocol_311 import ProtocolError, _read

    auth = _dumps(upstream.auth_set(upstream.CredentialPairType("x509_pair")), protocol)
    with pytest.raises(ProtocolError, match=r"pair \(x509.X509Pair\): not served"):
        _read((("AuthSet", auth), ("RequestCredentials", _dumps([x509], protocol))))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_auth_sets_upstream_matches(upstream: Upstream, protocol: int) -> None:
    """`AuthenticationMethod.match`: an empty set for `any`, pair types and parameter
    names beside credential types."""
    ct, pt, pn = upstream.CredentialType, upstream.CredentialPairType, upstream.ParameterName
    cases: list[tuple[object, frozenset[co.AuthMember]]] = [
        (upstream.auth_set(), frozenset()),
        (
            upstream.auth_set(ct("x509_cert"), pn("ProjectId")),
            frozenset({co.CredentialType.X509_CERT, co.ParameterName.PROJECT_ID}),
        ),
        (
            upstream.auth_set(pt("key_pair"), pn("VMId"), pn("VMType")),
            frozenset(
                {co.CredentialPairType.KEY_PAIR, co.ParameterName.VM_ID, co.ParameterName.VM_TYPE}
            ),
        ),
    ]
    for value, members in cases:
        assert safe_pickle.auth_set(_dumps(value, protocol), "AuthSet").members == members


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_integer_and_expression_parameters(upstream: Upstream, protocol: int) -> None:
    """`create_parameter` makes an IntegerParameter (int `_value`) for type="integer"."""
    params = [
        upstream.parameter("IntegerParameter", "ProjectId", 12345),
        upstream.parameter("ExpressionParameter", "VMType", "m5.large"),
        upstream.parameter("StringParameter", "VMId", "ami-1"),
    ]
    read = safe_pickle.security_parameters(_dumps(params, protocol), "SecurityParameters")
    assert [(p.name.value, p.value) for p in read] == [
        ("ProjectId", "12345"),
        ("VMType", "m5.large"),
        ("VMId", "ami-1"),
    ]
    odd = [upstream.parameter("IntegerParameter", "ProjectId", True)]
    with pytest.raises(PickleRefused, match="not text"):
        safe_pickle.security_parameters(_dumps(odd, protocol), "SecurityParameters")


def test_unlisted_upstream_classes_stay_refused(upstream: Upstream) -> None:
    """What holds a generator or code is never read: DynamicCredential/DynamicParameter."""
    dynamic = upstream.credential("dynamic.DynamicCredential", "my.generator")
    with pytest.raises(PickleRefused, match="refused global"):
        safe_pickle.credentials(_dumps([dynamic], 4), "PayloadCredentials")
    param = upstream.parameter("DynamicParameter", "ProjectId", "x")
    with pytest.raises(PickleRefused, match="refused global"):
        safe_pickle.security_parameters(_dumps([param], 4), "SecurityParameters")


def test_a_request_with_every_payload_kind_is_served_and_written(
    tmp_path: Path, upstream: Upstream
) -> None:
    """The vector's request, its PayloadCredentials replaced by one of each class a
    Frontend group may carry: served, and each written 0600 for the glidein."""
    ad, entry, keys = _v311(tmp_path)
    private = upstream.credential("rsa.RSAPrivateKey", PEM_KEY)
    payload = [
        upstream.credential("tokens.IdToken", JWT, "callback"),
        upstream.credential("tokens.Token", JWT),
        upstream.credential("text.TextCredential", "user-data\n"),
        upstream.credential("symmetric.SymmetricKey", "cipher:aes_256_cbc,key:00"),
        upstream.credential("rsa.RSAKeyPair", PEM_PUB, private_credential=private),
    ]
    params = [upstream.parameter("IntegerParameter", "ProjectId", 7)]
    ad = _reencrypt(
        ad, keys, PayloadCredentials=pickle.dumps(payload), SecurityParameters=pickle.dumps(params)
    )
    result = validate_request(ad, entry, keys, entry.factory.frontends, NOW)
    assert isinstance(result, WorkRequest), result
    creds = result.credentials_311
    assert creds is not None
    assert [c.cred_type.value for c in creds.payload] == [
        "idtoken", "token", "text", "symmetric_key", "rsa_public_key"
    ]  # fmt: skip
    paths, identity = credentials.store_311(tmp_path / "creds", "fe.main_X.E", creds)
    assert len(identity) == 5 and paths["idtokens_file"] == identity[0]
    for name in identity:
        assert Path(name).stat().st_mode & 0o777 == 0o600
    assert Path(identity[-1]).read_text() == PEM_PUB.strip() + "\n"


def _reason_with(tmp_path: Path, **values: bytes) -> str:
    ad, entry, keys = _v311(tmp_path)
    result = validate_request(
        _reencrypt(ad, keys, **values), entry, keys, entry.factory.frontends, NOW
    )
    assert isinstance(result, Rejection), result
    return result.reason


def test_a_pair_auth_set_gets_a_precise_reason(tmp_path: Path, upstream: Upstream) -> None:
    """A pair is a credential: the reason names RequestCredentials, not parameters."""
    auth: Callable[..., object] = upstream.auth_set
    reason = _reason_with(
        tmp_path, AuthSet=pickle.dumps(auth(upstream.CredentialPairType("key_pair")))
    )
    assert "AuthSet names key_pair" in reason
    assert reason.endswith("AuthSet names key_pair but RequestCredentials carry none"), reason


def test_an_auth_file_entry_is_served_with_its_text_request_credential(
    tmp_path: Path, upstream: Upstream
) -> None:
    """An `auth_file` entry: upstream's Frontend matches it with CredentialType TEXT
    (`from_string("auth_file")`) and sends a TextCredential as the request credential.
    It is written 0600 like any request credential and becomes no submit file (as a 3.10
    request's AuthFile)."""
    ad, _, keys = _v311(tmp_path)
    entry = _entry(tmp_path, "TEST_ENTRY", "interop_factory", "auth_file", {"fe_secclass": "u1"})
    text = upstream.credential("text.TextCredential", "site-auth-data\n", "request")
    ad = _reencrypt(
        ad,
        keys,
        AuthSet=pickle.dumps(upstream.auth_set(upstream.CredentialType("text"))),
        RequestCredentials=pickle.dumps([text]),
    )
    result = validate_request(ad, entry, keys, entry.factory.frontends, NOW)
    assert isinstance(result, WorkRequest), result
    assert result.credentials_311 is not None
    paths, _ = credentials.store_311(tmp_path / "creds", "fe.main_X.E", result.credentials_311)
    assert "x509_proxy" not in paths and "scitokens_file" not in paths
    [written] = (tmp_path / "creds").glob("*.request0.text")
    assert written.read_text() == "site-auth-data\n"
    assert written.stat().st_mode & 0o777 == 0o600


GZIP = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff\xfe keytab \x00\x80"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_text_credentials_of_any_bytes_are_served_and_written_exactly(
    tmp_path: Path, upstream: Upstream, protocol: int
) -> None:
    """Upstream's TextCredential takes any file (`decode` is `force_bytes`): a binary
    auth file as the request credential of an `auth_file` entry, a gzip as a payload, a
    password without a final newline. The request is served and each file holds exactly
    the bytes the Frontend sent, as upstream's `save_to_file` writes `_string` (was: the
    whole request refused, 'credential text is not UTF-8'; text stripped and given a
    newline, which changes a password file)."""
    ad, _, keys = _v311(tmp_path)
    entry = _entry(tmp_path, "TEST_ENTRY", "interop_factory", "auth_file", {"fe_secclass": "u1"})
    keytab = upstream.credential("text.TextCredential", "", "request", _string=GZIP)
    payload = [
        upstream.credential("tokens.IdToken", JWT, "callback"),
        upstream.credential("text.TextCredential", "", _string=GZIP[::-1]),
        upstream.credential("text.TextCredential", "s3cret"),
        upstream.credential("symmetric.SymmetricKey", "cipher:aes_256_cbc,key:00"),
    ]
    ad = _reencrypt(
        ad,
        keys,
        AuthSet=_dumps(upstream.auth_set(upstream.CredentialType("text")), protocol),
        RequestCredentials=_dumps([keytab], protocol),
        PayloadCredentials=_dumps(payload, protocol),
    )
    result = validate_request(ad, entry, keys, entry.factory.frontends, NOW)
    assert isinstance(result, WorkRequest), result
    assert result.credentials_311 is not None
    paths, identity = credentials.store_311(
        tmp_path / "creds", "fe.main_X.E", result.credentials_311
    )
    [request_file] = (tmp_path / "creds").glob("*.request0.text")
    assert request_file.read_bytes() == GZIP
    assert [Path(p).read_bytes() for p in identity] == [
        JWT.encode() + b"\n",
        GZIP[::-1],
        b"s3cret",
        b"cipher:aes_256_cbc,key:00",
    ]
    for name in [request_file, *identity]:
        assert Path(name).stat().st_mode & 0o777 == 0o600
    assert paths["idtokens_file"] == identity[0]


def test_a_token_of_bytes_no_frontend_could_load_is_written_not_crashing(
    tmp_path: Path, upstream: Upstream
) -> None:
    """Upstream's Frontend cannot load such a token (it decodes it as a JWT); a hostile
    advertiser could still send one: it is written as sent, never a crash of the cycle."""
    ad, entry, keys = _v311(tmp_path)
    odd = upstream.credential("tokens.SciToken", "", "request", _string=b"eyJ\xff.x.y\n")
    ad = _reencrypt(ad, keys, RequestCredentials=pickle.dumps([odd]))
    result = validate_request(ad, entry, keys, entry.factory.frontends, NOW)
    assert isinstance(result, WorkRequest), result
    assert result.credentials_311 is not None
    paths, _ = credentials.store_311(tmp_path / "creds", "fe.main_X.E", result.credentials_311)
    assert Path(paths["scitokens_file"]).read_bytes() == b"eyJ\xff.x.y\n"
