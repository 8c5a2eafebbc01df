"""What the simulated Frontend advertises: its request and credential ads, built purely.

The Frontend side of spec/classads.md §2, §4, §5 and spec/security.md §3: each factory's
public key comes only from its `glidefactoryglobal` ad; one `glideclient` request goes
out per requested entry (and a `glideclientglobal` credential ad per factory when given a
credential), encrypted as 3.11 Frontends do (their credentials as pickles of upstream's
class names, spec/protocol-311.md) or as 3.10 ones. `frontend_sim` does the I/O.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from glideinwms_factory.lib import credential_objects as co
from glideinwms_factory.lib import crypto
from glideinwms_factory.lib.auth_method import AuthMethodError, parse_auth_method
from glideinwms_factory.lib.factory_key import load_public_key, pem_from_ad_value, pub_key_id

log = logging.getLogger("gwms-frontend-sim")

# What upstream's Frontends take when a glidefactory ad has no GLIDEIN_TrustDomain.
DEFAULT_TRUST_DOMAIN = "Grid"
# No frontend staging area: values the factory accepts (check #11) and reads as "none".
NO_WEB = "None"


class SimError(Exception):
    """A problem to report in one line and exit non-zero."""


@dataclass(frozen=True)
class FactoryKeyInfo:
    """A factory instance's public key, from its `glidefactoryglobal` ad."""

    name: str  # <glidein>@<factory>
    key_id: str
    public_key: rsa.RSAPublicKey


@dataclass(frozen=True)
class FactoryEntry:
    """An entry to request glideins from, with the key of its factory."""

    name: str  # <entry>@<glidein>@<factory>: ReqName and ReqGlidein
    entry_name: str
    factory: FactoryKeyInfo
    proxy_param: str  # SubmitProxy for grid_proxy entries, else GlideinProxy
    auth_method: str = "grid_proxy"  # GLIDEIN_SupportedAuthenticationMethod
    trust_domain: str = DEFAULT_TRUST_DOMAIN


@dataclass(frozen=True)
class Credential:
    """A credential delivered through `glideclientglobal` and named in requests by its id."""

    cred_id: str
    content: str


@dataclass(frozen=True)
class CycleKey:
    """One factory key's symmetric key for this cycle, RSA-encrypted anew for every ad."""

    factory: FactoryKeyInfo
    sym_key: crypto.SymKey
    digest: crypto.OaepDigest
    label: str = "cypher"

    @classmethod
    def generate(
        cls, factory: FactoryKeyInfo, digest: crypto.OaepDigest, label: str = "cypher"
    ) -> CycleKey:
        return cls(factory, crypto.SymKey.generate(), digest, label)

    def encrypt(self, identity: str, enc_params: Mapping[str, str | bytes]) -> dict[str, str]:
        code = crypto.encrypt_key_code(
            self.factory.public_key, self.sym_key, self.digest, self.label
        )
        return crypto.encrypt_request_fields(self.sym_key, code, identity, enc_params)


@dataclass(frozen=True)
class RequestSpec:
    """What the simulated frontend group asks every targeted entry for."""

    identity: str
    frontend: str = "frontend"
    group: str = "main"
    idle: int = 0
    max_glideins: int = 0
    remove_excess: str = "NO"
    margin: int = 0
    idle_lifetime: int = 0
    security_name: str = "frontend"
    security_class: str = "frontend"
    params: Mapping[str, str] = field(default_factory=dict)
    credential: Credential | None = None
    idtoken: str | None = None
    project_id: str | None = None  # the encrypted ProjectId (auth method project_id)
    web_url: str = NO_WEB
    oaep_digest: crypto.OaepDigest = "sha1"
    protocol: str = "3.10"  # "3.11": pickled credentials (spec/protocol-311.md)
    scitoken: str | None = None  # the group's SciToken (3.10: frontend_scitoken)
    scitoken_id: str | None = None  # its credential id (3.10: ScitokenId), else from its text

    @property
    def client_name(self) -> str:
        return f"{self.frontend}.{self.group}"


def credential_id(seed: str | bytes) -> str:
    """An 8-character base32 id (`[A-Z2-7]{8}`) derived from a credential path or content."""
    data = seed.encode() if isinstance(seed, str) else seed
    return base64.b32encode(hashlib.sha256(data).digest()).decode("ascii")[:8]


def from_factory(ads: Iterable[Mapping[str, Any]], identity: str) -> list[Mapping[str, Any]]:
    """The ads the Collector stamped with the factory's `identity`; others skipped, logged.

    Anyone with a token can advertise an ad that looks like a factory's: only the stamp
    says who sent it (spec/security.md §3), so a key from any other sender is never used.
    """
    kept = []
    for ad in ads:
        sender = ad.get("AuthenticatedIdentity")
        if sender == identity:
            kept.append(ad)
        else:
            log.warning(
                "%s ad %r advertised by %r, not the factory %r; ignored",
                ad.get("MyType"),
                str(ad.get("Name", ""))[:80],
                str(sender)[:80],
                identity,
            )
    return kept


def factory_keys(global_ads: Iterable[Mapping[str, Any]]) -> dict[str, FactoryKeyInfo]:
    """Usable keys by global `Name`; ads with a bad key are skipped with a log line."""
    keys = {}
    for ad in global_ads:
        name = str(ad.get("Name", ""))
        value = ad.get("PubKeyValue")
        if ad.get("PubKeyType") != "RSA" or not isinstance(value, str):
            log.warning("glidefactoryglobal %r has no RSA key; ignored", name)
            continue
        pem = pem_from_ad_value(value)
        try:
            public_key = load_public_key(pem)
        except ValueError as exc:
            log.warning("glidefactoryglobal %r: %s; ignored", name, exc)
            continue
        keys[name] = FactoryKeyInfo(name, str(ad.get("PubKeyID") or pub_key_id(pem)), public_key)
    return keys


def safe_true(value: object) -> bool:
    """How upstream's Frontends read a flag such as `GLIDEIN_In_Downtime`: the boolean
    True or any spelling of the string "true" (`safe_boolcomp(value, True)`)."""
    return str(value).lower() == "true"


def find_targets(
    wanted: Sequence[str],
    entry_ads: Iterable[Mapping[str, Any]],
    keys: Mapping[str, FactoryKeyInfo],
) -> list[FactoryEntry]:
    """Pair each wanted entry (short or full name) with its factory's key (classads.md §4)."""
    candidates: dict[str, list[FactoryEntry]] = {}
    for ad in entry_ads:
        name = str(ad.get("Name", ""))
        factory = next((k for g, k in keys.items() if name.endswith("@" + g)), None)
        if factory is None:
            continue
        entry_name = str(ad.get("EntryName") or name.split("@", 1)[0])
        # As upstream's Frontends: the auth method and trust domain, with their defaults
        # (the GlideinRequirex509_Proxy flags are no longer read since 3.x).
        auth_text = str(ad.get("GLIDEIN_SupportedAuthenticationMethod", "grid_proxy"))
        try:
            auth = parse_auth_method(auth_text)
        except AuthMethodError as exc:
            log.warning("glidefactory %r: %s; ignored", name[:80], exc)
            continue
        target = FactoryEntry(
            name,
            entry_name,
            factory,
            "SubmitProxy" if auth.requires("grid_proxy") else "GlideinProxy",
            auth_text,
            str(ad.get("GLIDEIN_TrustDomain", DEFAULT_TRUST_DOMAIN)),
        )
        for alias in {name, entry_name}:
            candidates.setdefault(alias, []).append(target)
    targets = []
    for want in wanted:
        found = candidates.get(want, [])
        if not found:
            raise SimError(f"entry {want!r} not found (or its factory publishes no key)")
        if len(found) > 1:
            names = ", ".join(sorted(t.name for t in found))
            raise SimError(f"entry {want!r} is ambiguous: {names}; give the full name")
        targets.append(found[0])
    return targets


def _common(spec: RequestSpec, my_type: str) -> dict[str, Any]:
    return {
        "MyType": my_type,
        "GlideinMyType": my_type,
        "ClientName": spec.client_name,
        "FrontendName": spec.frontend,
        "GroupName": spec.group,
        "FrontendHAMode": "master",
    }


def _web(spec: RequestSpec) -> dict[str, str]:
    group_url = f"{spec.web_url}/group_{spec.group}" if spec.web_url != NO_WEB else NO_WEB
    return {
        "WebURL": spec.web_url,
        "WebSignType": "sha1",
        "WebDescriptFile": NO_WEB,
        "WebDescriptSign": NO_WEB,
        "WebGroupURL": group_url,
        "WebGroupDescriptFile": NO_WEB,
        "WebGroupDescriptSign": NO_WEB,
        "WebMonitoringURL": NO_WEB,
    }


def request_ad(
    spec: RequestSpec, target: FactoryEntry, key: CycleKey, default_params: Mapping[str, str]
) -> dict[str, Any]:
    """One `glideclient` ad (classads.md §2) for `target`, encrypted with `key`."""
    if spec.protocol == "3.11":
        cred_key, enc_params = _enc_params_311(spec, target)
    else:
        cred_key, enc_params = _enc_params_310(spec, target)
    ad = _common(spec, "glideclient")
    ad.update(
        {
            "Name": f"{cred_key}_{target.name}@{spec.client_name}",
            "ReqName": target.name,
            "ReqGlidein": target.name,
            "ReqIdleGlideins": spec.idle,
            "ReqMaxGlideins": spec.max_glideins,
            "ReqRemoveExcess": spec.remove_excess,
            "ReqRemoveExcessMargin": spec.margin,
            "ReqIdleLifetime": str(spec.idle_lifetime),
            "ReqPubKeyID": target.factory.key_id,
            **_web(spec),
            "GlideinMonitorIdle": spec.idle,
            "GlideinMonitorIdleAll": spec.idle,
            "GlideinMonitorRunning": 0,
            "GlideinMonitorRunningHere": 0,
            "GlideinMonitorGlideinsTotal": 0,
            "GlideinMonitorGlideinsIdle": 0,
            "GlideinMonitorGlideinsRunning": 0,
        }
    )
    for name, value in {**default_params, **spec.params}.items():
        ad["GlideinParam" + name] = value
    ad.update(key.encrypt(spec.identity, enc_params))
    return ad


def _enc_params_310(spec: RequestSpec, target: FactoryEntry) -> tuple[str, dict[str, str | bytes]]:
    """A 3.10 group's encrypted values for `target`. As upstream's 3.10 Frontend, a group
    holding a SciToken sends it (`frontend_scitoken`) with its credential id
    (`ScitokenId`) to every entry; the request is the SciToken's (its `Name` key) where
    the entry's auth method names `scitoken`, else the proxy's."""
    cred_key = spec.credential.cred_id if spec.credential else credential_id(spec.security_name)
    enc_params: dict[str, str | bytes] = {
        "SecurityName": spec.security_name,
        "SecurityClass": spec.security_class,
    }
    if spec.credential is not None:
        enc_params[target.proxy_param] = spec.credential.cred_id
    if spec.scitoken is not None:
        token_id = spec.scitoken_id or credential_id(spec.scitoken)
        enc_params["frontend_scitoken"] = spec.scitoken
        enc_params["ScitokenId"] = token_id
        if "scitoken" in parse_auth_method(target.auth_method).words:
            cred_key = token_id
    if spec.idtoken is not None:
        enc_params[f"{target.entry_name}.idtoken"] = spec.idtoken
    if spec.project_id is not None:
        enc_params["ProjectId"] = spec.project_id
    return cred_key, enc_params


def request_credentials_311(spec: RequestSpec, target: FactoryEntry) -> list[co.Credential]:
    """The credentials a 3.11 group holds for `target`'s trust domain."""

    def cred(kind: co.CredentialType, text: str) -> co.Credential:
        return co.Credential(
            kind,
            text,
            co.CredentialPurpose.REQUEST,
            target.trust_domain,
            spec.security_class,
            f"{kind.value}.cred",
        )

    held = []
    if spec.scitoken is not None:
        held.append(cred(co.CredentialType.SCITOKEN, spec.scitoken))
    if spec.credential is not None:
        held.append(cred(co.CredentialType.X509_CERT, spec.credential.content))
    return held


def match_auth_set(method: str, held: Sequence[co.Credential]) -> co.AuthSet | None:
    """What upstream's Frontend matches an entry's auth method with; None: no request.

    Each required group takes its first alternative the group holds a credential for.
    """
    groups = co.auth_groups(method)
    kinds = {c.cred_type for c in held}
    chosen: set[co.AuthMember] = set()
    for group in groups or []:
        option = next((o for o in group if o is not None and o in kinds), None)
        if option is None:
            return None
        chosen.add(option)
    return co.AuthSet(frozenset(chosen))


def _enc_params_311(spec: RequestSpec, target: FactoryEntry) -> tuple[str, dict[str, str | bytes]]:
    held = request_credentials_311(spec, target)
    auth = match_auth_set(target.auth_method, held)
    if auth is None:
        raise SimError(
            f"no credential of this group fits entry {target.entry_name}'s auth method "
            f"{target.auth_method!r}"
        )
    used = [c for c in held if c.cred_type in auth.members]
    payload = []
    if spec.idtoken is not None:  # the callback token the glidein authenticates with
        payload.append(
            co.Credential(
                co.CredentialType.IDTOKEN,
                spec.idtoken,
                co.CredentialPurpose.CALLBACK,
                target.trust_domain,
            )
        )
    seed = "".join(
        f"{c.text}{c.purpose.value if c.purpose else ''}{c.trust_domain}{c.security_class}"
        f"{c.cred_type.value}"
        for c in used
    )
    return credential_id(seed or spec.security_name), {
        "SecurityName": spec.security_name,
        "SecurityClass": spec.security_class,
        "AuthSet": co.dumps_auth_set(auth),
        "RequestCredentials": co.dumps_credentials(used),
        "PayloadCredentials": co.dumps_credentials(payload),
        "SecurityParameters": co.dumps_security_parameters([]),
    }


def global_ad(spec: RequestSpec, key: CycleKey) -> dict[str, Any]:
    """The `glideclientglobal` ad (classads.md §5) carrying the credential to one factory."""
    credential = spec.credential
    if credential is None:
        raise ValueError("a glideclientglobal ad needs a credential")
    ad = _common(spec, "glideclientglobal")
    ad["Name"] = f"{key.factory.name}@{spec.client_name}"
    ad["ReqPubKeyID"] = key.factory.key_id
    enc_params: dict[str, str | bytes] = {
        "SecurityName": spec.security_name,
        "NumberOfCredentials": "1",
        credential.cred_id: credential.content,
    }
    if spec.protocol == "3.10":  # 3.11 no longer sends it (protocol-311.md §3)
        enc_params["SecurityClass" + credential.cred_id] = spec.security_class
    ad.update(key.encrypt(spec.identity, enc_params))
    return ad


def build_cycle_ads(
    spec: RequestSpec, targets: Sequence[FactoryEntry], default_params: Mapping[str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """This cycle's request and global ads: one fresh key+IV per factory key, as frontends do."""
    keys: dict[str, CycleKey] = {}
    requests = []
    for target in targets:
        key_id = target.factory.key_id
        if key_id not in keys:
            label = "cipher" if spec.protocol == "3.11" else "cypher"
            keys[key_id] = CycleKey.generate(target.factory, spec.oaep_digest, label)
        try:
            requests.append(request_ad(spec, target, keys[key_id], default_params))
        except SimError as exc:  # as upstream: no request where no credential fits
            log.warning("%s; no request", exc)
    if spec.credential is None:
        return requests, []
    return requests, [global_ad(spec, key) for key in keys.values()]


def invalidation_constraints(spec: RequestSpec) -> list[str]:
    """What `stop` drops: this client's request and global ads (classads.md §6)."""
    return [
        f'(ClientName == "{spec.client_name}") && (GlideinMyType == "{my_type}")'
        ' && (FrontendHAMode == "master")'
        for my_type in ("glideclient", "glideclientglobal")
    ]
