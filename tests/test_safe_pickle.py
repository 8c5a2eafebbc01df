"""The data-only reader of 3.11 pickled values: upstream's objects in, hostile pickles out."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import pytest

from glideinwms_factory.lib import credential_objects as co
from glideinwms_factory.lib import safe_pickle
from glideinwms_factory.lib.safe_pickle import PickleRefused

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"


def _scitoken(**changes: object) -> co.Credential:
    fields: dict[str, object] = {
        "cred_type": co.CredentialType.SCITOKEN,
        "text": TOKEN,
        "purpose": co.CredentialPurpose.REQUEST,
        "trust_domain": "grid",
        "security_class": "frontend",
        "file_name": "scitoken.jwt",
    }
    fields.update(changes)
    return co.Credential(**fields)  # type: ignore[arg-type]


def test_round_trip_of_every_value() -> None:
    creds = [_scitoken(), _scitoken(cred_type=co.CredentialType.X509_CERT, file_name=None)]
    assert safe_pickle.credentials(co.dumps_credentials(creds), "RequestCredentials") == creds
    params = [co.SecurityParameter(co.ParameterName.PROJECT_ID, "TG-1")]
    assert safe_pickle.security_parameters(co.dumps_security_parameters(params), "x") == params
    auth = co.AuthSet(frozenset({co.CredentialType.SCITOKEN, co.ParameterName.PROJECT_ID}))
    assert safe_pickle.auth_set(co.dumps_auth_set(auth), "AuthSet") == auth


def test_a_real_pickle_of_look_alike_classes_reads_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What `pickle.dumps` of upstream-named classes makes is read like our own bytes."""

    class SciToken:
        pass

    SciToken.__module__ = "glideinwms.lib.credentials.tokens"
    SciToken.__qualname__ = "SciToken"
    token = SciToken()
    token.__dict__.update(
        {"_string": TOKEN.encode(), "path": "/etc/fe/scitoken.jwt", "_purpose": (None, None)}
    )
    for name in ("glideinwms", "glideinwms.lib", "glideinwms.lib.credentials", SciToken.__module__):
        monkeypatch.setitem(sys.modules, name, type(sys)(name))
    sys.modules[SciToken.__module__].SciToken = SciToken  # type: ignore[attr-defined]
    data = pickle.dumps([token], protocol=4)
    [cred] = safe_pickle.credentials(data, "RequestCredentials")
    assert cred.text == TOKEN and cred.file_name == "scitoken.jwt" and cred.purpose is None


def _evil(func: object, arg: str) -> bytes:
    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return func, (arg,)

    return pickle.dumps([Evil()], protocol=4)


def test_nothing_executes(marker: Path) -> None:
    hostile = [
        b"\x80\x04cf311_marker_mod\nrun\n\x8c\x01x\x85R.",  # GLOBAL + REDUCE
        b"\x80\x04\x8c\x0ff311_marker_mod\x8c\x03run\x93\x8c\x01x\x85R.",  # STACK_GLOBAL
        _evil(os.system, f"touch {marker}"),
        _evil(eval, f"open({str(marker)!r}, 'w')"),
    ]
    for data in hostile:
        with pytest.raises(PickleRefused, match="refused global"):
            safe_pickle.credentials(data, "RequestCredentials")
        # The class lookup refuses on its own too (the second line of defence).
        with pytest.raises(pickle.UnpicklingError, match="refused global"):
            safe_pickle._Unpickler(__import__("io").BytesIO(data)).load()
    assert not marker.exists()
    assert "f311_marker_mod" not in sys.modules


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        # A class outside the list, even in upstream's package.
        (co._pickle(co._object("rsa.RSAKey", [])), "refused global .*rsa.RSAKey"),
        (b"\x80\x04cbuiltins\neval\n.", "refused global 'builtins.eval'"),
        # REDUCE of something that is not one of the mapped enums.
        (co._pickle(co._global("tokens.SciToken") + co._text("x") + b"\x85R"), "only enums"),
        # An enum called with anything but one text (Enum('x', 'y') would make a class).
        (
            co._pickle(co._global("credentials.CredentialType") + b"\x8c\x01x\x8c\x01y\x86R"),
            r"other than \(str,\)",
        ),
        (co._pickle(co._global("tokens.SciToken") + b"N\x85\x81"), "NEWOBJ of .* with arguments"),
        (co._pickle(b"]N" + b"b"), "BUILD of 'container'"),
        (b"\x80\x04N" + b"\x85" * 40 + b".", "nested deeper than"),
        (b"\x80\x04(" * 3000 + b".", "stack exceeds"),
        (b"\x80\x04h\x07.", "unknown memo"),
        (b"\x80\x04(c__main__\nX\no.", "refused global '__main__.X'"),
        (b"\x80\x04(i__main__\nX\n.", "refused pickle opcode INST"),
        (b"\x80\x04\x82\x01.", "refused pickle opcode EXT1"),
    ],
)
def test_hostile_pickles_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(PickleRefused, match=reason):
        safe_pickle.credentials(data, "RequestCredentials")


def test_size_and_truncation() -> None:
    huge = co.dumps_credentials([_scitoken(text="x" * safe_pickle.MAX_BYTES)])
    with pytest.raises(PickleRefused, match="exceeds"):
        safe_pickle.credentials(huge, "RequestCredentials")
    good = co.dumps_credentials([_scitoken()])
    for cut in (len(good) // 2, len(good) - 1):
        with pytest.raises(PickleRefused, match="malformed pickle"):
            safe_pickle.credentials(good[:cut], "RequestCredentials")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (co.dumps_auth_set(co.AuthSet(frozenset())), "expected a list"),
        (co._pickle(co._list([b"\x8c\x01x"])), "expected an object, found str"),
        (
            co._pickle(co._list([co._object("tokens.SciToken", [("path", b"\x8c\x01p")])])),
            "has no credential text",
        ),
        (
            co._pickle(
                co._list(
                    [co._object("tokens.IdToken", [("_string", b"C\x01x"), ("path", b"K\x01")])]
                )
            ),
            "path is int, expected text",
        ),
        (co.dumps_security_parameters([]), None),
    ],
)
def test_wrong_shapes_are_refused(data: bytes, reason: str | None) -> None:
    if reason is None:
        assert safe_pickle.credentials(data, "RequestCredentials") == []
        return
    with pytest.raises(PickleRefused, match=reason):
        safe_pickle.credentials(data, "RequestCredentials")


def test_unknown_enum_value_and_wrong_object_kind() -> None:
    bad_type = co._pickle(
        co._object(
            co.AUTH_SET_CLASS,
            [
                (
                    "_required_types",
                    b"\x8f(" + co._global("credentials.CredentialType") + b"\x8c\x03ssh\x85R\x90",
                )
            ],
        )
    )
    with pytest.raises(PickleRefused, match="unreadable pickle"):
        safe_pickle.auth_set(bad_type, "AuthSet")
    with pytest.raises(PickleRefused, match=r"expected a utils\.AuthenticationSet"):
        safe_pickle.auth_set(co.dumps_credentials([_scitoken()]), "AuthSet")
    with pytest.raises(PickleRefused, match=r"expected parameters\.StringParameter"):
        safe_pickle.security_parameters(co.dumps_credentials([_scitoken()]), "x")


def test_only_the_basename_of_the_frontend_path_is_kept() -> None:
    data = co._pickle(
        co._list(
            [
                co._object(
                    "tokens.SciToken",
                    [("_string", co._bytes(b"tok")), ("path", co._text("/../../etc/passwd"))],
                )
            ]
        )
    )
    assert safe_pickle.credentials(data, "x")[0].file_name == "passwd"
