"""The 3.11 part of a request: its pickled credentials, checked against the entry.

Pure decisions on already-authenticated requests (spec/protocol-311.md §2-§4): read the
four pickled values with the data-only reader, check their credential types against the
entry's auth method, keep only the security parameters the AuthSet names, and take the
credential id from the request `Name`. Every failure is one `ProtocolError` line.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from glideinwms_factory.lib import safe_pickle
from glideinwms_factory.lib.credential_objects import (
    AuthMember,
    AuthSet,
    Credential,
    CredentialPurpose,
    ParameterName,
    SecurityParameter,
    auth_groups,
)

PROTOCOL_310 = "3.10"
PROTOCOL_311 = "3.11"
# 3.10 names that a 3.11 Frontend no longer sends (protocol-311.md §2).
CREDENTIAL_ID_NAMES = ("SubmitProxy", "GlideinProxy", "ScitokenId", "frontend_scitoken")
_CRED_ID = re.compile(r"[A-Za-z0-9]{1,64}")


class ProtocolError(ValueError):
    """Why a 3.11 request is skipped (one line)."""


@dataclass(frozen=True)
class Credentials311:
    """What a 3.11 request brought, read and checked."""

    auth_set: AuthSet
    request: tuple[Credential, ...]  # to submit glideins with
    payload: tuple[Credential, ...]  # carried by the glidein (e.g. the callback IDTOKEN)
    parameters: tuple[SecurityParameter, ...]  # only those the AuthSet names

    @property
    def identity(self) -> tuple[Credential, ...]:
        """The credentials the glidein itself gets (3.11 job.condor IDENTITY_CREDENTIALS)."""
        return self.payload


def credential_id(name: str, req_name: str, client_name: str) -> str:
    """The id in `<credential id>_<ReqName>@<ClientName>` (protocol-311.md §3)."""
    cred_id, sep, rest = name.partition("_")
    if not sep or rest != f"{req_name}@{client_name}" or not _CRED_ID.fullmatch(cred_id):
        raise ProtocolError(
            f"Name {name[:80]!r} is not <credential id>_<ReqName>@<ClientName> (3.11)"
        )
    return cred_id


def check_no_310_names(enc_names: Collection[str], entry_name: str) -> None:
    """A request is one protocol or the other, never both (by its encrypted names)."""
    mixed = [n for n in (*CREDENTIAL_ID_NAMES, f"{entry_name}.idtoken") if n in enc_names]
    if mixed:
        raise ProtocolError(f"3.11 request (pickled AuthSet) also carries 3.10 {mixed[0]}")


def _members(values: list[AuthMember | None]) -> str:
    return ",".join(v.value if v else "pair" for v in values)


def check_auth(method: str, creds: Credentials311) -> None:
    """The request's credential types fit the entry's auth method (protocol-311.md §4)."""
    try:
        groups = auth_groups(method)
    except ValueError as err:
        raise ProtocolError(str(err)) from None
    sent = {c.cred_type for c in creds.request} | {p.name for p in creds.parameters}
    for member in creds.auth_set.members:
        if member not in sent:
            where = "parameters" if isinstance(member, ParameterName) else "RequestCredentials"
            raise ProtocolError(f"AuthSet names {member.value} but {where} carry none")
    if groups is None:
        return
    accepted = {option for group in groups for option in group}
    for cred in creds.request:
        if cred.cred_type not in accepted:
            raise ProtocolError(
                f"request credential {cred.cred_type.value} is not accepted by"
                f" auth method {method!r}"
            )
    for group in groups:
        if not any(option in creds.auth_set.members for option in group):
            raise ProtocolError(
                f"auth method {method!r} needs one of {_members(group)}; AuthSet has"
                f" {','.join(creds.auth_set.names()) or 'nothing'}"
            )


# A Frontend sends the same credential pickles to every entry and, until a credential is
# renewed, every cycle: reading them once is what keeps a request near one RSA operation.
# Only small values are kept (a token set is ~2 kB), so the cache stays under ~16 MB.
_CACHED_MAX_BYTES = 64 * 1024


def read_credentials(pickled: Mapping[str, bytes], method: str) -> Credentials311:
    """Read the pickled values (only after identity and frontend.descript checks) and
    check their credential types against the entry's auth `method` (`check_auth`)."""
    items = tuple(sorted(pickled.items()))
    if sum(map(len, pickled.values())) <= _CACHED_MAX_BYTES:
        return _read_checked_cached(items, method)
    return _read_checked(items, method)


def _read_checked(items: tuple[tuple[str, bytes], ...], method: str) -> Credentials311:
    creds = _read(items)
    check_auth(method, creds)
    return creds


def _read(items: tuple[tuple[str, bytes], ...]) -> Credentials311:
    pickled = dict(items)
    for required in ("AuthSet", "RequestCredentials"):
        if required not in pickled:
            raise ProtocolError(f"3.11 request without GlideinEncParam{required}")
    try:
        auth = safe_pickle.auth_set(pickled["AuthSet"], "AuthSet")
        request = safe_pickle.credentials(pickled["RequestCredentials"], "RequestCredentials")
        payload = (
            safe_pickle.credentials(pickled["PayloadCredentials"], "PayloadCredentials")
            if "PayloadCredentials" in pickled
            else []
        )
        params = (
            safe_pickle.security_parameters(pickled["SecurityParameters"], "SecurityParameters")
            if "SecurityParameters" in pickled
            else []
        )
    except safe_pickle.PickleRefused as err:
        raise ProtocolError(str(err)) from None
    for cred in request:
        if cred.pair:
            raise ProtocolError(f"RequestCredentials holds a pair ({cred.pair}): not served")
        if cred.purpose not in (None, CredentialPurpose.REQUEST):
            raise ProtocolError(f"RequestCredentials holds a {cred.purpose.value} credential")
    return Credentials311(
        auth_set=auth,
        request=tuple(request),
        payload=tuple(payload),
        parameters=tuple(p for p in params if p.name in auth.members),
    )


# Failures raise: never cached.
_read_checked_cached = functools.lru_cache(maxsize=256)(_read_checked)
