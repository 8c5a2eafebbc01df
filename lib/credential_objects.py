"""The credential objects a GlideinWMS 3.11 Frontend sends, as our own typed records.

A 3.11 request carries four pickled values made of upstream's
`glideinwms.lib.credentials.*` objects (spec/protocol-311.md §2). These are the plain
records we read them into (`safe_pickle.load_request_value`) and the Frontend simulator
writes them from; nothing here is upstream code, only the names and values on the wire.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from glideinwms_factory.lib.auth_method import parse_auth_method

UPSTREAM_PACKAGE = "glideinwms.lib.credentials"


@enum.unique
class CredentialType(enum.Enum):
    """Upstream `credentials.CredentialType` values."""

    TOKEN = "token"
    SCITOKEN = "scitoken"
    IDTOKEN = "idtoken"
    X509_CERT = "x509_cert"
    RSA_PUBLIC_KEY = "rsa_public_key"
    RSA_PRIVATE_KEY = "rsa_private_key"
    SYMMETRIC_KEY = "symmetric_key"
    DYNAMIC = "dynamic"
    TEXT = "text"


@enum.unique
class CredentialPurpose(enum.Enum):
    """Upstream `credentials.CredentialPurpose` values."""

    REQUEST = "request"
    CALLBACK = "callback"
    PAYLOAD = "payload"


@enum.unique
class CredentialPairType(enum.Enum):
    """Upstream `credentials.CredentialPairType` values: an AuthSet names one when the
    entry's auth method asks for a pair (cert_pair, key_pair, username_password)."""

    X509_PAIR = "x509_pair"
    KEY_PAIR = "key_pair"
    USERNAME_PASSWORD = "username_password"


@enum.unique
class ParameterName(enum.Enum):
    """Upstream `parameters.ParameterName` values."""

    VM_ID = "VMId"
    VM_TYPE = "VMType"
    GLIDEIN_PROXY = "GlideinProxy"
    REMOTE_USERNAME = "RemoteUsername"
    PROJECT_ID = "ProjectId"


# Upstream credential class (under UPSTREAM_PACKAGE) -> the type its objects carry: one
# class per CredentialType a Frontend can configure (its `credential_of_type`), all of
# them plain `Credential` objects whose text is `_string`.
CREDENTIAL_CLASSES: dict[str, CredentialType] = {
    "tokens.Token": CredentialType.TOKEN,
    "tokens.SciToken": CredentialType.SCITOKEN,
    "tokens.IdToken": CredentialType.IDTOKEN,
    "x509.X509Cert": CredentialType.X509_CERT,
    "rsa.RSAPublicKey": CredentialType.RSA_PUBLIC_KEY,
    "rsa.RSAPrivateKey": CredentialType.RSA_PRIVATE_KEY,
    "symmetric.SymmetricKey": CredentialType.SYMMETRIC_KEY,
    "text.TextCredential": CredentialType.TEXT,
}
# Pairs: the public credential's state plus a `private_credential` object. Upstream saves
# only the public part (`_string`) to a file; we read that part, typed as its class's base.
PAIR_CLASSES: dict[str, CredentialType] = {
    "x509.X509Pair": CredentialType.X509_CERT,
    "rsa.RSAKeyPair": CredentialType.RSA_PUBLIC_KEY,
    "text.UsernamePassword": CredentialType.TEXT,
}
CLASS_OF_TYPE = {kind: name for name, kind in CREDENTIAL_CLASSES.items()}
ENUM_CLASSES: dict[str, type[enum.Enum]] = {
    "credentials.CredentialType": CredentialType,
    "credentials.CredentialPairType": CredentialPairType,
    "credentials.CredentialPurpose": CredentialPurpose,
    "parameters.ParameterName": ParameterName,
}
AUTH_SET_CLASS = "utils.AuthenticationSet"
STRING_PARAMETER_CLASS = "parameters.StringParameter"
# Parameter classes whose `_value` is plain data (a DynamicParameter holds a generator).
PARAMETER_CLASSES = (
    STRING_PARAMETER_CLASS,
    "parameters.IntegerParameter",
    "parameters.ExpressionParameter",
)
OBJECT_CLASSES = (*CREDENTIAL_CLASSES, *PAIR_CLASSES, AUTH_SET_CLASS, *PARAMETER_CLASSES)


@dataclass(frozen=True)
class Credential:
    """One credential object: its text and the labels the Frontend gave it.

    `text` is upstream's `_string` bytes decoded as UTF-8; bytes that are not UTF-8 (a
    TextCredential may hold any file, a keytab or a gzip) are kept as surrogate escapes,
    so `data()` gives back exactly what the Frontend sent."""

    cred_type: CredentialType
    text: str
    purpose: CredentialPurpose | None
    trust_domain: str | None = None
    security_class: str | None = None
    file_name: str | None = None  # basename of the Frontend's own path, never a factory path
    pair: str | None = None  # the upstream pair class (x509.X509Pair ...) it is the public part of

    def data(self) -> bytes:
        """The credential's bytes, as upstream's `_string` held them."""
        return self.text.encode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class SecurityParameter:
    """A `parameters.StringParameter`: a named text value such as a project id."""

    name: ParameterName
    value: str


AuthMember = CredentialType | CredentialPairType | ParameterName


@dataclass(frozen=True)
class AuthSet:
    """A `utils.AuthenticationSet`: what the Frontend matched the entry's auth method with."""

    members: frozenset[AuthMember]

    def names(self) -> list[str]:
        return sorted(member.value for member in self.members)


# Auth method words -> what satisfies them (upstream's CredentialType/ParameterName
# spellings and aliases, protocol-311.md §4). A pair (CredentialPairType) is not served
# for a 3.11 request, so an entry that needs one gets a precise rejection.
_WORDS: dict[str, AuthMember | None] = {
    **{kind.value: kind for kind in CredentialType},
    **{name.value.lower(): name for name in ParameterName},
    "grid_proxy": CredentialType.X509_CERT,
    "rsa_key": CredentialType.RSA_PUBLIC_KEY,
    "auth_file": CredentialType.TEXT,
    "generator": CredentialType.DYNAMIC,
    "vm_id": ParameterName.VM_ID,
    "vm_type": ParameterName.VM_TYPE,
    "project_id": ParameterName.PROJECT_ID,
    "x509_pair": None,
    "cert_pair": None,
    "key_pair": None,
    "username_password": None,
}


def auth_groups(method: str) -> list[list[AuthMember | None]] | None:
    """An `AuthMethod` (its grammar: `lib/auth_method`, shared with create_glidein and the
    3.10 check) as what meets each required group; None when nothing is required.
    ValueError (AuthMethodError) names the bad part."""
    groups = [[_WORDS[word] for word in group] for group in parse_auth_method(method).groups]
    return groups or None


# ------------------------------------------------------------------ the wire form
# What a 3.11 Frontend's `pickle.dumps` makes of these objects (protocol 4), written
# opcode by opcode: the simulator and the tests need upstream's class names in the
# bytes without having (or importing) upstream's classes.


def _text(value: str) -> bytes:
    data = value.encode("utf-8")
    if len(data) < 256:
        return b"\x8c" + bytes([len(data)]) + data  # SHORT_BINUNICODE
    return b"X" + struct.pack("<I", len(data)) + data  # BINUNICODE


def _bytes(data: bytes) -> bytes:
    if len(data) < 256:
        return b"C" + bytes([len(data)]) + data  # SHORT_BINBYTES
    return b"B" + struct.pack("<I", len(data)) + data  # BINBYTES


def _opt(value: str | None) -> bytes:
    return b"N" if value is None else _text(value)


def _global(short: str) -> bytes:
    module, _, name = f"{UPSTREAM_PACKAGE}.{short}".rpartition(".")
    return _text(module) + _text(name) + b"\x93"  # STACK_GLOBAL


def _enum(member: enum.Enum) -> bytes:
    short = next(name for name, cls in ENUM_CLASSES.items() if isinstance(member, cls))
    return _global(short) + _text(member.value) + b"\x85R"  # TUPLE1 REDUCE


def _object(short: str, state: list[tuple[str, bytes]]) -> bytes:
    items = b"".join(_text(key) + value for key, value in state)
    return _global(short) + b")\x81}(" + items + b"ub"  # NEWOBJ, state dict, BUILD


def _pickle(body: bytes) -> bytes:
    return b"\x80\x04" + body + b"."


def _list(items: list[bytes]) -> bytes:
    return b"](" + b"".join(items) + b"e" if items else b"]"


def dumps_credentials(creds: list[Credential]) -> bytes:
    """`RequestCredentials` / `PayloadCredentials` as a 3.11 Frontend pickles them."""
    objects = []
    for cred in creds:
        purpose = _enum(cred.purpose) if cred.purpose else b"N"
        state = [
            ("_string", _bytes(cred.data())),
            ("path", _opt(cred.file_name)),
            ("_purpose", purpose + b"N\x86"),  # (purpose, alias) TUPLE2
            ("trust_domain", _opt(cred.trust_domain)),
            ("security_class", _opt(cred.security_class)),
            ("creation_script", b"N"),
            ("minimum_lifetime", b"K\x00"),
        ]
        objects.append(_object(CLASS_OF_TYPE[cred.cred_type], state))
    return _pickle(_list(objects))


def dumps_security_parameters(params: list[SecurityParameter]) -> bytes:
    objects = [
        _object(STRING_PARAMETER_CLASS, [("_name", _enum(p.name)), ("_value", _text(p.value))])
        for p in params
    ]
    return _pickle(_list(objects))


def dumps_auth_set(auth: AuthSet) -> bytes:
    members = b"".join(_enum(m) for m in sorted(auth.members, key=lambda m: m.value))
    types = b"\x8f(" + members + b"\x90" if members else b"\x8f"  # EMPTY_SET ADDITEMS
    return _pickle(_object(AUTH_SET_CLASS, [("_required_types", types)]))
