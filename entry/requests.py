"""Find work: turn `glideclient` ads into authenticated `WorkRequest`s (security.md §4).

Each ad either becomes a `WorkRequest` or a `Rejection` naming the reason; one bad ad
never affects the others. RSA decryption (the only expensive step) happens once per ad,
and only for an ad a configured frontend's identity advertised.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import classad2

from glideinwms_factory.entry import auth_310, request_attrs
from glideinwms_factory.entry.accounting import RequestKey
from glideinwms_factory.entry.config import EntryConfig
from glideinwms_factory.entry.credentials import SAFE_NAME
from glideinwms_factory.entry.decision import Request
from glideinwms_factory.entry.glidein_args import ClientStaging
from glideinwms_factory.entry.protocol_311 import (
    PROTOCOL_310,
    PROTOCOL_311,
    Credentials311,
    ProtocolError,
    check_no_310_names,
    credential_id,
    read_credentials,
)
from glideinwms_factory.lib import crypto
from glideinwms_factory.lib.descript import FrontendInfo
from glideinwms_factory.lib.factory_key import FactoryKey, FactoryKeys
from glideinwms_factory.lib.monitoring_model import is_folder_name

# A request above this many glideins is a broken or hostile frontend, not a real need.
MAX_SANE_COUNT = 1_000_000
SIGN_TYPES = ("sha1", "sha256")
REMOVE_MODES = frozenset({"NO", "WAIT", "IDLE", "ALL"})
UNAUTHORIZED_CLIENT = "unauthorized"  # the one counter of requests from anyone else
UNNAMEABLE_CLIENT = "unnameable"  # a configured frontend's client names no folder can take


class RequestError(ValueError):
    """Why one request is skipped (a one-line reason for the log and the counters)."""


@dataclass(frozen=True)
class WorkRequest:
    """An authenticated request for one entry, with everything decrypted."""

    name: str  # the glideclient Name: the work key
    client_name: str  # `<frontend>.<group>`
    req_name: str  # the glidefactory Name it targets
    security_name: str  # key of frontend.descript
    security_class: str
    username: str
    identity: str
    # What the decision reads: the counts asked for, and `down` when WhitelistMode is On
    # and the frontend is not listed at all (downtimes are added when the entry is served).
    demand: Request
    idle_lifetime: int
    credential_id: str
    params: dict[str, Any] = field(default_factory=dict)  # GlideinParam*
    enc_params: dict[str, str] = field(default_factory=dict)  # decrypted GlideinEncParam*
    monitor: dict[str, Any] = field(default_factory=dict)  # GlideinMonitor* shown in monitoring
    client_staging: ClientStaging | None = None
    # Credential files on disk for the submission: x509_proxy, idtokens_file, scitokens_file.
    credential_files: dict[str, str] = field(default_factory=dict)
    protocol: str = PROTOCOL_310  # which Frontend line sent it: "3.10" or "3.11"
    credentials_311: Credentials311 | None = None  # the pickled credentials of a 3.11 request
    identity_files: tuple[str, ...] = ()  # files the glidein gets (IDENTITY_CREDENTIALS)

    @property
    def frontend_name(self) -> str:
        """`fe:sc`, the `GlideinFrontendName` of this request's glideins."""
        return self.demand.frontend_name

    @property
    def key(self) -> RequestKey:
        return self.demand.key

    @property
    def idle(self) -> int:
        return self.demand.idle

    @property
    def max_glideins(self) -> int:
        return self.demand.max_glideins


@dataclass(frozen=True)
class Rejection:
    """A skipped request: logged, and counted in monitoring.

    `authorized` says the ad came from a configured frontend's identity: only then is it
    counted under its own client name; anyone else's costs one shared counter.
    """

    name: str
    client_name: str
    reason: str
    authorized: bool = True

    def counted_as(self) -> tuple[str, str]:
        """(client, reason) in monitoring: a client name that cannot name a folder is
        counted in one shared counter too, so that every rejection is counted somewhere."""
        if not self.authorized:
            return UNAUTHORIZED_CLIENT, "not from a configured frontend"
        if not is_folder_name(self.client_name):
            return UNNAMEABLE_CLIENT, self.reason
        return self.client_name, self.reason


def request_constraint(entries: Sequence[EntryConfig], key_ids: Iterable[str]) -> str:
    """The Collector query for the requests of `entries` (classads.md §2).

    Key-less ads are admitted as upstream does, then rejected with a reason (check #4),
    so that a misconfigured frontend shows up in the logs instead of being ignored.
    """
    names = ",".join(entry.ad_name for entry in entries)
    by_key = " || ".join(
        f"((ReqPubKeyID=?={classad2.quote(key_id)}) && (ReqEncKeyCode=!=Undefined)"
        " && (ReqEncIdentity=!=Undefined))"
        for key_id in key_ids
    )
    return (
        f'(GlideinMyType=?="glideclient") && '
        f"(stringListMember(ReqGlidein,{classad2.quote(names)})=?=True) && "
        f'stringListMember(WebSignType,"sha1,sha256") && '
        f"({by_key} || (ReqPubKeyID=?=Undefined))"
    )


def _defined(ad: Mapping[str, Any], name: str, default: object = None) -> Any:
    """The attribute's value; an `undefined` or `error` literal is a RequestError (as
    an int, classad2's Undefined would read as 2)."""
    value = ad.get(name, default)
    if isinstance(value, classad2.Value):
        raise RequestError(f"{name} is {value.name.lower()}")
    return value


def _text(ad: Mapping[str, Any], name: str) -> str:
    value = ad.get(name)
    if type(value) is str:  # the usual case, settled in one test
        return value
    value = _defined(ad, name)
    if value is None:
        raise RequestError(f"missing {name}")
    if not isinstance(value, str):
        raise RequestError(f"{name} is not a string")
    return value


def _count(ad: Mapping[str, Any], name: str, default: int | None = None) -> int:
    value = ad.get(name, default)
    # The usual case, settled at once (a bool or classad2's Undefined is no plain int).
    if type(value) is int and 0 <= value <= MAX_SANE_COUNT:
        return value
    value = _defined(ad, name, default)
    if value is None:
        raise RequestError(f"missing {name}")
    if isinstance(value, bool):  # int(True) == 1: a boolean is no count
        raise RequestError(f"{name} is not an integer: {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise RequestError(f"{name} is not an integer: {value!r:.40}") from None
    if isinstance(value, float) and value != number:
        raise RequestError(f"{name} is not an integer: {value!r}")
    if not 0 <= number <= MAX_SANE_COUNT:
        raise RequestError(f"{name} out of range: {number}")
    return number


def _safe(name: str, value: str) -> str:
    if not SAFE_NAME.fullmatch(value):
        raise RequestError(f"{name} has characters outside [A-Za-z0-9._@-]: {value!r:.60}")
    return value


def _credential_id(enc: Mapping[str, str], auth_method: str) -> str:
    """The credential id of a 3.10 request: the one the upstream factory picks for the
    entry's auth method (`auth_310.id_name`), else the first of the proxies and token."""
    first = auth_310.id_name(auth_method)
    for name in (first, "SubmitProxy", "GlideinProxy", "ScitokenId"):
        if name and enc.get(name):
            return _safe(name, enc[name])
    return "none"


def _client_staging(ad: Mapping[str, Any], source: Mapping[str, Any]) -> ClientStaging | None:
    """The frontend's staging area, if it published one (`-clientweb` ...); its group
    part is read from the `source` ad only then."""
    web = (
        ad.get("WebURL", "None"),
        ad.get("WebDescriptFile", "None"),
        ad.get("WebDescriptSign", "None"),
    )
    # Frontends without a staging area of their own send "None" placeholders.
    if any(str(value) in ("", "None") for value in web):
        return None
    values = (
        *web,
        ad.get("WebSignType", "sha1"),
        *(source.get(name, "") for name in request_attrs.STAGING_GROUP),
    )
    try:
        return _staging(*values)
    except TypeError:  # an unhashable value (an expression): not worth remembering
        return _staging.__wrapped__(*values)


@functools.lru_cache(maxsize=1024)
def _staging(
    web: object,
    descript: object,
    sign: object,
    sign_type: object,
    group_web: object,
    group_descript: object,
    group_sign: object,
    group: object,
) -> ClientStaging:
    """A client's staging area: the same values every cycle, so each is built once."""
    group_url = str(group_web)
    return ClientStaging(
        web=str(web),
        sign=str(sign),
        descript=str(descript),
        sign_type=str(sign_type),
        group=str(group) if group_url else "",
        group_web=group_url,
        group_sign=str(group_sign),
        group_descript=str(group_descript),
    )


def validate_request(
    ad: Mapping[str, Any],
    entry: EntryConfig,
    keys: FactoryKeys,
    frontends: Mapping[str, FrontendInfo],
    now: float,
    allow_legacy_ciphers: bool = False,
    padding: crypto.OaepPreference | None = None,
) -> WorkRequest | Rejection:
    """`validate_requests` of one ad."""
    return validate_requests([(ad, entry)], keys, frontends, now, allow_legacy_ciphers, padding)[0]


def validate_requests(
    ads: Sequence[tuple[Mapping[str, Any], EntryConfig]],
    keys: FactoryKeys,
    frontends: Mapping[str, FrontendInfo],
    now: float,
    allow_legacy_ciphers: bool = False,
    padding: crypto.OaepPreference | None = None,
) -> list[WorkRequest | Rejection]:
    """All checks of security.md §4 on each (ad, entry), in order; the first failure
    rejects the ad. One result per ad, in the same order.

    Who sent an ad is checked before anything is decrypted: an advertiser that is no
    configured frontend costs no RSA operation. A 3.10 and a 3.11 request differ by what
    they carry: pickled values (an AuthSet) make it 3.11 (spec/protocol-311.md), read
    only once identity and frontend.descript passed. The ads go through in three passes
    (the checks before decryption, the RSA operations, the rest) rather than one ad at a
    time: an RSA operation pushes the interpreter's working set out of the CPU caches,
    and alternating made the Python part of a request cost ~40% more.
    """
    results: list[WorkRequest | Rejection | None] = [None] * len(ads)
    sealed: list[_Sealed] = []
    identities = {frontend.ident for frontend in frontends.values()}
    for place, (ad, entry) in enumerate(ads):
        values, layout = request_attrs.read(ad)
        try:
            sealed.append(_seal(place, ad, values, layout, entry, keys, identities, now))
        except RequestError as err:
            results[place] = rejection(values, str(err), frontends)
    opened: list[tuple[_Sealed, crypto.SymKey]] = []
    for request in sealed:  # check 1: the one RSA operation of each request
        try:
            key = crypto.decrypt_sym_key(
                request.key.private_key, request.values, allow_legacy_ciphers, padding
            )
            opened.append((request, key))
        except crypto.DecryptError as err:
            results[request.place] = rejection(request.values, str(err), frontends)
    for request, key in opened:
        try:
            results[request.place] = _open(request, key, frontends)
        except (RequestError, crypto.DecryptError, ProtocolError) as err:
            results[request.place] = rejection(request.values, str(err), frontends)
    return [result for result in results if result is not None]


def rejection(
    ad: Mapping[str, Any], reason: str, frontends: Mapping[str, FrontendInfo]
) -> Rejection:
    """The rejection of `ad`, authorized when a configured frontend's identity sent it."""
    identity = ad.get("AuthenticatedIdentity")
    authorized = any(identity == frontend.ident for frontend in frontends.values())
    return Rejection(str(ad.get("Name", "?")), str(ad.get("ClientName", "?")), reason, authorized)


class _Sealed(NamedTuple):
    """An ad past every check that needs no decryption, its key code still sealed."""

    place: int  # its place among the ads validated together
    source: Mapping[str, Any]  # the ad as the Collector gave it
    values: dict[str, Any]  # what find-work reads of it (`request_attrs.read`)
    layout: request_attrs.Layout
    entry: EntryConfig
    name: str
    client_name: str
    req_name: str
    identity: str  # AuthenticatedIdentity, a configured frontend's
    key: FactoryKey  # the factory key its ReqPubKeyID names


def _seal(
    place: int,
    source: Mapping[str, Any],
    ad: dict[str, Any],
    layout: request_attrs.Layout,
    entry: EntryConfig,
    keys: FactoryKeys,
    identities: set[str],
    now: float,
) -> _Sealed:
    """Checks 4-5 of security.md §4 and the advertiser's identity, before decryption."""
    name = _safe("Name", _text(ad, "Name"))
    client_name = _safe("ClientName", _text(ad, "ClientName"))
    req_name = _text(ad, "ReqName")
    if req_name != entry.ad_name:
        raise RequestError(f"ReqName {req_name!r:.80} is not this entry ({entry.ad_name})")
    authenticated = ad.get("AuthenticatedIdentity")
    if not isinstance(authenticated, str) or not authenticated:
        raise RequestError("ad has no AuthenticatedIdentity (unauthenticated advertiser)")
    if authenticated not in identities:  # before any decryption (#17)
        raise RequestError(
            f"identity {authenticated!r:.60} is no configured frontend's (frontend.descript)"
        )
    if "ReqPubKeyID" not in ad:  # check 4
        raise RequestError("request carries no key (ReqPubKeyID undefined)")
    key = keys.for_id(str(ad["ReqPubKeyID"]), now)
    if key is None:
        raise RequestError(f"unknown or retired factory key {ad['ReqPubKeyID']!r:.40}")
    if "ReqEncKeyCode" not in ad:
        raise RequestError("ad has no ReqEncKeyCode")
    if "ReqEncIdentity" not in ad:
        raise RequestError("ad has no ReqEncIdentity")
    return _Sealed(
        place, source, ad, layout, entry, name, client_name, req_name, authenticated, key
    )


def _open(
    sealed: _Sealed, sym_key: crypto.SymKey, frontends: Mapping[str, FrontendInfo]
) -> WorkRequest:
    """Checks 2-3 and 6-11 of security.md §4, with the ad's symmetric key."""
    _, source, ad, layout, entry, name, client_name, req_name, authenticated, _ = sealed
    decoded = crypto.decrypt_fields(sym_key, ad)  # 2-3
    if decoded.identity != authenticated:
        raise RequestError(
            f"ReqEncIdentity {decoded.identity!r:.60} differs from the authenticated "
            f"identity {authenticated!r:.60} (spoofed request)"
        )
    enc = decoded.enc_params
    if layout.v2:
        raise RequestError("retired v2 protocol (GlideinEncParamx509_proxy_0)")
    security_name = enc.get("SecurityName")
    if not security_name:
        raise RequestError("missing encrypted SecurityName")
    params = _short_values(ad, layout.params)
    protocol = PROTOCOL_311 if decoded.pickled else PROTOCOL_310
    if protocol == PROTOCOL_311:
        check_no_310_names(layout.enc, entry.name)
        cred_id = credential_id(name, req_name, client_name)
    else:
        problem = auth_310.auth_problem(entry, layout.enc, params)  # check 6
        if problem:
            raise RequestError(problem)
        cred_id = _credential_id(enc, entry.job.auth_method)
    frontend = frontends.get(security_name)  # check 7
    if frontend is None:
        raise RequestError(f"frontend {security_name!r:.60} is not in frontend.descript")
    if frontend.ident != authenticated:
        raise RequestError(
            f"identity {authenticated!r:.60} is not the one configured for frontend "
            f"{security_name!r:.60}"
        )
    security_class = enc.get("SecurityClass")  # check 8
    if not security_class:
        raise RequestError("missing encrypted SecurityClass")
    _safe("SecurityClass", security_class)
    whitelist_down = False
    if entry.job.whitelist_mode == "On":
        allowed = set(filter(None, entry.job.allowed_vos.split(",")))
        listed = {item.split(":", 1)[0] for item in allowed}
        if security_name in listed:
            if f"{security_name}:{security_class}" not in allowed and (
                f"{security_name}:All" not in allowed
            ):
                raise RequestError(f"{security_name}:{security_class} is not allowed here")
        else:
            whitelist_down = True
    username = frontend.usermap.get(security_class)  # check 9
    if not username:
        raise RequestError(f"no username for {security_name}:{security_class}")
    _safe("username", username)
    creds_311 = None
    if protocol == PROTOCOL_311:  # check 6, on a request now known to be genuine
        creds_311 = read_credentials(decoded.pickled, entry.job.auth_method)
        enc = {**enc, **{p.name.value: p.value for p in creds_311.parameters}}
    sign_type = str(ad.get("WebSignType", "sha1"))  # check 11
    if sign_type not in SIGN_TYPES:
        raise RequestError(f"WebSignType {sign_type!r:.20} is not supported")
    remove_excess = str(ad.get("ReqRemoveExcess", "NO")).upper()
    max_key = "ReqMaxGlideins" if "ReqMaxGlideins" in ad else "ReqMaxRunningGlideins"
    return WorkRequest(
        name=name,
        client_name=client_name,
        req_name=req_name,
        security_name=security_name,
        security_class=security_class,
        username=username,
        identity=authenticated,
        demand=Request(
            key=RequestKey(client_name, security_class, cred_id),
            frontend_name=f"{security_name}:{security_class}",
            idle=_count(ad, "ReqIdleGlideins"),
            max_glideins=_count(ad, max_key),
            remove_excess=remove_excess if remove_excess in REMOVE_MODES else "NO",
            remove_margin=_count(ad, "ReqRemoveExcessMargin", 0),
            down=whitelist_down,
        ),
        idle_lifetime=_count(ad, "ReqIdleLifetime", 0),
        credential_id=cred_id,
        params=params,
        enc_params=enc,
        monitor=_short_values(ad, layout.monitor),
        client_staging=_client_staging(ad, source),
        protocol=protocol,
        credentials_311=creds_311,
    )


_PLAIN = frozenset({str, int, float})  # what most values are: no ExprTree check needed


def _short_values(ad: Mapping[str, Any], names: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """`GlideinParam*` or `GlideinMonitor*` values by their short names (expressions,
    which a Frontend does not send there, are left out)."""
    values = {short: ad[name] for name, short in names}
    if all(type(value) in _PLAIN for value in values.values()):
        return values
    return {k: v for k, v in values.items() if not isinstance(v, classad2.ExprTree)}
